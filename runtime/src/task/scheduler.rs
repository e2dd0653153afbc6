//! The run queues: the owner thread's local FIFO and list of live tasks, the remote
//! queue other threads push to, and the `Scheduler` that owns them (see the protocol in
//! `task/mod.rs`).

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use reactor::Notifier;

use super::cell::{Header, allocate, release, retain};
use super::fork::{self, FORKED, LoopGuard};
use super::harness::{abort, run};
use super::join::JoinHandle;
use super::queues::MAX_PRIORITIES;
use super::queues::RunQueues;
use super::thread_id;
use super::waker::wake_local;

/// What a remote wake rings, so that the owner's loop wakes from its wait: the
/// reactor's [`Notifier`] in a runtime. The unit tests, which run without a reactor (and
/// under Miri), count the rings instead.
pub(super) trait Notify: Send + Sync + 'static {
    fn notify(&self);
}

impl Notify for Notifier {
    fn notify(&self) {
        Notifier::notify(self);
    }
}

/// A counted reference in the remote queue.
pub(super) struct TaskRef(pub(super) NonNull<Header>);

// SAFETY: a TaskRef carries a counted reference between threads (`Header::refs` is
// atomic); only the owner thread, which drains the queue, touches `Header::state` and
// the other owner-only fields through it.
unsafe impl Send for TaskRef {}

pub(super) struct RemoteQueue {
    pub(super) tasks: Vec<TaskRef>,
    /// Tasks spawned from other threads, not yet adopted (see `remote.rs`).
    pub(super) spawned: Vec<TaskRef>,
    pub(super) closed: bool,
}

/// What every task points to: the owner thread's id, its local queues and the remote
/// queue. One `Arc`, counted once by the scheduler and once by each task allocation, so
/// it outlives every task and every waker that can reach it.
pub(super) struct Shared {
    /// The [`thread_id`] of the owner thread. Immutable.
    pub(super) owner: u32,
    /// Owner thread only (see `Sync` below).
    pub(super) local: Local,
    /// Any thread.
    pub(super) remote: Remote,
}

// SAFETY: `owner` is immutable and `remote` is `Sync`. `local` is not: it is touched only
// after checking `owner == thread_id()` (wakers), or by code that runs only on the owner
// thread (the `!Send` scheduler and `JoinHandle`, and the task functions they call).
// Dropping it on another thread, after the owner let go, frees only memory: by then its
// queue and join-waker table are empty (shutdown completes every task), and a `Waker` is
// `Send` anyway.
unsafe impl Sync for Shared {}
// SAFETY: as for `Sync`: the last reference may be dropped on any thread.
unsafe impl Send for Shared {}

/// The remote queue: wakes from other threads.
pub(super) struct Remote {
    pub(super) queue: Mutex<RemoteQueue>,
    /// Set when `tasks` may be non-empty, so the loop skips the lock otherwise. The fork
    /// handler sets it too, so that `drain_remote` sees `forked` at no cost to the loop.
    pub(super) pending: AtomicBool,
    /// Set in a forked child whose thread was running this scheduler's loop when it
    /// called `fork` (see `task/fork.rs`).
    pub(super) forked: AtomicBool,
    pub(super) notifier: Box<dyn Notify>,
}

/// The owner thread's run queues (a FIFO per priority, see `queues.rs`), its list of
/// live tasks, and the wakers of the tasks awaiting a `JoinHandle`.
pub(super) struct Local {
    /// Owner thread only; no reference into it outlives a push or pop. Each entry is a
    /// task with `SCHEDULED` set, covered by its live reference.
    queue: UnsafeCell<RunQueues>,
    /// How many loop turns have begun (`Scheduler::run_turn`).
    turns: Cell<u32>,
    /// Every this many turns, the lower queues each get a task first (see `queues.rs`).
    starvation_limit: u32,
    /// Head of the intrusive list of tasks that are not `COMPLETE`.
    head: Cell<Option<NonNull<Header>>>,
    live: Cell<usize>,
    /// The waker of the task awaiting each incomplete task whose header has `JOIN_WAKER`
    /// set. Kept here, not in every header: most tasks are never awaited while running.
    /// No waker is cloned, woken or dropped while it is borrowed.
    join_wakers: RefCell<HashMap<NonNull<Header>, Waker, BuildPtrHasher>>,
    /// An empty buffer that `drain_remote` swaps with the remote queue's.
    remote_spare: Cell<Vec<TaskRef>>,
}

impl Local {
    /// Stores the waker of the task awaiting `ptr`, returning the one it replaces (to be
    /// dropped by the caller, after the table is released).
    pub(super) fn set_join_waker(&self, ptr: NonNull<Header>, waker: Waker) -> Option<Waker> {
        self.join_wakers.borrow_mut().insert(ptr, waker)
    }

