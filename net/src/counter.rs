//! A per-thread count of the data syscalls (read, write, accept, send, receive) made
//! through this crate, for tests and measurements of what an exchange costs.
//!
//! It exists only in this crate's unit-test build and with the feature `syscall-count`.
//! Any other build, a release build of an example included, compiles [`count`] to
//! nothing: the thread-local access it costs is a measurable share of a small message.

#[cfg(any(test, feature = "syscall-count"))]
mod enabled {
    use std::cell::Cell;

    thread_local! {
        static SYSCALLS: Cell<u64> = const { Cell::new(0) };
    }

    /// Adds one data syscall.
    // Not inlined: from a generic caller instantiated in another crate, the thread-local
    // would be reached through an accessor call; here it is one direct access.
    #[inline(never)]
    pub(crate) fn count() {
        SYSCALLS.with(|c| c.set(c.get() + 1));
    }

    /// How many data syscalls this thread has made through the crate.
    pub(crate) fn total() -> u64 {
        SYSCALLS.with(Cell::get)
    }
}

#[cfg(any(test, feature = "syscall-count"))]
pub(crate) use enabled::{count, total};

/// Adds one data syscall: nothing, in this build.
#[cfg(not(any(test, feature = "syscall-count")))]
#[inline(always)]
pub(crate) fn count() {}
