//! `TcpListener`: a listening TCP socket on the reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::task::{Context, Poll, ready};

use crate::addr::{ToSocketAddrs, each_addr};
use crate::source::Source;
use crate::tcp::{TcpSocket, TcpStream};

/// A TCP socket that accepts connections.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let listener = net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let client = net::TcpStream::connect(addr).await?;
/// let (server, peer) = listener.accept().await?;
/// assert_eq!(peer, client.local_addr()?);
/// client.write_all(b"hi").await?;
/// let mut buf = [0; 2];
/// server.read_exact(&mut buf).await?;
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// It is `!Send`: it belongs to the loop that created it. To move a listener to another
/// loop, turn it into a std listener with [`into_std`](TcpListener::into_std), send that,
/// and call [`from_std`](TcpListener::from_std) there. For one listener per loop on a
/// shared port, bind each with [`TcpSocket::set_reuseport`].
pub struct TcpListener {
    source: Source,
}

impl TcpListener {
    /// Binds to `addr` with `SO_REUSEADDR` and starts listening. A host name is resolved
    /// on the blocking pool, and each of its addresses is tried in turn; the error names
    /// the last address that failed.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, "could not bind to", |a| async move {
            let socket = TcpSocket::for_addr(a)?;
            socket.set_reuseaddr(true)?;
            socket.bind(a)?;
            socket.listen(crate::DEFAULT_BACKLOG as u32)
        })
        .await
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> io::Result<TcpListener> {
        Ok(TcpListener {
            source: Source::new(fd)?,
        })
    }

    /// Accepts one connection and returns it with the peer's address.
    ///
    /// `EINTR`, `ECONNABORTED` and `EAGAIN` are handled inside: the call waits for the
    /// next connection. Any other error is returned. When the process (`EMFILE`) or the
    /// system (`ENFILE`) is out of file descriptors, the connection stays queued and the
    /// listener stays ready, so calling `accept` again at once would spin. Back off
    /// instead, then go on; the listener accepts again once descriptors are freed:
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// async fn serve(listener: net::TcpListener) {
    ///     loop {
    ///         match listener.accept().await {
    ///             Ok((stream, _peer)) => drop(runtime::spawn(async move {
    ///                 let _ = stream.write_all(b"hello\n").await;
    ///             })),
    ///             Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
    ///                 runtime::time::sleep(Duration::from_millis(10)).await;
    ///             }
    ///             Err(e) => eprintln!("accept: {e}"),
    ///         }
    ///     }
    /// }
    /// # let _ = serve;
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for one connection; see [`accept`](TcpListener::accept).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (fd, addr) = ready!(self.source.poll_accept(cx))?;
        let addr = addr.to_inet()?;
        Poll::Ready(TcpStream::from_fd(fd).map(|s| (s, addr)))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.source.local_inet()
    }

    /// Sets the IP time-to-live of the listener's packets (1 to 255; `InvalidInput`
    /// else). Connections accepted afterwards start with it.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        crate::sys::set_ttl(self.as_fd(), ttl)
    }

    /// The IP time-to-live set on the listener.
    pub fn ttl(&self) -> io::Result<u32> {
        crate::sys::ttl(self.as_fd())
    }

    /// Wraps a std listener (bound and listening), making it non-blocking and
    /// registering it with the current loop. Fails outside a runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_fd(OwnedFd::from(listener))
    }

    /// Deregisters the listener from this loop and returns it as a std listener, still
    /// non-blocking: the way to hand it to another loop (which calls
    /// [`from_std`](TcpListener::from_std)).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(std::net::TcpListener::from(self.source.into_fd()?))
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TcpListener");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
