//! The event base: the backend, the registration slab, and the loop's `turn`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::errors::{invalid_fd, shut_down_error};
use crate::event::NOTIFY_TOKEN;
use crate::kind::BackendKind;
use crate::notifier::Notifier;
use crate::registration::Registration;
use crate::shared::Shared;
use crate::slab::Slab;
use crate::source::RawSource;
use crate::sys::{self, Backend, Config, Events};

/// The events buffer's first size; it doubles, up to [`MAX_EVENTS`], whenever a wait
/// fills it (libevent's `epoll_dispatch`).
pub const INITIAL_EVENTS: usize = 32;
/// The largest the events buffer grows.
pub const MAX_EVENTS: usize = 4096;

/// The environment variable that overrides the backend choice.
pub const BACKEND_ENV: &str = "EVLOOP_BACKEND";

/// Chooses and configures a [`Reactor`].
#[derive(Debug, Clone, Default)]
pub struct Builder {
    backend: Option<BackendKind>,
    events_capacity: Option<usize>,
    uring_buffers: Option<(u16, u32)>,
}

impl Builder {
    /// A builder with the defaults: the backend from `EVLOOP_BACKEND` if set, else the
    /// best one this system has.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Uses exactly this backend; it overrides `EVLOOP_BACKEND`. There is no fallback,
    /// except from [`BackendKind::Uring`] to epoll when the kernel refuses io_uring (one
    /// line on stderr, once per process, says why).
    pub fn backend(mut self, kind: BackendKind) -> Builder {
        self.backend = Some(kind);
        self
    }

    /// io_uring only: the provided buffers that every receive draws from, `count` (a
    /// power of two, up to 32768) buffers of `size` bytes (1 byte to 1 MiB). The default
    /// is 1024 buffers of 4 KiB. Fewer buffers hold less memory; when every one holds
    /// received bytes not read yet, receives wait (nothing is lost) until one is read.
    /// Values out of range make [`build`](Builder::build) fail with `InvalidInput`.
    pub fn uring_buffers(mut self, count: u16, size: u32) -> Builder {
        self.uring_buffers = Some((count, size));
        self
    }

    /// The first size of the events buffer (default [`INITIAL_EVENTS`]).
    pub fn events_capacity(mut self, n: usize) -> Builder {
        self.events_capacity = Some(n.clamp(1, MAX_EVENTS));
        self
    }

