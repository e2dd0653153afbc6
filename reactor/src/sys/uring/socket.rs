//! One socket's completion state on the io_uring backend, and what every kind of socket
//! shares: submitting at the flush, waking, accepting, connecting, retirement. Streams'
//! bytes are in `stream.rs`, datagrams in `dgram.rs`; the ownership rules in
//! `mod.rs`.
//!
//! A poll never submits anything that names the fd: it records what it wants and queues
//! the socket, and the driver's flush builds those submissions right before the enter
//! that submits them. So no submission naming an fd waits in the queue while user code
//! runs, and the owner may close the fd at any point between two turns. Retirement
//! (the owner dropping the socket) cancels by `user_data`, which names no fd; bytes
//! still staged then are sent at once (`send`), and what the kernel does not take goes
//! out through a duplicate of the fd that the socket keeps until its last send.
//!
//! - **Accept**: one multishot accept queues the new fds, up to [`ACCEPT_QUEUE`].
//! - **Connect**: one `IORING_OP_CONNECT`, its address kept here until it completes.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::dgram::{Dgram, Phase};
use super::ops::{Kind, submit, target};
use super::stream::{Recv, SEND_BOUND, Send};
use super::{Driver, Sq};
use crate::Readiness;
use crate::budget;
use crate::slab::{Direction, Slot};

/// Accepted connections waiting before the accept is stopped.
pub(crate) const ACCEPT_QUEUE: usize = 64;

/// An error from a (positive) errno value.
pub(crate) fn os_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The state of a multishot operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Arm {
    /// No operation in flight.
    #[default]
    Idle,
    Armed,
    /// Cancelled, waiting for its last completion.
    Cancelling,
}

#[derive(Default)]
pub(super) struct Accept {
    queue: VecDeque<Result<OwnedFd, i32>>,
    arm: Arm,
}

/// What the next flush submits for a socket (bits of `State::want`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want;

impl Want {
    pub(crate) const RECV: u8 = 1;
    pub(crate) const SEND: u8 = 1 << 1;
    pub(crate) const ACCEPT: u8 = 1 << 2;
    pub(crate) const CONNECT: u8 = 1 << 3;
    pub(crate) const DGRAM: u8 = 1 << 4;
}

#[derive(Default)]
pub(super) enum Connect {
    #[default]
    Idle,
    /// To submit at the next flush.
    Wanted(Box<(libc::sockaddr_storage, libc::socklen_t)>),
    /// The address stays here until the completion, whatever the kernel copied.
    InFlight(#[allow(dead_code)] Box<(libc::sockaddr_storage, libc::socklen_t)>),
    Done(i32),
}

#[derive(Default)]
pub(crate) struct State {
    pub(super) retired: bool,
    /// Being taken off the ring (`into_std`): nothing new is submitted.
    quiescing: bool,
    /// What the next flush submits ([`Want`] bits); non-zero while the socket is in the
    /// driver's list of sockets to flush.
    pub(super) want: u8,
    /// Operations the kernel holds (each with a reference to this socket).
    pub(super) ops: u32,
    pub(super) recv: Recv,
    pub(super) send: Send,
    pub(super) accept: Option<Box<Accept>>,
    pub(super) dgram: Dgram,
    pub(super) connect: Connect,
    /// A duplicate of the fd, kept after the owner closed it with bytes the kernel had
    /// not taken yet: the rest goes out through it, and it closes after the last send.
    pub(super) dup: Option<OwnedFd>,
}

/// One socket's completion state. Shared by its `Registration` and by the kernel (one
/// reference per operation in flight): it outlives its registration until its last
/// operation completes.
#[repr(align(16))]
pub(crate) struct Socket {
    /// The fd the operations name: the owner's, or `dup` after retirement; -1 once no
    /// operation may name it.
    pub(super) fd: Cell<RawFd>,
    /// The registration's slot, for its wakers: woken only while not retired (the slot
    /// then may belong to another registration).
    pub(super) slot: Rc<Slot>,
    pub(super) st: RefCell<State>,
    /// The next socket in the driver's list of sockets to flush.
    pub(super) next: Cell<Option<Rc<Socket>>>,
}

impl Socket {
    pub(crate) fn new(fd: RawFd, slot: Rc<Slot>) -> Socket {
        Socket {
            fd: Cell::new(fd),
            slot,
            st: RefCell::new(State::default()),
            next: Cell::new(None),
        }
    }

