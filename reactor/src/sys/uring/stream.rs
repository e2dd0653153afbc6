//! A stream socket's bytes on the io_uring backend (TCP and Unix streams).
//!
//! - **Reads**: one multishot receive, armed on the first read, fills buffers of the
//!   provided ring; a read copies out of them and recycles each buffer it empties. When
//!   [`RECV_HIGH`] bytes wait unread, the receive is cancelled (the rest stays in the
//!   kernel's socket buffer, where TCP's window applies) and re-armed once the reader
//!   has taken half. A receive stopped by `ENOBUFS` (every ring buffer taken) waits in
//!   the driver's starved list until a buffer is recycled, and is re-armed then: the
//!   data waits in the kernel meanwhile, so none is lost. So that sockets whose readers
//!   do not read cannot keep every buffer, a flush that finds receives starved first
//!   spills the bytes other sockets hold into their own heap buffers (at most
//!   [`RECV_HIGH`] each) and recycles the ring buffers.
//! - **Writes** copy into `staged`; the driver's flush, at the next turn, swaps `staged`
//!   into `flight` and sends it with `MSG_WAITALL` (the kernel then finishes a partial
//!   send itself). One send is in flight at a time, so bytes leave in order. Writes wait
//!   once [`SEND_BOUND`] bytes are staged or in flight.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::opcode;

use super::ops::{Kind, submit, target};
use super::socket::{Arm, Socket, State, Want, os_error};
use super::{Driver, Sq};
use crate::budget;
use crate::slab::Direction;

/// Bytes staged and in flight before a write waits.
pub(crate) const SEND_BOUND: usize = 64 * 1024;
/// Received bytes waiting unread before the receive is stopped.
pub(crate) const RECV_HIGH: usize = 64 * 1024;

/// Where a read copies to.
pub(crate) enum Dst<'a> {
    Init(&'a mut [u8]),
    Uninit(&'a mut [MaybeUninit<u8>]),
}

impl Dst<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Dst::Init(b) => b.len(),
            Dst::Uninit(b) => b.len(),
        }
    }

    /// Copies `src` to offset `at` (`at + src.len() <= self.len()`).
    #[inline]
    pub(super) fn write_at(&mut self, at: usize, src: &[u8]) {
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

#[derive(Clone, Copy, Debug)]
pub(super) enum End {
    Eof,
    Error(i32),
}

/// Received bytes: a part of one ring buffer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Chunk {
    bid: u16,
    start: u32,
    len: u32,
}

/// The received chunks in order: the oldest inline (a socket whose reader keeps up
/// never holds more than one), the rest in a queue. Invariant: `rest` is empty while
/// `first` is `None`.
#[derive(Default)]
pub(super) struct Chunks {
    first: Option<Chunk>,
    rest: VecDeque<Chunk>,
}

impl Chunks {
    #[inline(always)]
    fn push_back(&mut self, c: Chunk) {
        if self.first.is_none() {
            self.first = Some(c);
        } else {
            self.rest.push_back(c);
        }
    }

    #[inline(always)]
    fn pop_front(&mut self) -> Option<Chunk> {
        let c = self.first.take()?;
        if !self.rest.is_empty() {
            self.first = self.rest.pop_front();
        }
        Some(c)
    }

    /// The only chunk, if there is exactly one.
    #[inline(always)]
    fn only(&self) -> Option<Chunk> {
        if self.rest.is_empty() {
            self.first
        } else {
            None
        }
    }

    fn front_mut(&mut self) -> Option<&mut Chunk> {
        self.first.as_mut()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn iter(&self) -> impl Iterator<Item = &Chunk> {
        self.first.iter().chain(self.rest.iter())
    }

    /// Empties the queue, oldest first.
    fn drain(&mut self) -> impl Iterator<Item = Chunk> + '_ {
        self.first.take().into_iter().chain(self.rest.drain(..))
    }
}

#[derive(Default)]
pub(super) struct Recv {
    /// Bytes moved out of ring buffers (by a spill), before those in `chunks`; read from
    /// `spill_at`.
    spill: Vec<u8>,
    spill_at: usize,
    pub(super) chunks: Chunks,
    /// In the driver's list of sockets holding ring buffers.
    held: bool,
    /// Bytes waiting unread, in `spill` and `chunks`.
    pub(super) bytes: usize,
    pub(super) end: Option<End>,
    pub(super) arm: Arm,
    /// Stopped by `ENOBUFS`: in the driver's starved list.
    pub(super) starved: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Shut {
    #[default]
    Open,
    /// `shutdown(Write)` waits for the staged bytes to go out.
    Requested,
    Done,
}

#[derive(Default)]
pub(super) struct Send {
    pub(super) staged: Vec<u8>,
    /// Invariant: not touched while `in_kernel` (the kernel reads it).
    pub(super) flight: Vec<u8>,
    pub(super) in_kernel: bool,
    pub(super) error: Option<i32>,
    pub(super) shut: Shut,
}

impl Recv {
    /// Whether bytes wait unread.
    pub(super) fn has_bytes(&self) -> bool {
        self.bytes > 0
    }

