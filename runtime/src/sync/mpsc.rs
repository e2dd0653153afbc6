//! Multi-producer, single-consumer channels for one loop, in the shape of
//! `tokio::sync::mpsc`.
//!
//! [`channel`] is bounded: [`Sender::send`] waits while the buffer is full, which is how
//! a fast producer is held back. [`unbounded_channel`] never waits. Both are `!Send` and
//! use no atomics; messages arrive in the order they were sent.
//!
//! ```
//! use runtime::sync::mpsc;
//!
//! # runtime::Runtime::new()?.block_on(async {
//! let (tx, mut rx) = mpsc::channel(2);
//! runtime::spawn(async move {
//!     for i in 0..5 {
//!         tx.send(i).await.unwrap();
//!     }
//! });
//! let mut got = Vec::new();
//! while let Some(i) = rx.recv().await {
//!     got.push(i);
//! }
//! assert_eq!(got, [0, 1, 2, 3, 4]);
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::semaphore::{Sem, TryFail};

/// The errors of the channels.
pub mod error {
    use std::fmt;

    /// The receiver is gone or closed; the value comes back.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("SendError(..)")
        }
    }

    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl<T> std::error::Error for SendError<T> {}

    /// Why [`Sender::try_send`](super::Sender::try_send) failed; the value comes back.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum TrySendError<T> {
        /// The buffer is full.
        Full(T),
        /// The receiver is gone or closed.
        Closed(T),
    }

    impl<T> TrySendError<T> {
        /// The value that was not sent.
        pub fn into_inner(self) -> T {
            match self {
                TrySendError::Full(v) | TrySendError::Closed(v) => v,
            }
        }
    }

    impl<T> fmt::Debug for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => f.write_str("Full(..)"),
                TrySendError::Closed(_) => f.write_str("Closed(..)"),
            }
        }
    }

    impl<T> fmt::Display for TrySendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TrySendError::Full(_) => f.write_str("no available capacity"),
                TrySendError::Closed(_) => f.write_str("channel closed"),
            }
        }
    }

    impl<T> std::error::Error for TrySendError<T> {}

    impl<T> From<SendError<T>> for TrySendError<T> {
        fn from(e: SendError<T>) -> Self {
            TrySendError::Closed(e.0)
        }
    }

    /// Why `try_recv` returned no message.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// Nothing is buffered, but senders remain.
        Empty,
        /// Nothing is buffered and every sender is gone (or the receiver closed).
        Disconnected,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TryRecvError::Empty => f.write_str("channel empty"),
                TryRecvError::Disconnected => f.write_str("channel disconnected"),
            }
        }
    }

    impl std::error::Error for TryRecvError {}
}

use error::{SendError, TryRecvError, TrySendError};

struct Chan<T> {
    queue: RefCell<VecDeque<T>>,
    rx_waker: Cell<Option<Waker>>,
    senders: Cell<usize>,
    rx_closed: Cell<bool>,
    /// Free slots of a bounded channel; `None` when unbounded.
    slots: Option<Sem>,
    /// Woken when the receiver closes, for `Sender::closed`.
    closed_wakers: RefCell<Vec<Waker>>,
    capacity: usize,
}

impl<T> Chan<T> {
    fn new(slots: Option<Sem>, capacity: usize) -> Rc<Self> {
        Rc::new(Chan {
            queue: RefCell::new(VecDeque::new()),
            rx_waker: Cell::new(None),
            senders: Cell::new(1),
            rx_closed: Cell::new(false),
            slots,
            closed_wakers: RefCell::new(Vec::new()),
            capacity,
        })
    }

    fn push(&self, value: T) {
        self.queue.borrow_mut().push_back(value);
        if let Some(w) = self.rx_waker.take() {
            w.wake();
        }
    }

    fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.try_recv() {
            Ok(v) => Poll::Ready(Some(v)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                let old = self.rx_waker.take();
                match old {
                    Some(old) if old.will_wake(cx.waker()) => self.rx_waker.set(Some(old)),
                    _ => self.rx_waker.set(Some(cx.waker().clone())),
                }
                Poll::Pending
            }
        }
    }

    fn try_recv(&self) -> Result<T, TryRecvError> {
        let popped = self.queue.borrow_mut().pop_front();
        match popped {
            Some(v) => {
                if let Some(slots) = &self.slots {
                    slots.release(1);
                }
                Ok(v)
            }
            None if self.senders.get() == 0 || self.rx_closed.get() => {
                Err(TryRecvError::Disconnected)
            }
            None => Err(TryRecvError::Empty),
        }
    }

    fn close(&self) {
        if self.rx_closed.replace(true) {
            return;
        }
        if let Some(slots) = &self.slots {
            slots.close();
        }
        let wakers = std::mem::take(&mut *self.closed_wakers.borrow_mut());
        for w in wakers {
            w.wake();
        }
    }

    fn drop_sender(&self) {
        let n = self.senders.get() - 1;
        self.senders.set(n);
        if n == 0 {
            if let Some(w) = self.rx_waker.take() {
                w.wake();
            }
        }
    }

    fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.rx_closed.get() {
            return Poll::Ready(());
        }
        let mut wakers = self.closed_wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn drain(&self) {
        // Values are dropped with no borrow held: their destructors may touch the channel.
        loop {
            let v = self.queue.borrow_mut().pop_front();
            if v.is_none() {
                return;
            }
        }
    }
}

