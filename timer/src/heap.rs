//! The timer heap: an indexed d-ary min-heap of deadlines over a slab of timers.
//!
//! This is libevent's `min_heap_idx`, with a slab in front of it.
//!
//! - The **heap array** holds small [`HeapEntry`] values, `(deadline, seq, slot)`, so a
//!   sift compares and moves 24 bytes without touching the slab. It is ordered by
//!   `(deadline, seq)`: `seq` grows with every insert and reset, so equal deadlines fire
//!   in the order they were set. The deadline is kept as a `u64` of nanoseconds that
//!   compares in one instruction and converts back to the exact `Instant`: its offset
//!   from the instant the heap was made, shifted by 2^63, so that deadlines before the
//!   heap's creation are kept as exactly as later ones (see [`Ticks`]).
//! - The **slab** holds one [`Slot`] per timer: its waker, its generation and a link.
//!   While the slot is occupied the link is the entry's position in the heap array, kept
//!   up to date by every move, so cancel and reset find the entry in O(1) and fix the
//!   heap in O(log n), leaving nothing behind. While the slot is vacant the link is the
//!   next vacant slot (a free list threaded through the slab).
//! - The **generation** of a slot is odd while it is occupied and even while it is
//!   vacant; it is bumped on every insert and every removal. A [`TimerKey`] carries the
//!   generation it was issued with, so a key whose timer has fired or been cancelled
//!   matches nothing, even after its slot has been reused.
//! - **Common-timeout queues** (`queue.rs`, libevent's common timeouts) hold timers that
//!   share one duration in deadline order, in lists beside the heap: O(1) to arm and to
//!   cancel. Such a timer lives in a list node of its own slab, not in a slot; its key
//!   carries the [`QUEUED`] bit and the node's index and generation, and every keyed
//!   operation works on it as on any timer. Only each queue's head is represented in the
//!   heap array, by a *proxy* entry, so [`next_deadline`] stays the one source of the
//!   next deadline.
//!
//! [`next_deadline`]: TimerHeap::next_deadline

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::queue::Queues;

/// Names one timer in a [`TimerHeap`]: a slab index and the generation of that slot.
///
/// A key outlives its timer harmlessly: once the timer fires or is cancelled, every
/// operation on the key does nothing, even after the slot is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

impl TimerKey {
    /// A key the heap never issues (issued keys carry an odd generation), told apart by
    /// `tag`. It lets a holder of a key use the same field for a state of its own while
    /// it has no timer set.
    pub(crate) const fn unissued(tag: u32) -> TimerKey {
        TimerKey {
            index: tag,
            generation: 0,
        }
    }

    pub(crate) const fn new(index: u32, generation: u32) -> TimerKey {
        TimerKey { index, generation }
    }

    pub(crate) const fn parts(self) -> (u32, u32) {
        (self.index, self.generation)
    }
}

/// Wakes every waker in `wakers`, in order, leaving it empty. A waker that panics does
/// not stop the others: every one is woken, then the first panic goes on unwinding.
pub(crate) fn wake_all(wakers: &mut Vec<Waker>) {
    let mut first_panic = None;
    for waker in wakers.drain(..) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        resume_unwind(payload);
    }
}

/// The end of a list (the slab's free list, and the lists of `queue.rs`).
pub(crate) const NIL: u32 = u32::MAX;

/// Set in the index of a key whose timer waits in a common-timeout queue: the rest of
/// the index is then its list node's, not a slot's. Slot and node indices stay below it,
/// and so do heap positions.
pub(crate) const QUEUED: u32 = 1 << 31;

/// `pos` as a slot's link to a heap position.
///
/// # Panics
///
/// If `pos` reaches [`QUEUED`]: the heap array holds at most `2^31 - 1` entries.
#[inline]
pub(crate) fn heap_position(pos: usize) -> u32 {
    u32::try_from(pos)
        .ok()
        .filter(|&p| p < QUEUED)
        .expect("the timer heap is full (2^31 - 1 timers)")
}

