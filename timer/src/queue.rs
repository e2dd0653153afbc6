//! Common-timeout queues: libevent's `event_base_init_common_timeout`, beside the heap.
//!
//! Programs often arm many timers of one duration: a header-read timeout per request,
//! an idle timeout per connection. Armed at `now + duration`, they come in deadline
//! order, so a FIFO list keeps them sorted for free. Each queue is a doubly linked list
//! of [`Node`]s, in one slab shared by all queues of a heap. A node is the whole timer
//! (deadline, sequence number, waker), so arming appends a node and cancelling unlinks
//! one, both O(1); the heap array is not touched. A queued timer's [`TimerKey`] has the
//! `QUEUED` bit set in its index, and names its node and the node's generation (odd
//! while it is in use, bumped when it is taken and when it is freed, as for slots).
//!
//! # The proxy
//!
//! Only a queue's head matters to the loop, so each queue with timers has one *proxy*
//! entry in the heap array: a slab slot with no waker, keyed by the `(deadline, seq)`
//! of a timer of the queue. The heap thus stays the one source of the next deadline.
//!
//! - **Invariant:** a queue with timers has a proxy, and the proxy's key is not after the
//!   head's key. A queue without timers may still have one.
//! - **Cancelling the head** leaves the proxy where it is (libevent does the same), so
//!   cancelling stays O(1). When that stale proxy comes up in `drain_expired`, it moves
//!   to the new head's key (one sift), or leaves the heap if the queue is empty. Nothing
//!   fires early: a timer fires only when its own deadline has passed.
//! - **Firing:** when the proxy comes up and carries exactly the head's key, the head
//!   fires and the proxy moves to the next timer's key. Timers of a queue and of the
//!   heap therefore fire in one `(deadline, seq)` order, as if all were in the heap.
//!
//! # Arming out of order
//!
//! A timer whose deadline is before the queue's tail (a caller's own deadline, or a
//! reset) walks back from the tail at most [`MAX_WALK`] nodes to find its place;
//! further back than that, it goes to the heap array instead. Either way it fires at
//! its deadline.
//!
//! # Queue lifetime
//!
//! A queue is found by its duration, so all users of one duration share it. It counts
//! its `CommonTimeout` handles. A queue with no handle and no timer is *idle*; idle
//! queues are kept for reuse, and when a new queue is made while [`MAX_IDLE`] are idle,
//! the one used least recently is dropped (and its proxy removed from the heap).

use std::task::Waker;
use std::time::{Duration, Instant};

use crate::TimerKey;
use crate::heap::{HeapEntry, NIL, QUEUED, TimerHeap, heap_position};

/// How far back from a queue's tail an out-of-order timer looks for its place.
pub(crate) const MAX_WALK: usize = 8;

/// How many idle queues a heap keeps for reuse.
pub const MAX_IDLE: usize = 8;

/// Names one common-timeout queue of a [`TimerHeap`]. Obtained from
/// [`TimerHeap::common_queue`], and valid until given back to
/// [`TimerHeap::release_queue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueId(pub(crate) u32);

/// One timer waiting in a queue, or a vacant node.
#[derive(Debug)]
pub(crate) struct Node {
    /// Its deadline, and its sequence number (the heap order). The deadline is kept as
    /// the `Instant` it was given: arming compares instants, and only seating the proxy
    /// converts one to the heap's ticks.
    deadline: Instant,
    seq: u64,
    /// The task to wake when it fires.
    waker: Option<Waker>,
    /// The list links; for a vacant node, `next` is the next vacant one.
    prev: u32,
    next: u32,
    /// The queue it belongs to.
    queue: u32,
    /// Odd while in use, even while vacant; bumped at every change of the two.
    generation: u32,
}

#[derive(Debug)]
pub(crate) struct Queue {
    /// The duration its timers share; `None` while the queue is vacant.
    duration: Option<Duration>,
    head: u32,
    tail: u32,
    /// The slab slot of its proxy entry in the heap array, or `NIL`.
    proxy: u32,
    /// `CommonTimeout` handles using it.
    users: u32,
    /// When it was last looked up, to choose which idle queue to drop.
    used: u64,
}

impl Queue {
    fn is_idle(&self) -> bool {
        self.duration.is_some() && self.users == 0 && self.head == NIL
    }
}