    /// Whether `waker` would wake the task already awaiting `ptr`.
    pub(super) fn join_waker_will_wake(&self, ptr: NonNull<Header>, waker: &Waker) -> bool {
        self.join_wakers
            .borrow()
            .get(&ptr)
            .is_some_and(|w| w.will_wake(waker))
    }

    /// Removes the waker of the task awaiting `ptr`.
    pub(super) fn take_join_waker(&self, ptr: NonNull<Header>) -> Option<Waker> {
        self.join_wakers.borrow_mut().remove(&ptr)
    }

    /// Queues `ptr` in the run queue of its priority.
    #[inline]
    pub(super) fn push(&self, ptr: NonNull<Header>) {
        // SAFETY: the caller holds a counted reference to the task (a queue entry needs
        // its live reference); `priority` is immutable, readable on any thread.
        let priority = unsafe { ptr.as_ref() }.priority;
        // SAFETY: `Local` is used only on the owner thread (see `Shared`'s `Sync`), and no
        // reference into the queue is held across this call (field invariant).
        unsafe { (*self.queue.get()).push(priority, ptr) }
    }

    #[inline]
    fn pop(&self) -> Option<NonNull<Header>> {
        // SAFETY: as in `push`.
        unsafe { (*self.queue.get()).pop() }
    }

    fn len(&self) -> usize {
        // SAFETY: as in `push`.
        unsafe { (*self.queue.get()).len() }
    }

    /// Takes one task from each non-empty queue below the most urgent non-empty one, at
    /// most `max` of them, most urgent first (the starvation rule of `queues.rs`).
    fn pop_starved(&self, max: u32, out: &mut Vec<NonNull<Header>>) {
        // SAFETY: as in `push`; the queue is not borrowed while tasks run (the caller
        // runs them after this returns).
        unsafe { (*self.queue.get()).pop_starved(max as usize, out) }
    }

    fn is_empty(&self) -> bool {
        // SAFETY: as in `push`.
        unsafe { (*self.queue.get()).is_empty() }
    }

    pub(super) fn link(&self, ptr: NonNull<Header>) {
        // SAFETY: a live task, just allocated; `prev`/`next` are owner-thread fields and
        // this is the owner thread.
        let header = unsafe { ptr.as_ref() };
        header.next.set(self.head.get());
        if let Some(old) = self.head.get() {
            // SAFETY: list members are incomplete, so they hold the live reference; their
            // links are owner-thread fields.
            unsafe { old.as_ref() }.prev.set(Some(ptr));
        }
        self.head.set(Some(ptr));
        self.live.set(self.live.get() + 1);
    }

    pub(super) fn unlink(&self, ptr: NonNull<Header>) {
        // SAFETY: `ptr` is a member of this list (it was not `COMPLETE` until now), so it
        // and its neighbours hold their live references; owner thread.
        let header = unsafe { ptr.as_ref() };
        let (prev, next) = (header.prev.take(), header.next.take());
        match prev {
            // SAFETY: a live list member (see above).
            Some(p) => unsafe { p.as_ref() }.next.set(next),
            None => self.head.set(next),
        }
        if let Some(n) = next {
            // SAFETY: a live list member (see above).
            unsafe { n.as_ref() }.prev.set(prev);
        }
        self.live.set(self.live.get() - 1);
    }
}

/// Hashes a task pointer: a multiply and a fold, so that the aligned low bits of the
/// address do not leave buckets unused.
#[derive(Default)]
pub(super) struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        let x = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type BuildPtrHasher = BuildHasherDefault<PtrHasher>;

/// Panics, at the caller, unless `priority` is below `levels`, the runtime's number of
/// priorities.
#[track_caller]
pub(crate) fn check_priority(priority: usize, levels: usize) {
    assert!(
        priority < levels,
        "priority {priority} is out of range: this runtime has {levels} \
         (0 to {}; see `Builder::priorities`)",
        levels - 1
    );
}

/// The executor's queues, owned by one runtime on its thread.
pub(crate) struct Scheduler {
    pub(super) shared: Arc<Shared>,
    /// Set in a forked child: `shutdown` leaks the tasks (see `abandon`).
    abandoned: Cell<bool>,
    /// `fork::forks()` when the scheduler was created.
    forks: u32,
    /// The least urgent priority: one less than how many there are.
    max_priority: u8,
    /// `!Send`: the scheduler stays on the owner thread, which is what lets it touch
    /// `Local` and the owner-only header fields.
    _owner_thread: PhantomData<*const ()>,
}

impl Scheduler {
    /// An empty scheduler for the calling thread, with `priorities` run queues
    /// (`1..=MAX_PRIORITIES`) served by the starvation rule every `starvation_limit`
    /// turns (at least 1); remote wakes ring `notifier`.
    pub(crate) fn new(notifier: Notifier, priorities: usize, starvation_limit: u32) -> Scheduler {
        fork::install_handler();
        Scheduler::with_notify(Box::new(notifier), priorities, starvation_limit)
    }

