//! `UnixDatagram`: a Unix datagram socket.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::source::Source;
use crate::sys::{self, SockAddr};
use crate::unix::SocketAddr;

/// A Unix datagram socket.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let (a, b) = net::UnixDatagram::pair()?;
/// a.send(b"one").await?;
/// let mut buf = [0; 8];
/// let n = b.recv(&mut buf).await?;
/// assert_eq!(&buf[..n], b"one");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram {
    source: Source,
}

impl UnixDatagram {
    fn from_fd(fd: OwnedFd) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            source: Source::new(fd)?,
        })
    }

    /// A socket bound to `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let addr = SockAddr::from_unix_path(path)?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        sys::bind(fd.as_fd(), &addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("could not bind to {}: {e}", path.display()),
            )
        })?;
        UnixDatagram::from_fd(fd)
    }

    /// A socket bound to no path (it can send, and receive once connected).
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_fd(sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?)
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::socketpair(libc::SOCK_DGRAM)?;
        Ok((UnixDatagram::from_fd(a)?, UnixDatagram::from_fd(b)?))
    }

    /// Sets the default peer for [`send`](UnixDatagram::send) and
    /// [`recv`](UnixDatagram::recv).
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let path = path.as_ref();
        sys::connect(self.as_fd(), &SockAddr::from_unix_path(path)?).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("could not connect to {}: {e}", path.display()),
            )
        })
    }

    /// Sends one datagram to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let addr = SockAddr::from_unix_path(path.as_ref())?;
        let mut op = None;
        poll_fn(|cx| self.source.poll_send_to(cx, buf, Some(&addr), &mut op)).await
    }

    /// Receives one datagram and its source.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = poll_fn(|cx| self.source.poll_recv_from(cx, buf, 0)).await?;
        Ok((n, SocketAddr::from_raw(&addr)))
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let mut op = None;
        poll_fn(|cx| self.source.poll_send_to(cx, buf, None, &mut op)).await
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.source.poll_recv(cx, buf, 0)).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sys::local_addr(self.as_fd())?))
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sys::peer_addr(self.as_fd())?))
    }

    /// Wraps a std socket, making it non-blocking and registering it.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        UnixDatagram::from_fd(OwnedFd::from(socket))
    }

    /// Deregisters the socket and returns it as a std socket, still non-blocking.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        Ok(std::os::unix::net::UnixDatagram::from(
            self.source.into_fd()?,
        ))
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
