//! The reactor: evloop's event base.
//!
//! A [`Reactor`] wraps the OS I/O API (epoll, kqueue, poll or io_uring, chosen at run
//! time; see [`BackendKind`]); on io_uring, sockets move bytes by [`completion`]
//! instead of readiness. Each fd is registered once, edge-triggered, for read and write
//! together, and gets a slot holding its [`Readiness`] and one waker per direction.
//! [`Reactor::turn`] waits until an event, a [`Notifier`] wakeup or a deadline, sets the
//! readiness bits and wakes the waiting tasks: libevent's `event_base_loop` with wakers in
//! place of callbacks.
//!
//! The crate also holds the thread's "current" reactor ([`Handle::current`]) and the
//! cooperative I/O [`budget`] that the executor refills and I/O operations spend.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let reactor = reactor::Reactor::new()?;
//! println!("backend: {}", reactor.backend_name());
//! // Nothing is registered: the turn just waits out its deadline.
//! let deadline = Instant::now() + Duration::from_micros(100);
//! reactor.turn(Some(deadline))?;
//! assert!(Instant::now() >= deadline);
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod budget;
pub mod completion;
mod errors;
mod event;
mod kind;
mod notifier;
mod reactor;
mod readiness;
mod registration;
mod shared;
mod slab;
mod source;
mod stats;
mod sys;

pub use completion::{Completion, Operation};
pub use kind::BackendKind;
pub use notifier::Notifier;
pub use reactor::{BACKEND_ENV, Builder, EnterGuard, Handle, INITIAL_EVENTS, MAX_EVENTS, Reactor};
pub use readiness::Readiness;
pub use registration::Registration;
pub use slab::Token;
pub use source::{RawSocketAddr, RawSource};
pub use stats::UringStats;
pub use sys::cvt;
