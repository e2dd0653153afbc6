//! `JoinSet`: a collection of spawned tasks, joined in the order they finish.
//!
//! # Protocol
//!
//! The set keeps its [`JoinHandle`]s in a slab of entries. Each entry has its own waker,
//! an [`EntryWaker`], that the entry's handle is polled with; the runtime stores it as
//! the task's join waker and wakes it when the task completes (returns, panics or is
//! aborted). Waking it pushes the entry's index onto the set's ready list (once: the
//! `queued` flag is set until the set pops the index again) and wakes the task waiting
//! in [`JoinSet::join_next`], if one is.
//!
//! `join_next` pops indices off the ready list and polls only those entries. A freshly
//! spawned entry starts on the ready list, so that its first poll registers its waker.
//! A popped entry whose task has not finished (a stale wake) is polled, registers its
//! waker again and stays in the set. So joining `n` tasks costs `O(n)` polls in all,
//! however many tasks the set holds, as in `FuturesUnordered`.
//!
//! The ready list sits behind a `Mutex` only because a `Waker` must be `Send + Sync`;
//! the set and its tasks live on one thread, so the lock is never contended. No waker is
//! cloned, woken or dropped under the lock, so no foreign code runs under it.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::error::JoinError;
use crate::task::{AbortHandle, JoinHandle};

/// A set of tasks spawned on the current loop, awaited in the order they finish.
///
/// Like [`spawn`](crate::spawn), [`JoinSet::spawn`] takes any `'static` future, `Send` or
/// not. [`join_next`](JoinSet::join_next) gives the output of the next task to finish
/// (or its [`JoinError`] if it panicked or was aborted: a panic in one task does not
/// disturb the others), and `None` once the set is empty. Dropping the set aborts every
/// task still in it; [`detach_all`](JoinSet::detach_all) lets them run on instead.
///
/// It belongs to the loop's thread, as its tasks do, so it is `!Send`.
///
/// ```
/// use runtime::JoinSet;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let mut set = JoinSet::new();
/// for i in 0..10u64 {
///     set.spawn(async move { i * i });
/// }
/// let mut total = 0;
/// while let Some(result) = set.join_next().await {
///     total += result.expect("the task neither panicked nor was aborted");
/// }
/// assert_eq!(total, 285);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<runtime::JoinSet<()>>();
/// ```
pub struct JoinSet<T> {
    entries: Vec<Slot<T>>,
    /// Head of the list of vacant slots, linked through `Slot::Vacant`.
    free: Option<usize>,
    len: usize,
    ready: Arc<ReadyList>,
    /// How many times an entry's handle was polled (for the cost tests).
    #[cfg(test)]
    polls: u64,
}

enum Slot<T> {
    Occupied(Entry<T>),
    /// The next vacant slot.
    Vacant(Option<usize>),
}

struct Entry<T> {
    handle: JoinHandle<T>,
    /// The waker this entry's handle is polled with; it knows the entry's index.
    waker: Waker,
    wake: Arc<EntryWaker>,
}

/// The indices of the entries whose tasks were woken, and the task awaiting them.
#[derive(Default)]
struct ReadyList {
    inner: Mutex<ReadyInner>,
}

#[derive(Default)]
struct ReadyInner {
    /// FIFO, so that tasks are joined in the order they finished.
    indices: VecDeque<usize>,
    /// The task waiting in `join_next`, taken out when woken.
    waiter: Option<Waker>,
}

impl ReadyList {
    fn lock(&self) -> MutexGuard<'_, ReadyInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The waker of one entry: pushes its index onto the ready list.
struct EntryWaker {
    index: usize,
    /// Set while `index` is on the ready list.
    queued: AtomicBool,
    ready: Arc<ReadyList>,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let waiter = {
            let mut ready = self.ready.lock();
            ready.indices.push_back(self.index);
            ready.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: Vec::new(),
            free: None,
            len: 0,
            ready: Arc::default(),
            #[cfg(test)]
            polls: 0,
        }
    }

    /// How many tasks are in the set: running, or finished and not yet joined.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Aborts every task in the set. They stay in it until joined: each then gives a
    /// cancelled [`JoinError`], or its output if it had already finished.
    pub fn abort_all(&mut self) {
        for slot in &self.entries {
            if let Slot::Occupied(entry) = slot {
                entry.handle.abort();
            }
        }
    }

    /// Removes every task from the set without aborting it: they run on, detached.
    pub fn detach_all(&mut self) {
        self.entries.clear();
        self.free = None;
        self.len = 0;
        self.ready.lock().indices.clear();
    }

