//! Helpers shared by the reactor's integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};

use reactor::{BackendKind, Reactor};

/// A waker that counts its wakes.
#[derive(Default)]
pub struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub fn new() -> Arc<CountingWaker> {
        Arc::new(CountingWaker::default())
    }
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn waker(counter: &Arc<CountingWaker>) -> Waker {
    Waker::from(counter.clone())
}

pub fn cx(waker: &Waker) -> Context<'_> {
    Context::from_waker(waker)
}

/// A reactor with the backend under test; `None` means the default choice (which honours
/// `EVLOOP_BACKEND`).
pub fn reactor(kind: Option<BackendKind>) -> Reactor {
    match kind {
        Some(k) => Reactor::builder()
            .backend(k)
            .build()
            .expect("backend opens"),
        None => Reactor::new().expect("default backend opens"),
    }
}

/// Turns until `done` holds, at most for `limit` (a generous bound that only a hang
/// would reach). Returns whether `done` held.
pub fn turn_until(reactor: &Reactor, limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !done() {
        if Instant::now() >= end {
            return false;
        }
        reactor
            .turn(Some((Instant::now() + Duration::from_millis(50)).min(end)))
            .expect("turn");
    }
    true
}

/// Whether the kernel refuses io_uring here (the reactor then falls back to epoll); says
/// so on stderr, so that a skipped uring test is visible in the output.
pub fn uring_refused() -> bool {
    let refused = Reactor::builder()
        .backend(BackendKind::Uring)
        .build()
        .map_or(true, |r| r.backend() != BackendKind::Uring);
    if refused {
        eprintln!("skipped: the kernel refuses io_uring (the reactor fell back to epoll)");
    }
    refused
}

/// Generates one `#[test]` per backend (epoll, poll, io_uring where the kernel allows it,
/// and the default choice) for each listed function taking `Option<BackendKind>`.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $( #[test] fn $name() { super::$name(Some(reactor::BackendKind::Epoll)) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(Some(reactor::BackendKind::Poll)) } )*
        }
        mod uring {
            $( #[test] fn $name() {
                if !$crate::common::uring_refused() {
                    super::$name(Some(reactor::BackendKind::Uring))
                }
            } )*
        }
        mod default_backend {
            $( #[test] fn $name() { super::$name(None) } )*
        }
    };
}
