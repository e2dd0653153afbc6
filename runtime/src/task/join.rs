//! `JoinHandle`: the owner-thread handle to a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::abort::AbortHandle;
use super::cell::{Header, release};
use super::harness::{self, drop_quietly};
use crate::error::JoinError;

/// Carries `T` for variance while keeping the handle `!Send` and `Unpin`.
type NotSendOutput<T> = (fn() -> T, *const ());

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// aborted (including by the runtime shutting down). Dropping it detaches the task,
/// which keeps running. It is `!Send`: it belongs to the runtime's thread, like the task.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::JoinHandle<()>>();
/// ```
pub struct JoinHandle<T> {
    /// Invariant: a counted reference to a live task whose output type is `T`, whose
    /// `JOIN_INTEREST` this handle is. The handle is `!Send`, so every use is on the
    /// owner thread, which may touch `Header::state`, the stage and `Local`.
    ptr: NonNull<Header>,
    _output: PhantomData<NotSendOutput<T>>,
}

impl<T> JoinHandle<T> {
    /// Wraps a counted reference.
    ///
    /// # Safety
    ///
    /// `ptr` heads a task whose future outputs `T`; the caller gives up one counted
    /// reference to it, and the task has `JOIN_INTEREST` set.
    pub(super) unsafe fn from_raw(ptr: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            ptr,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's counted reference keeps the header alive (field invariant).
        unsafe { self.ptr.as_ref() }
    }

    /// Cancels the task. Its future is dropped now (or right after its current poll, if
    /// it aborts itself), and awaiting the handle then gives a cancelled [`JoinError`].
    /// Does nothing if the task has already finished.
    pub fn abort(&self) {
        // SAFETY: the handle's reference; owner thread (field invariant).
        let _completed_now = unsafe { harness::abort(self.ptr) };
    }

    /// Whether the task has finished: returned, panicked or been aborted.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// A handle that can cancel the task without waiting for its output (and outlive
    /// this one).
    pub fn abort_handle(&self) -> AbortHandle {
        // SAFETY: the handle's counted reference; owner thread (field invariant).
        unsafe { AbortHandle::new(self.ptr) }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Panics
    ///
    /// When polled again after it returned the output.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.header();
        let state = header.state.load();
        if !state.is_complete() {
            // Owner thread (field invariant), which alone uses `local`.
            let local = &header.shared().local;
            if !state.has_join_waker() || !local.join_waker_will_wake(self.ptr, cx.waker()) {
                // Clone before and drop after the table's borrow: either may run foreign
                // code, which may come back to the table. A panic of either reaches the
                // caller with the table and the state consistent.
                let waker = cx.waker().clone();
                let replaced = local.set_join_waker(self.ptr, waker);
                header.state.set_join_waker();
                drop(replaced);
            }
            return Poll::Pending;
        }
        assert!(
            header.state.transition_to_output_taken(),
            "a `JoinHandle` was polled after it returned its output"
        );
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `OUTPUT` was just cleared by this handle, so the stored output is its
        // to take; the task outputs `T` (field invariant), and `out` is a valid slot of
        // the type `take_output` writes; owner thread.
        unsafe { (header.vtable.take_output)(self.ptr, (&raw mut out).cast()) };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    /// Detaches the task, or drops its output if it finished. A panic in the output's
    /// `Drop`, or in that of the waker the handle stored, is swallowed, as tokio does:
    /// whoever drops a handle has given up on what it holds.
    fn drop(&mut self) {
        let header = self.header();
        let dropped = header.state.transition_to_join_handle_dropped();
        if dropped.drop_waker {
            // Owner thread (field invariant); dropped after the table's borrow.
            let waker = header.shared().local.take_join_waker(self.ptr);
            drop_quietly(waker);
        }
        if dropped.drop_output {
            // SAFETY: the transition cleared `OUTPUT`, handing the stored output to this
            // handle; owner thread (field invariant).
            unsafe { (header.vtable.drop_output)(self.ptr) };
        }
        // SAFETY: the handle's own counted reference, given up once.
        unsafe { release(self.ptr) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
