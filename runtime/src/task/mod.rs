//! Tasks: one allocation per spawned future, and the queues that schedule them.
//!
//! This module holds every `unsafe` block of the executor. The rest of the crate uses
//! the safe facade: [`Scheduler`] (spawn, run, shutdown) and [`JoinHandle`].
//!
//! | file           | job                                                              |
//! |----------------|------------------------------------------------------------------|
//! | `state.rs`     | the state bits and their named transitions (no `unsafe`)         |
//! | `cell.rs`      | the allocation: header, stage, vtable, reference count            |
//! | `harness.rs`   | poll, cancel and complete a task; the panic policy                |
//! | `waker.rs`     | the `Waker` vtable; local and remote wakes                        |
//! | `scheduler.rs` | the local and remote run queues, the live list, shutdown          |
//! | `queues.rs`    | the local run queues, one per priority, and the starvation rule   |
//! | `fork.rs`      | what a `fork` leaves behind: the fork count, the child's loop mark |
//! | `join.rs`      | `JoinHandle`                                                      |
//! | `abort.rs`     | `AbortHandle`                                                     |
//! | `remote.rs`    | tasks spawned from other threads: allocation, hand-over, adoption |
//! | `remote_join.rs` | `RemoteJoinHandle` and `RemoteAbortHandle`, and the wrapper that fills them |
//!
//! # Layout
//!
//! A task is one heap allocation, a `#[repr(C)]` `TaskCell<F>`: a non-generic
//! `Header` of 40 bytes first, then the `Stage`, a union of the future and its output
//! (`Result<F::Output, JoinError>`). The header's state bits say which of the two is live:
//! the future while the task is not `COMPLETE`; the output while `OUTPUT` is set (the task
//! finished and a [`JoinHandle`] wants it); neither once it has been taken or dropped. The
//! generic operations (poll, drop the future, take or drop the output, free) are reached
//! through a static `TaskVTable`, so everything else is written once.
//!
//! Every header points to the runtime's `Shared` part (one counted `Arc` reference per
//! task, given back when the allocation is freed): the owner's thread id, the local run
//! queue, the list of live tasks and the join-waker table, and the remote queue.
//!
//! # Who touches what
//!
//! | field                                      | threads                 | how                 |
//! |--------------------------------------------|-------------------------|---------------------|
//! | `refs`                                     | any (wakers)            | `AtomicU32`         |
//! | `vtable`, `shared`, `priority`; `Shared::owner`, `Shared::remote` | any, read only | immutable after spawn (`remote` locks) |
//! | `state`, `prev`/`next`, the stage; `Shared::local` | the owner thread only | `Cell`/`UnsafeCell`/`RefCell` |
//!
//! The owner thread is the thread that created the runtime; `Shared::owner` holds its
//! [`thread_id`]. A waker compares it with the calling thread's id: on the owner thread it
//! may touch the owner-only fields and the local queue; elsewhere it touches only `refs`
//! and the remote queue.
//!
//! # State (`Header::state`, owner thread only)
//!
//! The bits live in `state.rs`, and only its named transitions change them; each
//! returns what its caller must do next.
//!
//! | bit             | set when                               | cleared when                  |
//! |-----------------|----------------------------------------|-------------------------------|
//! | `SCHEDULED`     | pushed onto the local run queue         | popped from it                |
//! | `RUNNING`       | being polled, or its future being dropped | the poll ends idle, or at completion |
//! | `COMPLETE`      | the future is gone (output stored or dropped) | never                  |
//! | `CANCELLED`     | `abort` during `RUNNING`               | at completion                 |
//! | `JOIN_INTEREST` | spawn (a `JoinHandle` exists)          | the `JoinHandle` is dropped   |
//! | `OUTPUT`        | the output is stored in the stage (just before `COMPLETE`) | it is taken or dropped |
//! | `JOIN_WAKER`    | a pending `JoinHandle` poll stored its waker in `Local`'s join-waker table | completion (which wakes it) or the handle's drop (which removes it) |
//!
//! A local wake of a task that is neither `SCHEDULED` nor `COMPLETE` sets `SCHEDULED` and
//! pushes it onto the local queue: no atomic, no lock, no syscall. A wake from another
//! thread cannot read `state`: it pushes a counted reference onto the remote queue (a
//! mutex) and rings the reactor's notifier; the loop later moves it to the local queue if
//! it is neither scheduled nor complete, and drops the reference.
//!
//! The join waker lives in a table rather than in every header because most tasks are
//! never awaited while they run; the table holds one entry per task being awaited.
//!
//! # References (`Header::refs`)
//!
//! One reference each for: the `JoinHandle`; every `AbortHandle`; every `Waker`; every
//! remote-queue entry; and the executor's *live* reference, held while the task is not `COMPLETE` or is still in
//! the local queue (entries of the local queue are not counted on their own). The live
//! reference is released by whichever comes last: completion or the pop of a stale queue
//! entry. So an incomplete task is never freed, and the local queue never dangles.
//!
//! Completion (output, panic, abort, or shutdown) always happens on the owner thread and
//! drops the future there; the output is dropped there too, by the `JoinHandle` or at
//! completion when there is none. Only the bare allocation (a header and a stage with no
//! live field) may be freed by the last reference on another thread, and with it the
//! task's reference to `Shared`.
//!
//! Shutdown (dropping the runtime) completes every live task as cancelled, without
//! polling any, empties the local queue and closes the remote queue: a remote wake then
//! just drops its reference, and a local wake sees `COMPLETE` and does nothing. A waker
//! that outlives the runtime is therefore harmless.
//!
//! # Panics
//!
//! User code runs at five places in a task's life: the future's poll, the future's drop,
//! the output's drop, and the joiner's waker (its `wake`, or its drop when the handle
//! goes). The harness runs each under `catch_unwind` and moves the state on the same way
//! whether it returned or panicked, so a task is never left `RUNNING` or linked by a
//! panic, and shutdown always ends. Where each panic goes follows tokio:
//!
//! | panic in                          | goes to                                        |
//! |-----------------------------------|------------------------------------------------|
//! | the poll                          | the `JoinHandle`, as a panic `JoinError`; the future is then dropped |
//! | the future's drop (after `Ready`, on abort, at shutdown) | the `JoinHandle`, as a panic `JoinError`, in place of the output or the cancellation (a panic of the poll is kept over it) |
//! | the output's drop                 | swallowed                                      |
//! | the joiner's `wake`, or its drop in `JoinHandle::drop` | swallowed                 |
//!
//! With no `JoinHandle`, a task's panic is swallowed too. "Swallowed" means the panic
//! hook has already reported it (by default on stderr) and the loop goes on; the task is
//! released as usual. A panic while a `JoinHandle` is polled (in cloning or dropping the
//! caller's waker) reaches that caller, with the harness already consistent.

