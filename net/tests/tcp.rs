//! TCP on both backends: echo, a large transfer both ways, half-close, split halves,
//! connect errors and name resolution, std round trips. (The syscall economy is checked
//! by the crate's unit tests, where the syscall counter exists.)

mod common;

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::rc::Rc;

use common::{connected_pair, fill, join2, run};
use futures_io::{AsyncRead, AsyncWrite};
use reactor::BackendKind;

fn echo_round_trips(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = runtime::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let mut buf = vec![0; 4096];
            let mut total = 0;
            loop {
                match stream.read(&mut buf).await? {
                    0 => return Ok::<_, io::Error>(total),
                    n => {
                        stream.write_all(&buf[..n]).await?;
                        total += n;
                    }
                }
            }
        });
        let client = net::TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        let mut sent = 0;
        for size in [1, 7, 100, 1500, 4096, 10_000, 65_536] {
            let mut msg = vec![0; size];
            fill(size as u8, 0, &mut msg);
            client.write_all(&msg).await.unwrap();
            let mut back = vec![0; size];
            client.read_exact(&mut back).await.unwrap();
            assert!(back == msg, "echo of {size} bytes differs");
            sent += size;
        }
        client.shutdown(Shutdown::Write).unwrap();
        let mut rest = [0; 8];
        assert_eq!(
            client.read(&mut rest).await.unwrap(),
            0,
            "server closed after EOF"
        );
        assert_eq!(server.await.unwrap().unwrap(), sent);
    });
}

const BIG: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

/// A pattern with a period (65_537, a prime) that does not divide the chunk size, so
/// misplaced chunks are caught; compared with `memcmp` to stay fast in debug builds.
struct Pattern(Vec<u8>);

const PERIOD: usize = 65_537;

impl Pattern {
    fn new(seed: u8) -> Rc<Pattern> {
        let mut v = vec![0; PERIOD + CHUNK];
        fill(seed, 0, &mut v[..PERIOD]);
        let (head, tail) = v.split_at_mut(PERIOD);
        tail.copy_from_slice(&head[..CHUNK]);
        Rc::new(Pattern(v))
    }

    fn at(&self, offset: usize, len: usize) -> &[u8] {
        let start = offset % PERIOD;
        &self.0[start..start + len]
    }
}

async fn send_pattern(half: net::OwnedWriteHalf, pattern: Rc<Pattern>) -> io::Result<()> {
    let mut sent = 0;
    while sent < BIG {
        let len = CHUNK.min(BIG - sent);
        let n = half.write(pattern.at(sent, len)).await?;
        assert!(n > 0);
        sent += n;
    }
    half.shutdown()
}

async fn check_pattern(half: net::OwnedReadHalf, pattern: Rc<Pattern>) -> io::Result<usize> {
    let mut got = 0;
    let mut buf = vec![0; CHUNK];
    loop {
        let n = half.read(&mut buf).await?;
        if n == 0 {
            return Ok(got);
        }
        assert!(
            buf[..n] == *pattern.at(got, n),
            "bytes {got}..{} differ",
            got + n
        );
        got += n;
    }
}

fn large_transfer_both_directions(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let (a, b) = (Pattern::new(1), Pattern::new(2));
        let (client_rd, client_wr) = client.into_split();
        let (server_rd, server_wr) = server.into_split();
        let tasks = [
            runtime::spawn(send_pattern(client_wr, a.clone())),
            runtime::spawn(send_pattern(server_wr, b.clone())),
        ];
        let checks = [
            runtime::spawn(check_pattern(server_rd, a)),
            runtime::spawn(check_pattern(client_rd, b)),
        ];
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        for c in checks {
            assert_eq!(c.await.unwrap().unwrap(), BIG);
        }
    });
}

fn borrowed_halves_at_once(kind: BackendKind) {
    run(kind, async {
        let (mut client, server) = connected_pair().await;
        let echo = runtime::spawn(async move {
            let (rd, wr) = server.into_split();
            let mut buf = [0; 1024];
            loop {
                match rd.read(&mut buf).await? {
                    0 => return wr.shutdown(),
                    n => wr.write_all(&buf[..n]).await?,
                }
            }
        });
        let (rd, wr) = client.split();
        // The writer sends more than the socket buffers hold before the reader drains,
        // so the two halves must make progress at the same time.
        const TOTAL: usize = 8 << 20;
        let pattern = Pattern::new(3);
        let writing = async {
            let mut sent = 0;
            while sent < TOTAL {
                sent += wr.write(pattern.at(sent, CHUNK.min(TOTAL - sent))).await?;
            }
            wr.shutdown()
        };
        let reading = async {
            let mut got = 0;
            let mut buf = vec![0; CHUNK];
            loop {
                match rd.read(&mut buf).await? {
                    0 => return Ok::<_, io::Error>(got),
                    n => {
                        assert!(buf[..n] == *pattern.at(got, n));
                        got += n;
                    }
                }
            }
        };
        let (w, r) = join2(writing, reading).await;
        w.unwrap();
        assert_eq!(r.unwrap(), TOTAL);
        echo.await.unwrap().unwrap();
    });
}

