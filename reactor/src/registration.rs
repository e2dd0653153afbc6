//! Registrations: one slot per fd, holding its readiness and a waker per direction.
//!
//! # Protocol
//!
//! The reactor is single-threaded, so a slot is plain `Cell` data; nothing here is shared
//! with another thread. Each slot is its own `Rc` allocation, reused through a free list:
//! the slab holds every slot, and a live [`Registration`] holds its own, so the hot
//! path (`poll_*_ready`, `clear_readiness`) reaches it without borrowing the slab or
//! indexing it. The slab's `RefCell` guards only its list of slots and its free list.
//!
//! | field       | written by                                   | read by                 |
//! |-------------|----------------------------------------------|-------------------------|
//! | `readiness` | the driver ORs in event bits; an I/O call that got `WouldBlock` clears its direction | `poll_*_ready` |
//! | `reader`    | `poll_read_ready` stores the task's waker when not ready | the driver takes and wakes it |
//! | `writer`    | `poll_write_ready`, likewise                  | the driver              |
//! | `generation`| bumped each time the slot is freed           | the driver, to drop events meant for a former owner |
//!
//! The readiness bits also take `SHUTDOWN`, set by the reactor's drop (below).
//!
//! A token is `generation << 32 | index`. Because the generation changes whenever a slot
//! is freed, an event carrying an old token never wakes the slot's new owner. The closed
//! bits are sticky; `READABLE`, `WRITABLE` and `ERROR` are cleared by `WouldBlock`.
//!
//! A waker is moved out of its `Cell` to be compared, cloned or dropped, and put back
//! after: no reference into a slot is held while foreign code (a waker's `clone` or
//! `drop`) runs.
//!
//! # When the reactor is dropped
//!
//! A registration may outlive its reactor (a socket kept after its runtime was
//! dropped). The reactor's drop sets every occupied slot's readiness to `SHUTDOWN`
//! alone and wakes its wakers. Since no direction is ready any more, every call takes
//! the not-ready path of `poll_*_ready`, which is where `SHUTDOWN` is checked: it
//! returns an error instead of storing a waker. The ready path, the hot one, pays
//! nothing for this. Deregistering such a registration succeeds and does nothing more
//! (the backend is closed already), so `into_std` still hands back the fd.
//!
//! On the edge-triggered backends a read shorter than its buffer (or a short write) also
//! clears readiness: the kernel will report the next edge. The poll backend is
//! level-triggered and polls every direction that has a stored waker, so it never needs
//! the early clear and never loses a wakeup.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::Readiness;
use crate::budget;
use crate::completion::Completion;
use crate::errors::shut_down_error;
use crate::shared::Shared;
use crate::slab::{Direction, Slot, Token};
use crate::source::RawSource;
use crate::sys::CompletionSocket;

/// An fd registered with a reactor: its readiness and the tasks waiting on it.
///
/// Created by [`Handle::register`](crate::Handle::register). The fd is registered once,
/// for read and write together, and deregistered when this value is dropped (or by
/// [`deregister`](Registration::deregister)). A `Registration` does not own the fd: the
/// owner must keep it open while the registration lives and close it afterwards. It is
/// `!Send`: it belongs to the thread of its reactor.
///
/// If the [`Reactor`](crate::Reactor) is dropped first, the registration is shut down:
/// [`readiness`](Registration::readiness) is [`Readiness::SHUTDOWN`], the `poll_*_ready`
/// methods, `readable`, `writable` and the `poll_*_io` methods return an error of kind
/// `Other` saying the reactor was dropped (at once, never `Pending`), and
/// [`deregister`](Registration::deregister) succeeds.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::task::{Context, Poll, Waker};
///
/// let reactor = reactor::Reactor::new()?;
/// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
/// a.set_nonblocking(true)?;
/// let reg = reactor.handle().register(a.as_raw_fd())?;
/// drop(reactor);
/// let mut cx = Context::from_waker(Waker::noop());
/// let Poll::Ready(Err(e)) = reg.poll_read_ready(&mut cx) else {
///     panic!("a registration of a dropped reactor must fail, not wait");
/// };
/// assert!(e.to_string().contains("has been dropped"));
/// assert!(reg.readiness().is_shutdown());
/// reg.deregister()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Registration {
    pub(crate) shared: Rc<Shared>,
    /// This registration's slot, also in the slab; it stays this registration's until
    /// its drop or `deregister` frees it.
    pub(crate) slot: Rc<Slot>,
    token: Token,
    fd: RawSource,
    /// The completion state of a socket registered with `register_socket` on io_uring.
    pub(crate) socket: Option<CompletionSocket>,
}

