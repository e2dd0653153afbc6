//! A task's state bits (`Header::state`) and the only code that changes them.
//!
//! The bits and their meaning are tabled under "State" in `task/mod.rs`. Every change
//! is a named transition here; each returns what the caller must do next, as a
//! `#[must_use]` value, and checks with `debug_assert!` that it is legal from the state
//! it finds. The state is a plain `Cell`: it is read and written by the owner thread
//! only, so no transition needs an atomic operation.

use std::cell::Cell;
use std::fmt;

/// Queued in the owner's local run queue (one entry).
const SCHEDULED: u8 = 1 << 0;
/// The future is borrowed: being polled or being dropped.
const RUNNING: u8 = 1 << 1;
/// The future is gone; the output is stored (`OUTPUT`) or was dropped. Never cleared.
const COMPLETE: u8 = 1 << 2;
/// `abort` arrived while `RUNNING`: the poll's end drops the future.
const CANCELLED: u8 = 1 << 3;
/// A `JoinHandle` exists.
const JOIN_INTEREST: u8 = 1 << 4;
/// The stage holds the output, for the `JoinHandle`.
const OUTPUT: u8 = 1 << 5;
/// The join-waker table holds the waker of the task awaiting this one.
const JOIN_WAKER: u8 = 1 << 6;

/// A copy of the state bits at one moment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Snapshot(u8);

impl Snapshot {
    fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }

    pub(super) fn is_scheduled(self) -> bool {
        self.has(SCHEDULED)
    }

    pub(super) fn is_running(self) -> bool {
        self.has(RUNNING)
    }

    pub(super) fn is_complete(self) -> bool {
        self.has(COMPLETE)
    }

    pub(super) fn is_cancelled(self) -> bool {
        self.has(CANCELLED)
    }

    pub(super) fn is_join_interested(self) -> bool {
        self.has(JOIN_INTEREST)
    }

    pub(super) fn has_output(self) -> bool {
        self.has(OUTPUT)
    }

    pub(super) fn has_join_waker(self) -> bool {
        self.has(JOIN_WAKER)
    }

    fn with(self, bits: u8) -> Snapshot {
        Snapshot(self.0 | bits)
    }

    fn without(self, bits: u8) -> Snapshot {
        Snapshot(self.0 & !bits)
    }

    /// The invariants that hold between transitions.
    fn is_consistent(self) -> bool {
        // `OUTPUT` comes in the step before `COMPLETE`, while still `RUNNING`.
        let output_at_completion = !self.has_output() || self.has(COMPLETE | RUNNING);
        let complete_is_final = !self.is_complete() || !self.has(RUNNING | CANCELLED | JOIN_WAKER);
        let cancel_while_running = !self.is_cancelled() || self.is_running();
        let a_waker_needs_a_handle = !self.has_join_waker() || self.is_join_interested();
        let an_output_needs_a_handle = !self.has_output() || self.is_join_interested();
        output_at_completion
            && complete_is_final
            && cancel_while_running
            && a_waker_needs_a_handle
            && an_output_needs_a_handle
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u8, &str); 7] = [
            (SCHEDULED, "SCHEDULED"),
            (RUNNING, "RUNNING"),
            (COMPLETE, "COMPLETE"),
            (CANCELLED, "CANCELLED"),
            (JOIN_INTEREST, "JOIN_INTEREST"),
            (OUTPUT, "OUTPUT"),
            (JOIN_WAKER, "JOIN_WAKER"),
        ];
        let mut set = f.debug_set();
        for (bit, name) in NAMES {
            if self.has(bit) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// `Header::state`. Owner thread only (see the table in `task/mod.rs`); `Cell` makes
/// the type `!Sync`, and a foreign thread never reaches it: wakers there touch only
/// `Header::refs` and the remote queue.
pub(super) struct State(Cell<Snapshot>);

/// What [`State::transition_to_notified_local`] asks of the caller.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Notified {
    /// `SCHEDULED` is now set: push the task onto the local run queue.
    Submit,
    /// Already queued, or complete: nothing to do.
    DoNothing,
}

/// What [`State::transition_to_running`] asks of the caller, who popped a queue entry.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ToRunning {
    /// `RUNNING` is set: poll the future.
    Poll,
    /// The task completed while queued: release the live reference this entry kept.
    ReleaseStale,
}

/// What [`State::transition_to_idle`] asks of the caller, after a `Pending` poll.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ToIdle {
    /// `RUNNING` is cleared: the task waits for its next wake.
    Idle,
    /// The task was aborted during the poll and is still `RUNNING`: drop its future now.
    Cancel,
}

/// What [`State::transition_to_aborted`] asks of the caller.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Abort {
    /// `RUNNING` is set on an idle task: drop its future now, then complete it.
    DropFuture,
    /// The future is borrowed by a poll (or a drop) further up the stack: `CANCELLED`
    /// is set, and the end of that poll drops it.
    Deferred,
    /// Already complete: nothing to do.
    AlreadyComplete,
}