    /// Recycles every buffer held (the socket is retired).
    pub(super) fn release(&mut self, d: &Driver) {
        for c in self.chunks.drain() {
            d.bufs().recycle(c.bid);
        }
        self.spill = Vec::new();
        self.spill_at = 0;
        self.bytes = 0;
    }

    /// Moves the bytes held in ring buffers to `spill` and recycles the buffers.
    fn spill(&mut self, d: &Driver) {
        if self.spill_at == self.spill.len() {
            self.spill.clear();
            self.spill_at = 0;
        }
        for c in self.chunks.drain() {
            let bytes = d.bufs().bytes(c.bid, c.start as usize, c.len as usize);
            self.spill.extend_from_slice(bytes);
            d.bufs().recycle(c.bid);
        }
    }

    /// Copies queued bytes into `dst`, recycling each emptied buffer (unless peeking).
    fn copy_out(&mut self, d: &Driver, dst: &mut Dst<'_>, peek: bool) -> usize {
        let want = dst.len();
        let mut n = 0;
        if self.spill_at < self.spill.len() {
            let spilled = &self.spill[self.spill_at..];
            n = spilled.len().min(want);
            dst.write_at(0, &spilled[..n]);
            if !peek {
                self.spill_at += n;
            }
        }
        if !peek {
            // Consuming: always from the front, one buffer at a time.
            while n < want {
                let Some(front) = self.chunks.front_mut() else {
                    break;
                };
                let take = (front.len as usize).min(want - n);
                dst.write_at(n, d.bufs().bytes(front.bid, front.start as usize, take));
                n += take;
                if take == front.len as usize {
                    let bid = front.bid;
                    self.chunks.pop_front();
                    d.bufs().recycle(bid);
                } else {
                    front.start += take as u32;
                    front.len -= take as u32;
                }
            }
            self.bytes -= n;
        } else {
            for c in self.chunks.iter() {
                if n == want {
                    break;
                }
                let take = (c.len as usize).min(want - n);
                dst.write_at(n, d.bufs().bytes(c.bid, c.start as usize, take));
                n += take;
            }
        }
        n
    }
}

impl Socket {
    /// Submits the multishot receive; part of the flush.
    pub(super) fn arm_recv(self: &Rc<Self>, sq: &mut Sq<'_>, st: &mut State) -> io::Result<()> {
        let sqe = opcode::RecvMulti::new(self.fd(), super::bufs::GROUP)
            .build()
            .user_data(submit(self, Kind::Recv));
        // SAFETY: the receive writes only into ring buffers (owned by the driver, which
        // lives until every operation completed) and carries a reference to `self`.
        unsafe { self.push(sq, st, &sqe) }?;
        st.recv.arm = Arm::Armed;
        Ok(())
    }

    /// Reads (or peeks) into `dst`. Inlined into the socket type's read: the two common
    /// cases (nothing received, so wait; one received buffer that fits) are handled
    /// here, the rest out of line.
    #[inline(always)]
    pub(crate) fn poll_recv(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
        mut dst: Dst<'_>,
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        if dst.len() == 0 {
            return Poll::Ready(Ok(0));
        }
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let r = &mut st.recv;
        if r.bytes == 0 && r.end.is_none() && r.arm != Arm::Idle {
            // A receive is armed and nothing came yet: wait for it.
            drop(guard);
            self.slot.store_waker(Direction::Read, cx);
            return Poll::Pending;
        }
        if let Some(c) = r.chunks.only()
            && !peek
            && r.spill.is_empty()
            && r.bytes <= dst.len()
        {
            if budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            // One buffer, all of it fits.
            r.chunks.first = None;
            dst.write_at(0, d.bufs().bytes(c.bid, c.start as usize, c.len as usize));
            d.bufs().recycle(c.bid);
            r.bytes = 0;
            if r.arm == Arm::Idle {
                self.want_recv(d, st);
            }
            return Poll::Ready(Ok(c.len as usize));
        }
        self.poll_recv_slow(d, st, cx, dst, peek)
    }

