//! `Source`: an owned socket registered with the current reactor, and the read and
//! write paths every socket type shares.
//!
//! # Syscall economy
//!
//! Each operation is one syscall through [`Registration::poll_read_io`] or
//! [`Registration::poll_write_io`], which wait for readiness, spend one unit of the
//! cooperative budget for each syscall that did something (one that got `WouldBlock`
//! gives its unit back) and, on `WouldBlock`, clear readiness and store the task's
//! waker.
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

use reactor::{Handle, Registration};

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
        let registration = Handle::try_current()?.register(fd.as_raw_fd())?;
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
        let n = ready!(
            self.registration
                .poll_read_io(cx, || sys::recv(self.fd(), buf, 0))
        )?;
        if n > 0 && n < buf.len() {
            self.registration.clear_after_short_read();
        }
        Poll::Ready(Ok(n))
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
        let len = buf.len();
        let n = ready!(
            self.registration
                .poll_read_io(cx, || sys::recv_uninit(self.fd(), buf))
        )?;
        if n > 0 && n < len {
            self.registration.clear_after_short_read();
        }
        Poll::Ready(Ok(n))
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub(crate) fn poll_peek(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.registration
            .poll_read_io(cx, || sys::recv(self.fd(), buf, libc::MSG_PEEK))
    }

    /// Writes to a stream socket.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = ready!(
            self.registration
                .poll_write_io(cx, || sys::send(self.fd(), buf))
        )?;
        if n < buf.len() {
            self.registration.clear_after_short_write();
        }
        Poll::Ready(Ok(n))
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
        let n = ready!(
            self.registration
                .poll_write_io(cx, || sys::send_vectored(self.fd(), bufs))
        )?;
        if n < total {
            self.registration.clear_after_short_write();
        }
        Poll::Ready(Ok(n))
    }

    /// Receives one datagram and its source.
    pub(crate) fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> Poll<io::Result<(usize, SockAddr)>> {
        self.registration
            .poll_read_io(cx, || sys::recv_from(self.fd(), buf, flags))
    }

    /// Receives one datagram on a connected socket.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        flags: libc::c_int,
    ) -> Poll<io::Result<usize>> {
        self.registration
            .poll_read_io(cx, || sys::recv(self.fd(), buf, flags))
    }

    /// Sends one datagram to `addr`.
    pub(crate) fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: &SockAddr,
    ) -> Poll<io::Result<usize>> {
        self.registration
            .poll_write_io(cx, || sys::send_to(self.fd(), buf, addr))
    }

    /// Sends one datagram on a connected socket.
    pub(crate) fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.registration
            .poll_write_io(cx, || sys::send(self.fd(), buf))
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
            match ready!(
                self.registration
                    .poll_read_io(cx, || sys::accept(self.fd()))
            ) {
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
