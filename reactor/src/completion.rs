//! I/O by completion: what a socket registered with
//! [`Handle::register_socket`](crate::Handle::register_socket) does on the io_uring
//! backend instead of waiting for readiness.
//!
//! Such a registration's readiness is [`Readiness::COMPLETION`] and never changes (until
//! the reactor is dropped: then `SHUTDOWN`). A socket type written once for every
//! backend calls [`Registration::poll_read_with`] and [`Registration::poll_write_with`]
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
//! On systems without io_uring the type exists but is never handed out.

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use crate::Readiness;
use crate::reactor::shut_down_error;
use crate::registration::{Direction, Registration};

#[cfg(evloop_uring)]
use crate::sys::uring::Driver;
#[cfg(evloop_uring)]
use crate::sys::uring_dgram::DgramSend;
#[cfg(evloop_uring)]
use crate::sys::uring_socket::Socket;
#[cfg(evloop_uring)]
use crate::sys::uring_stream::Dst;
#[cfg(evloop_uring)]
use std::rc::Rc;

/// The completion-based I/O of one socket registration (see the [module
/// docs](crate::completion)). Borrowed from its [`Registration`].
pub struct Completion<'a> {
    #[cfg(evloop_uring)]
    driver: &'a Driver,
    #[cfg(evloop_uring)]
    socket: &'a Rc<Socket>,
    #[cfg(not(evloop_uring))]
    never: Never,
    #[cfg(not(evloop_uring))]
    _registration: std::marker::PhantomData<&'a Registration>,
}

/// No value: a `Completion` cannot exist where there is no io_uring.
#[cfg(not(evloop_uring))]
#[derive(Clone, Copy)]
enum Never {}

/// A datagram send in flight, kept by the future that sent it so that its next poll
/// finds the result ([`Completion::poll_send_to`]). Dropping it abandons the result; the
/// datagram may still be sent.
pub struct Operation {
    #[cfg(evloop_uring)]
    sent: Rc<DgramSend>,
    #[cfg(not(evloop_uring))]
    _never: Never,
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

/// The io_uring backend's counters ([`Reactor::uring_stats`](crate::Reactor::uring_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringStats {
    /// Operations submitted whose last completion has not arrived.
    pub in_flight: u64,
    /// The provided buffers the ring has.
    pub buffers: u16,
    /// How many of them the kernel can fill now (the others hold bytes not read yet).
    pub buffers_in_kernel: u32,
    /// How many times a receive stopped because every buffer was taken (`ENOBUFS`); it
    /// goes on once one is read.
    pub starved_receives: u64,
}

/// A socket address in the kernel's layout, and its length.
pub type RawSocketAddr = (libc::sockaddr_storage, libc::socklen_t);

#[cfg(evloop_uring)]
impl Completion<'_> {
    // Each method is a thin forward to the socket's state: inlined, so that the socket
    // type's call reaches it directly.

    /// Reads into `buf`: `Ok(0)` at the end of the stream (or for an empty `buf`).
    #[inline]
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket
            .poll_recv(self.driver, cx, Dst::Init(buf), false)
    }

    /// Reads into possibly uninitialised memory; the first `n` bytes returned are
    /// initialised.
    #[inline]
    pub fn poll_recv_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.socket
            .poll_recv(self.driver, cx, Dst::Uninit(buf), false)
    }

    /// Copies the next bytes without consuming them.
    #[inline]
    pub fn poll_peek(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_recv(self.driver, cx, Dst::Init(buf), true)
    }

    /// Copies as much of `bufs` as the socket's send bound allows into its send buffer,
    /// to go out at the next turn; `Pending` while the bound is reached.
    #[inline]
    pub fn poll_send(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.socket.poll_send(self.driver, cx, bufs)
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
        self.socket.poll_accept(self.driver, cx)
    }

    /// Connects to `addr` (`IORING_OP_CONNECT`).
    #[inline]
    pub fn poll_connect(&self, cx: &mut Context<'_>, addr: &RawSocketAddr) -> Poll<io::Result<()>> {
        self.socket.poll_connect(self.driver, cx, &addr.0, addr.1)
    }

    /// Receives (or peeks at) one datagram: its length (cut to `buf`) and its source.
    #[inline]
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, RawSocketAddr)>> {
        self.socket
            .poll_recv_from(self.driver, cx, Dst::Init(buf), peek)
            .map_ok(|(n, addr, len)| (n, (addr, len)))
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
        let r =
            self.socket
                .poll_send_to(self.driver, cx, buf, addr.map(|a| (&a.0, a.1)), &mut sent);
        *op = sent.map(|sent| Operation { sent });
        r
    }

    fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        self.socket.poll_ready(self.driver, dir, cx)
    }
}

#[cfg(not(evloop_uring))]
#[allow(missing_docs, clippy::missing_errors_doc)]
impl Completion<'_> {
    pub fn poll_recv(&self, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.never {}
    }
    pub fn poll_recv_uninit(
        &self,
        _: &mut Context<'_>,
        _: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        match self.never {}
    }
    pub fn poll_peek(&self, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.never {}
    }
    pub fn poll_send(&self, _: &mut Context<'_>, _: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.never {}
    }
    pub fn poll_flush(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.never {}
    }
    pub fn shutdown(&self, _: std::net::Shutdown) -> io::Result<()> {
        match self.never {}
    }
    pub fn poll_accept(&self, _: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        match self.never {}
    }
    pub fn poll_connect(&self, _: &mut Context<'_>, _: &RawSocketAddr) -> Poll<io::Result<()>> {
        match self.never {}
    }
    pub fn poll_recv_from(
        &self,
        _: &mut Context<'_>,
        _: &mut [u8],
        _: bool,
    ) -> Poll<io::Result<(usize, RawSocketAddr)>> {
        match self.never {}
    }
    pub fn poll_send_to(
        &self,
        _: &mut Context<'_>,
        _: &[u8],
        _: Option<&RawSocketAddr>,
        _: &mut Option<Operation>,
    ) -> Poll<io::Result<usize>> {
        match self.never {}
    }
    fn poll_ready(&self, _: Direction, _: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        match self.never {}
    }
}

