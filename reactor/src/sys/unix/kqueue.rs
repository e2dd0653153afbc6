//! The kqueue backend (64-bit Apple systems and FreeBSD).
//!
//! Written against libc's definitions and the kqueue(2) manual pages, and compared with
//! mio's and libevent's kqueue code. It is compiled and linted for FreeBSD and macOS in
//! CI, but no test runs it: evloop's suites run on Linux.
//!
//! # How it maps onto the contract
//!
//! - `register`: one `kevent` call adds an `EVFILT_READ` and an `EVFILT_WRITE` filter,
//!   both `EV_CLEAR` (edge-triggered: an event is reported once per change of state, as
//!   `EPOLLET`), with the token in `udata`. `EV_RECEIPT` makes the kernel report the
//!   outcome of each change separately, so a failure of one filter is not mistaken for
//!   success of both; a filter that failed is rolled back. `EPIPE` on the write filter
//!   (older macOS, for a pipe whose reader is gone) is not an error: the read filter
//!   still reports the hangup.
//! - `deregister`: both filters are deleted with `EV_DELETE | EV_RECEIPT`; `ENOENT` for
//!   one of them (the write filter that `EPIPE` kept out) is ignored. kqueue would drop
//!   the filters by itself when the fd is closed; the facade deregisters first.
//! - `wait`: `kevent` with an empty changelist and a nanosecond `timespec`. Nothing is
//!   changed during a wait, so changelist errors (`EV_ERROR` receipts) cannot appear in
//!   its output; if one did, it is reported as `ERROR` on both directions.
//! - Normalisation: `EVFILT_READ` → readable, plus read-closed with `EV_EOF` (the peer
//!   shut down its write side; reads return what is left, then 0). `EVFILT_WRITE` →
//!   writable, plus write-closed with `EV_EOF`. `EV_EOF` with a non-zero `fflags`
//!   carries a socket error (for example a refused connect): that is `ERROR` on both
//!   directions, as `EPOLLERR` is.
//! - The notifier is an `EVFILT_USER` event (ident 0, `EV_CLEAR`) on the same kqueue,
//!   fired with `NOTE_TRIGGER` from any thread; it comes out of a wait as
//!   [`NOTIFY_TOKEN`] and needs no draining.
//! - `EINTR` from a wait goes to the facade; from a change, the manual says that every
//!   change was applied, so it is success.
//!
//! Tokens are 64 bits and travel in `udata`, a pointer: hence the 64-bit restriction,
//! which `build.rs` applies (32-bit systems get the poll backend).

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::kevent::{apply, kevent};
use super::waker::{Signal, kqueue::User};
use crate::Readiness;
use crate::errors::{already_registered, invalid_fd, not_registered};
use crate::event::{Event, Interest, NOTIFY_TOKEN};
use crate::source::RawSource;
use crate::sys::{Config, Selector, cvt, fd_is_open, timespec};

#[derive(Debug)]
pub(crate) struct Kqueue {
    /// Invariant: an open kqueue, shared with the notifier that triggers `EVFILT_USER`.
    kq: Arc<OwnedFd>,
    /// kqueue's `EV_ADD` on a known fd silently modifies it; this set reports
    /// `AlreadyExists` and `NotFound` exactly as epoll does.
    fds: HashSet<RawFd>,
    buf: Vec<libc::kevent>,
}

impl Selector for Kqueue {
    type Events = Vec<Event>;
    const EDGE_TRIGGERED: bool = true;

