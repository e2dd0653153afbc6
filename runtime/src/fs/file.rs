//! [`File`]: an open file whose reads, writes and seeks run on the blocking pool.
//!
//! The protocol, one operation in flight at a time:
//!
//! - A `File` is **idle**, holding its buffer, or **busy**, while one pool job owns the
//!   buffer and a handle to the file.
//! - **Reading** asks the pool for one `read(2)` of at most the caller's length (capped at
//!   [`MAX_BUF`]) into the buffer, then hands bytes out of it. Bytes read but not yet
//!   handed out are the *read-ahead*: the OS position is past them.
//! - **Writing** copies at most [`MAX_BUF`] bytes into the buffer, hands them to a pool
//!   job and returns at once (write-behind). The next operation waits for that job, and
//!   the first to find it failed reports its error. `flush` waits and reports.
//! - Before a write, a seek or `set_len`, the read-ahead is given back: the job seeks the
//!   OS position back over it first, so the file is seen at the position the caller
//!   expects.
//! - A job's failure (its error, or the pool not running it) is kept and returned by the
//!   next operation, whatever it is.
//! - Dropping a `File` with a write in flight lets the write finish: its job holds the
//!   file open. Call `flush` to see its result.

use std::cell::RefCell;
use std::fs::{Metadata, Permissions};
use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::mem::MaybeUninit;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use crate::blocking::Receiver;
use crate::io::traits::{PollRead, PollWrite, impl_async_read, impl_async_write};

use super::{OpenOptions, asyncify};

/// The most one pool job reads or writes, as in `tokio::fs::File`.
pub(crate) const MAX_BUF: usize = 2 * 1024 * 1024;

/// An open file, in the shape of `tokio::fs::File`.
///
/// It implements `futures_io::{AsyncRead, AsyncWrite, AsyncSeek}` (and tokio's traits with
/// feature `tokio-io`). Every read, write and seek runs on the blocking pool, one at a
/// time; writes are write-behind, so call [`flush`](futures_io::AsyncWrite::poll_flush)
/// (or [`sync_all`](File::sync_all)) to learn whether they reached the file. Errors are
/// the operating system's, unchanged.
///
/// A `File` belongs to the runtime's thread (`!Send`), like the tasks that use it.
///
/// ```
/// use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
/// use std::io::SeekFrom;
/// use std::pin::Pin;
/// use std::future::poll_fn;
///
/// # runtime::Runtime::new()?.block_on(async {
/// let path = std::env::temp_dir().join(format!("evloop-file-doc-{}", std::process::id()));
/// let mut file = runtime::fs::File::create(&path).await?;
/// let n = poll_fn(|cx| Pin::new(&mut file).poll_write(cx, b"hello, file")).await?;
/// assert_eq!(n, 11);
/// poll_fn(|cx| Pin::new(&mut file).poll_flush(cx)).await?;
///
/// let mut file = runtime::fs::File::open(&path).await?;
/// poll_fn(|cx| Pin::new(&mut file).poll_seek(cx, SeekFrom::Start(7))).await?;
/// let mut buf = [0; 16];
/// let n = poll_fn(|cx| Pin::new(&mut file).poll_read(cx, &mut buf)).await?;
/// assert_eq!(&buf[..n], b"file");
/// runtime::fs::remove_file(&path).await?;
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct File {
    std: Arc<std::fs::File>,
    inner: RefCell<Inner>,
}

struct Inner {
    state: State,
    /// A job's failure, returned by the next operation.
    error: Option<io::Error>,
    /// The result of the last seek, with what it was asked, until a caller takes it.
    last_seek: Option<(SeekFrom, io::Result<u64>)>,
    /// The last read job found the end of the file; the next read returns 0.
    eof: bool,
}

enum State {
    Idle(Buf),
    Busy(Receiver<(Done, Buf)>),
}

/// What a finished job did.
enum Done {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Seek(SeekFrom, io::Result<u64>),
    Other(io::Result<()>),
}

/// The file's buffer: `bytes[start..end]` is the read-ahead. `bytes` only grows, and its
/// bytes are always initialised, so reading into it needs no zeroing each time.
#[derive(Default)]
struct Buf {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl Buf {
    fn read_ahead(&self) -> usize {
        self.end - self.start
    }

    fn discard(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn grow_to(&mut self, len: usize) {
        if self.bytes.len() < len {
            self.bytes.resize(len, 0);
        }
    }
}

impl File {
    /// Opens a file for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file for writing, creating it or truncating it.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Opens a file for reading and writing, failing if it exists.
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// The options to open a file with; the same as [`OpenOptions::new`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps an open standard file. Its position is the file's, as it is.
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Arc::new(std),
            inner: RefCell::new(Inner {
                state: State::Idle(Buf::default()),
                error: None,
                last_seek: None,
                eof: false,
            }),
        }
    }

