//! Helpers of the tests that use a timer, a runtime or a socket after its runtime was
//! dropped. Only std: the timer's tests use it, and the runtime's and net's include this
//! file too (`#[path]`), since timer may depend on neither.
#![allow(dead_code)]

use std::any::Any;
use std::sync::mpsc;
use std::time::Duration;

/// How long one operation may take before it counts as hung: far beyond what failing
/// at once takes, even on a loaded machine.
pub const HANG: Duration = Duration::from_secs(10);
/// The bound on a whole test run by [`bounded`].
pub const WATCHDOG: Duration = Duration::from_secs(60);
/// A deadline no test reaches.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Runs `test` on its own thread and fails if it has not finished within `WATCHDOG`
/// (a hang inside one poll, which no timer can interrupt). Its panic, if any, goes on.
pub fn bounded(name: &str, test: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            test();
            let _ = done.send(());
        })
        .unwrap();
    match finished.recv_timeout(WATCHDOG) {
        Ok(()) => thread.join().unwrap(),
        // The sender is gone without a message: the test panicked; report its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name} hung for {WATCHDOG:?}"),
    }
}

/// The message of a panic's payload (empty if it is neither a `String` nor a `&str`).
pub fn message_of(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// Fails unless `message` says that the runtime was dropped.
pub fn assert_says_dropped(message: &str) {
    assert!(
        message.contains("runtime that has been dropped"),
        "the panic does not say the runtime was dropped: {message}"
    );
}
