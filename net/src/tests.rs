//! Unit tests that count syscalls: the counter exists in this build (see `counter.rs`).

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use futures_io::AsyncRead;
use reactor::BackendKind;

use crate::counter::total;

/// The helpers of the integration tests, the one copy of them.
#[path = "../tests/common/mod.rs"]
mod common;

use common::{connected_pair, run};

fn short_read_costs_no_extra_syscall(kind: BackendKind) {
    run(kind, async {
        let (client, server) = connected_pair().await;
        client.write_all(b"0123456789").await.unwrap();
        let mut buf = [0; 1024];
        let before = total();
        assert_eq!(server.read(&mut buf).await.unwrap(), 10);
        assert_eq!(total() - before, 1, "one recv for a short read");

        // The socket is empty now: the next read must be Pending.
        let before = total();
        let mut reader = &server;
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut reader).poll_read(cx, &mut buf))).await;
        assert!(polled.is_pending());
        let extra = total() - before;
        match kind {
            // The short read cleared readiness: no syscall that would get EAGAIN.
            BackendKind::Epoll => assert_eq!(extra, 0, "no EAGAIN round trip after a short read"),
            // Level-triggered: one recv finds EAGAIN, then the waker is stored.
            _ => assert_eq!(extra, 1, "one EAGAIN on the level-triggered backend"),
        }

        // And no wakeup is lost: new data is read.
        client.write_all(b"more").await.unwrap();
        assert_eq!(server.read(&mut buf).await.unwrap(), 4);
        assert_eq!(&buf[..4], b"more");

        // One send per write too.
        let before = total();
        server.write_all(b"reply").await.unwrap();
        assert_eq!(total() - before, 1);
    });
}

mod epoll {
    #[test]
    fn short_read_costs_no_extra_syscall() {
        super::short_read_costs_no_extra_syscall(reactor::BackendKind::Epoll)
    }
}

mod poll {
    #[test]
    fn short_read_costs_no_extra_syscall() {
        super::short_read_costs_no_extra_syscall(reactor::BackendKind::Poll)
    }
}

/// On io_uring a read or a write makes no syscall of its own: the bytes are copied out
/// of (or into) the reactor's buffers, and the loop's one `io_uring_enter` per turn
/// moves them.
#[test]
fn uring_reads_and_writes_make_no_syscall() {
    let probe = reactor::Reactor::builder()
        .backend(BackendKind::Uring)
        .build()
        .expect("a reactor");
    if probe.backend() != BackendKind::Uring {
        eprintln!("skipped: the kernel refuses io_uring");
        return;
    }
    drop(probe);
    run(BackendKind::Uring, async {
        let (client, server) = connected_pair().await;
        let before = total();
        client.write_all(b"0123456789").await.unwrap();
        let mut buf = [0; 1024];
        assert_eq!(server.read(&mut buf).await.unwrap(), 10);
        // Nothing left: the next read is Pending, again without a syscall.
        let mut reader = &server;
        let polled = poll_fn(|cx| Poll::Ready(Pin::new(&mut reader).poll_read(cx, &mut buf))).await;
        assert!(polled.is_pending());
        server.write_all(b"reply").await.unwrap();
        assert_eq!(client.read(&mut buf).await.unwrap(), 5);
        assert_eq!(total() - before, 0, "no data syscall on io_uring");
    });
}
