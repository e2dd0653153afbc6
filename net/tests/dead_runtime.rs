//! Sockets that outlive their runtime: every operation fails at once with an error that
//! says the runtime was dropped, on every socket type, and a task of another runtime
//! that waits on one is woken to see it. Nothing hangs.
//!
//! Each test runs on its own thread under a watchdog, and each operation on the dead
//! runtime's socket runs in a second runtime under a timeout, so that a regression fails
//! (naming what hung) instead of hanging the suite.

mod common;
#[path = "../../timer/tests/dropped/mod.rs"]
mod dropped;

use std::fmt::Debug;
use std::future::{Future, poll_fn};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::Poll;

use futures_io::{AsyncRead, AsyncWrite};
use reactor::BackendKind;

use dropped::{HANG, bounded};

fn runtime(kind: BackendKind) -> runtime::Runtime {
    runtime::Builder::new().backend(kind).build().unwrap()
}

/// Runs `fut` on a fresh runtime (not the one its sockets came from), failing with
/// `what` if it takes longer than `HANG`.
fn in_other_runtime<F: Future>(kind: BackendKind, what: &str, fut: F) -> F::Output {
    runtime(kind).block_on(async {
        runtime::time::timeout(HANG, fut)
            .await
            .unwrap_or_else(|_| panic!("{what} on a socket of a dropped runtime hung"))
    })
}

fn assert_dropped<T: Debug>(what: &str, result: io::Result<T>) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), io::ErrorKind::Other, "{what}: {err}");
    assert!(
        err.to_string().contains("runtime (reactor)")
            && err.to_string().contains("has been dropped"),
        "{what}: the error does not say the runtime was dropped: {err}"
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "net-dead-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tcp_listener_accept(kind: BackendKind) {
    bounded("tcp_listener_accept", move || {
        let a = runtime(kind);
        let listener = a.block_on(net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        drop(a);
        // A connection is even queued: the error does not depend on readiness.
        let _client = std::net::TcpStream::connect(addr).unwrap();
        in_other_runtime(kind, "accept", async {
            assert_dropped("accept", listener.accept().await);
            assert_dropped("accept again", listener.accept().await);
        });
        // The socket itself is fine: moved into a live runtime, it accepts.
        let std_listener = listener.into_std().unwrap();
        in_other_runtime(kind, "accept after from_std", async {
            let listener = net::TcpListener::from_std(std_listener).unwrap();
            let (_stream, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), addr.ip());
        });
    });
}

fn tcp_stream_read(kind: BackendKind) {
    bounded("tcp_stream_read", move || {
        let a = runtime(kind);
        let (client, server) = a.block_on(async {
            let (client, server) = common::connected_pair().await;
            client.write_all(b"queued").await.unwrap();
            (client, server)
        });
        drop(a);
        in_other_runtime(kind, "read", async {
            let mut buf = [0; 16];
            assert_dropped("read", server.read(&mut buf).await);
            assert_dropped("peek", server.peek(&mut buf).await);
            assert_dropped("readable", server.readable().await);
            let mut reader = &server;
            assert_dropped(
                "AsyncRead::poll_read",
                poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut buf)).await,
            );
        });
        drop(client);
    });
}

fn tcp_stream_write(kind: BackendKind) {
    bounded("tcp_stream_write", move || {
        let a = runtime(kind);
        let (client, _server) = a.block_on(common::connected_pair());
        drop(a);
        in_other_runtime(kind, "write", async {
            assert_dropped("write", client.write(b"x").await);
            assert_dropped("write_all", client.write_all(b"x").await);
            assert_dropped(
                "write_vectored",
                client.write_vectored(&[io::IoSlice::new(b"x")]).await,
            );
            assert_dropped("writable", client.writable().await);
            let mut writer = &client;
            assert_dropped(
                "AsyncWrite::poll_write",
                poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"x")).await,
            );
            let (_rd, wr) = client.into_split();
            assert_dropped("OwnedWriteHalf::write", wr.write(b"x").await);
        });
    });
}

fn tcp_connect(kind: BackendKind) {
    bounded("tcp_connect", move || {
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = target.local_addr().unwrap();
        let a = runtime(kind);
        // Start the connect in the first runtime: the socket is registered there and
        // waits for writable (a non-blocking connect is in progress).
        let mut connect = Box::pin(net::TcpStream::connect(addr));
        let first = a.block_on(poll_fn(|cx| {
            Poll::Ready(connect.as_mut().poll(cx).is_pending())
        }));
        assert!(first, "a non-blocking connect waits for the handshake");
        drop(a);
        in_other_runtime(kind, "connect", async {
            assert_dropped("connect", connect.await);
        });
    });
}

