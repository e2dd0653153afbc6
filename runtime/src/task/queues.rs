//! The local run queues: one FIFO per priority, libevent's active queues.
//!
//! # Priorities
//!
//! A runtime has `n` priorities (`Builder::priorities`, 1 by default, at most 256).
//! Priority 0 is the most urgent; `spawn` uses the middle one, `n / 2`, and
//! `spawn_with_priority` any other. A task keeps its priority for life, and every wake
//! (local or from another thread) puts it in that priority's queue.
//!
//! Each turn of the loop runs up to `event_interval` tasks, each taken from the most
//! urgent queue that is not empty at that moment: a task woken at a higher priority
//! during the turn runs before the lower queues go on.
//!
//! **The starvation rule.** So that a busy urgent queue cannot starve the others for
//! ever, every `starvation_limit`-th turn (64 by default) begins by running one task
//! from each non-empty queue below the most urgent non-empty one, most urgent first,
//! before the turn goes on as usual. A task in any queue therefore waits at most about
//! `starvation_limit` turns, however busy the queues above it are.
//!
//! A bit per priority says which queues hold tasks, so finding the most urgent one costs
//! a few instructions whatever `n` is.

use std::collections::VecDeque;
use std::ptr::NonNull;

use super::cell::Header;

/// The most priorities a runtime can have.
pub const MAX_PRIORITIES: usize = 256;

/// The default starvation limit: every 64th turn serves the lower queues.
pub const DEFAULT_STARVATION_LIMIT: u32 = 64;

/// One FIFO per priority, and the bits of the non-empty ones.
///
/// Priority 0's queue stands apart from the others, so that a loop with one priority
/// (the default) pushes and pops as if it had a single FIFO: one comparison more.
pub(super) struct RunQueues {
    /// Priority 0.
    first: VecDeque<NonNull<Header>>,
    /// Priorities 1 and up, at index `p - 1`; empty when there is one priority.
    rest: Box<[VecDeque<NonNull<Header>>]>,
    /// Bit `p - 1` set when the queue of priority `p` (in `rest`) is not empty.
    ready: [u64; MAX_PRIORITIES / 64],
}

impl RunQueues {
    /// `n` empty queues (`1..=MAX_PRIORITIES`).
    pub(super) fn new(n: usize) -> RunQueues {
        debug_assert!((1..=MAX_PRIORITIES).contains(&n));
        // The middle queue, where `spawn` puts tasks, gets room up front.
        let room = |p: usize| if p == n / 2 { 256 } else { 0 };
        RunQueues {
            first: VecDeque::with_capacity(room(0)),
            rest: (1..n).map(|p| VecDeque::with_capacity(room(p))).collect(),
            ready: [0; MAX_PRIORITIES / 64],
        }
    }

    /// How many tasks wait, in all queues.
    pub(super) fn len(&self) -> usize {
        self.first.len() + self.rest.iter().map(VecDeque::len).sum::<usize>()
    }

    /// Whether any task waits.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.first.is_empty() && self.ready.iter().all(|w| *w == 0)
    }

    /// Appends `ptr` to the queue of `priority` (which is below the number of queues).
    #[inline]
    pub(super) fn push(&mut self, priority: u8, ptr: NonNull<Header>) {
        if priority == 0 {
            self.first.push_back(ptr);
        } else {
            self.push_rest(usize::from(priority) - 1, ptr);
        }
    }

    fn push_rest(&mut self, i: usize, ptr: NonNull<Header>) {
        self.rest[i].push_back(ptr);
        self.ready[i / 64] |= 1 << (i % 64);
    }

    /// Takes the first task of the most urgent non-empty queue.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<NonNull<Header>> {
        match self.first.pop_front() {
            Some(ptr) => Some(ptr),
            None => self.pop_rest(),
        }
    }

    fn pop_rest(&mut self) -> Option<NonNull<Header>> {
        let i = self.first_ready(0)?;
        self.pop_rest_at(i)
    }

    /// The index in `rest` of the first non-empty queue at or after `i`.
    fn first_ready(&self, mut i: usize) -> Option<usize> {
        while i < self.rest.len() {
            let word = self.ready[i / 64] >> (i % 64);
            if word != 0 {
                return Some(i + word.trailing_zeros() as usize);
            }
            i = (i / 64 + 1) * 64;
        }
        None
    }

    fn pop_rest_at(&mut self, i: usize) -> Option<NonNull<Header>> {
        let queue = &mut self.rest[i];
        let ptr = queue.pop_front()?;
        if queue.is_empty() {
            self.ready[i / 64] &= !(1 << (i % 64));
        }
        Some(ptr)
    }

    /// Takes one task from each non-empty queue below the most urgent non-empty one,
    /// most urgent first, at most `max` in all (the starvation rule).
    pub(super) fn pop_starved(&mut self, max: usize, out: &mut Vec<NonNull<Header>>) {
        // The most urgent non-empty queue is skipped: `first`, or else the first of
        // `rest` that has tasks.
        let mut next = if self.first.is_empty() {
            self.first_ready(0).and_then(|i| self.first_ready(i + 1))
        } else {
            self.first_ready(0)
        };
        while let Some(i) = next {
            if out.len() >= max {
                break;
            }
            out.extend(self.pop_rest_at(i));
            next = self.first_ready(i + 1);
        }
    }
}
