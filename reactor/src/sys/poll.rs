//! The poll backend: every unix.
//!
//! poll(2) is level-triggered and keeps no state in the kernel, so each wait builds its
//! `pollfd` array afresh from the registrations that have a waiting waker: a direction
//! with a stored waker is polled, a direction without one is not. A registration whose
//! task cleared its readiness and stored a waker is therefore always polled again, so no
//! wakeup is lost after a short read. On Linux the wait uses `ppoll` for nanosecond
//! timeouts; elsewhere `poll` with the timeout rounded up to the next millisecond. The
//! notifier is a self-pipe whose read end is always polled.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::{Event, Interest, NOTIFY_TOKEN, cvt};
use crate::Readiness;
use crate::notifier::Signal;

#[derive(Debug)]
pub(crate) struct Poll {
    /// Registered fds and their tokens. poll(2) keeps no kernel state, so this map is
    /// what reports `AlreadyExists` and `NotFound` exactly as epoll does.
    fds: HashMap<RawFd, u64>,
    /// Invariant: the read end of the notifier's pipe, open and non-blocking.
    pipe_read: OwnedFd,
    pollfds: Vec<libc::pollfd>,
    tokens: Vec<u64>,
}

impl Poll {
    pub(crate) fn new() -> io::Result<(Poll, Signal)> {
        let (read, write) = pipe()?;
        Ok((
            Poll {
                fds: HashMap::new(),
                pipe_read: read,
                pollfds: Vec::new(),
                tokens: Vec::new(),
            },
            Signal::pipe(write),
        ))
    }

    pub(crate) fn register(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        if !super::fd_is_open(fd) {
            return Err(super::invalid_fd(fd));
        }
        if self.fds.contains_key(&fd) {
            return Err(super::already_registered(fd));
        }
        self.fds.insert(fd, token);
        Ok(())
    }

    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        match self.fds.remove(&fd) {
            Some(_) if super::fd_is_open(fd) => Ok(()),
            _ => Err(super::not_registered(fd)),
        }
    }

    pub(crate) fn wait(
        &mut self,
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
        interests: &dyn Fn(u64) -> Interest,
    ) -> io::Result<()> {
        self.pollfds.clear();
        self.tokens.clear();
        self.pollfds.push(libc::pollfd {
            fd: self.pipe_read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        self.tokens.push(NOTIFY_TOKEN);
        for (&fd, &token) in &self.fds {
            let interest = interests(token);
            let mut flags = 0;
            if interest.read {
                flags |= READ_EVENTS;
            }
            if interest.write {
                flags |= libc::POLLOUT;
            }
            if flags != 0 {
                self.pollfds.push(libc::pollfd {
                    fd,
                    events: flags,
                    revents: 0,
                });
                self.tokens.push(token);
            }
        }
        sys_poll(&mut self.pollfds, timeout)?;
        for (pfd, &token) in self.pollfds.iter().zip(&self.tokens) {
            if pfd.revents == 0 {
                continue;
            }
            if token == NOTIFY_TOKEN {
                self.drain_pipe();
                events.push(Event {
                    token,
                    readiness: Readiness::READABLE,
                });
            } else {
                events.push(Event {
                    token,
                    readiness: readiness(pfd.revents),
                });
            }
        }
        Ok(())
    }

    fn drain_pipe(&self) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: pipe_read is open (field invariant) and non-blocking; `buf` is a
            // writable buffer of the length passed.
            let n = unsafe {
                libc::read(
                    self.pipe_read.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n <= 0 {
                break;
            }
        }
    }
}

/// What a reader polls for. Linux adds `POLLRDHUP`, so a peer's half-close is seen as
/// read-closed; elsewhere it shows as `POLLIN` (a read then returns 0) or `POLLHUP`.
#[cfg(evloop_epoll)]
const READ_EVENTS: libc::c_short = libc::POLLIN | libc::POLLRDHUP;
#[cfg(not(evloop_epoll))]
const READ_EVENTS: libc::c_short = libc::POLLIN;

/// Whether `revents` reports a read hangup (`POLLRDHUP`, Linux only).
#[cfg(evloop_epoll)]
fn is_read_hangup(revents: libc::c_short) -> bool {
    revents & libc::POLLRDHUP != 0
}
#[cfg(not(evloop_epoll))]
fn is_read_hangup(_revents: libc::c_short) -> bool {
    false
}

#[cfg(evloop_epoll)]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    let ts = timeout.map(super::timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `fds` is a valid, writable slice of pollfd of the length passed; `ts_ptr`
    // is null (infinite) or points to `ts`, alive across the call; a null sigmask keeps
    // the current mask.
    cvt(unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            std::ptr::null(),
        )
    })?;
    Ok(())
}

#[cfg(not(evloop_epoll))]
fn sys_poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<()> {
    // SAFETY: `fds` is a valid, writable slice of pollfd of the length passed.
    cvt(unsafe {
        libc::poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            super::timeout_ms(timeout),
        )
    })?;
    Ok(())
}

fn readiness(revents: libc::c_short) -> Readiness {
    let mut r = Readiness::EMPTY;
    if revents & (libc::POLLIN | libc::POLLPRI) != 0 {
        r |= Readiness::READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        r |= Readiness::WRITABLE;
    }
    if is_read_hangup(revents) {
        r |= Readiness::READABLE | Readiness::READ_CLOSED;
    }
    if revents & libc::POLLHUP != 0 {
        r |= Readiness::READABLE
            | Readiness::WRITABLE
            | Readiness::READ_CLOSED
            | Readiness::WRITE_CLOSED;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        r |= Readiness::READABLE | Readiness::WRITABLE | Readiness::ERROR;
    }
    r
}

/// A non-blocking, close-on-exec pipe: `pipe2` where the system has it, else `pipe`
/// and then `fcntl` on each end (Apple's systems lack `pipe2`).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    #[cfg(not(evloop_apple))]
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    #[cfg(evloop_apple)]
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both fds were just created and are owned by nobody else.
    let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(evloop_apple)]
    for end in [&ends.0, &ends.1] {
        let fd = end.as_raw_fd();
        // SAFETY: `fd` is open (owned by `ends`); F_GETFL, F_SETFL and F_SETFD take
        // integers. On an error both ends are closed by `ends`' drop.
        unsafe {
            let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
            cvt(libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
            cvt(libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
        }
    }
    Ok(ends)
}
