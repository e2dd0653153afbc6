//! An async reader-writer lock for one loop.

use std::cell::{Ref, RefCell, RefMut};
use std::fmt;
use std::ops::{Deref, DerefMut};

use super::mutex::TryLockError;
use super::semaphore::Sem;

/// Readers take one permit each, a writer takes them all.
const MAX_READS: usize = u32::MAX as usize >> 3;

/// An async reader-writer lock for tasks of one loop, in the shape of
/// `tokio::sync::RwLock`.
///
/// Access is granted in FIFO order: a queued writer holds back readers that come after
/// it, so writers never starve. `!Sync`, no atomics, no poisoning.
///
/// ```
/// use runtime::sync::RwLock;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let lock = RwLock::new(5);
/// {
///     let a = lock.read().await;
///     let b = lock.read().await;
///     assert_eq!(*a + *b, 10);
///     assert!(lock.try_write().is_err());
/// }
/// *lock.write().await += 1;
/// assert_eq!(*lock.read().await, 6);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RwLock<T: ?Sized> {
    sem: Sem,
    data: RefCell<T>,
}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        RwLock {
            sem: Sem::new(MAX_READS),
            data: RefCell::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access.
    ///
    /// Cancel safety: dropping the future gives up its place in the queue, passing on
    /// access that had already been granted to it.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        // The semaphore of a lock is never closed.
        let _ = self.sem.acquire(1).await;
        self.read_guard()
    }

    /// Waits for exclusive access. Same cancel safety as [`read`](Self::read).
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let _ = self.sem.acquire(MAX_READS).await;
        self.write_guard()
    }

    /// Takes shared access if it is free now.
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.sem.try_acquire(1).map_err(|_| TryLockError(()))?;
        Ok(self.read_guard())
    }

    /// Takes exclusive access if it is free now.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.sem
            .try_acquire(MAX_READS)
            .map_err(|_| TryLockError(()))?;
        Ok(self.write_guard())
    }

    fn read_guard(&self) -> RwLockReadGuard<'_, T> {
        // Holding a read permit means no writer holds all of them, so no `RefMut` exists.
        RwLockReadGuard {
            sem: &self.sem,
            data: Some(self.data.borrow()),
        }
    }

    fn write_guard(&self) -> RwLockWriteGuard<'_, T> {
        // Holding every permit means no other guard exists.
        RwLockWriteGuard {
            sem: &self.sem,
            data: Some(self.data.borrow_mut()),
        }
    }

    /// The value, through a unique borrow.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.data.try_borrow() {
            Ok(v) => d.field("data", &&*v),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]; dropping it releases.
#[must_use = "dropping the guard releases at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    sem: &'a Sem,
    data: Option<Ref<'a, T>>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.data {
            Some(d) => d,
            None => unreachable!("a guard's borrow lives until drop"),
        }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.data.take());
        self.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]; dropping it releases.
#[must_use = "dropping the guard releases at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    sem: &'a Sem,
    data: Option<RefMut<'a, T>>,
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.data {
            Some(d) => d,
            None => unreachable!("a guard's borrow lives until drop"),
        }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.data {
            Some(d) => d,
            None => unreachable!("a guard's borrow lives until drop"),
        }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.data.take());
        self.sem.release(MAX_READS);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
