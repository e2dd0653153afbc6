//! The errors every backend and the facade give in the same words.

use std::io;

use crate::source::RawSource;

/// The error of I/O on a registration whose reactor was dropped.
#[cold]
#[inline(never)]
pub(crate) fn shut_down_error() -> io::Error {
    io::Error::other(SHUT_DOWN)
}

/// The message of [`shut_down_error`].
const SHUT_DOWN: &str = "the evloop runtime (reactor) this I/O object was registered with \
    has been dropped, so its I/O can never complete; create it inside the runtime that \
    uses it, or move it with `into_std` and `from_std`";

/// Registering something that is not an open descriptor.
pub(crate) fn invalid_fd(fd: RawSource) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("cannot register fd {fd}: it is not an open file descriptor"),
    )
}

/// Registering a descriptor twice with one reactor.
pub(crate) fn already_registered(fd: RawSource) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("cannot register fd {fd}: it is already registered with this reactor"),
    )
}

/// Deregistering a descriptor the backend does not know.
pub(crate) fn not_registered(fd: RawSource) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "cannot deregister fd {fd}: it is not registered with this reactor (or was closed first)"
        ),
    )
}
