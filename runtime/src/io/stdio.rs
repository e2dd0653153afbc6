//! [`stdin`], [`stdout`] and [`stderr`]: the process's standard streams as async streams.

use std::fmt;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use super::blocking::Stream;
use super::pipe::{Flavor, Pipe};
use super::sys::{self, FileKind};
use super::traits::{PollRead, PollWrite, impl_async_read, impl_async_write};

static STDIN: Stream = Stream::new(libc::STDIN_FILENO);
static STDOUT: Stream = Stream::new(libc::STDOUT_FILENO);
static STDERR: Stream = Stream::new(libc::STDERR_FILENO);

/// Which path a handle's bytes take.
enum Path {
    /// A fd of its own in the reactor: a pipe's private non-blocking description, or a
    /// duplicate of a socket read and written with `MSG_DONTWAIT`.
    Reactor(Pipe),
    /// The process-wide state of the stream, served by the blocking pool.
    Pool(&'static Stream),
}

impl Path {
    /// The reactor path if `fd` can take it without changing a shared file's flags,
    /// else the pool.
    fn choose(fd: RawFd, write: bool, pool: &'static Stream) -> Path {
        let reactor = match sys::file_kind(fd) {
            FileKind::Socket => sys::dup(fd).and_then(|fd| Pipe::new(fd, Flavor::Socket)),
            FileKind::Pipe => {
                sys::reopen_pipe_nonblocking(fd, write).and_then(|fd| Pipe::new(fd, Flavor::Pipe))
            }
            FileKind::Other => Err(io::ErrorKind::Unsupported.into()),
        };
        match reactor {
            Ok(pipe) => Path::Reactor(pipe),
            Err(_) => Path::Pool(pool),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Path::Reactor(_) => "reactor",
            Path::Pool(_) => "blocking pool",
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Path::Reactor(pipe) => pipe.poll_write(cx, buf),
            Path::Pool(stream) => stream.poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            Path::Reactor(pipe) => pipe.poll_write_vectored(cx, bufs),
            Path::Pool(stream) => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                stream.poll_write(cx, first)
            }
        }
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Path::Reactor(_) => Poll::Ready(Ok(())),
            Path::Pool(stream) => stream.poll_flush(cx),
        }
    }
}

/// The process's standard input, from [`stdin`].
///
/// It implements `futures_io::AsyncRead`, tokio's `AsyncRead` with feature `tokio-io`
/// and hyper's `Read` with feature `hyper`. See [`stdin`] for which path the bytes take,
/// and what a read dropped halfway means for them.
pub struct Stdin {
    path: Path,
}

/// The process's standard output, from [`stdout`]; see [`stdin`] for the paths. With the
/// blocking pool, a write returns once its bytes are handed over: `flush` waits for them.
pub struct Stdout {
    path: Path,
}

/// The process's standard error, from [`stderr`]; as [`Stdout`].
pub struct Stderr {
    path: Path,
}

/// A handle to the process's standard input, for the current loop.
///
/// **Which path.** A pipe or a socket goes through the reactor without blocking, and
/// without changing flags that other processes see: `O_NONBLOCK` lives on the open file
/// description, which a pipe shares with every process that inherited it (a shell's
/// pipeline, a parent), so setting it there could make another process's blocking read
/// fail with `EAGAIN`. So a pipe is reopened through `/proc/self/fd` (Linux), which gives
/// a new, private description of the same pipe, and that one is made non-blocking; a
/// socket is duplicated and read with `MSG_DONTWAIT`, which needs no flag at all.
/// Anything else goes through the blocking pool with bounded buffering, its flags
/// untouched: a tty (never made non-blocking, since the shell and other programs share
/// it), a regular file, or a pipe on a platform without `/proc` (BSD, macOS).
///
/// **A read dropped halfway.** On the reactor path a read that is dropped has taken no
/// byte. On the pool path the pool thread may already be in its `read(2)`; the bytes it
/// gets are kept in a buffer shared by every [`Stdin`] of the process, and the next read
/// (through any handle) returns them first. They are lost only if the process exits
/// before reading again.
///
/// Outside a runtime the handle takes the pool path, and its reads fail until used
/// inside one.
///
/// ```no_run
/// # runtime::Runtime::new()?.block_on(async {
/// use futures_io::AsyncRead;
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// let mut stdin = runtime::io::stdin();
/// let mut buf = [0u8; 1024];
/// let n = poll_fn(|cx| Pin::new(&mut stdin).poll_read(cx, &mut buf)).await?;
/// println!("read {n} bytes");
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn stdin() -> Stdin {
    Stdin {
        path: Path::choose(libc::STDIN_FILENO, false, &STDIN),
    }
}

/// A handle to the process's standard output, for the current loop; the paths are
/// those of [`stdin`]. Make one and keep it: each call opens (and registers) a new fd
/// when the stream is a pipe or a socket.
pub fn stdout() -> Stdout {
    Stdout {
        path: Path::choose(libc::STDOUT_FILENO, true, &STDOUT),
    }
}

/// A handle to the process's standard error; as [`stdout`].
pub fn stderr() -> Stderr {
    Stderr {
        path: Path::choose(libc::STDERR_FILENO, true, &STDERR),
    }
}

impl Stdin {
    /// A handle that takes the blocking pool whatever the stream is.
    #[doc(hidden)]
    pub fn through_pool() -> Stdin {
        Stdin {
            path: Path::Pool(&STDIN),
        }
    }

    /// `"reactor"` or `"blocking pool"`: which path this handle's bytes take.
    pub fn path_name(&self) -> &'static str {
        self.path.name()
    }
}

impl PollRead for Stdin {
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        match &self.path {
            Path::Reactor(pipe) => pipe.poll_read(cx, buf),
            Path::Pool(stream) => stream.poll_read(cx, buf),
        }
    }
}

macro_rules! writer {
    ($ty:ident) => {
        impl $ty {
            /// `"reactor"` or `"blocking pool"`: which path this handle's bytes take.
            pub fn path_name(&self) -> &'static str {
                self.path.name()
            }
        }

        impl PollWrite for $ty {
            fn poll_write_bytes(
                &mut self,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.path.poll_write(cx, buf)
            }

            fn poll_write_slices(
                &mut self,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                self.path.poll_write_vectored(cx, bufs)
            }

            fn poll_flush_bytes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.path.poll_flush(cx)
            }

            fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // The process's stream stays open; closing a handle only flushes it.
                self.path.poll_flush(cx)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("path", &self.path.name())
                    .finish()
            }
        }

        impl_async_write!($ty);
    };
}

writer!(Stdout);
writer!(Stderr);

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin")
            .field("path", &self.path.name())
            .finish()
    }
}

impl_async_read!(Stdin);
