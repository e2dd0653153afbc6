//! A single-value channel that keeps only the latest value, in the shape of
//! `tokio::sync::watch`. `!Send`, no atomics.
//!
//! ```
//! use runtime::sync::watch;
//!
//! # runtime::Runtime::new()?.block_on(async {
//! let (tx, mut rx) = watch::channel("start");
//! let task = runtime::spawn(async move {
//!     rx.changed().await.unwrap();
//!     *rx.borrow_and_update()
//! });
//! runtime::yield_now().await;
//! tx.send("ready").unwrap();
//! assert_eq!(task.await.unwrap(), "ready");
//! # });
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

use super::Notify;

/// The errors of the channel.
pub mod error {
    use std::fmt;

    /// Every receiver is gone; the value comes back.
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

    /// The sender is gone.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }

    impl std::error::Error for RecvError {}
}

use error::{RecvError, SendError};

struct Shared<T> {
    value: RefCell<T>,
    version: Cell<u64>,
    tx_gone: Cell<bool>,
    receivers: Cell<usize>,
    changed: Notify,
    rx_gone: Notify,
}

/// A watch channel holding `init`.
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        value: RefCell::new(init),
        version: Cell::new(0),
        tx_gone: Cell::new(false),
        receivers: Cell::new(1),
        changed: Notify::new(),
        rx_gone: Notify::new(),
    });
    (
        Sender {
            shared: Rc::clone(&shared),
        },
        Receiver { shared, seen: 0 },
    )
}

/// A borrow of the current value. Sending while one is alive panics, so keep it short
/// and never hold it across an `.await`.
pub struct Ref<'a, T> {
    inner: std::cell::Ref<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

/// The sending half of [`channel`].
pub struct Sender<T> {
    shared: Rc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Replaces the value and wakes every receiver; fails, giving the value back, when no
    /// receiver is left.
    ///
    /// # Panics
    /// If a [`Ref`] of this channel is alive.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.get() == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Replaces the value, even with no receiver left, and returns the old one.
    ///
    /// # Panics
    /// If a [`Ref`] of this channel is alive.
    pub fn send_replace(&self, value: T) -> T {
        let old = self.shared.value.replace(value);
        self.bump();
        old
    }

    /// Changes the value in place and wakes every receiver.
    ///
    /// # Panics
    /// If a [`Ref`] of this channel is alive.
    pub fn send_modify<F: FnOnce(&mut T)>(&self, modify: F) {
        modify(&mut self.shared.value.borrow_mut());
        self.bump();
    }

    fn bump(&self) {
        self.shared.version.set(self.shared.version.get() + 1);
        self.shared.changed.notify_waiters();
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            inner: self.shared.value.borrow(),
            has_changed: false,
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver {
            shared: Rc::clone(&self.shared),
            seen: self.shared.version.get(),
        }
    }

    /// How many receivers are alive.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.get()
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.shared.receivers.get() == 0
    }

    /// Completes when every receiver is gone. Cancel safe.
    pub async fn closed(&self) {
        while self.shared.receivers.get() > 0 {
            self.shared.rx_gone.notified().await;
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.tx_gone.set(true);
        self.shared.changed.notify_waiters();
    }
}

impl<T: fmt::Debug> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("receivers", &self.receiver_count())
            .finish()
    }
}

/// The receiving half of [`channel`]; clone it for more receivers.
pub struct Receiver<T> {
    shared: Rc<Shared<T>>,
    seen: u64,
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            has_changed: self.seen != self.shared.version.get(),
            inner: self.shared.value.borrow(),
        }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let version = self.shared.version.get();
        let has_changed = self.seen != version;
        self.seen = version;
        Ref {
            inner: self.shared.value.borrow(),
            has_changed,
        }
    }

    /// Whether a value this receiver has not seen is there; an error once the sender is
    /// gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        if self.shared.tx_gone.get() {
            return Err(RecvError(()));
        }
        Ok(self.seen != self.shared.version.get())
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.version.get();
    }

    /// Waits for a value this receiver has not seen, and marks it seen. Fails once the
    /// sender is gone and no unseen value is left.
    ///
    /// Cancel safety: cancel safe; an unseen value stays unseen if the future is dropped.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            let version = self.shared.version.get();
            if self.seen != version {
                self.seen = version;
                return Ok(());
            }
            if self.shared.tx_gone.get() {
                return Err(RecvError(()));
            }
            self.shared.changed.notified().await;
        }
    }

    /// Whether both receivers belong to the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.set(self.shared.receivers.get() + 1);
        Receiver {
            shared: Rc::clone(&self.shared),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let n = self.shared.receivers.get() - 1;
        self.shared.receivers.set(n);
        if n == 0 {
            self.shared.rx_gone.notify_waiters();
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("seen", &self.seen)
            .finish()
    }
}
