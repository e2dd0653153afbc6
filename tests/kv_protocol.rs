//! `kv_server` against a RESP client, on epoll and on poll: 1,000 pipelined commands in
//! one write, commands split at every byte boundary, binary keys and values, hostile
//! frames next to a well-behaved client, and a client that never reads.

mod kv_common;

use std::io::Write;
use std::thread;
use std::time::Duration;

use kv_common::{BACKENDS, Kv, Reply, encode};

#[test]
fn a_thousand_pipelined_commands_in_one_write() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for i in 0..1000 {
            let key = format!("key:{}", (i / 4) % 100);
            match i % 4 {
                0 => {
                    wire.extend(encode(&[
                        b"SET",
                        key.as_bytes(),
                        format!("v{i}").as_bytes(),
                    ]));
                    want.push(Reply::ok());
                }
                1 => {
                    wire.extend(encode(&[b"GET", key.as_bytes()]));
                    want.push(Reply::Bulk(format!("v{}", i - 1).into_bytes()));
                }
                2 => {
                    wire.extend(encode(&[b"INCR", b"counter"]));
                    want.push(Reply::Int(i / 4 + 1));
                }
                _ => {
                    wire.extend_from_slice(b"PING\r\n");
                    want.push(Reply::Simple("PONG".into()));
                }
            }
        }
        c.send(&wire);
        for (i, w) in want.iter().enumerate() {
            assert_eq!(&c.read().unwrap(), w, "{backend}: reply {i}");
        }
        assert_eq!(c.cmd("DBSIZE"), Reply::Int(101), "{backend}");
    }
}

#[test]
fn commands_split_at_every_byte_boundary() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        let mut wire = encode(&[b"SET", b"split", b"a\r\nb"]);
        wire.extend(encode(&[b"GET", b"split"]));
        wire.extend_from_slice(b"ECHO \"x y\"\r\n");
        let want = [Reply::ok(), Reply::bulk(b"a\r\nb"), Reply::bulk(b"x y")];
        for at in 0..=wire.len() {
            c.send(&wire[..at]);
            // Two writes; the pause lets the server read the first part on its own most
            // of the time (the parser's unit tests cover every split deterministically).
            thread::sleep(Duration::from_millis(1));
            c.send(&wire[at..]);
            for w in &want {
                assert_eq!(&c.read().unwrap(), w, "{backend}: split at {at}");
            }
        }
        // And a byte per write.
        for b in &wire {
            c.send(&[*b]);
        }
        for w in &want {
            assert_eq!(&c.read().unwrap(), w, "{backend}: a byte at a time");
        }
    }
}

#[test]
fn binary_keys_and_values_containing_crlf() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        let key: &[u8] = b"bin\r\nkey\0*1\r\n";
        let value: Vec<u8> = (0..=255u8).chain(b"\r\n$-1\r\n".iter().copied()).collect();
        assert_eq!(c.call(&[b"SET", key, &value]), Reply::ok());
        assert_eq!(c.call(&[b"GET", key]), Reply::Bulk(value.clone()));
        assert_eq!(c.call(&[b"EXISTS", key, b"bin"]), Reply::Int(1));
        assert_eq!(c.call(&[b"MSET", b"\r\n", b"", b"", b"\n"]), Reply::ok());
        assert_eq!(
            c.call(&[b"MGET", b"\r\n", b"", key]),
            Reply::Array(vec![
                Reply::bulk(b""),
                Reply::bulk(b"\n"),
                Reply::Bulk(value)
            ])
        );
        // A value of 1 MiB: the input buffer grows for it, and the reply goes out whole.
        let big: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(c.call(&[b"SET", b"big", &big]), Reply::ok());
        assert_eq!(c.call(&[b"GET", b"big"]), Reply::Bulk(big));
    }
}

#[test]
fn hostile_frames_get_an_error_and_close_only_their_connection() {
    let mut endless = b"*1\r\n$4\r\nPING\r\nGET ".to_vec();
    endless.resize(70 * 1024, b'k');
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "negative bulk length",
            b"*1\r\n$-5\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            "negative array length",
            b"*-3\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            "bulk over 512 MiB",
            b"*2\r\n$3\r\nSET\r\n$536870913\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            "array over 1M",
            b"*1048577\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            "non-numeric length",
            b"*1\r\n$x3\r\nGET\r\n".to_vec(),
            "ERR Protocol error: invalid bulk length",
        ),
        (
            "non-numeric count",
            b"*two\r\n".to_vec(),
            "ERR Protocol error: invalid multibulk length",
        ),
        (
            "missing CRLF",
            b"*1\r\n$4\r\nPINGPING\r\n".to_vec(),
            "ERR Protocol error: expected \\r\\n after bulk data",
        ),
        (
            "nested array",
            b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\nk\r\n".to_vec(),
            "ERR Protocol error: expected '$', got '*'",
        ),
        (
            "endless line",
            endless,
            "ERR Protocol error: too big inline request",
        ),
        (
            "unbalanced quotes",
            b"SET \"k v\r\n".to_vec(),
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut other = kv.client();
        assert_eq!(other.cmd("SET survivor 0"), Reply::ok());
        for (n, (name, frame, error)) in cases.iter().enumerate() {
            let mut c = kv.client();
            // A good command before the bad frame is answered first.
            c.send(b"PING\r\n");
            c.send(frame);
            let pong = Reply::Simple("PONG".into());
            assert_eq!(c.read().unwrap(), pong, "{backend}: {name}");
            if *name == "endless line" {
                // The PING inside the frame is answered before the cut.
                assert_eq!(c.read().unwrap(), pong, "{backend}: {name}");
            }
            assert_eq!(
                c.read().unwrap(),
                Reply::Error((*error).into()),
                "{backend}: {name}"
            );
            assert!(
                c.closed_cleanly(),
                "{backend}: {name}: reset instead of closed"
            );
            // The other client is still served, and the store is intact.
            assert_eq!(
                other.cmd("INCR survivor"),
                Reply::Int(n as i64 + 1),
                "{backend}: {name}"
            );
        }
    }
}

#[test]
fn a_client_that_never_reads_does_not_stall_the_others() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        assert_eq!(c.call(&[b"SET", b"v", &[b'x'; 64 * 1024]]), Reply::ok());
        // 2,000 GETs of 64 KiB: 128 MiB of replies that nobody reads.
        let mut flood = kv.client();
        let batch: Vec<u8> = (0..2000).flat_map(|_| encode(&[b"GET", b"v"])).collect();
        let writer = thread::spawn(move || {
            // The server stops reading once its output is full, so this write may block
            // until the connection is dropped; it runs on its own thread.
            let _ = flood.stream().write_all(&batch);
            flood
        });
        for i in 0..50 {
            assert_eq!(c.cmd(&format!("SET k{i} {i}")), Reply::ok(), "{backend}");
            assert_eq!(
                c.cmd(&format!("GET k{i}")),
                Reply::bulk(i.to_string().as_bytes())
            );
        }
        drop(kv);
        drop(writer.join().unwrap());
    }
}

#[test]
fn inline_commands_as_telnet_sends_them() {
    for backend in BACKENDS {
        let kv = Kv::start(backend);
        let mut c = kv.client();
        c.send(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\nQUIT\r\n");
        assert_eq!(c.read().unwrap(), Reply::Simple("PONG".into()));
        assert_eq!(c.read().unwrap(), Reply::ok());
        assert_eq!(c.read().unwrap(), Reply::bulk(b"hello world"));
        assert_eq!(c.read().unwrap(), Reply::ok(), "QUIT");
        assert!(c.closed_cleanly(), "{backend}");
    }
}
