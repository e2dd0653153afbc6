//! `Source`: an owned socket registered with the current reactor, and the read and
//! write paths every socket type shares.
//!
//! # Syscall economy
//!
//! Each operation is one syscall through [`Registration::poll_read_with`] or
//! [`Registration::poll_write_with`], which wait for readiness, spend one unit of the
//! cooperative budget for each syscall that did something (one that got `WouldBlock`
//! gives its unit back) and, on `WouldBlock`, clear readiness and store the task's
//! waker.
//!
//! # io_uring
//!
//! On the io_uring backend the socket is registered for I/O by completion
//! ([`Handle::register_socket`]), and the same calls take their second closure instead:
//! the bytes move through the reactor's [`Completion`](reactor::Completion) (copied out
//! of received buffers, copied into the socket's send buffer), with no syscall of their
//! own; the loop's one `io_uring_enter` per turn does the rest. Writes then return once
//! the bytes are in the send buffer; `poll_flush` waits until the kernel took them, and
//! closing the write side waits for that too.
//!
//! # A socket that outlives its runtime
//!
//! The registration keeps its reactor's slab but not the reactor: once the runtime
//! that created the socket is dropped, every operation fails at once with an error of
//! kind `Other` that says the runtime was dropped (see [`Registration`]), instead of
//! waiting for events nobody will report. `into_std` still works, so the socket can be
//! moved to a live runtime with `from_std`. On a
//! stream socket a read shorter than its buffer means the receive queue is empty, and a
//! short write means the send queue is full: the source then clears readiness at once
//! (on the edge-triggered backends), so the next call waits for the next edge instead of
//! making a syscall that would fail with `EAGAIN`. Datagram sockets never do this: a
//! short datagram says nothing about the next one.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll, ready};

use reactor::{BackendKind, Handle, Registration};

use crate::sys::{self, SockAddr};

/// An fd registered with the current reactor.
pub(crate) struct Source {
    // Declared before `fd`, so it deregisters before the fd closes.
    registration: Registration,
    fd: OwnedFd,
}

impl Source {
    /// Registers `fd` with the current thread's reactor; fails outside a runtime.
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Source> {
        #[cfg(evloop_apple)]
        sys::set_nosigpipe(fd.as_fd())?;
        let registration = Handle::try_current()?.register_socket(fd.as_raw_fd())?;
        Ok(Source { registration, fd })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Deregisters and returns the fd, still non-blocking.
    pub(crate) fn into_fd(self) -> io::Result<OwnedFd> {
        let Source { registration, fd } = self;
        registration.deregister()?;
        Ok(fd)
    }

    /// Reads from a stream socket.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // The short-read check sits in the syscall's closure: the completion path,
        // which has no readiness to clear, does not go through it.
        self.registration.poll_read_with(
            cx,
            buf,
            |buf| {
                let n = sys::recv(self.fd(), buf, 0)?;
                if n > 0 && n < buf.len() {
                    self.registration.clear_after_short_read();
                }
                Ok(n)
            },
            |c, cx, buf| c.poll_recv(cx, buf),
        )
    }