fn waiting_task_of_another_runtime_is_woken(kind: BackendKind) {
    bounded("waiting_task_of_another_runtime_is_woken", move || {
        let a = runtime(kind);
        let listener = a.block_on(net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let socket = a.block_on(net::UdpSocket::bind("127.0.0.1:0")).unwrap();
        in_other_runtime(kind, "a task waiting on the socket", async move {
            // Tasks of this runtime wait on the first runtime's sockets; that runtime is
            // alive but nobody drives it, so they are parked in its slots.
            let accepting = runtime::spawn(async move { listener.accept().await.map(drop) });
            let receiving = runtime::spawn(async move {
                let mut buf = [0; 8];
                socket.recv_from(&mut buf).await.map(drop)
            });
            runtime::yield_now().await;
            runtime::yield_now().await;
            assert!(!accepting.is_finished() && !receiving.is_finished());
            // Dropping the first runtime wakes them, and they see the error.
            drop(a);
            assert_dropped("a parked accept", accepting.await.unwrap());
            assert_dropped("a parked recv_from", receiving.await.unwrap());
        });
    });
}

fn udp(kind: BackendKind) {
    bounded("udp", move || {
        let a = runtime(kind);
        let (socket, peer) = a.block_on(async {
            let socket = net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            peer.send_to(b"queued", socket.local_addr().unwrap())
                .unwrap();
            (socket, peer)
        });
        drop(a);
        in_other_runtime(kind, "udp", async {
            let mut buf = [0; 16];
            let to = peer.local_addr().unwrap();
            assert_dropped("recv_from", socket.recv_from(&mut buf).await);
            assert_dropped("peek_from", socket.peek_from(&mut buf).await);
            assert_dropped("send_to", socket.send_to(b"x", to).await);
            socket.connect(to).await.unwrap();
            assert_dropped("send", socket.send(b"x").await);
            assert_dropped("recv", socket.recv(&mut buf).await);
        });
    });
}

fn unix_stream(kind: BackendKind) {
    bounded("unix_stream", move || {
        let a = runtime(kind);
        let (x, y) = a.block_on(async { net::UnixStream::pair() }).unwrap();
        drop(a);
        in_other_runtime(kind, "unix stream", async {
            let mut buf = [0; 16];
            assert_dropped("write", x.write(b"x").await);
            assert_dropped("read", y.read(&mut buf).await);
        });
    });
}

fn unix_listener(kind: BackendKind) {
    bounded("unix_listener", move || {
        let dir = TempDir::new("listener");
        let path = dir.0.join("l.sock");
        let a = runtime(kind);
        let listener = a
            .block_on(async { net::UnixListener::bind(&path) })
            .unwrap();
        drop(a);
        let _client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        in_other_runtime(kind, "unix accept", async {
            assert_dropped("accept", listener.accept().await);
        });
    });
}

fn unix_datagram(kind: BackendKind) {
    bounded("unix_datagram", move || {
        let a = runtime(kind);
        let (x, y) = a.block_on(async { net::UnixDatagram::pair() }).unwrap();
        drop(a);
        in_other_runtime(kind, "unix datagram", async {
            let mut buf = [0; 16];
            assert_dropped("send", x.send(b"x").await);
            assert_dropped("recv", y.recv(&mut buf).await);
            assert_dropped("recv_from", y.recv_from(&mut buf).await);
        });
    });
}

fn new_sockets_go_to_the_live_runtime(kind: BackendKind) {
    bounded("new_sockets_go_to_the_live_runtime", move || {
        // A dropped runtime leaves nothing current behind: the next one serves normally.
        drop(runtime(kind));
        in_other_runtime(kind, "echo after a dropped runtime", async {
            let (client, server) = common::connected_pair().await;
            client.write_all(b"live").await.unwrap();
            let mut buf = [0; 4];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"live");
        });
    });
}

per_backend!(
    tcp_listener_accept,
    tcp_stream_read,
    tcp_stream_write,
    tcp_connect,
    waiting_task_of_another_runtime_is_woken,
    udp,
    unix_stream,
    unix_listener,
    unix_datagram,
    new_sockets_go_to_the_live_runtime,
);
