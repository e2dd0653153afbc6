//! Synchronization between tasks: [`CancellationToken`], to ask tasks (on this loop or
//! on others) to stop, and the local primitives in the shape of `tokio::sync`:
//! [`mpsc`], [`oneshot`], [`watch`], [`Notify`], [`Mutex`], [`RwLock`] and [`Semaphore`].
//!
//! # Local primitives
//!
//! The loop runs every task on one thread, so these primitives are `!Send` (or `!Sync`)
//! and use no atomics: their state is `Cell`/`RefCell` behind an `Rc`, and waiters wait
//! in FIFO queues. A future that is dropped while it waits leaves its queue; if a wake,
//! a permit or a lock had already been handed to it, it passes that on to the next
//! waiter, so cancellation never loses a wake-up. Each method's docs state its cancel
//! safety.
//!
//! # Across loops
//!
//! Tasks on different loops (threads) cannot share these types. To talk across loops,
//! either spawn onto the other loop through its `Send + Sync` [`Handle`](crate::Handle)
//! (`handle.spawn(fut)`, the future must be `Send`), or use a `Send` channel such as
//! `async-channel`, whose wakers reach a task on any loop through the remote queue.
//! [`CancellationToken`] is `Send + Sync` for the same reason.
//!
//! With [`JoinSet`](crate::JoinSet) it makes graceful shutdown: cancel a token that
//! every task watches, then join the set until it is empty or a deadline passes.
//!
//! ```
//! use std::time::Duration;
//!
//! use runtime::JoinSet;
//! use runtime::sync::CancellationToken;
//!
//! # runtime::Runtime::new()?.block_on(async {
//! let shutdown = CancellationToken::new();
//! let mut workers = JoinSet::new();
//! for id in 0..4 {
//!     let shutdown = shutdown.child_token();
//!     workers.spawn(async move {
//!         shutdown.cancelled().await;
//!         id // clean up, then report
//!     });
//! }
//! shutdown.cancel();
//! let stopped = runtime::time::timeout(Duration::from_secs(5), workers.join_all()).await;
//! assert_eq!(stopped.map(|ids| ids.len()), Ok(4));
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```

mod blocks;
mod cancellation_token;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod tree;
pub mod watch;

pub use cancellation_token::{
    CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
pub use mutex::{Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
