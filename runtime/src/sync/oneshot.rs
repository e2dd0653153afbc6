//! A channel for one value, in the shape of `tokio::sync::oneshot`.
//!
//! `!Send`, no atomics: one heap cell holds the value slot, the two wakers and the count
//! of live halves.
//!
//! The cell's protocol: it is made with a count of 2, one for each half; each half gives
//! its count back when dropped, and the half that takes the count to 0 drops the cell's
//! contents and returns its memory to the thread's block cache (`super::blocks`), which
//! makes the next channel cost no `malloc`. Both halves are `!Send`, so the cell is only
//! ever touched on the thread that made it, through `Cell`s.
//!
//! ```
//! use runtime::sync::oneshot;
//!
//! # runtime::Runtime::new()?.block_on(async {
//! let (tx, rx) = oneshot::channel();
//! runtime::spawn(async move {
//!     let _ = tx.send(42);
//! });
//! assert_eq!(rx.await, Ok(42));
//!
//! let (tx, rx) = oneshot::channel::<u8>();
//! drop(tx);
//! assert!(rx.await.is_err());
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::Cell;
use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::blocks;

/// The errors of the channel.
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}

    /// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// No value yet; the sender is still alive.
        Empty,
        /// The sender was dropped without sending, or the value was already taken.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Closed => f.write_str("channel closed"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{RecvError, TryRecvError};

struct Inner<T> {
    /// The halves alive: 2, then 1, then 0 when the cell is freed.
    halves: Cell<u8>,
    value: Cell<Option<T>>,
    rx_waker: Cell<Option<Waker>>,
    tx_waker: Cell<Option<Waker>>,
    tx_gone: Cell<bool>,
    rx_gone: Cell<bool>,
}

/// One half's share of the cell: a counted pointer, `!Send` (module protocol).
struct Half<T> {
    /// Invariant: points to a live, initialised `Inner<T>` from `blocks::alloc`, whose
    /// `halves` counts this share.
    cell: NonNull<Inner<T>>,
    /// `!Send` and `!Sync`, and owner of a `T` for the drop check.
    _owner: PhantomData<Rc<Inner<T>>>,
}

impl<T> Half<T> {
    /// A new cell, and its two halves.
    fn pair(inner: Inner<T>) -> (Half<T>, Half<T>) {
        let cell = blocks::alloc::<Inner<T>>();
        inner.halves.set(2);
        // SAFETY: `cell` is fresh, uninitialised memory for an `Inner<T>`.
        unsafe { cell.write(inner) };
        let half = || Half {
            cell,
            _owner: PhantomData,
        };
        (half(), half())
    }
}

impl<T> Deref for Half<T> {
    type Target = Inner<T>;

    fn deref(&self) -> &Inner<T> {
        // SAFETY: the cell is live while this half counts in it (field invariant), and
        // is only shared immutably (its fields are `Cell`s).
        unsafe { self.cell.as_ref() }
    }
}

impl<T> Drop for Half<T> {
    fn drop(&mut self) {
        let left = self.halves.get() - 1;
        self.halves.set(left);
        if left == 0 {
            // SAFETY: this was the last half: nothing else points to the cell, which is
            // live and initialised (field invariant). Its contents are dropped once, then
            // its memory goes back to the block cache it came from.
            unsafe {
                self.cell.drop_in_place();
                blocks::free(self.cell);
            }
        }
    }
}

/// A channel for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = Half::pair(Inner {
        halves: Cell::new(0),
        value: Cell::new(None),
        rx_waker: Cell::new(None),
        tx_waker: Cell::new(None),
        tx_gone: Cell::new(false),
        rx_gone: Cell::new(false),
    });
    (Sender { inner: tx }, Receiver { inner: rx })
}

fn store_waker(slot: &Cell<Option<Waker>>, cx: &Context<'_>) {
    let old = slot.take();
    match old {
        Some(old) if old.will_wake(cx.waker()) => slot.set(Some(old)),
        _ => slot.set(Some(cx.waker().clone())),
    }
}