/// Where a current key's timer is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Location {
    /// At this position of the heap array.
    Heap(usize),
    /// In a common-timeout queue, at this list node.
    Queued(u32),
}

/// The heap's time base: instants as `u64` ticks of one nanosecond, counted from the
/// instant the heap was made, which is tick 2^63.
///
/// Nothing is subtracted from the clock to find a base, so every deadline the platform
/// can name before the heap's creation is kept exactly, even where an `Instant` cannot
/// go below boot time (Windows, and any clock read soon after boot). The range is about
/// 292 years either side of the origin; a deadline further out saturates at that end,
/// which keeps the order of every deadline with the others.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticks {
    /// The instant of tick [`Ticks::ORIGIN`]: when the heap was made.
    origin: Instant,
}

impl Ticks {
    /// The tick of the origin: the middle of the range.
    const ORIGIN: u64 = 1 << 63;

    /// A time base whose origin is now.
    fn new() -> Ticks {
        Ticks {
            origin: Instant::now(),
        }
    }

    /// `at` as ticks, saturating at both ends of the range.
    ///
    /// One comparison picks the direction, so that the clock's difference is taken once
    /// (`checked_duration_since` would work out the other direction too, only to drop it).
    #[inline]
    pub(crate) fn of(self, at: Instant) -> u64 {
        if at >= self.origin {
            Ticks::ORIGIN.saturating_add(nanos(at.duration_since(self.origin)))
        } else {
            Ticks::ORIGIN.saturating_sub(nanos(self.origin.duration_since(at)))
        }
    }

    /// The instant of `ticks`. It exists: a tick is only ever made from an instant, and
    /// one saturated at an end lies between that instant and the origin.
    #[inline]
    fn instant(self, ticks: u64) -> Instant {
        if ticks >= Ticks::ORIGIN {
            self.origin + Duration::from_nanos(ticks - Ticks::ORIGIN)
        } else {
            self.origin - Duration::from_nanos(Ticks::ORIGIN - ticks)
        }
    }
}

/// `d` in nanoseconds, saturating at `u64::MAX` (about 584 years).
#[inline]
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

/// One element of the heap array: what a sift compares, and where the timer lives.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeapEntry {
    /// The deadline, in the heap's [`Ticks`].
    pub(crate) at: u64,
    pub(crate) seq: u64,
    pub(crate) slot: u32,
}

impl HeapEntry {
    /// The heap order: deadline first, then insertion (or reset) order.
    #[inline]
    pub(crate) fn before(&self, other: &HeapEntry) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// One timer's slab slot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Odd while occupied, even while vacant.
    pub(crate) generation: u32,
    /// Occupied: the entry's index in the heap array. Vacant: the next vacant slot.
    pub(crate) link: u32,
    /// The task to wake when the deadline passes (occupied slots only).
    pub(crate) waker: Option<Waker>,
}

impl Slot {
    #[inline]
    pub(crate) fn is_occupied(&self) -> bool {
        self.generation & 1 == 1
    }
}

/// An indexed d-ary min-heap of deadlines, each with an optional [`Waker`].
///
/// `D` is the arity: 4 by default (shallower than a binary heap, and the four children
/// share a cache line or two). Every operation but [`next_deadline`](Self::next_deadline)
/// is O(log n); nothing leaves a tombstone.
///
/// ```
/// use std::time::{Duration, Instant};
/// use timer::TimerHeap;
///
/// let mut heap = TimerHeap::new();
/// let t0 = Instant::now();
/// let late = heap.insert(t0 + Duration::from_secs(2), None);
/// let soon = heap.insert(t0 + Duration::from_secs(1), None);
/// assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_secs(1)));
///
/// assert!(heap.cancel(soon));
/// assert!(!heap.cancel(soon)); // a stale key does nothing
/// assert_eq!(heap.reset(late, t0), Some(late));
/// assert_eq!(heap.fire_expired(t0), 1);
/// assert!(heap.is_empty());
/// heap.assert_invariants();
/// ```
pub struct TimerHeap<const D: usize = 4> {
    time_base: Ticks,
    pub(crate) heap: Vec<HeapEntry>,
    pub(crate) slots: Vec<Slot>,
    free: u32,
    next_seq: u64,
    /// Reused by [`fire_expired`](Self::fire_expired) between calls.
    wake_buf: Vec<Waker>,
    /// The common-timeout queues and their timers (see `queue.rs`).
    pub(crate) queues: Queues,
}

