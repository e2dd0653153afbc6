//! The backends: the one part of the event base that differs per OS, and the one
//! module that names them.
//!
//! # Contract
//!
//! The facade (`reactor.rs`, `shared.rs`, `registration.rs`, `completion.rs`) holds the
//! logic every backend shares: the slab, readiness, wakers, EINTR retries, deadlines,
//! the events buffer's growth. It reaches a backend through two things only.
//!
//! **A readiness selector**, the [`Selector`] trait (libevent's `struct eventop`, mio's
//! `Selector`), dispatched by the [`Backend`] enum with a static `match`:
//!
//! - `open(config) -> (Self, Signal)`: opens the OS object and the [`Signal`] that the
//!   [`Notifier`](crate::Notifier) writes to wake a wait (`unix/waker/`: an eventfd,
//!   kqueue's `EVFILT_USER`, a self-pipe).
//! - `register(source, token)`: watch a [`RawSource`](crate::RawSource) for read and
//!   write together, edge-triggered where `EDGE_TRIGGERED` says so, its events carrying
//!   `token`. An invalid or closed source is `InvalidInput`; one already registered with
//!   this backend is `AlreadyExists`.
//! - `deregister(source)`: stop watching. A source that is not registered (or was
//!   closed) is `NotFound`. No event of it is delivered afterwards.
//! - `select(events, capacity, timeout, interests)`: block until at least one event,
//!   the notifier, or the timeout, and leave in `events` (the selector's own form,
//!   `Selector::Events`) at most `capacity` events. `timeout == None` is infinite; a
//!   longer one is capped at `MAX_WAIT`. EINTR is `ErrorKind::Interrupted`, which the
//!   facade treats as zero events. `interests` says which directions of a token have a
//!   waiting waker: only the level-triggered selector (poll) asks.
//! - `drain_notifier()`: called when a wait returned the notifier's event
//!   (`NOTIFY_TOKEN`), so that the OS object does not stay ready.
//! - Events are normalised: HUP and ERR mark both directions ready, RDHUP (or `EV_EOF`
//!   on a read filter) marks read-closed.
//!
//! The facade reads the events after the wait without borrowing the backend, so a waker
//! it wakes may register or deregister. [`Events`] holds them: the kernel's own
//! `epoll_event`s (normalised one by one as they are dispatched, no copy), or a list of
//! normalised events.
//!
//! **A completion side**: [`Ring`] and [`CompletionSocket`], the io_uring driver and a
//! socket whose bytes move by completion (`uring/handle.rs`). Where the build has no
//! such backend they are types with no values (`none.rs`), so the facade's code is the
//! same everywhere and a `Completion` is simply never handed out. io_uring is also a
//! selector: fds registered for readiness get multishot polls, and its `select` handles
//! the completions too, keeping the wakers they concern for the facade to wake after
//! its dispatch ([`Ring::wake_completed`]), with a `NOTIFY_TOKEN` event when no
//! readiness event came, so the facade knows the wait did not time out.
//!
//! Below `sys/` are the leaf modules it may import: `event` (events, interest, the
//! notifier's token), `slab` (tokens, slots, directions), `errors`, `kind`
//! ([`BackendKind`]), `source` and `stats`. It never imports the facade.
//!
//! | family | folder | selectors | wakeups |
//! |---|---|---|---|
//! | Unix | `unix/` | epoll (Linux, Android), kqueue (64-bit Apple, FreeBSD), poll | eventfd, `EVFILT_USER`, self-pipe |
//! | io_uring | `uring/` | the ring's multishot polls | the ring's read of an eventfd |

use std::io;
use std::time::Duration;

use crate::event::{Interest, MAX_WAIT};
use crate::kind::BackendKind;
use crate::source::RawSource;

#[cfg(not(evloop_uring))]
mod none;
pub(crate) mod unix;
#[cfg(evloop_uring)]
pub(crate) mod uring;

#[cfg(not(evloop_uring))]
pub(crate) use none::{CompletionSocket, Ring, SendOp};
pub(crate) use unix::waker::Signal;
#[cfg(evloop_uring)]
pub(crate) use uring::{CompletionSocket, Ring, SendOp};

/// What opening a backend may be told.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// io_uring's provided buffers: how many, and their size.
    #[cfg_attr(not(evloop_uring), allow(dead_code))]
    pub(crate) uring_buffers: (u16, u32),
}

/// io_uring's provided buffers unless the builder says otherwise: 1024 of 4 KiB.
pub(crate) const URING_BUFFERS: (u16, u32) = (1024, 4096);

/// A readiness selector (module docs).
pub(crate) trait Selector: Sized {
    /// The form [`select`](Selector::select) leaves its events in.
    type Events;
    /// Whether readiness is reported once per change (`EPOLLET`, `EV_CLEAR`), so that a
    /// short read or write may clear it.
    const EDGE_TRIGGERED: bool;

