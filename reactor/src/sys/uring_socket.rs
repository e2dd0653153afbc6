//! One socket's completion state on the io_uring backend: what the kernel delivered
//! (received buffers, accepted fds, a datagram, a connect's outcome) and what is on its
//! way out (bytes written but not yet sent). The ownership rules are in `uring.rs`.
//!
//! - **Reads**: one multishot receive, armed on the first read, fills buffers of the
//!   provided ring; a read copies out of them and recycles each buffer it empties. When
//!   [`RECV_HIGH`] bytes wait unread, the receive is cancelled (the rest stays in the
//!   kernel's socket buffer, where TCP's window applies) and re-armed once the reader
//!   has taken half. A receive stopped by `ENOBUFS` (every ring buffer taken) waits in
//!   the driver's starved list until a buffer is recycled, and is re-armed then: the
//!   data waits in the kernel meanwhile, so none is lost.
//! - **Writes** copy into `staged`; the driver's flush, at the next turn, swaps `staged`
//!   into `flight` and sends it with `MSG_WAITALL` (the kernel then finishes a partial
//!   send itself). One send is in flight at a time, so bytes leave in order. Writes wait
//!   once [`SEND_BOUND`] bytes are staged or in flight.
//! - **Accept**: one multishot accept queues the new fds, up to [`ACCEPT_QUEUE`].
//! - **Datagrams**: one `recvmsg` at a time into a buffer of at least 64 KiB; each send
//!   is its own `sendmsg` ([`DgramSend`]), whose future holds its result.
//!
//! A poll never submits anything that names the fd: it records what it wants and queues
//! the socket, and the driver's flush builds those submissions right before the enter
//! that submits them. So no submission naming an fd waits in the queue while user code
//! runs, and the owner may close the fd at any point between two turns. Retirement
//! (the owner dropping the socket) cancels by `user_data`, which names no fd; bytes
//! still staged then are sent at once (`send`), and what the kernel does not take goes
//! out through a duplicate of the fd that the socket keeps until its last send.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue, types};

use super::uring::Driver;
use super::uring_ops::{Kind, submit, target};
use crate::Readiness;
use crate::budget;
use crate::registration::{Direction, Slot};

/// Bytes staged and in flight before a write waits.
pub(crate) const SEND_BOUND: usize = 64 * 1024;
/// Received bytes waiting unread before the receive is stopped.
pub(crate) const RECV_HIGH: usize = 64 * 1024;
/// Accepted connections waiting before the accept is stopped.
pub(crate) const ACCEPT_QUEUE: usize = 64;
/// The smallest datagram receive buffer.
const DGRAM_MIN: usize = 64 * 1024;

