//! `Runtime`: the loop (`block_on`), and the free functions that spawn on the current
//! runtime.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use reactor::Notifier;

use crate::context::{CurrentGuard, with_current};
use crate::handle::Handle;
use crate::inner::Inner;
use crate::task::{JoinHandle, thread_id};

/// The waker of the `block_on` future: a flag, plus a notification from other threads.
struct MainWaker {
    woken: AtomicBool,
    owner: u32,
    notifier: Notifier,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if thread_id() != self.owner {
            self.notifier.notify();
        }
    }
}

/// A single-threaded runtime: a reactor, a timer heap and a queue of tasks, driven by
/// [`block_on`](Runtime::block_on) on the thread that created it.
///
/// # Dropping a runtime
///
/// Dropping the `Runtime` is [`shutdown_now`](Runtime::shutdown_now) (libevent's
/// `loopbreak`): it cancels every task at once and waits for none;
/// [`shutdown_timeout`](Runtime::shutdown_timeout) (`loopexit`) lets them finish first.
/// Either way, on the runtime's thread, it does this, in order:
///
/// 1. Every spawned task that has not finished is cancelled: its future (or its output,
///    if nobody took it) is dropped here, on this thread, while this runtime's reactor
///    and timers are still current, so the sockets and sleeps it owns deregister and
///    cancel as usual. Futures that drop spawn nothing lasting: anything spawned then is
///    dropped too. A [`JoinHandle`] of such a task gives a [`JoinError`](crate::JoinError)
///    whose `is_cancelled()` is true.
/// 2. The blocking pool stops: queued [`spawn_blocking`](crate::spawn_blocking) jobs are
///    dropped without running; running ones finish on their threads, and their results
///    are discarded.
/// 3. The timer heap shuts down. A [`Sleep`](crate::time::Sleep), `Timeout` or
///    `Interval` that outlives the runtime (kept outside it, or polled by another
///    runtime) panics on its next poll with a message that says its runtime was dropped,
///    unless its timer had already fired. Tasks of other runtimes waiting on one are
///    woken to see that.
/// 4. The reactor closes (its epoll, kqueue or io_uring fd and its notifier). A
///    socket, listener or signal listener that outlives the runtime keeps its fd open
///    (it owns it) until it is dropped, but every I/O call on it fails at once with an
///    `io::Error` that says the runtime was dropped; tasks of other runtimes waiting on
///    it are woken to see that. Such a socket can still be turned into a std socket
///    with `into_std` and moved into a live runtime with `from_std`. A signal
///    listener's `recv` returns `None`, and `ctrl_c()` that error.
///
/// Nothing that outlives a runtime waits forever. The future passed to
/// [`block_on`](Runtime::block_on) is not the runtime's: `block_on` drops it (or returns
/// its output) before it returns.
///
/// ```
/// let rt = runtime::Runtime::new()?;
/// let answer = rt.block_on(async {
///     let task = runtime::spawn(async { 40 });
///     task.await.unwrap() + 2
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A runtime, its tasks and its I/O belong to one thread: it is `!Send`, so `block_on`
/// cannot be called from another thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::Runtime>();
/// ```
///
/// # After `fork`
///
/// A forked child must not use its parent's runtime: its reactor's epoll instance (or
/// kqueue, or io_uring ring) is shared with the parent, so a wait in the child could
/// take the parent's events, and its registrations are the parent's. Using it in the
/// child ([`block_on`](Runtime::block_on), [`spawn`](Runtime::spawn),
/// [`spawn_blocking`](Runtime::spawn_blocking)) panics, and so does a loop that was
/// running when its own task called `fork`, before its next wait. Build a new `Runtime`
/// in the child instead: it has a reactor of its own (libevent's `event_reinit`). Dropping
/// the parent's runtime in the child leaks its tasks rather than drop their futures,
/// which would deregister the parent's file descriptors. The child must not use the
/// parent's sockets either. The parent's runtime goes on unaffected.
pub struct Runtime {
    pub(crate) inner: Rc<Inner>,
}

