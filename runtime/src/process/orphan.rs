//! Children whose [`Child`](super::Child) was dropped before they were reaped.
//!
//! Their pids go into one process-wide queue. They are reaped, each by `waitpid` on its
//! own pid:
//!
//! 1. at once, if the child has already exited when it is dropped;
//! 2. by the loop's reaper, a task spawned on the loop that dropped the child (one per
//!    loop at most, only while the queue is not empty): it listens for `SIGCHLD` and
//!    reaps the queue after every delivery, and ends when the queue is empty;
//! 3. at every [`Command::spawn`](super::Command::spawn), on any loop.
//!
//! So a dropped child is reaped soon after it exits as long as some loop runs, and a
//! zombie can outlive its exit only while no runtime runs on any thread (it is then
//! reaped at the next spawn, or with the process).

use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::exit::{current_runtime, try_reap};
use crate::signal::{SignalKind, signal};

/// Pids of dropped, unreaped children.
static ORPHANS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// `ORPHANS.len()`, readable without the lock.
static COUNT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The loop of this thread that runs a reaper task, if one does: its runtime's
    /// address and reactor (shut down once that runtime is gone, which tells a later
    /// runtime at the same address apart).
    static REAPER: RefCell<Option<(usize, reactor::Handle)>> = const { RefCell::new(None) };
}

/// How many dropped children wait to be reaped, over the whole process.
pub(crate) fn count() -> usize {
    COUNT.load(Ordering::Relaxed)
}

/// Takes over a dropped child: reaps it now if it has exited, else queues it and makes
/// sure this loop (if any) runs a reaper.
pub(crate) fn adopt(pid: u32) {
    if !matches!(try_reap(pid), Ok(None)) {
        return;
    }
    {
        let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
        orphans.push(pid);
        COUNT.store(orphans.len(), Ordering::Relaxed);
    }
    start_reaper();
}

/// Reaps every queued child that has exited; returns how many are left.
pub(crate) fn reap() -> usize {
    let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
    // An error (`ECHILD`: reaped by someone else) also takes the pid off the queue.
    orphans.retain(|&pid| matches!(try_reap(pid), Ok(None)));
    COUNT.store(orphans.len(), Ordering::Relaxed);
    orphans.len()
}

/// Clears this thread's reaper entry when the reaper's future goes, run or not, if the
/// entry is still its own.
struct ReaperGuard(usize);

impl Drop for ReaperGuard {
    fn drop(&mut self) {
        REAPER.with(|r| {
            let mut r = r.borrow_mut();
            if r.as_ref().is_some_and(|(rt, _)| *rt == self.0) {
                *r = None;
            }
        });
    }
}

/// Whether the current loop already runs a reaper.
fn has_reaper(runtime: usize) -> bool {
    REAPER.with(|r| {
        r.borrow()
            .as_ref()
            .is_some_and(|(rt, reactor)| *rt == runtime && !reactor.is_shut_down())
    })
}

fn start_reaper() {
    // Outside a runtime (a child dropped after its runtime) nothing can listen: the
    // next spawn, or another loop's reaper, reaps the queue.
    let (Ok(runtime), Ok(reactor)) = (current_runtime(), reactor::Handle::try_current()) else {
        return;
    };
    if has_reaper(runtime) {
        return;
    }
    REAPER.with(|r| *r.borrow_mut() = Some((runtime, reactor)));
    let guard = ReaperGuard(runtime);
    // Detached: it ends by itself once the queue is empty, and is dropped with its
    // runtime (the guard then lets the next loop start another).
    drop(crate::spawn(async move {
        let _guard = guard;
        // Listening first, then reaping: an exit before the listener existed is found
        // by the first `reap`, one after it by a delivery.
        let Ok(mut sigchld) = signal(SignalKind::from_raw(libc::SIGCHLD)) else {
            reap();
            return;
        };
        while reap() > 0 {
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }));
}
