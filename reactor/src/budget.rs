//! The cooperative I/O budget.
//!
//! The executor calls [`refill`] before it polls a task. An I/O operation that is about
//! to run spends one unit through [`poll_proceed`], and gives it back with [`refund`]
//! when it found nothing to do (`WouldBlock`): so the budget counts operations that
//! moved data or accepted a connection, and waiting costs nothing. When the budget is
//! spent, operations return `Pending` after waking the task, so the task goes to the
//! back of the run queue and one busy connection cannot starve the others or the
//! reactor. Outside an executor the budget is unconstrained.

use std::cell::Cell;
use std::task::{Context, Poll};

/// The budget the executor gives each task poll unless configured otherwise.
pub const DEFAULT_BUDGET: u32 = 128;

const UNCONSTRAINED: u32 = u32::MAX;

thread_local! {
    static BUDGET: Cell<u32> = const { Cell::new(UNCONSTRAINED) };
}

/// Sets this thread's budget to `units` operations. The executor calls this before
/// each poll of a task.
#[inline]
pub fn refill(units: u32) {
    BUDGET.with(|b| b.set(units.min(UNCONSTRAINED - 1)));
}

/// Removes the limit: every operation proceeds.
#[inline]
pub fn set_unconstrained() {
    BUDGET.with(|b| b.set(UNCONSTRAINED));
}

/// The operations left, or `None` when unconstrained.
#[inline]
pub fn remaining() -> Option<u32> {
    BUDGET.with(|b| {
        let v = b.get();
        (v != UNCONSTRAINED).then_some(v)
    })
}

/// Spends one unit. When none is left, wakes the task (so it is polled again after the
/// others) and returns `Pending`.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    BUDGET.with(|b| {
        let n = b.get();
        // One test for the common case, a unit left to spend: `n` in 1..UNCONSTRAINED.
        if n.wrapping_sub(1) < UNCONSTRAINED - 1 {
            b.set(n - 1);
            Poll::Ready(())
        } else if n == 0 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
}

/// Gives back one unit spent by an operation that then found nothing to do.
#[inline]
pub fn refund() {
    BUDGET.with(|b| {
        let v = b.get();
        if v < UNCONSTRAINED - 1 {
            b.set(v + 1);
        }
    });
}