    /// The rest of [`poll_recv`](Socket::poll_recv): several buffers, a spill, a peek,
    /// the end of the stream, or no receive armed.
    #[inline(never)]
    fn poll_recv_slow(
        self: &Rc<Self>,
        d: &Driver,
        st: &mut State,
        cx: &mut Context<'_>,
        mut dst: Dst<'_>,
        peek: bool,
    ) -> Poll<io::Result<usize>> {
        if st.recv.has_bytes() {
            if budget::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            let n = st.recv.copy_out(d, &mut dst, peek);
            if st.recv.arm == Arm::Idle && !peek {
                // Stopped at the high-water mark: go on while the reader drains.
                self.want_recv(d, st);
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
        if st.recv.arm == Arm::Idle {
            self.want_recv(d, st);
        }
        self.slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    /// Asks the next flush for a receive, unless one is pointless now.
    pub(super) fn want_recv(self: &Rc<Self>, d: &Driver, st: &mut State) {
        let r = &st.recv;
        if !r.starved && r.end.is_none() && r.bytes <= RECV_HIGH / 2 && !st.retired {
            self.want(d, st, Want::RECV);
        }
    }

    /// A completion of the multishot receive.
    #[inline(always)]
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
            if res > 0 && more && !st.retired && st.recv.bytes + (res as usize) < RECV_HIGH {
                // The common case: bytes for a live socket, the receive going on.
                st.recv.chunks.push_back(Chunk {
                    bid,
                    start: 0,
                    len: res as u32,
                });
                st.recv.bytes += res as usize;
                if !st.recv.held {
                    st.recv.held = true;
                    d.pool.hold(self.clone());
                }
                if let Some(w) = self.slot.take_waker(Direction::Read) {
                    wake.push(w);
                }
                return;
            }
        }
        match (res, bid) {
            (n, Some(bid)) if n > 0 && !st.retired => {
                st.recv.chunks.push_back(Chunk {
                    bid,
                    start: 0,
                    len: n as u32,
                });
                st.recv.bytes += n as usize;
                if !st.recv.held {
                    st.recv.held = true;
                    d.pool.hold(self.clone());
                }
                if more && st.recv.arm == Arm::Armed && st.recv.bytes >= RECV_HIGH {
                    d.cancel(target(self, Kind::Recv));
                    st.recv.arm = Arm::Cancelling;
                }
                self.wake(st, Direction::Read, wake);
            }
            (_, Some(bid)) => d.bufs().recycle(bid),
            (0, None) => {
                st.recv.end = Some(End::Eof);
                self.wake(st, Direction::Read, wake);
            }
            (n, None) if n > 0 => {
                // Data without a buffer cannot happen with buffer selection.
                st.recv.end = Some(End::Error(libc::EIO));
                self.wake(st, Direction::Read, wake);
            }
            (e, None) => match -e {
                libc::ENOBUFS if !st.retired => {
                    st.recv.starved = true;
                    d.pool.starve(self.clone());
                }
                libc::ENOBUFS | libc::ECANCELED => {}
                errno => {
                    st.recv.end = Some(End::Error(errno));
                    self.wake(st, Direction::Read, wake);
                }
            },
        }
        if !more {
            st.recv.arm = Arm::Idle;
            st.ops -= 1;
            // Cancelled at the high-water mark and drained since, or ended by the kernel:
            // receive again.
            self.want_recv(d, st);
        }
    }

    /// Whether this socket still holds ring buffers (else it leaves the driver's list).
    pub(crate) fn holds(&self) -> bool {
        let mut st = self.st.borrow_mut();
        st.recv.held = !st.retired && !st.recv.chunks.is_empty();
        st.recv.held
    }

    /// Gives back the ring buffers this socket holds, its bytes moved to its own heap
    /// buffer (receives are starved); part of the flush.
    pub(crate) fn spill(&self, d: &Driver) {
        let mut st = self.st.borrow_mut();
        st.recv.held = false;
        if !st.retired {
            st.recv.spill(d);
        }
    }

    /// Re-arms a receive that `ENOBUFS` stopped, now that buffers came back; part of the
    /// flush.
    pub(crate) fn unstarve(self: &Rc<Self>, sq: &mut Sq<'_>) -> io::Result<()> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.recv.starved = false;
        if !st.retired
            && st.recv.arm == Arm::Idle
            && st.recv.end.is_none()
            && st.recv.bytes < RECV_HIGH
            && self.fd.get() >= 0
        {
            self.arm_recv(sq, st)?;
        }
        Ok(())
    }

    /// Stages `bufs` (as much as the bound allows) for the next turn's send.
    #[inline(always)]
    pub(crate) fn poll_send(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if let Some(e) = st.send.error {
            return Poll::Ready(Err(os_error(e)));
        }
        if st.send.shut != Shut::Open {
            return Poll::Ready(Err(os_error(libc::EPIPE)));
        }
        let room = SEND_BOUND.saturating_sub(st.send.staged.len() + st.send.flight.len());
        if room == 0 {
            self.slot.store_waker(Direction::Write, cx);
            return Poll::Pending;
        }
        if budget::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut n = 0;
        if let [b] = bufs
            && b.len() <= room
        {
            st.send.staged.extend_from_slice(b);
            n = b.len();
        } else {
            for b in bufs {
                let take = b.len().min(room - n);
                st.send.staged.extend_from_slice(&b[..take]);
                n += take;
                if n == room {
                    break;
                }
            }
        }
        if !st.send.in_kernel {
            self.want(d, st, Want::SEND);
        }
        Poll::Ready(Ok(n))
    }

    /// Waits until every staged byte was taken by the kernel.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let st = self.st.borrow();
        if let Some(e) = st.send.error {
            return Poll::Ready(Err(os_error(e)));
        }
        if st.send.staged.is_empty() && !st.send.in_kernel {
            return Poll::Ready(Ok(()));
        }
        self.slot.store_waker(Direction::Write, cx);
        Poll::Pending
    }

