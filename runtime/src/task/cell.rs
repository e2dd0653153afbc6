//! The task allocation: the header, the stage, the vtable of generic operations, and
//! the reference count that frees it (see the protocol in `task/mod.rs`).

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use super::harness::{self, drop_quietly};
use super::scheduler::Shared;
use super::state::State;
use crate::error::JoinError;

/// The non-generic head of every task allocation: 40 bytes on 64-bit targets.
pub(super) struct Header {
    /// Counted references (see "References" in `task/mod.rs`). Any thread.
    pub(super) refs: AtomicU32,
    /// The state bits. Owner thread only.
    pub(super) state: State,
    /// The run queue the task goes to when woken: 0 is the most urgent (see
    /// "Priorities" in `scheduler.rs`). Immutable; any thread.
    pub(super) priority: u8,
    /// The generic operations of this task's `TaskCell<F>`. Immutable; any thread.
    pub(super) vtable: &'static TaskVTable,
    /// The runtime's queues: one counted `Arc<Shared>` reference (from `Arc::into_raw`),
    /// given back when the allocation is freed. Immutable; any thread reads `owner` and
    /// `remote` through it, the owner thread alone `local`.
    pub(super) shared: NonNull<Shared>,
    /// Links of the owner's list of live tasks. Owner thread only.
    pub(super) prev: Cell<Option<NonNull<Header>>>,
    pub(super) next: Cell<Option<NonNull<Header>>>,
}

// The header stays at 40 bytes on 64-bit targets: it is paid once per task.
const _: () = assert!(size_of::<usize>() != 8 || size_of::<Header>() == 40);

impl Header {
    /// The runtime's queues.
    pub(super) fn shared(&self) -> &Shared {
        // SAFETY: `shared` is immutable and holds a counted `Arc<Shared>` reference until
        // the allocation is freed (field invariant); `&self` proves it is not freed yet.
        unsafe { self.shared.as_ref() }
    }
}

/// The generic operations of a task, one static table per future type.
pub(super) struct TaskVTable {
    /// Polls the future. On `Ready` or a panic, drops the future and stores or drops the
    /// output, and returns true. Requires the owner thread and `RUNNING` set by the
    /// caller on an incomplete task.
    pub(super) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future and records a cancelled `JoinError` (or the panic of its drop).
    /// Same requirements.
    pub(super) cancel: unsafe fn(NonNull<Header>),
    /// Moves the stored output into `*dst` (a `Poll<Result<T, JoinError>>`). Requires
    /// the owner thread and that the caller just cleared `OUTPUT`
    /// (`State::transition_to_output_taken`).
    pub(super) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the stored output, swallowing a panic of its `Drop`. Same requirements,
    /// with `OUTPUT` cleared by `State::transition_to_join_handle_dropped`.
    pub(super) drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation. Requires that no reference is left, hence no live stage
    /// field (see "References" in `task/mod.rs`).
    dealloc: unsafe fn(NonNull<Header>),
}

/// The future, then its output, in one place. Which field is live is told by the
/// header's state bits (see "Layout" in `task/mod.rs`): `running` while the task is not
/// `COMPLETE`, `finished` while `OUTPUT` is set, neither otherwise.
pub(super) union Stage<F: Future> {
    pub(super) running: ManuallyDrop<F>,
    pub(super) finished: ManuallyDrop<Result<F::Output, JoinError>>,
}

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

impl<F: Future + 'static> TaskCell<F> {
    const VTABLE: TaskVTable = TaskVTable {
        poll: harness::poll_future::<F>,
        cancel: harness::cancel_future::<F>,
        take_output: take_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
    };
}

/// Allocates a task for `future`, `SCHEDULED` and with `JOIN_INTEREST` (`State::new`),
/// holding two references: the executor's live one and the `JoinHandle`'s. It runs in
/// the queue of `priority`.
pub(super) fn allocate<F>(future: F, shared: &Arc<Shared>, priority: u8) -> NonNull<Header>
where
    F: Future + 'static,
{
    // SAFETY: `Arc::into_raw` never returns null. The raw pointer (not a reference) is
    // kept, so that `Arc::from_raw` in `dealloc` may reach the counts around it.
    let shared = unsafe { NonNull::new_unchecked(Arc::into_raw(shared.clone()).cast_mut()) };
    let cell = Box::new(TaskCell {
        header: Header {
            refs: AtomicU32::new(2),
            state: State::new(),
            priority,
            vtable: &TaskCell::<F>::VTABLE,
            shared,
            prev: Cell::new(None),
            next: Cell::new(None),
        },
        stage: UnsafeCell::new(Stage {
            running: ManuallyDrop::new(future),
        }),
    });
    // The pointer keeps the provenance of the whole allocation: `Header` is the first
    // field of a `repr(C)` struct, so the vtable casts it back to `TaskCell<F>`.
    NonNull::from(Box::leak(cell)).cast::<Header>()
}

