//! The echo and HTTP servers on tokio as a tokio user writes them: `tokio::net::TcpStream`
//! with `tokio::io::AsyncReadExt`/`AsyncWriteExt` for echo, and for HTTP tokio's own
//! `BufReader` and `BufWriter` over the halves of the stream, driving the parser and the
//! answer writer of evloop's HTTP server (`evloop::http::proto`). This is the "tokio"
//! column of `compare`, the baseline of every "vs tokio" goal; the compat column runs
//! evloop's futures-io code on tokio instead.
//!
//! The HTTP loop keeps the shared server's behaviour (see `evloop::http`): keep-alive
//! and `Connection: close`, pipelined requests answered in order with one flush per
//! batch, `POST /echo` bodies, `Expect: 100-continue`, `/delay`, the refusals, and the
//! idle, header, body, write and linger timeouts. Its timeouts use one `tokio::time::Sleep`
//! per connection, pinned and moved with `reset` only when a deadline comes earlier than
//! the one it is armed for, as the shared server's timer is: both sides do the same
//! timer work per request, so the comparison is of the runtimes, not of two timeout
//! strategies.

use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use evloop::http::proto::{CONTINUE, Method, Parsed, Route, Status, answer, date, parse, refuse};
use evloop::http::{Config, Stats};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

/// Echoes everything read from `stream` until the peer closes its side, then shuts down
/// ours. One buffer of `buf_size` bytes. Returns how many bytes were echoed.
pub async fn echo(mut stream: TcpStream, buf_size: usize) -> io::Result<u64> {
    let mut buf = vec![0u8; buf_size.max(1)];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
    stream.shutdown().await?;
    Ok(total)
}

/// The shared server's cap on buffered answers: past it, they are flushed even while
/// more complete requests wait.
const FLUSH_AT: usize = 64 * 1024;

/// Completes once `deadline` has passed, with the connection's one timer (`clock`,
/// armed for `armed`). The timer is moved only when `deadline` comes before the one it
/// is armed for, or after it fired; armed for an earlier deadline, it fires first and
/// is moved on to this one then.
async fn expired(
    clock: &mut Pin<Box<tokio::time::Sleep>>,
    armed: &mut Option<Instant>,
    deadline: Instant,
) {
    loop {
        if armed.is_none_or(|at| at > deadline) {
            clock.as_mut().reset(deadline.into());
            *armed = Some(deadline);
        }
        clock.as_mut().await;
        if armed.take().is_some_and(|at| at >= deadline) {
            return;
        }
    }
}

/// Why the request loop stopped.
enum End {
    /// The peer closed its side.
    PeerClosed,
    /// The last answer closes the connection: flush, shut down, linger.
    Close,
    /// A timeout between requests or in a body: close at once.
    TimedOut,
}

/// Serves HTTP/1.1 on `stream` until the peer closes it, a timeout closes it, or a
/// request is refused, with the answers of `evloop::http::serve_connection`.
pub async fn serve_http(mut stream: TcpStream, config: &Config, stats: &Stats) -> io::Result<()> {
    stats.connection();
    let (read, write) = stream.split();
    let mut conn = Conn {
        input: Input {
            reader: BufReader::with_capacity(config.max_header_bytes.max(64), read),
            held: Vec::new(),
        },
        writer: BufWriter::new(write),
        answer: Vec::with_capacity(256),
        clock: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
        armed: None,
        now: clock_now(),
        config,
        stats,
    };
    let end = match conn.serve().await {
        Ok(end) => end,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => End::TimedOut,
        Err(e) => return Err(e),
    };
    match end {
        End::PeerClosed => Ok(()),
        End::TimedOut => {
            stats.time_out();
            Ok(())
        }
        End::Close => conn.close().await,
    }
}

/// The unread input: tokio's `BufReader`, and the bytes of a head cut by the end of its
/// buffer, held until the rest arrives (the `BufReader` reads again only once its
/// buffer is used up). While `held` has bytes, the reader's buffer is empty.
struct Input<'a> {
    reader: BufReader<ReadHalf<'a>>,
    held: Vec<u8>,
}

impl Input<'_> {
    fn buffered(&self) -> &[u8] {
        if self.held.is_empty() {
            self.reader.buffer()
        } else {
            &self.held
        }
    }

    fn consume(&mut self, n: usize) {
        if self.held.is_empty() {
            self.reader.consume(n);
        } else {
            self.held.drain(..n);
        }
    }

    /// Reads more after what is buffered; 0 at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.held.is_empty() && !self.reader.buffer().is_empty() {
            let len = self.reader.buffer().len();
            self.held.extend_from_slice(self.reader.buffer());
            self.reader.consume(len);
        }
        let data = self.reader.fill_buf().await?;
        let n = data.len();
        if !self.held.is_empty() {
            self.held.extend_from_slice(data);
            self.reader.consume(n);
        }
        Ok(n)
    }
}

struct Conn<'a> {
    input: Input<'a>,
    writer: BufWriter<WriteHalf<'a>>,
    /// One answer, written by `evloop::http::proto::answer`, then copied into `writer`.
    answer: Vec<u8>,
    /// The connection's one timer; `armed` is its deadline while it is armed.
    clock: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
    /// When the last read returned: the `Date` of what it read, and where the idle and
    /// write timeouts are measured from (as in the shared server).
    now: Instant,
    config: &'a Config,
    stats: &'a Stats,
}