    /// Waits for the operation in flight, then flushes the file's data and metadata to
    /// the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        self.after_writes(|std| std.sync_all()).await
    }

    /// Waits for the operation in flight, then flushes the file's data to the device
    /// (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.after_writes(|std| std.sync_data()).await
    }

    /// Waits for the operation in flight, then truncates or extends the file to `size`
    /// bytes. The position is left where the caller sees it.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.rewind_read_ahead().await?;
        self.after_writes(move |std| std.set_len(size)).await
    }

    /// The file's metadata, once the operation in flight has finished.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.after_writes(|std| std.metadata()).await
    }

    /// Changes the file's permissions, once the operation in flight has finished.
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        self.after_writes(move |std| std.set_permissions(perm))
            .await
    }

    /// A second `File` for the same open file description (`dup`), once the operation in
    /// flight has finished. The two share the position.
    pub async fn try_clone(&self) -> io::Result<File> {
        let std = self.after_writes(|std| std.try_clone()).await?;
        Ok(File::from_std(std))
    }

    /// The standard file, once the operation in flight has finished. Read-ahead is given
    /// back first, so the position is the one the caller saw.
    pub async fn into_std(self) -> io::Result<std::fs::File> {
        self.rewind_read_ahead().await?;
        Ok(match Arc::try_unwrap(self.std) {
            Ok(std) => std,
            Err(std) => std.try_clone()?,
        })
    }

    /// The standard file if no operation is in flight and no read-ahead is held;
    /// otherwise `self` back.
    pub fn try_into_std(self) -> Result<std::fs::File, File> {
        let idle = matches!(
            &self.inner.borrow().state,
            State::Idle(buf) if buf.read_ahead() == 0
        );
        if !idle || self.inner.borrow().error.is_some() {
            return Err(self);
        }
        match Arc::try_unwrap(self.std) {
            Ok(std) => Ok(std),
            Err(std) => Err(File {
                std,
                inner: self.inner,
            }),
        }
    }

    /// Waits until idle, reports a kept error, then runs `f` on the pool.
    async fn after_writes<T, F>(&self, f: F) -> io::Result<T>
    where
        F: FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        poll_fn(|cx| self.inner.borrow_mut().poll_idle(cx)).await;
        self.inner.borrow_mut().take_error()?;
        let std = Arc::clone(&self.std);
        asyncify(move || f(&std)).await
    }

    /// Waits until idle and gives the read-ahead back to the OS position, as a job of
    /// the file's own, so no other operation runs between.
    async fn rewind_read_ahead(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.borrow_mut().poll_idle(cx)).await;
        {
            let mut inner = self.inner.borrow_mut();
            inner.take_error()?;
            let State::Idle(buf) = &mut inner.state else {
                unreachable!("poll_idle returned with a job in flight")
            };
            let back = buf.read_ahead();
            if back == 0 {
                return Ok(());
            }
            let mut buf = std::mem::take(buf);
            buf.discard();
            let std = Arc::clone(&self.std);
            inner.start(move || (Done::Other(seek_back(&std, back)), buf));
        }
        poll_fn(|cx| self.inner.borrow_mut().poll_idle(cx)).await;
        self.inner.borrow_mut().take_error()
    }
}

/// Moves the OS position back over `back` bytes of read-ahead.
fn seek_back(std: &std::fs::File, back: usize) -> io::Result<()> {
    if back > 0 {
        let back = i64::try_from(back).map_err(|_| io::ErrorKind::InvalidInput)?;
        (&*std).seek(SeekFrom::Current(-back))?;
    }
    Ok(())
}

impl Inner {
    /// Runs `job` on the pool; the state becomes busy.
    fn start(&mut self, job: impl FnOnce() -> (Done, Buf) + Send + 'static) {
        self.state = State::Busy(super::run_blocking(job));
    }

