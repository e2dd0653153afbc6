//! The task allocation: header, stage, the generic operations and the wakers (see the
//! protocol in `task/mod.rs`).

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::scheduler::{Shared, TaskRef};
use super::thread_id;
use crate::error::JoinError;

pub(super) const SCHEDULED: u8 = 1;
pub(super) const RUNNING: u8 = 2;
pub(super) const COMPLETE: u8 = 4;
pub(super) const CANCELLED: u8 = 8;
pub(super) const JOIN_INTEREST: u8 = 16;
pub(super) const OUTPUT: u8 = 32;
pub(super) const JOIN_WAKER: u8 = 64;

/// The non-generic head of every task allocation: 40 bytes on 64-bit targets.
pub(super) struct Header {
    /// Counted references (see "References" in the module docs). Any thread.
    pub(super) refs: AtomicU32,
    /// The state bits. Owner thread only.
    pub(super) state: Cell<u8>,
    /// The generic operations of this task's `TaskCell<F>`.
    pub(super) vtable: &'static TaskVTable,
    /// The runtime's queues: one counted `Arc<Shared>` reference (from `Arc::into_raw`),
    /// given back when the allocation is freed. Immutable; any thread reads `owner` and
    /// `remote` through it, the owner thread alone `local`.
    pub(super) shared: NonNull<Shared>,
    /// Links of the owner's list of live tasks. Owner thread only.
    pub(super) prev: Cell<Option<NonNull<Header>>>,
    pub(super) next: Cell<Option<NonNull<Header>>>,
}

impl Header {
    /// The runtime's queues.
    pub(super) fn shared(&self) -> &Shared {
        // SAFETY: the header holds a counted reference to `Shared` until the allocation
        // is freed, and `&self` proves it is not freed yet.
        unsafe { self.shared.as_ref() }
    }
}

/// The generic operations of a task, one static table per future type.
pub(super) struct TaskVTable {
    /// Polls the future. On `Ready` or a panic, drops the future and stores or drops the
    /// output, and returns true. Requires `Running` and the owner thread.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future and records a cancelled `JoinError`. Same requirements.
    cancel: unsafe fn(NonNull<Header>),
    /// Moves the stored output (`OUTPUT`) into `*dst` (a `Poll<Result<T, JoinError>>`).
    pub(super) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the stored output, if any. Owner thread only.
    pub(super) drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation. Requires no live stage field and no reference left.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The future, then its output, in one place. Which field is live is told by the
/// header's state bits (see "Layout" in the module docs): the future while the task is
/// not `COMPLETE`, the output while `OUTPUT` is set, neither otherwise.
pub(super) union Stage<F: Future> {
    pub(super) running: ManuallyDrop<F>,
    finished: ManuallyDrop<Result<F::Output, JoinError>>,
}

#[repr(C)]
pub(super) struct TaskCell<F: Future> {
    pub(super) header: Header,
    pub(super) stage: UnsafeCell<Stage<F>>,
}

impl<F: Future + 'static> TaskCell<F> {
    pub(super) const VTABLE: TaskVTable = TaskVTable {
        poll: poll_future::<F>,
        cancel: cancel_future::<F>,
        take_output: take_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    };
}

/// The stage of the task at `ptr`.
///
/// # Safety
///
/// `ptr` heads a live `TaskCell<F>`.
unsafe fn stage<F: Future>(ptr: NonNull<Header>) -> *mut Stage<F> {
    let cell = ptr.cast::<TaskCell<F>>().as_ptr();
    // SAFETY: the caller guarantees `cell` is a live TaskCell<F>; `Header` is its first
    // field (`repr(C)`), so the cast is the allocation's own type.
    unsafe { (*cell).stage.get() }
}

unsafe fn poll_future<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> bool {
    // SAFETY: the vtable of a TaskCell<F> is only called with its own header.
    let stage = unsafe { stage::<F>(ptr) };
    // SAFETY: the caller's live reference keeps the header alive.
    debug_assert_eq!(unsafe { ptr.as_ref() }.state.get() & COMPLETE, 0);
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the caller (run) holds the owner thread and `RUNNING` on an incomplete
        // task, so the future is the live field and nothing else borrows it.
        let fut: &mut F = unsafe { &mut (*stage).running };
        // SAFETY: the future never moves inside its allocation until it is dropped in
        // place (`finish`), which is what `Pin` asks.
        unsafe { Pin::new_unchecked(fut) }.poll(cx)
    }));
    let output = match result {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) if payload.is::<crate::blocking::Cancelled>() => Err(JoinError::cancelled()),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: same task, owner thread, future running.
    unsafe { finish::<F>(ptr, output) };
    true
}

unsafe fn cancel_future<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: forwarded from the caller: own header, owner thread, future running.
    unsafe { finish::<F>(ptr, Err(JoinError::cancelled())) }
}

