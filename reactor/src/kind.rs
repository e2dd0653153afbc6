//! [`BackendKind`]: the names of the backends, and the parsing of `EVLOOP_BACKEND`.
//! Which of them this build has is the backends' own business (`sys/mod.rs` gives
//! [`BackendKind::available`]).

use std::io;

/// Which OS I/O API a reactor uses.
///
/// Chosen at run time, best first ([`BackendKind::available`]): epoll on Linux and
/// Android, kqueue on 64-bit Apple systems and FreeBSD, and poll everywhere as the
/// fallback (the other BSDs and 32-bit systems too).
/// io_uring (Linux) is chosen by name only; when the kernel refuses it, the reactor
/// falls back to epoll and says so on stderr, once per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// Linux `epoll`, edge-triggered, with `epoll_pwait2` nanosecond timeouts where the
    /// kernel has them.
    Epoll,
    /// BSD `kqueue` with `EV_CLEAR` and an `EVFILT_USER` notifier. Written against libc's
    /// definitions; it is compiled only on 64-bit Apple systems and FreeBSD, and is not
    /// exercised by the Linux test suite.
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
