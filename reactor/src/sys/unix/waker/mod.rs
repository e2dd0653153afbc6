//! The OS objects a [`Notifier`](crate::Notifier) writes to wake a blocked wait, one per
//! mechanism: an eventfd (epoll, io_uring), a self-pipe (poll) and kqueue's
//! `EVFILT_USER` event. Each backend opens its own and hands the writing side to the
//! notifier as a [`Signal`]; the park/notify protocol itself is `notifier.rs`'s.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

#[cfg(target_os = "linux")]
pub(crate) mod eventfd;
#[cfg(evloop_kqueue)]
pub(crate) mod kqueue;
pub(crate) mod pipe;

/// The writing side of a backend's wakeup object.
pub(crate) enum Signal {
    /// An eventfd: write an 8-byte 1.
    #[cfg(target_os = "linux")]
    EventFd(OwnedFd),
    /// The write end of a non-blocking self-pipe: write one byte.
    Pipe(OwnedFd),
    /// The kqueue itself: trigger its `EVFILT_USER` event.
    #[cfg(evloop_kqueue)]
    User(kqueue::User),
}

impl Signal {
    /// Wakes the wait. A full pipe or a saturated eventfd already guarantees a wakeup,
    /// so `WouldBlock` is success.
    pub(crate) fn raise(&self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Signal::EventFd(fd) => write_wakeup(fd, &1u64.to_ne_bytes()),
            Signal::Pipe(fd) => write_wakeup(fd, &[1u8]),
            #[cfg(evloop_kqueue)]
            Signal::User(user) => user.trigger(),
        }
    }
}

fn write_wakeup(fd: &OwnedFd, buf: &[u8]) -> io::Result<()> {
    // SAFETY: `fd` is owned by the signal and open for its whole life; `buf` is a
    // readable buffer of the length passed.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n == -1 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::WouldBlock {
            return Err(err);
        }
    }
    Ok(())
}
