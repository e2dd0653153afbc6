//! net's sockets on the io_uring backend, where bytes move by completion: what differs
//! from readiness and must still hold. A 64 MiB transfer each way against a plain std
//! peer, a peer that never reads, sockets dropped with reads and writes in flight, a
//! runtime dropped likewise, `into_std` of a socket whose receive is armed, readiness
//! calls on a completion socket, and concurrent datagram sends.
//!
//! Each test is skipped, with a line on stderr, where the kernel refuses io_uring.
#![cfg(target_os = "linux")]

mod common;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use common::{connected_pair, fill, pattern, run, uring_refused};
use reactor::BackendKind;

const URING: BackendKind = BackendKind::Uring;
const BIG: usize = 64 << 20;

/// A loopback listener for a std peer, and the address to connect to.
fn std_listener() -> (std::net::TcpListener, std::net::SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

#[test]
fn transfer_64_mib_each_way_with_a_std_peer() {
    if uring_refused() {
        return;
    }
    // evloop writes, a std thread reads and checks.
    let (l, addr) = std_listener();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut got = 0;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                return got;
            }
            for (k, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, pattern(3, got + k), "byte {}", got + k);
            }
            got += n;
        }
    });
    run(URING, async move {
        let s = net::TcpStream::connect(addr).await.unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        let mut sent = 0;
        while sent < BIG {
            fill(3, sent, &mut chunk);
            s.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
        // Closing waits until the kernel took every byte, then sends the FIN.
        futures_io_close(&s).await.unwrap();
    });
    assert_eq!(reader.join().unwrap(), BIG);

    // A std thread writes, evloop reads and checks.
    let (l, addr) = std_listener();
    let writer = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        let mut sent = 0;
        while sent < BIG {
            fill(4, sent, &mut chunk);
            s.write_all(&chunk).unwrap();
            sent += chunk.len();
        }
    });
    let got = run(URING, async move {
        let s = net::TcpStream::connect(addr).await.unwrap();
        let mut buf = vec![0u8; 100_000];
        let mut got = 0;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                return got;
            }
            assert!(
                buf[..n]
                    .iter()
                    .enumerate()
                    .all(|(k, &b)| b == pattern(4, got + k)),
                "bytes {got}..{} differ",
                got + n
            );
            got += n;
        }
    });
    writer.join().unwrap();
    assert_eq!(got, BIG);
}

async fn futures_io_close(s: &net::TcpStream) -> io::Result<()> {
    use futures_io::AsyncWrite;
    let mut s = s;
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut s).poll_close(cx)).await
}

#[test]
fn a_peer_that_never_reads() {
    if uring_refused() {
        return;
    }
    let (l, addr) = std_listener();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let peer = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        // Hold the connection without reading until told, then reset it.
        rx.recv().unwrap();
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a `linger` of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&raw const linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
    });
    run(URING, async move {
        let s = std::rc::Rc::new(net::TcpStream::connect(addr).await.unwrap());
        let written = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let writer = {
            let (s, written) = (s.clone(), written.clone());
            runtime::spawn(async move {
                let chunk = vec![9u8; 64 << 10];
                loop {
                    match s.write(&chunk).await {
                        Ok(n) => written.set(written.get() + n),
                        Err(e) => return e,
                    }
                }
            })
        };
        // The writer fills the socket buffers and its own send bound, then waits: its
        // bytes in flight stay bounded, and the loop sleeps instead of spinning.
        let mut last = 0;
        loop {
            runtime::time::sleep(Duration::from_millis(50)).await;
            if written.get() == last && last > 0 {
                break;
            }
            last = written.get();
        }
        assert!(
            written.get() < 32 << 20,
            "{} bytes accepted for a peer that reads nothing",
            written.get()
        );
        let before = written.get();
        runtime::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(written.get(), before, "the writer went on without a reader");
        // The peer resets: the writer hears it, whatever was in flight.
        tx.send(()).unwrap();
        let err = runtime::time::timeout(Duration::from_secs(30), writer)
            .await
            .expect("the writer never heard of the reset")
            .unwrap();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        // And keeps hearing it.
        assert!(s.write(b"again").await.is_err());
    });
    peer.join().unwrap();
}