impl TimerHeap {
    /// An empty 4-ary heap.
    pub fn new() -> TimerHeap {
        TimerHeap::default()
    }

    /// An empty 4-ary heap with room for `capacity` timers before it reallocates.
    pub fn with_capacity(capacity: usize) -> TimerHeap {
        let mut heap = TimerHeap::default();
        heap.reserve(capacity);
        heap
    }
}

impl<const D: usize> Default for TimerHeap<D> {
    /// An empty heap of arity `D` (at least 2).
    fn default() -> Self {
        const { assert!(D >= 2, "a d-ary heap needs D >= 2") };
        TimerHeap {
            time_base: Ticks::new(),
            heap: Vec::new(),
            slots: Vec::new(),
            free: NIL,
            next_seq: 0,
            wake_buf: Vec::new(),
            queues: Queues::default(),
        }
    }
}

impl<const D: usize> TimerHeap<D> {
    /// The heap's own memory per timer: one heap-array entry plus one slab slot (the
    /// waker's allocation, if any, is the task's).
    pub const BYTES_PER_TIMER: usize = size_of::<HeapEntry>() + size_of::<Slot>();

    /// Makes room for `additional` more timers.
    pub fn reserve(&mut self, additional: usize) {
        self.heap.reserve(additional);
        let vacant = self.slots.len() - self.heap.len();
        self.slots.reserve(additional.saturating_sub(vacant));
    }

    /// The number of timers set, in the heap array and in common-timeout queues.
    pub fn len(&self) -> usize {
        self.heap.len() - self.queues.proxies + self.queues.queued
    }

    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a timer that expires at `deadline` and wakes `waker`, if any, when fired.
    ///
    /// # Panics
    ///
    /// If the heap would hold more than `2^31 - 1` timers.
    #[track_caller]
    pub fn insert(&mut self, deadline: Instant, waker: Option<Waker>) -> TimerKey {
        let at = self.ticks(deadline);
        let index = self.insert_entry(at, waker);
        TimerKey {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    /// Puts a new timer for `at` in the heap array; returns its slot.
    #[inline]
    pub(crate) fn insert_entry(&mut self, at: u64, waker: Option<Waker>) -> u32 {
        let pos = self.heap.len();
        let index = self.alloc_slot(heap_position(pos), waker);
        let entry = HeapEntry {
            at,
            seq: self.bump_seq(),
            slot: index,
        };
        self.push_entry(pos, entry);
        index
    }

    /// Appends `entry`, whose slot already links to `pos` (the array's length), and
    /// sifts it up into place.
    #[inline]
    pub(crate) fn push_entry(&mut self, pos: usize, entry: HeapEntry) {
        // Most timers land in order (always so in an empty heap): no sift, no writes
        // but the push (the slot already links to `pos`).
        let in_order = pos == 0 || !entry.before(&self.heap[(pos - 1) / D]);
        if self.heap.len() < self.heap.capacity() {
            // No growth here, so nothing to keep the entry alive across a call: it goes
            // from registers to the array.
            self.heap.push(entry);
        } else {
            self.grow_and_push(entry);
        }
        if !in_order {
            self.sift_up(pos, entry);
        }
    }

    /// Takes a vacant slot (or a new one) for a timer: odd generation, `link`, `waker`.
    #[inline]
    pub(crate) fn alloc_slot(&mut self, link: u32, waker: Option<Waker>) -> u32 {
        if self.free != NIL {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            self.free = slot.link;
            slot.generation = slot.generation.wrapping_add(1);
            slot.link = link;
            slot.waker = waker;
            index
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&i| i < QUEUED)
                .expect("the timer slab is full (2^31 - 1 timers)");
            self.slots.push(Slot {
                generation: 1,
                link,
                waker,
            });
            index
        }
    }

    /// Removes the timer of `key` without waking it. Returns `false`, and does nothing,
    /// if the key is stale (its timer fired or was cancelled) or unknown.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        self.remove(key).is_some()
    }

