//! `UdpSocket`: UDP on the reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::addr::{ToSocketAddrs, each_addr, resolve};
use crate::source::Source;
use crate::sys::{self, SockAddr};

/// A UDP socket.
///
/// Each send or receive is one datagram and one syscall. A datagram shorter than the
/// buffer says nothing about the next one, so receives never clear readiness early.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let a = net::UdpSocket::bind("127.0.0.1:0").await?;
/// let b = net::UdpSocket::bind("127.0.0.1:0").await?;
/// a.send_to(b"hello", b.local_addr()?).await?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf).await?;
/// assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Like every socket here it is `!Send`; move it between loops with
/// [`into_std`](UdpSocket::into_std) and [`from_std`](UdpSocket::from_std).
pub struct UdpSocket {
    source: Source,
}

impl UdpSocket {
    /// Binds to `addr` (each resolved address in turn).
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(&addr, "could not bind to", |a| async move {
            let domain = match a {
                SocketAddr::V4(_) => libc::AF_INET,
                SocketAddr::V6(_) => libc::AF_INET6,
            };
            let fd = sys::socket(domain, libc::SOCK_DGRAM)?;
            sys::bind(fd.as_fd(), &SockAddr::from_inet(a))?;
            Ok(UdpSocket {
                source: Source::new(fd)?,
            })
        })
        .await
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there and
    /// [`recv`](UdpSocket::recv) takes datagrams only from there.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, "could not connect to", |a| async move {
            sys::connect(self.as_fd(), &SockAddr::from_inet(a))
        })
        .await
    }

    /// Sends one datagram to `target` (its first resolved address).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = resolve(&target).await?;
        let addr = match addrs.first() {
            Some(a) => SockAddr::from_inet(*a),
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no address to send to",
                ));
            }
        };
        let mut op = None;
        poll_fn(|cx| self.source.poll_send_to(cx, buf, Some(&addr), &mut op)).await
    }

    /// Receives one datagram and its source. Bytes past `buf.len()` are discarded.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = poll_fn(|cx| self.source.poll_recv_from(cx, buf, 0)).await?;
        Ok((n, addr.to_inet()?))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), but leaves the datagram queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = poll_fn(|cx| self.source.poll_recv_from(cx, buf, libc::MSG_PEEK)).await?;
        Ok((n, addr.to_inet()?))
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
        self.source.local_inet()
    }

    /// The connected peer's address (`NotConnected` if none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.source.peer_inet()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_BROADCAST,
            on.into(),
        )
    }

    /// Whether `SO_BROADCAST` is set.
    pub fn broadcast(&self) -> io::Result<bool> {
        Ok(sys::getsockopt(self.as_fd(), libc::SOL_SOCKET, libc::SO_BROADCAST)? != 0)
    }

    /// Sets the IP time-to-live of outgoing datagrams (1 to 255; `InvalidInput` else).
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        sys::set_ttl(self.as_fd(), ttl)
    }

    /// The IP time-to-live of outgoing datagrams.
    pub fn ttl(&self) -> io::Result<u32> {
        sys::ttl(self.as_fd())
    }

    /// Takes the pending socket error (`SO_ERROR`), if any, such as an ICMP
    /// port-unreachable report for a connected socket.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.as_fd())
    }

    /// Wraps a bound std socket, making it non-blocking and registering it with the
    /// current loop.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            source: Source::new(OwnedFd::from(socket))?,
        })
    }

    /// Deregisters the socket and returns it as a std socket, still non-blocking (to
    /// hand it to another loop).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(std::net::UdpSocket::from(self.source.into_fd()?))
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.source.fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.source.fd().as_raw_fd()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("UdpSocket");
        if let Ok(addr) = self.local_addr() {
            d.field("addr", &addr);
        }
        d.field("fd", &self.as_raw_fd()).finish()
    }
}