/// Every queue of one heap, and the slab of their nodes.
#[derive(Debug)]
pub(crate) struct Queues {
    list: Vec<Queue>,
    nodes: Vec<Node>,
    /// The first vacant node, or `NIL`.
    free: u32,
    /// How many timers wait in queues.
    pub(crate) queued: usize,
    /// How many proxies are in the heap array.
    pub(crate) proxies: usize,
    stamp: u64,
}

impl Default for Queues {
    fn default() -> Queues {
        Queues {
            list: Vec::new(),
            nodes: Vec::new(),
            free: NIL,
            queued: 0,
            proxies: 0,
            stamp: 0,
        }
    }
}

impl Queues {
    /// The node of a queued key (its index has the `QUEUED` bit), if the key is current.
    #[inline]
    pub(crate) fn locate(&self, key: TimerKey) -> Option<u32> {
        let (index, generation) = key.parts();
        let node = index & !QUEUED;
        let n = self.nodes.get(node as usize)?;
        (n.generation == generation && generation & 1 == 1).then_some(node)
    }

    /// The deadline of the timer at `node`.
    pub(crate) fn node_deadline(&self, node: u32) -> Instant {
        self.nodes[node as usize].deadline
    }

    /// The waker of the timer at `node`.
    pub(crate) fn waker_mut(&mut self, node: u32) -> &mut Option<Waker> {
        &mut self.nodes[node as usize].waker
    }

    /// Moves the waker of every queued timer into `out` (see `TimerHeap::take_wakers`).
    pub(crate) fn take_wakers(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.nodes.iter_mut().filter_map(|n| n.waker.take()));
    }

    /// The queue whose proxy is the slot `slot`, if any.
    #[inline]
    pub(crate) fn proxied_by(&self, slot: u32) -> Option<u32> {
        self.list
            .iter()
            .position(|q| q.proxy == slot)
            .map(|i| i as u32)
    }

    /// Takes a vacant node (or a new one) and fills it; returns its index.
    #[inline]
    fn alloc_node(&mut self, deadline: Instant, seq: u64, waker: Option<Waker>, queue: u32) -> u32 {
        if self.free != NIL {
            let index = self.free;
            let node = &mut self.nodes[index as usize];
            self.free = node.next;
            node.deadline = deadline;
            node.seq = seq;
            node.waker = waker;
            node.queue = queue;
            node.generation = node.generation.wrapping_add(1);
            index
        } else {
            let index = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i < QUEUED)
                .expect("the common-timeout queues are full (2^31 - 1 timers)");
            self.nodes.push(Node {
                deadline,
                seq,
                waker,
                prev: NIL,
                next: NIL,
                queue,
                generation: 1,
            });
            index
        }
    }
}

impl<const D: usize> TimerHeap<D> {
    /// The queue for timers of `duration`: the one this heap already has, or a new one.
    /// Counts one user, to be given back with [`release_queue`](Self::release_queue).
    ///
    /// Timers put in a queue ([`insert_common`](Self::insert_common)) are armed and
    /// cancelled in O(1) when their deadlines come in order, as `now + duration` does.
    pub fn common_queue(&mut self, duration: Duration) -> QueueId {
        let queue = self.find_queue(duration);
        self.queues.list[queue.0 as usize].users += 1;
        queue
    }

    /// The queue for `duration`, found or made, without counting a user.
    #[inline]
    pub(crate) fn find_queue(&mut self, duration: Duration) -> QueueId {
        let qs = &mut self.queues;
        qs.stamp += 1;
        let stamp = qs.stamp;
        if let Some(i) = qs.list.iter().position(|q| q.duration == Some(duration)) {
            qs.list[i].used = stamp;
            return QueueId(i as u32);
        }
        self.make_queue(duration, stamp)
    }

