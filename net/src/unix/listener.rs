//! `UnixListener`: a listening Unix stream socket.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::task::{Context, Poll, ready};

use crate::source::Source;
use crate::sys::{self, SockAddr};
use crate::unix::{SocketAddr, UnixStream};

/// A Unix stream socket that accepts connections.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let dir = std::env::temp_dir().join(format!("net-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// # let _ = std::fs::remove_file(&path);
/// let listener = net::UnixListener::bind(&path)?;
/// let client = net::UnixStream::connect(&path).await?;
/// let (server, _) = listener.accept().await?;
/// client.write_all(b"hi").await?;
/// let mut buf = [0; 2];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener {
    source: Source,
}

impl UnixListener {
    /// Binds to `path` (which must not exist yet) and starts listening; registers with
    /// the current loop, so it fails outside a runtime. The socket file stays when the
    /// listener is dropped: remove it when done.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let addr = SockAddr::from_unix_path(path)?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sys::bind(fd.as_fd(), &addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("could not bind to {}: {e}", path.display()),
            )
        })?;
        sys::listen(fd.as_fd(), crate::DEFAULT_BACKLOG)?;
        Ok(UnixListener {
            source: Source::new(fd)?,
        })
    }

    /// Accepts one connection; retriable errors are handled as in
    /// [`TcpListener::accept`](crate::TcpListener::accept), and `EMFILE`/`ENFILE` call
    /// for the same back-off.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection; see [`accept`](UnixListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.source.poll_accept(cx))?;
        Poll::Ready(UnixStream::from_fd(fd).map(|s| (s, SocketAddr::from_raw(&addr))))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sys::local_addr(self.as_fd())?))
    }

    /// Wraps a std listener, making it non-blocking and registering it.
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            source: Source::new(OwnedFd::from(listener))?,
        })
    }

    /// Deregisters the listener and returns it as a std listener, still non-blocking.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(std::os::unix::net::UnixListener::from(
            self.source.into_fd()?,
        ))
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UnixListener");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
