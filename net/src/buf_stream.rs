//! `BufStream`: libevent's bufferevent, an input and an output buffer around a stream.
//!
//! # Protocol
//!
//! The input buffer is one `Vec<u8>` whose unread bytes are `buf[start..end]`. Reads
//! from the stream append after `end`; [`consume`](BufStream::consume) moves `start`.
//! When the tail is full, the unread bytes move to the front, and when they fill the
//! whole buffer it doubles. The read watermarks bound it: [`poll_fill_buf`] returns once
//! `low` bytes are buffered (or at end of stream), and nothing is read from the stream
//! while `high` bytes are, so the buffer never holds more than `high`.
//!
//! The output buffer is one `Vec<u8>` whose unsent bytes are `buf[sent..]`. A write is
//! copied in while it leaves the buffer below its high watermark. A write that would
//! reach it is sent together with the buffer in one `writev`, and the part the stream
//! does not take is buffered up to the high watermark, which the buffer never passes
//! through `poll_write`. Once at it, the stream is *blocked*: writes return `Pending`
//! while the buffer is sent, until it is down to the low watermark. A write error is
//! sticky: the failed call returns it, and every later write, flush or close returns an
//! error of the same kind, so output that could not be sent is never dropped silently.
//!
//! Flush before wait: with [`set_flush_before_wait`](BufStream::set_flush_before_wait),
//! a read that finds the stream empty, and would wait, first sends the output buffer.
//! A server that answers each request into the output buffer then sends one batch of
//! answers per batch of requests, and only when no more requests are waiting.
//!
//! [`poll_fill_buf`]: futures_io::AsyncBufRead::poll_fill_buf

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

mod output;

use output::Output;

/// The input buffer's starting size, and the size it shrinks back to once empty.
pub const DEFAULT_READ_CAPACITY: usize = 8 * 1024;

/// The default write high watermark: writes wait while this much output is buffered.
pub const DEFAULT_WRITE_HIGH: usize = 64 * 1024;

/// The default write low watermark: blocked writes go on once the output is down to this.
pub const DEFAULT_WRITE_LOW: usize = 16 * 1024;

/// The smallest output buffer allocated (less if the high watermark is lower).
const MIN_OUTPUT_CAPACITY: usize = 4 * 1024;

/// The most buffers one vectored write passes on, the buffered output included.
const MAX_SLICES: usize = 16;

pin_project_lite::pin_project! {
    /// A stream with an input and an output buffer and their watermarks: libevent's
    /// `bufferevent`, for any `futures_io` stream (a [`TcpStream`](crate::TcpStream), a
    /// [`UnixStream`](crate::UnixStream), their halves).
    ///
    /// - **Reading**: [`AsyncBufRead`], so futures' `read_line`, `read_until` and `lines`
    ///   work, plus the zero-copy [`buffer`](BufStream::buffer) and
    ///   [`consume`](BufStream::consume), and [`read_more`](BufStream::read_more), which
    ///   appends to what is buffered (for a parser that needs more of a frame).
    /// - **Read watermarks** ([`set_read_watermarks`](BufStream::set_read_watermarks)):
    ///   `fill_buf` waits for at least `low` bytes (or end of stream); nothing is read
    ///   from the stream while `high` bytes are buffered.
    /// - **Writing**: [`AsyncWrite`]. Small writes are buffered and sent together, with one
    ///   `send` on flush, or with one `writev` (buffer and write together) when a write
    ///   would reach the high watermark. [`output_mut`](BufStream::output_mut) lets an
    ///   encoder write in place.
    /// - **Write watermarks** ([`set_write_watermarks`](BufStream::set_write_watermarks)):
    ///   once `high` bytes are buffered, `poll_write` is `Pending` until the buffer has
    ///   drained to `low`. A peer that never reads holds at most `high` bytes here.
    /// - **Flush before wait** ([`set_flush_before_wait`](BufStream::set_flush_before_wait)):
    ///   a read that would wait sends the output first, so a pipelined batch of requests
    ///   costs one `send` of answers.
    /// - **Errors**: a failed send is reported by the call that made it, and again by every
    ///   later write, flush and close. Dropping the stream discards unsent output, as
    ///   dropping a `BufWriter` does: call [`flush`](BufStream::flush) or close it first.
    ///
    /// ```
    /// # runtime::Runtime::new()?.block_on(async {
    /// let listener = net::TcpListener::bind("127.0.0.1:0").await?;
    /// let client = net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (server, _) = listener.accept().await?;
    ///
    /// // The server answers each line it reads; a batch of lines costs one send.
    /// let serve = runtime::spawn(async move {
    ///     let mut conn = net::BufStream::new(server);
    ///     conn.set_flush_before_wait(true);
    ///     loop {
    ///         let buffered = conn.buffer();
    ///         if let Some(end) = buffered.iter().position(|&b| b == b'\n') {
    ///             let line = buffered[..end].to_ascii_uppercase();
    ///             conn.output_mut().extend_from_slice(&line);
    ///             conn.output_mut().push(b'\n');
    ///             conn.consume(end + 1);
    ///         } else if conn.read_more().await? == 0 {
    ///             return conn.flush().await;
    ///         }
    ///     }
    /// });
    ///
    /// client.write_all(b"one\ntwo\n").await?;
    /// client.shutdown(std::net::Shutdown::Write)?;
    /// let mut reply = [0; 8];
    /// client.read_exact(&mut reply).await?;
    /// assert_eq!(&reply, b"ONE\nTWO\n");
    /// serve.await.expect("server task")?;
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub struct BufStream<S> {
        #[pin]
        inner: S,
        input: Input,
        output: Output,
        flush_before_wait: Option<FlushFn<S>>,
    }
}

