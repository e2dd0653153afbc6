//! Stopping a loop: `Runtime::shutdown_timeout` (libevent's `event_base_loopexit`) and
//! `Runtime::shutdown_now` (`event_base_loopbreak`).

use std::time::Duration;

use crate::runtime::Runtime;

impl Runtime {
    /// Runs the loop until every spawned task has finished, or until `timeout` has
    /// passed, then cancels what is left and drops the runtime. Returns how many tasks it
    /// cancelled. This is libevent's `event_base_loopexit`.
    ///
    /// Meanwhile the loop runs as [`block_on`](Runtime::block_on) does: tasks, I/O,
    /// timers, [`spawn_blocking`](crate::spawn_blocking) results and spawns from other
    /// threads ([`Handle::spawn`](crate::Handle::spawn)). Tasks spawned during that
    /// window count as spawned tasks: the loop waits for them too. It returns as soon as
    /// no task is left, without waiting out `timeout`.
    ///
    /// When `timeout` passes, every task still alive is cancelled as dropping the runtime
    /// cancels it: its future is dropped here, on this thread, with the runtime's reactor
    /// and timers still current, and its [`JoinHandle`](crate::JoinHandle) (or
    /// [`RemoteJoinHandle`](crate::RemoteJoinHandle)) gives a cancelled
    /// [`JoinError`](crate::JoinError). The count is exact: every task that had not
    /// finished, including those that never ran, those spawned from other threads that had
    /// reached the loop, and those spawned while the others were dropped. A task waiting
    /// for a `spawn_blocking` job counts; the job itself cannot be stopped and finishes on
    /// its thread, its result discarded. Then the runtime is dropped (see [`Runtime`]).
    ///
    /// `timeout` is measured on the runtime's clock: a paused clock (see
    /// [`time::pause`](crate::time::pause)) jumps to it as soon as the tasks all wait on
    /// timers later than it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = runtime::Runtime::new()?;
    /// rt.spawn(runtime::time::sleep(Duration::from_millis(1))); // finishes in time
    /// rt.spawn(std::future::pending::<()>()); // never finishes
    /// assert_eq!(rt.shutdown_timeout(Duration::from_millis(50)), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// As [`block_on`](Runtime::block_on) does: inside another runtime's `block_on` on
    /// this thread, in a forked child of the process that created the runtime, or if the
    /// reactor fails.
    #[track_caller]
    pub fn shutdown_timeout(self, timeout: Duration) -> usize {
        // Made in the loop, so that it reads this runtime's clock.
        let deadline = async move { crate::time::sleep(timeout).await };
        let _deadline_passed = self.run_loop::<true, _>(deadline);
        let cancelled = self.inner.cancel_tasks();
        drop(self);
        cancelled
    }

    /// Cancels every task at once, drops the runtime and returns how many tasks it
    /// cancelled: libevent's `event_base_loopbreak`. No task is polled again; each future
    /// is dropped here, on this thread, with the runtime's reactor and timers still
    /// current, and each join handle gives a cancelled [`JoinError`](crate::JoinError).
    ///
    /// Dropping a `Runtime` does exactly this, without the count.
    ///
    /// In a forked child of the process that created the runtime it cancels nothing and
    /// returns 0: like a drop there, it leaks the tasks rather than drop futures whose
    /// file descriptors are shared with the parent (see "After `fork`" on [`Runtime`]).
    ///
    /// ```
    /// let rt = runtime::Runtime::new()?;
    /// let task = rt.spawn(std::future::pending::<()>());
    /// drop(task); // detached: it is still the runtime's to cancel
    /// assert_eq!(rt.shutdown_now(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_now(self) -> usize {
        if self.inner.is_forked_copy(true) {
            return 0;
        }
        let cancelled = self.inner.cancel_tasks();
        drop(self);
        cancelled
    }
}
