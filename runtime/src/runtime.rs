//! `Runtime`: the loop (`block_on`) and the thread's current runtime.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use reactor::{Notifier, Reactor};

use crate::blocking::Pool;
use crate::builder::Builder;
use crate::handle::Handle;
use crate::task::{JoinHandle, Scheduler, thread_id};

/// What one runtime owns. Field order is drop order: tasks first, the reactor last.
pub(crate) struct Inner {
    pub(crate) scheduler: Scheduler,
    pub(crate) blocking: Pool,
    timers: timer::Handle,
    reactor: Reactor,
    event_interval: u32,
    budget: u32,
    owner: u32,
    /// The process that created the runtime (see "After `fork`" on [`Runtime`]).
    pid: u32,
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
    fn turn(&self, deadline: Option<Instant>) {
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
    fn wait_paused(&self, ready: bool, main_woken: &AtomicBool) {
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

thread_local! {
    /// The runtime whose `block_on` runs on this thread.
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    /// Which loop of `Builder::run` this thread runs.
    pub(crate) static LOOP_INDEX: Cell<Option<usize>> = const { Cell::new(None) };
}

const NO_RUNTIME: &str = "there is no evloop runtime on this thread: call `runtime::spawn` \
    (and `spawn_blocking`) inside `Runtime::block_on`, `#[runtime::main]` or \
    `#[runtime::test]`, or use `Runtime::spawn` on a runtime you hold";

const NESTED: &str = "cannot start a runtime from within a runtime: `block_on` was called \
    while another `block_on` runs on this thread. `.await` the future instead, or spawn it \
    with `runtime::spawn`";

pub(crate) const FORKED: &str = "this evloop runtime belongs to the parent process: a forked child \
    cannot use it (its reactor, tasks and registrations are the parent's). Build a new \
    `Runtime` in the child";

/// Runs `f` with the current runtime, if there is one.
pub(crate) fn try_with_current<R>(f: impl FnOnce(&Inner) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_deref().map(f))
}

/// Runs `f` with the current runtime.
///
/// # Panics
///
/// Outside `block_on`, with a message that says where to call it.
#[track_caller]
pub(crate) fn with_current<R>(f: impl FnOnce(&Inner) -> R) -> R {
    match CURRENT.with(|c| c.borrow().as_deref().map(f)) {
        Some(out) => out,
        None => panic!("{NO_RUNTIME}"),
    }
}

/// Makes `inner` the thread's current runtime until dropped.
struct CurrentGuard;

impl CurrentGuard {
    #[track_caller]
    fn enter(inner: &Rc<Inner>) -> CurrentGuard {
        let entered = CURRENT.with(|c| {
            let mut current = c.borrow_mut();
            if current.is_some() {
                return false;
            }
            *current = Some(inner.clone());
            true
        });
        if !entered {
            panic!("{NESTED}");
        }
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let _inner = CURRENT.with(|c| c.borrow_mut().take());
        reactor::budget::set_unconstrained();
    }
}

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
/// 4. The reactor closes (its epoll or kqueue fd and its notifier). A socket, listener
///    or signal listener that outlives the runtime keeps its fd open (it owns it) until
///    it is dropped, but every I/O call on it fails at once with an `io::Error` that says
///    the runtime was dropped; tasks of other runtimes waiting on it are woken to see
///    that. Such a socket can still be turned into a std socket with `into_std` and
///    moved into a live runtime with `from_std`. A signal listener's `recv` returns
///    `None`, and `ctrl_c()` that error.
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
/// kqueue) is shared with the parent, so a wait in the child could take the parent's
/// events, and its registrations are the parent's. Using it in the child
/// ([`block_on`](Runtime::block_on), [`spawn`](Runtime::spawn),
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
    /// A runtime with the default [`Builder`] settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder for the settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_builder(b: &Builder) -> io::Result<Runtime> {
        let mut rb = Reactor::builder();
        if let Some(kind) = b.backend {
            rb = rb.backend(kind);
        }
        let reactor = rb.build()?;
        let runtime = Runtime {
            inner: Rc::new(Inner {
                scheduler: Scheduler::new(reactor.notifier(), b.priorities, b.starvation_limit),
                blocking: Pool::new(b.max_blocking_threads, b.blocking_keep_alive),
                timers: timer::Handle::new(),
                reactor,
                event_interval: b.event_interval,
                budget: b.budget,
                owner: thread_id(),
                pid: std::process::id(),
            }),
        };
        if b.start_paused {
            runtime.inner.timers.pause();
        }
        Ok(runtime)
    }

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
        crate::blocking::spawn_blocking_on(&self.inner, f)
    }

    /// A `Send + Sync` handle to this runtime's loop, through which other threads and
    /// other loops spawn onto it (see [`Handle`]).
    pub fn handle(&self) -> Handle {
        Handle::new(self.inner.scheduler.spawner())
    }

    /// The reactor backend in use (`epoll`, `kqueue` or `poll`).
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
/// urgent (see [`Builder::priorities`]); otherwise as [`spawn`]. It keeps its priority
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

/// Which loop of [`Builder::run`] runs on this thread (`0..n`), or `None` on a thread
/// that [`Builder::run`] did not start.
pub fn loop_index() -> Option<usize> {
    LOOP_INDEX.with(Cell::get)
}