#[test]
fn sockets_dropped_with_reads_and_writes_in_flight() {
    if uring_refused() {
        return;
    }
    const LEN: usize = 3 << 20;
    let (l, addr) = std_listener();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        // Read slowly at first, so that the drop finds a send in flight and more staged.
        std::thread::sleep(Duration::from_millis(100));
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        all
    });
    run(URING, async move {
        let s = net::TcpStream::connect(addr).await.unwrap();
        let task = runtime::spawn(async move {
            let mut data = vec![0u8; LEN];
            fill(8, 0, &mut data);
            // A read waits (its receive armed) while the writes go out.
            let mut one = [0u8; 1];
            let read = s.read(&mut one);
            let write = s.write_all(&data);
            let (r, w) = common::join2(
                async { runtime::time::timeout(Duration::from_millis(300), read).await },
                write,
            )
            .await;
            assert!(r.is_err(), "nothing was sent to read");
            w.unwrap();
            // Dropped here, with bytes staged and in flight and a receive armed.
        });
        task.await.unwrap();
    });
    let all = reader.join().unwrap();
    assert_eq!(all.len(), LEN, "bytes written before the drop were lost");
    assert!(all.iter().enumerate().all(|(k, &b)| b == pattern(8, k)));
}

#[test]
fn a_runtime_dropped_with_operations_in_flight() {
    if uring_refused() {
        return;
    }
    let (l, addr) = std_listener();
    let rt = runtime::Builder::new().backend(URING).build().unwrap();
    let s = rt.block_on(async {
        let s = net::TcpStream::connect(addr).await.unwrap();
        // A receive armed and a write the peer never takes.
        let mut one = [0u8; 1];
        let _ = runtime::time::timeout(Duration::from_millis(20), s.read(&mut one)).await;
        let chunk = vec![1u8; 1 << 20];
        let _ = runtime::time::timeout(Duration::from_millis(200), s.write_all(&chunk)).await;
        s
    });
    let (_peer, _) = l.accept().unwrap();
    let started = Instant::now();
    drop(rt);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "dropping the runtime took {:?}",
        started.elapsed()
    );
    // The socket outlives its runtime: its I/O fails at once, its drop is clean.
    let err = runtime::Runtime::new()
        .unwrap()
        .block_on(async { s.write(b"x").await })
        .unwrap_err();
    assert!(err.to_string().contains("has been dropped"), "{err}");
    drop(s);
}

#[test]
fn into_std_with_a_receive_armed() {
    if uring_refused() {
        return;
    }
    let std_stream = run(URING, async {
        let (client, server) = connected_pair().await;
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        // The receive stays armed after the read; a write is in flight.
        server.write_all(b"pong").await.unwrap();
        // into_std cancels the one and waits for the other.
        let std_server = server.into_std().unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // The socket now works without the ring: what the client sends is there.
        client.write_all(b"after").await.unwrap();
        (std_server, client.into_std().unwrap())
    });
    let (mut server, _client) = std_stream;
    server.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 5];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"after");

    // Bytes received and not read cannot follow the fd: into_std says so.
    run(URING, async {
        let (client, server) = connected_pair().await;
        client.write_all(b"unread!").await.unwrap();
        let mut one = [0u8; 1];
        server.read_exact(&mut one).await.unwrap();
        // Let the rest land in the server's buffers.
        runtime::time::sleep(Duration::from_millis(20)).await;
        let err = server.into_std().unwrap_err();
        assert!(err.to_string().contains("not read"), "{err}");
    });
}

#[test]
fn readiness_of_a_completion_socket() {
    if uring_refused() {
        return;
    }
    run(URING, async {
        let (client, server) = connected_pair().await;
        assert!(client.writable().await.unwrap().is_writable());
        let reading = runtime::spawn(async move {
            let r = server.readable().await.unwrap();
            assert!(r.is_readable());
            let mut buf = [0u8; 5];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ready");
            // End of stream is readable too, and says read-closed.
            let r = server.readable().await.unwrap();
            assert!(r.is_read_closed());
        });
        runtime::time::sleep(Duration::from_millis(10)).await;
        client.write_all(b"ready").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        reading.await.unwrap();
    });
}

#[test]
fn concurrent_datagram_sends_each_get_their_result() {
    if uring_refused() {
        return;
    }
    run(URING, async {
        let a = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        let big = vec![0u8; 70_000];
        // One succeeds, one is too large for a datagram: each future gets its own result.
        let (ok, too_big) = common::join2(a.send_to(b"small", to), a.send_to(&big, to)).await;
        assert_eq!(ok.unwrap(), 5);
        assert_eq!(too_big.unwrap_err().raw_os_error(), Some(libc::EMSGSIZE));
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"small"[..], a.local_addr().unwrap()));
        // A receive cut short by the caller's buffer, as recvfrom cuts it.
        a.send_to(b"0123456789", to).await.unwrap();
        let mut small = [0u8; 4];
        let (n, _) = b.recv_from(&mut small).await.unwrap();
        assert_eq!(&small[..n], b"0123");
        // A peer that is gone: a connected socket hears it on its next call.
        let c = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(gone.local_addr().unwrap()).await.unwrap();
        drop(gone);
        c.send(b"anyone?").await.unwrap();
        let err = runtime::time::timeout(Duration::from_secs(10), c.recv(&mut buf))
            .await
            .expect("an ICMP error reaches the receive")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    });
}