/// Sends the output buffer. `set_flush_before_wait`, which knows that the stream can be
/// written, stores it for the read side, which needs only `AsyncRead`.
type FlushFn<S> = fn(Pin<&mut S>, &mut Output, &mut Context<'_>) -> Poll<io::Result<()>>;

/// The input buffer: unread bytes in `buf[start..end]`.
struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// `fill_buf` waits for this many bytes (at least 1).
    low: usize,
    /// Nothing is read while this many bytes are buffered.
    high: usize,
    /// The size the buffer starts at and shrinks back to.
    capacity: usize,
}

impl Input {
    #[inline]
    fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.start = (self.start + amt).min(self.end);
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Makes room after `end` and returns how much may be read into it: allocates an
    /// empty buffer (or shrinks an emptied large one), compacts, or doubles a full one.
    /// At most `high` bytes are ever buffered.
    #[inline]
    fn make_room(&mut self) -> io::Result<usize> {
        let buffered = self.len();
        let limit = self.high.saturating_sub(buffered);
        if limit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                format!(
                    "the input buffer holds {buffered} bytes, its read high watermark: \
                     consume some before reading more"
                ),
            ));
        }
        if buffered == 0 && self.buf.len() > self.capacity {
            self.buf = Vec::new();
        }
        if self.buf.is_empty() {
            self.buf = vec![0; self.capacity];
        } else if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 2 {
            // Less than half is free at the tail: move the unread bytes to the front
            // rather than read in small pieces.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, buffered);
        } else if self.end == self.buf.len() {
            // Full from the front: double it.
            let grown = self.buf.len().saturating_mul(2).min(self.high);
            self.buf.resize(grown.max(self.buf.len() + 1), 0);
        }
        Ok((self.buf.len() - self.end).min(limit))
    }
}

impl<S> BufStream<S> {
    /// Wraps `stream` with the default buffers: an input buffer of
    /// [`DEFAULT_READ_CAPACITY`] with no read watermarks, and write watermarks of
    /// [`DEFAULT_WRITE_LOW`] and [`DEFAULT_WRITE_HIGH`]. Nothing is allocated until the
    /// first read or write.
    pub fn new(stream: S) -> BufStream<S> {
        BufStream::with_capacity(DEFAULT_READ_CAPACITY, stream)
    }