/// Drops the future in place, then stores the output for the `JoinHandle` (setting
/// `OUTPUT`), or drops it when there is none.
///
/// # Safety
///
/// `ptr` heads a `TaskCell<F>` whose future is live (the task is not `COMPLETE`), on the
/// owner thread, and no reference to the stage is alive.
unsafe fn finish<F: Future>(ptr: NonNull<Header>, output: Result<F::Output, JoinError>) {
    // SAFETY: see the function's contract.
    let stage = unsafe { stage::<F>(ptr) };
    // SAFETY: the future is the live field and owned by this allocation: dropping it in
    // place ends the pinned future, once; a panic in its Drop still leaves it dropped,
    // and from here on no field of the stage is live.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
        ManuallyDrop::drop(&mut (*stage).running)
    }));
    let output = match (output, dropped) {
        (Ok(_), Err(payload)) => Err(JoinError::panic(payload)),
        (output, _) => output,
    };
    // SAFETY: `ptr` is live (the executor's live reference) and we are on the owner thread.
    let header = unsafe { ptr.as_ref() };
    if header.state.get() & JOIN_INTEREST != 0 {
        // SAFETY: no field is live (the future was dropped above) and none is borrowed;
        // `OUTPUT` records that `finished` now is.
        unsafe { (*stage).finished = ManuallyDrop::new(output) };
        header.state.set(header.state.get() | OUTPUT);
    } else {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(output)));
    }
}

unsafe fn take_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: own header, live (the JoinHandle's reference).
    let header = unsafe { ptr.as_ref() };
    let state = header.state.get();
    assert!(
        state & OUTPUT != 0,
        "a `JoinHandle` was polled after it returned its output"
    );
    header.state.set(state & !OUTPUT);
    // SAFETY: `OUTPUT` was set, so `finished` is the live field; clearing the bit first
    // hands it over to this read, once. The JoinHandle calls this on the owner thread,
    // when nothing else borrows the stage.
    let output = unsafe { ManuallyDrop::take(&mut (*stage::<F>(ptr)).finished) };
    let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
    // SAFETY: the JoinHandle<F::Output> passes a valid, initialised slot of exactly this
    // type; assignment drops its previous (Pending) value.
    unsafe { *dst = Poll::Ready(output) };
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: own header, live (the JoinHandle's reference); owner thread.
    let header = unsafe { ptr.as_ref() };
    let state = header.state.get();
    if state & OUTPUT != 0 {
        header.state.set(state & !OUTPUT);
        // SAFETY: `finished` was the live field (`OUTPUT`); with the bit cleared first it
        // is dropped once, even if its Drop panics. The stage is not borrowed (caller).
        unsafe { ManuallyDrop::drop(&mut (*stage::<F>(ptr)).finished) };
    }
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone, so nothing else can reach the allocation, which
    // was made by `Box::new` in `Scheduler::spawn` with this very type. No field of its
    // stage is live (module docs), and the stage's fields are `ManuallyDrop`, so freeing
    // drops no future or output. The header's `Arc<Shared>` reference is given back.
    unsafe {
        let cell = Box::from_raw(ptr.cast::<TaskCell<F>>().as_ptr());
        drop(Arc::from_raw(cell.header.shared.as_ptr().cast_const()));
    }
}

/// Takes a counted reference.
pub(super) fn retain(header: &Header) {
    if header.refs.fetch_add(1, Ordering::Relaxed) > i32::MAX as u32 {
        std::process::abort();
    }
}

/// Drops a counted reference; frees the task when it was the last.
///
/// # Safety
///
/// The caller owns one counted reference to the live task at `ptr` and gives it up.
pub(super) unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until the decrement.
    let header = unsafe { ptr.as_ref() };
    if header.refs.fetch_sub(1, Ordering::Release) == 1 {
        fence(Ordering::Acquire);
        let dealloc = header.vtable.dealloc;
        // SAFETY: that was the last reference; every other access happened before this
        // point (Release/Acquire), and no field of the stage is live (module docs).
        unsafe { dealloc(ptr) };
    }
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE)
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: a task waker's data is a live header; the waker holds a reference.
    let header = unsafe { &*data.cast::<Header>() };
    retain(header);
    // SAFETY: `data` is non-null: it came from a NonNull header.
    raw_waker(unsafe { NonNull::new_unchecked(data.cast_mut().cast()) })
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: as in `waker_clone`; the waker's reference is handed over.
    let ptr = unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) };
    // SAFETY: we own the waker's reference.
    unsafe { wake(ptr, true) }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: as in `waker_clone`.
    let ptr = unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) };
    // SAFETY: the borrowed waker keeps a reference alive for the call.
    unsafe { wake(ptr, false) }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: as in `waker_clone`; the waker's reference is given up.
    unsafe { release(NonNull::new_unchecked(data.cast_mut().cast::<Header>())) }
}