fn owned_halves_reunite(kind: BackendKind) {
    run(kind, async {
        let (a, _b) = connected_pair().await;
        let (c, _d) = connected_pair().await;
        let (ra, wa) = a.into_split();
        let (rc, wc) = c.into_split();
        let err = ra.reunite(wc).unwrap_err();
        let (ra, wc) = (err.0, err.1);
        assert!(ra.reunite(wa).is_ok());
        assert!(rc.reunite(wc).is_ok());
    });
}

fn half_close_then_reply(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let server = runtime::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0; 7];
            loop {
                match server.read(&mut buf).await? {
                    0 => break,
                    n => request.extend_from_slice(&buf[..n]),
                }
            }
            let reply = format!("got {} bytes", request.len());
            server.write_all(reply.as_bytes()).await?;
            Ok::<_, io::Error>(request)
        });
        client.write_all(b"the whole request").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        let mut buf = [0; 5];
        loop {
            match client.read(&mut buf).await.unwrap() {
                0 => break,
                n => reply.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(reply, b"got 17 bytes");
        assert_eq!(server.await.unwrap().unwrap(), b"the whole request");
    });
}

fn futures_io_traits(kind: BackendKind) {
    run(kind, async {
        let (client, mut server) = connected_pair().await;
        let mut writer = &client;
        let bufs = [IoSlice::new(b"vec"), IoSlice::new(b"tored")];
        let n = poll_fn(|cx| Pin::new(&mut writer).poll_write_vectored(cx, &bufs))
            .await
            .unwrap();
        assert_eq!(n, 8);
        poll_fn(|cx| Pin::new(&mut writer).poll_flush(cx))
            .await
            .unwrap();
        let mut peeked = [0; 8];
        assert_eq!(server.peek(&mut peeked).await.unwrap(), 8);
        let mut buf = [0; 8];
        let n = poll_fn(|cx| Pin::new(&mut server).poll_read(cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"vectored");
        assert_eq!(peeked, buf);
        poll_fn(|cx| Pin::new(&mut writer).poll_close(cx))
            .await
            .unwrap();
        assert_eq!(
            server.read(&mut buf).await.unwrap(),
            0,
            "close shuts down writes"
        );
        let n = client
            .write_vectored(&[IoSlice::new(b"a"), IoSlice::new(b"b")])
            .await;
        assert!(n.is_err(), "writing after close fails");
    });
}

fn connect_to_closed_port_is_refused(kind: BackendKind) {
    run(kind, async {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = net::TcpStream::connect(&("127.0.0.1", port))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains(&port.to_string()), "{err}");
    });
}

fn connect_by_host_name(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // "localhost" may resolve to ::1 first, where nothing listens: every address is
        // tried in turn.
        let name = format!("localhost:{port}");
        let client = net::TcpStream::connect(name.as_str()).await.unwrap();
        let (_server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let client = net::TcpStream::connect(&("localhost", port)).await.unwrap();
        let (_server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

fn unresolvable_name_is_named(kind: BackendKind) {
    run(kind, async {
        let err = net::TcpStream::connect("no-such-host.invalid:80")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        let err = net::TcpListener::bind("no-such-host.invalid:0")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    });
}

fn listener_and_stream_move_between_loops(kind: BackendKind) {
    let std_stream = run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let std_listener = listener.into_std().unwrap();
        let listener = net::TcpListener::from_std(std_listener).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            let mut buf = [0; 5];
            io::Read::read_exact(&mut s, &mut buf).unwrap();
            buf
        });
        let (server, _) = listener.accept().await.unwrap();
        (server.into_std().unwrap(), client)
    });
    let (std_stream, client) = std_stream;
    // Another loop, on another thread, takes the connection over.
    std::thread::spawn(move || {
        run(kind, async move {
            let stream = net::TcpStream::from_std(std_stream).unwrap();
            stream.write_all(b"moved").await.unwrap();
        })
    })
    .join()
    .unwrap();
    assert_eq!(&client.join().unwrap(), b"moved");
}

