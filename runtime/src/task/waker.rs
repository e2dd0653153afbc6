//! The task `Waker`: its vtable, and the local and remote wake paths (see "Who touches
//! what" in `task/mod.rs`).
//!
//! A waker's data pointer is a task header, and each waker holds one counted reference.
//! A waker may be cloned, woken and dropped on any thread. On the owner thread a wake
//! sets `SCHEDULED` and pushes to the local queue; elsewhere it touches only
//! `Header::refs` and the remote queue, because `Header::state` and the local queue are
//! owner-thread only.

use std::ptr::NonNull;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::cell::{Header, release, retain};
use super::scheduler::TaskRef;
use super::state::Notified;
use super::thread_id;

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// A waker for the task at `ptr` that does not own a reference: the caller keeps one
/// alive for as long as the waker may be used, and never drops it (`ManuallyDrop`).
///
/// # Safety
///
/// The caller holds a counted reference to the task for the waker's whole life.
pub(super) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> std::mem::ManuallyDrop<Waker> {
    let raw = RawWaker::new(ptr.as_ptr().cast_const().cast(), &WAKER_VTABLE);
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for task headers, and
    // the caller's reference stands in for the one a waker owns; `ManuallyDrop` keeps the
    // waker from giving it up.
    std::mem::ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The header a waker's data pointer names.
///
/// # Safety
///
/// `data` came from a task waker (a `NonNull<Header>`).
unsafe fn header_ptr(data: *const ()) -> NonNull<Header> {
    // SAFETY: a task waker's data is a non-null header pointer (`borrowed_waker`,
    // `waker_clone`), with the provenance of its whole allocation.
    unsafe { NonNull::new_unchecked(data.cast_mut().cast::<Header>()) }
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a task waker's, which holds a counted reference, so the header
    // is live; `retain` touches only `refs`, the atomic any thread may use.
    retain(unsafe { header_ptr(data).as_ref() });
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: a task waker's data; its reference is handed over to `wake`.
    unsafe { wake(header_ptr(data), true) }
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: a task waker's data; the borrowed waker keeps its reference for the call.
    unsafe { wake(header_ptr(data), false) }
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: a task waker's data; its counted reference is given up once.
    unsafe { release(header_ptr(data)) }
}

/// Schedules the task. `owned`: the caller gives up one counted reference.
///
/// The owner thread's path (a push to the local queue) is the hot one and stays small;
/// a wake from another thread goes through [`wake_remote`], kept out of line.
///
/// # Safety
///
/// The caller holds a counted reference to the task at `ptr` (owned or borrowed).
#[inline]
unsafe fn wake(ptr: NonNull<Header>, owned: bool) {
    // SAFETY: the caller's reference keeps the header alive. On a foreign thread only
    // `refs`, `vtable` and `shared` are read (immutable or atomic fields).
    let header = unsafe { ptr.as_ref() };
    if header.shared().owner == thread_id() {
        // SAFETY: the owner thread, which alone may touch `Header::state` and the local
        // queue; the caller's reference keeps the task alive.
        unsafe { wake_local(ptr) };
        if owned {
            // SAFETY: the caller's reference, given up.
            unsafe { release(ptr) };
        }
        return;
    }
    // SAFETY: forwarded: the caller's reference, off the owner thread.
    unsafe { wake_remote(ptr, owned) }
}

/// [`wake`] from a thread other than the task's owner: the task goes to the remote
/// queue and the owner's reactor is notified.
///
/// # Safety
///
/// As for [`wake`], on a thread that is not the task's owner.
#[cold]
#[inline(never)]
unsafe fn wake_remote(ptr: NonNull<Header>, owned: bool) {
    // SAFETY: the caller's reference keeps the header alive; only `refs` and `shared`
    // are touched here (atomic or immutable fields).
    let header = unsafe { ptr.as_ref() };
    let shared = header.shared();
    if !owned {
        retain(header);
    }
    let remote = &shared.remote;
    let mut queue = remote.queue.lock().unwrap_or_else(PoisonError::into_inner);
    if queue.closed {
        drop(queue);
        // SAFETY: the reference taken or handed over above; the guard is gone, so a free
        // of the task (and maybe of `Shared`, `remote` included) cannot pull the lock
        // from under it.
        unsafe { release(ptr) };
        return;
    }
    // The entry owns the reference: the owner thread releases it when it drains.
    queue.tasks.push(TaskRef(ptr));
    remote.pending.store(true, Ordering::Release);
    // Notify under the lock: the entry's reference keeps `Shared`, and so `remote`,
    // alive until the owner drains it, which needs the lock.
    remote.notifier.notify();
}

/// Pushes the task onto its local queue unless it is already there or complete.
///
/// # Safety
///
/// On the owner thread (which alone touches `Header::state` and the local queue), with
/// a counted reference to the task at `ptr`.
pub(super) unsafe fn wake_local(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_notified_local() == Notified::Submit {
        // The queue entry needs no reference of its own: the live reference covers a
        // queued task until its pop (see "References" in `task/mod.rs`).
        header.shared().local.push(ptr);
    }
}
