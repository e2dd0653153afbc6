//! The largest bulk string `kv_server` accepts (512 MiB, Redis's `proto-max-bulk-len`),
//! stored and read back through real sockets, and checked byte for byte against the
//! generator that wrote it. One byte more is refused.

mod kv_common;

use std::io::{BufRead, BufReader, Read, Write};

use kv_common::{HANG_GUARD, Kv, Reply};

const MAX_BULK: usize = 512 * 1024 * 1024;

/// A reproducible byte stream (xorshift64): a chunk out of place, or one changed byte,
/// does not match it.
struct Bytes(u64);

impl Bytes {
    fn new() -> Bytes {
        Bytes(0x9E37_79B9_7F4A_7C15)
    }

    /// Fills `buf` (a multiple of 8 bytes long) with the stream's next bytes.
    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_exact_mut(8) {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            word.copy_from_slice(&x.to_le_bytes());
        }
    }
}

const CHUNK: usize = 1 << 20;

#[test]
fn a_512_mib_value_round_trips_byte_for_byte() {
    let kv = Kv::start("epoll");
    let mut client = kv.client();
    let stream = client.stream();
    stream.set_read_timeout(Some(HANG_GUARD * 4)).unwrap();

    // SET big <512 MiB>, streamed a chunk at a time.
    let head = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${MAX_BULK}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut bytes = Bytes::new();
    let mut chunk = vec![0u8; CHUNK];
    for _ in 0..MAX_BULK / CHUNK {
        bytes.fill(&mut chunk);
        stream.write_all(&chunk).unwrap();
    }
    stream.write_all(b"\r\n").unwrap();
    assert_eq!(client.read().unwrap(), Reply::ok());
    assert_eq!(client.cmd("EXISTS big"), Reply::Int(1));

    // GET big: the reply is read a chunk at a time and compared with the stream anew.
    client
        .stream()
        .write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n")
        .unwrap();
    let mut reader = BufReader::with_capacity(CHUNK, client.stream().try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, format!("${MAX_BULK}\r\n"));
    let mut bytes = Bytes::new();
    let mut expected = vec![0u8; CHUNK];
    let mut got = vec![0u8; CHUNK];
    for i in 0..MAX_BULK / CHUNK {
        bytes.fill(&mut expected);
        reader.read_exact(&mut got).unwrap();
        if got != expected {
            let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap();
            panic!("the value differs at byte {}", i * CHUNK + at);
        }
    }
    let mut end = [0u8; 2];
    reader.read_exact(&mut end).unwrap();
    assert_eq!(&end, b"\r\n");
    drop(reader);

    // One byte over the limit is a protocol error, and the connection is closed.
    let mut over = kv.client();
    over.send(format!("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n${}\r\n", MAX_BULK + 1).as_bytes());
    match over.read().unwrap() {
        Reply::Error(e) => assert!(e.contains("Protocol error"), "{e}"),
        other => panic!("expected a protocol error, got {other:?}"),
    }
    assert!(over.closed_cleanly());
    // The stored value is untouched.
    assert_eq!(client.cmd("EXISTS big"), Reply::Int(1));
}
