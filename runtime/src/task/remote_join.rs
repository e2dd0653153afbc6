//! `RemoteJoinHandle`: the `Send` handle of a task spawned through a
//! [`Handle`](crate::Handle), and `RemoteTask`, the future around the task's own that
//! fills it.
//!
//! The task runs on its loop like any other; only its handle differs. A loop-local
//! [`JoinHandle`](super::JoinHandle) reads the task's state and output in place, which
//! only the owner thread may do. A `RemoteJoinHandle` may be awaited, aborted and
//! dropped on any thread, so the output travels through a slot of its own, a
//! `JoinSlot` shared by the handle and the task's `RemoteTask` wrapper (the task itself
//! is detached: see `remote.rs`):
//!
//! | field      | written by                                            | read by                        |
//! |------------|-------------------------------------------------------|--------------------------------|
//! | `stage`    | the wrapper, once (`Running` → `Finished`, or → `Taken` when detached); the handle (`Finished` → `Taken`) | the handle, an abort handle |
//! | `joiner`   | the handle's pending poll                             | the wrapper, when it delivers  |
//! | `task`     | the wrapper's first poll (the task's own waker)       | `abort`, to wake the task      |
//! | `detached` | the handle's drop                                     | the wrapper: drop the output at once |
//! | `aborted`  | `abort` (an atomic, any thread)                       | every poll of the wrapper      |
//!
//! The slot's mutex is held only to move these fields: no waker is woken, no future is
//! polled and no output is dropped under it. The wrapper runs on the owner thread (or,
//! if its loop was gone before it was handed over, on the spawning thread, unpolled).
//!
//! The wrapper keeps the harness's panic policy (see "Panics" in `task/mod.rs`): a panic
//! of the poll is a panic `JoinError`; a panic of the future's drop replaces the output
//! or the cancellation, but not a panic of the poll; a panic of the joiner's `wake` or
//! of a dropped output is swallowed.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::harness::{drop_quietly, wake_quietly};
use crate::error::JoinError;

/// What a `RemoteJoinHandle` and its task share.
struct JoinSlot<T> {
    state: Mutex<SlotState<T>>,
    /// Set by `abort`; the wrapper checks it at every poll.
    aborted: AtomicBool,
}

enum Stage<T> {
    Running,
    Finished(Result<T, JoinError>),
    /// The handle took the output, or it was dropped (by the handle, or by the task for a
    /// detached handle).
    Taken,
}

struct SlotState<T> {
    stage: Stage<T>,
    /// The waker of whoever awaits the handle.
    joiner: Option<Waker>,
    /// The task's own waker, from its first poll until it delivers: what `abort` wakes.
    task: Option<Waker>,
    /// The handle was dropped: nobody wants the output.
    detached: bool,
}

impl<T> JoinSlot<T> {
    fn lock(&self) -> MutexGuard<'_, SlotState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the output for the handle (or drops it when the handle is gone), then wakes
    /// the joiner.
    fn deliver(&self, output: Result<T, JoinError>) {
        let mut state = self.lock();
        let task = state.task.take();
        let (joiner, unwanted) = if state.detached {
            state.stage = Stage::Taken;
            (None, Some(output))
        } else {
            state.stage = Stage::Finished(output);
            (state.joiner.take(), None)
        };
        drop(state);
        // The task's own waker: its drop gives back a reference, which runs no user code.
        drop(task);
        drop_quietly(unwanted);
        if let Some(joiner) = joiner {
            wake_quietly(joiner);
        }
    }
}

pin_project_lite::pin_project! {
    /// The future a remotely spawned task runs: the caller's, whose output (or panic, or
    /// cancellation) it delivers to the `RemoteJoinHandle`'s slot.
    pub(super) struct RemoteTask<F: Future> {
        // `None` once the output was delivered.
        #[pin]
        future: Option<F>,
        slot: Arc<JoinSlot<F::Output>>,
        // Whether the task's waker was given to the slot (at the first poll).
        polled: bool,
    }

    impl<F: Future> PinnedDrop for RemoteTask<F> {
        /// Dropped before it finished (aborted by the runtime's shutdown, or never handed
        /// over): the handle gets a cancelled `JoinError`, or the panic of the drop.
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                finish(this.future, this.slot, Err(JoinError::cancelled()));
            }
        }
    }
}