    /// Moves the timer of `key` to `deadline`, in place. It also goes behind every
    /// timer already set for the same deadline. Returns `false` for a stale key.
    ///
    ///
    /// Returns the timer's key from now on: the same key, except for a timer in a
    /// common-timeout queue whose new deadline does not fit there (see
    /// [`insert_common`](Self::insert_common)), which moves to the heap array under a new
    /// key. `None` for a stale key.
    pub fn reset(&mut self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let pos = match self.locate(key)? {
            Location::Heap(pos) => pos,
            Location::Queued(node) => return Some(self.reset_queued(node, deadline)),
        };
        let old = self.heap[pos];
        let entry = HeapEntry {
            at: self.ticks(deadline),
            seq: self.bump_seq(),
            slot: old.slot,
        };
        if entry.before(&old) {
            self.sift_up(pos, entry);
        } else {
            self.sift_down(pos, entry);
        }
        Some(key)
    }

    /// Sets the waker of `key`'s timer, unless the one it holds would wake the same task.
    /// Returns `false` for a stale key.
    pub fn set_waker(&mut self, key: TimerKey, waker: &Waker) -> bool {
        self.update_waker(key, waker).is_some()
    }

    /// The deadline of `key`'s timer, or `None` for a stale key.
    ///
    /// It is the exact `Instant` given, for any deadline within about 292 years of the
    /// heap's creation, before or after it; one further out is kept (and reported) as
    /// that bound.
    pub fn deadline(&self, key: TimerKey) -> Option<Instant> {
        Some(match self.locate(key)? {
            Location::Heap(pos) => self.instant(self.heap[pos].at),
            Location::Queued(node) => self.queues.node_deadline(node),
        })
    }

    /// Whether `key`'s timer is still set (neither fired nor cancelled).
    pub fn is_registered(&self, key: TimerKey) -> bool {
        self.locate(key).is_some()
    }

