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

use std::cell::Cell;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::Readiness;
use crate::budget;
use crate::reactor::Shared;
use crate::sys::Interest;

/// The identity of a registration inside its reactor.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Token {
    /// The slot's index in the slab.
    pub index: u32,
    /// The slot's generation when this registration took it.
    pub generation: u32,
}

impl Token {
    pub(crate) fn to_u64(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    pub(crate) fn from_u64(v: u64) -> Token {
        Token {
            index: v as u32,
            generation: (v >> 32) as u32,
        }
    }
}

/// One registration's state. Every field is a `Cell`: the slab and the registration
/// share the slot, and neither ever borrows it.
#[derive(Default)]
pub(crate) struct Slot {
    generation: Cell<u32>,
    occupied: Cell<bool>,
    readiness: Cell<Readiness>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

impl Slot {
    fn has_waker(cell: &Cell<Option<Waker>>) -> bool {
        let w = cell.take();
        let some = w.is_some();
        cell.set(w);
        some
    }

    /// Stores the task's waker for `dir`, replacing any other (a waker that would wake
    /// the same task is kept). Out of the cell while it is compared, cloned or dropped
    /// (module docs).
    #[inline]
    pub(crate) fn store_waker(&self, dir: Direction, cx: &mut Context<'_>) {
        let stored = match dir {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        };
        let old = stored.take();
        match old {
            Some(w) if w.will_wake(cx.waker()) => stored.set(Some(w)),
            old => {
                stored.set(Some(cx.waker().clone()));
                drop(old);
            }
        }
    }

    /// Takes the waker stored for `dir`, for the caller to wake outside every borrow.
    #[cfg_attr(not(evloop_uring), allow(dead_code))]
    pub(crate) fn take_waker(&self, dir: Direction) -> Option<Waker> {
        match dir {
            Direction::Read => self.reader.take(),
            Direction::Write => self.writer.take(),
        }
    }

    /// Marks the slot as moving bytes by completion (see `Readiness::COMPLETION`).
    #[cfg_attr(not(evloop_uring), allow(dead_code))]
    pub(crate) fn set_completion(&self) {
        self.readiness.set(Readiness::COMPLETION);
    }
}

/// The wakers an event takes from its slot: the reader's and the writer's.
pub(crate) type Wakers = (Option<Waker>, Option<Waker>);

/// The registrations of one reactor.
#[derive(Default)]
pub(crate) struct Slab {
    slots: Vec<Rc<Slot>>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    /// Takes a free slot (or a new one) for a registration: its token, and the slot
    /// itself for the registration to keep.
    pub(crate) fn insert(&mut self) -> (Token, Rc<Slot>) {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Rc::new(Slot::default()));
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &self.slots[index as usize];
        slot.occupied.set(true);
        slot.readiness.set(Readiness::EMPTY);
        self.len += 1;
        let token = Token {
            index,
            generation: slot.generation.get(),
        };
        (token, slot.clone())
    }

