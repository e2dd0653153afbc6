//! `JoinError`: why a task gave no output.

use std::any::Any;
use std::fmt;
use std::io;
use std::sync::{Mutex, PoisonError};

/// Why awaiting a [`JoinHandle`](crate::JoinHandle) gave no output: the task was
/// cancelled, or it panicked.
///
/// It is `Send + Sync` and an [`Error`](std::error::Error), so `?` carries it into
/// `Box<dyn Error + Send + Sync>` (or `anyhow::Error`) and `io::Error::other` takes it.
///
/// ```
/// use std::error::Error;
///
/// let rt = runtime::Runtime::new()?;
/// let r: Result<(), Box<dyn Error + Send + Sync>> = rt.block_on(async {
///     let handle = runtime::spawn(async { panic!("boom") });
///     handle.await?;
///     Ok(())
/// });
/// assert_eq!(r.unwrap_err().to_string(), "task panicked: boom");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The payload sits behind a lock only so that `JoinError` is `Sync`; it is reached
    /// by `&self` only to read the panic message.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    /// The task was aborted, or the runtime shut down before it finished.
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    /// The task panicked with `payload`.
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// Whether the task was cancelled: aborted, or dropped when its runtime shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic's payload, to re-raise with `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the task was cancelled rather than panicked.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(_) => panic!("`JoinError::into_panic` on a cancelled task"),
        }
    }

    /// The panic's payload, or the error itself if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => {
                Ok(payload.into_inner().unwrap_or_else(PoisonError::into_inner))
            }
            Repr::Cancelled => Err(JoinError::cancelled()),
        }
    }

    /// Calls `f` with the panic's message (when the payload is a string), under the lock.
    fn with_panic_message<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        match &self.repr {
            Repr::Cancelled => f(None),
            Repr::Panic(payload) => {
                let payload = payload.lock().unwrap_or_else(PoisonError::into_inner);
                f(panic_message(payload.as_ref()))
            }
        }
    }
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// A panic payload that stands for cancellation: a task's future raises it (a blocking
/// job dropped unrun), and the task's harness turns it into a cancelled `JoinError`.
pub(crate) struct Cancelled;

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cancelled() {
            return f.write_str("task was cancelled");
        }
        self.with_panic_message(|msg| match msg {
            Some(msg) => write!(f, "task panicked: {msg}"),
            None => f.write_str("task panicked"),
        })
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cancelled() {
            return f.write_str("JoinError::Cancelled");
        }
        self.with_panic_message(|msg| match msg {
            Some(msg) => write!(f, "JoinError::Panic({msg:?})"),
            None => f.write_str("JoinError::Panic(..)"),
        })
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    /// A cancelled task becomes `Interrupted`, a panicked one `Other`; the message is the
    /// error's `Display`.
    fn from(err: JoinError) -> io::Error {
        let kind = if err.is_cancelled() {
            io::ErrorKind::Interrupted
        } else {
            io::ErrorKind::Other
        };
        io::Error::new(kind, err)
    }
}
