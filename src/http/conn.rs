//! One connection: read, parse every complete request, answer them in one write, repeat.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use runtime::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::request::{self, Head, Method, Parsed, Route};
use super::response;
use super::status::Status;
use super::{Config, Sleeper, Stats, date};

/// The output buffer is written out once it holds this much, even if more complete
/// requests are buffered.
const FLUSH_AT: usize = 64 * 1024;

/// Serves HTTP/1.1 on `stream` until the peer closes it, a timeout closes it, or a
/// hostile request is refused (see the [module](super) for the routes and the rules).
///
/// Returns `Ok(())` for every orderly end, timeouts and refusals included, and the I/O
/// error otherwise (for example a reset by the peer).
pub fn serve_connection<'a, S, T>(
    stream: S,
    config: &'a Config,
    timer: &'a T,
    stats: &'a Stats,
) -> impl Future<Output = io::Result<()>> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
    T: Sleeper,
{
    // Not an `async fn`: the caller polls `serve`'s state machine with no layer between.
    serve(stream, config, timer, stats, None)
}

/// [`serve_connection`], drained when `drain` is cancelled: from then on, a connection
/// waiting for a request closes at once, and the request in flight (one whose first byte
/// has arrived) is answered with `Connection: close`, after which the connection closes.
///
/// The server stops the connection for good by dropping the future, for example when its
/// grace period is over. The token is read once per answer (an atomic load) and watched
/// only while the connection waits for a request, so the drain costs the hot path
/// next to nothing.
pub fn serve_connection_graceful<'a, S, T>(
    stream: S,
    config: &'a Config,
    timer: &'a T,
    stats: &'a Stats,
    drain: &'a CancellationToken,
) -> impl Future<Output = io::Result<()>> + 'a
where
    S: AsyncRead + AsyncWrite + Unpin + 'a,
    T: Sleeper,
{
    serve(stream, config, timer, stats, Some(drain))
}

async fn serve<S, T>(
    stream: S,
    config: &Config,
    timer: &T,
    stats: &Stats,
    drain: Option<&CancellationToken>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Sleeper,
{
    Stats::count(&stats.connections);
    let sleep = pin!(None);
    let wait = pin!(drain.map(|token| token.clone().cancelled_owned()));
    let mut conn = Conn {
        stream,
        config,
        stats,
        clock: Clock {
            timer,
            sleep,
            armed: None,
            fired: false,
        },
        drain: Drain { token: drain, wait },
        now: timer.now(),
        buf: vec![0; config.max_header_bytes.max(64)],
        start: 0,
        end: 0,
        out: Vec::with_capacity(4096),
    };
    let end = match conn.serve().await {
        Ok(end) => end,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => End::TimedOut,
        Err(e) => return Err(e),
    };
    if matches!(end, End::TimedOut) {
        Stats::count(&stats.timed_out);
    }
    conn.finish(end).await
}

/// Why [`Conn::serve`] stopped.
enum End {
    /// The peer closed its side between requests, or in the middle of one.
    PeerClosed,
    /// The answer said `Connection: close`, the request was refused, or the drain began
    /// while no request was in flight: shut down and linger.
    Close,
    /// No request within the idle timeout, or a body too slow: close at once.
    TimedOut,
}

struct Conn<'a, S, T: Sleeper> {
    stream: S,
    config: &'a Config,
    stats: &'a Stats,
    clock: Clock<'a, T>,
    drain: Drain<'a>,
    /// When the last read returned: the `Date` of the answers to what it read.
    now: Instant,
    /// The read buffer; `buf[start..end]` holds the bytes not yet consumed.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Answers not yet written.
    out: Vec<u8>,
}

