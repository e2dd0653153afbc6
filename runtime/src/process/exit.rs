//! How the loop learns that a child exited, and how its status is collected.
//!
//! Nothing is made at spawn. A child's first wait asks `waitpid` first; only a child that
//! still runs then gets one of these watches:
//!
//! - **pidfd** (Linux 5.3 and later): `pidfd_open(pid)` gives an fd that becomes readable
//!   when the process exits. It is registered in the reactor like any fd, so waiting for
//!   one child costs one registration and one `waitpid` when it is ready, and no thread.
//! - **SIGCHLD** (everywhere else, and on Linux when `pidfd_open` fails: an old kernel, a
//!   seccomp filter, or no fd left): one [`signal`](crate::signal::signal) listener for
//!   `SIGCHLD` per loop, shared by all of that loop's waiting children ([`SigchldWatch`]).
//!   Each delivery wakes every waiting child of the loop, and each tries a `waitpid` on its
//!   own pid. `SIGCHLD` coalesces, so a child never trusts a count of deliveries: it
//!   drains the pipe first and then asks `waitpid`, so a delivery after its check wakes it.
//!   kqueue's `EVFILT_PROC` would give one event per child; until the kqueue backend
//!   exposes it, BSD and macOS use this path.
//!
//! In both cases the status is collected with `waitpid(pid, WNOHANG)` on the child's own
//! pid, never `waitpid(-1)`: a process whose pid we hold is our unreaped child, so its pid
//! cannot have been reused, and no other child's status is ever taken.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::{Rc, Weak};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use reactor::Registration;

use crate::signal::{Signal, SignalKind, signal};

