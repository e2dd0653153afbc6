//! The harness: polling a task, cancelling it and completing it, on the owner thread
//! (see "State" and "Panics" in `task/mod.rs`).
//!
//! Every piece of user code the harness runs (the future's poll and drop, the output's
//! drop, the joiner's `wake`) runs under `catch_unwind`, and the state transition that
//! follows it does not depend on how it ended. So a panic anywhere leaves the task
//! either idle or complete, never `RUNNING` and linked with nobody polling it.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::cell::{Header, release, stage};
use super::state::{Abort, OutputSlot, ToIdle, ToRunning};
use super::waker::borrowed_waker;
use crate::error::{Cancelled, JoinError};

/// Polls a task popped from the local queue. Inlined into the scheduler's `run_one`,
/// its one caller: it runs once per task poll.
///
/// # Safety
///
/// `ptr` was just popped from its owner's local queue, on the owner thread. The queue
/// entry stands for the executor's live reference (see "References" in `task/mod.rs`).
#[inline]
pub(super) unsafe fn run(ptr: NonNull<Header>, budget: u32) {
    // SAFETY: the live reference covers a queued task.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_running() == ToRunning::ReleaseStale {
        // SAFETY: the live reference, kept for this stale entry (see `complete`).
        unsafe { release(ptr) };
        return;
    }
    reactor::budget::refill(budget);
    // SAFETY: the live reference keeps the task alive for the whole poll; it is released
    // only by `complete`, after the waker is gone.
    let waker = unsafe { borrowed_waker(ptr) };
    let mut cx = Context::from_waker(&waker);
    // SAFETY: owner thread; `transition_to_running` set `RUNNING` on an incomplete task,
    // so the future is the live stage field and nothing else borrows it.
    let done = unsafe { (header.vtable.poll)(ptr, &mut cx) };
    if done {
        // SAFETY: the future was just dropped, on the owner thread, `RUNNING` still set.
        unsafe { complete(ptr) };
    } else if header.state.transition_to_idle() == ToIdle::Cancel {
        // SAFETY: aborted during the poll: still `RUNNING`, and the poll is over, so the
        // future is live and unborrowed; owner thread.
        unsafe {
            (header.vtable.cancel)(ptr);
            complete(ptr);
        }
    }
}

/// Cancels the task now, or after its poll when it is running. Returns whether it
/// completed the task now.
///
/// # Safety
///
/// The caller holds a counted reference to the task at `ptr`, on its owner thread.
pub(super) unsafe fn abort(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller's reference keeps it alive.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_aborted() {
        Abort::DropFuture => {
            // SAFETY: the transition set `RUNNING` on an idle, incomplete task: its
            // future is live and unborrowed. Owner thread.
            unsafe {
                (header.vtable.cancel)(ptr);
                complete(ptr);
            }
            true
        }
        Abort::Deferred | Abort::AlreadyComplete => false,
    }
}

/// Marks the task complete, unlinks it, wakes its joiner and drops the live reference
/// unless a queue entry still needs it.
///
/// # Safety
///
/// Owner thread; the task's future was just dropped by `poll` or `cancel`, and `RUNNING`
/// is still set. The caller holds a reference besides the live one or gives up nothing:
/// the live reference may be released here.
unsafe fn complete(ptr: NonNull<Header>) {
    // SAFETY: the live reference is still held (released at the end, at the earliest).
    let header = unsafe { ptr.as_ref() };
    let done = header.state.transition_to_complete();
    let local = &header.shared().local;
    // Owner thread: the list and the join-waker table are `Local`'s.
    local.unlink(ptr);
    if done.wake_join {
        if let Some(waker) = local.take_join_waker(ptr) {
            wake_quietly(waker);
        }
    }
    if done.release_live {
        // SAFETY: the live reference, released once: `COMPLETE` is set and the task is
        // not queued (a queued entry releases it on its pop instead).
        unsafe { release(ptr) };
    }
}