    /// The earliest deadline in the heap: how long the reactor may wait.
    ///
    /// It can be earlier than every timer set: a common-timeout queue whose first timer
    /// was cancelled keeps its place until that deadline passes (cancelling stays O(1)),
    /// and a wake-up then fires nothing early.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|e| self.instant(e.at))
    }

    /// Removes every timer whose deadline is at or before `now` and wakes its waker, in
    /// `(deadline, insertion)` order. Returns how many timers fired.
    ///
    /// The wakers are collected first and woken after the heap is back in order. If a
    /// waker panics, the others are still woken, and then the first panic resumes.
    pub fn fire_expired(&mut self, now: Instant) -> usize {
        let mut buf = std::mem::take(&mut self.wake_buf);
        let fired = self.drain_expired(now, &mut buf);
        wake_all(&mut buf);
        self.wake_buf = buf;
        fired
    }

    /// Removes every timer whose deadline is at or before `now`, in order, and appends
    /// their wakers to `wakers` without waking them. Returns how many timers expired
    /// (timers without a waker count too).
    ///
    /// A caller that shares the heap (behind a `RefCell`) wakes them after releasing
    /// it, so that a woken task may set timers again straight away.
    pub fn drain_expired(&mut self, now: Instant, wakers: &mut Vec<Waker>) -> usize {
        let mut fired = 0;
        let now = self.ticks(now);
        while let Some(&top) = self.heap.first() {
            if top.at > now {
                break;
            }
            let slot = top.slot;
            if self.slots[slot as usize].waker.is_none()
                && let Some(queue) = self.queues.proxied_by(slot)
            {
                fired += self.fire_queue_head(queue, top, wakers);
                continue;
            }
            self.remove_at(0);
            if let Some(waker) = self.release(slot) {
                wakers.push(waker);
            }
            fired += 1;
        }
        fired
    }

    /// Checks every invariant of the heap and the slab, and panics with the first one
    /// that does not hold:
    ///
    /// - every entry is not before its parent, in `(deadline, seq)` order;
    /// - every entry's slot is occupied and links back to the entry's position;
    /// - every occupied slot is in the heap or in a common-timeout queue exactly once;
    /// - each queue is a well-linked list in `(deadline, seq)` order, and a queue with
    ///   timers has a proxy entry in the heap that is not after its first timer;
    /// - the free list visits every vacant slot exactly once, and nothing else;
    /// - every sequence number is below the next one to be issued.
    ///
    /// It is O(n); the tests call it after each step.
    pub fn assert_invariants(&self) {
        let n = self.heap.len();
        for (pos, entry) in self.heap.iter().enumerate() {
            if pos > 0 {
                let parent = &self.heap[(pos - 1) / D];
                assert!(
                    !entry.before(parent),
                    "heap order: entry {pos} is before its parent {}",
                    (pos - 1) / D
                );
            }
            assert!(entry.seq < self.next_seq, "entry {pos} has a future seq");
            let slot = self
                .slots
                .get(entry.slot as usize)
                .unwrap_or_else(|| panic!("entry {pos} names slot {} past the slab", entry.slot));
            assert!(
                slot.is_occupied(),
                "entry {pos} names vacant slot {}",
                entry.slot
            );
            assert_eq!(
                slot.link as usize, pos,
                "slot {} links to the wrong position",
                entry.slot
            );
        }
        let occupied = self.slots.iter().filter(|s| s.is_occupied()).count();
        self.assert_queue_invariants();
        assert_eq!(
            occupied, n,
            "occupied slots and heap entries differ in number"
        );
        let mut seen = vec![false; self.slots.len()];
        let mut free = self.free;
        let mut vacant = 0;
        while free != NIL {
            let slot = self
                .slots
                .get(free as usize)
                .unwrap_or_else(|| panic!("free list names slot {free} past the slab"));
            assert!(!slot.is_occupied(), "free list names occupied slot {free}");
            assert!(slot.waker.is_none(), "vacant slot {free} holds a waker");
            assert!(!seen[free as usize], "free list visits slot {free} twice");
            seen[free as usize] = true;
            vacant += 1;
            free = slot.link;
        }
        assert_eq!(
            vacant + n,
            self.slots.len(),
            "a vacant slot is missing from the free list"
        );
    }

    /// Removes `key`'s timer and hands back its waker (the outer `None`: a stale key).
    /// Lets a shared owner drop the waker after releasing the heap.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Option<Waker>> {
        match self.locate(key)? {
            Location::Heap(pos) => {
                self.remove_at(pos);
                Some(self.release(key.index))
            }
            Location::Queued(node) => Some(self.unqueue(node)),
        }
    }

    /// Moves the waker of every timer into `out`, leaving the timers set: what a heap
    /// that is shut down does, so the tasks waiting on it are polled (and learn that it
    /// is gone) instead of waiting forever.
    pub(crate) fn take_wakers(&mut self, out: &mut Vec<Waker>) {
        out.extend(
            self.slots
                .iter_mut()
                .filter(|slot| slot.is_occupied())
                .filter_map(|slot| slot.waker.take()),
        );
        self.queues.take_wakers(out);
    }

    /// Like [`set_waker`](Self::set_waker), but hands back the waker it replaced.
    pub(crate) fn update_waker(&mut self, key: TimerKey, waker: &Waker) -> Option<Option<Waker>> {
        let stored = match self.locate(key)? {
            Location::Heap(_) => &mut self.slots[key.index as usize].waker,
            Location::Queued(node) => self.queues.waker_mut(node),
        };
        match stored {
            Some(old) if old.will_wake(waker) => Some(None),
            _ => Some(stored.replace(waker.clone())),
        }
    }

    /// `deadline` in the heap's [`Ticks`].
    #[inline]
    pub(crate) fn ticks(&self, deadline: Instant) -> u64 {
        self.time_base.of(deadline)
    }

    /// The instant of `at`, in the heap's [`Ticks`].
    #[inline]
    fn instant(&self, at: u64) -> Instant {
        self.time_base.instant(at)
    }

    /// Where `key`'s timer is, if the key is current.
    #[inline]
    pub(crate) fn locate(&self, key: TimerKey) -> Option<Location> {
        if key.index & QUEUED != 0 {
            return self.queues.locate(key).map(Location::Queued);
        }
        let slot = self.slots.get(key.index as usize)?;
        (slot.generation == key.generation && slot.is_occupied())
            .then_some(Location::Heap(slot.link as usize))
    }

    /// The sequence number the next insert or reset will take.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    #[inline]
    pub(crate) fn bump_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Pushes `entry` onto a full heap array (the rare, growing case of `insert`).
    #[cold]
    #[inline(never)]
    fn grow_and_push(&mut self, entry: HeapEntry) {
        self.heap.push(entry);
    }

    /// Frees `index` (whose entry has left the heap) and returns its waker.
    #[inline]
    pub(crate) fn release(&mut self, index: u32) -> Option<Waker> {
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.link = self.free;
        self.free = index;
        slot.waker.take()
    }

    /// Takes the entry at `pos` out of the heap array and restores the heap order.
    #[inline]
    pub(crate) fn remove_at(&mut self, pos: usize) {
        let last = self.heap.pop().expect("remove_at on an empty heap");
        if pos < self.heap.len() {
            // `last` fills the hole; the sift writes it where it belongs.
            if last.before(&self.heap[pos]) {
                self.sift_up(pos, last);
            } else {
                self.sift_down(pos, last);
            }
        }
    }

    /// Puts `entry` in the hole at `pos`, or higher: moves parents down into the hole
    /// until the parent is before `entry`. The entry is passed by value, not read back
    /// from the array, so a fresh push costs no reload.
    #[inline(always)]
    pub(crate) fn sift_up(&mut self, mut pos: usize, entry: HeapEntry) {
        while pos > 0 {
            let parent = (pos - 1) / D;
            let above = self.heap[parent];
            if !entry.before(&above) {
                break;
            }
            self.place(pos, above);
            pos = parent;
        }
        self.place(pos, entry);
    }

    /// Puts `entry` in the hole at `pos`, or lower: moves the first child up into the
    /// hole while that child is before `entry`.
    #[inline]
    pub(crate) fn sift_down(&mut self, mut pos: usize, entry: HeapEntry) {
        let len = self.heap.len();
        loop {
            let first = pos * D + 1;
            if first >= len {
                break;
            }
            let end = (first + D).min(len);
            let mut best = first;
            for child in first + 1..end {
                if self.heap[child].before(&self.heap[best]) {
                    best = child;
                }
            }
            let below = self.heap[best];
            if !below.before(&entry) {
                break;
            }
            self.place(pos, below);
            pos = best;
        }
        self.place(pos, entry);
    }

    /// Writes `entry` at `pos` and records the position in its slot.
    #[inline]
    fn place(&mut self, pos: usize, entry: HeapEntry) {
        self.slots[entry.slot as usize].link = pos as u32;
        self.heap[pos] = entry;
    }
}