/// `waitpid(pid, WNOHANG)`: the status if the child has exited (and is now reaped).
///
/// `ECHILD` means someone else reaped it (a `waitpid(-1)` elsewhere in the process, or
/// `SIGCHLD` set to `SIG_IGN`, which makes the kernel reap children itself).
pub(crate) fn try_reap(pid: u32) -> io::Result<Option<ExitStatus>> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `WNOHANG` never blocks.
        let ret = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        match ret {
            0 => return Ok(None),
            r if r > 0 => return Ok(Some(ExitStatus::from_raw(status))),
            _ => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ECHILD) => {
                        return Err(io::Error::new(
                            err.kind(),
                            format!(
                                "child {pid} was reaped by someone else (a `waitpid(-1)` \
                                 elsewhere in the process, or SIGCHLD set to SIG_IGN): \
                                 its exit status is lost"
                            ),
                        ));
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

/// How one child's exit reaches the loop.
pub(crate) enum ExitWatch {
    /// Nothing made yet. The first wait asks `waitpid` before anything else, and only a
    /// child that still runs then gets a pidfd (or joins the `SIGCHLD` listener): a
    /// child that exits before it is awaited (as one usually has by the time `output`
    /// has read its pipes to the end) costs no pidfd, registration or close.
    Lazy {
        /// Whether a pidfd may watch it (else `SIGCHLD`).
        allow_pidfd: bool,
    },
    /// The child's pidfd, registered in the reactor.
    Pidfd {
        // Declared before `_fd`, so it deregisters before the fd closes.
        registration: Registration,
        /// Kept open while registered; closed with the watch.
        _fd: OwnedFd,
    },
    /// The loop's shared `SIGCHLD` listener.
    Sigchld(Rc<SigchldWatch>),
}

impl ExitWatch {
    /// A watch for a new child, armed by its first wait.
    pub(crate) fn new(allow_pidfd: bool) -> ExitWatch {
        ExitWatch::Lazy { allow_pidfd }
    }

    /// Arms the watch for `pid` on the current loop: its pidfd where the kernel has
    /// them, else the loop's `SIGCHLD` listener.
    fn arm(pid: u32, allow_pidfd: bool) -> io::Result<ExitWatch> {
        let handle = reactor::Handle::try_current()?;
        if let Some(fd) = allow_pidfd.then(|| pidfd_open(pid)).flatten() {
            if let Ok(registration) = handle.register(fd.as_raw_fd()) {
                return Ok(ExitWatch::Pidfd {
                    registration,
                    _fd: fd,
                });
            }
        }
        SigchldWatch::current().map(ExitWatch::Sigchld)
    }

    /// Whether this watch is a pidfd (false: `SIGCHLD`, or not armed yet).
    pub(crate) fn is_pidfd(&self) -> bool {
        matches!(self, ExitWatch::Pidfd { .. })
    }

    /// `Ready` once `pid` has exited and was reaped; `Pending` with the task's waker kept.
    pub(crate) fn poll_exit(
        &mut self,
        pid: u32,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<ExitStatus>> {
        if let ExitWatch::Lazy { allow_pidfd } = *self {
            if let Some(status) = try_reap(pid)? {
                return Poll::Ready(Ok(status));
            }
            // It still runs. An exit from here on makes the pidfd readable (one opened
            // for a zombie is readable at once) or delivers a `SIGCHLD` after the
            // listener exists, which the poll below checks for.
            *self = ExitWatch::arm(pid, allow_pidfd)?;
        }
        match self {
            ExitWatch::Lazy { .. } => unreachable!("armed above"),
            ExitWatch::Pidfd { registration, .. } => {
                // Readable once, for good, when the process has exited.
                if let Err(e) = std::task::ready!(registration.poll_read_ready(cx)) {
                    return Poll::Ready(Err(e));
                }
                match try_reap(pid) {
                    Ok(Some(status)) => Poll::Ready(Ok(status)),
                    Ok(None) => {
                        // Readable but not yet waitable: the kernel is between the
                        // two. The readiness stays set (a pidfd never becomes
                        // unreadable again, so no later edge would come); ask again on
                        // the next turn of the loop.
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    }
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
            ExitWatch::Sigchld(watch) => watch.poll_exit(pid, cx),
        }
    }
}

/// `pidfd_open(pid, 0)`; `None` where the kernel has no pidfds or refuses one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: `pidfd_open` takes a pid and flags and returns a new fd (close-on-exec
    // always) or -1; no memory is involved.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the fd was just made and nothing else owns it.
    Some(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pidfd_open(_pid: u32) -> Option<OwnedFd> {
    None
}

/// Wakes every waker it holds: the one waker stored in the shared `SIGCHLD` listener's
/// registration, standing for all the loop's waiting children.
#[derive(Default)]
struct Broadcast {
    wakers: Mutex<Vec<Waker>>,
}

impl Broadcast {
    fn add(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

impl Wake for Broadcast {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers =
            std::mem::take(&mut *self.wakers.lock().unwrap_or_else(PoisonError::into_inner));
        for waker in wakers {
            waker.wake();
        }
    }
}

/// One loop's `SIGCHLD` listener, shared by the children waiting on that loop.
pub(crate) struct SigchldWatch {
    signal: RefCell<Signal>,
    broadcast: Arc<Broadcast>,
    waker: Waker,
    /// The loop it belongs to: its runtime's address, and its reactor, which is shut down
    /// once that runtime is dropped (so a later runtime at the same address is told apart).
    runtime: usize,
    reactor: reactor::Handle,
}

thread_local! {
    /// The last `SIGCHLD` watch made on this thread; it lives while children use it.
    static WATCH: RefCell<Weak<SigchldWatch>> = const { RefCell::new(Weak::new()) };
}

/// The address of the current runtime, which tells loops on one thread apart.
pub(crate) fn current_runtime() -> io::Result<usize> {
    crate::context::try_with_current(|inner| std::ptr::from_ref(inner) as usize).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "child processes must be spawned inside an evloop runtime",
        )
    })
}

impl SigchldWatch {
    /// The current loop's watch, made on first use.
    fn current() -> io::Result<Rc<SigchldWatch>> {
        let runtime = current_runtime()?;
        if let Some(watch) = WATCH.with(|w| w.borrow().upgrade()) {
            if watch.runtime == runtime && !watch.reactor.is_shut_down() {
                return Ok(watch);
            }
        }
        let broadcast = Arc::new(Broadcast::default());
        let watch = Rc::new(SigchldWatch {
            signal: RefCell::new(signal(SignalKind::from_raw(libc::SIGCHLD))?),
            waker: Waker::from(broadcast.clone()),
            broadcast,
            runtime,
            reactor: reactor::Handle::try_current()?,
        });
        WATCH.with(|w| *w.borrow_mut() = Rc::downgrade(&watch));
        Ok(watch)
    }

    fn poll_exit(&self, pid: u32, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        // Drain the deliveries first, leaving the broadcast waker in the reactor; then
        // ask. A child that exits after the question delivers a byte later, which wakes
        // the broadcast, which by then holds this task's waker.
        let mut live = true;
        {
            let mut signal = self.signal.borrow_mut();
            let mut bcx = Context::from_waker(&self.waker);
            while let Poll::Ready(got) = signal.poll_recv(&mut bcx) {
                if got.is_none() {
                    live = false;
                    break;
                }
            }
        }
        match try_reap(pid) {
            Ok(Some(status)) => return Poll::Ready(Ok(status)),
            Ok(None) => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        if !live {
            return Poll::Ready(Err(io::Error::other(
                "the runtime that watched this child was dropped: its exit cannot be awaited \
                 (`try_wait` still works)",
            )));
        }
        self.broadcast.add(cx.waker());
        Poll::Pending
    }
}
