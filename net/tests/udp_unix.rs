//! UDP and Unix sockets on both backends.

mod common;

use std::io;
use std::path::PathBuf;

use common::{join2, run};
use reactor::BackendKind;

/// A fresh directory for socket files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "net-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn udp_unconnected(kind: BackendKind) {
    run(kind, async {
        let a = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = net::UdpSocket::bind(("127.0.0.1".parse::<std::net::IpAddr>().unwrap(), 0))
            .await
            .unwrap();
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        // The receiver waits first: the send wakes it.
        let recv = async {
            let mut buf = [0; 64];
            let (n, from) = b.recv_from(&mut buf).await.unwrap();
            (buf[..n].to_vec(), from)
        };
        let send = async { a.send_to(b"first", b_addr).await.unwrap() };
        let ((got, from), sent) = join2(recv, send).await;
        assert_eq!((got.as_slice(), from, sent), (&b"first"[..], a_addr, 5));
        // Several datagrams keep their boundaries, even when shorter than the buffer.
        for msg in [&b"one"[..], b"two!", b"three"] {
            b.send_to(msg, a_addr).await.unwrap();
        }
        let mut buf = [0; 64];
        let (n, _) = a.peek_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        for msg in [&b"one"[..], b"two!", b"three"] {
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from), (msg, b_addr));
        }
        assert_eq!(
            a.peer_addr().unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
    });
}

fn udp_connected(kind: BackendKind) {
    run(kind, async {
        let a = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        for i in 0..100u32 {
            a.send(&i.to_be_bytes()).await.unwrap();
            let mut buf = [0; 8];
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], &i.to_be_bytes());
            b.send(&buf[..n]).await.unwrap();
            assert_eq!(a.recv(&mut buf).await.unwrap(), 4);
        }
        let std = a.into_std().unwrap();
        let a = net::UdpSocket::from_std(std).unwrap();
        a.send(b"again").await.unwrap();
        let mut buf = [0; 8];
        assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
    });
}

/// Receives one datagram on `receiver` (which has `IP_RECVTTL` set) and returns the
/// IP time-to-live it arrived with, from the control message.
#[cfg(target_os = "linux")]
fn recv_ttl(receiver: &std::net::UdpSocket) -> libc::c_int {
    use std::os::fd::AsRawFd;
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // u64 elements: aligned for `cmsghdr`.
    let mut control = [0u64; 16];
    // SAFETY: `msghdr` is plain old data; all-zero is valid (no name).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at one iovec over `data` and at `control`, all alive and
    // writable for the lengths given; the socket is blocking with a read timeout.
    let n = unsafe { libc::recvmsg(receiver.as_raw_fd(), &mut msg, 0) };
    assert!(n >= 0, "recvmsg: {}", io::Error::last_os_error());
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR walk only within
    // `msg_controllen` bytes of `control`, and each header they return is complete.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IP && (*cmsg).cmsg_type == libc::IP_TTL {
                return libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    panic!("no IP_TTL control message on the datagram");
}

fn udp_options(kind: BackendKind) {
    run(kind, async {
        let a = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(!a.broadcast().unwrap());
        a.set_broadcast(true).unwrap();
        assert!(a.broadcast().unwrap());
        a.set_broadcast(false).unwrap();
        assert!(!a.broadcast().unwrap());

        let default = a.ttl().unwrap();
        assert!((1..=255).contains(&default), "default TTL {default}");
        for bad in [0, 256] {
            let err = a.set_ttl(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        assert_eq!(a.ttl().unwrap(), default, "a refused value changes nothing");
        // Each TTL is read back, and (on Linux) seen on the datagrams themselves by a
        // receiver that asks the kernel for the TTL they arrived with.
        #[cfg(target_os = "linux")]
        let receiver = {
            let r = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            r.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            set_int_option(&r, libc::IPPROTO_IP, libc::IP_RECVTTL, 1);
            r
        };
        for ttl in [7, 200] {
            a.set_ttl(ttl).unwrap();
            assert_eq!(a.ttl().unwrap(), ttl);
            #[cfg(target_os = "linux")]
            {
                a.send_to(b"ttl", receiver.local_addr().unwrap())
                    .await
                    .unwrap();
                assert_eq!(recv_ttl(&receiver), ttl as libc::c_int);
            }
        }
    });
}

/// Sets an integer socket option on a std socket.
#[cfg(target_os = "linux")]
fn set_int_option(
    socket: &std::net::UdpSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) {
    use std::os::fd::AsRawFd;
    // SAFETY: `value` is one readable c_int, the size passed; the socket is open.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

fn unix_stream_pair(kind: BackendKind) {
    run(kind, async {
        let (a, b) = net::UnixStream::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        let big = vec![9u8; 1 << 20];
        let writing = async {
            a.write_all(&big).await.unwrap();
            a.shutdown(std::net::Shutdown::Write).unwrap();
        };
        let reading = async {
            let mut total = 0;
            let mut buf = vec![0; 8192];
            loop {
                match b.read(&mut buf).await.unwrap() {
                    0 => return total,
                    n => {
                        assert!(buf[..n].iter().all(|&x| x == 9));
                        total += n;
                    }
                }
            }
        };
        let ((), total) = join2(writing, reading).await;
        assert_eq!(total, big.len());
    });
}

fn unix_listener_and_connect(kind: BackendKind) {
    run(kind, async {
        let dir = TempDir::new("unix");
        let path = dir.path("echo.sock");
        let listener = net::UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let server = runtime::spawn(async move {
            let (stream, peer) = listener.accept().await?;
            assert!(peer.is_unnamed());
            let mut buf = [0; 64];
            let n = stream.read(&mut buf).await?;
            stream.write_all(&buf[..n]).await?;
            Ok::<_, io::Error>(())
        });
        let client = net::UnixStream::connect(&path).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        client.write_all(b"over unix").await.unwrap();
        let mut buf = [0; 9];
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"over unix");
        server.await.unwrap().unwrap();

        let err = net::UnixStream::connect(dir.path("missing.sock"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("missing.sock"), "{err}");
        let long = dir.path(&"x".repeat(200));
        let err = net::UnixListener::bind(&long).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

fn unix_datagram(kind: BackendKind) {
    run(kind, async {
        let dir = TempDir::new("dgram");
        let (a_path, b_path) = (dir.path("a.sock"), dir.path("b.sock"));
        let a = net::UnixDatagram::bind(&a_path).unwrap();
        let b = net::UnixDatagram::bind(&b_path).unwrap();
        a.send_to(b"to b", &b_path).await.unwrap();
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"to b");
        assert_eq!(from.as_pathname(), Some(a_path.as_path()));

        let c = net::UnixDatagram::unbound().unwrap();
        c.connect(&a_path).unwrap();
        c.send(b"from unbound").await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"from unbound");
        assert!(from.is_unnamed());

        let (x, y) = net::UnixDatagram::pair().unwrap();
        let recv = async {
            let n = y.recv(&mut buf).await.unwrap();
            buf[..n].to_vec()
        };
        let send = async { x.send(b"pair").await.unwrap() };
        let (got, _) = join2(recv, send).await;
        assert_eq!(got, b"pair");
    });
}

per_backend!(
    udp_unconnected,
    udp_connected,
    udp_options,
    unix_stream_pair,
    unix_listener_and_connect,
    unix_datagram,
);
