//! Synchronization between tasks: [`CancellationToken`], to ask tasks (on this loop or
//! on others) to stop.
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

mod cancellation_token;
mod tree;

pub use cancellation_token::{
    CancellationToken, DropGuard, WaitForCancellationFuture, WaitForCancellationFutureOwned,
};
