//! `Inner`: what one runtime owns, and how its loop waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reactor::Reactor;

use crate::blocking::Pool;
use crate::task::{FORKED, Scheduler};

/// What one runtime owns. Field order is drop order: tasks first, the reactor last.
pub(crate) struct Inner {
    pub(crate) scheduler: Scheduler,
    pub(crate) blocking: Pool,
    pub(crate) timers: timer::Handle,
    pub(crate) reactor: Reactor,
    pub(crate) event_interval: u32,
    pub(crate) budget: u32,
    pub(crate) owner: u32,
    /// The process that created the runtime (see "After `fork`" on [`Runtime`]).
    pub(crate) pid: u32,
}

impl Inner {
    /// Whether this is a forked child's copy of the runtime. The fork count kept by the
    /// scheduler is one load; `by_pid` also compares process ids, a syscall that sees
    /// even a fork that bypassed `pthread_atfork` handlers.
    pub(crate) fn is_forked_copy(&self, by_pid: bool) -> bool {
        self.scheduler.is_forked_copy() || (by_pid && std::process::id() != self.pid)
    }

    /// Panics in a forked child of the process that created the runtime.
    #[track_caller]
    pub(crate) fn assert_not_forked(&self, by_pid: bool) {
        if self.is_forked_copy(by_pid) {
            panic!("{FORKED}");
        }
    }

    /// Cancels every task, dropping their futures here with this runtime's reactor and
    /// timers current, and closes the remote queue. Returns how many it cancelled.
    pub(crate) fn cancel_tasks(&self) -> usize {
        let _reactor = self.reactor.handle().enter();
        let _timers = self.timers.enter();
        self.scheduler.shutdown()
    }

    /// One wait of the reactor; `None` waits until an event or a notification.
    ///
    /// # Panics
    ///
    /// If the reactor's wait fails.
    pub(crate) fn turn(&self, deadline: Option<Instant>) {
        if let Err(e) = self.reactor.turn(deadline) {
            panic!("evloop: the reactor's wait failed: {e}");
        }
    }

    /// The wait of a loop whose clock is paused: tokio's auto-advance (see
    /// [`time::pause`](crate::time::pause)). `ready`: a task or the `block_on` future is
    /// ready to run.
    ///
    /// With work ready, no timer set, or blocking-pool jobs in flight, it waits as an
    /// unpaused loop would, only never for a timer: no real time moves a paused clock.
    /// Otherwise it first polls the reactor without blocking and moves the remote queue
    /// in; only if that made nothing ready does the clock jump to the next deadline,
    /// whose timers then fire.
    #[cold]
    pub(crate) fn wait_paused(&self, ready: bool, main_woken: &AtomicBool) {
        if ready {
            if self.reactor.handle().registrations() != 0 {
                self.turn(Some(Instant::now()));
            }
            return;
        }
        if self.timers.next_deadline().is_none() {
            self.turn(None);
            return;
        }
        if self.blocking.in_flight() != 0 {
            // A job's end wakes its task through the notifier, but leaves the count just
            // after: look again shortly rather than wait for a wake that came already.
            self.turn(Some(Instant::now() + BLOCKING_RECHECK));
            return;
        }
        self.turn(Some(Instant::now()));
        self.scheduler.drain_remote();
        if self.scheduler.has_ready() || main_woken.load(Ordering::Relaxed) {
            return;
        }
        if let Some(next) = self.timers.next_deadline() {
            self.timers.advance_to(next);
        }
    }
}

/// How often a loop with a paused clock looks at the blocking pool again while jobs run.
const BLOCKING_RECHECK: Duration = Duration::from_millis(1);

impl Drop for Inner {
    fn drop(&mut self) {
        if self.is_forked_copy(true) {
            // A forked child: the tasks' registrations are in an epoll instance (or a
            // kqueue) shared with the parent, so dropping their futures here would take
            // the parent's fds out of it. Leak them instead.
            self.scheduler.abandon();
            return;
        }
        // Futures may deregister fds or cancel sleeps as they drop: keep both current.
        let _reactor = self.reactor.handle().enter();
        let _timers = self.timers.enter();
        let _cancelled = self.scheduler.shutdown();
        self.blocking.shutdown();
        // Sleeps that outlive the runtime panic on their next poll instead of waiting
        // forever; the reactor does the same for sockets when it drops, just after.
        self.timers.shutdown();
    }
}
