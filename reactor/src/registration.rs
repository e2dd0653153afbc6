//! Registrations: one slot per fd, holding its readiness and a waker per direction.
//!
//! # Protocol
//!
//! The reactor is single-threaded, so a slot is plain data behind the reactor's
//! `RefCell`; nothing here is shared with another thread.
//!
//! | field       | written by                                   | read by                 |
//! |-------------|----------------------------------------------|-------------------------|
//! | `readiness` | the driver ORs in event bits; an I/O call that got `WouldBlock` clears its direction | `poll_*_ready` |
//! | `reader`    | `poll_read_ready` stores the task's waker when not ready | the driver takes and wakes it |
//! | `writer`    | `poll_write_ready`, likewise                  | the driver              |
//! | `generation`| bumped each time the slot is freed           | the driver, to drop events meant for a former owner |
//!
//! A token is `generation << 32 | index`. Because the generation changes whenever a slot
//! is freed, an event carrying an old token never wakes the slot's new owner. The closed
//! bits are sticky; `READABLE`, `WRITABLE` and `ERROR` are cleared by `WouldBlock`.
//!
//! On the edge-triggered backends a read shorter than its buffer (or a short write) also
//! clears readiness: the kernel will report the next edge. The poll backend is
//! level-triggered and polls every direction that has a stored waker, so it never needs
//! the early clear and never loses a wakeup.

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

#[derive(Default)]
struct Slot {
    generation: u32,
    occupied: bool,
    fd: RawFd,
    readiness: Readiness,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// The registrations of one reactor.
#[derive(Default)]
pub(crate) struct Slab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    pub(crate) fn insert(&mut self, fd: RawFd) -> Token {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.occupied = true;
        slot.fd = fd;
        slot.readiness = Readiness::EMPTY;
        self.len += 1;
        Token {
            index,
            generation: slot.generation,
        }
    }