    /// Sends what was staged (or the deferred shutdown); part of the flush.
    #[inline(always)]
    pub(super) fn flush_send(self: &Rc<Self>, sq: &mut Sq<'_>, st: &mut State) -> io::Result<()> {
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
            unsafe { self.push(sq, st, &sqe) }?;
            st.send.in_kernel = true;
        } else if st.send.shut == Shut::Requested && !st.retired {
            let sqe = opcode::Shutdown::new(self.fd(), libc::SHUT_WR)
                .build()
                .user_data(submit(self, Kind::Shutdown));
            // SAFETY: a shutdown points to no memory.
            unsafe { self.push(sq, st, &sqe) }?;
            st.send.shut = Shut::Done;
        }
        Ok(())
    }

    /// The completion of a send.
    #[inline(always)]
    pub(crate) fn on_send(self: &Rc<Self>, d: &Driver, res: i32, wake: &mut Vec<Waker>) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.ops -= 1;
        st.send.in_kernel = false;
        let len = st.send.flight.len();
        if res as usize == len
            && st.send.staged.is_empty()
            && st.send.shut == Shut::Open
            && st.dup.is_none()
        {
            // The common case: all sent, nothing more to send.
            st.send.flight.clear();
            if !st.retired {
                if let Some(w) = self.slot.take_waker(Direction::Write) {
                    wake.push(w);
                }
            }
            return;
        }
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
            self.want(d, st, Want::SEND);
        }
        if st.retired && st.send.staged.is_empty() && st.dup.is_some() {
            // The last byte went out through the duplicate: close it.
            st.dup = None;
            self.fd.set(-1);
        }
        self.wake(st, Direction::Write, wake);
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

    /// At retirement: sends at once what the socket buffer takes of the staged bytes, as
    /// a readiness backend's write would have. Returns whether bytes remain staged.
    pub(super) fn send_staged_now(&self, d: &Driver, st: &mut State) -> bool {
        if st.send.error.is_some() || (!st.send.staged.is_empty() && d.is_forked_copy()) {
            // (A forked child's staged bytes are the parent's to send.)
            st.send.staged.clear();
        }
        if !st.send.staged.is_empty() && !st.send.in_kernel {
            let staged = &st.send.staged;
            // SAFETY: `staged` is readable for its length; MSG_DONTWAIT never blocks.
            let n = unsafe {
                libc::send(
                    self.fd.get(),
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
        !st.send.staged.is_empty()
    }
}

fn sys_shutdown(fd: RawFd, how: libc::c_int) -> io::Result<()> {
    // SAFETY: shutdown takes only integers; a bad fd is an error.
    if unsafe { libc::shutdown(fd, how) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Chunk, Chunks};

    fn chunk(bid: u16) -> Chunk {
        Chunk {
            bid,
            start: 0,
            len: 1,
        }
    }

    #[test]
    fn chunks_keep_their_order_across_the_inline_one_and_the_queue() {
        let mut q = Chunks::default();
        assert!(q.is_empty() && q.only().is_none());
        q.push_back(chunk(1));
        assert_eq!(q.only().map(|c| c.bid), Some(1));
        q.push_back(chunk(2));
        q.push_back(chunk(3));
        assert!(q.only().is_none());
        let seen: Vec<u16> = q.iter().map(|c| c.bid).collect();
        assert_eq!(seen, [1, 2, 3]);
        assert_eq!(q.pop_front().map(|c| c.bid), Some(1));
        q.front_mut().expect("two left").start = 7;
        q.push_back(chunk(4));
        let drained: Vec<(u16, u32)> = q.drain().map(|c| (c.bid, c.start)).collect();
        assert_eq!(drained, [(2, 7), (3, 0), (4, 0)]);
        assert!(q.is_empty() && q.pop_front().is_none());
        q.push_back(chunk(5));
        assert_eq!(q.only().map(|c| c.bid), Some(5));
    }
}