/// The vtable's `poll` for a `TaskCell<F>`.
///
/// # Safety
///
/// `ptr` heads a `TaskCell<F>`; owner thread; `RUNNING` set by the caller on an
/// incomplete task, so the future is the live stage field and unborrowed.
pub(super) unsafe fn poll_future<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> bool {
    // SAFETY: the vtable of a `TaskCell<F>` is only called with its own header.
    let stage = unsafe { stage::<F>(ptr) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `RUNNING` on an incomplete task (contract): `running` is the live field
        // and this is its only borrow, which ends with the closure.
        let fut: &mut F = unsafe { &mut (*stage).running };
        // SAFETY: the future never moves inside its allocation; it is dropped in place
        // (`finish`), which is what `Pin` asks.
        unsafe { Pin::new_unchecked(fut) }.poll(cx)
    }));
    let output = match result {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) if payload.is::<Cancelled>() => Err(JoinError::cancelled()),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    // SAFETY: same task, owner thread, `RUNNING`, future live and no longer borrowed.
    unsafe { finish::<F>(ptr, output) };
    true
}

/// The vtable's `cancel` for a `TaskCell<F>`.
///
/// # Safety
///
/// As for [`poll_future`].
pub(super) unsafe fn cancel_future<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: forwarded: own header, owner thread, `RUNNING`, future live and unborrowed.
    unsafe { finish::<F>(ptr, Err(JoinError::cancelled())) }
}

/// Drops the future in place, then stores the output for the `JoinHandle` (setting
/// `OUTPUT`), or drops it when there is none.
///
/// A panic in the future's `Drop` replaces a value or a cancellation as the output
/// (what awaiting the handle reports, as tokio does); a panic of the poll itself is
/// kept over it. Whatever is replaced is dropped here, under `catch_unwind`.
///
/// # Safety
///
/// `ptr` heads a `TaskCell<F>` whose future is live and unborrowed; owner thread;
/// `RUNNING` set.
unsafe fn finish<F: Future>(ptr: NonNull<Header>, output: Result<F::Output, JoinError>) {
    // SAFETY: see the function's contract.
    let stage = unsafe { stage::<F>(ptr) };
    // SAFETY: `running` is the live field and owned by this allocation: dropping it in
    // place ends the pinned future, once. A panic in its `Drop` still leaves it dropped
    // (the drop glue finishes the fields), and from here on no field of the stage is live.
    let dropped = catch_unwind(AssertUnwindSafe(|| unsafe {
        ManuallyDrop::drop(&mut (*stage).running)
    }));
    let output = match (output, dropped) {
        (output, Ok(())) => output,
        (Err(first), Err(payload)) if first.is_panic() => {
            forget_payload(payload);
            Err(first)
        }
        (replaced, Err(payload)) => {
            drop_quietly(replaced);
            Err(JoinError::panic(payload))
        }
    };
    // SAFETY: `ptr` is live (the executor's live reference) and this is the owner thread.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_output_slot() {
        // SAFETY: no stage field is live (the future was dropped above) and none is
        // borrowed; the transition set `OUTPUT`, which now tells that `finished` is live.
        // The write runs no code: the union field is `ManuallyDrop`.
        OutputSlot::Store => unsafe { (*stage).finished = ManuallyDrop::new(output) },
        OutputSlot::Drop => drop_quietly(output),
    }
}

/// Drops `value`, swallowing a panic of its `Drop`. Nobody could observe that panic:
/// the panic hook has reported it, and the harness stays consistent.
pub(super) fn drop_quietly<T>(value: T) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        forget_payload(payload);
    }
}

/// Wakes a joiner's waker, swallowing a panic of its `wake` (or of its drop).
pub(super) fn wake_quietly(waker: Waker) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || waker.wake())) {
        forget_payload(payload);
    }
}

/// Drops a panic payload nobody will see. A payload whose own `Drop` panics is leaked
/// instead: unwinding out of here would undo the harness's consistency.
fn forget_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}
