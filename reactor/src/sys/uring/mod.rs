//! The io_uring backend (Linux): bytes move by completion, and every submission of a
//! loop turn goes out in the one `io_uring_enter` that also waits.
//!
//! The ring is set up with `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`
//! (kernel 6.1): only the loop's thread submits, and the kernel runs completions only
//! inside that thread's `io_uring_enter`, so nothing happens behind the loop's back.
//! Sockets registered with `register_socket` use multishot receives into a provided
//! buffer ring ([`BufRing`]), sends of a per-socket buffer, multishot accept, connect,
//! `recvmsg` and `sendmsg` (see `socket.rs`). Fds registered for readiness (a
//! signal self-pipe, the user's own) get a multishot poll, edge-triggered as epoll's
//! `EPOLLET`. The notifier's eventfd is read by the ring. A turn's timeout is the enter
//! call's own (`IORING_ENTER_EXT_ARG`, nanoseconds).
//!
//! # Who owns the memory an operation uses (the protocol)
//!
//! The kernel may read or write an operation's memory from its submission until its
//! last completion (the one without `IORING_CQE_F_MORE`). So:
//!
//! 1. Every operation's `user_data` holds a strong `Rc` reference to the state that owns
//!    its memory: the `Socket` (its send buffer, its connect address, its datagram
//!    buffer), a `DgramSend`, or a `PollEntry` (see `ops.rs`). That reference is
//!    taken back at the last completion and nowhere else. Dropping a socket drops the
//!    registration's reference only: the state lives on while the kernel holds one.
//! 2. Receive buffers belong to the [`BufRing`], owned by the [`Driver`], which lives
//!    until the last registration and the reactor are gone; who may touch a buffer is
//!    the table in `bufs.rs`. A receive that completes for a retired socket hands
//!    its buffer straight back.
//! 3. While an operation is in flight, user space does not write what it reads, nor
//!    read or write what it writes: a send's `flight` buffer is frozen while
//!    `in_kernel`, a datagram buffer is reachable only through `UnsafeCell`s and read
//!    after its completion.
//! 4. No submission that names a socket's fd waits in the submission queue while user
//!    code runs: polls record what they want, and [`Driver::flush`] builds the
//!    submissions right before the enter. So an owner may close its fd between turns.
//!    Cancellations name `user_data`, not fds. Completions are handled in place, in the
//!    completion queue; what they submit (cancellations, re-arms) waits for the flush.
//! 5. Dropping the reactor drains the ring ([`Driver::shut_down`]): what the sockets
//!    staged is submitted, everything else in flight is cancelled, and the completions
//!    are awaited, up to [`DRAIN_LIMIT`]. If some never arrive, the memory they may
//!    still touch is leaked on purpose (the states their references keep alive, and
//!    the buffer ring), never freed under the kernel. In a forked child, whose queues
//!    are the parent's, the drop submits and reaps nothing.
//!
//! valgrind does not understand the ring's shared memory, so memcheck covers the other
//! backends; here debug builds check the buffer hand-overs (`bufs.rs`) and every
//! operation count, and the tests move data through every path and compare it.

use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::HashMap;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::Waker;
use std::time::Duration;

use io_uring::{EnterFlags, IoUring, SubmissionQueue, Submitter, cqueue, opcode, squeue, types};

use crate::Readiness;
use crate::errors::shut_down_error;
use crate::event::{Event, Interest, MAX_WAIT, NOTIFY_TOKEN};
use crate::source::RawSource;
use crate::stats::UringStats;
use crate::sys::unix::waker::{Signal, eventfd};
use crate::sys::{Config, Selector};
use bufs::{BufRing, GROUP};
use dgram::DgramSend;
use ops::{Kind, reclaim};
use poll::PollEntry;
use pool::Pool;
use socket::Socket;

mod bufs;
mod dgram;
mod drain;
mod handle;
mod ops;
mod poll;
mod pool;
mod socket;
mod stream;

pub(crate) use handle::{CompletionSocket, Ring, SendOp};