    /// Like [`new`](BufStream::new), with an input buffer that starts at (and shrinks back
    /// to) `read_capacity` bytes, at least 1: each read from the stream asks for up to
    /// what is free in it.
    pub fn with_capacity(read_capacity: usize, stream: S) -> BufStream<S> {
        BufStream {
            inner: stream,
            input: Input {
                buf: Vec::new(),
                start: 0,
                end: 0,
                low: 1,
                high: usize::MAX,
                capacity: read_capacity.max(1),
            },
            output: Output {
                buf: Vec::new(),
                sent: 0,
                low: DEFAULT_WRITE_LOW,
                high: DEFAULT_WRITE_HIGH,
                blocked: false,
                failed: None,
            },
            flush_before_wait: None,
        }
    }

    /// Sets the read watermarks. [`poll_fill_buf`](AsyncBufRead::poll_fill_buf) waits
    /// until at least `low` bytes are buffered, or the stream ends; `low` of 0 is taken
    /// as 1. Nothing more is read from the stream while `high` bytes are buffered:
    /// `fill_buf` then returns what is there, and [`read_more`](BufStream::read_more)
    /// fails with `QuotaExceeded`. `high` of 0 means no limit (libevent's convention).
    ///
    /// # Panics
    ///
    /// If `high` is not 0 and `low > high`.
    pub fn set_read_watermarks(&mut self, low: usize, high: usize) {
        let high = if high == 0 { usize::MAX } else { high };
        assert!(
            low <= high,
            "read low watermark {low} is above the high watermark {high}"
        );
        self.input.low = low.max(1);
        self.input.high = high;
    }

    /// The read watermarks `(low, high)`; `high` is `usize::MAX` when there is no limit.
    pub fn read_watermarks(&self) -> (usize, usize) {
        (self.input.low, self.input.high)
    }

    /// Sets the write watermarks: once `high` bytes are buffered, writes are `Pending`
    /// while the buffer is sent, until at most `low` are left. A peer that never reads
    /// thus holds at most `high` bytes of output here (plus what
    /// [`output_mut`](BufStream::output_mut) adds beyond it).
    ///
    /// # Panics
    ///
    /// If `high` is 0 or `low > high`.
    pub fn set_write_watermarks(&mut self, low: usize, high: usize) {
        assert!(high > 0, "the write high watermark must be at least 1");
        assert!(
            low <= high,
            "write low watermark {low} is above the high watermark {high}"
        );
        self.output.low = low;
        self.output.high = high;
    }

    /// The write watermarks `(low, high)`.
    #[inline]
    pub fn write_watermarks(&self) -> (usize, usize) {
        (self.output.low, self.output.high)
    }

    /// The bytes read from the stream and not yet consumed; no I/O.
    #[inline]
    pub fn buffer(&self) -> &[u8] {
        self.input.bytes()
    }

    /// Marks `amt` buffered bytes as read (at most all of them).
    #[inline]
    pub fn consume(&mut self, amt: usize) {
        self.input.consume(amt);
    }

    /// The output not yet sent.
    #[inline]
    pub fn output(&self) -> &[u8] {
        self.output.unsent()
    }

    /// The output buffer, for an encoder that writes in place (libevent's
    /// `bufferevent_get_output`): it holds exactly the bytes not yet sent, and what is
    /// appended goes out with them. Appending here does not wait on the write
    /// watermarks; a writer that may queue a lot calls
    /// [`write_ready`](BufStream::write_ready) between its appends, which waits while
    /// the buffer is at or over its high watermark.
    #[inline]
    pub fn output_mut(&mut self) -> &mut Vec<u8> {
        self.buffers_mut().1
    }

    /// The unread input and the output buffer at once, for a server that answers in
    /// place from the bytes it read: the input as [`buffer`](BufStream::buffer) gives
    /// it, the output as [`output_mut`](BufStream::output_mut) does.
    #[inline]
    pub fn buffers_mut(&mut self) -> (&[u8], &mut Vec<u8>) {
        let out = &mut self.output;
        if out.sent > 0 {
            out.buf.drain(..out.sent);
            out.sent = 0;
        }
        (self.input.bytes(), &mut out.buf)
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped stream. Reading or writing it directly bypasses the buffers.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped stream, pinned.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().inner
    }