impl<const D: usize> fmt::Debug for TimerHeap<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHeap")
            .field("arity", &D)
            .field("len", &self.len())
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    #[test]
    fn entries_are_small() {
        assert_eq!(size_of::<HeapEntry>(), 24);
        assert_eq!(size_of::<Slot>(), 24);
    }

    #[test]
    fn extreme_deadlines_are_clamped_but_keep_their_order() {
        let mut heap = TimerHeap::new();
        let now = Instant::now();
        let year = Duration::from_secs(86_400 * 365);
        let far = heap.insert(now + year * 30, None);
        let farther = heap.insert(now + year * 150, None);
        let beyond = heap.insert(now + year * 400, None);
        let past = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
        let due = heap.insert(past, None);
        assert_eq!(heap.deadline(far), Some(now + year * 30));
        assert_eq!(heap.deadline(farther), Some(now + year * 150));
        assert_eq!(heap.deadline(due), Some(past));
        // Past the range's end (about 292 years): kept at the end, still after the rest.
        let end = heap.deadline(beyond).unwrap();
        assert!(now + year * 290 < end && end < now + year * 300, "{end:?}");
        assert_eq!(heap.fire_expired(now), 1);
        assert!(heap.is_registered(far) && heap.is_registered(farther));
        assert_eq!(heap.fire_expired(now + year * 30), 1);
        assert!(heap.is_registered(farther));
        assert_eq!(heap.fire_expired(now + year * 150), 1);
        assert!(heap.is_registered(beyond));
        assert_eq!(heap.fire_expired(end), 1);
        assert!(heap.is_empty());
        heap.assert_invariants();
    }

    /// The first instant the clock reads after `t`: a spin on the clock, no sleep.
    fn tick_after(t: Instant) -> Instant {
        loop {
            let now = Instant::now();
            if now > t {
                return now;
            }
            std::hint::spin_loop();
        }
    }

    #[test]
    fn deadlines_before_the_heap_was_made_keep_their_order_and_fire() {
        // Three instants before the heap's creation, as close to it as the clock allows:
        // a clock that cannot go below boot time (Windows) must keep them apart too.
        let t0 = Instant::now();
        let t1 = tick_after(t0);
        let t2 = tick_after(t1);
        tick_after(t2);
        let mut heap = TimerHeap::new();
        let later = t2 + Duration::from_secs(3600);
        let k2 = heap.insert(t2, None);
        let k_later = heap.insert(later, None);
        let k0 = heap.insert(t0, None);
        let k1 = heap.insert(t1, None);
        heap.assert_invariants();
        for (key, at) in [(k0, t0), (k1, t1), (k2, t2), (k_later, later)] {
            assert_eq!(heap.deadline(key), Some(at));
        }
        for (key, at) in [(k0, t0), (k1, t1), (k2, t2)] {
            assert_eq!(heap.next_deadline(), Some(at));
            assert_eq!(
                heap.fire_expired(at),
                1,
                "only the timer due at {at:?} fires"
            );
            assert!(!heap.is_registered(key));
            heap.assert_invariants();
        }
        assert_eq!(heap.next_deadline(), Some(later));
        assert!(heap.is_registered(k_later));
    }

    #[test]
    fn a_deadline_centuries_before_the_heap_is_kept_where_the_clock_has_it() {
        let mut heap = TimerHeap::new();
        let now = Instant::now();
        let year = Duration::from_secs(86_400 * 365);
        // Only a clock that goes back that far can name such an instant (not Windows').
        let Some(long_ago) = now.checked_sub(year * 150) else {
            return;
        };
        let older = long_ago.checked_sub(Duration::from_nanos(1)).unwrap();
        let k = heap.insert(long_ago, None);
        let k_older = heap.insert(older, None);
        assert_eq!(heap.deadline(k), Some(long_ago));
        assert_eq!(heap.deadline(k_older), Some(older));
        assert_eq!(heap.next_deadline(), Some(older));
        assert_eq!(heap.fire_expired(older), 1);
        assert!(heap.is_registered(k));
        heap.assert_invariants();
    }

    #[test]
    fn a_binary_heap_keeps_order_too() {
        let mut heap = TimerHeap::<2>::default();
        let t0 = Instant::now();
        let keys: Vec<_> = (0..100u64)
            .map(|i| heap.insert(t0 + std::time::Duration::from_millis((i * 37) % 11), None))
            .collect();
        heap.assert_invariants();
        for k in keys.iter().step_by(3) {
            assert!(heap.cancel(*k));
            heap.assert_invariants();
        }
        let mut last = None;
        while let Some(d) = heap.next_deadline() {
            assert!(last <= Some(d));
            last = Some(d);
            assert!(heap.fire_expired(d) >= 1);
            heap.assert_invariants();
        }
    }
}
