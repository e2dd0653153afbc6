//! What a `fork` leaves behind (see "After `fork`" on `Runtime`).
//!
//! A handler installed with `pthread_atfork` runs in every child right after `fork`, on
//! the thread that called it, which is the only thread there. It counts the forks of
//! this process's line, so that a scheduler can tell it is a child's copy with one load
//! (`Scheduler::is_forked_copy`), and it marks the loop that thread was running, if any,
//! so that the loop panics before its next wait instead of waiting on the parent's
//! epoll instance. The mark costs the loop nothing: it raises the remote queue's
//! `pending` flag, which the loop reads anyway, and `drain_remote` then finds `forked`.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once};

use super::scheduler::Shared;

/// The panic of a runtime used in a forked child of the process that created it.
pub(crate) const FORKED: &str = "this evloop runtime belongs to the parent process: a forked child \
    cannot use it (its reactor, tasks and registrations are the parent's). Build a new \
    `Runtime` in the child";

/// How many `fork`s this process's line has gone through: a child counts one more than
/// its parent did at the fork.
static FORKS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// The `Shared` of the scheduler whose loop runs on this thread, or null. A `Cell` of
    /// a raw pointer needs no destructor, so reading it in the handler neither
    /// allocates nor registers anything.
    static LOOP: Cell<*const Shared> = const { Cell::new(std::ptr::null()) };
}

/// The number of forks so far (see [`FORKS`]).
pub(super) fn forks() -> u32 {
    FORKS.load(Ordering::Relaxed)
}

/// Installs the child handler, once per process.
pub(super) fn install_handler() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: the child handler is an `extern "C"` function that never unwinds and
        // is async-signal-safe (see `after_fork_in_child`); no other handler is given. A
        // failure (ENOMEM) leaves the count at zero: the pid check at `block_on`'s entry
        // and at the runtime's drop does not depend on it.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

/// Counts the fork and marks the loop the forking thread was running as forked.
///
/// It runs in the child right after `fork`, on the only thread there, and does nothing
/// but read a thread-local and update atomics, which is async-signal-safe. It never
/// unwinds.
extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    let ptr = LOOP.get();
    // SAFETY: `LOOP` is non-null only while a `LoopGuard` of this thread is alive, and
    // the guard's scheduler keeps its `Arc<Shared>` alive; in the child the memory is
    // the parent's, copied while this thread was between two of its own statements.
    // Only atomics of `Remote` are touched.
    if let Some(shared) = unsafe { ptr.as_ref() } {
        shared.remote.forked.store(true, Ordering::Relaxed);
        shared.remote.pending.store(true, Ordering::Release);
    }
}

/// Keeps this thread's `LOOP` pointing at a scheduler while its loop runs.
pub(crate) struct LoopGuard {
    prev: *const Shared,
}

impl LoopGuard {
    pub(super) fn enter(shared: &Arc<Shared>) -> LoopGuard {
        LoopGuard {
            prev: LOOP.replace(Arc::as_ptr(shared)),
        }
    }
}

impl Drop for LoopGuard {
    fn drop(&mut self) {
        LOOP.set(self.prev);
    }
}
