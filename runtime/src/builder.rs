//! `Builder`: how a runtime is configured.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use reactor::{BackendKind, Reactor};

use crate::blocking::Pool;
use crate::inner::Inner;
use crate::runtime::Runtime;
use crate::task::{DEFAULT_STARVATION_LIMIT, MAX_PRIORITIES, Scheduler, thread_id};

/// How many ready tasks run between two reactor turns unless configured otherwise
/// (tokio's figure).
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// The most threads the blocking pool starts unless configured otherwise.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 64;

/// How long an idle blocking-pool thread waits for work before it exits, unless
/// configured otherwise.
pub const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Configures and builds a [`Runtime`], or N of them with [`threads`](Builder::threads).
///
/// ```
/// let rt = runtime::Builder::new().event_interval(32).budget(64).build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) backend: Option<BackendKind>,
    pub(crate) start_paused: bool,
    pub(crate) event_interval: u32,
    pub(crate) budget: u32,
    pub(crate) threads: usize,
    pub(crate) pin_threads: bool,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) priorities: usize,
    pub(crate) starvation_limit: u32,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: the best backend (or `EVLOOP_BACKEND`), an event interval of
    /// [`DEFAULT_EVENT_INTERVAL`], a budget of [`reactor::budget::DEFAULT_BUDGET`], one
    /// thread.
    pub fn new() -> Builder {
        Builder {
            backend: None,
            start_paused: false,
            event_interval: DEFAULT_EVENT_INTERVAL,
            budget: reactor::budget::DEFAULT_BUDGET,
            threads: 1,
            pin_threads: true,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            blocking_keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            priorities: 1,
            starvation_limit: DEFAULT_STARVATION_LIMIT,
        }
    }

    /// How many task priorities the loop has: libevent's `event_base_priority_init`.
    /// 1 by default, at most [`MAX_PRIORITIES`] (256).
    ///
    /// Priority 0 is the most urgent. [`spawn`](crate::spawn) uses the middle one, `n /
    /// 2`; [`spawn_with_priority`](crate::spawn_with_priority) chooses. Each turn of the
    /// loop runs ready tasks from the most urgent non-empty queue first, within the
    /// turn's [`event_interval`](Builder::event_interval); lower queues run when the
    /// higher ones are empty, except that every
    /// [`starvation_limit`](Builder::starvation_limit)-th turn begins with one task from
    /// each non-empty lower queue, so that a busy urgent queue cannot starve the others.
    /// A task keeps its priority when it is woken, from this thread or another.
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::rc::Rc;
    ///
    /// let rt = runtime::Builder::new().priorities(3).build()?;
    /// let order = Rc::new(RefCell::new(Vec::new()));
    /// rt.block_on(async {
    ///     let handles: Vec<_> = [2, 1, 0]
    ///         .into_iter()
    ///         .map(|p| {
    ///             let order = order.clone();
    ///             runtime::spawn_with_priority(p, async move { order.borrow_mut().push(p) })
    ///         })
    ///         .collect();
    ///     for h in handles {
    ///         h.await.unwrap();
    ///     }
    /// });
    /// assert_eq!(*order.borrow(), [0, 1, 2]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// If `n` is 0 or more than [`MAX_PRIORITIES`].
    #[track_caller]
    pub fn priorities(mut self, n: usize) -> Builder {
        assert!(
            (1..=MAX_PRIORITIES).contains(&n),
            "a runtime has 1 to {MAX_PRIORITIES} priorities, not {n}"
        );
        self.priorities = n;
        self
    }

    /// Every how many turns of the loop the lower priority queues each get one task
    /// before the most urgent one goes on (see [`priorities`](Builder::priorities)).
    /// [`DEFAULT_STARVATION_LIMIT`] (64) by default; 1 serves every queue every turn.
    ///
    /// # Panics
    ///
    /// If `k` is 0.
    #[track_caller]
    pub fn starvation_limit(mut self, k: u32) -> Builder {
        assert!(
            k >= 1,
            "the starvation limit is a number of turns, at least 1"
        );
        self.starvation_limit = k;
        self
    }

    /// Uses this reactor backend instead of the default choice.
    pub fn backend(mut self, kind: BackendKind) -> Builder {
        self.backend = Some(kind);
        self
    }

    /// How many ready tasks run between two reactor turns (at least 1). Lower favours
    /// I/O latency, higher favours task throughput.
    pub fn event_interval(mut self, n: u32) -> Builder {
        self.event_interval = n.max(1);
        self
    }

    /// How many I/O operations one task poll may do before they return `Pending` (see
    /// [`reactor::budget`]). At least 1.
    pub fn budget(mut self, n: u32) -> Builder {
        self.budget = n.max(1);
        self
    }

    /// How many loops [`run`](Builder::run) starts, one per thread (at least 1).
    pub fn threads(mut self, n: usize) -> Builder {
        self.threads = n.max(1);
        self
    }

    /// Whether [`run`](Builder::run) pins loop `i` to a core (`i` modulo the cores this
    /// process may use). On by default; pinning is skipped where the OS has no call for it.
    pub fn pin_threads(mut self, pin: bool) -> Builder {
        self.pin_threads = pin;
        self
    }

    /// The most threads the blocking pool may run at once (at least 1).
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits.
    pub fn blocking_keep_alive(mut self, idle: Duration) -> Builder {
        self.blocking_keep_alive = idle;
        self
    }

    /// Whether the runtime's clock starts paused, as if
    /// [`time::pause`](crate::time::pause) were called first thing: for tests of timeouts
    /// that should not take real time. Off by default. `#[runtime::test(start_paused =
    /// true)]` sets it.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = runtime::Builder::new().start_paused(true).build()?;
    /// let start = std::time::Instant::now();
    /// rt.block_on(runtime::time::sleep(Duration::from_secs(3600)));
    /// assert!(start.elapsed() < Duration::from_secs(60));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start_paused(mut self, paused: bool) -> Builder {
        self.start_paused = paused;
        self
    }

    /// Builds a runtime on the calling thread. Fails if the reactor cannot be opened
    /// (for example an unavailable backend).
    pub fn build(&self) -> io::Result<Runtime> {
        Runtime::from_builder(self)
    }
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
}
