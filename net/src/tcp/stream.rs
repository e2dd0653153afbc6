//! `TcpStream`: a connected TCP socket on the reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use reactor::Readiness;

use crate::addr::{ToSocketAddrs, each_addr};
use crate::io::{AsSource, impl_async_read, impl_async_write, impl_stream_methods};
use crate::source::Source;
use crate::sys;
use crate::tcp::TcpSocket;
use crate::tcp::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};

/// A TCP connection.
///
/// Reads and writes are one syscall each. The inherent `async fn`s take `&self`; the
/// stream (and `&TcpStream`) also implements `futures_io::AsyncRead` and `AsyncWrite`,
/// tokio's traits with feature `tokio-io` and hyper's with feature `hyper`. Writes never
/// raise `SIGPIPE`: a reset peer is an error of kind `ConnectionReset` or `BrokenPipe`.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let listener = net::TcpListener::bind("127.0.0.1:0").await?;
/// let client = net::TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
///
/// client.write_all(b"ping").await?;
/// client.shutdown(std::net::Shutdown::Write)?;
/// let mut buf = Vec::new();
/// let mut chunk = [0; 16];
/// loop {
///     match server.read(&mut chunk).await? {
///         0 => break,
///         n => buf.extend_from_slice(&chunk[..n]),
///     }
/// }
/// assert_eq!(buf, b"ping");
/// server.write_all(b"pong").await?;
/// let mut reply = [0; 4];
/// client.read_exact(&mut reply).await?;
/// assert_eq!(&reply, b"pong");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A `TcpStream` is `!Send`: it is registered with one loop and stays there.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<net::TcpStream>();
/// ```
///
/// To move a connection to another loop, call [`into_std`](TcpStream::into_std), send
/// the std stream, and call [`from_std`](TcpStream::from_std) on the other loop.
pub struct TcpStream {
    source: Source,
}

impl AsSource for TcpStream {
    fn source(&self) -> &Source {
        &self.source
    }
}

impl TcpStream {
    /// Connects to `addr`, without blocking the loop. A host name is resolved on the
    /// blocking pool and each address is tried in turn; the error keeps the kind of the
    /// last failure (`ConnectionRefused` for a closed port) and names its address.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, "could not connect to", |a| async move {
            TcpSocket::for_addr(a)?.connect(a).await
        })
        .await
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<TcpStream> {
        Ok(TcpStream::from_source(Source::new(fd)?))
    }

    pub(crate) fn from_source(source: Source) -> TcpStream {
        TcpStream { source }
    }

    impl_stream_methods!(read);
    impl_stream_methods!(write);

    /// Reads without consuming: the next read sees the same bytes again.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.source.poll_peek(cx, buf)).await
    }

    /// Waits until the stream is readable (or at end of stream, or in error). Fails at
    /// once, instead of waiting forever, if the runtime the stream was created in has
    /// been dropped.
    pub async fn readable(&self) -> io::Result<Readiness> {
        self.source.registration().readable().await
    }

    /// Waits until the stream is writable (or closed, or in error). Fails at once if the
    /// runtime the stream was created in has been dropped.
    pub async fn writable(&self) -> io::Result<Readiness> {
        self.source.registration().writable().await
    }

    /// Shuts down the read side, the write side (the peer reads end of stream) or both.
    /// On io_uring the write side goes down after the bytes written before, so the peer
    /// reads them all first.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.source.shutdown(how)
    }

    /// Sets `TCP_NODELAY`: send small segments at once instead of batching them.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            on.into(),
        )
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sys::getsockopt(self.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    /// Sets `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream send a reset
    /// instead of a FIN; `None` restores the default. The kernel keeps whole seconds: a
    /// non-zero duration is rounded up, so a short linger never turns into a reset.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let secs = linger.map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        sys::set_linger(self.as_fd(), secs)
    }

    /// The `SO_LINGER` setting, in whole seconds.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(sys::linger(self.as_fd())?.map(Duration::from_secs))
    }

    /// Sets the IP time-to-live of outgoing packets (1 to 255; `InvalidInput` else).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sys::set_ttl(self.as_fd(), ttl)
    }

    /// The IP time-to-live of outgoing packets.
    pub fn ttl(&self) -> io::Result<u32> {
        sys::ttl(self.as_fd())
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.peer_inet()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.local_inet()
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.as_fd())
    }

    /// Borrowed read and write halves. Each may be used by its own future at the same
    /// time as the other (for example in a join); readiness is tracked per direction.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves sharing the stream (`Rc`), for two tasks on the same loop. They can
    /// be joined again with [`OwnedReadHalf::reunite`].
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Rc::new(self);
        (OwnedReadHalf(shared.clone()), OwnedWriteHalf(shared))
    }

    /// Wraps a connected std stream, making it non-blocking and registering it with the
    /// current loop. Fails outside a runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_fd(OwnedFd::from(stream))
    }

    /// Deregisters the stream from this loop and returns it as a std stream, still
    /// non-blocking: the way to move a connection to another loop, which calls
    /// [`from_std`](TcpStream::from_std).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(std::net::TcpStream::from(self.source.into_fd()?))
    }
}

impl_async_read!(for TcpStream);
impl_async_read!(<'a> for &'a TcpStream);
impl_async_write!(for TcpStream);
impl_async_write!(<'a> for &'a TcpStream);

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpStream");
        if let Ok(addr) = self.local_addr() {
            d.field("local", &addr);
        }
        if let Ok(addr) = self.peer_addr() {
            d.field("peer", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
