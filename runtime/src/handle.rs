//! `Handle`: a way into one loop from any thread.

use std::fmt;
use std::future::Future;

use crate::context::{try_with_current, with_current};
use crate::task::{RemoteJoinHandle, Spawner};

/// A `Send + Sync` handle to a runtime's loop, from [`Runtime::handle`](crate::Runtime::handle)
/// or [`Handle::current`]: other threads, and other loops, spawn onto the loop through it.
///
/// [`spawn`](Handle::spawn) takes a `Send` future from any thread and runs it as a task
/// of that loop. The task is allocated on the calling thread and handed over through the
/// loop's remote queue, the one wakes from other threads take, and the loop's notifier:
/// a loop blocked in its wait wakes up, and a burst of spawns costs at most one syscall
/// (an eventfd write, a kqueue trigger or a pipe write) per blocked wait. Tasks spawned
/// from one thread start in the order they were spawned.
///
/// The loop runs the task while its runtime is driven ([`block_on`](crate::Runtime::block_on),
/// or a per-core loop). Once the runtime is dropped, a spawn never runs its future: the
/// [`RemoteJoinHandle`] gives a cancelled [`JoinError`](crate::JoinError) at once, and
/// the future is dropped, unpolled, on the calling thread before `spawn` returns. A
/// spawn that reached the loop before its runtime was dropped is cancelled with the
/// loop's other tasks, its future dropped on the loop's thread.
///
/// ```
/// let rt = runtime::Runtime::new()?;
/// let handle = rt.handle();
/// // Another thread spawns onto the loop, and hands back the join handle.
/// let task = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```
/// fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
/// assert_send_sync_clone::<runtime::Handle>();
/// ```
#[derive(Clone)]
pub struct Handle {
    /// `None`: a loop of [`Builder::run_with_handles`](crate::Builder::run_with_handles)
    /// that could not start.
    spawner: Option<Spawner>,
}

impl Handle {
    pub(crate) fn new(spawner: Spawner) -> Handle {
        Handle {
            spawner: Some(spawner),
        }
    }

    /// The handle of a loop that never ran: every spawn is cancelled.
    pub(crate) fn never_started() -> Handle {
        Handle { spawner: None }
    }

    /// The handle of the runtime running on this thread.
    ///
    /// # Panics
    ///
    /// Outside a runtime: call it inside `Runtime::block_on`, `#[runtime::main]` or
    /// `#[runtime::test]`, or use [`Runtime::handle`](crate::Runtime::handle).
    #[track_caller]
    pub fn current() -> Handle {
        with_current(|inner| Handle::new(inner.scheduler.spawner()))
    }

    /// The handle of the runtime running on this thread, if there is one.
    pub fn try_current() -> Option<Handle> {
        try_with_current(|inner| Handle::new(inner.scheduler.spawner()))
    }

    /// Spawns `future` onto this handle's loop, from any thread, and returns a `Send`
    /// handle to its output (see the type's documentation for the path it takes, and
    /// for a loop that is gone).
    ///
    /// The task runs at the loop's default priority, the one [`spawn`](crate::spawn)
    /// uses (see [`Builder::priorities`](crate::Builder::priorities)). A panic in the
    /// future is caught on the loop, which goes on, and awaiting the handle gives a
    /// [`JoinError`](crate::JoinError) whose `is_panic()` is true.
    pub fn spawn<F>(&self, future: F) -> RemoteJoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.spawner {
            Some(spawner) => spawner.spawn(future),
            None => Spawner::cancelled(future),
        }
    }

    /// Whether the loop is gone (its runtime was dropped, or it never started), so that
    /// a spawn would be cancelled.
    pub fn is_closed(&self) -> bool {
        self.spawner.as_ref().is_none_or(Spawner::is_closed)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