    fn take_error(&mut self) -> io::Result<()> {
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits for the job in flight, if any, keeping what it did.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(());
        };
        let (done, buf) = match ready!(Pin::new(job).poll(cx)) {
            Ok(finished) => finished,
            Err(e) => {
                self.error = Some(io::Error::other(format!("file operation failed: {e}")));
                (Done::Other(Ok(())), Buf::default())
            }
        };
        let buf_end = buf.end;
        self.state = State::Idle(buf);
        match done {
            Done::Read(Ok(())) => self.eof = buf_end == 0,
            Done::Read(r) | Done::Write(r) | Done::Other(r) => {
                if let Err(e) = r {
                    self.error.get_or_insert(e);
                }
            }
            Done::Seek(pos, r) => self.last_seek = Some((pos, r)),
        }
        Poll::Ready(())
    }

    /// The idle buffer, once any job in flight has finished and its error is reported.
    fn poll_idle_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut Buf>> {
        ready!(self.poll_idle(cx));
        self.take_error()?;
        match &mut self.state {
            State::Idle(buf) => Poll::Ready(Ok(buf)),
            State::Busy(_) => unreachable!("poll_idle returned with a job in flight"),
        }
    }

    /// Starts a seek to `pos`, counting the read-ahead for `SeekFrom::Current`.
    fn start_seek(&mut self, std: &Arc<std::fs::File>, pos: SeekFrom) -> io::Result<()> {
        let State::Idle(buf) = &mut self.state else {
            return Err(io::Error::other(
                "another file operation is in flight: complete it before seeking",
            ));
        };
        let asked = pos;
        let pos = match pos {
            SeekFrom::Current(off) => {
                let ahead = i64::try_from(buf.read_ahead()).unwrap_or(i64::MAX);
                SeekFrom::Current(off.checked_sub(ahead).ok_or(io::ErrorKind::InvalidInput)?)
            }
            other => other,
        };
        let mut buf = std::mem::take(buf);
        buf.discard();
        self.last_seek = None;
        self.eof = false;
        let std = Arc::clone(std);
        self.start(move || (Done::Seek(asked, (&*std).seek(pos)), buf));
        Ok(())
    }
}

impl PollRead for File {
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let inner = self.inner.get_mut();
        loop {
            let buf = ready!(inner.poll_idle_buf(cx))?;
            if buf.read_ahead() > 0 {
                let n = buf.read_ahead().min(dst.len());
                for (d, s) in dst.iter_mut().zip(&buf.bytes[buf.start..buf.start + n]) {
                    d.write(*s);
                }
                buf.start += n;
                return Poll::Ready(Ok(n));
            }
            let mut buf = std::mem::take(buf);
            if dst.is_empty() || std::mem::take(&mut inner.eof) {
                inner.state = State::Idle(buf);
                return Poll::Ready(Ok(0));
            }
            let want = dst.len().min(MAX_BUF);
            buf.grow_to(want);
            let std = Arc::clone(&self.std);
            inner.last_seek = None;
            inner.start(move || {
                let r = loop {
                    match (&*std).read(&mut buf.bytes[..want]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => break r,
                    }
                };
                let done = r.map(|n| {
                    buf.start = 0;
                    buf.end = n;
                });
                (Done::Read(done), buf)
            });
        }
    }
}

impl PollWrite for File {
    fn poll_write_bytes(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        let inner = self.inner.get_mut();
        let buf = ready!(inner.poll_idle_buf(cx))?;
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = src.len().min(MAX_BUF);
        let back = buf.read_ahead();
        let mut buf = std::mem::take(buf);
        buf.discard();
        buf.grow_to(n);
        buf.bytes[..n].copy_from_slice(&src[..n]);
        let std = Arc::clone(&self.std);
        inner.last_seek = None;
        inner.eof = false;
        inner.start(move || {
            let r = seek_back(&std, back).and_then(|()| (&*std).write_all(&buf.bytes[..n]));
            (Done::Write(r), buf)
        });
        Poll::Ready(Ok(n))
    }

    fn poll_write_slices(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        self.poll_write_bytes(cx, first)
    }

    fn poll_flush_bytes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let inner = self.inner.get_mut();
        ready!(inner.poll_idle(cx));
        Poll::Ready(inner.take_error())
    }

    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_bytes(cx)
    }
}

impl_async_read!(File);
impl_async_write!(File);

impl futures_io::AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        loop {
            ready!(inner.poll_idle(cx));
            inner.take_error()?;
            match inner.last_seek.take() {
                Some((asked, r)) if asked == pos => return Poll::Ready(r),
                _ => inner.start_seek(&this.std, pos)?,
            }
        }
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncSeek for File {
    fn start_seek(self: Pin<&mut Self>, pos: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        inner.take_error()?;
        inner.start_seek(&this.std, pos)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let inner = this.inner.get_mut();
        loop {
            ready!(inner.poll_idle(cx));
            inner.take_error()?;
            match inner.last_seek.take() {
                Some((_, r)) => return Poll::Ready(r),
                // No seek was started: the position the caller sees.
                None => inner.start_seek(&this.std, SeekFrom::Current(0))?,
            }
        }
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File::from_std(std)
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File").field("std", &self.std).finish()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.std.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.std.as_fd()
    }
}