/// Schedules the task. `owned`: the caller gives up one counted reference.
///
/// # Safety
///
/// The caller holds a counted reference to the task at `ptr` (owned or borrowed).
unsafe fn wake(ptr: NonNull<Header>, owned: bool) {
    // SAFETY: the caller's reference keeps the header alive.
    let header = unsafe { ptr.as_ref() };
    let shared = header.shared();
    if shared.owner == thread_id() {
        // SAFETY: on the owner thread the owner-only fields may be touched.
        unsafe { wake_local(ptr) };
        if owned {
            // SAFETY: the caller's reference, given up.
            unsafe { release(ptr) };
        }
        return;
    }
    if !owned {
        retain(header);
    }
    let remote = &shared.remote;
    let mut queue = remote.queue.lock().unwrap_or_else(PoisonError::into_inner);
    if queue.closed {
        drop(queue);
        // SAFETY: the reference taken or handed over above; the guard is gone, so a free
        // of the task (and maybe of `remote`) cannot pull the lock from under it.
        unsafe { release(ptr) };
        return;
    }
    queue.tasks.push(TaskRef(ptr));
    remote.pending.store(true, Ordering::Release);
    // Notify under the lock: the queue's reference keeps `remote` alive until it drops.
    remote.notifier.notify();
}

/// Pushes the task onto its local queue unless it is already there or complete.
///
/// # Safety
///
/// On the owner thread of the live task at `ptr`.
pub(super) unsafe fn wake_local(ptr: NonNull<Header>) {
    // SAFETY: the caller guarantees a live task and the owner thread.
    let header = unsafe { ptr.as_ref() };
    let state = header.state.get();
    if state & (SCHEDULED | COMPLETE) != 0 {
        return;
    }
    header.state.set(state | SCHEDULED);
    header.shared().local.push(ptr);
}

/// Marks the task complete, unlinks it, wakes its joiner and drops the live reference
/// unless a queue entry still needs it.
///
/// # Safety
///
/// Owner thread; the task's future was just dropped by `poll` or `cancel`.
unsafe fn complete(ptr: NonNull<Header>) {
    // SAFETY: the live reference is still held.
    let header = unsafe { ptr.as_ref() };
    header
        .state
        .set((header.state.get() & !(RUNNING | CANCELLED)) | COMPLETE);
    let local = &header.shared().local;
    local.unlink(ptr);
    if header.state.get() & JOIN_WAKER != 0 {
        header.state.set(header.state.get() & !JOIN_WAKER);
        if let Some(waker) = local.take_join_waker(ptr) {
            waker.wake();
        }
    }
    if header.state.get() & SCHEDULED == 0 {
        // SAFETY: the live reference, released once (COMPLETE and not queued).
        unsafe { release(ptr) };
    }
}

/// Cancels the task now, or after its poll when it is running. Owner thread only.
///
/// # Safety
///
/// The caller holds a counted reference to the task at `ptr`, on its owner thread.
pub(super) unsafe fn abort(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps it alive.
    let header = unsafe { ptr.as_ref() };
    let state = header.state.get();
    if state & COMPLETE != 0 {
        return;
    }
    if state & RUNNING != 0 {
        header.state.set(state | CANCELLED);
        return;
    }
    header.state.set(state | RUNNING);
    // SAFETY: incomplete and not running: the future is `Running` and unborrowed.
    unsafe { (header.vtable.cancel)(ptr) };
    // SAFETY: the future was just dropped, on the owner thread.
    unsafe { complete(ptr) };
}

/// Drops a counted reference held by a `JoinHandle`.
///
/// # Safety
///
/// The caller owns that reference.
pub(super) unsafe fn release_handle(ptr: NonNull<Header>) {
    // SAFETY: forwarded.
    unsafe { release(ptr) }
}

/// Polls a task popped from the local queue.
///
/// # Safety
///
/// `ptr` was just popped from its owner's local queue, on the owner thread.
pub(super) unsafe fn run(ptr: NonNull<Header>, budget: u32) {
    // SAFETY: the live reference covers a queued task.
    let header = unsafe { ptr.as_ref() };
    let state = header.state.get() & !SCHEDULED;
    if state & COMPLETE != 0 {
        header.state.set(state);
        // SAFETY: the live reference, kept for this stale entry (see `complete`).
        unsafe { release(ptr) };
        return;
    }
    header.state.set(state | RUNNING);
    reactor::budget::refill(budget);
    // The live reference keeps the task alive for the whole poll: the waker borrows it.
    // SAFETY: the vtable upholds the RawWaker contract for task headers.
    let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(ptr)) });
    let mut cx = Context::from_waker(&waker);
    // SAFETY: owner thread, RUNNING set, the future is `Running` and unborrowed.
    let mut done = unsafe { (header.vtable.poll)(ptr, &mut cx) };
    if !done && header.state.get() & CANCELLED != 0 {
        // SAFETY: as above: the poll ended, the future is `Running` and unborrowed.
        unsafe { (header.vtable.cancel)(ptr) };
        done = true;
    }
    if done {
        // SAFETY: the future was just dropped, on the owner thread.
        unsafe { complete(ptr) };
    } else {
        header.state.set(header.state.get() & !RUNNING);
    }
}