    #[cold]
    fn make_queue(&mut self, duration: Duration, stamp: u64) -> QueueId {
        let qs = &self.queues;
        let idle = qs.list.iter().filter(|q| q.is_idle()).count();
        if idle >= MAX_IDLE {
            let oldest = (0..qs.list.len())
                .filter(|&i| qs.list[i].is_idle())
                .min_by_key(|&i| qs.list[i].used);
            if let Some(i) = oldest {
                self.drop_queue(i as u32);
            }
        }
        let qs = &mut self.queues;
        let queue = Queue {
            duration: Some(duration),
            head: NIL,
            tail: NIL,
            proxy: NIL,
            users: 0,
            used: stamp,
        };
        match qs.list.iter().position(|q| q.duration.is_none()) {
            Some(i) => {
                qs.list[i] = queue;
                QueueId(i as u32)
            }
            None => {
                qs.list.push(queue);
                QueueId((qs.list.len() - 1) as u32)
            }
        }
    }

    /// Counts one more user of `queue`.
    pub(crate) fn use_queue(&mut self, queue: QueueId) {
        let q = &mut self.queues.list[queue.0 as usize];
        debug_assert!(
            q.duration.is_some(),
            "a released common-timeout queue was used"
        );
        q.users += 1;
    }

    /// Gives back one user of `queue`. A queue left with no user and no timer is kept
    /// for reuse, up to [`MAX_IDLE`] of them.
    pub fn release_queue(&mut self, queue: QueueId) {
        let q = &mut self.queues.list[queue.0 as usize];
        debug_assert!(
            q.duration.is_some() && q.users > 0,
            "queue released too often"
        );
        q.users = q.users.saturating_sub(1);
    }

    /// The duration of `queue`.
    ///
    /// # Panics
    ///
    /// If `queue` was dropped (it had no user and no timer, and another queue took its
    /// place).
    pub fn queue_duration(&self, queue: QueueId) -> Duration {
        self.queues.list[queue.0 as usize]
            .duration
            .expect("a dropped common-timeout queue was used")
    }

    /// Adds a timer for `deadline` to `queue`, waking `waker` when fired.
    ///
    /// O(1) when `deadline` is not before the queue's last timer (the usual case: a
    /// deadline of `now + duration`); a little further back, a short walk finds its
    /// place; otherwise the timer goes to the heap array. The key works like any other:
    /// [`cancel`](Self::cancel) is O(1) for a queued timer, and [`reset`](Self::reset)
    /// keeps it queued when the new deadline fits there too.
    #[inline]
    pub fn insert_common(
        &mut self,
        queue: QueueId,
        deadline: Instant,
        waker: Option<Waker>,
    ) -> TimerKey {
        match self.place_in(queue.0, deadline) {
            Some(after) => {
                let seq = self.bump_seq();
                self.link_node(queue.0, after, deadline, seq, waker)
            }
            None => {
                let index = self.insert_entry(self.ticks(deadline), waker);
                TimerKey::new(index, self.slots[index as usize].generation)
            }
        }
    }

    /// Moves the queued timer at `node` to `deadline`: to its place in the same
    /// queue if it fits there ([`insert_common`](Self::insert_common)'s rule), else to
    /// the heap array. Returns its key from now on.
    pub(crate) fn reset_queued(&mut self, node: u32, deadline: Instant) -> TimerKey {
        let queue = self.queues.nodes[node as usize].queue;
        self.detach(node);
        let seq = self.bump_seq();
        match self.place_in(queue, deadline) {
            Some(after) => {
                let n = &mut self.queues.nodes[node as usize];
                n.deadline = deadline;
                n.seq = seq;
                self.attach(queue, after, node)
            }
            None => {
                let waker = self.free_node(node);
                let at = self.ticks(deadline);
                let pos = self.heap.len();
                let slot = self.alloc_slot(heap_position(pos), waker);
                self.push_entry(pos, HeapEntry { at, seq, slot });
                TimerKey::new(slot, self.slots[slot as usize].generation)
            }
        }
    }

    /// Where a timer for `deadline` goes in `queue`: after the node returned (`NIL`:
    /// first), or, if that is more than [`MAX_WALK`] nodes back from the tail, nowhere
    /// (`None`).
    #[inline]
    fn place_in(&self, queue: u32, deadline: Instant) -> Option<u32> {
        let qs = &self.queues;
        let mut after = qs.list[queue as usize].tail;
        let mut steps = 0;
        while after != NIL {
            let node = &qs.nodes[after as usize];
            if node.deadline <= deadline {
                break;
            }
            if steps == MAX_WALK {
                return None;
            }
            after = node.prev;
            steps += 1;
        }
        Some(after)
    }

