//! Helpers shared by the net integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use reactor::BackendKind;

/// Runs `fut` to completion on a fresh runtime with the backend under test, failing the
/// test if it takes longer than a generous bound that only a hang would reach.
pub fn run<F: Future>(kind: BackendKind, fut: F) -> F::Output {
    let rt = runtime::Builder::new()
        .backend(kind)
        .build()
        .expect("runtime with the backend under test");
    rt.block_on(async move {
        match runtime::time::timeout(Duration::from_secs(60), fut).await {
            Ok(out) => out,
            Err(_) => panic!("test timed out on {kind:?}"),
        }
    })
}

/// A deterministic byte pattern: byte `i` of a stream seeded with `seed`.
pub fn pattern(seed: u8, i: usize) -> u8 {
    (i as u64)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u64::from(seed))
        .rotate_right(13) as u8
}

/// Fills `buf` with the pattern from offset `at`.
pub fn fill(seed: u8, at: usize, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern(seed, at + k);
    }
}

/// Whether the kernel refuses io_uring here (the runtime then falls back to epoll); says
/// so on stderr, so that a skipped uring test is visible in the output.
pub fn uring_refused() -> bool {
    let refused = reactor::Reactor::builder()
        .backend(BackendKind::Uring)
        .build()
        .map_or(true, |r| r.backend() != BackendKind::Uring);
    if refused {
        eprintln!("skipped: the kernel refuses io_uring (the runtime fell back to epoll)");
    }
    refused
}

/// Generates one `#[test]` per backend (epoll, poll, and io_uring where the kernel
/// allows it) for each listed function taking a `BackendKind`.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $( #[test] fn $name() { super::$name(reactor::BackendKind::Epoll) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(reactor::BackendKind::Poll) } )*
        }
        mod uring {
            $( #[test] fn $name() {
                if !$crate::common::uring_refused() {
                    super::$name(reactor::BackendKind::Uring)
                }
            } )*
        }
    };
}

/// Polls both futures until both are done, in one task: the halves of a borrowed
/// `split` used at the same time.
pub async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    use std::pin::pin;
    use std::task::Poll;
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A listener on loopback port 0 and a client connected to it, with the accepted side.
pub async fn connected_pair() -> (net::TcpStream, net::TcpStream) {
    let listener = net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let client = net::TcpStream::connect(addr).await.expect("connect");
    let (server, peer) = listener.accept().await.expect("accept");
    assert_eq!(peer, client.local_addr().expect("client addr"));
    (client, server)
}
