//! I/O by completion: what a socket registered with
//! [`Handle::register_socket`](crate::Handle::register_socket) does on the io_uring
//! backend instead of waiting for readiness.
//!
//! Such a registration's readiness is [`Readiness::COMPLETION`] and never changes (until
//! the reactor is dropped: then `SHUTDOWN`). A socket type written once for every
//! backend calls [`Registration::poll_read_with`](crate::Registration::poll_read_with) and
//! [`Registration::poll_write_with`](crate::Registration::poll_write_with)
//! with two ways of doing the same operation: a non-blocking syscall, run when the fd is
//! ready (epoll, kqueue, poll), and a closure given a [`Completion`] (io_uring). Which
//! one runs is decided on the way to `Pending`, so the readiness path pays nothing for
//! the other.
//!
//! A [`Completion`] copies out of, and into, buffers the reactor owns, so the caller's
//! buffers are never lent to the kernel: a future dropped at any point leaves nothing
//! dangling. Reads copy out of the received buffers; writes copy into the socket's send
//! buffer and return at once, and [`Completion::poll_flush`] waits until the kernel has
//! taken every byte. Errors of a send that already returned surface on the next write
//! or flush. Every operation that moves data spends one unit of the task's
//! [`budget`](crate::budget), as a syscall does on the readiness backends.
//!
//! On systems without io_uring the type exists but is never handed out: the completion
//! side there has no values (`sys/none.rs`).

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use crate::Readiness;
use crate::slab::Direction;
use crate::source::RawSocketAddr;
use crate::sys::{CompletionSocket, Ring, SendOp};

/// The completion-based I/O of one socket registration (see the [module
/// docs](crate::completion)). Borrowed from its [`Registration`](crate::Registration).
pub struct Completion<'a> {
    ring: &'a Ring,
    socket: &'a CompletionSocket,
}

/// A datagram send in flight, kept by the future that sent it so that its next poll
/// finds the result ([`Completion::poll_send_to`]). Dropping it abandons the result; the
/// datagram may still be sent.
pub struct Operation {
    sent: SendOp,
}

impl fmt::Debug for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operation").finish_non_exhaustive()
    }
}

impl fmt::Debug for Completion<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion").finish_non_exhaustive()
    }
}

impl<'a> Completion<'a> {
    pub(crate) fn new(ring: &'a Ring, socket: &'a CompletionSocket) -> Completion<'a> {
        Completion { ring, socket }
    }
}

impl Completion<'_> {
    // Each method is a thin forward to the socket's state: inlined, so that the socket
    // type's call reaches it directly.

    /// Reads into `buf`: `Ok(0)` at the end of the stream (or for an empty `buf`).
    #[inline]
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_recv(self.ring, cx, buf, false)
    }

    /// Reads into possibly uninitialised memory; the first `n` bytes returned are
    /// initialised.
    #[inline]
    pub fn poll_recv_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_recv_uninit(self.ring, cx, buf)
    }

    /// Copies the next bytes without consuming them.
    #[inline]
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_recv(self.ring, cx, buf, true)
    }

    /// Copies as much of `bufs` as the socket's send bound allows into its send buffer,
    /// to go out at the next turn; `Pending` while the bound is reached.
    #[inline]
    pub fn poll_send(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.socket.poll_send(self.ring, cx, bufs)
    }

    /// Waits until the kernel took every byte written.
    #[inline]
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.socket.poll_flush(cx)
    }

    /// Shuts down a direction. The write side waits for the bytes still to send, so
    /// the peer reads all of them before the end of the stream.
    #[inline]
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// Takes one accepted connection (non-blocking and close-on-exec). Errors such as
    /// `EMFILE` are returned once each; the next call accepts again.
    #[inline]
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        self.socket.poll_accept(self.ring, cx)
    }

    /// Connects to `addr` (`IORING_OP_CONNECT`).
    #[inline]
    pub fn poll_connect(&self, cx: &mut Context<'_>, addr: &RawSocketAddr) -> Poll<io::Result<()>> {
        self.socket.poll_connect(self.ring, cx, addr)
    }

    /// Receives (or peeks at) one datagram: its length (cut to `buf`) and its source.
    #[inline]
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, RawSocketAddr)>> {
        self.socket.poll_recv_from(self.ring, cx, buf, peek)
    }

    /// Sends one datagram to `addr` (or to the connected peer). The first call submits
    /// it and keeps it in `op`; the call that finds it complete returns its result.
    #[inline]
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: Option<&RawSocketAddr>,
        op: &mut Option<Operation>,
    ) -> Poll<io::Result<usize>> {
        let mut sent = op.take().map(|o| o.sent);
        let r = self
            .socket
            .poll_send_to(self.ring, cx, buf, addr, &mut sent);
        *op = sent.map(|sent| Operation { sent });
        r
    }

    pub(crate) fn poll_ready(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        self.socket.poll_ready(self.ring, dir, cx)
    }
}
