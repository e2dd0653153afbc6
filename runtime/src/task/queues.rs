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
pub(super) struct RunQueues {
    /// Indexed by priority; as many as the runtime has priorities.
    queues: Box<[VecDeque<NonNull<Header>>]>,
    /// Bit `p` set when `queues[p]` is not empty.
    ready: [u64; MAX_PRIORITIES / 64],
    len: usize,
}

impl RunQueues {
    /// `n` empty queues (`1..=MAX_PRIORITIES`).
    pub(super) fn new(n: usize) -> RunQueues {
        debug_assert!((1..=MAX_PRIORITIES).contains(&n));
        let queues = (0..n)
            .map(|p| VecDeque::with_capacity(if p == n / 2 { 256 } else { 0 }))
            .collect();
        RunQueues {
            queues,
            ready: [0; MAX_PRIORITIES / 64],
            len: 0,
        }
    }

    /// How many tasks wait, in all queues.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Appends `ptr` to the queue of `priority` (which is below `levels`).
    #[inline]
    pub(super) fn push(&mut self, priority: u8, ptr: NonNull<Header>) {
        let p = usize::from(priority);
        self.queues[p].push_back(ptr);
        self.ready[p / 64] |= 1 << (p % 64);
        self.len += 1;
    }

    /// The most urgent non-empty priority, if any.
    #[inline]
    pub(super) fn most_urgent(&self) -> Option<usize> {
        // Bits above `levels` are never set, so the first set bit is a real queue.
        if self.ready[0] != 0 {
            return Some(self.ready[0].trailing_zeros() as usize);
        }
        self.ready
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, w)| **w != 0)
            .map(|(i, w)| i * 64 + w.trailing_zeros() as usize)
    }

    /// The most urgent non-empty priority after `p`, if any.
    pub(super) fn next_after(&self, p: usize) -> Option<usize> {
        let mut p = p + 1;
        while p < self.queues.len() {
            let word = self.ready[p / 64] >> (p % 64);
            if word != 0 {
                return Some(p + word.trailing_zeros() as usize);
            }
            p = (p / 64 + 1) * 64;
        }
        None
    }

    /// Takes the first task of the queue of `p`.
    #[inline]
    pub(super) fn pop_from(&mut self, p: usize) -> Option<NonNull<Header>> {
        let queue = &mut self.queues[p];
        let ptr = queue.pop_front()?;
        if queue.is_empty() {
            self.ready[p / 64] &= !(1 << (p % 64));
        }
        self.len -= 1;
        Some(ptr)
    }

    /// Takes the first task of the most urgent non-empty queue.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<NonNull<Header>> {
        let p = self.most_urgent()?;
        self.pop_from(p)
    }
}