    pub(super) fn with_notify(
        notifier: Box<dyn Notify>,
        priorities: usize,
        starvation_limit: u32,
    ) -> Scheduler {
        assert!(
            (1..=MAX_PRIORITIES).contains(&priorities),
            "a runtime has 1 to {MAX_PRIORITIES} priorities, not {priorities}"
        );
        Scheduler {
            shared: Arc::new(Shared {
                owner: thread_id(),
                local: Local {
                    queue: UnsafeCell::new(RunQueues::new(priorities)),
                    turns: Cell::new(0),
                    starvation_limit: starvation_limit.max(1),
                    head: Cell::new(None),
                    live: Cell::new(0),
                    join_wakers: RefCell::default(),
                    remote_spare: Cell::default(),
                },
                remote: Remote {
                    queue: Mutex::new(RemoteQueue {
                        tasks: Vec::new(),
                        spawned: Vec::new(),
                        closed: false,
                    }),
                    pending: AtomicBool::new(false),
                    forked: AtomicBool::new(false),
                    notifier,
                },
            }),
            abandoned: Cell::new(false),
            forks: fork::forks(),
            max_priority: (priorities - 1) as u8,
            _owner_thread: PhantomData,
        }
    }

    /// How many priorities there are.
    pub(crate) fn priorities(&self) -> usize {
        usize::from(self.max_priority) + 1
    }

    /// The priority `spawn` uses: the middle one.
    pub(crate) fn default_priority(&self) -> u8 {
        (self.priorities() / 2) as u8
    }

    pub(super) fn local(&self) -> &Local {
        &self.shared.local
    }

    fn remote(&self) -> &Remote {
        &self.shared.remote
    }