fn reuseport_listeners_share_a_port(kind: BackendKind) {
    run(kind, async {
        let first = net::TcpSocket::new_v4().unwrap();
        first.set_reuseport(true).unwrap();
        first.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let first = first.listen(16).unwrap();
        let addr = first.local_addr().unwrap();
        let second = net::TcpSocket::new_v4().unwrap();
        second.set_reuseport(true).unwrap();
        second.bind(addr).unwrap();
        let second = second.listen(16).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        // Without SO_REUSEPORT the same bind fails, naming the address.
        let third = net::TcpSocket::new_v4().unwrap();
        let err = third.bind(addr).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        // A socket built by hand connects too.
        let socket = net::TcpSocket::new_v4().unwrap();
        socket.set_nodelay(true).unwrap();
        let client = socket.connect(addr).await.unwrap();
        assert!(client.nodelay().unwrap());
        assert_eq!(client.peer_addr().unwrap(), addr);
    });
}

fn linger_and_options(kind: BackendKind) {
    run(kind, async {
        let (client, _server) = connected_pair().await;
        assert_eq!(client.linger().unwrap(), None);
        // Whole seconds in the kernel: a short linger rounds up, never down to a reset.
        client
            .set_linger(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        assert_eq!(
            client.linger().unwrap(),
            Some(std::time::Duration::from_secs(1))
        );
        client.set_linger(Some(std::time::Duration::ZERO)).unwrap();
        assert_eq!(client.linger().unwrap(), Some(std::time::Duration::ZERO));
        client.set_linger(None).unwrap();
        assert_eq!(client.linger().unwrap(), None);
        assert!(client.take_error().unwrap().is_none());
        assert!(format!("{client:?}").contains("TcpStream"));
    });
}

fn ttl_is_set_read_back_and_inherited(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let default = listener.ttl().unwrap();
        assert!((1..=255).contains(&default), "default TTL {default}");
        let chosen = if default == 40 { 41 } else { 40 };
        listener.set_ttl(chosen).unwrap();
        assert_eq!(listener.ttl().unwrap(), chosen);
        let client = net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert_eq!(
            server.ttl().unwrap(),
            chosen,
            "an accepted connection starts with the listener's TTL"
        );
        assert_eq!(client.ttl().unwrap(), default, "the client is untouched");
        client.set_ttl(33).unwrap();
        assert_eq!(client.ttl().unwrap(), 33);
        for bad in [0, 256, u32::MAX] {
            let err = client.set_ttl(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains(&bad.to_string()), "{err}");
        }
        assert_eq!(client.ttl().unwrap(), 33, "a refused value changes nothing");
    });
}

fn every_address_is_tried_in_order(kind: BackendKind) {
    run(kind, async {
        let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let client = net::TcpStream::connect(&[closed, good][..]).await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), good);
        let err = net::TcpStream::connect([good, closed]).await;
        assert!(err.is_ok(), "the first address answers");
        let err = net::TcpStream::connect([closed, closed]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let err = net::TcpStream::connect(&[][..]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

fn io_spends_the_budget(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let task = runtime::spawn(async move {
            client.write_all(b"abc").await.unwrap();
            let before = reactor::budget::remaining().expect("a task has a budget");
            client.write_all(b"def").await.unwrap();
            let after = reactor::budget::remaining().unwrap();
            (before, after)
        });
        let (before, after) = task.await.unwrap();
        assert_eq!(before - after, 1, "one write, one unit");
        let mut buf = [0; 6];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abcdef");
    });
}

fn more_iovecs_than_one_sendmsg_takes(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        let byte = [1u8];
        let bufs: Vec<IoSlice<'_>> = (0..3000).map(|_| IoSlice::new(&byte)).collect();
        let n = client.write_vectored(&bufs).await.unwrap();
        assert!(n > 0 && n <= 1024, "{n}");
        // Readiness was not cleared by the cut-short write: the next one goes through.
        client.write_all(b"!").await.unwrap();
        let mut buf = vec![0; n + 1];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[n], b'!');
    });
}

#[test]
fn sockets_need_a_runtime() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = net::TcpListener::from_std(l).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

per_backend!(
    echo_round_trips,
    large_transfer_both_directions,
    borrowed_halves_at_once,
    owned_halves_reunite,
    half_close_then_reply,
    futures_io_traits,
    connect_to_closed_port_is_refused,
    connect_by_host_name,
    unresolvable_name_is_named,
    listener_and_stream_move_between_loops,
    reuseport_listeners_share_a_port,
    linger_and_options,
    ttl_is_set_read_back_and_inherited,
    every_address_is_tried_in_order,
    io_spends_the_budget,
    more_iovecs_than_one_sendmsg_takes,
);