    fn open(config: &Config) -> io::Result<(Self, Signal)>;
    fn register(&mut self, source: RawSource, token: u64) -> io::Result<()>;
    fn deregister(&mut self, source: RawSource) -> io::Result<()>;
    fn select(
        &mut self,
        events: &mut Self::Events,
        capacity: usize,
        timeout: Option<Duration>,
        interests: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()>;
    /// Empties the wakeup object after its event; most need nothing.
    fn drain_notifier(&mut self) {}
}

impl BackendKind {
    /// The backends this build supports, best first.
    pub fn available() -> &'static [BackendKind] {
        #[cfg(evloop_uring)]
        {
            &[BackendKind::Epoll, BackendKind::Uring, BackendKind::Poll]
        }
        #[cfg(all(evloop_epoll, not(evloop_uring)))]
        {
            &[BackendKind::Epoll, BackendKind::Poll]
        }
        #[cfg(evloop_kqueue)]
        {
            &[BackendKind::Kqueue, BackendKind::Poll]
        }
        #[cfg(not(any(evloop_epoll, evloop_kqueue)))]
        {
            &[BackendKind::Poll]
        }
    }
}

/// What one wait returned, in the selector's own form (see the module docs).
#[derive(Debug)]
pub(crate) enum Events {
    /// The kernel's `epoll_event`s, normalised as they are read.
    #[cfg(evloop_epoll)]
    Epoll(Vec<libc::epoll_event>),
    /// Normalised events (poll, kqueue, io_uring).
    List(Vec<crate::event::Event>),
}

impl Default for Events {
    /// An empty list that has not allocated: a placeholder while the facade holds the
    /// real buffer.
    fn default() -> Events {
        Events::List(Vec::new())
    }
}

impl Events {
    /// An empty buffer in the form `kind`'s wait fills, with room for `capacity` events.
    pub(crate) fn new(kind: BackendKind, capacity: usize) -> Events {
        match kind {
            #[cfg(evloop_epoll)]
            BackendKind::Epoll => Events::Epoll(Vec::with_capacity(capacity)),
            _ => Events::List(Vec::with_capacity(capacity)),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            #[cfg(evloop_epoll)]
            Events::Epoll(v) => v.len(),
            Events::List(v) => v.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn clear(&mut self) {
        match self {
            #[cfg(evloop_epoll)]
            Events::Epoll(v) => v.clear(),
            Events::List(v) => v.clear(),
        }
    }

    /// Calls `f` with each event's token and normalised readiness, in the order the
    /// wait returned them.
    #[inline(always)]
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, crate::Readiness)) {
        match self {
            #[cfg(evloop_epoll)]
            Events::Epoll(v) => {
                for ev in v {
                    let token = ev.u64;
                    f(token, unix::epoll::readiness(ev.events));
                }
            }
            Events::List(v) => {
                for ev in v {
                    f(ev.token, ev.readiness);
                }
            }
        }
    }
}

/// The backend in use: an enum, so dispatch is a static `match` (libevent chooses its
/// `eventop` at run time; so do we, without a vtable).
#[derive(Debug)]
pub(crate) enum Backend {
    #[cfg(evloop_epoll)]
    Epoll(unix::epoll::Epoll),
    #[cfg(evloop_kqueue)]
    Kqueue(unix::kqueue::Kqueue),
    Poll(unix::poll::Poll),
    #[cfg(evloop_uring)]
    Uring(uring::Uring),
}

macro_rules! dispatch {
    ($self:expr, $b:ident => $e:expr) => {
        match $self {
            #[cfg(evloop_epoll)]
            Backend::Epoll($b) => $e,
            #[cfg(evloop_kqueue)]
            Backend::Kqueue($b) => $e,
            Backend::Poll($b) => $e,
            #[cfg(evloop_uring)]
            Backend::Uring($b) => $e,
        }
    };
}

fn open<S: Selector>(config: &Config, wrap: fn(S) -> Backend) -> io::Result<(Backend, Signal)> {
    S::open(config).map(|(s, signal)| (wrap(s), signal))
}

impl Backend {
    /// Opens the backend `kind` and the signal its notifier writes.
    pub(crate) fn new(kind: BackendKind, config: &Config) -> io::Result<(Backend, Signal)> {
        match kind {
            #[cfg(evloop_epoll)]
            BackendKind::Epoll => open(config, Backend::Epoll),
            #[cfg(evloop_kqueue)]
            BackendKind::Kqueue => open(config, Backend::Kqueue),
            BackendKind::Poll => open(config, Backend::Poll),
            #[cfg(evloop_uring)]
            BackendKind::Uring => open(config, Backend::Uring),
            #[allow(unreachable_patterns)]
            other => Err(BackendKind::from_name(other.name()).unwrap_err()),
        }
    }