/// An error from a (positive) errno value.
pub(crate) fn os_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// Where a read copies to.
pub(crate) enum Dst<'a> {
    Init(&'a mut [u8]),
    Uninit(&'a mut [MaybeUninit<u8>]),
}

impl Dst<'_> {
    fn len(&self) -> usize {
        match self {
            Dst::Init(b) => b.len(),
            Dst::Uninit(b) => b.len(),
        }
    }

    /// Copies `src` to offset `at` (`at + src.len() <= self.len()`).
    fn write_at(&mut self, at: usize, src: &[u8]) {
        match self {
            Dst::Init(b) => b[at..at + src.len()].copy_from_slice(src),
            Dst::Uninit(b) => {
                let dst = &mut b[at..at + src.len()];
                // SAFETY: `dst` and `src` have the same length and do not overlap (one is
                // the caller's buffer, the other a ring buffer or our own); writing bytes
                // into `MaybeUninit<u8>` initialises them.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast(), src.len())
                };
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Arm {
    /// No operation in flight.
    #[default]
    Idle,
    Armed,
    /// Cancelled, waiting for its last completion.
    Cancelling,
}

#[derive(Clone, Copy, Debug)]
enum End {
    Eof,
    Error(i32),
}

/// Received bytes: a part of one ring buffer.
#[derive(Clone, Copy, Debug)]
struct Chunk {
    bid: u16,
    start: u32,
    len: u32,
}

#[derive(Default)]
struct Recv {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    end: Option<End>,
    arm: Arm,
    /// Stopped by `ENOBUFS`: in the driver's starved list.
    starved: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Shut {
    #[default]
    Open,
    /// `shutdown(Write)` waits for the staged bytes to go out.
    Requested,
    Done,
}

#[derive(Default)]
struct Send {
    staged: Vec<u8>,
    /// Invariant: not touched while `in_kernel` (the kernel reads it).
    flight: Vec<u8>,
    in_kernel: bool,
    error: Option<i32>,
    shut: Shut,
}

#[derive(Default)]
struct Accept {
    queue: VecDeque<Result<OwnedFd, i32>>,
    arm: Arm,
}

#[derive(Default)]
enum Connect {
    #[default]
    Idle,
    /// To submit at the next flush.
    Wanted(Box<(libc::sockaddr_storage, libc::socklen_t)>),
    /// The address stays here until the completion, whatever the kernel copied.
    InFlight(#[allow(dead_code)] Box<(libc::sockaddr_storage, libc::socklen_t)>),
    Done(i32),
}

/// A datagram receive buffer, shared with the kernel while its `recvmsg` is in flight:
/// every field the kernel writes is an `UnsafeCell`, and nothing here is read until the
/// completion.
#[repr(align(16))]
pub(crate) struct DgramRecv {
    msg: UnsafeCell<libc::msghdr>,
    iov: UnsafeCell<libc::iovec>,
    addr: UnsafeCell<libc::sockaddr_storage>,
    data: Box<[UnsafeCell<u8>]>,
}

#[derive(Default)]
enum DgramPhase {
    #[default]
    Idle,
    /// To submit at the next flush, into a buffer of at least this size.
    Wanted(usize),
    InFlight,
    Ready {
        len: usize,
        addr_len: libc::socklen_t,
    },
    Failed(i32),
}

#[derive(Default)]
struct Dgram {
    buf: Option<Rc<DgramRecv>>,
    phase: DgramPhase,
}

/// One datagram on its way out, shared by the kernel and the future that sent it.
#[repr(align(16))]
pub(crate) struct DgramSend {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: libc::sockaddr_storage,
    data: Box<[u8]>,
    result: Cell<Option<i32>>,
    waker: Cell<Option<Waker>>,
}

impl DgramSend {
    /// Records the completion and returns the waiting future's waker.
    pub(crate) fn complete(&self, res: i32) -> Option<Waker> {
        self.result.set(Some(res));
        self.waker.take()
    }
}

#[derive(Default)]
struct State {
    retired: bool,
    /// In the driver's list of sockets to flush at the next turn.
    queued: bool,
    /// A receive to arm at the next flush.
    want_recv: bool,
    /// An accept to arm at the next flush.
    want_accept: bool,
    /// Operations the kernel holds (each with a reference to this socket).
    ops: u32,
    recv: Recv,
    send: Send,
    accept: Option<Box<Accept>>,
    dgram: Dgram,
    /// Datagrams to submit at the next flush.
    dgram_sends: Vec<Rc<DgramSend>>,
    connect: Connect,
    /// A duplicate of the fd, kept after the owner closed it with bytes the kernel had
    /// not taken yet: the rest goes out through it, and it closes after the last send.
    dup: Option<OwnedFd>,
}

/// One socket's completion state. Shared by its `Registration` and by the kernel (one
/// reference per operation in flight): it outlives its registration until its last
/// operation completes.
#[repr(align(16))]
pub(crate) struct Socket {
    /// The fd the operations name: the owner's, or `dup` after retirement; -1 once no
    /// operation may name it.
    fd: Cell<RawFd>,
    /// The registration's slot, for its wakers; `None` once retired (the slot may then
    /// belong to another registration).
    slot: RefCell<Option<Rc<Slot>>>,
    st: RefCell<State>,
}

impl Socket {
    pub(crate) fn new(fd: RawFd, slot: Rc<Slot>) -> Socket {
        Socket {
            fd: Cell::new(fd),
            slot: RefCell::new(Some(slot)),
            st: RefCell::new(State::default()),
        }
    }

    fn wake(&self, dir: Direction, wake: &mut Vec<Waker>) {
        if let Some(slot) = &*self.slot.borrow() {
            wake.extend(slot.take_waker(dir));
        }
    }

    /// Queues `sqe` naming this socket's fd (see `Driver::push`); only the driver's flush
    /// calls this (module docs).
    ///
    /// # Safety
    ///
    /// As `Driver::push`: whatever `sqe` points to stays valid until its completion.
    unsafe fn push(&self, d: &Driver, st: &mut State, sqe: squeue::Entry) -> io::Result<()> {
        debug_assert!(self.fd.get() >= 0, "a submission names a closed socket");
        // SAFETY: forwarded from the caller.
        unsafe { d.push(sqe) }?;
        st.ops += 1;
        Ok(())
    }

    /// Puts the socket in the driver's list for the next flush.
    fn queue(self: &Rc<Self>, d: &Driver, st: &mut State) {
        if !st.queued {
            st.queued = true;
            d.queue(self.clone());
        }
    }

    /// At the turn, right before the enter: submits what the polls since the last turn
    /// asked for. The only place (with `unstarve`) that names the fd in a submission.
    pub(crate) fn flush(self: &Rc<Self>, d: &Driver) -> io::Result<()> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.queued = false;
        if self.fd.get() < 0 {
            return Ok(());
        }
        if std::mem::take(&mut st.want_recv) && st.recv.arm == Arm::Idle && !st.retired {
            self.arm_recv(d, st)?;
        }
        if std::mem::take(&mut st.want_accept) && !st.retired {
            self.arm_accept(d, st)?;
        }
        if let Connect::Wanted(boxed) = std::mem::take(&mut st.connect) {
            let ptr = (&raw const boxed.0).cast::<libc::sockaddr>();
            let sqe = opcode::Connect::new(self.fd(), ptr, boxed.1)
                .build()
                .user_data(submit(self, Kind::Connect));
            st.connect = Connect::InFlight(boxed);
            // SAFETY: the address is boxed in `st.connect` until the completion, and the
            // socket lives as long as the operation.
            unsafe { self.push(d, st, sqe) }?;
        }
        if let DgramPhase::Wanted(want) = st.dgram.phase {
            let buf = match st.dgram.buf.take() {
                Some(b) if b.data.len() >= want => b,
                _ => Rc::new(DgramRecv::new(want)),
            };
            let msg = buf.prepare();
            let sqe = opcode::RecvMsg::new(self.fd(), msg)
                .build()
                .user_data(submit(self, Kind::DgramRecv));
            st.dgram.buf = Some(buf);
            st.dgram.phase = DgramPhase::InFlight;
            // SAFETY: the message header, its iovec, the address and the data live in
            // `buf`, kept in this socket until the completion (the phase is `InFlight`
            // until then, so nothing replaces it), and the socket lives as long as the
            // operation.
            unsafe { self.push(d, st, sqe) }?;
        }
        for sent in std::mem::take(&mut st.dgram_sends) {
            let sqe = opcode::SendMsg::new(self.fd(), &raw const sent.msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
                .user_data(submit(&sent, Kind::DgramSend));
            // SAFETY: the header, iovec, address and data live in `sent`, which the
            // operation keeps alive (a reference in its `user_data`) and which is not
            // written after this point but for its result and waker cells.
            unsafe { d.push(sqe) }?;
        }
        self.flush_send(d, st)
    }

    fn fd(&self) -> types::Fd {
        types::Fd(self.fd.get())
    }

    // ---- reads -------------------------------------------------------------------

    fn arm_recv(self: &Rc<Self>, d: &Driver, st: &mut State) -> io::Result<()> {
        let sqe = opcode::RecvMulti::new(self.fd(), super::uring_bufs::GROUP)
            .build()
            .user_data(submit(self, Kind::Recv));
        // SAFETY: the receive writes only into ring buffers (owned by the driver, which
        // lives until every operation completed) and carries a reference to `self`.
        unsafe { self.push(d, st, sqe) }?;
        st.recv.arm = Arm::Armed;
        Ok(())
    }

    /// Reads (or peeks) into `dst`.
    pub(crate) fn poll_recv(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
        cx: &mut Context<'_>,
        mut dst: Dst<'_>,
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        if dst.len() == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if !st.recv.chunks.is_empty() {
            if budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let n = copy_out(&mut st.recv, d, &mut dst, peek);
            if !peek
                && st.recv.arm == Arm::Idle
                && !st.recv.starved
                && st.recv.end.is_none()
                && st.recv.bytes <= RECV_HIGH / 2
            {
                // Stopped at the high-water mark: go on while the reader drains.
                st.want_recv = true;
                self.queue(d, st);
            }
            return Poll::Ready(Ok(n));
        }
        match st.recv.end {
            Some(End::Eof) => return Poll::Ready(Ok(0)),
            Some(End::Error(e)) => {
                if !peek {
                    st.recv.end = Some(End::Eof);
                }
                return Poll::Ready(Err(os_error(e)));
            }
            None => {}
        }
        if st.recv.arm == Arm::Idle && !st.recv.starved {
            st.want_recv = true;
            self.queue(d, st);
        }
        slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    /// A completion of the multishot receive.
    pub(crate) fn on_recv(
        self: &Rc<Self>,
        d: &Driver,
        res: i32,
        flags: u32,
        more: bool,
        wake: &mut Vec<Waker>,
    ) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let bid = io_uring::cqueue::buffer_select(flags);
        if let Some(bid) = bid {
            d.bufs().taken(bid);
        }
        match (res, bid) {
            (n, Some(bid)) if n > 0 && !st.retired => {
                st.recv.chunks.push_back(Chunk {
                    bid,
                    start: 0,
                    len: n as u32,
                });
                st.recv.bytes += n as usize;
                if more && st.recv.arm == Arm::Armed && st.recv.bytes >= RECV_HIGH {
                    d.cancel(target(self, Kind::Recv));
                    st.recv.arm = Arm::Cancelling;
                }
                self.wake(Direction::Read, wake);
            }
            (_, Some(bid)) => d.bufs().recycle(bid),
            (0, None) => {
                st.recv.end = Some(End::Eof);
                self.wake(Direction::Read, wake);
            }
            (n, None) if n > 0 => {
                // Data without a buffer cannot happen with buffer selection.
                st.recv.end = Some(End::Error(libc::EIO));
                self.wake(Direction::Read, wake);
            }
            (e, None) => match -e {
                libc::ENOBUFS if !st.retired => {
                    st.recv.starved = true;
                    d.starve(self.clone());
                }
                libc::ENOBUFS | libc::ECANCELED => {}
                errno => {
                    st.recv.end = Some(End::Error(errno));
                    self.wake(Direction::Read, wake);
                }
            },
        }
        if !more {
            st.recv.arm = Arm::Idle;
            st.ops -= 1;
            if !st.retired
                && !st.recv.starved
                && st.recv.end.is_none()
                && st.recv.bytes <= RECV_HIGH / 2
            {
                // Cancelled at the high-water mark and drained since, or ended by the
                // kernel: receive again.
                st.want_recv = true;
                self.queue(d, st);
            }
        }
    }

    /// Re-arms a receive that `ENOBUFS` stopped, now that buffers came back.
    pub(crate) fn unstarve(self: &Rc<Self>, d: &Driver) -> io::Result<()> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.recv.starved = false;
        if !st.retired
            && st.recv.arm == Arm::Idle
            && st.recv.end.is_none()
            && st.recv.bytes < RECV_HIGH
        {
            self.arm_recv(d, st)?;
        }
        Ok(())
    }

    // ---- writes ------------------------------------------------------------------

    /// Stages `bufs` (as much as the bound allows) for the next turn's send.
    pub(crate) fn poll_send(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut guard = self.st.borrow_mut();
        let send = &mut guard.send;
        if let Some(e) = send.error {
            return Poll::Ready(Err(os_error(e)));
        }
        if send.shut != Shut::Open {
            return Poll::Ready(Err(os_error(libc::EPIPE)));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let room = SEND_BOUND.saturating_sub(send.staged.len() + send.flight.len());
        if room == 0 {
            slot.store_waker(Direction::Write, cx);
            return Poll::Pending;
        }
        if budget::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(room - n);
            send.staged.extend_from_slice(&b[..take]);
            n += take;
            if n == room {
                break;
            }
        }
        if !guard.send.in_kernel {
            self.queue(d, &mut guard);
        }
        Poll::Ready(Ok(n))
    }

    /// Waits until every staged byte was taken by the kernel.
    pub(crate) fn poll_flush(&self, slot: &Slot, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let st = self.st.borrow();
        if let Some(e) = st.send.error {
            return Poll::Ready(Err(os_error(e)));
        }
        if st.send.staged.is_empty() && !st.send.in_kernel {
            return Poll::Ready(Ok(()));
        }
        slot.store_waker(Direction::Write, cx);
        Poll::Pending
    }

    /// Sends what was staged (or the deferred shutdown); part of `flush`.
    fn flush_send(self: &Rc<Self>, d: &Driver, st: &mut State) -> io::Result<()> {
        if st.send.in_kernel || st.send.error.is_some() {
            return Ok(());
        }
        if !st.send.staged.is_empty() {
            debug_assert!(st.send.flight.is_empty());
            std::mem::swap(&mut st.send.staged, &mut st.send.flight);
            let len = st.send.flight.len() as u32;
            let sqe = opcode::Send::new(self.fd(), st.send.flight.as_ptr(), len)
                .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
                .build()
                .user_data(submit(self, Kind::Send));
            // SAFETY: `flight` is not touched while `in_kernel` (field invariant) and
            // lives in this socket, which the operation keeps alive.
            unsafe { self.push(d, st, sqe) }?;
            st.send.in_kernel = true;
        } else if st.send.shut == Shut::Requested && !st.retired {
            let sqe = opcode::Shutdown::new(self.fd(), libc::SHUT_WR)
                .build()
                .user_data(submit(self, Kind::Shutdown));
            // SAFETY: a shutdown points to no memory.
            unsafe { self.push(d, st, sqe) }?;
            st.send.shut = Shut::Done;
        }
        Ok(())
    }

    /// The completion of a send.
    pub(crate) fn on_send(self: &Rc<Self>, d: &Driver, res: i32, wake: &mut Vec<Waker>) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.ops -= 1;
        st.send.in_kernel = false;
        let len = st.send.flight.len();
        st.send.flight.clear();
        if st.send.flight.capacity() > 2 * SEND_BOUND {
            st.send.flight = Vec::new();
        }
        if res < 0 || (res as usize) < len {
            // `MSG_WAITALL` sends it all or fails; a short count is a failure too.
            let errno = if res < 0 { -res } else { libc::EPIPE };
            if !st.retired {
                st.send.error = Some(errno);
            }
            st.send.staged.clear();
        } else if !st.send.staged.is_empty() || st.send.shut == Shut::Requested {
            self.queue(d, st);
        }
        if st.retired && st.send.staged.is_empty() && st.dup.is_some() {
            // The last byte went out through the duplicate: close it.
            st.dup = None;
            self.fd.set(-1);
        }
        drop(guard);
        self.wake(Direction::Write, wake);
    }

    /// Shuts down a direction now, or (the write side, with bytes still to send) once
    /// they are sent.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let mut st = self.st.borrow_mut();
        let fd = self.fd.get();
        if matches!(how, std::net::Shutdown::Read | std::net::Shutdown::Both) {
            sys_shutdown(fd, libc::SHUT_RD)?;
        }
        if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) {
            if st.send.staged.is_empty() && !st.send.in_kernel {
                sys_shutdown(fd, libc::SHUT_WR)?;
                st.send.shut = Shut::Done;
            } else if st.send.shut == Shut::Open {
                st.send.shut = Shut::Requested;
            }
        }
        Ok(())
    }

    pub(crate) fn on_shutdown(&self) {
        self.st.borrow_mut().ops -= 1;
    }

    // ---- accept ------------------------------------------------------------------

    /// Takes one accepted connection.
    pub(crate) fn poll_accept(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
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
            return Poll::Ready(item.map_err(os_error));
        }
        if accept.arm == Arm::Idle && !st.want_accept {
            st.want_accept = true;
            self.queue(d, st);
        }
        slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    fn arm_accept(self: &Rc<Self>, d: &Driver, st: &mut State) -> io::Result<()> {
        let sqe = opcode::AcceptMulti::new(self.fd())
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
            .user_data(submit(self, Kind::Accept));
        // SAFETY: a multishot accept points to no memory.
        unsafe { self.push(d, st, sqe) }?;
        if let Some(a) = st.accept.as_mut() {
            a.arm = Arm::Armed;
        }
        Ok(())
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
        let mut rearm = false;
        if res >= 0 {
            // SAFETY: a successful accept's result is a new fd that nobody else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            if !retired {
                accept.queue.push_back(Ok(fd));
                if more && accept.arm == Arm::Armed && accept.queue.len() >= ACCEPT_QUEUE {
                    d.cancel(target(self, Kind::Accept));
                    accept.arm = Arm::Cancelling;
                }
                self.wake(Direction::Read, wake);
            }
        } else {
            match -res {
                libc::ECANCELED => {}
                // libevent's EVUTIL_ERR_ACCEPT_RETRIABLE: a connection reset while queued.
                libc::ECONNABORTED | libc::EPROTO | libc::EINTR | libc::EAGAIN => {
                    rearm = !more && !retired;
                }
                errno if !retired => {
                    // Out of descriptors (EMFILE, ENFILE) among others: the connection
                    // stays queued in the kernel; the caller hears it and backs off, and
                    // its next accept arms again.
                    accept.queue.push_back(Err(errno));
                    self.wake(Direction::Read, wake);
                }
                _ => {}
            }
        }
        if !more {
            accept.arm = Arm::Idle;
            st.ops -= 1;
            if rearm {
                st.want_accept = true;
                self.queue(d, st);
            }
        }
    }

    // ---- connect -----------------------------------------------------------------

    /// Connects to `addr` with `IORING_OP_CONNECT`.
    pub(crate) fn poll_connect(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
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
                self.queue(d, st);
            }
            pending => st.connect = pending,
        }
        slot.store_waker(Direction::Write, cx);
        Poll::Pending
    }

    pub(crate) fn on_connect(&self, res: i32, wake: &mut Vec<Waker>) {
        let mut st = self.st.borrow_mut();
        st.ops -= 1;
        st.connect = Connect::Done(res);
        drop(st);
        self.wake(Direction::Write, wake);
    }

    // ---- datagrams ---------------------------------------------------------------

    /// Receives (or peeks at) one datagram into `dst`, with its source address.
    pub(crate) fn poll_recv_from(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
        cx: &mut Context<'_>,
        mut dst: Dst<'_>,
        peek: bool,
    ) -> Poll<io::Result<(usize, libc::sockaddr_storage, libc::socklen_t)>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        match st.dgram.phase {
            DgramPhase::Ready { len, addr_len } => {
                if budget::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                let buf = st
                    .dgram
                    .buf
                    .as_ref()
                    .expect("a received datagram has its buffer");
                let n = len.min(dst.len());
                // SAFETY: the `recvmsg` completed, so the kernel no longer writes the
                // buffer; `n <= len <= data.len()`.
                let bytes = unsafe { std::slice::from_raw_parts(buf.data.as_ptr().cast(), n) };
                dst.write_at(0, bytes);
                // SAFETY: as above, for the address.
                let addr = unsafe { *buf.addr.get() };
                if !peek {
                    st.dgram.phase = DgramPhase::Idle;
                }
                return Poll::Ready(Ok((n, addr, addr_len)));
            }
            DgramPhase::Failed(e) => {
                st.dgram.phase = DgramPhase::Idle;
                return Poll::Ready(Err(os_error(e)));
            }
            DgramPhase::InFlight => {}
            DgramPhase::Wanted(want) => {
                st.dgram.phase = DgramPhase::Wanted(want.max(dst.len()));
            }
            DgramPhase::Idle => {
                st.dgram.phase = DgramPhase::Wanted(dst.len().max(DGRAM_MIN));
                self.queue(d, st);
            }
        }
        slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    pub(crate) fn on_dgram_recv(&self, res: i32, wake: &mut Vec<Waker>) {
        let mut st = self.st.borrow_mut();
        st.ops -= 1;
        st.dgram.phase = if res >= 0 {
            let buf = st
                .dgram
                .buf
                .as_ref()
                .expect("an in-flight receive has its buffer");
            // SAFETY: the operation completed: the kernel no longer writes the header.
            let addr_len = unsafe { (*buf.msg.get()).msg_namelen };
            DgramPhase::Ready {
                len: res as usize,
                addr_len,
            }
        } else if -res == libc::ECANCELED {
            DgramPhase::Idle
        } else {
            DgramPhase::Failed(-res)
        };
        drop(st);
        self.wake(Direction::Read, wake);
    }

    /// Sends one datagram (to `addr`, or to the connected peer). The first poll submits
    /// it and keeps it in `op`; a later one returns its result.
    pub(crate) fn poll_send_to(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: Option<(&libc::sockaddr_storage, libc::socklen_t)>,
        op: &mut Option<Rc<DgramSend>>,
    ) -> Poll<io::Result<usize>> {
        if let Some(sent) = op {
            if let Some(res) = sent.result.take() {
                *op = None;
                return Poll::Ready(if res < 0 {
                    Err(os_error(-res))
                } else {
                    Ok(res as usize)
                });
            }
            sent.waker.set(Some(cx.waker().clone()));
            return Poll::Pending;
        }
        if budget::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let sent = DgramSend::new_rc(buf, addr);
        sent.waker.set(Some(cx.waker().clone()));
        let mut guard = self.st.borrow_mut();
        guard.dgram_sends.push(sent.clone());
        self.queue(d, &mut guard);
        *op = Some(sent);
        Poll::Pending
    }

    // ---- readiness, retirement ---------------------------------------------------

    /// `poll_read_ready`/`poll_write_ready` of a completion socket: readable once bytes,
    /// the end of the stream or an error wait; writable while the send bound has room.
    pub(crate) fn poll_ready(
        self: &Rc<Self>,
        d: &Driver,
        slot: &Slot,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Readiness>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        match dir {
            Direction::Read => {
                let queued = st.accept.as_ref().is_some_and(|a| !a.queue.is_empty());
                match st.recv.end {
                    _ if !st.recv.chunks.is_empty() || queued => {
                        return Poll::Ready(Ok(Readiness::READABLE));
                    }
                    Some(End::Eof) => {
                        return Poll::Ready(Ok(Readiness::READABLE | Readiness::READ_CLOSED));
                    }
                    Some(End::Error(_)) => {
                        return Poll::Ready(Ok(Readiness::READABLE | Readiness::ERROR));
                    }
                    None => {}
                }
                if st.recv.arm == Arm::Idle && !st.recv.starved {
                    st.want_recv = true;
                    self.queue(d, st);
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
        slot.store_waker(dir, cx);
        Poll::Pending
    }

    /// The owner is about to close the fd: cancel what reads, keep what writes. Runs
    /// outside the driver's turn, so nothing queued names the fd yet (module docs).
    pub(crate) fn retire(self: &Rc<Self>, d: &Driver) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.retired = true;
        st.want_recv = false;
        st.want_accept = false;
        st.dgram_sends.clear();
        let slot = self.slot.borrow_mut().take();
        for c in st.recv.chunks.drain(..) {
            d.bufs().recycle(c.bid);
        }
        st.recv.bytes = 0;
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
        match st.dgram.phase {
            DgramPhase::InFlight => d.cancel(target(self, Kind::DgramRecv)),
            DgramPhase::Wanted(_) => st.dgram.phase = DgramPhase::Idle,
            _ => {}
        }
        match std::mem::take(&mut st.connect) {
            Connect::InFlight(a) => {
                d.cancel(target(self, Kind::Connect));
                st.connect = Connect::InFlight(a);
            }
            Connect::Wanted(_) | Connect::Idle | Connect::Done(_) => {}
        }
        if st.send.error.is_some() {
            st.send.staged.clear();
        }
        if !st.send.staged.is_empty() && !st.send.in_kernel {
            // What the socket buffer takes goes now, as a readiness backend's write
            // would have; only a rest needs the duplicate.
            let fd = self.fd.get();
            let staged = &st.send.staged;
            // SAFETY: `staged` is readable for its length; MSG_DONTWAIT never blocks.
            let n = unsafe {
                libc::send(
                    fd,
                    staged.as_ptr().cast(),
                    staged.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            match n {
                n if n >= 0 => drop(st.send.staged.drain(..n as usize)),
                _ if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock => {}
                _ => st.send.staged.clear(),
            }
        }
        if !st.send.staged.is_empty() {
            // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table.
            let dup = unsafe { libc::fcntl(self.fd.get(), libc::F_DUPFD_CLOEXEC, 0) };
            if dup >= 0 {
                // SAFETY: `dup` is a new descriptor that nobody else owns.
                st.dup = Some(unsafe { OwnedFd::from_raw_fd(dup) });
                self.fd.set(dup);
                if !st.send.in_kernel {
                    self.queue(d, st);
                }
            } else {
                // Out of descriptors: the rest cannot follow the owner's close.
                st.send.staged.clear();
            }
        }
        if st.dup.is_none() {
            self.fd.set(-1);
        }
        drop(guard);
        drop(slot);
    }

    /// Starts taking the socket off the ring: cancels what reads, flushes what writes.
    pub(crate) fn begin_quiesce(self: &Rc<Self>, d: &Driver) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if st.recv.arm == Arm::Armed {
            d.cancel(target(self, Kind::Recv));
            st.recv.arm = Arm::Cancelling;
        }
        if let Some(a) = st.accept.as_mut() {
            if a.arm == Arm::Armed {
                d.cancel(target(self, Kind::Accept));
                a.arm = Arm::Cancelling;
            }
        }
        if matches!(st.dgram.phase, DgramPhase::InFlight) {
            d.cancel(target(self, Kind::DgramRecv));
        }
        if !st.send.staged.is_empty() && !st.send.in_kernel {
            self.queue(d, st);
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
        } else if matches!(st.dgram.phase, DgramPhase::Ready { .. }) {
            Some("a received datagram was not read yet".into())
        } else {
            None
        }
    }
}

/// Copies queued chunks into `dst`, recycling each emptied buffer (unless peeking).
fn copy_out(recv: &mut Recv, d: &Driver, dst: &mut Dst<'_>, peek: bool) -> usize {
    let mut n = 0;
    let mut i = 0;
    while n < dst.len() && i < recv.chunks.len() {
        let c = recv.chunks[i];
        let take = (c.len as usize).min(dst.len() - n);
        dst.write_at(n, d.bufs().bytes(c.bid, c.start as usize, take));
        n += take;
        if peek {
            i += 1;
        } else if take == c.len as usize {
            recv.chunks.pop_front();
            d.bufs().recycle(c.bid);
        } else {
            let front = recv.chunks.front_mut().expect("the chunk being read");
            front.start += take as u32;
            front.len -= take as u32;
        }
    }
    if !peek {
        recv.bytes -= n;
    }
    n
}

fn sys_shutdown(fd: RawFd, how: libc::c_int) -> io::Result<()> {
    // SAFETY: shutdown takes only integers; a bad fd is an error.
    if unsafe { libc::shutdown(fd, how) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl DgramRecv {
    fn new(len: usize) -> DgramRecv {
        DgramRecv {
            // SAFETY: msghdr, iovec and sockaddr_storage are plain old data; all-zero is
            // a valid value of each.
            msg: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            // SAFETY: as above.
            iov: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            // SAFETY: as above.
            addr: UnsafeCell::new(unsafe { std::mem::zeroed() }),
            data: (0..len).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    /// Points the header at this buffer's iovec, address and data, for a new receive.
    fn prepare(&self) -> *mut libc::msghdr {
        let msg = self.msg.get();
        // SAFETY: no receive is in flight on this buffer (the caller is about to submit
        // one), so nothing else reads or writes these cells; the pointers stored are into
        // this same allocation, which outlives the receive.
        unsafe {
            *self.iov.get() = libc::iovec {
                iov_base: self.data.as_ptr().cast_mut().cast(),
                iov_len: self.data.len(),
            };
            *msg = std::mem::zeroed();
            (*msg).msg_name = self.addr.get().cast();
            (*msg).msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
            (*msg).msg_iov = self.iov.get();
            (*msg).msg_iovlen = 1;
        }
        msg
    }
}

impl DgramSend {
    fn new(buf: &[u8], addr: Option<(&libc::sockaddr_storage, libc::socklen_t)>) -> DgramSend {
        let mut sent = DgramSend {
            // SAFETY: msghdr, iovec and sockaddr_storage are plain old data; all-zero is
            // a valid value of each.
            msg: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            iov: unsafe { std::mem::zeroed() },
            // SAFETY: as above.
            addr: unsafe { std::mem::zeroed() },
            data: buf.into(),
            result: Cell::new(None),
            waker: Cell::new(None),
        };
        if let Some((a, len)) = addr {
            sent.addr = *a;
            sent.msg.msg_namelen = len;
        }
        sent
    }
}

impl DgramSend {
    /// A datagram in its `Rc`, its header pointing into the same allocation.
    fn new_rc(buf: &[u8], addr: Option<(&libc::sockaddr_storage, libc::socklen_t)>) -> Rc<Self> {
        let mut rc = Rc::new(DgramSend::new(buf, addr));
        let sent = Rc::get_mut(&mut rc).expect("a new Rc has one owner");
        sent.iov = libc::iovec {
            iov_base: sent.data.as_mut_ptr().cast(),
            iov_len: sent.data.len(),
        };
        if sent.msg.msg_namelen > 0 {
            sent.msg.msg_name = (&raw mut sent.addr).cast();
        }
        sent.msg.msg_iov = &raw mut sent.iov;
        sent.msg.msg_iovlen = 1;
        rc
    }
}