/// The stage of the task at `ptr`.
///
/// # Safety
///
/// `ptr` heads a live `TaskCell<F>` (the caller holds a counted reference).
pub(super) unsafe fn stage<F: Future>(ptr: NonNull<Header>) -> *mut Stage<F> {
    let cell = ptr.cast::<TaskCell<F>>().as_ptr();
    // SAFETY: the caller guarantees `cell` is a live TaskCell<F> (`allocate` made it with
    // this type, and `Header` is its first field, `repr(C)`); `&raw mut` makes no
    // reference, so a `&Header` held elsewhere is not disturbed.
    unsafe { UnsafeCell::raw_get(&raw mut (*cell).stage) }
}

unsafe fn take_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller cleared `OUTPUT`, so `finished` was the live field and is now
    // the caller's, read once here; owner thread, and nothing else borrows the stage
    // (only the owner thread touches it, and not during this call).
    let output = unsafe { ManuallyDrop::take(&mut (*stage::<F>(ptr)).finished) };
    let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
    // SAFETY: the `JoinHandle<F::Output>` passes a valid, initialised slot of exactly
    // this type; the assignment drops its previous value, `Pending`, which runs no code.
    unsafe { *dst = Poll::Ready(output) };
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: as in `take_output`: `OUTPUT` was just cleared by the caller, so the output
    // is moved out once, then dropped outside the stage.
    let output = unsafe { ManuallyDrop::take(&mut (*stage::<F>(ptr)).finished) };
    drop_quietly(output);
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone, so nothing else can reach the allocation, which
    // `allocate` made with `Box::new` and this very type. No stage field is live (a live
    // future or output keeps a reference: see "References" in `task/mod.rs`), and the
    // fields are `ManuallyDrop`, so freeing runs no user code. The header's `Arc<Shared>`
    // reference is given back.
    unsafe {
        let cell = Box::from_raw(ptr.cast::<TaskCell<F>>().as_ptr());
        drop(Arc::from_raw(cell.header.shared.as_ptr().cast_const()));
    }
}

/// Takes a counted reference. Any thread.
pub(super) fn retain(header: &Header) {
    // Relaxed, as for `Arc`: the caller's own reference keeps the task alive meanwhile.
    if header.refs.fetch_add(1, Ordering::Relaxed) > i32::MAX as u32 {
        std::process::abort();
    }
}

/// Drops a counted reference; frees the task when it was the last. Any thread.
///
/// # Safety
///
/// The caller owns one counted reference to the live task at `ptr` and gives it up.
pub(super) unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until the decrement; `refs`
    // is atomic, the one field every thread may touch.
    let header = unsafe { ptr.as_ref() };
    if header.refs.fetch_sub(1, Ordering::Release) == 1 {
        // An acquire load rather than a fence, as `Arc` does under ThreadSanitizer, which
        // does not model fences: it reads the end of the release sequence of every
        // decrement, so it orders them all before the free, as the fence would.
        header.refs.load(Ordering::Acquire);
        let dealloc = header.vtable.dealloc;
        // SAFETY: that was the last reference; every other thread's use happened before
        // its decrement (Release), which this load orders before the free (Acquire).
        unsafe { dealloc(ptr) };
    }
}

/// Takes back a task that was never handed to its owner (its remote queue was closed):
/// frees the allocation, gives back its `Arc<Shared>` reference and returns the future,
/// unpolled, for the caller to drop.
///
/// # Safety
///
/// `ptr` came from `allocate::<F>` and was never published: no other thread can reach it,
/// its state is still the new task's, and the caller holds every reference to it.
pub(super) unsafe fn reclaim<F: Future>(ptr: NonNull<Header>) -> F {
    // SAFETY: by the contract, the allocation is the `TaskCell<F>` `allocate` made with
    // `Box::new`, nothing else reaches it, and its stage holds the future (a new task's
    // live field). `TaskCell` has no `Drop`, so it can be taken apart; the future is moved
    // out before anything pinned it (it was never polled).
    unsafe {
        let TaskCell { header, stage } = *Box::from_raw(ptr.cast::<TaskCell<F>>().as_ptr());
        drop(Arc::from_raw(header.shared.as_ptr().cast_const()));
        ManuallyDrop::into_inner(stage.into_inner().running)
    }
}
