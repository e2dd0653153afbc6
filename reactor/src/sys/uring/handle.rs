//! The completion side as the facade sees it: [`Ring`] (the driver) and
//! [`CompletionSocket`] (one socket's state), the two types `completion.rs`,
//! `registration.rs` and `shared.rs` name. Every method forwards to the driver or the
//! socket; `sys/none.rs` has the same two types, with no values, where there is no
//! io_uring.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::Driver;
use super::dgram::DgramSend;
use super::socket::Socket;
use super::stream::Dst;
use crate::Readiness;
use crate::event::Event;
use crate::slab::{Direction, Slot};
use crate::source::{RawSocketAddr, RawSource};
use crate::stats::UringStats;

/// The io_uring driver, shared by the backend, the reactor and its completion sockets.
#[derive(Clone)]
pub(crate) struct Ring(pub(crate) Rc<Driver>);

/// The completion state of one socket registered with `register_socket`.
pub(crate) struct CompletionSocket(Rc<Socket>);

/// A datagram send in flight (see `Completion::poll_send_to`).
pub(crate) struct SendOp(Rc<DgramSend>);

impl Ring {
    /// The state of a socket whose bytes move by completion, using `slot`'s wakers.
    pub(crate) fn socket(&self, fd: RawSource, slot: Rc<Slot>) -> CompletionSocket {
        CompletionSocket(Rc::new(Socket::new(fd, slot)))
    }

    /// Whether the ring was closed (the reactor dropped).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// A dropped registration's socket: reads are cancelled, what was written still goes
    /// out.
    pub(crate) fn retire(&self, socket: &CompletionSocket) {
        self.0.retire(&socket.0);
    }

    /// Waits, up to `limit`, until the kernel holds nothing of `socket`'s, handling every
    /// completion meanwhile (their wakers go to `wake`, their readiness to `events`).
    pub(crate) fn quiesce(
        &self,
        socket: &CompletionSocket,
        limit: Duration,
        events: &mut Vec<Event>,
        wake: &mut Vec<Waker>,
    ) -> io::Result<bool> {
        self.0.quiesce(&socket.0, limit, events, wake)
    }

    /// Wakes the tasks of the completions the last wait handled.
    #[inline]
    pub(crate) fn wake_completed(&self) {
        self.0.wake_completed();
    }

    pub(crate) fn stats(&self) -> UringStats {
        self.0.stats()
    }
}

impl CompletionSocket {
    #[inline]
    pub(crate) fn poll_recv(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(&ring.0, cx, Dst::Init(buf), peek)
    }

    #[inline]
    pub(crate) fn poll_recv_uninit(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(&ring.0, cx, Dst::Uninit(buf), false)
    }

    #[inline]
    pub(crate) fn poll_send(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send(&ring.0, cx, bufs)
    }

    #[inline]
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_flush(cx)
    }

    #[inline]
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.0.shutdown(how)
    }

    #[inline]
    pub(crate) fn poll_accept(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<OwnedFd>> {
        self.0.poll_accept(&ring.0, cx)
    }

    #[inline]
    pub(crate) fn poll_connect(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        addr: &RawSocketAddr,
    ) -> Poll<io::Result<()>> {
        self.0.poll_connect(&ring.0, cx, &addr.0, addr.1)
    }

    #[inline]
    pub(crate) fn poll_recv_from(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, RawSocketAddr)>> {
        self.0
            .poll_recv_from(&ring.0, cx, Dst::Init(buf), peek)
            .map_ok(|(n, addr, len)| (n, (addr, len)))
    }

    #[inline]
    pub(crate) fn poll_send_to(
        &self,
        ring: &Ring,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: Option<&RawSocketAddr>,
        op: &mut Option<SendOp>,
    ) -> Poll<io::Result<usize>> {
        let mut sent = op.take().map(|o| o.0);
        let r = self
            .0
            .poll_send_to(&ring.0, cx, buf, addr.map(|a| (&a.0, a.1)), &mut sent);
        *op = sent.map(SendOp);
        r
    }

    #[inline]
    pub(crate) fn poll_ready(
        &self,
        ring: &Ring,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        self.0.poll_ready(&ring.0, dir, cx)
    }

    /// What the socket holds that its fd cannot carry back to its owner, if anything.
    pub(crate) fn undelivered(&self) -> Option<String> {
        self.0.undelivered()
    }
}