/// Submission queue entries.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue entries (overflow beyond them is kept by the kernel, `FEAT_NODROP`).
const CQ_ENTRIES: u32 = 8192;
/// How long dropping the reactor waits for the kernel to finish with its memory.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The ring and everything its operations use; shared by the backend, the reactor's
/// `Shared` and the completion registrations.
pub(crate) struct Driver {
    /// `None` once the reactor was dropped (the ring is then closed).
    pub(super) ring: RefCell<Option<IoUring>>,
    /// The provided buffers, and the sockets that hold or wait for them.
    pub(super) pool: Pool,
    /// Sockets with work for the next flush: the head of a list linked through
    /// `Socket::next`. A socket is in it at most once (while its `want` is non-zero).
    queued: Cell<Option<Rc<Socket>>>,
    /// The readiness registrations, by fd.
    pub(super) polls: RefCell<HashMap<RawFd, Rc<PollEntry>>>,
    /// Submissions made while completions were being handled (cancellations, re-armed
    /// polls and notifier reads), for the next flush.
    deferred: RefCell<Vec<squeue::Entry>>,
    /// The notifier's eventfd (blocking: the ring's read waits on it) and the 8 bytes its
    /// read writes, owned here while the read is in flight.
    eventfd: OwnedFd,
    notify_buf: ManuallyDrop<Box<UnsafeCell<u64>>>,
    /// Submissions not yet completed for good (their last completion pending).
    pub(super) in_flight: Cell<u64>,
    /// Set by `shut_down`: no more re-arming.
    pub(super) closing: Cell<bool>,
    /// Set when a drain gave up: the memory above is never freed.
    pub(super) leaked: Cell<bool>,
    /// The process that set the ring up. A forked child shares the ring's queues with
    /// it, so a child's copy of the driver must never submit or reap.
    pid: u32,
    /// The wakers of completed I/O, for the facade to wake after the turn's wait.
    woken: RefCell<Vec<Waker>>,
}

