//! The thread's current timer heap, installed by the runtime.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::clock::{self, Mode, add_saturating};
use crate::heap::{TimerHeap, wake_all};

pub(crate) struct Inner {
    pub(crate) heap: RefCell<TimerHeap>,
    /// The heap's clock; mirrored in a thread-local while the heap is current (see
    /// `clock.rs`).
    pub(crate) clock: Cell<Mode>,
    wake: Cell<Vec<std::task::Waker>>,
    /// Set by [`Handle::shutdown`]: no loop drives this heap any more.
    shut_down: Cell<bool>,
}

/// A shared handle to one thread's [`TimerHeap`]; the runtime creates one per loop and
/// makes it current with [`enter`](Handle::enter). `!Send`.
///
/// The loop asks [`next_deadline`](Handle::next_deadline) how long it may wait, and
/// calls [`fire_expired`](Handle::fire_expired) after the wait.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let timers = timer::Handle::new();
/// assert!(timer::Handle::try_current().is_none());
/// {
///     let _guard = timers.enter();
///     assert!(timer::Handle::try_current().is_some());
/// }
/// assert!(timer::Handle::try_current().is_none());
/// assert_eq!(timers.next_deadline(), None);
/// assert_eq!(timers.fire_expired(Instant::now() + Duration::from_secs(1)), 0);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<Inner>,
}

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

const NO_TIMER: &str = "there is no timer running on this thread: timers must be used inside \
    `runtime::Runtime::block_on` (or a `#[runtime::main]` / `#[runtime::test]` function)";

/// The panic message of a timer polled after its heap was shut down.
pub(crate) const SHUT_DOWN: &str = "this timer belongs to an evloop runtime that has been \
    dropped: its deadline can never fire. Create sleeps, timeouts and intervals inside the \
    runtime that polls them";

impl Handle {
    /// A handle to a new, empty heap.
    pub fn new() -> Handle {
        Handle {
            inner: Rc::new(Inner {
                heap: RefCell::new(TimerHeap::new()),
                clock: Cell::new(Mode::Real),
                wake: Cell::new(Vec::new()),
                shut_down: Cell::new(false),
            }),
        }
    }

    /// Makes this the thread's current heap until the guard is dropped, when the
    /// previous one (if any) comes back.
    pub fn enter(&self) -> EnterGuard {
        let prev = CURRENT.with(|c| c.replace(Some(self.clone())));
        clock::set_current(self.inner.clock.get());
        EnterGuard {
            prev: Some(prev),
            _not_send: PhantomData,
        }
    }

    /// The thread's current heap.
    ///
    /// # Panics
    ///
    /// Outside a runtime, with a message that says so.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Some(handle) => handle,
            None => panic!("{NO_TIMER}"),
        }
    }

    /// The thread's current heap, if a runtime installed one.
    pub fn try_current() -> Option<Handle> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// The earliest deadline of the heap.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner.heap.borrow().next_deadline()
    }

    /// Fires every timer due at `now`, in deadline order, waking their tasks after the
    /// heap is released (a woken future may touch the heap again). Returns how many fired.
    /// If a waker panics, the others are still woken, and then the first panic resumes.
    pub fn fire_expired(&self, now: Instant) -> usize {
        let mut wake = self.inner.wake.take();
        let n = self.inner.heap.borrow_mut().drain_expired(now, &mut wake);
        // A waker that panics does not leave the others unwoken; its panic goes on after.
        wake_all(&mut wake);
        self.inner.wake.set(wake);
        n
    }

    /// Marks the heap as shut down: no loop will fire its timers any more. The runtime
    /// calls this when it is dropped.
    ///
    /// The timers stay set (each is removed when its future drops), but their wakers are
    /// woken now, so a task that waits on one (say, in another runtime) is polled again
    /// and does not wait forever. From then on, polling a [`Sleep`](crate::Sleep),
    /// [`Timeout`](crate::Timeout) or [`Interval`](crate::Interval) whose timer is in
    /// this heap and has not fired panics with a message that says its runtime is gone,
    /// as polling one outside a runtime does. A timer that fired before the shutdown
    /// still completes. Calling it again does nothing more.
    ///
    /// ```
    /// use std::future::Future;
    /// use std::task::{Context, Waker};
    /// use std::time::Duration;
    ///
    /// let timers = timer::Handle::new();
    /// let mut sleep = Box::pin(timer::sleep(Duration::from_secs(60)));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// {
    ///     let _guard = timers.enter();
    ///     assert!(sleep.as_mut().poll(&mut cx).is_pending());
    /// }
    /// timers.shutdown();
    /// assert!(timers.is_shut_down());
    /// let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     let _ = sleep.as_mut().poll(&mut cx);
    /// }));
    /// assert!(polled.is_err(), "a sleep of a dead heap panics instead of hanging");
    /// ```
    pub fn shutdown(&self) {
        self.inner.shut_down.set(true);
        let mut wake = Vec::new();
        self.inner.heap.borrow_mut().take_wakers(&mut wake);
        // After the heap is released: a woken task may drop its sleep, which removes
        // the entry.
        wake_all(&mut wake);
    }

    /// Whether [`shutdown`](Handle::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.get()
    }

    /// How many timers are set.
    pub fn len(&self) -> usize {
        self.inner.heap.borrow().len()
    }

    /// True when no timer is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn same_heap(&self, other: &Handle) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether this is the thread's current heap.
    pub(crate) fn is_current(&self) -> bool {
        CURRENT.with(|c| c.borrow().as_ref().is_some_and(|h| h.same_heap(self)))
    }
}