    /// Opens the reactor.
    ///
    /// With no backend named (here or in `EVLOOP_BACKEND`) the backends of
    /// [`BackendKind::available`] are tried best first, falling back when one fails to
    /// initialise. A named backend that is unknown or unavailable, or that fails, is an
    /// error.
    pub fn build(self) -> io::Result<Reactor> {
        let requested = match self.backend {
            Some(kind) => Some(BackendKind::from_name(kind.name())?),
            None => match std::env::var(BACKEND_ENV) {
                Ok(name) if !name.trim().is_empty() => Some(
                    BackendKind::from_name(&name)
                        .map_err(|e| io::Error::new(e.kind(), format!("{BACKEND_ENV}: {e}")))?,
                ),
                _ => None,
            },
        };
        let config = Config {
            uring_buffers: self.uring_buffers.unwrap_or(sys::URING_BUFFERS),
        };
        let (backend, signal) = match requested {
            Some(kind) => Backend::new_named(kind, &config)?,
            None => {
                let mut last = None;
                let mut chosen = None;
                for &kind in BackendKind::available() {
                    match Backend::new(kind, &config) {
                        Ok(b) => {
                            chosen = Some(b);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match chosen {
                    Some(b) => b,
                    None => {
                        return Err(last
                            .unwrap_or_else(|| io::Error::other("no event backend is available")));
                    }
                }
            }
        };
        let capacity = self.events_capacity.unwrap_or(INITIAL_EVENTS);
        let ring = backend.ring();
        let kind = backend.kind();
        let shared = Shared {
            slab: RefCell::new(Slab::default()),
            edge_triggered: backend.is_edge_triggered(),
            kind,
            backend: RefCell::new(Some(backend)),
            notifier: Notifier::new(signal),
            events: RefCell::new(Events::new(kind, capacity)),
            capacity: Cell::new(capacity),
            turns: Cell::new(0),
            ring,
        };
        Ok(Reactor {
            handle: Handle {
                shared: Rc::new(shared),
            },
        })
    }
}

/// The event base: one per loop thread.
///
/// It owns the backend (epoll, kqueue, poll or io_uring), the slab of registrations and the
/// notifier. [`turn`](Reactor::turn) waits for events and wakes the tasks they concern.
/// A `Reactor` is `!Send`; each thread of a per-core server has its own.
///
/// Dropping it closes the backend and shuts down every registration that outlives it:
/// their I/O fails from then on with an error that says the reactor was dropped (see
/// [`Registration`]), tasks waiting on them are woken to see it, and
/// [`Handle::register`] on a handle of it fails the same way. Nothing waits forever.
///
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use std::task::{Context, Waker};
/// use std::time::{Duration, Instant};
///
/// let reactor = reactor::Reactor::new()?;
/// let (a, mut b) = UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reg = reactor.handle().register(a.as_raw_fd())?;
/// // A task asks for read readiness: not yet, so its waker is stored.
/// let mut cx = Context::from_waker(Waker::noop());
/// assert!(reg.poll_read_ready(&mut cx).is_pending());
/// b.write_all(b"ping")?;
/// // The turn sees the event, sets the bit and wakes the task.
/// reactor.turn(Some(Instant::now() + Duration::from_secs(5)))?;
/// assert!(reg.poll_read_ready(&mut cx).is_ready());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Reactor {
    handle: Handle,
}

impl Reactor {
    /// Opens a reactor with the default [`Builder`].
    pub fn new() -> io::Result<Reactor> {
        Builder::new().build()
    }

    /// A builder to choose the backend or the events buffer size.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle for registering fds and for [`enter`](Handle::enter).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.handle.shared.kind
    }

    /// The backend's name: `epoll`, `kqueue`, `poll` or `uring`.
    pub fn backend_name(&self) -> &'static str {
        self.backend().name()
    }

    /// A notifier that wakes this reactor's blocked turn from any thread.
    pub fn notifier(&self) -> Notifier {
        self.handle.shared.notifier.clone()
    }

    /// How many events one wait can currently return; grows as waits fill it.
    pub fn events_capacity(&self) -> usize {
        self.handle.shared.capacity.get()
    }

    /// How many turns have run.
    pub fn turns(&self) -> u64 {
        self.handle.shared.turns.get()
    }

    /// The io_uring backend's counters; `None` on the other backends.
    pub fn uring_stats(&self) -> Option<crate::UringStats> {
        self.handle.shared.ring.as_ref().map(|ring| ring.stats())
    }

    /// Whether the backend waits with nanosecond timeouts: `epoll_pwait2` for epoll
    /// (`None` until the first timed wait has probed the kernel), always for io_uring
    /// (the enter call's own timeout); `None` on other backends.
    pub fn has_precise_timeouts(&self) -> Option<bool> {
        let backend = self.handle.shared.backend.borrow();
        backend.as_ref().and_then(Backend::has_precise_timeouts)
    }

