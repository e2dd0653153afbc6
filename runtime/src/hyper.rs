//! hyper 1.x on evloop: an [`Executor`](hyper::rt::Executor) and a
//! [`Timer`](hyper::rt::Timer) (feature `hyper`).
//!
//! What evloop's features enable is hyper's HTTP/1 (server and client): its
//! connections need a timer (header-read timeouts, keep-alive) but no executor; the
//! connection future is spawned by the caller. [`EvloopExecutor`] is there for code that
//! asks for one, such as a pooled client built on hyper: it spawns on the current loop
//! and takes `!Send` futures. No evloop feature enables hyper's HTTP/2.
//!
//! hyper asks its timer for `Send + Sync` sleeps, while evloop's timers belong to one
//! thread: [`EvloopSleep`] wraps one and is `Send + Sync` only in name. It checks, on
//! every poll, that it is still on the thread that created it (and panics otherwise);
//! dropped on another thread, it leaks its timer instead of touching that thread's heap.
//! Like any evloop sleep, one polled after its runtime was dropped panics with a message
//! that says so.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::task::thread_id;
use crate::time::{Sleep, sleep, sleep_until};

/// Spawns the futures given to it on the current loop with [`spawn`](crate::spawn);
/// they need not be `Send`. Panics outside a runtime, as `spawn` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvloopExecutor;

impl<F> hyper::rt::Executor<F> for EvloopExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// hyper's timer (header-read timeouts, keep-alive) on the current loop's timer heap.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvloopTimer;

impl hyper::rt::Timer for EvloopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(EvloopSleep::new(sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(EvloopSleep::new(sleep_until(deadline)))
    }
}

/// A loop-thread [`Sleep`] that hyper may hold as `Send + Sync`.
pub struct EvloopSleep {
    /// Invariant: touched (polled or dropped) only on the thread `owner`.
    inner: ManuallyDrop<Pin<Box<Sleep>>>,
    owner: u32,
}

impl EvloopSleep {
    fn new(inner: Sleep) -> EvloopSleep {
        EvloopSleep {
            inner: ManuallyDrop::new(Box::pin(inner)),
            owner: thread_id(),
        }
    }
}

// SAFETY: the wrapped `Sleep` is reached only through `poll` and `drop`, which check
// that they run on the creating thread (field invariant); other threads can only move
// the box around. `&EvloopSleep` exposes nothing of it.
unsafe impl Send for EvloopSleep {}
// SAFETY: as for `Send`: no `&self` method touches the wrapped `Sleep`.
unsafe impl Sync for EvloopSleep {}

impl Future for EvloopSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        assert_eq!(
            self.owner,
            thread_id(),
            "an evloop sleep was polled on another thread than its loop's"
        );
        self.inner.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for EvloopSleep {}

impl Drop for EvloopSleep {
    fn drop(&mut self) {
        if self.owner == thread_id() {
            // SAFETY: dropped once, here, on the owning thread (field invariant).
            unsafe { ManuallyDrop::drop(&mut self.inner) };
        }
        // On another thread the timer is leaked: its heap entry belongs to the loop.
    }
}

impl fmt::Debug for EvloopSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvloopSleep").finish_non_exhaustive()
    }
}