impl Runtime {
    /// Spawns a task on this runtime. It starts running at the next `block_on`.
    ///
    /// # Panics
    ///
    /// In a forked child of the process that created the runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.assert_not_forked(false);
        self.inner.scheduler.spawn(future)
    }

    /// Spawns a task on this runtime in the run queue of `priority` (see
    /// [`Builder::priorities`](crate::Builder::priorities)); otherwise as
    /// [`spawn`](Runtime::spawn).
    ///
    /// # Panics
    ///
    /// If `priority` is not below the runtime's number of priorities, or in a forked
    /// child of the process that created the runtime.
    #[track_caller]
    pub fn spawn_with_priority<F>(&self, priority: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.inner.assert_not_forked(false);
        self.inner.scheduler.spawn_with_priority(priority, future)
    }

    /// Runs `f` on this runtime's blocking pool (see [`spawn_blocking`](crate::spawn_blocking)).
    ///
    /// # Panics
    ///
    /// In a forked child of the process that created the runtime.
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.inner.assert_not_forked(false);
        self.inner.blocking.spawn(&self.inner.scheduler, f)
    }

    /// A `Send + Sync` handle to this runtime's loop, through which other threads and
    /// other loops spawn onto it (see [`Handle`]).
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.scheduler.spawner())
    }

    /// The reactor backend in use (`epoll`, `kqueue`, `poll` or `uring`).
    pub fn backend_name(&self) -> &'static str {
        self.inner.reactor.backend_name()
    }

    /// How many reactor turns the loop has made: a measure of wakeups, for tests and
    /// diagnostics.
    pub fn turns(&self) -> u64 {
        self.inner.reactor.turns()
    }

    /// How many threads the blocking pool is running (they exit after the keep-alive).
    pub fn blocking_threads(&self) -> usize {
        self.inner.blocking.threads()
    }

    /// How many spawned tasks have not finished.
    pub fn live_tasks(&self) -> usize {
        self.inner.scheduler.live_tasks()
    }

    /// Runs `future` to completion on this thread, running the spawned tasks, the I/O
    /// and the timers meanwhile. Returns its output. A panic in `future` propagates.
    ///
    /// # Panics
    ///
    /// When called inside another `block_on` (nested), in a forked child of the process
    /// that created the runtime (see "After `fork`" above), or if the reactor fails.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.run_loop::<false, F>(future) {
            Some(out) => out,
            None => unreachable!("`block_on`'s loop ends only with its future's output"),
        }
    }

    /// The loop: `block_on`, and with `UNTIL_IDLE` also `shutdown_timeout`, whose loop
    /// ends with `None` as soon as no task is left (checked once the remote queue is in,
    /// so that a task spawned from another thread counts).
    #[track_caller]
    pub(crate) fn run_loop<const UNTIL_IDLE: bool, F: Future>(
        &self,
        future: F,
    ) -> Option<F::Output> {
        let inner = &*self.inner;
        assert_eq!(
            inner.owner,
            thread_id(),
            "`Runtime::block_on` must run on the thread that created the runtime"
        );
        inner.assert_not_forked(true);
        let _current = CurrentGuard::enter(&self.inner);
        let _loop = inner.scheduler.enter_loop();
        let _reactor = inner.reactor.handle().enter();
        let _timers = inner.timers.enter();
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            owner: inner.owner,
            notifier: inner.reactor.notifier(),
        });
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let sched = &inner.scheduler;
        let handle = inner.reactor.handle();
        loop {
            if main.woken.swap(false, Ordering::Acquire) {
                reactor::budget::refill(inner.budget);
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return Some(out);
                }
            }
            sched.run_turn(inner.event_interval, inner.budget);
            sched.drain_remote();
            if UNTIL_IDLE && sched.live_tasks() == 0 {
                return None;
            }
            let ready = sched.has_ready() || main.woken.load(Ordering::Relaxed);
            if inner.timers.is_paused() {
                inner.wait_paused(ready, &main.woken);
            } else if !ready || handle.registrations() != 0 {
                // With nothing registered, a non-blocking turn cannot find anything.
                let deadline = if ready {
                    Some(Instant::now())
                } else {
                    // The real instant at which the clock reads the deadline: the same,
                    // unless the clock was paused and resumed.
                    inner
                        .timers
                        .next_deadline()
                        .and_then(|d| inner.timers.real_instant(d))
                };
                inner.turn(deadline);
            }
            if let Some(next) = inner.timers.next_deadline() {
                let now = inner.timers.now();
                if next <= now {
                    inner.timers.fire_expired(now);
                }
            }
        }
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("backend", &self.backend_name())
            .field("live_tasks", &self.live_tasks())
            .finish()
    }
}

/// Spawns a task on the current runtime and returns its [`JoinHandle`]. The future need
/// not be `Send`: it runs on this thread.
///
/// # Panics
///
/// Outside a runtime: call it inside `Runtime::block_on`, `#[runtime::main]` or
/// `#[runtime::test]` (or use [`Runtime::spawn`]).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with_current(|inner| inner.scheduler.spawn(future))
}

/// Spawns a task on the current runtime in the run queue of `priority`, 0 being the most
/// urgent (see [`Builder::priorities`](crate::Builder::priorities)); otherwise as [`spawn`]. It keeps its priority
/// for life, also when woken from another thread.
///
/// # Panics
///
/// Outside a runtime, as [`spawn`], or if `priority` is not below the runtime's number
/// of priorities.
#[track_caller]
pub fn spawn_with_priority<F>(priority: usize, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let levels = with_current(|inner| inner.scheduler.priorities());
    crate::task::check_priority(priority, levels);
    with_current(|inner| inner.scheduler.spawn_with_priority(priority, future))
}

/// Runs `f` on the runtime's blocking pool and returns a handle to its result.
///
/// Use it for work that blocks (file I/O, DNS, heavy computation) so the loop keeps
/// running. The closure cannot be cancelled once started: aborting the handle only stops
/// waiting for it. A panic in `f` is reported as a [`JoinError`](crate::JoinError) whose
/// [`is_panic`](crate::JoinError::is_panic) is true.
///
/// ```
/// let rt = runtime::Runtime::new()?;
/// let n = rt.block_on(async { runtime::spawn_blocking(|| 6 * 7).await });
/// assert_eq!(n.unwrap(), 42);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// Outside a runtime (see [`spawn`](crate::spawn)).
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_current(|inner| inner.blocking.spawn(&inner.scheduler, f))
}
