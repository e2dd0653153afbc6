//! `JoinHandle`: the owner-thread handle to a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::raw::{self, COMPLETE, Header, JOIN_INTEREST, JOIN_WAKER};
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
    /// Invariant: a counted reference to a live task whose output type is `T`.
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
        // SAFETY: the handle's reference; a `JoinHandle` is !Send so this is the owner
        // thread.
        unsafe { raw::abort(self.ptr) }
    }

    /// Whether the task has finished: returned, panicked or been aborted.
    pub fn is_finished(&self) -> bool {
        self.header().state.get() & COMPLETE != 0
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.header();
        let state = header.state.get();
        if state & COMPLETE == 0 {
            // The handle is !Send, so this is the owner thread, which alone uses `local`.
            let local = &header.shared().local;
            if state & JOIN_WAKER == 0 || !local.join_waker_will_wake(self.ptr, cx.waker()) {
                // Clone before and drop after the table's borrow: either may run foreign
                // code, which may come back to the table.
                let waker = cx.waker().clone();
                let replaced = local.set_join_waker(self.ptr, waker);
                header.state.set(header.state.get() | JOIN_WAKER);
                drop(replaced);
            }
            return Poll::Pending;
        }
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: the task is complete and outputs `T` (field invariant); `out` is a
        // valid slot of the type `take_output` writes; owner thread.
        unsafe { (header.vtable.take_output)(self.ptr, (&raw mut out).cast()) };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.header();
        let state = header.state.get();
        header.state.set(state & !(JOIN_INTEREST | JOIN_WAKER));
        if state & JOIN_WAKER != 0 {
            // Owner thread (the handle is !Send); dropped after the table's borrow.
            let waker = header.shared().local.take_join_waker(self.ptr);
            drop(waker);
        }
        if state & COMPLETE != 0 {
            // SAFETY: complete, so the future is gone and the output (if `OUTPUT`) is live;
            // owner thread.
            unsafe { (header.vtable.drop_output)(self.ptr) };
        }
        // SAFETY: the handle's own counted reference, given up once.
        unsafe { raw::release_handle(self.ptr) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
