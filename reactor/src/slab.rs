//! The registration slab: one slot per registered source, holding its readiness and a
//! waker per direction, found by a [`Token`] that carries the slot's generation.
//!
//! The protocol of the slots (who writes which field, why a stale token wakes nobody)
//! is written at the top of `registration.rs`, whose handles share these slots.

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Waker};

use crate::Readiness;
use crate::event::Interest;

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
    pub(crate) generation: Cell<u32>,
    pub(crate) occupied: Cell<bool>,
    pub(crate) readiness: Cell<Readiness>,
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
    pub(crate) fn take_waker(&self, dir: Direction) -> Option<Waker> {
        match dir {
            Direction::Read => self.reader.take(),
            Direction::Write => self.writer.take(),
        }
    }

    /// Marks the slot as moving bytes by completion (see `Readiness::COMPLETION`).
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
        let wakers = (
            slot.take_waker(Direction::Read),
            slot.take_waker(Direction::Write),
        );
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
            wake.extend(slot.take_waker(Direction::Read));
            wake.extend(slot.take_waker(Direction::Write));
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
    pub(crate) fn interest(self) -> Readiness {
        match self {
            Direction::Read => Readiness::READ_INTEREST,
            Direction::Write => Readiness::WRITE_INTEREST,
        }
    }

    pub(crate) fn clearable(self) -> Readiness {
        match self {
            Direction::Read => Readiness::READABLE | Readiness::ERROR,
            Direction::Write => Readiness::WRITABLE | Readiness::ERROR,
        }
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
        assert_ne!(t.to_u64(), crate::event::NOTIFY_TOKEN);
    }
}
