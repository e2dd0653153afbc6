//! Timers: the `timer` crate's API, driven by the runtime's loop.
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

pub use timer::{
    CommonTimeout, Elapsed, Interval, MissedTickBehavior, Sleep, Timeout, interval, interval_at,
    sleep, sleep_until, timeout, timeout_at,
};