impl<'a, S, T> Conn<'a, S, T>
where
    S: AsyncRead + AsyncWrite + Unpin,
    T: Sleeper,
{
    async fn serve(&mut self) -> io::Result<End> {
        // When the first byte of the head being read arrived.
        let mut head_started: Option<Instant> = None;
        // Whether the buffered bytes may hold a complete head not yet parsed.
        let mut parse = false;
        loop {
            while parse && self.start < self.end {
                match request::parse(&self.buf[self.start..self.end], self.config) {
                    Parsed::Complete(head, len) => {
                        self.start += len;
                        head_started = None;
                        // The common request, with neither a body nor a delay, is answered
                        // at once, without the state of an `async` call.
                        let end =
                            if head.body_len == 0 && !matches!(head.route, Route::Delay(Some(_))) {
                                self.write_answer(&head)
                            } else {
                                self.answer(&head).await?
                            };
                        if let Some(end) = end {
                            return Ok(end);
                        }
                        if self.out.len() >= FLUSH_AT {
                            self.flush().await?;
                        }
                    }
                    Parsed::Partial => {
                        head_started.get_or_insert(self.now);
                        if self.end - self.start >= self.buf.len() {
                            return self.refuse(Status::HeadersTooLarge);
                        }
                        parse = false;
                    }
                    Parsed::Refused(status) => return self.refuse(status),
                }
            }
            if !self.out.is_empty() {
                self.flush().await?;
            }
            // Measured from the last read (`now`), which took the last byte: reading the
            // clock again per request would cost more than the rest of the deadline.
            let deadline = match head_started {
                Some(started) => started + self.config.header_timeout,
                None => self.now + self.config.idle_timeout,
            };
            if self.end - self.start >= self.buf.len() {
                return self.refuse(Status::HeadersTooLarge);
            }
            // Between requests, a drain closes the connection.
            let idle = head_started.is_none() && self.start == self.end;
            // The read's future is awaited here rather than through an `async` call:
            // this is the hot path, and a nested state machine would cost it a frame.
            let read = self.read_some(deadline, idle).await;
            let n = match self.took(read) {
                Ok(Some(n)) => n,
                Ok(None) => return Ok(End::Close),
                Err(e) if e.kind() == io::ErrorKind::TimedOut && head_started.is_some() => {
                    Stats::count(&self.stats.timed_out);
                    let date = date::current(Instant::now());
                    response::refuse(&mut self.out, Status::RequestTimeout, &date);
                    return Ok(End::Close);
                }
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(End::PeerClosed);
            }
            head_started.get_or_insert(self.now);
            // Parse again only once a line is complete: a client sending a byte at a time
            // costs one parse per line, not one per byte. A whole request ends the read
            // with its last `\n`, so that byte is looked at first.
            let fresh = &self.buf[self.end - n..self.end];
            parse = fresh.last() == Some(&b'\n') || fresh.contains(&b'\n');
        }
    }

    /// Answers one request whose head was consumed, waiting for its delay and taking its
    /// body; `Some` ends the connection.
    async fn answer(&mut self, head: &Head) -> io::Result<Option<End>> {
        if head.body_len > self.config.max_body_bytes {
            return self.refuse(Status::PayloadTooLarge).map(Some);
        }
        if let (Route::Delay(Some(ms)), Method::Get | Method::Head) = (head.route, head.method) {
            self.delay(ms).await?;
        }
        let end = self.write_answer(head);
        if head.body_len > 0 {
            let echo = head.route == Route::Echo && head.method == Method::Post;
            self.body(head.body_len, echo).await?;
        }
        Ok(end)
    }

    /// Queues the answer to `head` (its head and, but for `POST /echo`, its body);
    /// `Some` ends the connection after it.
    fn write_answer(&mut self, head: &Head) -> Option<End> {
        // A drain that began before the answer is written makes it the last.
        let keep_alive = head.keep_alive && !self.drain.begun();
        let buffered = (self.end - self.start) as u64;
        if head.expects_continue && buffered < head.body_len {
            self.out.extend_from_slice(response::CONTINUE);
        }
        // `now` is the runtime's clock: the wall-clock second is cached until it moves on,
        // so under a paused clock the `Date` stays the one cached when it paused.
        let date = date::current(self.now);
        response::answer(
            &mut self.out,
            head,
            keep_alive,
            self.stats.loop_index,
            &date,
        );
        Stats::count(&self.stats.requests);
        (!keep_alive).then_some(End::Close)
    }

    /// Waits `ms` milliseconds for `GET /delay`, after writing out the answers before it.
    async fn delay(&mut self, ms: u32) -> io::Result<()> {
        if !self.out.is_empty() {
            self.flush().await?;
        }
        let until = self.clock.timer.now() + Duration::from_millis(u64::from(ms));
        let clock = &mut self.clock;
        poll_fn(|cx| clock.poll_expired(cx, until)).await;
        self.now = self.clock.timer.now();
        Ok(())
    }

    /// Consumes a body of `len` bytes, copying it to the output if `echo`, or dropping it.
    async fn body(&mut self, len: u64, echo: bool) -> io::Result<()> {
        let deadline = self.clock.timer.now() + self.config.body_timeout;
        let mut remaining = len;
        loop {
            let take = remaining.min((self.end - self.start) as u64) as usize;
            if echo {
                self.out
                    .extend_from_slice(&self.buf[self.start..self.start + take]);
            }
            self.start += take;
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            if !self.out.is_empty() {
                self.flush().await?;
            }
            if self.read_more(deadline).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Queues the answer refusing a request; the connection closes after it.
    fn refuse(&mut self, status: Status) -> io::Result<End> {
        Stats::count(&self.stats.rejected);
        response::refuse(&mut self.out, status, &date::current(Instant::now()));
        Ok(End::Close)
    }

    /// Reads more bytes after `buf[..end]`, or fails with `TimedOut` at `deadline`.
    /// Returns 0 at end of stream.
    async fn read_more(&mut self, deadline: Instant) -> io::Result<usize> {
        Ok(self.read_into_buf(deadline, false).await?.unwrap_or(0))
    }

    /// [`read_more`](Conn::read_more), but if `drainable`, `None` once the drain has
    /// begun and no byte is waiting.
    async fn read_into_buf(
        &mut self,
        deadline: Instant,
        drainable: bool,
    ) -> io::Result<Option<usize>> {
        let read = self.read_some(deadline, drainable).await;
        self.took(read)
    }

    /// Makes room after the unread bytes, and returns the future of one read into it
    /// (see [`ReadSome`]); [`took`](Conn::took) books what it read.
    fn read_some(&mut self, deadline: Instant, drainable: bool) -> ReadSome<'_, 'a, S, T> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let Conn {
            stream,
            buf,
            end,
            clock,
            drain,
            ..
        } = self;
        ReadSome {
            stream,
            into: &mut buf[*end..],
            clock,
            drain: drainable.then_some(drain),
            deadline,
        }
    }

    /// Books the outcome of a [`read_some`](Conn::read_some): the bytes it read, and
    /// when it returned.
    #[inline]
    fn took(&mut self, read: io::Result<Option<usize>>) -> io::Result<Option<usize>> {
        let n = read?;
        self.now = self.clock.timer.now();
        if let Some(n) = n {
            self.end += n;
        }
        Ok(n)
    }

    /// Writes out every queued answer, or fails with `TimedOut` once the write timeout
    /// has passed since the last read (the one that brought the requests answered).
    fn flush(&mut self) -> Flush<'_, 'a, S, T> {
        let Conn {
            stream,
            out,
            clock,
            now,
            config,
            ..
        } = self;
        Flush {
            stream,
            out,
            written: 0,
            clock,
            since: *now,
            timeout: config.write_timeout,
        }
    }

    /// Ends the connection the way `end` says.
    async fn finish(&mut self, end: End) -> io::Result<()> {
        match end {
            End::PeerClosed | End::TimedOut => Ok(()),
            End::Close => {
                self.flush().await?;
                // Shut down our side, then drop what the peer still sends for a while, so
                // that closing with unread bytes does not reset the answer away.
                let deadline = self.clock.timer.now() + self.config.linger_timeout;
                if poll_fn(|cx| Pin::new(&mut self.stream).poll_close(cx))
                    .await
                    .is_err()
                {
                    return Ok(());
                }
                self.start = self.end;
                while let Ok(n) = self.read_more(deadline).await {
                    if n == 0 {
                        break;
                    }
                    self.start = self.end;
                }
                Ok(())
            }
        }
    }
}

/// One read into `into`, `TimedOut` at `deadline`, or `None` once the drain has begun
/// (when `drain` is given). A future of its own rather than a `poll_fn`, so that its
/// poll is inlined into the connection's state machine: this is the hot path.
struct ReadSome<'c, 'a, S, T: Sleeper> {
    stream: &'c mut S,
    into: &'c mut [u8],
    clock: &'c mut Clock<'a, T>,
    drain: Option<&'c mut Drain<'a>>,
    deadline: Instant,
}

impl<S: AsyncRead + Unpin, T: Sleeper> Future for ReadSome<'_, '_, S, T> {
    type Output = io::Result<Option<usize>>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut *this.stream).poll_read(cx, this.into) {
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Poll::Ready(result) => return Poll::Ready(result.map(Some)),
                Poll::Pending => {
                    if let Some(drain) = this.drain.as_mut() {
                        if drain.poll_begun(cx).is_ready() {
                            return Poll::Ready(Ok(None));
                        }
                    }
                    return this
                        .clock
                        .poll_expired(cx, this.deadline)
                        .map(|()| Err(io::ErrorKind::TimedOut.into()));
                }
            }
        }
    }
}