    /// Allocates a task for `future` in the middle priority and queues it.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_at(self.default_priority(), future)
    }

    /// Allocates a task for `future` in the queue of `priority` and queues it.
    ///
    /// # Panics
    ///
    /// If `priority` is not below [`priorities`](Self::priorities).
    #[track_caller]
    pub(crate) fn spawn_with_priority<F>(&self, priority: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        check_priority(priority, self.priorities());
        self.spawn_at(priority as u8, future)
    }

    fn spawn_at<F>(&self, priority: u8, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        debug_assert_eq!(self.shared.owner, thread_id(), "spawn off the owner thread");
        // `SCHEDULED`, with the live reference and the handle's.
        let ptr = allocate(future, &self.shared, priority);
        self.local().link(ptr);
        self.local().push(ptr);
        // SAFETY: the task outputs `F::Output`, has `JOIN_INTEREST`, and the handle gets
        // one of the two references `allocate` counted.
        unsafe { JoinHandle::from_raw(ptr) }
    }

    /// Pops and polls one ready task, refilling the I/O budget to `budget` first.
    /// Returns false when the local queue was empty. Inlined into the loop of
    /// `block_on`: it runs once per task poll.
    #[inline]
    pub(crate) fn run_one(&self, budget: u32) -> bool {
        match self.local().pop() {
            Some(ptr) => {
                // SAFETY: popped from our own local queue, on the owner thread (the
                // scheduler is !Send and was created on it).
                unsafe { run(ptr, budget) };
                true
            }
            None => false,
        }
    }

    /// One turn's worth of tasks: up to `event_interval` (at least 1 is taken as 1), each
    /// from the most urgent non-empty queue, after the starvation rule's tasks on every
    /// `starvation_limit`-th turn (see `queues.rs`). Returns how many ran.
    pub(crate) fn run_turn(&self, event_interval: u32, budget: u32) -> u32 {
        let local = self.local();
        let mut ran = 0;
        if self.max_priority != 0 {
            let turn = local.turns.get().wrapping_add(1);
            local.turns.set(turn);
            if turn % local.starvation_limit == 0 {
                let mut starved = Vec::new();
                local.pop_starved(event_interval, &mut starved);
                for ptr in starved {
                    // SAFETY: popped from our own local queue, on the owner thread.
                    unsafe { run(ptr, budget) };
                    ran += 1;
                }
            }
        }
        while ran < event_interval && self.run_one(budget) {
            ran += 1;
        }
        ran
    }

    /// Whether a task is waiting in the local queue.
    pub(crate) fn has_ready(&self) -> bool {
        !self.local().is_empty()
    }

    /// How many tasks are not complete.
    pub(crate) fn live_tasks(&self) -> usize {
        self.local().live.get()
    }

    /// Marks this thread as running the scheduler's loop until the guard drops, so that
    /// a `fork` from one of its tasks makes the loop panic in the child (in
    /// `drain_remote`) before its next wait.
    pub(crate) fn enter_loop(&self) -> LoopGuard {
        LoopGuard::enter(&self.shared)
    }

    /// Whether this is a forked child's copy of the scheduler: a `fork` happened (in
    /// this process's line) since it was created.
    pub(crate) fn is_forked_copy(&self) -> bool {
        fork::forks() != self.forks
    }

    /// Moves the remote wakes into the local queue.
    ///
    /// # Panics
    ///
    /// In a forked child, when the loop was running as its task called `fork`.
    pub(crate) fn drain_remote(&self) {
        if !self.remote().pending.load(Ordering::Acquire) {
            return;
        }
        if self.remote().forked.load(Ordering::Relaxed) {
            panic!("{FORKED}");
        }
        // Swap in the spare buffer, so that neither side allocates once both have grown.
        let mut tasks = self.local().remote_spare.take();
        {
            let mut queue = self
                .remote()
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.remote().pending.store(false, Ordering::Relaxed);
            std::mem::swap(&mut queue.tasks, &mut tasks);
            self.adopt_spawned(&mut queue);
        }
        for TaskRef(ptr) in tasks.drain(..) {
            // SAFETY: the remote entry's reference keeps the task alive until it is given
            // up here; owner thread (the scheduler is !Send), which may touch the state.
            unsafe {
                wake_local(ptr);
                release(ptr);
            }
        }
        self.local().remote_spare.set(tasks);
    }

    /// Completes every live task as cancelled (dropping their futures here), empties
    /// the local queue and closes the remote one, adopting the tasks spawned into it so
    /// that they are cancelled here too. Returns how many tasks it cancelled. Idempotent:
    /// a second call cancels nothing.
    ///
    /// It always ends: a round that completes and adopts no task runs no user code, so
    /// it can neither add a task nor wake one, and it is the last. No task is polled.
    pub(crate) fn shutdown(&self) -> usize {
        if self.abandoned.get() {
            return 0;
        }
        let mut cancelled = 0;
        loop {
            let aborted = self.abort_all();
            let adopted = self.close_remote();
            self.drop_queue_entries();
            cancelled += aborted;
            if aborted == 0 && adopted == 0 {
                break;
            }
        }
        debug_assert_eq!(
            self.live_tasks(),
            0,
            "a task outlived its runtime's shutdown"
        );
        cancelled
    }

    /// Leaks every task instead of shutting them down: in a forked child, dropping a
    /// future could deregister its parent's file descriptors from an epoll instance the
    /// two processes share. Later calls of `shutdown` do nothing.
    pub(crate) fn abandon(&self) {
        self.abandoned.set(true);
    }

    /// Aborts every live task. Returns how many it completed.
    fn abort_all(&self) -> usize {
        // A future's drop may abort, wake or drop other tasks: take a counted reference
        // to every live task first, then abort them one by one.
        let mut live = Vec::with_capacity(self.live_tasks());
        let mut next = self.local().head.get();
        while let Some(ptr) = next {
            // SAFETY: list members are incomplete and hold their live reference; the
            // links are owner-thread fields, and this is the owner thread.
            let header = unsafe { ptr.as_ref() };
            retain(header);
            live.push(ptr);
            next = header.next.get();
        }
        let mut aborted = 0;
        for ptr in live {
            // SAFETY: the reference retained above, given up after the abort; owner
            // thread. `abort` never unwinds: it runs user code under `catch_unwind`.
            unsafe {
                aborted += usize::from(abort(ptr));
                release(ptr);
            }
        }
        aborted
    }

    /// Closes the remote queue, so that later remote wakes only drop their reference
    /// and later remote spawns get their future back, gives back the references of its
    /// entries, and adopts the tasks spawned into it. Returns how many it adopted.
    fn close_remote(&self) -> usize {
        let (tasks, adopted) = {
            let mut queue = self
                .remote()
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.closed = true;
            let adopted = self.adopt_spawned(&mut queue);
            (std::mem::take(&mut queue.tasks), adopted)
        };
        for TaskRef(ptr) in tasks {
            // SAFETY: the entry's reference, given up here; owner thread. A complete task
            // is not queued again.
            unsafe {
                wake_local(ptr);
                release(ptr);
            }
        }
        adopted
    }

    /// Empties the local queue without polling: a complete task's entry gives back the
    /// live reference it kept.
    fn drop_queue_entries(&self) {
        while let Some(ptr) = self.local().pop() {
            // SAFETY: a queue entry is covered by the task's live reference; owner thread.
            let complete = unsafe { ptr.as_ref() }.state.transition_to_dequeued();
            if complete {
                // SAFETY: the live reference the stale entry kept (see `complete`).
                unsafe { release(ptr) };
            }
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("ready", &self.local().len())
            .field("live", &self.live_tasks())
            .finish()
    }
}
