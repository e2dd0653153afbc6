//! The io_uring limit: an echo server written directly on the ring, C style, with no
//! runtime: what evloop's io_uring backend is measured against.
//!
//! Built as the C servers that show what io_uring can do here: a ring set up with
//! `SINGLE_ISSUER | DEFER_TASKRUN`, a multishot accept, one multishot receive per
//! connection into a provided buffer ring, and one `io_uring_enter` per batch that
//! submits every send of the batch and waits for the next completions. A received
//! buffer is sent as it is (no copy) and goes back to the ring when its send completes.
//! One send is in flight per connection, so bytes leave in order: what arrives while one
//! is in flight is copied to the connection's pending bytes and sent after it
//! (`MSG_WAITALL`: the kernel finishes a partial send itself).

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::{IoUring, cqueue, opcode, squeue, types};

const BUFFERS: u16 = 512;
const BUF_SIZE: usize = 4096;
const GROUP: u16 = 0;
/// `user_data`: the connection's fd in the high half, the operation in the low byte.
const ACCEPT: u64 = 1;
const RECV: u64 = 2;
const SEND_BUF: u64 = 3;
const SEND_PENDING: u64 = 4;

/// One connection: the buffer of its send in flight (if sent from the ring) and what
/// arrived meanwhile.
#[derive(Default)]
struct Conn {
    fd: Option<OwnedFd>,
    sending: bool,
    pending: Vec<u8>,
    flight: Vec<u8>,
}

/// The provided buffers: a mapped ring of entries and the buffers themselves.
struct Buffers {
    ring: *mut u8,
    data: Vec<u8>,
    tail: u16,
}

impl Buffers {
    fn new(uring: &IoUring) -> io::Result<Buffers> {
        // The kernel wants the ring page-aligned; heap memory of that alignment does.
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        let layout = std::alloc::Layout::from_size_align(usize::from(BUFFERS) * 16, page)
            .map_err(io::Error::other)?;
        // SAFETY: the layout's size is not zero.
        let ring = unsafe { std::alloc::alloc_zeroed(layout) };
        if ring.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let mut bufs = Buffers {
            ring,
            data: vec![0; usize::from(BUFFERS) * BUF_SIZE],
            tail: 0,
        };
        for bid in 0..BUFFERS {
            bufs.put(bid);
        }
        // SAFETY: the ring of BUFFERS entries lives for the process (never freed).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(ring as u64, BUFFERS, GROUP, 0)
        }?;
        bufs.publish();
        Ok(bufs)
    }

    fn addr(&mut self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < BUFFERS`, so the offset is inside `data`.
        unsafe { self.data.as_mut_ptr().add(usize::from(bid) * BUF_SIZE) }
    }

    /// Writes buffer `bid` at the tail (`struct io_uring_buf`: addr, len, bid, resv).
    fn put(&mut self, bid: u16) {
        let addr = self.addr(bid) as u64;
        let entry = usize::from(self.tail & (BUFFERS - 1)) * 16;
        // SAFETY: the entry is inside the ring mapping and past the published tail, so
        // the kernel does not read it; `resv` (the tail, in entry 0) is left alone.
        unsafe {
            self.ring.add(entry).cast::<u64>().write(addr);
            self.ring
                .add(entry + 8)
                .cast::<u32>()
                .write(BUF_SIZE as u32);
            self.ring.add(entry + 12).cast::<u16>().write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail is the u16 at offset 14 of the ring; the kernel reads it with
        // acquire semantics.
        let tail = unsafe { &*self.ring.add(14).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

fn push(uring: &mut IoUring, sqe: squeue::Entry) -> io::Result<()> {
    // SAFETY: every buffer a submission names (a ring buffer, a connection's `flight`)
    // stays untouched until its completion.
    while unsafe { uring.submission().push(&sqe) }.is_err() {
        uring.submit()?;
    }
    Ok(())
}

fn recv(fd: RawFd) -> squeue::Entry {
    opcode::RecvMulti::new(types::Fd(fd), GROUP)
        .build()
        .user_data(((fd as u64) << 32) | RECV)
}

fn send(fd: RawFd, ptr: *const u8, len: usize, tag: u64) -> squeue::Entry {
    opcode::Send::new(types::Fd(fd), ptr, len as u32)
        .flags(libc::MSG_NOSIGNAL | libc::MSG_WAITALL)
        .build()
        .user_data(((fd as u64) << 32) | tag)
}

/// Serves echo on `listener` until the process is killed.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    let mut uring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(16384)
        .build(4096)?;
    let mut bufs = Buffers::new(&uring)?;
    let mut conns: Vec<Conn> = Vec::new();
    let lfd = listener.as_raw_fd();
    let accept = opcode::AcceptMulti::new(types::Fd(lfd))
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(ACCEPT);
    push(&mut uring, accept.clone())?;
    let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(16384);
    loop {
        bufs.publish();
        match uring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
            Err(e) => return Err(e),
        }
        cqes.extend(
            uring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for (data, res, flags) in cqes.drain(..) {
            let fd = (data >> 32) as RawFd;
            match data & 0xff {
                ACCEPT => {
                    if res >= 0 {
                        crate::sys::set_nodelay(res);
                        let slot = res as usize;
                        if conns.len() <= slot {
                            conns.resize_with(slot + 1, Conn::default);
                        }
                        // SAFETY: an accepted fd is new and ours.
                        conns[slot].fd = Some(unsafe { OwnedFd::from_raw_fd(res) });
                        push(&mut uring, recv(res))?;
                    }
                    if !cqueue::more(flags) {
                        push(&mut uring, accept.clone())?;
                    }
                }
                RECV => {
                    let conn = &mut conns[fd as usize];
                    match cqueue::buffer_select(flags) {
                        Some(bid) if res > 0 && !conn.sending => {
                            conn.sending = true;
                            let tag = SEND_BUF | (u64::from(bid) << 8);
                            push(&mut uring, send(fd, bufs.addr(bid), res as usize, tag))?;
                        }
                        Some(bid) => {
                            if res > 0 {
                                let start = bufs.addr(bid);
                                // SAFETY: the kernel wrote `res` bytes into buffer `bid`,
                                // which is ours until it is put back below.
                                let data =
                                    unsafe { std::slice::from_raw_parts(start, res as usize) };
                                conn.pending.extend_from_slice(data);
                            }
                            bufs.put(bid);
                        }
                        None if res == -libc::ENOBUFS => {}
                        None => {
                            // End of stream or an error: close. A send in flight keeps
                            // the file open and its bytes (`flight`) until it completes.
                            let conn = &mut conns[fd as usize];
                            conn.fd = None;
                            conn.pending.clear();
                            continue;
                        }
                    }
                    if !cqueue::more(flags) && conns[fd as usize].fd.is_some() {
                        push(&mut uring, recv(fd))?;
                    }
                }
                tag => {
                    if tag == SEND_BUF {
                        bufs.put((data >> 8) as u16);
                    }
                    let conn = &mut conns[fd as usize];
                    conn.sending = false;
                    if res < 0 {
                        conn.fd = None;
                        conn.pending.clear();
                    } else if !conn.pending.is_empty() && conn.fd.is_some() {
                        std::mem::swap(&mut conn.pending, &mut conn.flight);
                        conn.pending.clear();
                        conn.sending = true;
                        let (ptr, len) = (conn.flight.as_ptr(), conn.flight.len());
                        push(&mut uring, send(fd, ptr, len, SEND_PENDING))?;
                    }
                }
            }
        }
    }
}