/// A remotely spawned task's future and the handle that awaits it.
pub(super) fn pair<F: Future>(future: F) -> (RemoteTask<F>, RemoteJoinHandle<F::Output>) {
    let slot = Arc::new(JoinSlot {
        state: Mutex::new(SlotState {
            stage: Stage::Running,
            joiner: None,
            task: None,
            detached: false,
        }),
        aborted: AtomicBool::new(false),
    });
    let task = RemoteTask {
        future: Some(future),
        slot: slot.clone(),
        polled: false,
    };
    (task, RemoteJoinHandle { slot })
}

/// Drops the future in place, then delivers `output`, or the panic of that drop (see the
/// module docs for which wins).
fn finish<F: Future>(
    future: Pin<&mut Option<F>>,
    slot: &JoinSlot<F::Output>,
    output: Result<F::Output, JoinError>,
) {
    // An assignment whose drop of the old value panics still stores the new one: the
    // future is gone either way.
    let dropped = catch_unwind(AssertUnwindSafe(|| {
        let mut future = future;
        future.set(None);
    }));
    let output = match (output, dropped) {
        (output, Ok(())) => output,
        (Err(first), Err(payload)) if first.is_panic() => {
            drop_quietly(payload);
            Err(first)
        }
        (replaced, Err(payload)) => {
            drop_quietly(replaced);
            Err(JoinError::panic(payload))
        }
    };
    slot.deliver(output);
}

impl<F: Future> Future for RemoteTask<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if this.future.is_none() {
            return Poll::Ready(());
        }
        if !*this.polled {
            // Before `aborted` is read: an `abort` either sets it before this store (and
            // the read below sees it, both orders going through the mutex) or finds the
            // waker and wakes the task.
            *this.polled = true;
            this.slot.lock().task = Some(cx.waker().clone());
        }
        if this.slot.aborted.load(Ordering::Acquire) {
            finish(this.future, this.slot, Err(JoinError::cancelled()));
            return Poll::Ready(());
        }
        let polled = match this.future.as_mut().as_pin_mut() {
            Some(future) => catch_unwind(AssertUnwindSafe(|| future.poll(cx))),
            None => return Poll::Ready(()),
        };
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(JoinError::panic(payload)),
        };
        finish(this.future, this.slot, output);
        Poll::Ready(())
    }
}

/// An owned permission to await a task spawned with [`Handle::spawn`](crate::Handle::spawn),
/// from any thread.
///
/// It is what tokio's `JoinHandle` is: `Send` (when the output is) and `Sync`, so it can be
/// awaited on another loop, blocked on from a plain thread, or moved between threads.
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was
/// cancelled ([`abort`](RemoteJoinHandle::abort), or its runtime shut down first).
/// Dropping it detaches the task, which keeps running; its output is then dropped on the
/// loop when the task finishes.
///
/// The loop-local [`JoinHandle`](crate::JoinHandle) of [`spawn`](crate::spawn) is
/// `!Send`: it reads the task's state and output in place, without a lock or an atomic,
/// which only the loop's thread may do. This handle instead shares a small locked slot
/// with its task, which the task fills on its loop; that costs one more allocation per
/// spawn and a lock per delivery, the price of reaching a task from another thread.
///
/// ```
/// fn assert_send_sync<T: Send + Sync>() {}
/// assert_send_sync::<runtime::RemoteJoinHandle<String>>();
/// ```
pub struct RemoteJoinHandle<T> {
    slot: Arc<JoinSlot<T>>,
}

