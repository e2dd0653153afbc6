//! The self-pipe wakeup of the poll backend: the notifier writes a byte, the wait
//! drains them.

use std::io;
#[cfg(evloop_apple)]
use std::os::fd::AsRawFd;
use std::os::fd::{FromRawFd, OwnedFd};

use super::Signal;
use crate::sys::cvt;

/// The read end of a new self-pipe, and the signal that writes its other end.
pub(crate) fn new() -> io::Result<(OwnedFd, Signal)> {
    let (read, write) = pipe()?;
    Ok((read, Signal::Pipe(write)))
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
