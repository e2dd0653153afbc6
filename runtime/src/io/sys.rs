//! The fd calls that `io` and `process` share, and the one place that names a platform.
//!
//! # SIGPIPE
//!
//! A `write(2)` to a pipe whose read end is closed raises `SIGPIPE`, whose default action
//! ends the process. Sockets have `MSG_NOSIGNAL` for this; pipes have nothing. So every
//! pipe write here runs with `SIGPIPE` blocked in the calling thread: the write then fails
//! with `EPIPE`, and the signal it raised is left pending on the thread, where it is
//! taken back with `sigwait` before the old mask returns. A thread that had `SIGPIPE`
//! blocked already keeps its mask and its pending signals untouched (the dance is
//! skipped). It costs two `pthread_sigmask` calls per write, a small price next to
//! ending the process.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Turns a `-1` return into the thread's `errno`.
fn cvt(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `read(2)` into possibly uninitialised memory.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe `buf`, writable memory the kernel only
    // writes to; `fd` is open for the borrow's lifetime.
    cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// `write(2)`, never raising `SIGPIPE` (see the module's documentation).
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    without_sigpipe(|| {
        // SAFETY: the pointer and length describe `buf`, readable memory; `fd` is open
        // for the borrow's lifetime.
        cvt(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
    })
}

/// The most buffers one `writev` is given; the rest wait for the next call.
const MAX_IOVECS: usize = 64;

/// `writev(2)`, never raising `SIGPIPE`.
pub(crate) fn write_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let bufs = &bufs[..bufs.len().min(MAX_IOVECS)];
    without_sigpipe(|| {
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix, and `bufs` holds at
        // most `MAX_IOVECS` (below every platform's `IOV_MAX`) valid slices.
        cvt(unsafe {
            libc::writev(
                fd.as_raw_fd(),
                bufs.as_ptr().cast(),
                bufs.len() as libc::c_int,
            )
        })
    })
}

/// `recv(2)` with `MSG_DONTWAIT`: non-blocking without `O_NONBLOCK` on the shared file.
pub(crate) fn recv_nowait(fd: BorrowedFd<'_>, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: as in `read`.
    cvt(unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    })
}

/// `send(2)` with `MSG_DONTWAIT`, never raising `SIGPIPE`.
pub(crate) fn send_nowait(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        // SAFETY: as in `write`.
        cvt(unsafe {
            libc::send(
                fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    without_sigpipe(|| {
        // SAFETY: as in `write`.
        cvt(unsafe {
            libc::send(
                fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        })
    })
}

/// Runs a write with `SIGPIPE` blocked, and takes back the `SIGPIPE` an `EPIPE` raised.
fn without_sigpipe(write: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
    let mut pipe = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: `sigemptyset` initialises the set, `sigaddset` adds a valid signal to it,
    // and `pthread_sigmask` reads `pipe` and fills `old`. Each call only fails for an
    // invalid signal or `how`, which these are not.
    let old = unsafe {
        libc::sigemptyset(pipe.as_mut_ptr());
        libc::sigaddset(pipe.as_mut_ptr(), libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, pipe.as_ptr(), old.as_mut_ptr());
        old.assume_init()
    };
    // SAFETY: `old` was filled by `pthread_sigmask` above.
    if unsafe { libc::sigismember(&old, libc::SIGPIPE) } == 1 {
        // Blocked by the caller already: its mask, and what is pending, stay its own.
        return write();
    }
    let result = write();
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) {
        let mut pending = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigpending` fills `pending`; `sigwait` returns at once because the
        // signal it waits for is pending, and it is blocked in this thread (above), so
        // it takes this thread's `SIGPIPE` and no other.
        unsafe {
            if libc::sigpending(pending.as_mut_ptr()) == 0
                && libc::sigismember(pending.as_ptr(), libc::SIGPIPE) == 1
            {
                let mut signum = 0;
                libc::sigwait(pipe.as_ptr(), &mut signum);
            }
        }
    }
    // SAFETY: restores the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// Sets `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_flag(fd, libc::O_NONBLOCK, true)
}

/// Clears `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_flag(fd, libc::O_NONBLOCK, false)
}

fn set_flag(fd: BorrowedFd<'_>, flag: libc::c_int, on: bool) -> io::Result<()> {
    // SAFETY: `F_GETFL`/`F_SETFL` read and write flags of an open fd; no memory involved.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let new = if on { flags | flag } else { flags & !flag };
        if new != flags && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Waits, blocking, until `fd` is readable (`POLLIN`) or writable (`POLLOUT`): for a pool
/// thread that met `EAGAIN` on an fd someone else made non-blocking.
pub(crate) fn wait_fd(fd: RawFd, events: libc::c_short) {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid `pollfd`; an error just returns to the caller's retry.
    unsafe { libc::poll(&mut pfd, 1, -1) };
}

/// What kind of file an inherited standard stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Pipe,
    Socket,
    /// A tty, a regular file, a device, or a closed fd.
    Other,
}

pub(crate) fn file_kind(fd: RawFd) -> FileKind {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `fstat` fills `st` on success; a closed fd is `EBADF`.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return FileKind::Other;
    }
    // SAFETY: `fstat` succeeded, so `st` is initialised.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    match mode {
        libc::S_IFIFO => FileKind::Pipe,
        libc::S_IFSOCK => FileKind::Socket,
        _ => FileKind::Other,
    }
}

/// A new close-on-exec fd for the same open file description (`F_DUPFD_CLOEXEC`).
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: `F_DUPFD_CLOEXEC` makes a new fd or fails; no memory involved.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just made and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A new, private, non-blocking open file description of the pipe behind `fd`, so that
/// `O_NONBLOCK` never reaches the description other processes share. Linux only: it
/// opens `/proc/self/fd/N`, which for a pipe makes a new description of the same pipe.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn reopen_pipe_nonblocking(fd: RawFd, write: bool) -> io::Result<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).map_err(io::Error::other)?;
    let mode = if write {
        libc::O_WRONLY
    } else {
        libc::O_RDONLY
    };
    // SAFETY: `path` is a NUL-terminated string; `open` makes a new fd or fails.
    let new = unsafe {
        libc::open(
            path.as_ptr(),
            mode | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
        )
    };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just made and nothing else owns it.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    // The path might name something else than the pipe by now (fd reused): check.
    if file_kind(new.as_raw_fd()) != FileKind::Pipe {
        return Err(io::Error::other("standard stream is no longer a pipe"));
    }
    Ok(new)
}

/// Elsewhere a pipe cannot be given a private open file description.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn reopen_pipe_nonblocking(_fd: RawFd, _write: bool) -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "a pipe's open file description cannot be duplicated privately here",
    ))
}
