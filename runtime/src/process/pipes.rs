//! The child's piped standard streams: [`ChildStdin`], [`ChildStdout`], [`ChildStderr`].

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::task::{Context, Poll};

use crate::io::pipe::{Flavor, Pipe};
use crate::io::sys;
use crate::io::traits::{PollRead, PollWrite, impl_async_read, impl_async_write};

/// Makes our end of a pipe to the child non-blocking and registers it. Our end is an open
/// file description of its own (the child holds the other end's), created close-on-exec,
/// so `O_NONBLOCK` on it reaches no other process.
fn pipe_from(fd: OwnedFd) -> io::Result<Pipe> {
    sys::set_nonblocking(fd.as_fd())?;
    Pipe::new(fd, Flavor::Pipe)
}

/// The write end of a child's stdin ([`Command::stdin`](super::Command::stdin) with
/// [`Stdio::piped`](std::process::Stdio::piped)).
///
/// It implements `futures_io::AsyncWrite`, tokio's `AsyncWrite` with feature `tokio-io`
/// and hyper's `Write` with feature `hyper`. Writing after the child is gone is an error
/// (`BrokenPipe`), never a `SIGPIPE`. Closing it (`close`, tokio's `shutdown`, or drop)
/// gives the child end of file; writes after a close fail with `NotConnected`.
/// Like every evloop I/O type it belongs to the loop that made it.
pub struct ChildStdin {
    pipe: Option<Pipe>,
}

/// The read end of a child's stdout; reads see end of file once the child (and every
/// process it passed the pipe to) has closed it.
///
/// It implements `futures_io::AsyncRead`, tokio's `AsyncRead` with feature `tokio-io`
/// and hyper's `Read` with feature `hyper`.
pub struct ChildStdout {
    pipe: Pipe,
}

/// The read end of a child's stderr; see [`ChildStdout`].
pub struct ChildStderr {
    pipe: Pipe,
}

impl ChildStdin {
    /// Takes over a std pipe end, on the current thread's reactor.
    pub fn from_std(inner: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: Some(pipe_from(OwnedFd::from(inner))?),
        })
    }

    /// Deregisters and gives back the fd (still non-blocking).
    pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
        match self.pipe {
            Some(pipe) => pipe.into_fd(),
            None => Err(closed()),
        }
    }

    fn pipe(&self) -> io::Result<&Pipe> {
        self.pipe.as_ref().ok_or_else(closed)
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the child's stdin was closed")
}

impl PollWrite for ChildStdin {
    fn poll_write_bytes(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.pipe() {
            Ok(pipe) => pipe.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_slices(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.pipe() {
            Ok(pipe) => pipe.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush_bytes(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every write went to the kernel at once: nothing is held back.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown_write(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        drop(self.pipe.take());
        Poll::Ready(Ok(()))
    }
}

macro_rules! reader {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// Takes over a std pipe end, on the current thread's reactor.
            pub fn from_std(inner: $std) -> io::Result<$ty> {
                Ok($ty {
                    pipe: pipe_from(OwnedFd::from(inner))?,
                })
            }

            /// Deregisters and gives back the fd (still non-blocking).
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.pipe.into_fd()
            }
        }

        impl PollRead for $ty {
            fn poll_read_uninit(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut [MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_read(cx, buf)
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.fd()
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.fd().as_raw_fd()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.as_raw_fd())
                    .finish()
            }
        }

        impl_async_read!($ty);

        impl TryFrom<$ty> for Stdio {
            type Error = io::Error;

            /// Hands the pipe to another child, as its stdin, stdout or stderr: it is
            /// deregistered and made blocking again, as a child expects.
            fn try_from(pipe: $ty) -> io::Result<Stdio> {
                into_stdio(pipe.into_owned_fd()?)
            }
        }
    };
}

/// A pipe end of ours, blocking again, to give to a child.
fn into_stdio(fd: OwnedFd) -> io::Result<Stdio> {
    sys::set_blocking(fd.as_fd())?;
    Ok(Stdio::from(fd))
}

impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    /// Hands the pipe to another child; see the readers' conversion.
    fn try_from(pipe: ChildStdin) -> io::Result<Stdio> {
        into_stdio(pipe.into_owned_fd()?)
    }
}

reader!(ChildStdout, std::process::ChildStdout);
reader!(ChildStderr, std::process::ChildStderr);

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.pipe.as_ref().map(|p| p.fd().as_raw_fd()))
            .finish()
    }
}

impl_async_write!(ChildStdin);

/// Reads everything until end of file, appending to `out`.
pub(crate) fn poll_read_to_end(
    reader: &mut impl PollRead,
    cx: &mut Context<'_>,
    out: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(8192);
        }
        let spare = out.spare_capacity_mut();
        match reader.poll_read_uninit(cx, spare) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(n)) => {
                // SAFETY: the reader initialised the first `n` bytes of the spare capacity.
                unsafe { out.set_len(out.len() + n) };
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}
