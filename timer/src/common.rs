//! `CommonTimeout`: timers that share one duration, O(1) to arm and cancel.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::clock::add_saturating;
use crate::handle::Handle;
use crate::queue::QueueId;
use crate::sleep::Sleep;
use crate::timeout::Timeout;

/// A queue of timers that share one duration: libevent's common timeout.
///
/// Servers arm many timers of one duration, such as a header-read timeout per request
/// or an idle timeout per connection, and cancel most of them. A plain [`sleep`]
/// costs a heap insert and a heap removal, O(log n) each. The sleeps of a
/// `CommonTimeout` go into one FIFO list instead, which their deadlines (`now +
/// duration`) keep sorted, so arming and cancelling are O(1); only the list's first
/// timer stands in the heap. They are ordinary [`Sleep`]s and [`Timeout`]s: they fire
/// in deadline order with every other timer, never early, and [`Sleep::reset`] moves
/// one to the heap.
///
/// All `CommonTimeout`s of one duration on one loop share a queue. A queue no one uses
/// is kept for reuse (up to eight of them per loop), so making a `CommonTimeout` per
/// request costs a lookup, not an allocation. [`Handle::sleep_until_common`] reaches
/// the same queues without a `CommonTimeout`. It belongs to its loop: `!Send`.
///
/// ```
/// use std::time::Duration;
/// use timer::CommonTimeout;
///
/// let timers = timer::Handle::new();
/// let _guard = timers.enter();
/// let idle = CommonTimeout::new(Duration::from_secs(30));
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// let mut sleeps: Vec<_> = (0..3).map(|_| idle.sleep()).collect();
/// for s in &mut sleeps {
///     assert!(std::pin::Pin::new(s).poll(&mut cx).is_pending());
/// }
/// assert_eq!(timers.len(), 3);
/// sleeps.clear(); // cancelled, each in O(1)
/// assert!(timers.is_empty());
/// # use std::future::Future;
/// ```
///
/// [`sleep`]: crate::sleep
pub struct CommonTimeout {
    handle: Handle,
    queue: QueueId,
    duration: Duration,
}

impl CommonTimeout {
    /// The common timeout of `duration` on the thread's current timer heap.
    ///
    /// # Panics
    ///
    /// Outside a runtime, with a message that says so.
    #[track_caller]
    pub fn new(duration: Duration) -> CommonTimeout {
        CommonTimeout::new_in(&Handle::current(), duration)
    }

    /// The common timeout of `duration` on `handle`'s heap.
    pub fn new_in(handle: &Handle, duration: Duration) -> CommonTimeout {
        let queue = handle.inner.heap.borrow_mut().common_queue(duration);
        CommonTimeout {
            handle: handle.clone(),
            queue,
            duration,
        }
    }

    /// The duration its timers share.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// A sleep of the queue's duration, measured from now on its loop's clock
    /// ([`Handle::now`]).
    ///
    /// Unlike [`sleep`](crate::sleep), it is set in its queue at once (O(1)), so its
    /// first poll neither reads the clock nor sets anything. A sleep first polled after
    /// its deadline is therefore ready at the loop's next turn rather than at that poll;
    /// it never fires early.
    pub fn sleep(&self) -> Sleep {
        self.sleep_until(add_saturating(self.handle.now(), self.duration))
    }

    /// A sleep until `deadline`, set in this queue at once. Deadlines at or after the
    /// queue's last one (as `now + duration` always is) take O(1); one a little earlier
    /// finds its place in a few steps, and one much earlier goes to the heap. It fires at
    /// `deadline` either way.
    pub fn sleep_until(&self, deadline: Instant) -> Sleep {
        let key = self
            .handle
            .inner
            .heap
            .borrow_mut()
            .insert_common(self.queue, deadline, None);
        Sleep::armed(self.handle.clone(), key, deadline)
    }

    /// Runs `future` for at most the queue's duration, as [`timeout`](crate::timeout)
    /// does (with the timer set at once, as [`sleep`](Self::sleep) sets it).
    pub fn timeout<F: Future>(&self, future: F) -> Timeout<F> {
        Timeout::new(future, self.sleep())
    }
}

impl Clone for CommonTimeout {
    fn clone(&self) -> CommonTimeout {
        self.handle.inner.heap.borrow_mut().use_queue(self.queue);
        CommonTimeout {
            handle: self.handle.clone(),
            queue: self.queue,
            duration: self.duration,
        }
    }
}

impl Drop for CommonTimeout {
    fn drop(&mut self) {
        self.handle
            .inner
            .heap
            .borrow_mut()
            .release_queue(self.queue);
    }
}

impl fmt::Debug for CommonTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonTimeout")
            .field("duration", &self.duration)
            .finish()
    }
}
