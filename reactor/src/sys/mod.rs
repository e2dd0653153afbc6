//! The backends: the part of the event base that differs per OS.
//!
//! # Contract
//!
//! Each backend (libevent's `struct eventop`) is a struct in its own module with these
//! methods; the [`Backend`] enum dispatches to them with a `match`, and the facade in
//! `reactor.rs` holds all the shared logic (slab, readiness, wakers, EINTR retries,
//! deadlines, buffer growth):
//!
//! - `new() -> io::Result<(Self, Signal)>`: opens the backend and the OS object its
//!   [`Notifier`](crate::Notifier) writes to wake a wait: an eventfd (epoll), an
//!   `EVFILT_USER` event on the kqueue itself (kqueue), or a self-pipe (poll).
//! - `register(fd, token)`: watch `fd` for read and write together, edge-triggered where
//!   the OS allows (epoll, kqueue), with `token` carried by its events. An invalid or
//!   closed fd is `InvalidInput`; an fd already registered with this backend is
//!   `AlreadyExists`.
//! - `deregister(fd)`: stop watching. An fd that is not registered (or is closed) is
//!   `NotFound`. Pending events for it are never delivered afterwards.
//! - `wait(events, capacity, timeout)` (epoll, kqueue), or
//!   `wait(events, timeout, interests)` (poll, which asks the slab which directions have
//!   a waiting waker): block until at least one event, the notifier, or the timeout, and
//!   leave what the wait returned in `events`, at most `capacity` events for one wait.
//!   `timeout == None` is infinite; a longer one is capped at [`MAX_WAIT`]. EINTR is
//!   returned as `ErrorKind::Interrupted`; the facade treats it as zero events.
//! - `drain_notifier()`: the facade calls it when a wait returned the notifier's event,
//!   so that the OS object does not stay readable (epoll reads its eventfd; poll drains
//!   its pipe during the wait and kqueue's `EV_CLEAR` needs nothing, so theirs do
//!   nothing).
//!
//! [`Events`] is the facade's, and holds the events in each backend's own form: epoll
//! leaves the kernel's `epoll_event`s, which the facade normalises one by one as it
//! dispatches them (no copy of the buffer), and poll and kqueue append normalised
//! [`Event`]s. The facade reads them after the wait without borrowing the backend, so a
//! waker it wakes may register or deregister.
//!
//! The io_uring backend (`uring.rs`) keeps this contract for the fds registered for
//! readiness (multishot polls) and adds one thing: its `wait` also handles the
//! completions of the sockets registered with `register_socket`, and keeps the wakers
//! they concern for the facade to wake after its dispatch (`Driver::wake_completed`),
//! with a `NOTIFY_TOKEN` event when no readiness event came, so that the facade knows the
//! wait did not time out. Its events are a normalised list, as poll's and kqueue's, and
//! the buffer's capacity is a hint there: one wait hands over every completion that
//! arrived.
//!
//! [`Backend::is_edge_triggered`] (true but for poll) tells the facade whether readiness
//! may be cleared after a short read or write; [`Backend::kind`] names the backend.
//!
//! Events are normalised: HUP and ERR mark both directions ready, RDHUP (or `EV_EOF` on
//! a read filter) marks read-closed. The notifier's event carries [`NOTIFY_TOKEN`].

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::Readiness;
use crate::notifier::Signal;

#[cfg(evloop_epoll)]
pub(crate) mod epoll;
#[cfg(evloop_kqueue)]
pub(crate) mod kqueue;
mod poll;
#[cfg(evloop_uring)]
pub(crate) mod uring;
#[cfg(evloop_uring)]
mod uring_bufs;
#[cfg(evloop_uring)]
pub(crate) mod uring_dgram;
#[cfg(evloop_uring)]
mod uring_drain;
#[cfg(evloop_uring)]
mod uring_ops;
#[cfg(evloop_uring)]
mod uring_poll;
#[cfg(evloop_uring)]
pub(crate) mod uring_socket;
#[cfg(evloop_uring)]
pub(crate) mod uring_stream;

