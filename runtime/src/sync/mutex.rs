//! An async mutex for one loop.

use std::cell::{RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::semaphore::{Sem, TryFail};

/// An async mutex for tasks of one loop, in the shape of `tokio::sync::Mutex`.
///
/// Waiters get the lock in FIFO order. It is `!Sync` and uses no atomics; share it with
/// an [`Rc`](std::rc::Rc). Like tokio's, it has no poisoning: a task that panics while
/// holding the guard drops it during unwinding, and the next waiter gets the lock.
///
/// ```
/// use std::rc::Rc;
/// use runtime::sync::Mutex;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let count = Rc::new(Mutex::new(0));
/// let mut tasks = Vec::new();
/// for _ in 0..3 {
///     let count = count.clone();
///     tasks.push(runtime::spawn(async move {
///         let mut n = count.lock().await;
///         runtime::yield_now().await; // the guard may live across awaits
///         *n += 1;
///     }));
/// }
/// for t in tasks { t.await.unwrap(); }
/// assert_eq!(*count.lock().await, 3);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Sem,
    data: RefCell<T>,
}

/// The error of [`Mutex::try_lock`] and the `try_` methods of [`RwLock`](super::RwLock):
/// the lock is held (or others wait for it first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(pub(super) ());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lock is held")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            sem: Sem::new(1),
            data: RefCell::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    ///
    /// Cancel safety: dropping the future gives up its place in the queue; if the lock had
    /// already been handed to it, it goes to the next waiter.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The semaphore of a mutex is never closed.
        let _ = self.sem.acquire(1).await;
        self.guard()
    }

    /// Takes the lock if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire(1) {
            Ok(()) => Ok(self.guard()),
            Err(TryFail::Closed | TryFail::NoPermits) => Err(TryLockError(())),
        }
    }

    fn guard(&self) -> MutexGuard<'_, T> {
        // The one permit is ours, so no other borrow of `data` exists.
        MutexGuard {
            sem: &self.sem,
            data: Some(self.data.borrow_mut()),
        }
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.data.try_borrow() {
            Ok(v) => d.field("data", &&*v),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The lock of a [`Mutex`]; dropping it unlocks.
#[must_use = "dropping the guard unlocks at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    sem: &'a Sem,
    // Taken in `drop` so the borrow ends before the next waiter is woken.
    data: Option<RefMut<'a, T>>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.data {
            Some(d) => d,
            None => unreachable!("a guard's borrow lives until drop"),
        }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.data {
            Some(d) => d,
            None => unreachable!("a guard's borrow lives until drop"),
        }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.data.take());
        self.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