    pub(super) fn fd(&self) -> types::Fd {
        types::Fd(self.fd.get())
    }

    /// Moves the waker of `dir` to `wake`, unless the socket was retired.
    pub(super) fn wake(&self, st: &State, dir: Direction, wake: &mut Vec<Waker>) {
        if !st.retired {
            if let Some(w) = self.slot.take_waker(dir) {
                wake.push(w);
            }
        }
    }

    /// Queues `sqe`, which names this socket's fd; only the flush calls this (module docs).
    ///
    /// # Safety
    ///
    /// As `Driver::push`: whatever `sqe` points to stays valid until its completion.
    pub(super) unsafe fn push(
        &self,
        sq: &mut Sq<'_>,
        st: &mut State,
        sqe: &squeue::Entry,
    ) -> io::Result<()> {
        debug_assert!(self.fd.get() >= 0, "a submission names a closed socket");
        // SAFETY: forwarded from the caller.
        unsafe { sq.push(sqe) }?;
        st.ops += 1;
        Ok(())
    }

    /// Asks the next flush for `what` (a [`Want`] bit), putting the socket in the
    /// driver's list if it is not there yet.
    #[inline(always)]
    pub(super) fn want(self: &Rc<Self>, d: &Driver, st: &mut State, what: u8) {
        if st.quiescing && what != Want::SEND {
            return;
        }
        if st.want == 0 {
            d.queue(self.clone());
        }
        st.want |= what;
    }

    /// At the turn, right before the enter: submits what the polls since the last turn
    /// asked for. With `unstarve`, the only code that names the fd in a submission.
    /// Inlined into the driver's flush: a send alone, the common case, is handled here.
    #[inline(always)]
    pub(crate) fn flush(self: &Rc<Self>, sq: &mut Sq<'_>) -> io::Result<()> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let want = std::mem::take(&mut st.want);
        if self.fd.get() < 0 {
            return Ok(());
        }
        if want == Want::SEND {
            return self.flush_send(sq, st);
        }
        self.flush_all(sq, st, want)
    }

    /// The rest of [`flush`](Socket::flush): anything but a send alone.
    #[inline(never)]
    fn flush_all(self: &Rc<Self>, sq: &mut Sq<'_>, st: &mut State, want: u8) -> io::Result<()> {
        if want & Want::RECV != 0 && st.recv.arm == Arm::Idle && !st.retired {
            self.arm_recv(sq, st)?;
        }
        if want & Want::ACCEPT != 0
            && st.accept.as_ref().is_some_and(|a| a.arm == Arm::Idle)
            && !st.retired
        {
            let sqe = opcode::AcceptMulti::new(self.fd())
                .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                .build()
                .user_data(submit(self, Kind::Accept));
            // SAFETY: a multishot accept points to no memory.
            unsafe { self.push(sq, st, &sqe) }?;
            if let Some(a) = st.accept.as_mut() {
                a.arm = Arm::Armed;
            }
        }
        if want & Want::CONNECT != 0
            && let Connect::Wanted(boxed) = std::mem::take(&mut st.connect)
        {
            let ptr = (&raw const boxed.0).cast::<libc::sockaddr>();
            let sqe = opcode::Connect::new(self.fd(), ptr, boxed.1)
                .build()
                .user_data(submit(self, Kind::Connect));
            st.connect = Connect::InFlight(boxed);
            // SAFETY: the address is boxed in `st.connect` until the completion, and the
            // socket lives as long as the operation.
            unsafe { self.push(sq, st, &sqe) }?;
        }
        if want & Want::DGRAM != 0 {
            self.flush_dgram(sq, st)?;
        }
        if want & Want::SEND != 0 {
            self.flush_send(sq, st)?;
        }
        Ok(())
    }

    // ---- accept ------------------------------------------------------------------