/// The token the notifier's events carry. Slab tokens never reach it: their index is
/// below `u32::MAX`.
pub(crate) const NOTIFY_TOKEN: u64 = u64::MAX;

/// Longest single wait, as libevent's `MAX_EPOLL_TIMEOUT_MSEC` (35 minutes); longer and
/// infinite-but-capped waits are split by the facade.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(35 * 60);

/// One normalised event.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readiness: Readiness,
}

/// What one wait returned, in the backend's own form (see the module docs).
#[derive(Debug)]
pub(crate) enum Events {
    /// The kernel's `epoll_event`s, normalised as they are read.
    #[cfg(evloop_epoll)]
    Epoll(Vec<libc::epoll_event>),
    /// Normalised events (poll, kqueue).
    List(Vec<Event>),
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
    pub(crate) fn for_each(&self, mut f: impl FnMut(u64, Readiness)) {
        match self {
            #[cfg(evloop_epoll)]
            Events::Epoll(v) => {
                for ev in v {
                    let token = ev.u64;
                    f(token, epoll::readiness(ev.events));
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

/// What a registration is waiting for; only the level-triggered poll backend asks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// Which OS I/O API a reactor uses.
///
/// Chosen at run time, best first ([`BackendKind::available`]): epoll on Linux and
/// Android, kqueue on macOS, iOS and the BSDs, and poll everywhere as the fallback.
/// io_uring (Linux) is chosen by name only; when the kernel refuses it, the reactor
/// falls back to epoll and says so on stderr, once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Linux `epoll`, edge-triggered, with `epoll_pwait2` nanosecond timeouts where the
    /// kernel has them.
    Epoll,
    /// BSD `kqueue` with `EV_CLEAR` and an `EVFILT_USER` notifier. Written against libc's
    /// definitions; it is compiled only on macOS, iOS and the BSDs and is not exercised by
    /// the Linux test suite.
    Kqueue,
    /// POSIX `poll` (`ppoll` on Linux for nanosecond timeouts), level-triggered, with a
    /// self-pipe notifier. Available on every unix.
    Poll,
    /// Linux io_uring (kernel 6.1 or later): sockets registered with
    /// [`Handle::register_socket`](crate::Handle::register_socket) move bytes by
    /// completion (multishot receives into provided buffers, sends of a per-socket
    /// buffer, multishot accept), other fds get multishot polls, and each turn submits
    /// everything and waits in one `io_uring_enter`. Falls back to epoll when the kernel
    /// refuses it (`ENOSYS`, `EPERM` under seccomp or `kernel.io_uring_disabled`, an old
    /// kernel).
    Uring,
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

    /// The lower-case name used by `EVLOOP_BACKEND`: `epoll`, `kqueue`, `poll` or
    /// `uring`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Epoll => "epoll",
            BackendKind::Kqueue => "kqueue",
            BackendKind::Poll => "poll",
            BackendKind::Uring => "uring",
        }
    }

    /// Parses a backend name and checks that this system has it.
    ///
    /// An unknown name, or one this system lacks, is an `InvalidInput` error that names
    /// it and lists the available ones.
    pub fn from_name(name: &str) -> io::Result<BackendKind> {
        let kind = match name.trim().to_ascii_lowercase().as_str() {
            "epoll" => Some(BackendKind::Epoll),
            "kqueue" => Some(BackendKind::Kqueue),
            "poll" => Some(BackendKind::Poll),
            "uring" | "io_uring" => Some(BackendKind::Uring),
            _ => None,
        };
        let list = Self::available_names();
        match kind {
            Some(k) if Self::available().contains(&k) => Ok(k),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "event backend `{name}` is not available on this system; available: {list}"
                ),
            )),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown event backend `{name}`; available: {list}"),
            )),
        }
    }

    fn available_names() -> String {
        let names: Vec<&str> = Self::available().iter().map(|k| k.name()).collect();
        names.join(", ")
    }
}