    /// Opens the backend the user named; io_uring that the kernel refuses falls back to
    /// epoll, saying so on stderr once per process (a bad buffer setting is the
    /// caller's error, not a refusal).
    pub(crate) fn new_named(kind: BackendKind, config: &Config) -> io::Result<(Backend, Signal)> {
        match Backend::new(kind, config) {
            #[cfg(evloop_uring)]
            Err(e) if kind == BackendKind::Uring && e.kind() != io::ErrorKind::InvalidInput => {
                use std::sync::atomic::{AtomicBool, Ordering};
                static SAID: AtomicBool = AtomicBool::new(false);
                if !SAID.swap(true, Ordering::Relaxed) {
                    eprintln!("evloop: io_uring is not available ({e}); using epoll");
                }
                Backend::new(BackendKind::Epoll, config)
            }
            r => r,
        }
    }

    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            #[cfg(evloop_epoll)]
            Backend::Epoll(_) => BackendKind::Epoll,
            #[cfg(evloop_kqueue)]
            Backend::Kqueue(_) => BackendKind::Kqueue,
            Backend::Poll(_) => BackendKind::Poll,
            #[cfg(evloop_uring)]
            Backend::Uring(_) => BackendKind::Uring,
        }
    }

    /// The completion side, if this backend has one.
    pub(crate) fn ring(&self) -> Option<Ring> {
        match self {
            #[cfg(evloop_uring)]
            Backend::Uring(u) => Some(Ring(u.driver.clone())),
            _ => None,
        }
    }

    pub(crate) fn is_edge_triggered(&self) -> bool {
        fn edge<S: Selector>(_: &S) -> bool {
            S::EDGE_TRIGGERED
        }
        dispatch!(self, b => edge(b))
    }

    /// Whether waits take nanosecond timeouts: `epoll_pwait2` for epoll (`None` until
    /// the first timed wait has probed the kernel), always for io_uring (the enter
    /// call's own timeout); `None` on the other backends.
    pub(crate) fn has_precise_timeouts(&self) -> Option<bool> {
        match self {
            #[cfg(evloop_epoll)]
            Backend::Epoll(_) => unix::epoll::has_pwait2(),
            #[cfg(evloop_uring)]
            Backend::Uring(_) => Some(true),
            _ => None,
        }
    }

    pub(crate) fn register(&mut self, source: RawSource, token: u64) -> io::Result<()> {
        dispatch!(self, b => b.register(source, token))
    }

    pub(crate) fn deregister(&mut self, source: RawSource) -> io::Result<()> {
        dispatch!(self, b => b.deregister(source))
    }

    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        capacity: usize,
        timeout: Option<Duration>,
        interests: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()> {
        match (self, events) {
            #[cfg(evloop_epoll)]
            (Backend::Epoll(b), Events::Epoll(buf)) => b.select(buf, capacity, timeout, interests),
            #[cfg(evloop_kqueue)]
            (Backend::Kqueue(b), Events::List(list)) => {
                b.select(list, capacity, timeout, interests)
            }
            (Backend::Poll(b), Events::List(list)) => b.select(list, capacity, timeout, interests),
            #[cfg(evloop_uring)]
            (Backend::Uring(b), Events::List(list)) => b.select(list, capacity, timeout, interests),
            #[allow(unreachable_patterns)]
            (backend, _) => unreachable!(
                "the events buffer was made for another backend than {}",
                backend.kind().name()
            ),
        }
    }

    pub(crate) fn drain_notifier(&mut self) {
        dispatch!(self, b => b.drain_notifier())
    }
}

/// Lowers this thread's timer slack to 1 ns the first time it blocks in a turn, so that
/// the kernel does not defer a precise wakeup by its default 50 µs (Linux; elsewhere
/// nothing).
pub(crate) fn set_timer_slack() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::cell::Cell;
        thread_local!(static DONE: Cell<bool> = const { Cell::new(false) });
        DONE.with(|d| {
            if !d.replace(true) {
                // SAFETY: PR_SET_TIMERSLACK takes an integer and affects only the calling
                // thread; the other arguments are unused and zero.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
            }
        });
    }
}

/// Rounds a timeout up to whole milliseconds for the APIs that take them, and caps it.
pub(crate) fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let d = d.min(MAX_WAIT);
            let ms = d.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// A capped `timespec` for the APIs that take nanoseconds.
pub(crate) fn timespec(d: Duration) -> libc::timespec {
    let d = d.min(MAX_WAIT);
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// The result of a libc call that returns `-1` on failure: `Err(last_os_error)` then,
/// else the value.
///
/// ```
/// // SAFETY: `dup` takes any integer; an invalid descriptor fails with EBADF.
/// let err = reactor::cvt(unsafe { libc::dup(-1) }).unwrap_err();
/// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
/// ```
pub fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// True when `fd` is an open descriptor.
pub(crate) fn fd_is_open(fd: RawSource) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; any integer is a valid argument
    // and an invalid one yields -1/EBADF.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}
