//! `Notify`: wake one task, or every waiting task, without sending data.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

const WAITING: u8 = 0;
const NOTIFIED_ONE: u8 = 1;
const NOTIFIED_ALL: u8 = 2;

struct Waiter {
    state: Cell<u8>,
    waker: Cell<Option<Waker>>,
}

/// Notifies tasks of one loop, in the shape of `tokio::sync::Notify`.
///
/// [`notify_one`](Self::notify_one) wakes the longest-waiting [`Notified`] future, or, if
/// none waits, stores one permit that the next `notified().await` consumes at once.
/// [`notify_waiters`](Self::notify_waiters) wakes every `Notified` created before the
/// call and stores nothing. It is `!Sync` and uses no atomics.
///
/// ```
/// use std::rc::Rc;
/// use runtime::sync::Notify;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let notify = Rc::new(Notify::new());
/// let waiter = runtime::spawn({
///     let notify = notify.clone();
///     async move { notify.notified().await; "woken" }
/// });
/// runtime::yield_now().await;
/// notify.notify_one();
/// assert_eq!(waiter.await.unwrap(), "woken");
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default)]
pub struct Notify {
    permit: Cell<bool>,
    epoch: Cell<u64>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub const fn new() -> Self {
        Notify {
            permit: Cell::new(false),
            epoch: Cell::new(0),
            waiters: RefCell::new(VecDeque::new()),
        }
    }

    /// A future that completes when this `Notify` is notified.
    ///
    /// Cancel safety: dropping it leaves the queue. If `notify_one` had already chosen it,
    /// the notification passes to the next waiter (or is stored as the permit), so none is
    /// lost.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            epoch: self.epoch.get(),
            waiter: None,
            done: false,
        }
    }

    /// Wakes the longest-waiting task, or stores a permit if none waits.
    pub fn notify_one(&self) {
        let waiter = self.waiters.borrow_mut().pop_front();
        match waiter {
            Some(w) => {
                w.state.set(NOTIFIED_ONE);
                if let Some(waker) = w.waker.take() {
                    waker.wake();
                }
            }
            None => self.permit.set(true),
        }
    }

    /// Wakes every [`Notified`] created before this call, polled or not. Stores no permit.
    pub fn notify_waiters(&self) {
        self.epoch.set(self.epoch.get().wrapping_add(1));
        loop {
            let waiter = self.waiters.borrow_mut().pop_front();
            let Some(w) = waiter else { return };
            w.state.set(NOTIFIED_ALL);
            if let Some(waker) = w.waker.take() {
                waker.wake();
            }
        }
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify")
            .field("permit", &self.permit.get())
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    epoch: u64,
    waiter: Option<Rc<Waiter>>,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        if let Some(w) = &this.waiter {
            if w.state.get() != WAITING {
                this.waiter = None;
                this.done = true;
                return Poll::Ready(());
            }
            let old = w.waker.take();
            match old {
                Some(old) if old.will_wake(cx.waker()) => w.waker.set(Some(old)),
                _ => w.waker.set(Some(cx.waker().clone())),
            }
            return Poll::Pending;
        }
        if this.epoch != this.notify.epoch.get() || this.notify.permit.replace(false) {
            this.done = true;
            return Poll::Ready(());
        }
        let w = Rc::new(Waiter {
            state: Cell::new(WAITING),
            waker: Cell::new(Some(cx.waker().clone())),
        });
        this.notify.waiters.borrow_mut().push_back(Rc::clone(&w));
        this.waiter = Some(w);
        Poll::Pending
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(w) = self.waiter.take() else { return };
        match w.state.get() {
            WAITING => {
                let mut waiters = self.notify.waiters.borrow_mut();
                if let Some(i) = waiters.iter().position(|q| Rc::ptr_eq(q, &w)) {
                    waiters.remove(i);
                }
            }
            // Chosen by notify_one but never completed: hand the wake on.
            NOTIFIED_ONE => self.notify.notify_one(),
            _ => {}
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("queued", &self.waiter.is_some())
            .field("done", &self.done)
            .finish()
    }
}