    /// Waits for I/O until `deadline` (`None`: until something happens), sets the
    /// readiness of every registration the backend reported, and wakes the tasks that
    /// were waiting for it. Returns the number of I/O events dispatched.
    ///
    /// - A deadline in the past polls without blocking.
    /// - A blocking turn never returns before its deadline unless an event or a
    ///   notification arrived: a signal (EINTR) or the backend's longest wait (35
    ///   minutes) just waits again. With no deadline, EINTR returns `Ok(0)`.
    /// - When a wait fills the events buffer, the buffer doubles (up to [`MAX_EVENTS`]).
    pub fn turn(&self, deadline: Option<Instant>) -> io::Result<usize> {
        let shared = &*self.handle.shared;
        shared.turns.set(shared.turns.get() + 1);
        let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let blocking = timeout != Some(Duration::ZERO);
        if blocking {
            sys::set_timer_slack();
            if shared.notifier.park() {
                timeout = Some(Duration::ZERO);
            }
        }
        // Out of its cell while the wakers run, so that nothing of the reactor is
        // borrowed when they do.
        let mut events = shared.events.take();
        events.clear();
        let capacity = shared.capacity.get();
        let result = loop {
            let r = {
                let slab = shared.slab.borrow();
                let interests = |token: u64| slab.interest(token);
                match shared.backend.borrow_mut().as_mut() {
                    Some(backend) => backend.wait(&mut events, capacity, timeout, &interests),
                    // Only the reactor's drop takes the backend, and `self` is alive.
                    None => Err(shut_down_error()),
                }
            };
            match r {
                Ok(()) if !events.is_empty() => break Ok(()),
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if deadline.is_none() {
                        break Ok(());
                    }
                }
                Err(e) => break Err(e),
            }
            // Zero events: a non-blocking wait (a past deadline, or a notification that
            // arrived before parking) is done; a blocking one goes on until its deadline.
            if timeout == Some(Duration::ZERO) {
                break Ok(());
            }
            if let Some(d) = deadline {
                let now = Instant::now();
                if now >= d {
                    break Ok(());
                }
                timeout = Some(d - now);
            }
        };
        shared.notifier.unpark();
        if let Err(e) = result {
            *shared.events.borrow_mut() = events;
            return Err(e);
        }

        if events.len() >= capacity && capacity < MAX_EVENTS {
            // The backend's next wait makes room for the larger capacity.
            shared.capacity.set((capacity * 2).min(MAX_EVENTS));
        }

        // Straight from the backend's buffer: each event sets its registration's bits
        // and wakes what waits on them at once, with only the slab borrowed, and only
        // while the wakers are taken out of the slot (a waker may register, deregister
        // or poll). A waker that panics ends the dispatch: the panic goes on to the
        // caller, and the events after it in this batch are lost with it.
        let mut dispatched = 0;
        events.for_each(
            // Inlined into the loop over each form of the buffer: a call per event
            // would cost more than the dispatch itself.
            #[inline(always)]
            |token, readiness| {
                if token == NOTIFY_TOKEN {
                    if let Some(backend) = shared.backend.borrow_mut().as_mut() {
                        backend.drain_notifier();
                    }
                    return;
                }
                let woken = shared.slab.borrow().dispatch(token, readiness);
                if let Some((reader, writer)) = woken {
                    dispatched += 1;
                    if let Some(waker) = reader {
                        waker.wake();
                    }
                    if let Some(waker) = writer {
                        waker.wake();
                    }
                }
            },
        );
        *shared.events.borrow_mut() = events;
        // io_uring's completions wake their tasks directly, not through readiness.
        if let Some(ring) = &shared.ring {
            ring.wake_completed();
        }
        Ok(dispatched)
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.handle.shared.shut_down();
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("backend", &self.backend_name())
            .field("registrations", &self.handle.registrations())
            .field("events_capacity", &self.events_capacity())
            .finish()
    }
}

/// A handle to a reactor: registers fds, and is the thread's "current" reactor while an
/// [`EnterGuard`] lives.
#[derive(Clone)]
pub struct Handle {
    shared: Rc<Shared>,
}

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

const NO_REACTOR: &str = "there is no reactor running on this thread: \
    I/O objects must be created and used inside `runtime::Runtime::block_on` \
    (or a `#[runtime::main]` / `#[runtime::test]` function)";