impl Conn<'_> {
    async fn serve(&mut self) -> io::Result<End> {
        // When the first byte of the head being read arrived.
        let mut started: Option<Instant> = None;
        // Whether the buffered bytes may hold a complete head not yet parsed: as the
        // shared server, parse again only once a line is complete.
        let mut complete_line = true;
        loop {
            while complete_line && !self.input.buffered().is_empty() {
                let head = match parse(self.input.buffered(), self.config) {
                    Parsed::Complete(head, len) => {
                        self.input.consume(len);
                        head
                    }
                    Parsed::Partial => {
                        started.get_or_insert(self.now);
                        if self.input.buffered().len() >= self.config.max_header_bytes {
                            return self.refuse(Status::HeadersTooLarge).await;
                        }
                        break;
                    }
                    Parsed::Refused(status) => return self.refuse(status).await,
                };
                started = None;
                if head.body_len > self.config.max_body_bytes {
                    return self.refuse(Status::PayloadTooLarge).await;
                }
                if let (Route::Delay(Some(ms)), Method::Get | Method::Head) =
                    (head.route, head.method)
                {
                    self.flush().await?;
                    tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
                    self.now = clock_now();
                }
                let buffered = self.input.buffered().len() as u64;
                if head.expects_continue && buffered < head.body_len {
                    self.writer.write_all(CONTINUE).await?;
                }
                answer(
                    &mut self.answer,
                    &head,
                    head.keep_alive,
                    self.stats.loop_index(),
                    &date(self.now),
                );
                self.writer.write_all(&self.answer).await?;
                self.answer.clear();
                self.stats.request();
                if head.body_len > 0 {
                    let echo = head.route == Route::Echo && head.method == Method::Post;
                    self.body(head.body_len, echo).await?;
                }
                if !head.keep_alive {
                    return Ok(End::Close);
                }
                if self.writer.buffer().len() >= FLUSH_AT {
                    self.flush().await?;
                }
            }
            self.flush().await?;
            let deadline = match started {
                Some(at) => at + self.config.header_timeout,
                None => self.now + self.config.idle_timeout,
            };
            let n = match self.read_more(deadline).await {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::TimedOut && started.is_some() => {
                    self.stats.time_out();
                    return self.refuse_quietly(Status::RequestTimeout);
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(End::PeerClosed);
            }
            self.now = clock_now();
            started.get_or_insert(self.now);
            let buffered = self.input.buffered();
            let fresh = &buffered[buffered.len() - n..];
            complete_line = fresh.last() == Some(&b'\n') || fresh.contains(&b'\n');
        }
    }

    /// Reads more input, or fails with `TimedOut` at `deadline`.
    async fn read_more(&mut self, deadline: Instant) -> io::Result<usize> {
        tokio::select! {
            biased;
            n = self.input.fill() => n,
            () = expired(&mut self.clock, &mut self.armed, deadline) => {
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }

    /// Writes out the buffered answers, or fails with `TimedOut` after the write timeout.
    async fn flush(&mut self) -> io::Result<()> {
        if self.writer.buffer().is_empty() {
            return Ok(());
        }
        // The deadline is worked out only by a write that has to wait, as in the
        // shared server.
        let (since, timeout) = (self.now, self.config.write_timeout);
        tokio::select! {
            biased;
            r = self.writer.flush() => r,
            () = async { expired(&mut self.clock, &mut self.armed, since + timeout).await } => {
                Err(io::ErrorKind::TimedOut.into())
            }
        }
    }

    /// Consumes a body of `len` bytes, copying it to the output if `echo`.
    async fn body(&mut self, len: u64, echo: bool) -> io::Result<()> {
        let deadline = clock_now() + self.config.body_timeout;
        let mut remaining = len;
        loop {
            let take = remaining.min(self.input.buffered().len() as u64) as usize;
            if echo {
                self.writer
                    .write_all(&self.input.buffered()[..take])
                    .await?;
            }
            self.input.consume(take);
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            self.flush().await?;
            if self.read_more(deadline).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Queues the answer refusing a request; the connection closes after it.
    async fn refuse(&mut self, status: Status) -> io::Result<End> {
        self.stats.reject();
        self.refuse_quietly(status)?;
        Ok(End::Close)
    }

    fn refuse_quietly(&mut self, status: Status) -> io::Result<End> {
        refuse(&mut self.answer, status, &date(Instant::now()));
        // The `BufWriter` takes it in `close`, before its flush.
        Ok(End::Close)
    }

    /// Sends what is left, shuts down the write side, then drops what the peer still
    /// sends for up to the linger timeout, so that the peer sees the answer rather than
    /// a reset.
    async fn close(&mut self) -> io::Result<()> {
        if !self.answer.is_empty() {
            self.writer.write_all(&self.answer).await?;
            self.answer.clear();
        }
        self.flush().await?;
        if self.writer.shutdown().await.is_err() {
            return Ok(());
        }
        let deadline = clock_now() + self.config.linger_timeout;
        let reader = &mut self.input.reader;
        let _ = tokio::time::timeout_at(deadline.into(), async {
            let mut sink = [0u8; 1024];
            while reader.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        })
        .await;
        Ok(())
    }
}

/// The time the deadlines are counted from: tokio's clock, which a tokio test can pause
/// (as evloop's server counts on `runtime::time::now()`).
#[inline]
fn clock_now() -> Instant {
    tokio::time::Instant::now().into_std()
}
