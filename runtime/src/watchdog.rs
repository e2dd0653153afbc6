//! A test watchdog: a hung test ends the test process, naming the test, instead of
//! hanging the run. `#[runtime::test]` starts one around every test body (see
//! `timeout_secs` in its documentation), and plain `#[test]` functions start one with
//! [`Watchdog::for_current_test`].

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The limit of a test that does not set one.
pub const DEFAULT_TEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Multiplies every limit, for slow runs such as valgrind's (`memcheck.sh` sets it).
const SCALE_VAR: &str = "EVLOOP_TEST_TIMEOUT_SCALE";

/// Ends the process if it is not dropped within its limit.
///
/// A thread waits for the guard's drop. If the limit passes first, it prints the test's
/// name and the limit on stderr and aborts the process, so a hang fails the run within
/// the limit, with the name of the test that hung. Dropping the guard (when the test
/// returns or panics) stops and joins that thread.
///
/// ```
/// use std::time::Duration;
///
/// let _watchdog = runtime::__private::Watchdog::start("doc::example", Duration::from_secs(10));
/// // ... the test body: if it runs for more than 10 s, the process aborts.
/// ```
#[must_use = "the watchdog stops when dropped"]
pub struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Watches the test `name` for `limit` (times `EVLOOP_TEST_TIMEOUT_SCALE`, if set).
    pub fn start(name: &str, limit: Duration) -> Watchdog {
        let limit = limit.saturating_mul(scale());
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = done.clone();
        let name = name.to_owned();
        let thread = thread::Builder::new()
            .name(format!("watchdog of {name}"))
            .spawn(move || watch(&watched, &name, limit))
            .expect("cannot start the test watchdog thread");
        Watchdog {
            done,
            thread: Some(thread),
        }
    }

    /// Watches the calling test, named after its thread (the test harness names each
    /// test's thread after the test).
    pub fn for_current_test(limit: Duration) -> Watchdog {
        let current = thread::current();
        Watchdog::start(current.name().unwrap_or("<unnamed test>"), limit)
    }
}

fn scale() -> u32 {
    std::env::var(SCALE_VAR)
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 1)
        .unwrap_or(1)
}

fn watch(done: &(Mutex<bool>, Condvar), name: &str, limit: Duration) {
    let start = Instant::now();
    let (lock, stopped) = done;
    let mut finished = lock.lock().unwrap_or_else(PoisonError::into_inner);
    while !*finished {
        let Some(left) = limit.checked_sub(start.elapsed()) else {
            // Straight to stderr: `eprintln!` would go to the test harness's capture of
            // the test's output, which an aborting process never prints.
            let _ = writeln!(
                io::stderr(),
                "\ntest {name} has run for more than {limit:?} and is presumed hung: \
                 aborting the test process"
            );
            std::process::abort();
        };
        finished = stopped
            .wait_timeout(finished, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, stopped) = &*self.done;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        stopped.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog").finish_non_exhaustive()
    }
}
