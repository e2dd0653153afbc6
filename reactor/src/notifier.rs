//! The cross-thread wakeup of a blocked wait.
//!
//! # Protocol
//!
//! One atomic byte holds two flags:
//!
//! | bit        | set by                        | cleared by                    |
//! |------------|-------------------------------|-------------------------------|
//! | `PARKED`   | the loop, before a blocking wait | the loop, after the wait   |
//! | `NOTIFIED` | [`Notifier::notify`], any thread | the loop, after the wait   |
//!
//! `notify` sets `NOTIFIED` and writes the OS signal (the backend's `Signal`: an
//! eventfd, kqueue's `EVFILT_USER` or a self-pipe, each in `sys/`) only when it is the
//! first to set `NOTIFIED` while `PARKED` is set. Before blocking, the loop sets
//! `PARKED`; if `NOTIFIED` was already set it does not block (the wait gets a zero
//! timeout). So a notification is never lost, and a burst of them costs at most one
//! syscall per blocked wait. Both flags are cleared together after the wait, with
//! `AcqRel` ordering so that whatever the notifying thread wrote before `notify` is
//! visible to the loop afterwards.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use crate::sys::Signal;

const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;

struct Inner {
    state: AtomicU8,
    /// How many times the OS signal was written: the cost of notifications in syscalls.
    writes: AtomicU64,
    signal: Signal,
}

/// Wakes the reactor's blocked [`turn`](crate::Reactor::turn) from any thread.
///
/// Cheap to clone, `Send + Sync`, and harmless after the reactor is gone. Notifications
/// are coalesced: however many arrive, at most one syscall is made per blocked wait.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    pub(crate) fn new(signal: Signal) -> Notifier {
        Notifier {
            inner: Arc::new(Inner {
                state: AtomicU8::new(0),
                writes: AtomicU64::new(0),
                signal,
            }),
        }
    }

    /// Makes the current or next wait of the reactor return promptly.
    pub fn notify(&self) {
        let prev = self.inner.state.fetch_or(NOTIFIED, Ordering::AcqRel);
        if prev & NOTIFIED == 0 && prev & PARKED != 0 {
            self.inner.writes.fetch_add(1, Ordering::Relaxed);
            // An error here (EBADF cannot happen: the fd lives as long as `inner`) has no
            // one to report to; the flag alone still stops the next wait from blocking.
            let _ = self.inner.signal.raise();
        }
    }

    /// How many notifications reached the OS (eventfd writes, pipe writes or kqueue
    /// triggers) since the reactor was created.
    pub fn signal_writes(&self) -> u64 {
        self.inner.writes.load(Ordering::Relaxed)
    }

    /// Marks the loop as about to block. Returns true when a notification is already
    /// pending, in which case the loop must not block.
    pub(crate) fn park(&self) -> bool {
        self.inner.state.fetch_or(PARKED, Ordering::AcqRel) & NOTIFIED != 0
    }

    /// Clears both flags after a wait (blocking or not). Returns true when a notification
    /// arrived since the previous call.
    pub(crate) fn unpark(&self) -> bool {
        self.inner.state.swap(0, Ordering::AcqRel) & NOTIFIED != 0
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("state", &self.inner.state.load(Ordering::Relaxed))
            .field("signal_writes", &self.signal_writes())
            .finish()
    }
}