mod abort;
mod cell;
mod fork;
mod harness;
mod join;
mod queues;
mod remote;
mod remote_join;
#[cfg(test)]
mod remote_tests;
mod scheduler;
mod state;
#[cfg(test)]
mod tests;
mod waker;

pub use abort::AbortHandle;
pub(crate) use fork::FORKED;
pub use join::JoinHandle;
pub use queues::{DEFAULT_STARVATION_LIMIT, MAX_PRIORITIES};
pub(crate) use remote::Spawner;
pub use remote_join::{RemoteAbortHandle, RemoteJoinHandle};
pub(crate) use scheduler::{Scheduler, check_priority};

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static THREAD_ID: Cell<u32> = const { Cell::new(0) };
}

static NEXT_THREAD_ID: AtomicU32 = AtomicU32::new(1);

/// A cheap, never-reused id of the calling thread (0 is never returned). Ids are given
/// out on a thread's first use; after four billion such threads the process aborts
/// rather than reuse one.
#[inline]
pub(crate) fn thread_id() -> u32 {
    match THREAD_ID.with(Cell::get) {
        0 => fresh_thread_id(),
        known => known,
    }
}

/// Gives the calling thread its id, on its first [`thread_id`].
#[cold]
#[inline(never)]
fn fresh_thread_id() -> u32 {
    let fresh = NEXT_THREAD_ID.fetch_add(1, Ordering::Relaxed);
    if fresh == 0 || fresh == u32::MAX {
        std::process::abort();
    }
    THREAD_ID.with(|id| id.set(fresh));
    fresh
}
