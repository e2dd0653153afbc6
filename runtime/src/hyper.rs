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

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::task::thread_id;
use crate::time::{Sleep, sleep_until};

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

/// hyper's timer (header-read timeouts, keep-alive) on the current loop's timers.
///
/// hyper arms a timer of one configured duration per request (the header-read timeout)
/// and cancels nearly all of them. So every sleep goes into the loop's
/// [`CommonTimeout`](crate::time::CommonTimeout) queue for its duration, where arming and cancelling are O(1) and
/// the timer heap is not touched; the loop keeps the queues of recently seen durations.
/// hyper asks for `now()` and then for `sleep_until(now + duration)`: the timer
/// remembers the `now` it gave, so it knows the duration behind such a deadline. A
/// deadline it cannot place in a queue goes to the heap; every sleep fires at its
/// deadline either way. It reads the loop's clock, so a clock paused in a test (see
/// [`time::pause`](crate::time::pause)) holds hyper's timeouts too.
#[derive(Clone, Copy, Debug, Default)]
pub struct EvloopTimer;

thread_local! {
    /// The last instant [`EvloopTimer::now`] returned on this thread, for the next
    /// `sleep_until` to find the duration behind its deadline.
    static LAST_NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

impl hyper::rt::Timer for EvloopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let timers = timer::Handle::current();
        let deadline = timers.now() + duration;
        let sleep = timers.sleep_until_common(duration, deadline);
        Box::pin(EvloopSleep::new(sleep))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let sleep = match LAST_NOW.take() {
            Some(now) if deadline >= now => {
                timer::Handle::current().sleep_until_common(deadline - now, deadline)
            }
            _ => sleep_until(deadline),
        };
        Box::pin(EvloopSleep::new(sleep))
    }

    /// The loop's clock ([`time::now`](crate::time::now)): paused with it in tests.
    fn now(&self) -> Instant {
        let now = timer::now();
        LAST_NOW.set(Some(now));
        now
    }
}

/// A loop-thread [`Sleep`] that hyper may hold as `Send + Sync`.
pub struct EvloopSleep {
    /// Invariant: touched (polled or dropped) only on the thread `owner`.
    inner: ManuallyDrop<Sleep>,
    owner: u32,
}

impl EvloopSleep {
    fn new(inner: Sleep) -> EvloopSleep {
        EvloopSleep {
            inner: ManuallyDrop::new(inner),
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
        // `Sleep` is `Unpin`.
        Pin::new(&mut *self.inner).poll(cx)
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