/// Writes out `out`, then clears it; `TimedOut` once `timeout` has passed `since`. A
/// future of its own, as [`ReadSome`], so that its poll is inlined into the
/// connection's state machine.
struct Flush<'c, 'a, S, T: Sleeper> {
    stream: &'c mut S,
    out: &'c mut Vec<u8>,
    written: usize,
    clock: &'c mut Clock<'a, T>,
    since: Instant,
    timeout: Duration,
}

impl<S: AsyncWrite + Unpin, T: Sleeper> Future for Flush<'_, '_, S, T> {
    type Output = io::Result<()>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.written < this.out.len() {
            match Pin::new(&mut *this.stream).poll_write(cx, &this.out[this.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => this.written += n,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                // The deadline is worked out only by a write that has to wait.
                Poll::Pending => {
                    return this
                        .clock
                        .poll_expired(cx, this.since + this.timeout)
                        .map(|()| Err(io::ErrorKind::TimedOut.into()));
                }
            }
        }
        this.out.clear();
        Poll::Ready(Ok(()))
    }
}

/// The server's drain, as one connection sees it: the token, and the one wait on it
/// that the connection keeps registered for its whole life (so that waiting for a
/// request again costs no registration).
struct Drain<'a> {
    token: Option<&'a CancellationToken>,
    wait: Pin<&'a mut Option<WaitForCancellationFutureOwned>>,
}