    /// Joins the next finished task, if one has finished, without waiting.
    ///
    /// Returns `None` when no task in the set has finished (or the set is empty).
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.poll_ready_entries()
    }

    /// Waits for the next task to finish and gives its output, or `None` if the set is
    /// empty.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no task's output is
    /// lost; it stays in the set for the next call.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next task to finish: `Ready(None)` if the set is empty,
    /// `Ready(Some(result))` for a finished task, else `Pending` with `cx`'s waker kept
    /// to be woken when a task finishes.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        // Register before looking, so that a wake between the look and the return is not
        // lost. The waker is cloned, and the one it replaces dropped, outside the lock.
        let registered = self
            .ready
            .lock()
            .waiter
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if !registered {
            let waker = cx.waker().clone();
            let replaced = self.ready.lock().waiter.replace(waker);
            drop(replaced);
        }
        match self.poll_ready_entries() {
            Some(result) => Poll::Ready(Some(result)),
            None => Poll::Pending,
        }
    }

    /// Aborts every task and waits for all of them to finish, dropping their outputs.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for every task and gives their outputs in the order they finished.
    ///
    /// # Panics
    ///
    /// If a task panicked, the panic is resumed here (after aborting the rest); if a task
    /// was aborted, this panics. Use [`join_next`](JoinSet::join_next) to handle either.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len);
        while let Some(result) = self.join_next().await {
            match result {
                Ok(output) => outputs.push(output),
                Err(e) => match e.try_into_panic() {
                    Ok(payload) => {
                        self.abort_all();
                        std::panic::resume_unwind(payload)
                    }
                    Err(e) => panic!("a task of a JoinSet was aborted: {e}"),
                },
            }
        }
        outputs
    }

    /// Pops the ready entries and polls each, until one gives its output.
    fn poll_ready_entries(&mut self) -> Option<Result<T, JoinError>> {
        loop {
            let index = self.ready.lock().indices.pop_front()?;
            let Some(Slot::Occupied(entry)) = self.entries.get_mut(index) else {
                continue; // joined or detached since it was queued
            };
            // Clear before polling: a wake during or after the poll queues it again.
            entry.wake.queued.store(false, Ordering::Release);
            let mut cx = Context::from_waker(&entry.waker);
            #[cfg(test)]
            {
                self.polls += 1;
            }
            if let Poll::Ready(result) = Pin::new(&mut entry.handle).poll(&mut cx) {
                self.remove(index);
                return Some(result);
            }
        }
    }

    fn remove(&mut self, index: usize) {
        self.entries[index] = Slot::Vacant(self.free);
        self.free = Some(index);
        self.len -= 1;
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `future` on the current loop as a task of this set. The future need not be
    /// `Send`: it runs on this thread.
    ///
    /// Returns an [`AbortHandle`] that cancels this one task; its output (or cancelled
    /// [`JoinError`]) still comes out of [`join_next`](JoinSet::join_next).
    ///
    /// # Panics
    ///
    /// Outside a runtime, as [`spawn`](crate::spawn) does.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::spawn(future))
    }

    /// Spawns `future` on the current loop in the run queue of `priority` (see
    /// [`spawn_with_priority`](crate::spawn_with_priority)), as a task of this set.
    ///
    /// # Panics
    ///
    /// Outside a runtime, or if `priority` is out of the runtime's range.
    #[track_caller]
    pub fn spawn_with_priority<F>(&mut self, priority: usize, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::spawn_with_priority(priority, future))
    }

    /// Adds an already spawned task to the set, which then owns it: dropping the set
    /// aborts it. Returns an [`AbortHandle`] for it.
    pub fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        let index = match self.free {
            Some(index) => index,
            None => {
                self.entries.push(Slot::Vacant(None));
                self.entries.len() - 1
            }
        };
        if let Slot::Vacant(next) = self.entries[index] {
            self.free = next;
        }
        // Queued from the start: its first poll registers its waker.
        let wake = Arc::new(EntryWaker {
            index,
            queued: AtomicBool::new(true),
            ready: self.ready.clone(),
        });
        let waker = Waker::from(wake.clone());
        self.entries[index] = Slot::Occupied(Entry {
            handle,
            waker,
            wake,
        });
        self.ready.lock().indices.push_back(index);
        self.len += 1;
        abort
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts every task still in the set.
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

impl<T, F> FromIterator<F> for JoinSet<T>
where
    T: 'static,
    F: Future<Output = T> + 'static,
{
    /// Spawns every future of the iterator into a new set.
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

impl<T, F> Extend<F> for JoinSet<T>
where
    T: 'static,
    F: Future<Output = T> + 'static,
{
    /// Spawns every future of the iterator into the set.
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for future in iter {
            self.spawn(future);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Runtime, yield_now};

    /// Each task finishes after yielding `i % 7` times, so they finish in many rounds.
    /// A set that scanned its entries on every wake would poll `O(n²)` handles.
    #[test]
    fn joining_n_tasks_polls_o_n_handles() {
        const N: u64 = 10_000;
        let rt = Runtime::new().unwrap();
        let (sum, polls) = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..N {
                set.spawn(async move {
                    for _ in 0..i % 7 {
                        yield_now().await;
                    }
                    i
                });
            }
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.unwrap();
            }
            (sum, set.polls)
        });
        assert_eq!(sum, N * (N - 1) / 2);
        // One poll to register each entry and one to take its output.
        assert!(polls <= 2 * N, "{polls} handle polls for {N} tasks");
    }
}