    fn open(_: &Config) -> io::Result<(Kqueue, Signal)> {
        // SAFETY: kqueue takes no arguments and returns a new fd we own on success.
        let kq = unsafe { OwnedFd::from_raw_fd(cvt(libc::kqueue())?) };
        // SAFETY: kq was just created and is open; F_SETFD takes an integer.
        cvt(unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
        let kq = Arc::new(kq);
        let user = kevent(
            0,
            libc::EVFILT_USER,
            libc::EV_ADD | libc::EV_CLEAR,
            0,
            NOTIFY_TOKEN,
        );
        apply(&kq, &mut [user], &[])?;
        Ok((
            Kqueue {
                kq: kq.clone(),
                fds: HashSet::new(),
                buf: Vec::new(),
            },
            Signal::User(User(kq)),
        ))
    }

    fn register(&mut self, fd: RawSource, token: u64) -> io::Result<()> {
        if !fd_is_open(fd) {
            return Err(invalid_fd(fd));
        }
        if self.fds.contains(&fd) {
            return Err(already_registered(fd));
        }
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        let mut changes = [
            kevent(fd as usize, libc::EVFILT_READ, flags, 0, token),
            kevent(fd as usize, libc::EVFILT_WRITE, flags, 0, token),
        ];
        if let Err(e) = apply(&self.kq, &mut changes, &[libc::EPIPE]) {
            // One filter may have been added before the other failed: remove both, so
            // the fd is left as it was.
            let _ = self.remove_filters(fd);
            return Err(match e.raw_os_error() {
                Some(libc::EBADF) => invalid_fd(fd),
                _ => e,
            });
        }
        self.fds.insert(fd);
        Ok(())
    }

    fn deregister(&mut self, fd: RawSource) -> io::Result<()> {
        if !self.fds.remove(&fd) || !fd_is_open(fd) {
            return Err(not_registered(fd));
        }
        self.remove_filters(fd)
    }

    fn select(
        &mut self,
        events: &mut Self::Events,
        capacity: usize,
        timeout: Option<Duration>,
        _: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()> {
        if self.buf.capacity() < capacity {
            self.buf.reserve_exact(capacity - self.buf.len());
        }
        let max = self.buf.capacity().min(libc::c_int::MAX as usize);
        let ts = timeout.map(timespec);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: kq is open (field invariant); the output buffer has `max` writable
        // entries; `ts_ptr` is null or points to `ts`, alive across the call.
        let n = cvt(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                self.buf.as_mut_ptr(),
                max as _,
                ts_ptr,
            )
        })? as usize;
        // SAFETY: the kernel initialised the first `n` entries (n <= max <= capacity).
        unsafe { self.buf.set_len(n) };
        for ev in &self.buf {
            if ev.filter == libc::EVFILT_USER {
                events.push(Event {
                    token: NOTIFY_TOKEN,
                    readiness: Readiness::READABLE,
                });
                continue;
            }
            if let Some(readiness) = readiness(ev) {
                events.push(Event {
                    token: ev.udata as u64,
                    readiness,
                });
            }
        }
        // SAFETY: kevent is plain data; shrinking the length drops nothing.
        unsafe { self.buf.set_len(0) };
        Ok(())
    }
}

impl Kqueue {
    fn remove_filters(&self, fd: RawFd) -> io::Result<()> {
        let mut changes = [
            kevent(fd as usize, libc::EVFILT_READ, libc::EV_DELETE, 0, 0),
            kevent(fd as usize, libc::EVFILT_WRITE, libc::EV_DELETE, 0, 0),
        ];
        apply(&self.kq, &mut changes, &[libc::ENOENT])
    }
}

/// The readiness one `EVFILT_READ` or `EVFILT_WRITE` event reports (see the module
/// docs); `None` for a filter this backend never adds.
fn readiness(ev: &libc::kevent) -> Option<Readiness> {
    let eof = ev.flags & libc::EV_EOF != 0;
    let mut r = if ev.filter == libc::EVFILT_READ {
        match eof {
            true => Readiness::READABLE | Readiness::READ_CLOSED,
            false => Readiness::READABLE,
        }
    } else if ev.filter == libc::EVFILT_WRITE {
        match eof {
            true => Readiness::WRITABLE | Readiness::WRITE_CLOSED,
            false => Readiness::WRITABLE,
        }
    } else {
        return None;
    };
    if ev.flags & libc::EV_ERROR != 0 || (eof && ev.fflags != 0) {
        r |= Readiness::READABLE | Readiness::WRITABLE | Readiness::ERROR;
    }
    Some(r)
}
