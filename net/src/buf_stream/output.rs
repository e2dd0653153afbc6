//! The output buffer of a [`BufStream`](super::BufStream): writes, watermarks and sticky
//! errors (see the protocol in the parent module).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::AsyncWrite;

use super::{DEFAULT_WRITE_HIGH, MAX_SLICES, MIN_OUTPUT_CAPACITY};

/// The output buffer: unsent bytes in `buf[sent..]`.
pub(super) struct Output {
    pub(super) buf: Vec<u8>,
    pub(super) sent: usize,
    pub(super) low: usize,
    pub(super) high: usize,
    /// The buffer reached `high`; writes wait until it is down to `low`.
    pub(super) blocked: bool,
    /// The kind of the error a send failed with; the stream cannot send any more.
    pub(super) failed: Option<io::ErrorKind>,
}

impl Output {
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.buf.len() - self.sent
    }

    #[inline]
    pub(super) fn unsent(&self) -> &[u8] {
        &self.buf[self.sent..]
    }

    #[inline]
    pub(super) fn advance(&mut self, n: usize) {
        self.sent += n;
        if self.sent == self.buf.len() {
            self.buf.clear();
            self.sent = 0;
            if self.buf.capacity() > self.high.max(DEFAULT_WRITE_HIGH) {
                self.buf = Vec::new();
            }
        }
    }

    /// The error of a stream whose send failed earlier.
    #[inline]
    pub(super) fn check(&self) -> io::Result<()> {
        match self.failed {
            None => Ok(()),
            Some(kind) => Err(io::Error::new(
                kind,
                "an earlier send on this stream failed; its unsent output is still buffered",
            )),
        }
    }

    /// Records a failed send, so every later write reports it too.
    pub(super) fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = Some(e.kind());
        e
    }

    /// Copies the first `limit` bytes of `bufs` (or all of them) in; returns how many.
    pub(super) fn copy_in(&mut self, bufs: &[IoSlice<'_>], mut limit: usize) -> usize {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.reserve(total.min(limit));
        let mut copied = 0;
        for b in bufs {
            let take = b.len().min(limit);
            self.buf.extend_from_slice(&b[..take]);
            copied += take;
            limit -= take;
            if limit == 0 {
                break;
            }
        }
        copied
    }

    /// Makes room for `n` more bytes: drops the sent ones first, then grows by doubling
    /// but not past the high watermark, so a full buffer allocates no more than `high`.
    pub(super) fn reserve(&mut self, n: usize) {
        if self.buf.len() + n <= self.buf.capacity() {
            return;
        }
        if self.sent > 0 {
            self.buf.drain(..self.sent);
            self.sent = 0;
        }
        let needed = self.buf.len() + n;
        if needed > self.buf.capacity() {
            let doubled = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(MIN_OUTPUT_CAPACITY);
            let target = doubled.min(self.high).max(needed);
            self.buf.reserve_exact(target - self.buf.len());
        }
    }

    /// One send of the unsent bytes.
    pub(super) fn poll_send<S: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        loop {
            return match inner.as_mut().poll_write(cx, self.unsent()) {
                Poll::Ready(Ok(0)) => Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into()))),
                Poll::Ready(Ok(n)) => {
                    self.advance(n);
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(e))),
                Poll::Pending => Poll::Pending,
            };
        }
    }

    /// Sends until the buffer is empty.
    pub(super) fn poll_send_all<S: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        while self.len() > 0 {
            ready!(self.poll_send(inner.as_mut(), cx))?;
        }
        self.blocked = false;
        Poll::Ready(Ok(()))
    }

    /// Ready when a write may be buffered: below the high watermark, or, once it was
    /// reached, after draining to the low one.
    pub(super) fn poll_ready<S: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        if !self.blocked && self.len() < self.high {
            return Poll::Ready(Ok(()));
        }
        self.blocked = true;
        while self.len() > self.low || self.len() >= self.high {
            ready!(self.poll_send(inner.as_mut(), cx))?;
        }
        self.blocked = false;
        Poll::Ready(Ok(()))
    }

    /// Buffers `bufs` while they leave the buffer below its high watermark; a write that
    /// would reach it goes out with the buffer in one `writev` (module docs).
    pub(super) fn poll_write<S: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut S>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(self.check().map(|()| 0));
        }
        loop {
            ready!(self.poll_ready(inner.as_mut(), cx))?;
            let room = self.high - self.len();
            if total < room {
                return Poll::Ready(Ok(self.copy_in(bufs, total)));
            }
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            slices[0] = IoSlice::new(self.unsent());
            let count = 1 + bufs.len().min(MAX_SLICES - 1);
            slices[1..count].copy_from_slice(&bufs[..count - 1]);
            let skip = usize::from(self.len() == 0);
            match inner.as_mut().poll_write_vectored(cx, &slices[skip..count]) {
                Poll::Pending => return Poll::Ready(Ok(self.copy_in(bufs, room))),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => {
                    let buffered = self.len();
                    self.advance(n.min(buffered));
                    if n > buffered {
                        return Poll::Ready(Ok(n - buffered));
                    }
                    // Only buffered bytes went: there is more room now, so try again.
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
            }
        }
    }
}
