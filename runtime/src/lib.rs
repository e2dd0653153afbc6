//! evloop's runtime: a single-threaded loop that runs futures, I/O and timers.
//!
//! This is libevent's `event_base_loop` with futures in the active queue. A [`Runtime`]
//! owns a [`reactor::Reactor`], a timer heap and a run queue of tasks, all on one thread.
//! [`Runtime::block_on`] runs the loop:
//!
//! 1. poll the `block_on` future if it was woken, and return when it is ready;
//! 2. run up to [`Builder::event_interval`] ready tasks from the local queues: FIFO,
//!    the most urgent queue first when there are [`Builder::priorities`];
//! 3. move the wakes from other threads into the local queue;
//! 4. wait for I/O until the next timer deadline, or not at all if tasks are ready (a
//!    clock paused for a test jumps to the deadline instead, see [`time`]);
//! 5. fire the expired timers, and go to 1.
//!
//! [`spawn`] takes any `'static` future, `Send` or not: tasks never leave their thread, so
//! a wake on that thread costs no atomic operation, lock or syscall. A wake from another
//! thread goes through a locked queue and the reactor's [`Notifier`](reactor::Notifier).
//! Each task poll gets a fresh cooperative I/O budget ([`reactor::budget`]), so a busy
//! task cannot starve the others or the reactor.
//!
//! Other threads, and other loops, spawn `Send` futures onto a loop through its
//! [`Handle`] ([`Runtime::handle`]), which goes through the same remote queue.
//! [`Runtime::shutdown_timeout`] lets the tasks finish before the runtime goes
//! (libevent's loopexit); dropping it, or [`Runtime::shutdown_now`], cancels them at once
//! (loopbreak).
//!
//! To use several cores, run one loop per core with [`Builder::threads`] and
//! [`Builder::run`], or [`Builder::run_with_handles`] to give each loop the handles of
//! all.
//!
//! ```
//! use std::rc::Rc;
//!
//! let rt = runtime::Runtime::new()?;
//! let shared = Rc::new(5); // not Send: fine, everything runs on this thread
//! let out = rt.block_on(async move {
//!     let s = shared.clone();
//!     let task = runtime::spawn(async move { *s * 2 });
//!     runtime::yield_now().await;
//!     task.await.unwrap() + *shared
//! });
//! assert_eq!(out, 15);
//! # Ok::<(), std::io::Error>(())
//! ```

mod blocking;
mod builder;
mod context;
mod error;
pub mod fs;
mod handle;
#[cfg(feature = "hyper")]
pub mod hyper;
mod inner;
pub mod io;
mod join_set;
mod per_core;
pub mod process;
mod runtime;
mod shutdown;
pub mod signal;
pub mod sync;
mod task;
pub mod time;
mod watchdog;
mod yield_now;

/// What the expansion of `#[runtime::test]` and this crate's own tests use; not part of
/// the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::watchdog::{DEFAULT_TEST_TIMEOUT, Watchdog};
}

pub use builder::{
    Builder, DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_EVENT_INTERVAL, DEFAULT_MAX_BLOCKING_THREADS,
};
pub use context::loop_index;
pub use error::JoinError;
pub use handle::Handle;
pub use join_set::JoinSet;
pub use per_core::{LoopError, run_per_core};
pub use reactor::BackendKind;
pub use runtime::{Runtime, spawn, spawn_blocking, spawn_with_priority};
/// Runs an `async fn main` on the evloop runtime.
///
/// ```
/// #[runtime::main]
/// async fn main() -> std::io::Result<()> {
///     let answer = runtime::spawn(async { 6 * 7 }).await?;
///     assert_eq!(answer, 42);
///     Ok(())
/// }
/// ```
///
/// `#[runtime::main(backend = "poll")]` chooses the reactor's backend.
pub use runtime_macros::main;
pub use task::{DEFAULT_STARVATION_LIMIT, MAX_PRIORITIES};

/// Runs an `async fn` test on a fresh evloop runtime.
///
/// ```
/// #[runtime::test]
/// async fn a_spawned_task_runs() {
///     assert_eq!(runtime::spawn(async { 1 + 1 }).await.unwrap(), 2);
/// }
/// # fn main() {}
/// ```
///
/// The test runs under a watchdog: if it has not finished after 60 s, the watchdog
/// prints the test's name and aborts the test process, so a hang fails the run instead
/// of stalling it. `#[runtime::test(timeout_secs = 600)]` sets another limit, and the
/// environment variable `EVLOOP_TEST_TIMEOUT_SCALE=N` multiplies every limit (for slow
/// runs, such as under valgrind). `#[runtime::test(backend = "poll")]` chooses the
/// reactor's backend, and `#[runtime::test(start_paused = true)]` starts the runtime's
/// clock paused (see [`time`]), so that timeouts are tested without waiting for them.
pub use runtime_macros::test;
pub use task::{AbortHandle, JoinHandle, RemoteAbortHandle, RemoteJoinHandle};
pub use yield_now::{YieldNow, yield_now};
