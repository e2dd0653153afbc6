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
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::waker::{Signal, pipe};
use crate::Readiness;
use crate::errors::{already_registered, invalid_fd, not_registered};
use crate::event::{Event, Interest, NOTIFY_TOKEN};
use crate::source::RawSource;
use crate::sys::{Config, Selector, cvt, fd_is_open};

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

impl Selector for Poll {
    type Events = Vec<Event>;
    const EDGE_TRIGGERED: bool = false;

    fn open(_: &Config) -> io::Result<(Poll, Signal)> {
        let (read, signal) = pipe::new()?;
        Ok((
            Poll {
                fds: HashMap::new(),
                pipe_read: read,
                pollfds: Vec::new(),
                tokens: Vec::new(),
            },
            signal,
        ))
    }

    fn register(&mut self, fd: RawSource, token: u64) -> io::Result<()> {
        if !fd_is_open(fd) {
            return Err(invalid_fd(fd));
        }
        if self.fds.contains_key(&fd) {
            return Err(already_registered(fd));
        }
        self.fds.insert(fd, token);
        Ok(())
    }

    fn deregister(&mut self, fd: RawSource) -> io::Result<()> {
        match self.fds.remove(&fd) {
            Some(_) if fd_is_open(fd) => Ok(()),
            _ => Err(not_registered(fd)),
        }
    }

    fn select(
        &mut self,
        events: &mut Self::Events,
        _: usize,
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
}

impl Poll {
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
    let ts = timeout.map(crate::sys::timespec);
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
            crate::sys::timeout_ms(timeout),
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