    /// Takes one accepted connection.
    pub(crate) fn poll_accept(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<OwnedFd>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let accept = st.accept.get_or_insert_with(Box::default);
        if !accept.queue.is_empty() {
            if budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let item = accept.queue.pop_front().expect("checked non-empty");
            if accept.arm == Arm::Idle && accept.queue.len() <= ACCEPT_QUEUE / 2 && item.is_ok() {
                // Stopped at the queue's bound: go on while the caller takes them.
                self.want(d, st, Want::ACCEPT);
            }
            return Poll::Ready(item.map_err(os_error));
        }
        if accept.arm == Arm::Idle {
            self.want(d, st, Want::ACCEPT);
        }
        self.slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    /// A completion of the multishot accept.
    pub(crate) fn on_accept(
        self: &Rc<Self>,
        d: &Driver,
        res: i32,
        more: bool,
        wake: &mut Vec<Waker>,
    ) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let retired = st.retired;
        let accept = st.accept.get_or_insert_with(Box::default);
        let mut woke = false;
        // Ended without an error for the caller (cancelled at the queue's bound, or by
        // the kernel): accept again while the queue is short.
        let mut rearm = !more && !retired && res >= -1 && accept.queue.len() <= ACCEPT_QUEUE / 2;
        if res >= 0 {
            // SAFETY: a successful accept's result is a new fd that nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !retired {
                accept.queue.push_back(Ok(fd));
                if more && accept.arm == Arm::Armed && accept.queue.len() >= ACCEPT_QUEUE {
                    d.cancel(target(self, Kind::Accept));
                    accept.arm = Arm::Cancelling;
                }
                woke = true;
            }
        } else {
            match -res {
                libc::ECANCELED => {
                    rearm = !more && !retired && accept.queue.len() <= ACCEPT_QUEUE / 2
                }
                // libevent's EVUTIL_ERR_ACCEPT_RETRIABLE: a connection reset while queued.
                libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EAGAIN => {
                    rearm = !more && !retired;
                }
                errno if !retired => {
                    // Out of descriptors (EMFILE, ENFILE) among others: the connection
                    // stays queued in the kernel; the caller hears it and backs off, and
                    // its next accept arms again.
                    accept.queue.push_back(Err(errno));
                    woke = true;
                }
                _ => {}
            }
        }
        if !more {
            accept.arm = Arm::Idle;
            st.ops -= 1;
            if rearm {
                self.want(d, st, Want::ACCEPT);
            }
        }
        if woke {
            self.wake(st, Direction::Read, wake);
        }
    }

    // ---- connect -----------------------------------------------------------------