    /// Frees the slot of `token`; returns its wakers, or `None` when it was already free.
    pub(crate) fn remove(&mut self, token: Token) -> Option<(Option<Waker>, Option<Waker>)> {
        let slot = self.get_mut(token)?;
        slot.occupied = false;
        slot.generation = slot.generation.wrapping_add(1);
        slot.readiness = Readiness::EMPTY;
        let wakers = (slot.reader.take(), slot.writer.take());
        self.free.push(token.index);
        self.len -= 1;
        Some(wakers)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn get_mut(&mut self, token: Token) -> Option<&mut Slot> {
        self.slots
            .get_mut(token.index as usize)
            .filter(|s| s.occupied && s.generation == token.generation)
    }

    /// Applies one event: ORs its bits in and moves the wakers it satisfies to `wake`.
    /// Events for a stale token are dropped. Returns whether the token was live.
    pub(crate) fn dispatch(
        &mut self,
        token: u64,
        readiness: Readiness,
        wake: &mut Vec<Waker>,
    ) -> bool {
        let Some(slot) = self.get_mut(Token::from_u64(token)) else {
            return false;
        };
        slot.readiness |= readiness;
        if readiness.intersects(Readiness::READ_INTEREST)
            && let Some(w) = slot.reader.take()
        {
            wake.push(w);
        }
        if readiness.intersects(Readiness::WRITE_INTEREST)
            && let Some(w) = slot.writer.take()
        {
            wake.push(w);
        }
        true
    }

    /// Which directions of `token` have a waiting waker (for the poll backend).
    pub(crate) fn interest(&self, token: u64) -> Interest {
        let t = Token::from_u64(token);
        match self.slots.get(t.index as usize) {
            Some(s) if s.occupied && s.generation == t.generation => Interest {
                read: s.reader.is_some(),
                write: s.writer.is_some(),
            },
            _ => Interest::default(),
        }
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Read,
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
pub struct Registration {
    shared: Rc<Shared>,
    token: Token,
    fd: RawFd,
}

impl Registration {
    pub(crate) fn new(shared: Rc<Shared>, token: Token, fd: RawFd) -> Registration {
        Registration { shared, token, fd }
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

    /// Runs `f` on this registration's slot. A live `Registration` owns its slot (only
    /// its own drop or `deregister` frees it), so the index is used directly; the
    /// generation check is for events, which can outlive their registration.
    #[inline]
    fn with_slot<R>(&self, f: impl FnOnce(&mut Slot) -> R) -> R {
        let mut slab = self.shared.slab.borrow_mut();
        let slot = &mut slab.slots[self.token.index as usize];
        debug_assert!(slot.occupied && slot.generation == self.token.generation);
        f(slot)
    }

    /// The readiness bits currently set.
    pub fn readiness(&self) -> Readiness {
        self.with_slot(|s| s.readiness)
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
    fn poll_ready(&self, dir: Direction, cx: &mut Context<'_>) -> Poll<Readiness> {
        self.with_slot(|slot| {
            if slot.readiness.intersects(dir.interest()) {
                return Poll::Ready(slot.readiness);
            }
            let stored = match dir {
                Direction::Read => &mut slot.reader,
                Direction::Write => &mut slot.writer,
            };
            match stored {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *stored = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }

    /// Ready once the fd is readable, read-closed or in error; otherwise stores the
    /// task's waker (replacing any earlier one) and returns `Pending`.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<Readiness> {
        self.poll_ready(Direction::Read, cx)
    }

    /// Ready once the fd is writable, write-closed or in error; otherwise stores the
    /// task's waker (replacing any earlier one) and returns `Pending`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<Readiness> {
        self.poll_ready(Direction::Write, cx)
    }

    /// Waits until the fd is readable (or read-closed, or in error).
    pub async fn readable(&self) -> Readiness {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the fd is writable (or write-closed, or in error).
    pub async fn writable(&self) -> Readiness {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Clears the given bits, as after an operation that returned `WouldBlock`. The
    /// closed bits are sticky and are never cleared.
    #[inline]
    pub fn clear_readiness(&self, bits: Readiness) {
        let keep = Readiness::READ_CLOSED | Readiness::WRITE_CLOSED;
        self.with_slot(|s| s.readiness = s.readiness & !(bits & !keep));
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

    fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            // Readiness first: a task that must wait for I/O stores its waker and spends
            // nothing; only an operation that will run spends a unit of the budget.
            if self.poll_ready(dir, cx).is_pending() || budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_readiness(dir.clearable());
                    budget::refund();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// Runs a non-blocking read-side operation (read, recv, accept...) when the fd is
    /// read-ready. On `WouldBlock` it clears read readiness, stores the task's waker and
    /// returns `Pending`; `EINTR` is retried. Each call spends one unit of the task's
    /// cooperative [`budget`](crate::budget).
    pub fn poll_read_io<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(Direction::Read, cx, op)
    }

    /// The write-side twin of [`poll_read_io`](Registration::poll_read_io).
    pub fn poll_write_io<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(Direction::Write, cx, op)
    }

    /// Deregisters now and reports what the backend said. An fd that the backend no
    /// longer knows (for example one closed before this call) is `NotFound`.
    pub fn deregister(self) -> io::Result<()> {
        // The slot is freed here, so the deregistration in `drop` finds nothing to do.
        self.shared.deregister(self.token, self.fd)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
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
        let old = slab.insert(10);
        assert!(slab.remove(old).is_some());
        let new = slab.insert(11);
        assert_eq!(new.index, old.index);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        slab.get_mut(new).unwrap().reader = Some(Waker::from(count.clone()));
        let mut wake = Vec::new();
        assert!(
            !slab.dispatch(old.to_u64(), Readiness::READABLE, &mut wake),
            "stale token ignored"
        );
        assert!(wake.is_empty());
        assert!(slab.get_mut(new).unwrap().readiness.is_empty());
        assert!(slab.dispatch(new.to_u64(), Readiness::READABLE, &mut wake));
        assert_eq!(wake.len(), 1);
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