impl Drain<'_> {
    /// Whether the drain has begun.
    #[inline]
    fn begun(&self) -> bool {
        self.token.is_some_and(CancellationToken::is_cancelled)
    }

    /// `Ready` once the drain has begun; never for a connection served without one.
    #[inline]
    fn poll_begun(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.token.is_none() {
            return Poll::Pending;
        }
        self.poll_wait(cx)
    }

    /// Kept out of line: it runs once per wait for a request, and inlined it would make
    /// the read loop larger for every connection, drained or not.
    #[inline(never)]
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.wait.as_mut().as_pin_mut() {
            Some(wait) => wait.poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Timeouts with one timer per connection, armed lazily.
///
/// The timer is created the first time an operation would wait, and moved only when a
/// deadline comes before the one it is armed for. A later deadline (the idle deadline
/// moving on after each request) leaves it armed early: when it fires before the real
/// deadline, it is moved then. So a busy keep-alive connection touches the timer heap
/// about once per idle timeout, not once per request.
struct Clock<'a, T: Sleeper> {
    timer: &'a T,
    sleep: Pin<&'a mut Option<T::Sleep>>,
    /// The deadline `sleep` is armed for.
    armed: Option<Instant>,
    /// `sleep` has completed; it must be reset before it is polled again.
    fired: bool,
}

impl<T: Sleeper> Clock<'_, T> {
    /// `Ready` once `deadline` has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        let Clock {
            timer,
            sleep,
            armed,
            fired,
        } = self;
        let mut sleep = match sleep.as_mut().as_pin_mut() {
            Some(mut sleep) => {
                if *fired || armed.is_none_or(|at| at > deadline) {
                    timer.reset(sleep.as_mut(), deadline);
                    (*armed, *fired) = (Some(deadline), false);
                }
                sleep
            }
            None => {
                sleep.set(Some(timer.sleep_until(deadline)));
                (*armed, *fired) = (Some(deadline), false);
                match sleep.as_mut().as_pin_mut() {
                    Some(sleep) => sleep,
                    None => return Poll::Pending,
                }
            }
        };
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            *fired = true;
            if armed.is_some_and(|at| at >= deadline) {
                return Poll::Ready(());
            }
            // It fired for an earlier deadline: move it to this one.
            timer.reset(sleep.as_mut(), deadline);
            (*armed, *fired) = (Some(deadline), false);
        }
    }
}
