//! Tasks spawned from other threads: [`Handle::spawn`](crate::Handle::spawn).
//!
//! # Protocol
//!
//! - **Allocation, on the spawning thread.** The task is allocated where it is spawned,
//!   with `allocate`: the same allocation as a local spawn, `SCHEDULED` with
//!   `JOIN_INTEREST` and two references (the live one and the `JoinHandle`'s), around a
//!   `RemoteTask` wrapper that delivers the output to a `RemoteJoinHandle`
//!   (`remote_join.rs`). Until the owner adopts it, the task is reachable only through
//!   its entry in the remote queue's `spawned` list: whoever holds the entry is its only
//!   user, so the owner-only fields (`state`, the links, the stage) are the spawning
//!   thread's to initialise, and the queue's mutex orders that before the adoption.
//! - **Hand-over.** Under the remote queue's lock the spawning thread pushes the entry,
//!   raises `pending` and rings the notifier, as a remote wake does: a burst of spawns
//!   costs one syscall per blocked wait at most. If the queue is closed (the runtime was
//!   dropped), it takes the task back instead (`reclaim`): the allocation is freed and the
//!   future, never polled, is dropped on the spawning thread, which delivers a cancelled
//!   `JoinError` to the handle.
//! - **Adoption, on the owner thread.** `drain_remote` (and `close_remote` at shutdown)
//!   adopts every entry under the same lock: it links the task into the live list,
//!   pushes it onto the local queue (it is `SCHEDULED` already; the live reference covers
//!   the entry), and drops the `JoinHandle` reference that `allocate` counted, which
//!   clears `JOIN_INTEREST`: the task is detached, its output goes through the wrapper.
//!   From then on it is a task like any other, woken locally or remotely.
//! - **Shutdown** adopts what is left in `spawned` when it closes the queue, and cancels
//!   it with the other tasks, on the owner thread.

use std::future::Future;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::cell::{Header, allocate, reclaim};
use super::join::JoinHandle;
use super::remote_join::{RemoteJoinHandle, pair};
use super::scheduler::{RemoteQueue, Scheduler, Shared, TaskRef};

/// Spawns tasks onto one scheduler from any thread: what a `runtime::Handle` holds.
#[derive(Clone)]
pub(crate) struct Spawner {
    shared: Arc<Shared>,
    /// The run queue its tasks go to: the scheduler's default, as for `spawn`.
    priority: u8,
}

impl Spawner {
    /// Runs `future` on the scheduler's loop. If the loop is gone, the future is dropped
    /// here, unpolled, and the handle gives a cancelled `JoinError`.
    pub(crate) fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, handle) = pair(future);
        if let Err(task) = spawn_remote(&self.shared, self.priority, task) {
            drop(task);
        }
        handle
    }

    /// A handle to `future`, cancelled: the future is dropped here, unpolled. What a
    /// spawn onto a loop that never started gives.
    pub(crate) fn cancelled<F>(future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, handle) = pair(future);
        drop(task);
        handle
    }

    /// Whether the scheduler has shut down: a spawn now would be cancelled.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared
            .remote
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed
    }
}

/// Allocates a task for `future` on this thread and hands it to the owner, or gives the
/// future back if the remote queue is closed.
fn spawn_remote<F>(shared: &Arc<Shared>, priority: u8, future: F) -> Result<(), F>
where
    F: Future<Output = ()> + Send + 'static,
{
    // Outside the lock: the allocation and the future's move need no one else.
    let ptr = allocate(future, shared, priority);
    let remote = &shared.remote;
    let mut queue = remote.queue.lock().unwrap_or_else(PoisonError::into_inner);
    if queue.closed {
        drop(queue);
        // SAFETY: `ptr` was allocated just above for `F` and never published: this
        // thread holds both of its references and nothing else can reach it.
        return Err(unsafe { reclaim::<F>(ptr) });
    }
    // The entry carries both references to the owner (see the module docs).
    queue.spawned.push(TaskRef(ptr));
    remote.pending.store(true, Ordering::Release);
    // Under the lock, as for a remote wake: the entry keeps `Shared` alive until the
    // owner drains it, which needs the lock.
    remote.notifier.notify();
    Ok(())
}

impl Scheduler {
    /// A `Send` handle that spawns onto this scheduler, at its default priority.
    pub(crate) fn spawner(&self) -> Spawner {
        Spawner {
            shared: self.shared.clone(),
            priority: self.default_priority(),
        }
    }

    /// Adopts the tasks spawned from other threads (see the module docs). Called on the
    /// owner thread with the remote queue locked. Returns how many it adopted.
    pub(super) fn adopt_spawned(&self, queue: &mut RemoteQueue) -> usize {
        let adopted = queue.spawned.len();
        for TaskRef(ptr) in queue.spawned.drain(..) {
            adopt(self, ptr);
        }
        adopted
    }
}

/// Links a remotely spawned task, queues it and detaches it.
fn adopt(scheduler: &Scheduler, ptr: NonNull<Header>) {
    let local = scheduler.local();
    // Owner thread (the scheduler is `!Send`); the entry's two references keep the task
    // alive, and it is new: neither linked nor queued yet.
    local.link(ptr);
    local.push(ptr);
    // SAFETY: the task was allocated by `spawn_remote` around a `RemoteTask`, whose
    // output is `()`; it has `JOIN_INTEREST`, and the entry's second reference is the
    // one `allocate` counted for a `JoinHandle`. Dropping it on the owner thread detaches
    // the task and runs no user code (no output, no join waker yet).
    drop(unsafe { JoinHandle::<()>::from_raw(ptr) });
}