/// Why the kernel refused io_uring, for the one line printed on fallback.
fn refused(what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

impl Driver {
    /// Sets up the ring, the buffer ring (`buffers` of `size` bytes) and the notifier's
    /// read.
    pub(crate) fn new(buffers: u16, size: u32) -> io::Result<(Rc<Driver>, Signal)> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)
            .map_err(|e| refused("io_uring_setup (SINGLE_ISSUER | DEFER_TASKRUN)", e))?;
        let params = ring.params();
        if !params.is_feature_ext_arg() || !params.is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks EXT_ARG or NODROP (kernel older than 5.11)",
            ));
        }
        let bufs = BufRing::new(buffers, size)?;
        let (addr, count) = bufs.ring_addr();
        // SAFETY: the ring of `count` entries at `addr` is mapped by `bufs`, which the
        // driver keeps until the ring is closed (or leaks, field invariant).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(addr, count, GROUP, 0)
        }
        .map_err(|e| refused("registering the provided buffer ring (kernel < 5.19?)", e))?;
        let (eventfd, signal) = eventfd::new(false)?;
        let driver = Rc::new(Driver {
            ring: RefCell::new(Some(ring)),
            pool: Pool::new(bufs),
            queued: Cell::new(None),
            polls: RefCell::new(HashMap::new()),
            deferred: RefCell::new(Vec::new()),
            eventfd,
            notify_buf: ManuallyDrop::new(Box::new(UnsafeCell::new(0))),
            in_flight: Cell::new(0),
            closing: Cell::new(false),
            leaked: Cell::new(false),
            pid: std::process::id(),
            woken: RefCell::new(Vec::new()),
        });
        driver.pool.bufs.publish();
        // SAFETY: see `notify_read`.
        unsafe { driver.push(&driver.notify_read()) }?;
        Ok((driver, signal))
    }

    #[inline]
    pub(crate) fn bufs(&self) -> &BufRing {
        &self.pool.bufs
    }

    /// Whether the reactor was dropped (the ring is closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.ring.borrow().is_none()
    }

    /// Queues one submission from outside a turn (registrations, the notifier's first
    /// read); if the queue is full, submits what it holds first.
    ///
    /// # Safety
    ///
    /// Whatever `sqe` points to (buffers, addresses, headers) stays valid, and is not
    /// written by user space if the kernel reads it nor touched at all if the kernel
    /// writes it, until the operation's last completion (module docs).
    pub(crate) unsafe fn push(&self, sqe: &squeue::Entry) -> io::Result<()> {
        // SAFETY: forwarded from the caller.
        self.with_sq(|sq| unsafe { sq.push(sqe) })
    }

    /// Runs `f` on the submission queue, then counts what it queued as in flight.
    #[inline(always)]
    fn with_sq<R>(&self, f: impl FnOnce(&mut Sq<'_>) -> io::Result<R>) -> io::Result<R> {
        let mut guard = self.ring.borrow_mut();
        let ring = guard.as_mut().ok_or_else(shut_down_error)?;
        let (submitter, sq, _) = ring.split();
        let mut sq = Sq {
            sq,
            submitter,
            pushed: 0,
        };
        let result = f(&mut sq);
        self.in_flight.set(self.in_flight.get() + sq.pushed);
        result
    }

    /// Queues `sqe` for the next flush: for submissions made while completions are
    /// handled. It must name no socket fd (module docs, rule 4).
    pub(crate) fn defer(&self, sqe: squeue::Entry) {
        self.deferred.borrow_mut().push(sqe);
    }

    /// Cancels the operation whose `user_data` is `target`, at the next flush. Names no
    /// fd. If the ring is gone by then, there is nothing left to cancel.
    pub(crate) fn cancel(&self, target: u64) {
        self.defer(
            opcode::AsyncCancel::new(target)
                .build()
                .user_data(Kind::Cancel.bare()),
        );
    }

    /// The counters of [`UringStats`](UringStats).
    pub(crate) fn stats(&self) -> UringStats {
        UringStats {
            in_flight: self.in_flight.get(),
            buffers: self.pool.bufs.count(),
            buffers_in_kernel: self.pool.bufs.available(),
            starved_receives: self.pool.starvations(),
        }
    }

    /// Whether this is a forked child's copy of the driver (a syscall: for rare paths).
    pub(crate) fn is_forked_copy(&self) -> bool {
        std::process::id() != self.pid
    }

    /// Whether the reactor is being dropped (nothing is re-armed then).
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.get()
    }

    /// Adds a socket to the next flush; it must not be in the list already.
    #[inline(always)]
    pub(crate) fn queue(&self, socket: Rc<Socket>) {
        let old_next = socket.next.replace(self.queued.take());
        debug_assert!(old_next.is_none(), "a socket queued twice");
        // Both cells were just emptied (or were empty): nothing to drop, and no drop
        // glue on the hottest path of a write.
        std::mem::forget(old_next);
        std::mem::forget(self.queued.replace(Some(socket)));
    }

    /// Empties the list of sockets to flush, one link at a time (dropping the head
    /// would drop the list recursively).
    pub(super) fn unqueue_all(&self) {
        let mut next = self.queued.take();
        while let Some(socket) = next {
            next = socket.next.take();
        }
    }

    /// The read of the notifier's eventfd. Its 8-byte buffer is owned by the driver and
    /// freed only after the drain (or leaked with it); the eventfd is the driver's too.
    fn notify_read(&self) -> squeue::Entry {
        opcode::Read::new(
            types::Fd(self.eventfd.as_raw_fd()),
            self.notify_buf.get().cast(),
            8,
        )
        .build()
        .user_data(Kind::Notify.bare())
    }

    // ---- the turn -----------------------------------------------------------------

    /// Submits what the turn queued and waits (up to `timeout`; `None`: until something
    /// completes), then handles every completion: readiness events go to `events`,
    /// wakers of completed I/O wait in the driver for [`wake_completed`](Driver::wake_completed).
    /// When only wakers resulted, one event with `NOTIFY_TOKEN` says that the wait did not
    /// merely time out.
    pub(crate) fn wait(
        &self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.flush()?;
        self.enter(timeout)?;
        let mut woken = self.woken.borrow_mut();
        let before = woken.len();
        self.reap(events, &mut woken);
        if events.is_empty() && woken.len() > before {
            events.push(Event {
                token: NOTIFY_TOKEN,
                readiness: Readiness::EMPTY,
            });
        }
        Ok(())
    }

    /// Wakes the tasks of the completions handled since the last call, outside every
    /// borrow of the driver (a waker may register, deregister or poll).
    pub(crate) fn wake_completed(&self) {
        let mut woken = std::mem::take(&mut *self.woken.borrow_mut());
        for w in woken.drain(..) {
            w.wake();
        }
        // The list's allocation goes back for the next turn, unless a waker queued more.
        let mut slot = self.woken.borrow_mut();
        if slot.is_empty() {
            *slot = woken;
        }
    }

    /// Builds the submissions the polls asked for (module docs, rule 4), re-arms starved
    /// receives once buffers came back, and publishes recycled buffers. Everything goes
    /// into the submission queue in one pass; the kernel sees it at the enter.
    pub(super) fn flush(&self) -> io::Result<()> {
        self.with_sq(|sq| {
            let result = self.flush_into(sq);
            self.pool.bufs.publish();
            result
        })
    }

    fn flush_into(&self, sq: &mut Sq<'_>) -> io::Result<()> {
        {
            let mut deferred = self.deferred.borrow_mut();
            for sqe in deferred.drain(..) {
                // SAFETY: deferred entries name no memory but what their `user_data`
                // keeps alive (a poll's entry) or the driver owns (the notifier's buffer).
                unsafe { sq.push(&sqe) }?;
            }
        }
        // Nothing below queues a socket: the list is taken whole.
        let mut next = self.queued.take();
        while let Some(socket) = next {
            next = socket.next.take();
            if let Err(e) = socket.flush(sq) {
                // The rest waits for the next flush.
                self.queued.set(next);
                return Err(e);
            }
        }
        self.pool.rebalance(self, sq, self.closing.get())
    }

    /// One `io_uring_enter`: submit everything queued, run the deferred completions and
    /// wait for at least one if `timeout` is not zero.
    pub(super) fn enter(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut guard = self.ring.borrow_mut();
        let ring = guard.as_mut().ok_or_else(shut_down_error)?;
        let pending = ring.submission().len() as u32;
        let submitter = ring.submitter();
        let getevents = EnterFlags::GETEVENTS.bits();
        let r = match timeout {
            // SAFETY: no argument is passed.
            Some(d) if d.is_zero() => unsafe {
                submitter.enter::<libc::sigset_t>(pending, 0, getevents, None)
            },
            // SAFETY: as above.
            None => unsafe { submitter.enter::<libc::sigset_t>(pending, 1, getevents, None) },
            Some(d) => {
                let ts = types::Timespec::from(d.min(MAX_WAIT));
                let args = types::SubmitArgs::new().timespec(&ts);
                let flags = (EnterFlags::GETEVENTS | EnterFlags::EXT_ARG).bits();
                // SAFETY: `args` is the `io_uring_getevents_arg` that EXT_ARG announces,
                // and it and the timespec it points to live across the call.
                unsafe { submitter.enter(pending, 1, flags, Some(&args)) }
            }
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) => match e.raw_os_error() {
                // The timeout passed; or the completion queue is full: reap first.
                Some(libc::ETIME | libc::EBUSY | libc::EAGAIN) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// Handles every completion in the queue, in place (module docs, rule 4).
    pub(super) fn reap(&self, events: &mut Vec<Event>, wake: &mut Vec<Waker>) {
        let mut guard = self.ring.borrow_mut();
        let Some(ring) = guard.as_mut() else { return };
        for cqe in ring.completion() {
            self.complete(cqe.user_data(), cqe.result(), cqe.flags(), events, wake);
        }
    }

    #[inline]
    fn complete(
        &self,
        user_data: u64,
        res: i32,
        flags: u32,
        events: &mut Vec<Event>,
        wake: &mut Vec<Waker>,
    ) {
        let more = cqueue::more(flags);
        if !more {
            self.in_flight.set(self.in_flight.get() - 1);
        }
        // The two completions of every message (a receive, a send) skip the dispatch.
        if Kind::Recv.tags(user_data) {
            // SAFETY: a receive was submitted by `submit` with a `Socket`; `with_socket`
            // reclaims it only at its last completion.
            unsafe { with_socket(user_data, more, |s| s.on_recv(self, res, flags, more, wake)) };
            return;
        }
        if Kind::Send.tags(user_data) {
            // SAFETY: as above, for a send.
            unsafe { with_socket(user_data, more, |s| s.on_send(self, res, wake)) };
            return;
        }
        let Some(kind) = Kind::of(user_data) else {
            debug_assert!(
                false,
                "a completion this backend never submitted: {user_data:#x}"
            );
            return;
        };
        match kind {
            Kind::Notify => {
                events.push(Event {
                    token: NOTIFY_TOKEN,
                    readiness: Readiness::READABLE,
                });
                if !self.closing.get() {
                    self.defer(self.notify_read());
                }
            }
            Kind::Cancel => {}
            Kind::Poll => self.on_poll(user_data, res, more, events),
            Kind::DgramSend => {
                // SAFETY: a datagram send completes once; this is its last completion.
                let sent: Rc<DgramSend> = unsafe { reclaim(user_data) };
                wake.extend(sent.complete(res));
            }
            Kind::Recv | Kind::Send => unreachable!("handled above"),
            // SAFETY: every other kind was submitted by `submit` with a
            // `Socket`, and `with_socket` reclaims it only at its last completion.
            Kind::Accept => unsafe {
                with_socket(user_data, more, |s| s.on_accept(self, res, more, wake));
            },
            // SAFETY: as above.
            Kind::Connect => unsafe { with_socket(user_data, more, |s| s.on_connect(res, wake)) },
            // SAFETY: as above.
            Kind::DgramRecv => unsafe {
                with_socket(user_data, more, |s| s.on_dgram_recv(res, wake));
            },
            // SAFETY: as above.
            Kind::Shutdown => unsafe { with_socket(user_data, more, |s| s.on_shutdown()) },
        }
    }
}

/// Runs `f` with the socket of a completion, taking the kernel's reference back if this
/// is the operation's last completion (`more` unset).
///
/// # Safety
///
/// `user_data` was made by `submit` with a `Socket` and not reclaimed yet.
#[inline(always)]
unsafe fn with_socket(user_data: u64, more: bool, f: impl FnOnce(&Rc<Socket>)) {
    // SAFETY: forwarded from the caller; the reference is dropped only when `more` is
    // unset, so a completion that is not the last leaves the kernel's reference alone.
    let socket = ManuallyDrop::new(unsafe { reclaim::<Socket>(user_data) });
    f(&socket);
    if !more {
        drop(ManuallyDrop::into_inner(socket));
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.unqueue_all();
        if self.leaked.get() {
            return;
        }
        // Closing the ring first, if `shut_down` never ran (the backend failed to build).
        drop(self.ring.get_mut().take());
        // SAFETY: dropped once, here; the ring is closed and was drained (else `leaked`
        // is set), so the kernel no longer touches the buffers or the notifier's buffer.
        unsafe {
            ManuallyDrop::drop(&mut self.pool.bufs);
            ManuallyDrop::drop(&mut self.notify_buf);
        }
    }
}

/// The submission queue during one flush: entries go in without a syscall, unless the
/// queue is full; then what it holds is submitted first.
pub(crate) struct Sq<'a> {
    sq: SubmissionQueue<'a>,
    submitter: Submitter<'a>,
    pushed: u64,
}

