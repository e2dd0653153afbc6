//! The standard streams through the blocking pool: for a tty, a regular file, or a pipe
//! that cannot be given a private non-blocking description.
//!
//! Each stream has one process-wide state, so that every handle (on any loop) sees the
//! same bytes in order, and at most one pool job per stream is in flight:
//!
//! - **Reading**: a read asks the pool for one `read(2)` of at most [`MAX_CHUNK`] bytes
//!   (bounded buffering) and waits. The bytes land in the shared buffer, and every read,
//!   through any handle, takes from that buffer first. So a read future dropped halfway
//!   (a timeout, a `select`) loses nothing: the bytes its job reads wait for the next
//!   read. They are lost only if no read comes again before the process exits. (tokio
//!   keeps them in the handle, and drops them with it.)
//! - **Writing**: a write copies at most [`MAX_CHUNK`] bytes, hands them to the pool and
//!   returns at once; the next write, or a flush, waits until that job is done, and
//!   reports its error if it failed. Bytes a write accepted reach the file even if the
//!   handle is dropped, unless the process exits first: flush before exiting.
//!
//! The fd's flags are never touched: a tty shared with the shell stays blocking.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::sys;

/// The most one pool job reads or writes.
pub(crate) const MAX_CHUNK: usize = 64 * 1024;

/// What a finished read job left.
enum ReadOutcome {
    Bytes(VecDeque<u8>),
    Eof,
    Error(io::Error),
}

#[derive(Default)]
struct State {
    /// A read job's result not yet taken.
    outcome: Option<ReadOutcome>,
    /// A job (read or write) is queued or running.
    in_flight: bool,
    /// A write job's error, reported by the next write or flush.
    error: Option<io::Error>,
    wakers: Vec<Waker>,
}

/// One standard stream's shared state.
pub(crate) struct Stream {
    fd: RawFd,
    state: Mutex<State>,
}

impl Stream {
    pub(crate) const fn new(fd: RawFd) -> Stream {
        Stream {
            fd,
            state: Mutex::new(State {
                outcome: None,
                in_flight: false,
                error: None,
                wakers: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn poll_read(
        &'static self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut state = self.lock();
        match state.outcome.take() {
            Some(ReadOutcome::Bytes(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                for (dst, src) in buf.iter_mut().zip(bytes.drain(..n)) {
                    dst.write(src);
                }
                if !bytes.is_empty() {
                    state.outcome = Some(ReadOutcome::Bytes(bytes));
                }
                return Poll::Ready(Ok(n));
            }
            Some(ReadOutcome::Eof) => return Poll::Ready(Ok(0)),
            Some(ReadOutcome::Error(e)) => return Poll::Ready(Err(e)),
            None => {}
        }
        add_waker(&mut state.wakers, cx.waker());
        if state.in_flight {
            return Poll::Pending;
        }
        in_runtime()?;
        state.in_flight = true;
        // Unlocked before the pool is asked: a job it drops at once locks the state.
        drop(state);
        let want = buf.len().min(MAX_CHUNK);
        self.start(Kind::Read, move |stream| {
            let outcome = match read_blocking(stream.fd, want) {
                Ok(bytes) if bytes.is_empty() => ReadOutcome::Eof,
                Ok(bytes) => ReadOutcome::Bytes(bytes.into()),
                Err(e) => ReadOutcome::Error(e),
            };
            stream.lock().outcome = Some(outcome);
        });
        Poll::Pending
    }

    pub(crate) fn poll_write(
        &'static self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.lock();
        if let Some(e) = state.error.take() {
            return Poll::Ready(Err(e));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if state.in_flight {
            add_waker(&mut state.wakers, cx.waker());
            return Poll::Pending;
        }
        in_runtime()?;
        state.in_flight = true;
        drop(state);
        let chunk = buf[..buf.len().min(MAX_CHUNK)].to_vec();
        let n = chunk.len();
        self.start(Kind::Write, move |stream| {
            if let Err(e) = write_blocking(stream.fd, &chunk) {
                stream.lock().error = Some(e);
            }
        });
        Poll::Ready(Ok(n))
    }

    pub(crate) fn poll_flush(&'static self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        if state.in_flight {
            add_waker(&mut state.wakers, cx.waker());
            return Poll::Pending;
        }
        match state.error.take() {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Hands `job` to the current runtime's blocking pool; `in_flight` is set and the
    /// state unlocked. The job's end, run or dropped unrun, clears `in_flight` and wakes
    /// the waiters; a job dropped unrun (the pool is shutting down, or could start no
    /// thread) leaves an error for the next read, or the next write or flush.
    fn start(&'static self, kind: Kind, job: impl FnOnce(&'static Stream) + Send + 'static) {
        let mut done = JobDone {
            stream: self,
            kind,
            ran: false,
        };
        drop(crate::spawn_blocking(move || {
            job(done.stream);
            done.ran = true;
            drop(done);
        }));
    }
}

/// Fails outside a runtime, where no pool can serve the stream.
fn in_runtime() -> io::Result<()> {
    match crate::Handle::try_current() {
        Some(_) => Ok(()),
        None => Err(io::Error::new(
            io::ErrorKind::NotFound,
            "the standard streams must be used inside an evloop runtime",
        )),
    }
}

/// Which way a pool job moves bytes.
#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
}

/// Clears `in_flight` and wakes the waiters when dropped: after the job, or with it.
struct JobDone {
    stream: &'static Stream,
    kind: Kind,
    /// Whether the job ran; if not, its bytes never moved, and the next call says so.
    ran: bool,
}

impl Drop for JobDone {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.stream.lock();
            state.in_flight = false;
            if !self.ran {
                let e = io::Error::other(
                    "the blocking pool did not run a standard stream's job: the runtime is \
                     shutting down, or no pool thread could be started",
                );
                match self.kind {
                    Kind::Read => {
                        state.outcome.get_or_insert(ReadOutcome::Error(e));
                    }
                    Kind::Write => {
                        state.error.get_or_insert(e);
                    }
                }
            }
            std::mem::take(&mut state.wakers)
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

fn add_waker(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// One blocking `read(2)` of at most `want` bytes; an fd someone else made non-blocking
/// is waited for with `poll`.
fn read_blocking(fd: RawFd, want: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(want);
    loop {
        // SAFETY: `fd` is one of the standard streams, which the process keeps open
        // (a closed one fails with `EBADF`).
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        match sys::read(borrowed, buf.spare_capacity_mut()) {
            Ok(n) => {
                // SAFETY: `read` initialised the first `n` bytes of the spare capacity.
                unsafe { buf.set_len(n) };
                return Ok(buf);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sys::wait_fd(fd, libc::POLLIN),
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `buf`, blocking.
fn write_blocking(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: as in `read_blocking`.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        match sys::write(borrowed, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => sys::wait_fd(fd, libc::POLLOUT),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
