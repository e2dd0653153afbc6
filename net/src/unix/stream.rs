//! `UnixStream`: a connected Unix stream socket.

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::io::{AsSource, impl_async_read, impl_async_write, impl_stream_methods};
use crate::source::Source;
use crate::sys::{self, SockAddr};
use crate::unix::SocketAddr;

/// A connected Unix stream socket, with the same I/O as
/// [`TcpStream`](crate::TcpStream): inherent `async fn`s on `&self`, the futures-io
/// traits (and tokio's and hyper's behind their features) on the stream and on
/// `&UnixStream`.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let (a, b) = net::UnixStream::pair()?;
/// a.write_all(b"ping").await?;
/// let mut buf = [0; 4];
/// b.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"ping");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream {
    source: Source,
}

impl AsSource for UnixStream {
    fn source(&self) -> &Source {
        &self.source
    }
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let addr = SockAddr::from_unix_path(path)?;
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        let named = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("could not connect to {}: {e}", path.display()),
            )
        };
        let source = Source::connect(fd, &addr).await.map_err(named)?;
        Ok(UnixStream { source })
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair(libc::SOCK_STREAM)?;
        Ok((UnixStream::from_fd(a)?, UnixStream::from_fd(b)?))
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<UnixStream> {
        Ok(UnixStream {
            source: Source::new(fd)?,
        })
    }

    impl_stream_methods!(read);
    impl_stream_methods!(write);

    /// Shuts down the read side, the write side or both. On io_uring the write side
    /// goes down after the bytes written before, so the peer reads them all first.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.shutdown(how)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sys::local_addr(self.as_fd())?))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from_raw(&sys::peer_addr(self.as_fd())?))
    }

    /// Wraps a std stream, making it non-blocking and registering it.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_fd(OwnedFd::from(stream))
    }

    /// Deregisters the stream and returns it as a std stream, still non-blocking (to
    /// move it to another loop).
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(std::os::unix::net::UnixStream::from(self.source.into_fd()?))
    }
}

impl_async_read!(for UnixStream);
impl_async_read!(<'a> for &'a UnixStream);
impl_async_write!(for UnixStream);
impl_async_write!(<'a> for &'a UnixStream);

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}