impl std::str::FromStr for BackendKind {
    type Err = io::Error;
    fn from_str(s: &str) -> io::Result<BackendKind> {
        BackendKind::from_name(s)
    }
}

/// The backend in use: an enum, so dispatch is a static `match` (libevent chooses its
/// `eventop` at run time; so do we, without a vtable).
#[derive(Debug)]
pub(crate) enum Backend {
    #[cfg(evloop_epoll)]
    Epoll(epoll::Epoll),
    #[cfg(evloop_kqueue)]
    Kqueue(kqueue::Kqueue),
    Poll(poll::Poll),
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

impl Backend {
    /// Opens the backend `kind` and the signal its notifier writes; `buffers` (count and
    /// size) sizes io_uring's provided buffers.
    #[cfg_attr(not(evloop_uring), allow(unused_variables))]
    pub(crate) fn new(kind: BackendKind, buffers: (u16, u32)) -> io::Result<(Backend, Signal)> {
        match kind {
            #[cfg(evloop_epoll)]
            BackendKind::Epoll => epoll::Epoll::new().map(|(b, s)| (Backend::Epoll(b), s)),
            #[cfg(evloop_kqueue)]
            BackendKind::Kqueue => kqueue::Kqueue::new().map(|(b, s)| (Backend::Kqueue(b), s)),
            BackendKind::Poll => poll::Poll::new().map(|(b, s)| (Backend::Poll(b), s)),
            #[cfg(evloop_uring)]
            BackendKind::Uring => {
                uring::Uring::new(buffers.0, buffers.1).map(|(b, s)| (Backend::Uring(b), s))
            }
            #[allow(unreachable_patterns)]
            other => Err(BackendKind::from_name(other.name()).unwrap_err()),
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

    /// The io_uring driver, if this is that backend.
    #[cfg(evloop_uring)]
    pub(crate) fn uring_driver(&self) -> Option<&std::rc::Rc<uring::Driver>> {
        match self {
            Backend::Uring(u) => Some(&u.driver),
            _ => None,
        }
    }

    pub(crate) fn is_edge_triggered(&self) -> bool {
        !matches!(self, Backend::Poll(_))
    }

    pub(crate) fn register(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        dispatch!(self, b => b.register(fd, token))
    }

    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        dispatch!(self, b => b.deregister(fd))
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
            (Backend::Epoll(b), Events::Epoll(buf)) => b.wait(buf, capacity, timeout),
            #[cfg(evloop_kqueue)]
            (Backend::Kqueue(b), Events::List(list)) => b.wait(list, capacity, timeout),
            (Backend::Poll(b), Events::List(list)) => b.wait(list, timeout, interests),
            #[cfg(evloop_uring)]
            (Backend::Uring(b), Events::List(list)) => b.driver.wait(list, timeout),
            #[allow(unreachable_patterns)]
            (backend, _) => unreachable!(
                "the events buffer was made for another backend than {}",
                backend.kind().name()
            ),
        }
    }

    pub(crate) fn drain_notifier(&mut self) {
        match self {
            #[cfg(evloop_epoll)]
            Backend::Epoll(b) => b.drain_notifier(),
            _ => {}
        }
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

/// `Err(last_os_error)` when `ret == -1`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub(crate) fn invalid_fd(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot register fd {fd}: it is not an open file descriptor"),
    )
}

pub(crate) fn already_registered(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("cannot register fd {fd}: it is already registered with this reactor"),
    )
}

pub(crate) fn not_registered(fd: RawFd) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "cannot deregister fd {fd}: it is not registered with this reactor (or was closed first)"
        ),
    )
}

/// True when `fd` is an open descriptor.
pub(crate) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; any integer is a valid argument
    // and an invalid one yields -1/EBADF.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}