/// How long `into_std` waits for the kernel to let go of a completion socket.
#[cfg(evloop_uring)]
const QUIESCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

#[cfg(evloop_uring)]
impl crate::reactor::Shared {
    /// A completion registration's drop: its slot is freed and its socket retired (see
    /// `uring.rs`): reads are cancelled, what was written still goes out.
    pub(crate) fn retire(
        &self,
        token: crate::Token,
        socket: &Rc<crate::sys::uring_socket::Socket>,
    ) {
        let removed = self.slab.borrow_mut().remove(token);
        if let Some(driver) = &self.driver
            && !driver.is_closed()
        {
            driver.retire(socket);
        }
        // The slot's wakers are dropped outside the slab's borrow, as in `deregister`.
        drop(removed);
    }

    /// Takes a completion socket off the ring before its fd goes back to its owner
    /// (`into_std`): cancels its reads, lets its writes finish, waiting at most
    /// [`QUIESCE_LIMIT`] while handling every completion (and waking what they wake).
    /// Fails if the socket still holds something its fd cannot carry (bytes received
    /// and not read, connections accepted and not taken), or if the kernel did not let
    /// go in time.
    pub(crate) fn quiesce(&self, socket: &Rc<crate::sys::uring_socket::Socket>) -> io::Result<()> {
        let Some(driver) = self.driver.as_ref().filter(|d| !d.is_closed()) else {
            return Ok(());
        };
        let mut events = Vec::new();
        let mut wake = Vec::new();
        let quiet = driver.quiesce(socket, QUIESCE_LIMIT, &mut events, &mut wake);
        {
            let slab = self.slab.borrow();
            for ev in &events {
                if ev.token != crate::sys::NOTIFY_TOKEN
                    && let Some((reader, writer)) = slab.dispatch(ev.token, ev.readiness)
                {
                    wake.extend(reader);
                    wake.extend(writer);
                }
            }
        }
        for w in wake {
            w.wake();
        }
        if !quiet? {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "cannot hand the socket back: the kernel still held its operations \
                     {QUIESCE_LIMIT:?} after they were cancelled or flushed"
                ),
            ));
        }
        match socket.undelivered() {
            None => Ok(()),
            Some(what) => Err(io::Error::other(format!(
                "cannot hand the socket back: {what}, and its fd cannot carry them \
                 (read them first)"
            ))),
        }
    }
}

impl Registration {
    /// The completion-based I/O of a socket registered with
    /// [`Handle::register_socket`](crate::Handle::register_socket) on io_uring; `None`
    /// for every other registration, and after the reactor was dropped.
    #[inline]
    pub fn completion(&self) -> Option<Completion<'_>> {
        #[cfg(evloop_uring)]
        {
            let socket = self.socket.as_ref()?;
            let driver = self.shared.driver.as_ref()?;
            if self.readiness().is_shutdown() {
                return None;
            }
            Some(Completion { driver, socket })
        }
        #[cfg(not(evloop_uring))]
        None
    }

    /// A read-side operation either way (module docs): on a readiness registration,
    /// `op(&mut data)` runs as [`poll_read_io`](Registration::poll_read_io) runs its
    /// operation (when read-ready, clearing readiness on `WouldBlock`, spending the
    /// budget); on a completion registration, `complete` runs instead, with `data`.
    /// After the reactor was dropped, both fail as `poll_read_io` does.
    #[inline(always)]
    pub fn poll_read_with<D, R>(
        &self,
        cx: &mut Context<'_>,
        data: D,
        op: impl FnMut(&mut D) -> io::Result<R>,
        complete: impl FnOnce(Completion<'_>, &mut Context<'_>, D) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(Direction::Read, cx, data, op, complete)
    }

    /// The write-side twin of [`poll_read_with`](Registration::poll_read_with).
    #[inline(always)]
    pub fn poll_write_with<D, R>(
        &self,
        cx: &mut Context<'_>,
        data: D,
        op: impl FnMut(&mut D) -> io::Result<R>,
        complete: impl FnOnce(Completion<'_>, &mut Context<'_>, D) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(Direction::Write, cx, data, op, complete)
    }

    /// The not-ready path of a registration that is shut down or moves bytes by
    /// completion.
    #[inline(never)]
    pub(crate) fn poll_special_io<D, R>(
        &self,
        cx: &mut Context<'_>,
        data: D,
        complete: impl FnOnce(Completion<'_>, &mut Context<'_>, D) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match self.completion() {
            Some(c) => complete(c, cx, data),
            None => Poll::Ready(Err(shut_down_error())),
        }
    }

    /// `poll_read_ready`/`poll_write_ready` of a registration that is shut down or moves
    /// bytes by completion: for the latter, readable once received bytes, the end of the
    /// stream or an error wait (arming the receive if needed), writable while its send
    /// buffer has room.
    #[inline(never)]
    pub(crate) fn poll_special_ready(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        match self.completion() {
            Some(c) => c.poll_ready(dir, cx),
            None => Poll::Ready(Err(shut_down_error())),
        }
    }
}
