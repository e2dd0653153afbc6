//! `AbortHandle`: the power to cancel a task, without its output.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::cell::{Header, release, retain};
use super::harness;

/// An owned permission to cancel a spawned task, without waiting for its output: what
/// [`JoinHandle::abort_handle`](crate::JoinHandle::abort_handle) and
/// [`JoinSet::spawn`](crate::JoinSet::spawn) give.
///
/// It can be cloned, and dropping it does nothing to the task. Like the task and its
/// [`JoinHandle`](crate::JoinHandle), it belongs to the runtime's thread: `!Send`.
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let task = runtime::spawn(std::future::pending::<()>());
/// let abort = task.abort_handle();
/// abort.abort();
/// assert!(abort.is_finished());
/// assert!(task.await.unwrap_err().is_cancelled());
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::AbortHandle>();
/// ```
pub struct AbortHandle {
    /// Invariant: a counted reference to a live task. The handle is `!Send`, so every use
    /// is on the owner thread, which may touch `Header::state`.
    ptr: NonNull<Header>,
    _not_send: PhantomData<*const ()>,
}

impl AbortHandle {
    /// Takes a new counted reference to the task at `ptr`.
    ///
    /// # Safety
    ///
    /// The caller holds a counted reference to the live task at `ptr`, on its owner
    /// thread.
    pub(super) unsafe fn new(ptr: NonNull<Header>) -> AbortHandle {
        // SAFETY: the caller's reference keeps the header alive; `refs` is atomic.
        retain(unsafe { ptr.as_ref() });
        AbortHandle {
            ptr,
            _not_send: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's counted reference keeps the header alive (field invariant).
        unsafe { self.ptr.as_ref() }
    }

    /// Cancels the task, as [`JoinHandle::abort`](crate::JoinHandle::abort) does. Does
    /// nothing if it has already finished.
    pub fn abort(&self) {
        // SAFETY: the handle's reference; owner thread (field invariant).
        let _completed_now = unsafe { harness::abort(self.ptr) };
    }

    /// Whether the task has finished: returned, panicked or been aborted.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        // SAFETY: this handle's own reference keeps the task alive; owner thread.
        unsafe { AbortHandle::new(self.ptr) }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: the handle's own counted reference, given up once. If it is the last,
        // no stage field is live (an output is only kept while a `JoinHandle`, which
        // holds a reference of its own, wants it).
        unsafe { release(self.ptr) };
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
