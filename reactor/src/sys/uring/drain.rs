//! Taking things off the io_uring backend: a socket before its fd goes back to its
//! owner (`into_std`), and the whole ring when the reactor is dropped (module docs of
//! `mod.rs`, rule 5).

use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use super::bufs::GROUP;
use super::ops::Kind;
use super::socket::Socket;
use super::{DRAIN_LIMIT, Driver};
use crate::event::Event;

impl Driver {
    /// A socket's owner drops it (module docs, rule 1).
    pub(crate) fn retire(&self, socket: &Rc<Socket>) {
        socket.retire(self);
    }

    /// Waits, up to `limit`, for `socket` to have nothing in flight, handling every
    /// completion meanwhile (what they wake goes to `wake`, their readiness events to
    /// `events`). Returns whether it got there.
    pub(crate) fn quiesce(
        &self,
        socket: &Rc<Socket>,
        limit: Duration,
        events: &mut Vec<Event>,
        wake: &mut Vec<Waker>,
    ) -> io::Result<bool> {
        socket.begin_quiesce(self);
        let end = Instant::now() + limit;
        loop {
            if socket.is_quiet() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= end {
                return Ok(false);
            }
            self.flush()?;
            match self.enter(Some((end - now).min(Duration::from_millis(10)))) {
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
            self.reap(events, wake);
        }
    }

    /// The reactor is dropped (module docs, rule 5). Returns the wakers of operations
    /// that completed meanwhile, for the caller to wake.
    pub(crate) fn shut_down(&self) -> Vec<Waker> {
        if self.is_forked_copy() {
            // A forked child's copy: the submission and completion queues (and the
            // buffer ring's registration) are the parent's too. Touch nothing of them:
            // unmapping and closing our copies is all, and the buffers stay mapped.
            self.leaked.set(true);
            self.closing.set(true);
            drop(self.ring.borrow_mut().take());
            return Vec::new();
        }
        let mut events = Vec::new();
        let mut wake = Vec::new();
        // What the sockets staged goes to the kernel, which takes what fits at once.
        let _ = self.flush();
        let _ = self.enter(Some(Duration::ZERO));
        self.reap(&mut events, &mut wake);
        self.closing.set(true);
        self.pool.forget_sockets();
        self.unqueue_all();
        if self.in_flight.get() > 0 {
            let sqe = opcode::AsyncCancel2::new(types::CancelBuilder::any())
                .build()
                .user_data(Kind::Cancel.bare());
            // SAFETY: a cancellation points to no memory.
            let _ = unsafe { self.push(&sqe) };
        }
        let end = Instant::now() + DRAIN_LIMIT;
        while self.in_flight.get() > 0 {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let _ = self.enter(Some((end - now).min(Duration::from_millis(100))));
            self.reap(&mut events, &mut wake);
        }
        if self.in_flight.get() > 0 {
            eprintln!(
                "evloop: {} io_uring operations did not complete within {DRAIN_LIMIT:?} of \
                 the reactor's drop; their memory is leaked rather than freed under the kernel",
                self.in_flight.get()
            );
            self.leaked.set(true);
        } else if let Some(ring) = self.ring.borrow().as_ref() {
            let _ = ring.submitter().unregister_buf_ring(GROUP);
        }
        self.polls.borrow_mut().clear();
        // Closing the ring: the kernel cancels what is left and lets go of our memory.
        drop(self.ring.borrow_mut().take());
        wake
    }
}