    /// Links a new node for `(deadline, seq)` into `queue` after `after` (see
    /// [`attach`](Self::attach)). Returns its key.
    #[inline]
    fn link_node(
        &mut self,
        queue: u32,
        after: u32,
        deadline: Instant,
        seq: u64,
        waker: Option<Waker>,
    ) -> TimerKey {
        let node = self.queues.alloc_node(deadline, seq, waker, queue);
        self.attach(queue, after, node)
    }

    /// Links the in-use `node` into `queue` after `after`, moving the queue's proxy up if
    /// it becomes the head. Returns its key.
    #[inline]
    fn attach(&mut self, queue: u32, after: u32, node: u32) -> TimerKey {
        let qs = &mut self.queues;
        let next = match after {
            NIL => std::mem::replace(&mut qs.list[queue as usize].head, node),
            a => std::mem::replace(&mut qs.nodes[a as usize].next, node),
        };
        match next {
            NIL => qs.list[queue as usize].tail = node,
            n => qs.nodes[n as usize].prev = node,
        }
        let n = &mut qs.nodes[node as usize];
        n.prev = after;
        n.next = next;
        let (deadline, seq) = (n.deadline, n.seq);
        let key = TimerKey::new(QUEUED | node, n.generation);
        qs.queued += 1;
        if after == NIL {
            let at = self.ticks(deadline);
            self.seat_proxy(queue, at, seq);
        }
        key
    }

    /// Unlinks the queued timer at `node`, frees the node and returns its waker. A proxy
    /// keyed by it stays until it comes up (module docs).
    #[inline]
    pub(crate) fn unqueue(&mut self, node: u32) -> Option<Waker> {
        self.detach(node);
        self.free_node(node)
    }

    /// Frees a detached `node` and returns its waker.
    #[inline]
    fn free_node(&mut self, node: u32) -> Option<Waker> {
        let qs = &mut self.queues;
        let n = &mut qs.nodes[node as usize];
        n.generation = n.generation.wrapping_add(1);
        n.next = qs.free;
        qs.free = node;
        n.waker.take()
    }

    /// Unlinks `node` from its queue, leaving it in use.
    #[inline]
    fn detach(&mut self, node: u32) {
        let qs = &mut self.queues;
        let n = &qs.nodes[node as usize];
        let (prev, next, queue) = (n.prev, n.next, n.queue);
        match prev {
            NIL => qs.list[queue as usize].head = next,
            p => qs.nodes[p as usize].next = next,
        }
        match next {
            NIL => qs.list[queue as usize].tail = prev,
            n => qs.nodes[n as usize].prev = prev,
        }
        qs.queued -= 1;
    }

    /// The proxy of `queue` came up in `drain_expired` (`top` is its entry, due): fires
    /// the queue's head if the proxy carries its key, and moves the proxy to the next
    /// head (or out of the heap). Returns how many timers fired (0 or 1).
    pub(crate) fn fire_queue_head(
        &mut self,
        queue: u32,
        top: HeapEntry,
        wakers: &mut Vec<Waker>,
    ) -> usize {
        let head = self.queues.list[queue as usize].head;
        if head == NIL {
            self.drop_proxy(queue);
            return 0;
        }
        // Sequence numbers are unique: the proxy carries the head's key exactly when it
        // carries the head's number.
        let mut fired = 0;
        if self.queues.nodes[head as usize].seq == top.seq {
            if let Some(waker) = self.unqueue(head) {
                wakers.push(waker);
            }
            fired = 1;
        }
        match self.queues.list[queue as usize].head {
            NIL => self.drop_proxy(queue),
            next => {
                let Node { deadline, seq, .. } = self.queues.nodes[next as usize];
                let at = self.ticks(deadline);
                // The proxy is at the top and its new key is not earlier: sift down.
                self.sift_down(
                    0,
                    HeapEntry {
                        at,
                        seq,
                        slot: top.slot,
                    },
                );
            }
        }
        fired
    }