    /// Reads from a stream socket into uninitialised memory.
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.registration.poll_read_with(
            cx,
            buf,
            |buf| {
                let n = sys::recv_uninit(self.fd(), buf)?;
                if n > 0 && n < buf.len() {
                    self.registration.clear_after_short_read();
                }
                Ok(n)
            },
            |c, cx, buf| c.poll_recv_uninit(cx, buf),
        )
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.registration.poll_read_with(
            cx,
            buf,
            |buf| sys::recv(self.fd(), buf, libc::MSG_PEEK),
            |c, cx, buf| c.poll_peek(cx, buf),
        )
    }

    /// Writes to a stream socket.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.registration.poll_write_with(
            cx,
            buf,
            |buf| {
                let n = sys::send(self.fd(), buf)?;
                if n < buf.len() {
                    self.registration.clear_after_short_write();
                }
                Ok(n)
            },
            |c, cx, buf| c.poll_send(cx, &[IoSlice::new(buf)]),
        )
    }

    /// Writes several buffers to a stream socket in one `sendmsg`.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Only what one `sendmsg` takes counts: a write shorter than that means the send
        // buffer is full, while clearing readiness on a write cut short by the iovec
        // limit would wait for an edge that never comes.
        let bufs = &bufs[..bufs.len().min(sys::MAX_IOVECS)];
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        self.registration.poll_write_with(
            cx,
            bufs,
            |bufs| {
                let n = sys::send_vectored(self.fd(), bufs)?;
                if n < total {
                    self.registration.clear_after_short_write();
                }
                Ok(n)
            },
            |c, cx, bufs| c.poll_send(cx, bufs),
        )
    }

    /// Waits until every byte written was taken by the kernel: at once on the readiness
    /// backends (each write was a `send`), once the send buffer is drained on io_uring.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.registration.completion() {
            Some(c) => c.poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Shuts down one or both directions. On io_uring the write side goes down after
    /// the bytes still in the send buffer, so the peer reads them all first.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        if let Some(c) = self.registration.completion() {
            return c.shutdown(how);
        }
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        sys::shutdown(self.fd(), how)
    }

    /// Closes the write side once every byte written went out (`poll_close`).
    pub(crate) fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush(cx))?;
        Poll::Ready(self.shutdown(std::net::Shutdown::Write))
    }

    /// Receives one datagram and its source.
    pub(crate) fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> Poll<io::Result<(usize, SockAddr)>> {
        self.registration.poll_read_with(
            cx,
            buf,
            |buf| sys::recv_from(self.fd(), buf, flags),
            |c, cx, buf| {
                c.poll_recv_from(cx, buf, flags & libc::MSG_PEEK != 0)
                    .map_ok(|(n, addr)| (n, SockAddr::from_raw(addr)))
            },
        )
    }

    /// Receives one datagram on a connected socket.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> Poll<io::Result<usize>> {
        self.registration.poll_read_with(
            cx,
            buf,
            |buf| sys::recv(self.fd(), buf, flags),
            |c, cx, buf| {
                c.poll_recv_from(cx, buf, flags & libc::MSG_PEEK != 0)
                    .map_ok(|(n, _)| n)
            },
        )
    }

    /// Sends one datagram to `addr`, or to the connected peer when `addr` is `None`. On
    /// io_uring the datagram is in flight between polls: `op` keeps it.
    pub(crate) fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: Option<&SockAddr>,
        op: &mut Option<reactor::Operation>,
    ) -> Poll<io::Result<usize>> {
        self.registration.poll_write_with(
            cx,
            op,
            |_| match addr {
                Some(addr) => sys::send_to(self.fd(), buf, addr),
                None => sys::send(self.fd(), buf),
            },
            |c, cx, op| c.poll_send_to(cx, buf, addr.map(SockAddr::as_raw).as_ref(), op),
        )
    }

    /// Accepts one connection, retrying `ECONNABORTED` (and, inside `poll_read_io`,
    /// `EINTR` and `EAGAIN`). Any other error, `EMFILE` and `ENFILE` included, goes to the
    /// caller with readiness left as it was: the connection is still queued, and the next
    /// call tries again.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(OwnedFd, SockAddr)>> {
        loop {
            match ready!(self.registration.poll_read_with(
                cx,
                (),
                |_| sys::accept(self.fd()),
                // A multishot accept cannot report peers: ask the new socket.
                |c, cx, _| {
                    c.poll_accept(cx)
                        .map(|r| r.and_then(|fd| Ok((sys::peer_addr(fd.as_fd())?, fd))))
                        .map_ok(|(addr, fd)| (fd, addr))
                }
            )) {
                Err(e) if is_retriable_accept_error(&e) => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    /// Waits for a non-blocking `connect` to finish, then reports its outcome.
    pub(crate) fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.registration.poll_write_ready(cx))?;
        match sys::take_error(self.fd()) {
            Ok(None) => Poll::Ready(Ok(())),
            Ok(Some(e)) | Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Connects `fd` to `addr` from scratch: a non-blocking `connect` that completes
    /// when writable on the readiness backends, `IORING_OP_CONNECT` on io_uring.
    pub(crate) async fn connect(fd: OwnedFd, addr: &SockAddr) -> io::Result<Source> {
        if Handle::try_current()?.backend() == BackendKind::Uring {
            let source = Source::new(fd)?;
            let raw = addr.as_raw();
            std::future::poll_fn(|cx| match source.registration.completion() {
                Some(c) => c.poll_connect(cx, &raw),
                // The runtime was dropped meanwhile: this says so.
                None => source.registration.poll_write_ready(cx).map_ok(drop),
            })
            .await?;
            return Ok(source);
        }
        // Registered only once the connect started: an unconnected socket reports a
        // hang-up, which would stick.
        match sys::connect(fd.as_fd(), addr) {
            Ok(()) => Source::new(fd),
            Err(e) if is_in_progress(&e) => {
                let source = Source::new(fd)?;
                std::future::poll_fn(|cx| source.poll_connected(cx)).await?;
                Ok(source)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn local_inet(&self) -> io::Result<SocketAddr> {
        sys::local_addr(self.fd())?.to_inet()
    }

    pub(crate) fn peer_inet(&self) -> io::Result<SocketAddr> {
        sys::peer_addr(self.fd())?.to_inet()
    }
}

/// libevent's `EVUTIL_ERR_ACCEPT_RETRIABLE`, less `EINTR` and `EAGAIN`, which
/// `poll_read_io` handles: a connection that was reset while queued.
fn is_retriable_accept_error(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ECONNABORTED | libc::EPROTO))
}

/// Whether a connect error means "in progress: wait for writable".
pub(crate) fn is_in_progress(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINPROGRESS))
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("fd", &self.fd.as_raw_fd())
            .field("token", &self.registration.token())
            .finish()
    }
}
