//! What a reactor, its handles and its registrations share: the backend, the slab, the
//! notifier and the events buffer, and what closing them means.

use std::cell::{Cell, RefCell};
use std::io;

use crate::event::NOTIFY_TOKEN;
use crate::kind::BackendKind;
use crate::notifier::Notifier;
use crate::slab::{Slab, Token};
use crate::source::RawSource;
use crate::sys::{Backend, CompletionSocket, Events, Ring};

/// What a reactor, its handles and its registrations share. Registrations that outlive
/// the [`Reactor`] keep it alive, but not the backend: that closes with the reactor.
pub(crate) struct Shared {
    pub(crate) slab: RefCell<Slab>,
    /// `None` once the reactor was dropped (see [`Shared::shut_down`]).
    pub(crate) backend: RefCell<Option<Backend>>,
    pub(crate) edge_triggered: bool,
    pub(crate) kind: BackendKind,
    pub(crate) notifier: Notifier,
    /// The buffer of the backend's waits; `turn` takes it out while it dispatches.
    pub(crate) events: RefCell<Events>,
    pub(crate) capacity: Cell<usize>,
    pub(crate) turns: Cell<u64>,
    /// The completion side (io_uring), shared with the completion registrations, which
    /// reach it without borrowing `backend`.
    pub(crate) ring: Option<Ring>,
}

impl Shared {
    pub(crate) fn deregister(&self, token: Token, fd: RawSource) -> io::Result<()> {
        let removed = self.slab.borrow_mut().remove(token);
        match removed {
            // The slot's wakers are dropped, not woken (nothing can still wait on a
            // registration that is going away), and only after the slab borrow ends,
            // since a waker's drop may run arbitrary code.
            Some(_wakers) => match self.backend.borrow_mut().as_mut() {
                Some(backend) => backend.deregister(fd),
                // The reactor is gone, and its backend with it: nothing to undo.
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// What dropping the [`Reactor`] does: every live registration's readiness becomes
    /// [`Readiness::SHUTDOWN`](crate::Readiness::SHUTDOWN) alone, the backend (the epoll
    /// or kqueue fd, the poll set) is closed, and every stored waker is woken, so a task
    /// waiting on one of these fds, in whatever runtime, is polled and gets the error
    /// instead of waiting forever.
    pub(crate) fn shut_down(&self) {
        let mut wake = Vec::new();
        self.slab.borrow_mut().shut_down(&mut wake);
        let backend = self.backend.borrow_mut().take();
        drop(backend);
        // Outside every borrow: a woken task may poll or drop its registration. A
        // waker that panics does not keep the others asleep; its panic goes on after.
        let mut first_panic = None;
        for waker in wake {
            let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
            if let Err(payload) = woken {
                first_panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = first_panic {
            std::panic::resume_unwind(payload);
        }
    }
}

/// How long `into_std` waits for the kernel to let go of a completion socket.
const QUIESCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

impl Shared {
    /// A completion registration's drop: its slot is freed and its socket retired (see
    /// `sys/uring/`): reads are cancelled, what was written still goes out.
    pub(crate) fn retire(&self, token: Token, socket: &CompletionSocket) {
        let removed = self.slab.borrow_mut().remove(token);
        if let Some(ring) = &self.ring
            && !ring.is_closed()
        {
            ring.retire(socket);
        }
        // The slot's wakers are dropped outside the slab's borrow, as in `deregister`.
        drop(removed);
    }

    /// Takes a completion socket off the ring before its fd goes back to its owner
    /// (`into_std`): cancels its reads, lets its writes finish, waiting at most
    /// [`QUIESCE_LIMIT`] while handling every completion (and waking what they wake).
    /// Fails if the socket still holds something its fd cannot carry (bytes received
    /// and not read, connections accepted and not taken), or if the kernel did not let
    /// go in time.
    pub(crate) fn quiesce(&self, socket: &CompletionSocket) -> io::Result<()> {
        let Some(ring) = self.ring.as_ref().filter(|r| !r.is_closed()) else {
            return Ok(());
        };
        let mut events = Vec::new();
        let mut wake = Vec::new();
        let quiet = ring.quiesce(socket, QUIESCE_LIMIT, &mut events, &mut wake);
        {
            let slab = self.slab.borrow();
            for ev in &events {
                if ev.token != NOTIFY_TOKEN
                    && let Some((reader, writer)) = slab.dispatch(ev.token, ev.readiness)
                {
                    wake.extend(reader);
                    wake.extend(writer);
                }
            }
        }
        for w in wake {
            w.wake();
        }
        if !quiet? {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "cannot hand the socket back: the kernel still held its operations \
                     {QUIESCE_LIMIT:?} after they were cancelled or flushed"
                ),
            ));
        }
        match socket.undelivered() {
            None => Ok(()),
            Some(what) => Err(io::Error::other(format!(
                "cannot hand the socket back: {what}, and its fd cannot carry them \
                 (read them first)"
            ))),
        }
    }
}