/// A bounded channel with room for `buffer` messages.
///
/// # Panics
/// If `buffer` is 0.
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    let chan = Chan::new(Some(Sem::new(buffer)), buffer);
    (
        Sender {
            chan: Rc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// A channel with no bound: sending never waits.
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None, usize::MAX);
    (
        UnboundedSender {
            chan: Rc::clone(&chan),
        },
        UnboundedReceiver { chan },
    )
}

/// The sending half of [`channel`]; clone it for more producers.
pub struct Sender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting for a free slot while the buffer is full.
    ///
    /// Fails, giving the value back, once the receiver is dropped or closed.
    ///
    /// Cancel safety: dropping the future before it completes loses `value` and gives up
    /// the sender's place in the queue of waiting senders (a slot already reserved for
    /// it passes to the next one). Use [`reserve`](Self::reserve) to keep the value.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.reserve().await {
            Ok(permit) => {
                permit.send(value);
                Ok(())
            }
            Err(_) => Err(SendError(value)),
        }
    }

    /// Waits for a free slot and reserves it.
    ///
    /// Cancel safety: dropping the future gives up its place in the queue, passing on a
    /// slot that had already been handed to it.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        if self.chan.rx_closed.get() {
            return Err(SendError(()));
        }
        let slots = self
            .chan
            .slots
            .as_ref()
            .expect("a bounded channel has slots");
        match slots.try_acquire(1) {
            Ok(()) => {}
            Err(TryFail::Closed) => return Err(SendError(())),
            Err(TryFail::NoPermits) => {
                if slots.acquire(1).await.is_err() {
                    return Err(SendError(()));
                }
            }
        }
        Ok(Permit { chan: &self.chan })
    }

    /// Sends `value` if a slot is free now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.chan.rx_closed.get() {
            return Err(TrySendError::Closed(value));
        }
        let slots = self
            .chan
            .slots
            .as_ref()
            .expect("a bounded channel has slots");
        match slots.try_acquire(1) {
            Ok(()) => {
                self.chan.push(value);
                Ok(())
            }
            Err(TryFail::Closed) => Err(TrySendError::Closed(value)),
            Err(TryFail::NoPermits) => Err(TrySendError::Full(value)),
        }
    }

    /// Completes when the receiver is dropped or closed. Cancel safe.
    pub async fn closed(&self) {
        poll_fn(|cx| self.chan.poll_closed(cx)).await
    }

    /// Whether the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get()
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        self.chan.slots.as_ref().map_or(0, Sem::available)
    }

    /// The buffer size the channel was made with.
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.set(self.chan.senders.get() + 1);
        Sender {
            chan: Rc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A slot reserved by [`Sender::reserve`]; dropping it unused frees the slot.
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `value` into the reserved slot. This never waits and never fails: if the
    /// receiver closed meanwhile, the value is dropped with the channel.
    pub fn send(self, value: T) {
        let chan = self.chan;
        std::mem::forget(self);
        chan.push(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        if let Some(slots) = &self.chan.slots {
            slots.release(1);
        }
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}

/// The receiving half of [`channel`].
pub struct Receiver<T> {
    chan: Rc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// The next message; `None` once the buffer is empty and every sender is gone (or
    /// [`close`](Self::close) was called).
    ///
    /// Cancel safety: cancel safe. A message is taken only when the future completes.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.chan.poll_recv(cx)).await
    }

    /// Polls for the next message, as [`recv`](Self::recv) does.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// The next message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Stops accepting messages: senders fail from now on, waiting senders are woken with
    /// an error. Messages already buffered can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.chan.queue.borrow().len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is closed: receiver closed or every sender gone.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get() || self.chan.senders.get() == 0
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        self.chan.slots.as_ref().map_or(0, Sem::available)
    }

    /// The buffer size the channel was made with.
    pub fn max_capacity(&self) -> usize {
        self.chan.capacity
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        self.chan.drain();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish()
    }
}

/// The sending half of [`unbounded_channel`].
pub struct UnboundedSender<T> {
    chan: Rc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once; fails, giving it back, once the receiver is dropped or
    /// closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.chan.rx_closed.get() {
            return Err(SendError(value));
        }
        self.chan.push(value);
        Ok(())
    }

    /// Completes when the receiver is dropped or closed. Cancel safe.
    pub async fn closed(&self) {
        poll_fn(|cx| self.chan.poll_closed(cx)).await
    }

    /// Whether the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get()
    }

    /// Whether both senders belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.set(self.chan.senders.get() + 1);
        UnboundedSender {
            chan: Rc::clone(&self.chan),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of [`unbounded_channel`].
pub struct UnboundedReceiver<T> {
    chan: Rc<Chan<T>>,
}

impl<T> UnboundedReceiver<T> {
    /// The next message; `None` once the buffer is empty and every sender is gone (or
    /// [`close`](Self::close) was called).
    ///
    /// Cancel safety: cancel safe. A message is taken only when the future completes.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.chan.poll_recv(cx)).await
    }

    /// Polls for the next message, as [`recv`](Self::recv) does.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// The next message if one is buffered.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Stops accepting messages; those already buffered can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.chan.queue.borrow().len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the channel is closed: receiver closed or every sender gone.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed.get() || self.chan.senders.get() == 0
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.close();
        self.chan.drain();
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver")
            .field("len", &self.len())
            .finish()
    }
}
