//! Readiness registrations on the io_uring backend: fds that are not sockets registered
//! with `register_socket` (a signal self-pipe, the user's own fds) get one multishot
//! `IORING_OP_POLL_ADD` each, for read and write together. A multishot poll reports
//! each wakeup of the file, as epoll's `EPOLLET` does, so the readiness contract of the
//! other backends holds unchanged.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::Driver;
use super::ops::{Kind, borrow, reclaim, submit, target};
use crate::Readiness;
use crate::errors::{already_registered, invalid_fd, not_registered};
use crate::event::Event;
use crate::sys::fd_is_open;

/// A readiness registration: its fd and token, and whether it was deregistered.
#[repr(align(16))]
pub(crate) struct PollEntry {
    fd: RawFd,
    token: u64,
    removed: Cell<bool>,
}

/// Every event of a readiness registration, as epoll's registration asks for them.
fn poll_add(entry: &Rc<PollEntry>) -> squeue::Entry {
    let events = libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP | libc::POLLPRI;
    opcode::PollAdd::new(types::Fd(entry.fd), events as u32)
        .multi(true)
        .build()
        .user_data(submit(entry, Kind::Poll))
}

impl Driver {
    pub(crate) fn register(&self, fd: RawFd, token: u64) -> io::Result<()> {
        if !fd_is_open(fd) {
            return Err(invalid_fd(fd));
        }
        let mut polls = self.polls.borrow_mut();
        if polls.contains_key(&fd) {
            return Err(already_registered(fd));
        }
        let entry = Rc::new(PollEntry {
            fd,
            token,
            removed: Cell::new(false),
        });
        // SAFETY: a poll points to no memory; its entry is kept alive by the reference
        // in `user_data`. An fd closed before the submission makes it fail or, reused,
        // poll another file until the removal queued behind it: it moves no data.
        unsafe { self.push(&poll_add(&entry)) }?;
        polls.insert(fd, entry);
        Ok(())
    }

    pub(crate) fn deregister(&self, fd: RawFd) -> io::Result<()> {
        let entry = self
            .polls
            .borrow_mut()
            .remove(&fd)
            .ok_or_else(|| not_registered(fd))?;
        entry.removed.set(true);
        let sqe = opcode::PollRemove::new(target(&entry, Kind::Poll))
            .build()
            .user_data(Kind::Cancel.bare());
        // SAFETY: a removal points to no memory.
        unsafe { self.push(&sqe) }?;
        if !fd_is_open(fd) {
            // epoll's answer for an fd closed before its deregistration.
            return Err(not_registered(fd));
        }
        Ok(())
    }

    /// A completion of a readiness registration's poll.
    pub(crate) fn on_poll(&self, user_data: u64, res: i32, more: bool, events: &mut Vec<Event>) {
        // SAFETY: a poll's `user_data` holds a `PollEntry` reference until its last
        // completion, which is this one only if `!more` (then reclaimed below).
        let entry: &PollEntry = unsafe { borrow(user_data) };
        if !entry.removed.get() {
            let readiness = if res >= 0 {
                crate::sys::unix::epoll::readiness(res as u32)
            } else {
                Readiness::READABLE | Readiness::WRITABLE | Readiness::ERROR
            };
            events.push(Event {
                token: entry.token,
                readiness,
            });
        }
        if !more {
            // SAFETY: the last completion of this poll: its reference is given back once.
            let entry: Rc<PollEntry> = unsafe { reclaim(user_data) };
            if !entry.removed.get() && res >= 0 && !self.is_closing() {
                // The kernel ended the multishot poll (its completion queue overflowed,
                // say): poll again, at the next flush.
                self.defer(poll_add(&entry));
            }
        }
    }
}
