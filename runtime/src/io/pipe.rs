//! `Pipe`: an fd registered with the current reactor, read and written without blocking.
//!
//! It is the read or write end of a pipe (non-blocking on its own open file description),
//! or a socket that is read with `MSG_DONTWAIT` so that its shared description's flags
//! stay untouched. Each operation is one syscall through
//! [`Registration::poll_read_io`] or [`Registration::poll_write_io`], which wait for
//! readiness, spend the cooperative budget and store the task's waker on `WouldBlock`.

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::task::{Context, Poll};

use reactor::{Handle, Registration};

use super::sys;

/// How the bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `read`/`write` on an fd whose description is non-blocking and ours alone.
    Pipe,
    /// `recv`/`send` with `MSG_DONTWAIT`, on a socket whose flags are left alone.
    Socket,
}

/// An fd registered with the reactor of the thread that made it.
pub(crate) struct Pipe {
    // Declared before `fd`, so it deregisters before the fd closes.
    registration: Registration,
    fd: OwnedFd,
    flavor: Flavor,
}

impl Pipe {
    /// Registers `fd` with the current reactor. A `Flavor::Pipe` fd must already be
    /// non-blocking.
    pub(crate) fn new(fd: OwnedFd, flavor: Flavor) -> io::Result<Pipe> {
        let registration = Handle::try_current()?.register(fd.as_raw_fd())?;
        Ok(Pipe {
            registration,
            fd,
            flavor,
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Deregisters and gives the fd back.
    pub(crate) fn into_fd(self) -> io::Result<OwnedFd> {
        let Pipe {
            registration, fd, ..
        } = self;
        registration.deregister()?;
        Ok(fd)
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len();
        self.registration.poll_read_io(cx, || {
            let n = match self.flavor {
                Flavor::Pipe => sys::read(self.fd(), buf)?,
                Flavor::Socket => sys::recv_nowait(self.fd(), buf)?,
            };
            // Shorter than asked: the pipe is empty, wait for the next edge.
            if n > 0 && n < len {
                self.registration.clear_after_short_read();
            }
            Ok(n)
        })
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.registration.poll_write_io(cx, || {
            let n = match self.flavor {
                Flavor::Pipe => sys::write(self.fd(), buf)?,
                Flavor::Socket => sys::send_nowait(self.fd(), buf)?,
            };
            if n < buf.len() {
                self.registration.clear_after_short_write();
            }
            Ok(n)
        })
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.flavor == Flavor::Socket {
            // `MSG_DONTWAIT` has no `writev`; the first non-empty buffer goes alone.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        self.registration
            .poll_write_io(cx, || sys::write_vectored(self.fd(), bufs))
    }
}

impl fmt::Debug for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe")
            .field("fd", &self.fd.as_raw_fd())
            .field("flavor", &self.flavor)
            .finish()
    }
}
