//! A datagram socket's I/O on the io_uring backend (UDP and Unix datagrams): one
//! `recvmsg` at a time into a buffer of at least 64 KiB that the socket owns, and one
//! `sendmsg` per datagram, each in its own [`DgramSend`] that the sending future holds,
//! so that concurrent sends each find their own result.

use std::cell::{Cell, UnsafeCell};
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::opcode;

use super::ops::{Kind, submit};
use super::socket::{Socket, State, Want, os_error};
use super::stream::Dst;
use super::{Driver, Sq};
use crate::budget;
use crate::slab::Direction;

/// The smallest datagram receive buffer.
const DGRAM_MIN: usize = 64 * 1024;

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
pub(super) enum Phase {
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

/// A socket's datagram receive.
#[derive(Default)]
pub(super) struct Dgram {
    buf: Option<Rc<DgramRecv>>,
    pub(super) phase: Phase,
    /// Datagrams to submit at the next flush.
    pub(super) sends: Vec<Rc<DgramSend>>,
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
    /// A datagram in its `Rc`, its header pointing into the same allocation.
    fn new(buf: &[u8], addr: Option<(&libc::sockaddr_storage, libc::socklen_t)>) -> Rc<Self> {
        let mut rc = Rc::new(DgramSend {
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
        });
        let sent = Rc::get_mut(&mut rc).expect("a new Rc has one owner");
        if let Some((a, len)) = addr {
            sent.addr = *a;
            sent.msg.msg_name = (&raw mut sent.addr).cast();
            sent.msg.msg_namelen = len;
        }
        sent.iov = libc::iovec {
            iov_base: sent.data.as_mut_ptr().cast(),
            iov_len: sent.data.len(),
        };
        sent.msg.msg_iov = &raw mut sent.iov;
        sent.msg.msg_iovlen = 1;
        rc
    }

    /// Records the completion and returns the waiting future's waker.
    pub(crate) fn complete(&self, res: i32) -> Option<Waker> {
        self.result.set(Some(res));
        self.waker.take()
    }
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

impl Socket {
    /// Receives (or peeks at) one datagram into `dst`, with its source address.
    pub(crate) fn poll_recv_from(
        self: &Rc<Self>,
        d: &Driver,
        cx: &mut Context<'_>,
        mut dst: Dst<'_>,
        peek: bool,
    ) -> Poll<io::Result<(usize, libc::sockaddr_storage, libc::socklen_t)>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        match st.dgram.phase {
            Phase::Ready { len, addr_len } => {
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
                    st.dgram.phase = Phase::Idle;
                }
                return Poll::Ready(Ok((n, addr, addr_len)));
            }
            Phase::Failed(e) => {
                st.dgram.phase = Phase::Idle;
                return Poll::Ready(Err(os_error(e)));
            }
            Phase::InFlight => {}
            Phase::Wanted(want) => st.dgram.phase = Phase::Wanted(want.max(dst.len())),
            Phase::Idle => {
                st.dgram.phase = Phase::Wanted(dst.len().max(DGRAM_MIN));
                self.want(d, st, Want::DGRAM);
            }
        }
        self.slot.store_waker(Direction::Read, cx);
        Poll::Pending
    }

    pub(crate) fn on_dgram_recv(&self, res: i32, wake: &mut Vec<Waker>) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        st.ops -= 1;
        st.dgram.phase = if res >= 0 {
            let buf = st
                .dgram
                .buf
                .as_ref()
                .expect("an in-flight receive has its buffer");
            // SAFETY: the operation completed: the kernel no longer writes the header.
            let addr_len = unsafe { (*buf.msg.get()).msg_namelen };
            Phase::Ready {
                len: res as usize,
                addr_len,
            }
        } else if -res == libc::ECANCELED {
            Phase::Idle
        } else {
            Phase::Failed(-res)
        };
        self.wake(st, Direction::Read, wake);
    }

    /// Sends one datagram (to `addr`, or to the connected peer). The first poll queues it
    /// and keeps it in `op`; a later one returns its result.
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
        let sent = DgramSend::new(buf, addr);
        sent.waker.set(Some(cx.waker().clone()));
        let mut guard = self.st.borrow_mut();
        guard.dgram.sends.push(sent.clone());
        self.want(d, &mut guard, Want::DGRAM);
        *op = Some(sent);
        Poll::Pending
    }

    /// Submits the wanted receive and the queued sends; part of the flush.
    pub(super) fn flush_dgram(self: &Rc<Self>, sq: &mut Sq<'_>, st: &mut State) -> io::Result<()> {
        if let Phase::Wanted(want) = st.dgram.phase {
            let buf = match st.dgram.buf.take() {
                Some(b) if b.data.len() >= want => b,
                _ => Rc::new(DgramRecv::new(want)),
            };
            let msg = buf.prepare();
            let sqe = opcode::RecvMsg::new(self.fd(), msg)
                .build()
                .user_data(submit(self, Kind::DgramRecv));
            st.dgram.buf = Some(buf);
            st.dgram.phase = Phase::InFlight;
            // SAFETY: the message header, its iovec, the address and the data live in
            // `buf`, kept in this socket until the completion (the phase is `InFlight`
            // until then, so nothing replaces it), and the socket lives as long as the
            // operation.
            unsafe { self.push(sq, st, &sqe) }?;
        }
        for sent in st.dgram.sends.drain(..) {
            let sqe = opcode::SendMsg::new(self.fd(), &raw const sent.msg)
                .flags(libc::MSG_NOSIGNAL as u32)
                .build()
                .user_data(submit(&sent, Kind::DgramSend));
            // SAFETY: the header, iovec, address and data live in `sent`, which the
            // operation keeps alive (a reference in its `user_data`) and which is not
            // written after this point but for its result and waker cells.
            unsafe { sq.push(&sqe) }?;
        }
        Ok(())
    }
}
