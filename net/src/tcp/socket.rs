//! `TcpSocket`: a TCP socket before it listens or connects, to set options first.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::source::Source;
use crate::sys::{self, SockAddr};
use crate::tcp::{TcpListener, TcpStream};

/// A TCP socket not yet listening or connected: set options, then
/// [`listen`](TcpSocket::listen) or [`connect`](TcpSocket::connect).
///
/// One listener per loop on a shared port (the thread-per-core model):
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let first = net::TcpSocket::new_v4()?;
/// first.set_reuseport(true)?;
/// first.bind("127.0.0.1:0".parse().unwrap())?;
/// let first = first.listen(128)?;
/// let port = first.local_addr()?.port();
///
/// // Another loop would do this on its own thread.
/// let second = net::TcpSocket::new_v4()?;
/// second.set_reuseport(true)?;
/// second.bind(([127, 0, 0, 1], port).into())?;
/// let second = second.listen(128)?;
/// assert_eq!(second.local_addr()?.port(), port);
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket, non-blocking and close-on-exec.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET)
    }

    /// A new IPv6 TCP socket, non-blocking and close-on-exec.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET6)
    }

    fn new(domain: libc::c_int) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            fd: sys::socket(domain, libc::SOCK_STREAM)?,
        })
    }

    pub(crate) fn for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
    }

    /// Sets `SO_REUSEADDR`: bind even while old connections on the port linger in
    /// `TIME_WAIT`.
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            on.into(),
        )
    }

    /// Sets `SO_REUSEPORT`: several sockets (one per loop) may bind the same address and
    /// port, and the kernel spreads connections across them.
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            on.into(),
        )
    }

    /// Sets `TCP_NODELAY` (no Nagle delay) before connecting.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.fd.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on.into(),
        )
    }

    /// Binds to `addr`.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        sys::bind(self.fd.as_fd(), &SockAddr::from_inet(addr))
            .map_err(|e| io::Error::new(e.kind(), format!("could not bind to {addr}: {e}")))
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd.as_fd())?.to_inet()
    }

    /// Starts listening with room for `backlog` pending connections, and registers the
    /// listener with the current loop (so this fails outside a runtime).
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let backlog = backlog.min(i32::MAX as u32) as i32;
        sys::listen(self.fd.as_fd(), backlog)?;
        TcpListener::from_fd(self.fd)
    }

    /// Connects to `addr` without blocking the loop: the connect starts, the socket is
    /// registered, and the call waits until it is writable, then reads `SO_ERROR` (on
    /// io_uring: one `IORING_OP_CONNECT`).
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let source = Source::connect(self.fd, &SockAddr::from_inet(addr)).await?;
        Ok(TcpStream::from_source(source))
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}
