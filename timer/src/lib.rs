//! evloop's timers: an indexed d-ary min-heap of deadlines, and the futures on it.
//!
//! libevent keeps every timeout in a min-heap whose entries know their own index; so
//! does evloop ([`TimerHeap`]). Deadlines keep full [`Instant`](std::time::Instant)
//! resolution: the reactor waits with nanosecond timeouts where the kernel has them
//! (`epoll_pwait2`, `ppoll`, `kevent`), so a 100 µs sleep is a 100 µs sleep, not a
//! millisecond. Where it has only millisecond waits, the timeout is rounded up: a timer
//! may fire up to 1 ms late, never early.
//!
//! The futures, [`sleep`], [`timeout`] and [`interval`], are `!Send` and use the thread's
//! current heap, which the runtime installs ([`Handle::enter`]); the runtime re-exports
//! them as `runtime::time`. Polling one outside a runtime panics with a clear message,
//! and so does polling one whose runtime was dropped ([`Handle::shutdown`]).
//!
//! Timers that share one duration (a header-read timeout per request, an idle timeout
//! per connection) can go through a [`CommonTimeout`] instead, libevent's common
//! timeout: a FIFO queue beside the heap, O(1) to arm and to cancel, of which only the
//! first timer stands in the heap.
//!
//! Every timer reads the time from its loop's clock, [`now`]: the system's monotonic
//! clock, unless the heap's clock was paused for a test ([`Handle::pause`]), in which
//! case it stands still until [`Handle::advance`] moves it (the runtime's loop also moves
//! it to the next deadline when it has nothing else to do). Reading it costs one
//! thread-local load on top of `Instant::now()`.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! // The runtime's loop does this: wait until the next deadline, then fire.
//! let timers = timer::Handle::new();
//! let _guard = timers.enter();
//! let mut sleep = std::pin::pin!(timer::sleep(Duration::from_millis(2)));
//! let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! assert!(sleep.as_mut().poll(&mut cx).is_pending());
//! let deadline = timers.next_deadline().unwrap();
//! std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
//! assert_eq!(timers.fire_expired(Instant::now()), 1);
//! assert!(sleep.as_mut().poll(&mut cx).is_ready());
//! # use std::future::Future;
//! ```
//!
//! Timers belong to their loop's thread: `Sleep`, `Timeout`, `Interval` and `Handle` are
//! `!Send`.
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(timer::sleep(std::time::Duration::from_secs(1)));
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(timer::Handle::new());
//! ```
//!
//! ```compile_fail
//! fn assert_send<T: Send>(_: T) {}
//! assert_send(timer::interval(std::time::Duration::from_secs(1)));
//! ```

mod clock;
mod common;
mod handle;
mod heap;
mod interval;
mod queue;
mod sleep;
mod timeout;

pub use clock::now;
pub use common::CommonTimeout;
pub use handle::{EnterGuard, Handle};
pub use heap::{TimerHeap, TimerKey};
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use queue::{MAX_IDLE, QueueId};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};