impl<T> RemoteJoinHandle<T> {
    /// Cancels the task, from any thread. Its future is dropped on its loop, at the
    /// loop's next turn (right away if the loop is waiting), without being polled again;
    /// awaiting the handle then gives a cancelled [`JoinError`]. A task that has already
    /// finished keeps its output.
    ///
    /// Unlike the loop-local [`JoinHandle::abort`](crate::JoinHandle::abort), which drops
    /// an idle task's future before it returns, this one only asks: the future is gone
    /// once [`is_finished`](RemoteJoinHandle::is_finished) says so.
    pub fn abort(&self) {
        self.slot.abort();
    }

    /// Whether the task has finished: returned, panicked or been cancelled (its future
    /// is dropped by then).
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }

    /// A handle that can [`abort`](RemoteAbortHandle::abort) the task, from any thread,
    /// without the power to await it; it may outlive this handle.
    pub fn abort_handle(&self) -> RemoteAbortHandle
    where
        T: Send + 'static,
    {
        RemoteAbortHandle {
            slot: self.slot.clone(),
        }
    }
}

impl<T> JoinSlot<T> {
    fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        let task = self.lock().task.take();
        if let Some(task) = task {
            task.wake();
        }
    }

    fn is_finished(&self) -> bool {
        !matches!(self.lock().stage, Stage::Running)
    }
}

/// What a [`RemoteAbortHandle`] reaches of the slot, whatever its output type.
trait Abort: Send + Sync {
    fn abort(&self);
    fn is_finished(&self) -> bool;
}

impl<T: Send> Abort for JoinSlot<T> {
    fn abort(&self) {
        JoinSlot::abort(self);
    }

    fn is_finished(&self) -> bool {
        JoinSlot::is_finished(self)
    }
}

/// The power to cancel a task spawned with [`Handle::spawn`](crate::Handle::spawn),
/// without its output: what [`RemoteJoinHandle::abort_handle`] gives. `Send`, `Sync` and
/// `Clone`, like tokio's `AbortHandle`; dropping it does nothing to the task.
///
/// ```
/// let rt = runtime::Runtime::new()?;
/// let task = rt.handle().spawn(std::future::pending::<()>());
/// let abort = task.abort_handle();
/// std::thread::spawn(move || abort.abort()).join().unwrap();
/// assert!(rt.block_on(task).unwrap_err().is_cancelled());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct RemoteAbortHandle {
    slot: Arc<dyn Abort>,
}

impl RemoteAbortHandle {
    /// Cancels the task, as [`RemoteJoinHandle::abort`] does.
    pub fn abort(&self) {
        self.slot.abort();
    }

    /// Whether the task has finished, as [`RemoteJoinHandle::is_finished`] says.
    pub fn is_finished(&self) -> bool {
        self.slot.is_finished()
    }
}

impl fmt::Debug for RemoteAbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteAbortHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> Future for RemoteJoinHandle<T> {
    type Output = Result<T, JoinError>;

    /// # Panics
    ///
    /// When polled again after it returned the output.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match std::mem::replace(&mut state.stage, Stage::Taken) {
            Stage::Finished(output) => Poll::Ready(output),
            Stage::Running => {
                state.stage = Stage::Running;
                let replaced = match &state.joiner {
                    Some(joiner) if joiner.will_wake(cx.waker()) => None,
                    _ => state.joiner.replace(cx.waker().clone()),
                };
                drop(state);
                drop(replaced);
                Poll::Pending
            }
            Stage::Taken => {
                drop(state);
                panic!("a `RemoteJoinHandle` was polled after it returned its output");
            }
        }
    }
}

impl<T> Drop for RemoteJoinHandle<T> {
    /// Detaches the task, or drops its output here if it finished. A panic in the
    /// output's `Drop`, or in that of the waker the handle stored, is swallowed, as the
    /// loop-local `JoinHandle` does.
    fn drop(&mut self) {
        let mut state = self.slot.lock();
        state.detached = true;
        // A running task stays `Running` (an abort handle may ask); its output is dropped
        // when it finishes.
        let output = match state.stage {
            Stage::Running => None,
            _ => Some(std::mem::replace(&mut state.stage, Stage::Taken)),
        };
        let joiner = state.joiner.take();
        drop(state);
        drop_quietly((output, joiner));
    }
}

impl<T> fmt::Debug for RemoteJoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