    /// Frees the slot of `token`; returns its wakers, or `None` when it was already free.
    pub(crate) fn remove(&mut self, token: Token) -> Option<Wakers> {
        let slot = self.get(token)?;
        slot.occupied.set(false);
        slot.generation.set(slot.generation.get().wrapping_add(1));
        slot.readiness.set(Readiness::EMPTY);
        let wakers = (slot.reader.take(), slot.writer.take());
        self.free.push(token.index);
        self.len -= 1;
        Some(wakers)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The reactor is going away: every occupied slot's readiness becomes `SHUTDOWN`
    /// alone, and its wakers move to `wake` (the caller wakes them after the borrow).
    pub(crate) fn shut_down(&mut self, wake: &mut Vec<Waker>) {
        for slot in self.slots.iter().filter(|s| s.occupied.get()) {
            slot.readiness.set(Readiness::SHUTDOWN);
            wake.extend(slot.reader.take());
            wake.extend(slot.writer.take());
        }
    }

    #[inline]
    fn get(&self, token: Token) -> Option<&Slot> {
        self.slots
            .get(token.index as usize)
            .map(|s| &**s)
            .filter(|s| s.occupied.get() && s.generation.get() == token.generation)
    }

    /// Applies one event: ORs its bits in and takes the wakers it satisfies, for the
    /// caller to wake once the slab is no longer borrowed. `None` for a stale token,
    /// whose event is dropped.
    // Inlined into the turn's dispatch loop, the hot caller; `into_std`'s drain on
    // io_uring is the other one.
    #[inline]
    pub(crate) fn dispatch(&self, token: u64, readiness: Readiness) -> Option<Wakers> {
        let slot = self.get(Token::from_u64(token))?;
        slot.readiness.set(slot.readiness.get() | readiness);
        let reader = if readiness.intersects(Readiness::READ_INTEREST) {
            slot.reader.take()
        } else {
            None
        };
        let writer = if readiness.intersects(Readiness::WRITE_INTEREST) {
            slot.writer.take()
        } else {
            None
        };
        Some((reader, writer))
    }

    /// Which directions of `token` have a waiting waker (for the poll backend).
    pub(crate) fn interest(&self, token: u64) -> Interest {
        match self.get(Token::from_u64(token)) {
            Some(s) => Interest {
                read: Slot::has_waker(&s.reader),
                write: Slot::has_waker(&s.writer),
            },
            None => Interest::default(),
        }
    }
}

/// A direction of I/O: which waker, which interest bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reading (and accepting).
    Read,
    /// Writing (and connecting).
    Write,
}

impl Direction {
    fn interest(self) -> Readiness {
        match self {
            Direction::Read => Readiness::READ_INTEREST,
            Direction::Write => Readiness::WRITE_INTEREST,
        }
    }

    fn clearable(self) -> Readiness {
        match self {
            Direction::Read => Readiness::READABLE | Readiness::ERROR,
            Direction::Write => Readiness::WRITABLE | Readiness::ERROR,
        }
    }
}

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
    fd: RawFd,
    /// The completion state of a socket registered with `register_socket` on io_uring.
    #[cfg(evloop_uring)]
    pub(crate) socket: Option<Rc<crate::sys::uring_socket::Socket>>,
}

impl Registration {
    pub(crate) fn new(shared: Rc<Shared>, slot: Rc<Slot>, token: Token, fd: RawFd) -> Registration {
        Registration {
            shared,
            slot,
            token,
            fd,
            #[cfg(evloop_uring)]
            socket: None,
        }
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
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
        complete: impl FnOnce(crate::Completion<'_>, &mut Context<'_>, D) -> Poll<io::Result<R>>,
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
        #[cfg(evloop_uring)]
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
fn not_readiness<R>(_: crate::Completion<'_>, _: &mut Context<'_>, _: ()) -> Poll<io::Result<R>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "this socket moves bytes by completion (io_uring): use `poll_read_with` or \
         `poll_write_with`, not `poll_read_io` or `poll_write_io`",
    )))
}

impl Drop for Registration {
    fn drop(&mut self) {
        #[cfg(evloop_uring)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_event_for_a_stale_token_wakes_nobody() {
        let mut slab = Slab::default();
        let (old, old_slot) = slab.insert();
        assert!(slab.remove(old).is_some());
        let (new, new_slot) = slab.insert();
        assert_eq!(new.index, old.index);
        assert!(Rc::ptr_eq(&old_slot, &new_slot), "the slot is reused");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        new_slot.reader.set(Some(Waker::from(count.clone())));
        assert!(
            slab.dispatch(old.to_u64(), Readiness::READABLE).is_none(),
            "stale token ignored"
        );
        assert!(new_slot.readiness.get().is_empty());
        assert_eq!(slab.interest(old.to_u64()), Interest::default());
        assert!(slab.interest(new.to_u64()).read);
        let (reader, writer) = slab
            .dispatch(new.to_u64(), Readiness::READABLE)
            .expect("a live token");
        assert!(reader.is_some() && writer.is_none());
        assert!(!slab.interest(new.to_u64()).read, "the waker was taken");
        assert!(
            slab.remove(old).is_none(),
            "removing a stale token does nothing"
        );
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn tokens_round_trip() {
        let t = Token {
            index: 7,
            generation: u32::MAX,
        };
        assert_eq!(Token::from_u64(t.to_u64()), t);
        assert_ne!(t.to_u64(), crate::sys::NOTIFY_TOKEN);
    }
}