/// The panic message of `advance` and `resume` on a clock that is not paused.
const NOT_PAUSED: &str = "the clock is not paused: pause it first (`runtime::time::pause()`, \
    or `#[runtime::test(start_paused = true)]`)";

impl Handle {
    /// The time on this heap's clock (see [`now`](crate::now)).
    #[inline]
    pub fn now(&self) -> Instant {
        self.inner.clock.get().now()
    }

    /// Whether this heap's clock is paused.
    pub fn is_paused(&self) -> bool {
        matches!(self.inner.clock.get(), Mode::Paused(_))
    }

    /// Freezes this heap's clock at its current time. From then on it moves only with
    /// [`advance`](Handle::advance) and [`advance_to`](Handle::advance_to) (the runtime's
    /// loop calls the latter when it has nothing else to do: its auto-advance).
    ///
    /// # Panics
    ///
    /// If the clock is already paused.
    #[track_caller]
    pub fn pause(&self) {
        let mode = self.inner.clock.get();
        if let Mode::Paused(_) = mode {
            panic!("the clock is already paused");
        }
        self.set_clock(Mode::Paused(mode.now()));
    }

    /// Lets a paused clock run again, from the time it stood at: it goes on with real
    /// time from there and never jumps back.
    ///
    /// # Panics
    ///
    /// If the clock is not paused.
    #[track_caller]
    pub fn resume(&self) {
        let Mode::Paused(base) = self.inner.clock.get() else {
            panic!("{NOT_PAUSED}");
        };
        self.set_clock(Mode::Resumed {
            base,
            origin: Instant::now(),
        });
    }

    /// Moves a paused clock forward by `dur` (saturating about thirty years ahead). The
    /// timers it passes fire at the loop's next turn (or at the next
    /// [`fire_expired`](Handle::fire_expired)).
    ///
    /// # Panics
    ///
    /// If the clock is not paused.
    #[track_caller]
    pub fn advance(&self, dur: Duration) {
        let Mode::Paused(at) = self.inner.clock.get() else {
            panic!("{NOT_PAUSED}");
        };
        self.set_clock(Mode::Paused(add_saturating(at, dur)));
    }

    /// Moves a paused clock forward to `instant`; does nothing if it already reads
    /// `instant` or later. The runtime's loop calls it to jump to the next deadline when
    /// it would otherwise wait (auto-advance).
    ///
    /// # Panics
    ///
    /// If the clock is not paused.
    #[track_caller]
    pub fn advance_to(&self, instant: Instant) {
        let Mode::Paused(at) = self.inner.clock.get() else {
            panic!("{NOT_PAUSED}");
        };
        if instant > at {
            self.set_clock(Mode::Paused(instant));
        }
    }

    /// The real instant (of `Instant::now()`) at which this heap's clock reads
    /// `deadline`: what a wait in the OS for that deadline must use. `deadline` itself
    /// unless the clock was paused; `None` while it is paused (no real time moves it).
    #[inline]
    pub fn real_instant(&self, deadline: Instant) -> Option<Instant> {
        self.inner.clock.get().real_instant(deadline)
    }

    /// Sets the clock's mode, and the thread's mirror of it when this heap is current.
    fn set_clock(&self, mode: Mode) {
        self.inner.clock.set(mode);
        if self.is_current() {
            clock::set_current(mode);
        }
    }
}

impl Default for Handle {
    fn default() -> Self {
        Handle::new()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle").field("len", &self.len()).finish()
    }
}

/// Keeps a heap current on this thread; see [`Handle::enter`].
#[must_use = "the heap is current only while the guard lives"]
pub struct EnterGuard {
    prev: Option<Option<Handle>>,
    _not_send: PhantomData<Rc<()>>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            clock::set_current(prev.as_ref().map_or(Mode::Real, |h| h.inner.clock.get()));
            let _ours = CURRENT.with(|c| c.replace(prev));
        }
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