    /// Unwraps the stream, discarding both buffers.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: AsyncRead> BufStream<S> {
    /// Reads once from the stream, appending after the bytes already buffered, and
    /// returns how many came: `Ok(0)` at end of stream. It does not wait for the low
    /// watermark: this is how a parser holding part of a frame asks for the rest.
    /// Fails with `QuotaExceeded` while the input buffer holds its high watermark.
    pub fn poll_read_more(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let this = self.project();
        let flush = *this.flush_before_wait;
        read_once(this.inner, this.input, this.output, flush, cx)
    }
}

impl<S: AsyncWrite> BufStream<S> {
    /// Flush before wait: when on, a read that finds nothing to read from the stream, and
    /// is about to wait for it, first sends the output buffer (as much as the stream
    /// takes without waiting). A server that writes each answer into the buffer and never
    /// flushes by hand then sends one batch of answers per batch of requests, once it has
    /// read every request that was waiting. If that send fails, the read returns the
    /// error (and later writes report it too). Off by default.
    pub fn set_flush_before_wait(&mut self, on: bool) {
        self.flush_before_wait = if on {
            Some(|inner, output, cx| output.poll_send_all(inner, cx))
        } else {
            None
        };
    }

    /// Ready when a write would be buffered rather than wait: the output is below its
    /// high watermark, or has drained to its low one after reaching it. Sends what it
    /// must to get there.
    pub fn poll_write_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        this.output.poll_ready(this.inner, cx)
    }
}

impl<S: AsyncRead + Unpin> BufStream<S> {
    /// Waits for [`poll_read_more`](BufStream::poll_read_more).
    pub async fn read_more(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_read_more(cx)).await
    }
}

impl<S: AsyncWrite + Unpin> BufStream<S> {
    /// Waits for [`poll_write_ready`](BufStream::poll_write_ready).
    pub async fn write_ready(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_write_ready(cx)).await
    }

    /// Sends all buffered output, then flushes the stream.
    pub async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Sends all buffered output, then closes the stream's write side.
    pub async fn close(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_close(cx)).await
    }
}

/// Reads once into the input buffer; with a `flush_before_wait`, sends the output
/// before returning `Pending`.
fn read_once<S: AsyncRead>(
    mut inner: Pin<&mut S>,
    input: &mut Input,
    output: &mut Output,
    flush_before_wait: Option<FlushFn<S>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let room = input.make_room()?;
    loop {
        let into = &mut input.buf[input.end..input.end + room];
        match inner.as_mut().poll_read(cx, into) {
            Poll::Ready(Ok(n)) => {
                input.end += n;
                return Poll::Ready(Ok(n));
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(flush) = flush_before_wait
                    && output.len() > 0
                    && let Poll::Ready(Err(e)) = flush(inner, output, cx)
                {
                    return Poll::Ready(Err(e));
                }
                return Poll::Pending;
            }
        }
    }
}

impl<S: AsyncRead> AsyncBufRead for BufStream<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.project();
        let (mut inner, input, output) = (this.inner, this.input, this.output);
        while input.len() < input.low && input.len() < input.high {
            if ready!(read_once(
                inner.as_mut(),
                input,
                output,
                *this.flush_before_wait,
                cx
            ))? == 0
            {
                break;
            }
        }
        Poll::Ready(Ok(input.bytes()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.project().input.consume(amt);
    }
}

impl<S: AsyncRead> AsyncRead for BufStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite> AsyncWrite for BufStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        this.output.poll_write(this.inner, cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        this.output.poll_write(this.inner, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(this.output.poll_send_all(this.inner.as_mut(), cx))?;
        this.inner.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        ready!(this.output.poll_send_all(this.inner.as_mut(), cx))?;
        this.inner.poll_close(cx)
    }
}

impl<S: fmt::Debug> fmt::Debug for BufStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufStream")
            .field("inner", &self.inner)
            .field("buffered_input", &self.input.len())
            .field("read_watermarks", &(self.input.low, self.input.high))
            .field("buffered_output", &self.output.len())
            .field("write_watermarks", &(self.output.low, self.output.high))
            .field("flush_before_wait", &self.flush_before_wait.is_some())
            .finish()
    }
}