impl Handle {
    /// The current thread's reactor.
    ///
    /// # Panics
    ///
    /// Outside a runtime (no [`EnterGuard`] alive on this thread), with a message that
    /// says so. Use [`try_current`](Handle::try_current) to get an error instead.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(handle) => handle,
            Err(_) => panic!("{NO_REACTOR}"),
        }
    }

    /// The current thread's reactor, or an error of kind `NotFound` outside a runtime.
    pub fn try_current() -> io::Result<Handle> {
        CURRENT
            .with(|c| c.borrow().clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, NO_REACTOR))
    }

    /// Makes this the thread's current reactor until the guard is dropped; the previous
    /// one (if any) is restored then.
    pub fn enter(&self) -> EnterGuard {
        let prev = CURRENT.with(|c| c.replace(Some(self.clone())));
        EnterGuard {
            prev: Some(prev),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Registers `fd` for read and write readiness, edge-triggered where the backend
    /// allows.
    ///
    /// The fd should be non-blocking. Errors, the same kind on every backend: an invalid
    /// or closed fd is `InvalidInput`; an fd already registered is `AlreadyExists`. After
    /// the [`Reactor`] was dropped, an error of kind `Other` that says so.
    pub fn register(&self, fd: RawSource) -> io::Result<Registration> {
        if fd < 0 {
            return Err(invalid_fd(fd));
        }
        if self.is_shut_down() {
            return Err(shut_down_error());
        }
        let (token, slot) = self.shared.slab.borrow_mut().insert();
        let result = match self.shared.backend.borrow_mut().as_mut() {
            Some(backend) => backend.register(fd, token.to_u64()),
            None => Err(shut_down_error()),
        };
        match result {
            Ok(()) => Ok(Registration::new(self.shared.clone(), slot, token, fd)),
            Err(e) => {
                self.shared.slab.borrow_mut().remove(token);
                Err(e)
            }
        }
    }

    /// Registers a socket for I/O by completion where the backend moves bytes that way
    /// (io_uring): its reads, writes, accepts and connects then go through
    /// [`Registration::completion`] (or [`Registration::poll_read_with`] and
    /// [`Registration::poll_write_with`]), and its readiness carries
    /// [`Readiness::COMPLETION`](crate::Readiness::COMPLETION). On the readiness backends
    /// this is [`register`](Handle::register).
    ///
    /// The fd must be an open, non-blocking socket that the caller keeps open while the
    /// registration lives; operations on anything else fail when they complete. After
    /// the [`Reactor`] was dropped, an error of kind `Other` that says so.
    // Where the build has no completion side, `Ring` has no values: the code after
    // `ring.socket` is then rightly unreachable, and the compiler says so.
    #[allow(unreachable_code, unused_variables)]
    pub fn register_socket(&self, fd: RawSource) -> io::Result<Registration> {
        let Some(ring) = &self.shared.ring else {
            return self.register(fd);
        };
        if fd < 0 {
            return Err(invalid_fd(fd));
        }
        if self.is_shut_down() {
            return Err(shut_down_error());
        }
        let (token, slot) = self.shared.slab.borrow_mut().insert();
        slot.set_completion();
        let socket = ring.socket(fd, slot.clone());
        let mut registration = Registration::new(self.shared.clone(), slot, token, fd);
        registration.socket = Some(socket);
        Ok(registration)
    }

    /// Whether the [`Reactor`] of this handle was dropped.
    pub fn is_shut_down(&self) -> bool {
        self.shared.backend.borrow().is_none()
    }

    /// How many registrations are live.
    pub fn registrations(&self) -> usize {
        self.shared.slab.borrow().len()
    }

    /// A notifier for this reactor (see [`Reactor::notifier`]).
    pub fn notifier(&self) -> Notifier {
        self.shared.notifier.clone()
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.shared.kind
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("backend", &self.shared.kind.name())
            .finish()
    }
}

/// Keeps a reactor current on this thread; see [`Handle::enter`].
#[must_use = "the reactor is current only while the guard lives"]
pub struct EnterGuard {
    prev: Option<Option<Handle>>,
    _not_send: std::marker::PhantomData<Rc<()>>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            // The handle we installed is dropped after the borrow ends.
            let _ours = CURRENT.with(|c| c.replace(prev));
        }
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
