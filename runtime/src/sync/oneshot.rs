//! A channel for one value, in the shape of `tokio::sync::oneshot`.
//!
//! `!Send`, no atomics: one allocation holds the value slot and the two wakers.
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
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

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
    value: Cell<Option<T>>,
    rx_waker: Cell<Option<Waker>>,
    tx_waker: Cell<Option<Waker>>,
    tx_gone: Cell<bool>,
    rx_gone: Cell<bool>,
}

/// A channel for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(Inner {
        value: Cell::new(None),
        rx_waker: Cell::new(None),
        tx_waker: Cell::new(None),
        tx_gone: Cell::new(false),
        rx_gone: Cell::new(false),
    });
    (
        Sender {
            inner: Rc::clone(&inner),
        },
        Receiver { inner },
    )
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
    inner: Rc<Inner<T>>,
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
    inner: Rc<Inner<T>>,
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
