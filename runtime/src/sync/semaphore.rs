//! A counting semaphore for one loop, with a FIFO queue of waiting acquirers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// One queued acquirer: how many permits it needs, whether they were handed to it, and
/// the waker to call when they are.
struct Waiter {
    need: usize,
    granted: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

/// The permit counter and the queue that [`Semaphore`], [`Mutex`](super::Mutex),
/// [`RwLock`](super::RwLock) and the bounded [`mpsc`](super::mpsc) channel share.
///
/// Permits are handed out strictly in queue order: a waiter that needs many permits is
/// not overtaken by later ones that need few, so writers and large acquirers never starve.
pub(crate) struct Sem {
    permits: Cell<usize>,
    closed: Cell<bool>,
    queue: RefCell<VecDeque<Rc<Waiter>>>,
}

/// Why a non-waiting acquire failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryFail {
    Closed,
    NoPermits,
}

impl Sem {
    pub(crate) const fn new(permits: usize) -> Self {
        Sem {
            permits: Cell::new(permits),
            closed: Cell::new(false),
            queue: RefCell::new(VecDeque::new()),
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.permits.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Takes `n` permits now, unless the semaphore is closed, too few are free, or
    /// someone is already queued (queued waiters come first).
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryFail> {
        if self.closed.get() {
            return Err(TryFail::Closed);
        }
        let permits = self.permits.get();
        if permits < n || !self.queue.borrow().is_empty() {
            return Err(TryFail::NoPermits);
        }
        self.permits.set(permits - n);
        Ok(())
    }

    /// Gives back `n` permits and hands them to queued waiters in order.
    pub(crate) fn release(&self, n: usize) {
        self.permits.set(self.permits.get().saturating_add(n));
        self.grant();
    }

    fn grant(&self) {
        loop {
            let waiter = {
                let mut queue = self.queue.borrow_mut();
                match queue.front() {
                    Some(w) if w.need <= self.permits.get() => {
                        self.permits.set(self.permits.get() - w.need);
                        w.granted.set(true);
                        queue.pop_front()
                    }
                    _ => None,
                }
            };
            match waiter {
                // Wake with no borrow held: a waker may run arbitrary code.
                Some(w) => {
                    if let Some(waker) = w.waker.take() {
                        waker.wake();
                    }
                }
                None => return,
            }
        }
    }

    /// Closes the semaphore: every queued waiter and every later acquire fails.
    pub(crate) fn close(&self) {
        self.closed.set(true);
        loop {
            let waiter = self.queue.borrow_mut().pop_front();
            match waiter {
                Some(w) => {
                    if let Some(waker) = w.waker.take() {
                        waker.wake();
                    }
                }
                None => return,
            }
        }
    }

    pub(crate) fn acquire(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            need: n,
            waiter: None,
        }
    }
}

impl fmt::Debug for Sem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sem")
            .field("permits", &self.permits.get())
            .field("closed", &self.closed.get())
            .field("waiters", &self.queue.borrow().len())
            .finish()
    }
}

/// Waits for `need` permits. Its output says whether they were taken (`Ok`) or the
/// semaphore closed (`Err`); on `Ok` the caller owns the permits and must release them.
///
/// Dropped while queued, it leaves the queue; dropped after its permits were handed to it
/// but before it saw them, it gives them back, so the next waiter is woken instead.
pub(crate) struct Acquire<'a> {
    sem: &'a Sem,
    need: usize,
    waiter: Option<Rc<Waiter>>,
}

