//! Timers: the `timer` crate's API, driven by the runtime's loop, and a clock that tests
//! can pause.
//!
//! The loop waits in the reactor until the earliest deadline of the timer heap, then
//! fires every expired timer; the reactor never returns before a deadline, so a sleep
//! never ends early.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let rt = runtime::Runtime::new()?;
//! let start = Instant::now();
//! rt.block_on(runtime::time::sleep(Duration::from_millis(1)));
//! assert!(start.elapsed() >= Duration::from_millis(1));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The runtime's clock, and pausing it
//!
//! Every timer reads the runtime's clock, [`now`]: [`sleep`], [`sleep_until`]'s first
//! poll, [`timeout`], [`interval`], [`CommonTimeout`], and
//! `runtime::hyper::EvloopTimer::now`. It is `Instant::now()` until a test
//! [`pause`]s it (or builds the runtime with
//! [`Builder::start_paused`](crate::Builder::start_paused), or writes
//! `#[runtime::test(start_paused = true)]`). From then on it moves only in two ways:
//!
//! - [`advance`] moves it forward by a duration; the timers it passes fire at once;
//! - **auto-advance**: when the loop has nothing ready to run and would otherwise wait,
//!   it jumps the clock to the next timer's deadline and fires that timer. A test of a
//!   one-hour timeout therefore takes no real time.
//!
//! Auto-advance and I/O: sockets work as usual while the clock is paused, and the clock
//! never jumps over I/O that has arrived. Before it jumps, the loop polls the reactor
//! without blocking and takes in the wakes and spawns from other threads; only if that
//! made nothing ready does it move the clock. So a read whose data is already in the
//! socket completes before a far timer fires. I/O that has not arrived yet (a peer on
//! another thread or in another process that has not sent) does not hold the clock
//! back: a timeout around it fires at once. With no timer set, the loop waits for I/O
//! as usual, for real. While [`spawn_blocking`](crate::spawn_blocking) jobs run, the
//! loop does not jump either (their results may be what the timers wait for); it waits,
//! in real time, for them.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! #[runtime::test(start_paused = true)]
//! async fn an_hour_long_timeout_in_no_time() {
//!     let real = Instant::now();
//!     let start = runtime::time::now();
//!     let out = runtime::time::timeout(Duration::from_secs(3600), std::future::pending::<()>()).await;
//!     assert!(out.is_err());
//!     assert!(runtime::time::now() - start >= Duration::from_secs(3600));
//!     assert!(real.elapsed() < Duration::from_secs(10));
//! }
//! # fn main() {}
//! ```
//!
//! A resumed clock ([`resume`]) goes on with real time from where the paused one stood,
//! so deadlines keep their order; it does not jump back to `Instant::now()`.

use std::time::Duration;

pub use timer::{
    CommonTimeout, Elapsed, Interval, MissedTickBehavior, Sleep, Timeout, interval, interval_at,
    now, sleep, sleep_until, timeout, timeout_at,
};

/// The current runtime's timers, or a panic that names `call`.
#[track_caller]
fn current(call: &str) -> timer::Handle {
    match timer::Handle::try_current() {
        Some(timers) => timers,
        None => panic!(
            "`runtime::time::{call}` was called outside a runtime: call it inside \
             `Runtime::block_on`, `#[runtime::main]` or `#[runtime::test]` (or use \
             `#[runtime::test(start_paused = true)]`)"
        ),
    }
}

/// Pauses the current runtime's clock: from now on it moves only with [`advance`] and
/// the loop's auto-advance (see the [module docs](self)). For tests.
///
/// ```
/// use std::time::Duration;
///
/// let rt = runtime::Runtime::new()?;
/// rt.block_on(async {
///     runtime::time::pause();
///     let start = runtime::time::now();
///     runtime::time::sleep(Duration::from_secs(86_400)).await; // a day, at once
///     assert_eq!(runtime::time::now() - start, Duration::from_secs(86_400));
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// Outside a runtime, or if the clock is already paused.
#[track_caller]
pub fn pause() {
    current("pause").pause();
}

/// Lets the current runtime's clock run again, with real time, from where it stood.
///
/// # Panics
///
/// Outside a runtime, or if the clock is not paused.
#[track_caller]
pub fn resume() {
    current("resume").resume();
}

/// Moves the paused clock forward by `duration` and fires the timers it passes; the
/// tasks they wake run before the caller resumes.
///
/// The clock moves when the returned future is first polled; it then yields once to the
/// loop.
///
/// ```
/// use std::time::Duration;
///
/// #[runtime::test(start_paused = true)]
/// async fn ticks() {
///     let mut ticks = runtime::time::interval(Duration::from_secs(1));
///     let first = ticks.tick().await;
///     runtime::time::advance(Duration::from_secs(1)).await;
///     assert_eq!(ticks.tick().await - first, Duration::from_secs(1));
/// }
/// # fn main() {}
/// ```
///
/// # Panics
///
/// Outside a runtime, or if the clock is not paused (as tokio's `advance` does).
pub async fn advance(duration: Duration) {
    let timers = current("advance");
    timers.advance(duration);
    // The woken tasks are queued before this one yields, so they run first.
    timers.fire_expired(timers.now());
    crate::yield_now().await;
}