    /// Connects to `addr` with `IORING_OP_CONNECT`.
    pub(crate) fn poll_connect(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
        addr: &libc::sockaddr_storage,
        len: libc::socklen_t,
    ) -> Poll<io::Result<()>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        match std::mem::take(&mut st.connect) {
            Connect::Done(0) => return Poll::Ready(Ok(())),
            Connect::Done(e) => return Poll::Ready(Err(os_error(-e))),
            Connect::Idle => {
                st.connect = Connect::Wanted(Box::new((*addr, len)));
                self.want(d, st, Want::CONNECT);
            }
            pending => st.connect = pending,
        }
        self.slot.store_waker(Direction::Write, cx);
        Poll::Pending
    }

    pub(crate) fn on_connect(&self, res: i32, wake: &mut Vec<Waker>) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.ops -= 1;
        st.connect = Connect::Done(res);
        self.wake(st, Direction::Write, wake);
    }

    // ---- readiness, retirement ---------------------------------------------------

    /// `poll_read_ready`/`poll_write_ready` of a completion socket: readable once bytes,
    /// the end of the stream or an error wait; writable while the send bound has room.
    pub(crate) fn poll_ready(
        self: &Rc<Self>,
        d: &Driver,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        match dir {
            Direction::Read => {
                let queued = st.accept.as_ref().is_some_and(|a| !a.queue.is_empty());
                if st.recv.has_bytes() || queued {
                    return Poll::Ready(Ok(Readiness::READABLE));
                }
                match st.recv.end {
                    Some(super::stream::End::Eof) => {
                        return Poll::Ready(Ok(Readiness::READABLE | Readiness::READ_CLOSED));
                    }
                    Some(super::stream::End::Error(_)) => {
                        return Poll::Ready(Ok(Readiness::READABLE | Readiness::ERROR));
                    }
                    None if st.recv.arm == Arm::Idle => self.want_recv(d, st),
                    None => {}
                }
            }
            Direction::Write => {
                if st.send.error.is_some() {
                    return Poll::Ready(Ok(Readiness::WRITABLE | Readiness::ERROR));
                }
                if st.send.staged.len() + st.send.flight.len() < SEND_BOUND {
                    return Poll::Ready(Ok(Readiness::WRITABLE));
                }
            }
        }
        self.slot.store_waker(dir, cx);
        Poll::Pending
    }

    /// The owner is about to close the fd: cancel what reads, keep what writes. Runs
    /// outside the driver's turn, so nothing queued names the fd yet (module docs).
    pub(crate) fn retire(self: &Rc<Self>, d: &Driver) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.retired = true;
        st.recv.release(d);
        if st.recv.arm == Arm::Armed {
            d.cancel(target(self, Kind::Recv));
            st.recv.arm = Arm::Cancelling;
        }
        if let Some(a) = st.accept.as_mut() {
            a.queue.clear();
            if a.arm == Arm::Armed {
                d.cancel(target(self, Kind::Accept));
                a.arm = Arm::Cancelling;
            }
        }
        st.dgram.sends.clear();
        match st.dgram.phase {
            Phase::InFlight => d.cancel(target(self, Kind::DgramRecv)),
            Phase::Wanted(_) => st.dgram.phase = Phase::Idle,
            _ => {}
        }
        match std::mem::take(&mut st.connect) {
            Connect::InFlight(a) => {
                d.cancel(target(self, Kind::Connect));
                st.connect = Connect::InFlight(a);
            }
            Connect::Wanted(_) | Connect::Idle | Connect::Done(_) => {}
        }
        if self.send_staged_now(d, st) {
            // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table.
            let dup = unsafe { libc::fcntl(self.fd.get(), libc::F_DUPFD_CLOEXEC, 0) };
            if dup >= 0 {
                // SAFETY: `dup` is a new descriptor that nobody else owns.
                st.dup = Some(unsafe { OwnedFd::from_raw_fd(dup) });
                self.fd.set(dup);
                if !st.send.in_kernel {
                    self.want(d, st, Want::SEND);
                }
            } else {
                // Out of descriptors: the rest cannot follow the owner's close.
                st.send.staged.clear();
            }
        }
        if st.dup.is_none() {
            self.fd.set(-1);
        }
    }

    /// Starts taking the socket off the ring: cancels what reads, flushes what writes.
    pub(crate) fn begin_quiesce(self: &Rc<Self>, d: &Driver) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.quiescing = true;
        st.want &= Want::SEND;
        if st.recv.arm == Arm::Armed {
            d.cancel(target(self, Kind::Recv));
            st.recv.arm = Arm::Cancelling;
        }
        if let Some(a) = st.accept.as_mut()
            && a.arm == Arm::Armed
        {
            d.cancel(target(self, Kind::Accept));
            a.arm = Arm::Cancelling;
        }
        if matches!(st.dgram.phase, Phase::InFlight) {
            d.cancel(target(self, Kind::DgramRecv));
        }
        if !st.send.staged.is_empty() && !st.send.in_kernel {
            self.want(d, st, Want::SEND);
        }
    }

    /// Whether the kernel holds no operation of this socket and nothing is staged.
    pub(crate) fn is_quiet(&self) -> bool {
        let st = self.st.borrow();
        st.ops == 0 && st.send.staged.is_empty()
    }

    /// What a quiet socket still holds that its fd cannot carry elsewhere.
    pub(crate) fn undelivered(&self) -> Option<String> {
        let st = self.st.borrow();
        let accepted = st.accept.as_ref().map_or(0, |a| a.queue.len());
        if st.recv.bytes > 0 {
            Some(format!(
                "{} received bytes were not read yet",
                st.recv.bytes
            ))
        } else if accepted > 0 {
            Some(format!(
                "{accepted} accepted connections were not taken yet"
            ))
        } else if matches!(st.dgram.phase, Phase::Ready { .. }) {
            Some("a received datagram was not read yet".into())
        } else {
            None
        }
    }
}