impl Future for Acquire<'_> {
    type Output = Result<(), ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(w) = &this.waiter {
            if w.granted.get() {
                this.waiter = None;
                return Poll::Ready(Ok(()));
            }
            if this.sem.closed.get() {
                this.waiter = None;
                return Poll::Ready(Err(()));
            }
            let old = w.waker.take();
            match old {
                Some(old) if old.will_wake(cx.waker()) => w.waker.set(Some(old)),
                _ => w.waker.set(Some(cx.waker().clone())),
            }
            return Poll::Pending;
        }
        match this.sem.try_acquire(this.need) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(TryFail::Closed) => Poll::Ready(Err(())),
            Err(TryFail::NoPermits) => {
                let w = Rc::new(Waiter {
                    need: this.need,
                    granted: Cell::new(false),
                    waker: Cell::new(Some(cx.waker().clone())),
                });
                this.sem.queue.borrow_mut().push_back(Rc::clone(&w));
                this.waiter = Some(w);
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        if w.granted.get() {
            // The permits were ours but never used: pass them on.
            self.sem.release(self.need);
        } else {
            let was_head = {
                let mut queue = self.sem.queue.borrow_mut();
                match queue.iter().position(|q| Rc::ptr_eq(q, &w)) {
                    Some(i) => {
                        queue.remove(i);
                        i == 0
                    }
                    None => false,
                }
            };
            // A large request at the head may have been blocking smaller ones behind it.
            if was_head {
                self.sem.grant();
            }
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("need", &self.need)
            .field("queued", &self.waiter.is_some())
            .finish()
    }
}

/// A counting semaphore for tasks of one loop, in the shape of `tokio::sync::Semaphore`.
///
/// It is `!Sync` and uses no atomics; share it between tasks with an [`Rc`]. Permits are
/// granted in FIFO order.
///
/// ```
/// use std::rc::Rc;
/// use runtime::sync::Semaphore;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let sem = Rc::new(Semaphore::new(2));
/// let a = sem.acquire().await.unwrap();
/// let _b = sem.acquire().await.unwrap();
/// assert!(sem.try_acquire().is_err());
/// drop(a);
/// assert_eq!(sem.available_permits(), 1);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Semaphore {
    sem: Sem,
}

/// The error of [`Semaphore::acquire`]: the semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// The error of [`Semaphore::try_acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits were free (or other acquirers were waiting first).
    NoPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl From<TryFail> for TryAcquireError {
    fn from(e: TryFail) -> Self {
        match e {
            TryFail::Closed => TryAcquireError::Closed,
            TryFail::NoPermits => TryAcquireError::NoPermits,
        }
    }
}

impl Semaphore {
    /// The largest number of permits a semaphore may hold.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    pub const fn new(permits: usize) -> Self {
        assert!(
            permits <= Self::MAX_PERMITS,
            "permits exceed Semaphore::MAX_PERMITS"
        );
        Semaphore {
            sem: Sem::new(permits),
        }
    }

    /// How many permits are free now.
    pub fn available_permits(&self) -> usize {
        self.sem.available()
    }

    /// Adds `n` permits, waking queued acquirers that can now proceed.
    pub fn add_permits(&self, n: usize) {
        self.sem.release(n);
    }

    /// Waits for one permit.
    ///
    /// Cancel safety: dropping the future gives up its place in the queue; if a permit
    /// had already been handed to it, the permit goes to the next waiter.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits at once. Same cancel safety as [`acquire`](Self::acquire).
    pub async fn acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, AcquireError> {
        let n = n as usize;
        match self.sem.acquire(n).await {
            Ok(()) => Ok(SemaphorePermit {
                sem: &self.sem,
                permits: n,
            }),
            Err(()) => Err(AcquireError(())),
        }
    }

    /// Takes one permit without waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits without waiting.
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let n = n as usize;
        self.sem.try_acquire(n)?;
        Ok(SemaphorePermit {
            sem: &self.sem,
            permits: n,
        })
    }

    /// Closes the semaphore: queued and later acquires fail with [`AcquireError`].
    /// Permits already held stay valid.
    pub fn close(&self) {
        self.sem.close();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.sem.is_closed()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.sem, f)
    }
}

/// Permits taken from a [`Semaphore`]; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Sem,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.sem.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}