impl Sq<'_> {
    /// Queues one submission.
    ///
    /// # Safety
    ///
    /// As [`Driver::push`].
    pub(crate) unsafe fn push(&mut self, sqe: &squeue::Entry) -> io::Result<()> {
        // SAFETY: forwarded from the caller.
        while unsafe { self.sq.push(sqe) }.is_err() {
            self.sq.sync();
            self.submitter.submit()?;
            self.sq.sync();
        }
        self.pushed += 1;
        Ok(())
    }
}

/// The backend: the driver, drained when the reactor drops it.
pub(crate) struct Uring {
    pub(crate) driver: Rc<Driver>,
}

impl Selector for Uring {
    type Events = Vec<Event>;
    const EDGE_TRIGGERED: bool = true;

    fn open(config: &Config) -> io::Result<(Uring, Signal)> {
        let (count, size) = config.uring_buffers;
        let (driver, signal) = Driver::new(count, size)?;
        Ok((Uring { driver }, signal))
    }

    fn register(&mut self, fd: RawSource, token: u64) -> io::Result<()> {
        self.driver.register(fd, token)
    }

    fn deregister(&mut self, fd: RawSource) -> io::Result<()> {
        self.driver.deregister(fd)
    }

    /// Every completion that arrived is handled: `capacity` is a hint the ring ignores.
    fn select(
        &mut self,
        events: &mut Vec<Event>,
        _: usize,
        timeout: Option<Duration>,
        _: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()> {
        self.driver.wait(events, timeout)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        let wake = self.driver.shut_down();
        for w in wake {
            w.wake();
        }
    }
}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("in_flight", &self.driver.in_flight.get())
            .field("buffers_in_kernel", &self.driver.pool.bufs.available())
            .finish()
    }
}
