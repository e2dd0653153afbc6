//! `Sleep`: a future that completes at a deadline.
//!
//! A `Sleep` is a deadline until its first poll. That poll either completes it (the
//! deadline has passed: no heap entry, no trip through the reactor) or inserts one entry
//! in the thread's current heap and keeps the heap's handle and the entry's key. Later
//! polls only refresh the waker; the sleep is over once its entry is gone (the heap
//! fired it). `reset` moves the entry in place, and dropping the sleep removes it.
//!
//! A sleep of a [`CommonTimeout`](crate::CommonTimeout) is set when it is made, in its
//! queue (O(1), and no clock read at its first poll); from then on it is like any set
//! sleep.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::{self, add_saturating};
use crate::handle::{Handle, SHUT_DOWN};
use crate::heap::TimerKey;

/// `now + dur` on the current loop's clock, saturating to a far-future instant instead
/// of overflowing.
pub(crate) fn deadline_after(dur: Duration) -> Instant {
    add_saturating(clock::now(), dur)
}

/// Waits until `dur` has elapsed, measured from this call on the current loop's clock
/// ([`now`](crate::now), which a paused clock holds still).
///
/// The returned [`Sleep`] takes no heap entry until it is first polled, and one whose
/// deadline has passed by then completes on that first poll, with no heap entry and no
/// trip through the reactor. A `dur` that would overflow `Instant` means "about thirty
/// years".
///
/// # Panics
///
/// Polling it outside a runtime panics with a message that says so, and so does polling
/// it after the runtime it was first polled in was dropped (see
/// [`Handle::shutdown`]); it never waits forever.
pub fn sleep(dur: Duration) -> Sleep {
    Sleep {
        deadline: deadline_after(dur),
        heap: None,
        key: UNPOLLED,
    }
}

/// Waits until `deadline`. One whose deadline has passed completes on its first poll,
/// without a heap entry. See [`sleep`].
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        heap: None,
        key: UNPOLLED,
    }
}

/// Phase of a sleep without a heap entry: not set yet; the first poll reads the clock.
const UNPOLLED: TimerKey = TimerKey::unissued(0);
/// Phase: completed; polls return `Ready` until a reset.
const ELAPSED: TimerKey = TimerKey::unissued(1);

/// The future of [`sleep`] and [`sleep_until`]. `!Send`: it belongs to its loop's heap.
///
/// Dropping it removes its heap entry; [`reset`](Sleep::reset) moves the entry in place.
/// It is `Unpin`, so it can be polled through `&mut` without pinning. It takes 32 bytes.
#[must_use = "futures do nothing unless polled"]
pub struct Sleep {
    deadline: Instant,
    /// The heap holding this sleep's entry, from the poll that set it until a poll finds
    /// it fired, a reset finds it gone, or the sleep drops. Keeping the heap (not just the
    /// key) means a drop on another loop can never cancel that loop's timers.
    heap: Option<Handle>,
    /// With `heap`: the entry's key. Without: the phase, `UNPOLLED` or
    /// `ELAPSED` (keys the heap never issues).
    key: TimerKey,
}

impl Sleep {
    /// A sleep whose timer `key` is already set, for `deadline`, in `handle`'s heap.
    pub(crate) fn armed(handle: Handle, key: TimerKey, deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            heap: Some(handle),
            key,
        }
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the sleep has completed.
    pub fn is_elapsed(&self) -> bool {
        self.heap.is_none() && self.key == ELAPSED
    }

    /// Sets a new deadline, moving the heap entry in place if there is one (it also goes
    /// behind other timers of the same deadline). A sleep that had completed waits again
    /// from its next poll.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        if let Some(handle) = &this.heap {
            // A queued timer whose new deadline does not fit its queue moves to the heap
            // array under a new key.
            let moved = handle.inner.heap.borrow_mut().reset(this.key, deadline);
            if let Some(key) = moved {
                this.key = key;
                return;
            }
            this.heap = None;
        }
        this.key = UNPOLLED;
    }

    /// True when this sleep holds an entry in `handle`'s heap.
    pub fn is_registered_in(&self, handle: &Handle) -> bool {
        self.heap
            .as_ref()
            .is_some_and(|h| h.same_heap(handle) && h.inner.heap.borrow().is_registered(self.key))
    }
}

impl Handle {
    /// A sleep until `deadline`, set at once in this heap's common-timeout queue for
    /// `duration` (the queue every [`CommonTimeout`](crate::CommonTimeout) of that
    /// duration uses, made if there is none), with no `CommonTimeout` to keep: what
    /// [`CommonTimeout::sleep_until`](crate::CommonTimeout::sleep_until) does, for code
    /// that meets the same few durations again and again. The deadline need not be `now
    /// + duration`; one that does not fit the queue's order goes to the heap.
    pub fn sleep_until_common(&self, duration: Duration, deadline: Instant) -> Sleep {
        let key = {
            let mut heap = self.inner.heap.borrow_mut();
            let queue = heap.find_queue(duration);
            heap.insert_common(queue, deadline, None)
        };
        Sleep::armed(self.clone(), key, deadline)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(handle) = &this.heap {
            if handle.is_shut_down() {
                return this.poll_shut_down();
            }
            let replaced = handle
                .inner
                .heap
                .borrow_mut()
                .update_waker(this.key, cx.waker());
            // The replaced waker (if any) drops here, after the heap is released: a
            // waker's drop may run arbitrary code, even drop another `Sleep`.
            if replaced.is_some() {
                return Poll::Pending;
            }
            // The entry is gone: the heap fired it.
            this.heap = None;
            this.key = ELAPSED;
            return Poll::Ready(());
        }
        if this.key == ELAPSED {
            return Poll::Ready(());
        }
        if this.deadline <= clock::now() {
            this.key = ELAPSED;
            return Poll::Ready(());
        }
        let handle = Handle::current();
        if handle.is_shut_down() {
            panic!("{SHUT_DOWN}");
        }
        this.key = handle
            .inner
            .heap
            .borrow_mut()
            .insert(this.deadline, Some(cx.waker().clone()));
        this.heap = Some(handle);
        Poll::Pending
    }
}

impl Sleep {
    /// A poll after the heap was shut down: complete if the timer fired before, else
    /// there is nothing that could ever wake it.
    #[cold]
    fn poll_shut_down(&mut self) -> Poll<()> {
        let fired = self
            .heap
            .as_ref()
            .is_some_and(|h| !h.inner.heap.borrow().is_registered(self.key));
        if !fired {
            panic!("{SHUT_DOWN}");
        }
        self.heap = None;
        self.key = ELAPSED;
        Poll::Ready(())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(handle) = self.heap.take() {
            // The heap never runs foreign code while borrowed (wakers are woken and
            // dropped after its borrow ends), so no `Sleep` can drop inside it.
            let waker = handle.inner.heap.borrow_mut().remove(self.key);
            drop(waker);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.heap.is_some())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}
