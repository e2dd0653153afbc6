//! Unix domain sockets: listener, stream and datagram.

mod datagram;
mod listener;
mod stream;

use std::fmt;
use std::path::{Path, PathBuf};

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use stream::UnixStream;

use crate::sys::SockAddr;

/// The address of a Unix socket: a path, or unnamed (a socket from `pair`, or one that
/// never bound). Linux abstract addresses are reported as unnamed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SocketAddr {
    path: Option<PathBuf>,
}

impl SocketAddr {
    pub(crate) fn from_raw(addr: &SockAddr) -> SocketAddr {
        SocketAddr {
            path: addr.to_unix_path(),
        }
    }

    /// The path, if the address has one.
    pub fn as_pathname(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether the address is unnamed (no path).
    pub fn is_unnamed(&self) -> bool {
        self.path.is_none()
    }
}

impl fmt::Debug for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{} (pathname)", p.display()),
            None => f.write_str("(unnamed)"),
        }
    }
}