/// What [`State::transition_to_output_slot`] asks of the caller, whose future is gone.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) enum OutputSlot {
    /// A `JoinHandle` wants it: `OUTPUT` is set, write the output into the stage now.
    Store,
    /// Nobody will read it: drop it.
    Drop,
}

/// What [`State::transition_to_complete`] asks of the caller.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Completed {
    /// `JOIN_WAKER` was set (and is now cleared): take the joiner's waker from the
    /// join-waker table and wake it.
    pub(super) wake_join: bool,
    /// The task is not in the local queue: release the executor's live reference now.
    /// Otherwise the queue entry keeps it, and its pop releases it.
    pub(super) release_live: bool,
}

/// What [`State::transition_to_join_handle_dropped`] asks of the caller.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(super) struct HandleDropped {
    /// `JOIN_WAKER` was set: remove the joiner's waker from the table and drop it.
    pub(super) drop_waker: bool,
    /// `OUTPUT` was set (and is now cleared): the stage's output belongs to the caller,
    /// who must drop it.
    pub(super) drop_output: bool,
}

impl State {
    /// A new task: `SCHEDULED` (spawn queues it once) and `JOIN_INTEREST` (spawn returns
    /// its `JoinHandle`).
    pub(super) fn new() -> State {
        State(Cell::new(Snapshot(SCHEDULED | JOIN_INTEREST)))
    }

    /// The current bits.
    pub(super) fn load(&self) -> Snapshot {
        self.0.get()
    }

    fn store(&self, next: Snapshot) {
        debug_assert!(next.is_consistent(), "illegal task state {next:?}");
        self.0.set(next);
    }

    /// A wake on the owner thread: `SCHEDULED` unless already queued or complete.
    pub(super) fn transition_to_notified_local(&self) -> Notified {
        let now = self.load();
        if now.has(SCHEDULED | COMPLETE) {
            return Notified::DoNothing;
        }
        self.store(now.with(SCHEDULED));
        Notified::Submit
    }

    /// A queue entry was popped: `SCHEDULED` goes; `RUNNING` comes unless complete.
    pub(super) fn transition_to_running(&self) -> ToRunning {
        let now = self.load();
        debug_assert!(
            now.is_scheduled(),
            "popped a task that was not queued: {now:?}"
        );
        debug_assert!(!now.is_running(), "popped a task that is running: {now:?}");
        let now = now.without(SCHEDULED);
        if now.is_complete() {
            self.store(now);
            return ToRunning::ReleaseStale;
        }
        self.store(now.with(RUNNING));
        ToRunning::Poll
    }

    /// A queue entry was dropped unpolled (shutdown): `SCHEDULED` goes. Returns whether
    /// the task is complete, in which case the entry's live reference is the caller's
    /// to release.
    #[must_use]
    pub(super) fn transition_to_dequeued(&self) -> bool {
        let now = self.load();
        debug_assert!(
            now.is_scheduled(),
            "dequeued a task that was not queued: {now:?}"
        );
        self.store(now.without(SCHEDULED));
        now.is_complete()
    }

    /// The poll returned `Pending`: `RUNNING` goes, unless an abort came meanwhile.
    pub(super) fn transition_to_idle(&self) -> ToIdle {
        let now = self.load();
        debug_assert!(
            now.is_running() && !now.is_complete(),
            "a task left a poll it was not in: {now:?}"
        );
        if now.is_cancelled() {
            return ToIdle::Cancel;
        }
        self.store(now.without(RUNNING));
        ToIdle::Idle
    }

    /// `abort`: drop the future now if it is idle, after the poll if it is running.
    pub(super) fn transition_to_aborted(&self) -> Abort {
        let now = self.load();
        if now.is_complete() {
            return Abort::AlreadyComplete;
        }
        if now.is_running() {
            self.store(now.with(CANCELLED));
            return Abort::Deferred;
        }
        self.store(now.with(RUNNING));
        Abort::DropFuture
    }

    /// The future was just dropped: whether a `JoinHandle` takes the output. With
    /// `Store`, `OUTPUT` is set and the caller writes the output before any other code
    /// runs (`COMPLETE` follows at once, in [`transition_to_complete`]).
    ///
    /// [`transition_to_complete`]: State::transition_to_complete
    pub(super) fn transition_to_output_slot(&self) -> OutputSlot {
        let now = self.load();
        debug_assert!(
            now.is_running() && !now.is_complete() && !now.has_output(),
            "an output for a task that is not finishing: {now:?}"
        );
        if !now.is_join_interested() {
            return OutputSlot::Drop;
        }
        self.store(now.with(OUTPUT));
        OutputSlot::Store
    }

    /// The future is gone and the output stored or dropped: `COMPLETE`, for good.
    /// `RUNNING`, `CANCELLED` and `JOIN_WAKER` go.
    pub(super) fn transition_to_complete(&self) -> Completed {
        let now = self.load();
        debug_assert!(
            now.is_running() && !now.is_complete(),
            "completed a task that was not finishing: {now:?}"
        );
        self.store(now.without(RUNNING | CANCELLED | JOIN_WAKER).with(COMPLETE));
        Completed {
            wake_join: now.has_join_waker(),
            release_live: !now.is_scheduled(),
        }
    }