/// The sending half of [`channel`].
pub struct Sender<T> {
    inner: Half<T>,
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is dropped or closed.
    pub fn send(self, value: T) -> Result<(), T> {
        if self.inner.rx_gone.get() {
            return Err(value);
        }
        self.inner.value.set(Some(value));
        if let Some(w) = self.inner.rx_waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.inner.rx_gone.get()
    }

    /// Completes when the receiver is dropped or closed. Cancel safe.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls for the receiver being dropped or closed.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.rx_gone.get() {
            return Poll::Ready(());
        }
        store_waker(&self.inner.tx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.inner.tx_gone.set(true);
        if let Some(w) = self.inner.rx_waker.take() {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of [`channel`]: a future of the value.
///
/// Cancel safety: awaiting `&mut rx` in a `select!` is cancel safe; the value stays in
/// the channel until a poll returns it.
pub struct Receiver<T> {
    inner: Half<T>,
}

impl<T> Receiver<T> {
    /// The value if it was sent.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.inner.value.take() {
            Some(v) => Ok(v),
            None if self.inner.tx_gone.get() => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Refuses the value: a later `send` fails and gives it back. A value sent before
    /// this call can still be taken with [`try_recv`](Self::try_recv).
    pub fn close(&mut self) {
        self.inner.rx_gone.set(true);
        if let Some(w) = self.inner.tx_waker.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &self.inner;
        if let Some(v) = inner.value.take() {
            return Poll::Ready(Ok(v));
        }
        if inner.tx_gone.get() {
            return Poll::Ready(Err(RecvError(())));
        }
        store_waker(&inner.rx_waker, cx);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        drop(self.inner.value.take());
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("sender_gone", &self.inner.tx_gone.get())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::pin::Pin;
    use std::rc::Rc;
    use std::task::{Context, Poll, Waker};

    use super::channel;

    fn poll<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Counts its drops, to show the value is dropped exactly once.
    struct Counted(Rc<RefCell<u32>>);

    impl Drop for Counted {
        fn drop(&mut self) {
            *self.0.borrow_mut() += 1;
        }
    }

    #[test]
    fn a_value_sent_and_received_is_dropped_once() {
        let drops = Rc::new(RefCell::new(0));
        for _ in 0..3 {
            let (tx, mut rx) = channel();
            assert!(poll(&mut rx).is_pending());
            assert!(tx.send(Counted(drops.clone())).is_ok());
            let Poll::Ready(Ok(value)) = poll(&mut rx) else {
                panic!("the value is there")
            };
            drop(rx);
            drop(value);
        }
        assert_eq!(*drops.borrow(), 3);
    }

    #[test]
    fn a_value_never_received_is_dropped_with_the_last_half() {
        let drops = Rc::new(RefCell::new(0));
        let (tx, rx) = channel();
        assert!(tx.send(Counted(drops.clone())).is_ok());
        assert_eq!(*drops.borrow(), 0);
        drop(rx);
        assert_eq!(*drops.borrow(), 1);

        // The receiver goes first: the send gives the value back.
        let (tx, rx) = channel();
        drop(rx);
        let back = tx.send(Counted(drops.clone())).unwrap_err();
        drop(back);
        assert_eq!(*drops.borrow(), 2);
    }

    #[test]
    fn a_dropped_sender_closes_the_channel() {
        let (tx, mut rx) = channel::<String>();
        drop(tx);
        assert!(matches!(poll(&mut rx), Poll::Ready(Err(_))));
    }

    #[test]
    fn large_values_use_their_own_allocation() {
        let (tx, mut rx) = channel::<[u64; 64]>();
        assert!(tx.send([9; 64]).is_ok());
        assert!(matches!(poll(&mut rx), Poll::Ready(Ok(v)) if v == [9; 64]));
    }
}