impl Registration {
    pub(crate) fn new(
        shared: Rc<Shared>,
        slot: Rc<Slot>,
        token: Token,
        fd: RawSource,
    ) -> Registration {
        Registration {
            shared,
            slot,
            token,
            fd,
            socket: None,
        }
    }

    /// The registered fd.
    pub fn fd(&self) -> RawSource {
        self.fd
    }

    /// This registration's slot and generation.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Whether readiness may be cleared after a short read or write (true on the
    /// edge-triggered backends, false on poll).
    pub fn is_edge_triggered(&self) -> bool {
        self.shared.edge_triggered
    }

    /// The readiness bits currently set.
    pub fn readiness(&self) -> Readiness {
        self.slot.readiness.get()
    }

    /// True once the peer has closed its write side (reads will see EOF).
    pub fn is_read_closed(&self) -> bool {
        self.readiness().is_read_closed()
    }

    /// True once writing can no longer succeed.
    pub fn is_write_closed(&self) -> bool {
        self.readiness().is_write_closed()
    }

    #[inline]
    fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        let slot = &*self.slot;
        debug_assert!(slot.occupied.get() && slot.generation.get() == self.token.generation);
        let readiness = slot.readiness.get();
        if readiness.intersects(dir.interest()) {
            return Poll::Ready(Ok(readiness));
        }
        // Only on the way to `Pending`: the reactor's drop left `SHUTDOWN` alone, and a
        // completion registration never has a readiness bit, so every call of either
        // comes here.
        if readiness.intersects(Readiness::SPECIAL) {
            return self.poll_special_ready(dir, cx);
        }
        slot.store_waker(dir, cx);
        Poll::Pending
    }

    /// `Ready(Ok(readiness))` once the fd is readable, read-closed or in error;
    /// otherwise stores the task's waker (replacing any earlier one) and returns
    /// `Pending`. After the reactor was dropped: `Ready(Err(..))`, an error of kind
    /// `Other` that says so, at once and on every call, with no waker stored.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        self.poll_ready(Direction::Read, cx)
    }

    /// `Ready(Ok(readiness))` once the fd is writable, write-closed or in error;
    /// otherwise stores the task's waker (replacing any earlier one) and returns
    /// `Pending`. After the reactor was dropped: `Ready(Err(..))`, as
    /// [`poll_read_ready`](Registration::poll_read_ready).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        self.poll_ready(Direction::Write, cx)
    }

    /// Waits until the fd is readable (or read-closed, or in error). Fails, instead of
    /// waiting forever, once the reactor was dropped.
    pub async fn readable(&self) -> io::Result<Readiness> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the fd is writable (or write-closed, or in error). Fails, instead of
    /// waiting forever, once the reactor was dropped.
    pub async fn writable(&self) -> io::Result<Readiness> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Clears the given bits, as after an operation that returned `WouldBlock`. The
    /// closed bits are sticky and are never cleared.
    #[inline]
    pub fn clear_readiness(&self, bits: Readiness) {
        let keep = Readiness::READ_CLOSED | Readiness::WRITE_CLOSED;
        let slot = &self.slot;
        slot.readiness.set(slot.readiness.get() & !(bits & !keep));
    }

    /// Records a read that returned less than its buffer. On the edge-triggered backends
    /// this clears read readiness, so the next read waits for the next edge instead of
    /// making a syscall that would fail with `EAGAIN`; on poll it does nothing.
    #[inline]
    pub fn clear_after_short_read(&self) {
        if self.shared.edge_triggered {
            self.clear_readiness(Readiness::READABLE);
        }
    }

    /// Records a write that accepted less than it was given; see
    /// [`clear_after_short_read`](Registration::clear_after_short_read).
    #[inline]
    pub fn clear_after_short_write(&self) {
        if self.shared.edge_triggered {
            self.clear_readiness(Readiness::WRITABLE);
        }
    }

    // Inlined into each I/O wrapper: the direction and the operation are then known at
    // compile time, and the hottest path in the crate pays no call frame of its own.
    #[inline(always)]
    pub(crate) fn poll_io_with<D, R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut data: D,
        mut op: impl FnMut(&mut D) -> io::Result<R>,
        complete: impl FnOnce(Completion<'_>, &mut Context<'_>, D) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        // Readiness first: a task that must wait for I/O stores its waker and spends
        // nothing; only an operation that will run spends a unit of the budget.
        let slot = &*self.slot;
        debug_assert!(slot.occupied.get() && slot.generation.get() == self.token.generation);
        let readiness = slot.readiness.get();
        if !readiness.intersects(dir.interest()) {
            // A dead reactor's registration, or one that moves bytes by completion: only
            // this first check can see either (neither gains a readiness bit later).
            if readiness.intersects(Readiness::SPECIAL) {
                return self.poll_special_io(cx, data, complete);
            }
            slot.store_waker(dir, cx);
            return Poll::Pending;
        }
        if budget::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        match op(&mut data) {
            Err(e) => self.poll_io_again(dir, cx, e, data, op),
            result => Poll::Ready(result),
        }
    }

    /// The rest of [`poll_io_with`](Registration::poll_io_with) after an operation
    /// failed: `WouldBlock` clears readiness and refunds the budget, `EINTR` retries, and
    /// either goes round again while the fd is still ready. Out of line, so that the path
    /// of an operation that succeeds keeps few values alive across its syscall.
    #[cold]
    #[inline(never)]
    fn poll_io_again<D, R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut error: io::Error,
        mut data: D,
        mut op: impl FnMut(&mut D) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let slot = &*self.slot;
        loop {
            match error.kind() {
                io::ErrorKind::WouldBlock => {
                    self.clear_readiness(dir.clearable());
                    budget::refund();
                    // The closed bits are sticky: a read-closed fd is still read-ready.
                    if !slot.readiness.get().intersects(dir.interest()) {
                        slot.store_waker(dir, cx);
                        return Poll::Pending;
                    }
                }
                io::ErrorKind::Interrupted => {}
                _ => return Poll::Ready(Err(error)),
            }
            if budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            match op(&mut data) {
                Err(e) => error = e,
                result => return Poll::Ready(result),
            }
        }
    }

    /// Runs a non-blocking read-side operation (read, recv, accept...) when the fd is
    /// read-ready. On `WouldBlock` it clears read readiness, stores the task's waker and
    /// returns `Pending`; `EINTR` is retried.
    ///
    /// Budget: each run of `op` spends one unit of the task's cooperative [`budget`],
    /// and a run that ends in `WouldBlock` gives its unit back, so only operations that
    /// did something count; a call that waits for readiness without running `op` spends
    /// nothing. With the budget spent, the call returns `Pending` after waking the task.
    ///
    /// After the reactor was dropped it returns the error of
    /// [`poll_read_ready`](Registration::poll_read_ready), without running `op`.
    pub fn poll_read_io<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(Direction::Read, cx, (), |_| op(), not_readiness)
    }

    /// The write-side twin of [`poll_read_io`](Registration::poll_read_io).
    pub fn poll_write_io<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(Direction::Write, cx, (), |_| op(), not_readiness)
    }

    /// Deregisters now and reports what the backend said. An fd that the backend no
    /// longer knows (for example one closed before this call) is `NotFound`. After the
    /// reactor was dropped there is nothing to undo, and this succeeds.
    pub fn deregister(self) -> io::Result<()> {
        if let Some(socket) = &self.socket {
            // The fd goes back to its owner with no operation in flight, or not at all;
            // either way `drop` then retires the socket.
            return self.shared.quiesce(socket);
        }
        // The slot is freed here, so the deregistration in `drop` finds nothing to do.
        self.shared.deregister(self.token, self.fd)
    }
}

/// The completion closure of the plain `poll_*_io`: they serve readiness registrations.
fn not_readiness<R>(_: Completion<'_>, _: &mut Context<'_>, _: ()) -> Poll<io::Result<R>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this socket moves bytes by completion (io_uring): use `poll_read_with` or \
         `poll_write_with`, not `poll_read_io` or `poll_write_io`",
    )))
}

impl Registration {
    /// The completion-based I/O of a socket registered with
    /// [`Handle::register_socket`](crate::Handle::register_socket) on io_uring; `None`
    /// for every other registration, and after the reactor was dropped.
    #[inline]
    pub fn completion(&self) -> Option<Completion<'_>> {
        let socket = self.socket.as_ref()?;
        let ring = self.shared.ring.as_ref()?;
        if self.readiness().is_shutdown() {
            return None;
        }
        Some(Completion::new(ring, socket))
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

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            self.shared.retire(self.token, &socket);
            return;
        }
        // A failure here (the fd was closed first) leaves nothing to undo: the slot is
        // freed either way.
        let _ = self.shared.deregister(self.token, self.fd);
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("token", &self.token)
            .finish()
    }
}
