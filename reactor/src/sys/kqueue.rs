//! The kqueue backend (macOS, iOS, FreeBSD, DragonFly, OpenBSD).
//!
//! Written against libc's definitions. It is compiled only on those systems and is not
//! exercised by the Linux test suite on which evloop is developed.
//!
//! Each fd gets an `EVFILT_READ` and an `EVFILT_WRITE` filter with `EV_CLEAR` (edge
//! triggered) in one `kevent` call; `EV_EOF` maps to the closed bits. The notifier is an
//! `EVFILT_USER` event triggered with `NOTE_TRIGGER` on the same kqueue.

use std::collections::HashSet;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::{Event, NOTIFY_TOKEN, cvt};
use crate::Readiness;
use crate::notifier::Signal;

#[derive(Debug)]
pub(crate) struct Kqueue {
    /// Invariant: an open kqueue, shared with the notifier that triggers `EVFILT_USER`.
    kq: Arc<OwnedFd>,
    /// kqueue's `EV_ADD` on a known fd silently modifies it; this set reports
    /// `AlreadyExists` and `NotFound` exactly as epoll does.
    fds: HashSet<RawFd>,
    buf: Vec<libc::kevent>,
}

fn kevent(ident: usize, filter: i16, flags: u16, fflags: u32, udata: u64) -> libc::kevent {
    // SAFETY: kevent is plain data; all-zero is a valid value for every field.
    let mut ev: libc::kevent = unsafe { std::mem::zeroed() };
    ev.ident = ident as _;
    ev.filter = filter as _;
    ev.flags = flags as _;
    ev.fflags = fflags as _;
    ev.udata = udata as _;
    ev
}

impl Kqueue {
    pub(crate) fn new() -> io::Result<(Kqueue, Signal)> {
        // SAFETY: kqueue takes no arguments and returns a new fd we own on success.
        let kq = unsafe { OwnedFd::from_raw_fd(cvt(libc::kqueue())?) };
        // SAFETY: kq was just created and is open.
        unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let kq = Arc::new(kq);
        let user = kevent(
            0,
            libc::EVFILT_USER,
            libc::EV_ADD | libc::EV_CLEAR,
            0,
            NOTIFY_TOKEN,
        );
        submit(&kq, &[user])?;
        Ok((
            Kqueue {
                kq: kq.clone(),
                fds: HashSet::new(),
                buf: Vec::new(),
            },
            Signal::kqueue(kq),
        ))
    }

    pub(crate) fn register(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        if !super::fd_is_open(fd) {
            return Err(super::invalid_fd(fd));
        }
        if self.fds.contains(&fd) {
            return Err(super::already_registered(fd));
        }
        let flags = libc::EV_ADD | libc::EV_CLEAR;
        let changes = [
            kevent(fd as usize, libc::EVFILT_READ, flags, 0, token),
            kevent(fd as usize, libc::EVFILT_WRITE, flags, 0, token),
        ];
        submit(&self.kq, &changes)?;
        self.fds.insert(fd);
        Ok(())
    }

    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        if !self.fds.remove(&fd) || !super::fd_is_open(fd) {
            return Err(super::not_registered(fd));
        }
        let changes = [
            kevent(fd as usize, libc::EVFILT_READ, libc::EV_DELETE, 0, 0),
            kevent(fd as usize, libc::EVFILT_WRITE, libc::EV_DELETE, 0, 0),
        ];
        match submit(&self.kq, &changes) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(super::not_registered(fd)),
            other => other,
        }
    }

    pub(crate) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        capacity: usize,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        if self.buf.capacity() < capacity {
            self.buf.reserve_exact(capacity - self.buf.len());
        }
        let ts = timeout.map(super::timespec);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: kq is open (field invariant); the output buffer has `capacity` writable
        // entries; `ts_ptr` is null or points to `ts`, alive across the call.
        let n = cvt(unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                std::ptr::null(),
                0,
                self.buf.as_mut_ptr(),
                self.buf.capacity() as _,
                ts_ptr,
            )
        })? as usize;
        // SAFETY: the kernel initialised the first `n` entries.
        unsafe { self.buf.set_len(n) };
        for ev in &self.buf {
            let token = ev.udata as u64;
            if ev.filter == libc::EVFILT_USER {
                events.push(Event {
                    token: NOTIFY_TOKEN,
                    readiness: Readiness::READABLE,
                });
                continue;
            }
            let mut r = Readiness::EMPTY;
            let eof = ev.flags & libc::EV_EOF != 0;
            if ev.filter == libc::EVFILT_READ {
                r |= Readiness::READABLE;
                if eof {
                    r |= Readiness::READ_CLOSED;
                }
            } else if ev.filter == libc::EVFILT_WRITE {
                r |= Readiness::WRITABLE;
                if eof {
                    r |= Readiness::WRITE_CLOSED;
                }
            }
            if ev.flags & libc::EV_ERROR != 0 {
                r |= Readiness::READABLE | Readiness::WRITABLE | Readiness::ERROR;
            }
            events.push(Event {
                token,
                readiness: r,
            });
        }
        // SAFETY: kevent is plain data; shrinking the length drops nothing.
        unsafe { self.buf.set_len(0) };
        Ok(())
    }
}

/// Applies `changes` with `EV_RECEIPT`-free semantics: any error is returned.
fn submit(kq: &OwnedFd, changes: &[libc::kevent]) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: kq is open; `changes` is a valid slice of kevents of the length passed; no
    // events are requested back, and the zero timeout means the call does not block.
    cvt(unsafe {
        libc::kevent(
            kq.as_raw_fd(),
            changes.as_ptr(),
            changes.len() as _,
            std::ptr::null_mut(),
            0,
            &ts,
        )
    })?;
    Ok(())
}

/// Triggers the `EVFILT_USER` notifier event on `kq`.
pub(crate) fn trigger(kq: &OwnedFd) -> io::Result<()> {
    let ev = kevent(0, libc::EVFILT_USER, 0, libc::NOTE_TRIGGER, NOTIFY_TOKEN);
    submit(kq, &[ev])
}