    /// A pending `JoinHandle` poll stored its waker in the join-waker table.
    pub(super) fn set_join_waker(&self) {
        let now = self.load();
        debug_assert!(
            now.is_join_interested() && !now.is_complete(),
            "a join waker for a task nobody can await: {now:?}"
        );
        self.store(now.with(JOIN_WAKER));
    }

    /// The `JoinHandle` takes the output. Returns false when it was already taken (the
    /// handle was polled after it returned its output).
    #[must_use]
    pub(super) fn transition_to_output_taken(&self) -> bool {
        let now = self.load();
        debug_assert!(
            now.is_complete(),
            "took the output of a running task: {now:?}"
        );
        if !now.has_output() {
            return false;
        }
        self.store(now.without(OUTPUT));
        true
    }

    /// The `JoinHandle` is dropped: `JOIN_INTEREST`, `JOIN_WAKER` and `OUTPUT` go, and
    /// what they guarded is the caller's to drop.
    pub(super) fn transition_to_join_handle_dropped(&self) -> HandleDropped {
        let now = self.load();
        debug_assert!(
            now.is_join_interested(),
            "a second JoinHandle dropped: {now:?}"
        );
        self.store(now.without(JOIN_INTEREST | JOIN_WAKER | OUTPUT));
        HandleDropped {
            drop_waker: now.has_join_waker(),
            drop_output: now.has_output(),
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_runs_idles_and_completes() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        assert_eq!(s.transition_to_notified_local(), Notified::Submit);
        assert_eq!(s.transition_to_notified_local(), Notified::DoNothing);
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Store);
        let done = s.transition_to_complete();
        assert!(done.release_live && !done.wake_join);
        assert!(s.load().is_complete() && s.load().has_output());
        assert_eq!(s.transition_to_notified_local(), Notified::DoNothing);
        assert!(s.transition_to_output_taken());
        assert!(!s.transition_to_output_taken());
        let dropped = s.transition_to_join_handle_dropped();
        assert!(!dropped.drop_output && !dropped.drop_waker);
    }

    #[test]
    fn a_wake_during_the_poll_keeps_the_live_reference_for_the_queue() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_notified_local(), Notified::Submit);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Store);
        assert!(!s.transition_to_complete().release_live);
        assert_eq!(s.transition_to_running(), ToRunning::ReleaseStale);
    }

    #[test]
    fn abort_is_immediate_when_idle_and_deferred_when_running() {
        let s = State::new();
        assert_eq!(s.transition_to_aborted(), Abort::DropFuture);
        assert!(s.load().is_running());
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_aborted(), Abort::Deferred);
        assert_eq!(s.transition_to_aborted(), Abort::Deferred);
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Store);
        let _ = s.transition_to_complete();
        assert!(!s.load().is_cancelled() && !s.load().is_running());
        assert_eq!(s.transition_to_aborted(), Abort::AlreadyComplete);
    }

    #[test]
    fn a_detached_task_drops_its_output_and_a_joined_one_wakes_its_joiner() {
        let s = State::new();
        let _ = s.transition_to_join_handle_dropped();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Drop);
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle);
        s.set_join_waker();
        assert!(s.load().has_join_waker());
        assert_eq!(s.transition_to_aborted(), Abort::DropFuture);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Store);
        let done = s.transition_to_complete();
        assert!(done.wake_join && done.release_live);
        assert!(!s.load().has_join_waker());
        let dropped = s.transition_to_join_handle_dropped();
        assert!(dropped.drop_output && !dropped.drop_waker);
        assert!(!s.load().has_output() && !s.load().is_join_interested());
    }

    #[test]
    fn shutdown_dequeues_without_polling() {
        let s = State::new();
        assert!(
            !s.transition_to_dequeued(),
            "incomplete: the caller keeps it"
        );
        assert_eq!(s.transition_to_notified_local(), Notified::Submit);
        assert_eq!(s.transition_to_aborted(), Abort::DropFuture);
        assert_eq!(s.transition_to_output_slot(), OutputSlot::Store);
        assert!(!s.transition_to_complete().release_live, "still queued");
        assert!(
            s.transition_to_dequeued(),
            "complete: the entry's reference goes"
        );
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "popped a task that is running")]
    fn an_illegal_transition_is_caught_in_debug_builds() {
        let s = State::new();
        assert_eq!(s.transition_to_running(), ToRunning::Poll);
        assert_eq!(s.transition_to_notified_local(), Notified::Submit);
        let _ = s.transition_to_running();
    }

    #[test]
    fn snapshots_print_their_bits() {
        let s = State::new();
        assert_eq!(format!("{s:?}"), "{SCHEDULED, JOIN_INTEREST}");
    }
}