    /// Makes `queue`'s proxy no later than `(at, seq)`: puts a proxy in the heap if the
    /// queue has none, or moves it up.
    fn seat_proxy(&mut self, queue: u32, at: u64, seq: u64) {
        let proxy = self.queues.list[queue as usize].proxy;
        if proxy == NIL {
            // The proxy carries the head's key (not a sequence number of its own), so
            // that it fires the head in the heap's order.
            let pos = self.heap.len();
            let slot = self.alloc_slot(heap_position(pos), None);
            self.push_entry(pos, HeapEntry { at, seq, slot });
            self.queues.list[queue as usize].proxy = slot;
            self.queues.proxies += 1;
            return;
        }
        let pos = self.slots[proxy as usize].link as usize;
        let entry = HeapEntry {
            at,
            seq,
            slot: proxy,
        };
        if entry.before(&self.heap[pos]) {
            self.sift_up(pos, entry);
        }
    }

    /// Takes `queue`'s proxy (if any) out of the heap array.
    fn drop_proxy(&mut self, queue: u32) {
        let proxy = std::mem::replace(&mut self.queues.list[queue as usize].proxy, NIL);
        if proxy != NIL {
            let pos = self.slots[proxy as usize].link as usize;
            self.remove_at(pos);
            let _no_waker = self.release(proxy);
            self.queues.proxies -= 1;
        }
    }

    /// Frees an idle queue for reuse.
    fn drop_queue(&mut self, queue: u32) {
        self.drop_proxy(queue);
        let q = &mut self.queues.list[queue as usize];
        debug_assert!(q.is_idle());
        q.duration = None;
    }

    /// Checks the queues (see `assert_invariants`).
    pub(crate) fn assert_queue_invariants(&self) {
        let qs = &self.queues;
        let mut queued = 0;
        let mut proxies = 0;
        for (i, q) in qs.list.iter().enumerate() {
            if q.duration.is_none() {
                assert!(
                    q.head == NIL && q.tail == NIL && q.proxy == NIL,
                    "vacant queue {i} in use"
                );
                continue;
            }
            let mut prev = NIL;
            let mut cur = q.head;
            let mut last: Option<(Instant, u64)> = None;
            while cur != NIL {
                let node = &qs.nodes[cur as usize];
                assert_eq!(node.generation & 1, 1, "node {cur} is vacant but queued");
                assert_eq!(node.queue, i as u32, "node {cur} is in the wrong queue");
                assert_eq!(node.prev, prev, "node {cur} links back wrongly");
                assert!(
                    last <= Some((node.deadline, node.seq)),
                    "queue {i} is out of order at node {cur}"
                );
                assert!(node.seq < self.next_seq(), "node {cur} has a future seq");
                last = Some((node.deadline, node.seq));
                queued += 1;
                assert!(queued <= qs.nodes.len(), "queue {i} loops");
                prev = cur;
                cur = node.next;
            }
            assert_eq!(q.tail, prev, "queue {i} has the wrong tail");
            if q.proxy != NIL {
                proxies += 1;
                let slot = &self.slots[q.proxy as usize];
                assert!(
                    slot.is_occupied() && slot.waker.is_none(),
                    "queue {i}'s proxy slot"
                );
                let entry = &self.heap[slot.link as usize];
                assert_eq!(entry.slot, q.proxy, "queue {i}'s proxy is misplaced");
                if q.head != NIL {
                    let head = &qs.nodes[q.head as usize];
                    assert!(
                        (entry.at, entry.seq) <= (self.ticks(head.deadline), head.seq),
                        "queue {i}'s proxy is after its head"
                    );
                }
            } else {
                assert_eq!(q.head, NIL, "queue {i} has timers but no proxy");
            }
        }
        assert_eq!(queued, qs.queued, "the count of queued timers is wrong");
        assert_eq!(proxies, qs.proxies, "the count of proxies is wrong");
        let mut vacant = 0;
        let mut free = qs.free;
        while free != NIL {
            let node = &qs.nodes[free as usize];
            assert_eq!(node.generation & 1, 0, "free node {free} is in use");
            assert!(node.waker.is_none(), "free node {free} holds a waker");
            vacant += 1;
            assert!(vacant <= qs.nodes.len(), "the free node list loops");
            free = node.next;
        }
        assert_eq!(
            vacant + queued,
            qs.nodes.len(),
            "a vacant node is missing from the free list"
        );
    }
}
