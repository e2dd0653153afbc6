//! [`read_dir`]: a directory's entries, fetched from the blocking pool in batches.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use crate::blocking::Receiver;

use super::asyncify;

/// How many entries one pool job reads.
const BATCH: usize = 32;

/// The entries of a directory, as `tokio::fs::read_dir` gives them: an error if the
/// directory cannot be opened, then each entry (or the error met reading it) from
/// [`ReadDir::next_entry`].
///
/// ```
/// # runtime::Runtime::new()?.block_on(async {
/// let dir = std::env::temp_dir().join(format!("evloop-read-dir-doc-{}", std::process::id()));
/// runtime::fs::create_dir_all(&dir).await?;
/// runtime::fs::write(dir.join("a"), "1").await?;
/// let mut entries = runtime::fs::read_dir(&dir).await?;
/// let entry = entries.next_entry().await?.expect("one entry");
/// assert_eq!(entry.file_name(), "a");
/// assert!(entries.next_entry().await?.is_none());
/// runtime::fs::remove_dir_all(&dir).await?;
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let std = asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir {
        state: State::Idle(Some(std)),
        batch: VecDeque::new(),
    })
}

/// A directory being read; made by [`read_dir`].
pub struct ReadDir {
    state: State,
    /// Entries fetched and not yet handed out; an error ends a batch.
    batch: VecDeque<io::Result<DirEntry>>,
}

enum State {
    /// `None` once the directory has no more entries.
    Idle(Option<std::fs::ReadDir>),
    Busy(Receiver<(Option<std::fs::ReadDir>, VecDeque<io::Result<DirEntry>>)>),
}

impl ReadDir {
    /// The next entry, or `None` at the end. The order is the file system's.
    ///
    /// Cancellation-safe: an entry already fetched waits for the next call.
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry; see [`next_entry`](ReadDir::next_entry).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            if let Some(entry) = self.batch.pop_front() {
                return Poll::Ready(entry.map(Some));
            }
            match &mut self.state {
                State::Idle(None) => return Poll::Ready(Ok(None)),
                State::Idle(std) => {
                    let mut std = std.take();
                    self.state = State::Busy(super::run_blocking(move || {
                        let mut batch = VecDeque::with_capacity(BATCH);
                        while batch.len() < BATCH {
                            let Some(dir) = std.as_mut() else { break };
                            match dir.next() {
                                Some(Ok(entry)) => batch.push_back(Ok(DirEntry(Arc::new(entry)))),
                                Some(Err(e)) => {
                                    batch.push_back(Err(e));
                                    break;
                                }
                                None => std = None,
                            }
                        }
                        (std, batch)
                    }));
                }
                State::Busy(job) => {
                    let (std, batch) = match ready!(Pin::new(job).poll(cx)) {
                        Ok(done) => done,
                        Err(e) => {
                            let e = io::Error::other(format!("reading a directory failed: {e}"));
                            (None, VecDeque::from([Err(e)]))
                        }
                    };
                    self.state = State::Idle(std);
                    self.batch = batch;
                }
            }
        }
    }
}

impl futures_core::Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

/// One entry of a directory, from [`ReadDir::next_entry`].
#[derive(Clone, Debug)]
pub struct DirEntry(Arc<std::fs::DirEntry>);

impl DirEntry {
    /// The entry's full path: the directory's path joined with its name.
    pub fn path(&self) -> PathBuf {
        self.0.path()
    }

    /// The entry's name, without its directory.
    pub fn file_name(&self) -> OsString {
        self.0.file_name()
    }

    /// The entry's metadata, not following a symlink (on the pool: it may `stat`).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let entry = Arc::clone(&self.0);
        asyncify(move || entry.metadata()).await
    }

    /// The entry's type, not following a symlink (on the pool: it may `stat`).
    pub async fn file_type(&self) -> io::Result<FileType> {
        let entry = Arc::clone(&self.0);
        asyncify(move || entry.file_type()).await
    }

    /// The entry's inode number.
    #[cfg(unix)]
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.0)
    }
}
