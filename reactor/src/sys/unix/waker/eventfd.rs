//! The eventfd wakeup of epoll and io_uring: a counter the notifier adds 1 to.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::Signal;
use crate::sys::cvt;

/// A close-on-exec eventfd (non-blocking when `nonblocking`; io_uring reads it with a
/// blocking read that the ring waits on), and the signal that writes it.
pub(crate) fn new(nonblocking: bool) -> io::Result<(OwnedFd, Signal)> {
    let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
    // SAFETY: eventfd takes an initial value and flags; on success the fd is ours.
    let fd = unsafe { OwnedFd::from_raw_fd(cvt(libc::eventfd(0, flags))?) };
    let signal = Signal::EventFd(fd.try_clone()?);
    Ok((fd, signal))
}
