//! A small HTTP/1.1 server, hardened against hostile clients, written against
//! `futures_io::{AsyncRead, AsyncWrite}` and an injected [`Sleeper`] so that the same code
//! runs on evloop and, through compat adapters, on tokio.
//!
//! [`serve_connection`] answers one connection until it closes:
//!
//! | request                             | answer                                        |
//! |-------------------------------------|-----------------------------------------------|
//! | `GET /`                             | `200`, `Hello, world!`                        |
//! | `GET /json`                         | `200`, `{"message":"Hello, world!"}`           |
//! | `GET /loop`                         | `200`, the loop index of [`Stats`]            |
//! | `GET /delay?ms=N`                   | `200`, `delayed N ms`, after `N` ms (`N` ≤ 10000; else `400`) |
//! | `POST /echo` with `Content-Length`  | `200`, the request body                       |
//! | an unknown path                     | `404`                                         |
//! | another method on a known path      | `405` with `Allow`                            |
//! | `HEAD` on a `GET` route             | the `GET` answer without its body             |
//!
//! Keep-alive is the default for HTTP/1.1 and opt-in (`Connection: keep-alive`) for
//! HTTP/1.0; `Connection: close` is honoured. Pipelined requests are answered in order:
//! every complete request in the read buffer is answered before the next read, and the
//! answers go out in one write. Every answer carries a `Date` header (RFC 9110), formatted
//! once per second per thread.
//!
//! [`serve_connection_graceful`] also watches a drain token: once it is cancelled, a
//! connection waiting for a request closes at once, and a request in flight is answered
//! with `Connection: close` before the connection closes.
//!
//! Hostile input gets an answer and the connection is closed:
//!
//! | input                                                 | answer |
//! |-------------------------------------------------------|--------|
//! | a malformed head, a bad or conflicting `Content-Length`, `Content-Length` together with `Transfer-Encoding`, an HTTP/1.1 request without one `Host` | `400` |
//! | a head larger than [`Config::max_header_bytes`], or more than [`Config::max_headers`] headers | `431` |
//! | a body larger than [`Config::max_body_bytes`]          | `413`  |
//! | `Transfer-Encoding` (chunked bodies are not decoded, so they are never misread as the next request) | `501` |
//! | a head not complete within [`Config::header_timeout`] of its first byte (slowloris) | `408` |
//!
//! A connection with no request in progress is closed after [`Config::idle_timeout`]; a
//! body must arrive within [`Config::body_timeout`] of its head and an answer must be
//! taken by the peer within [`Config::write_timeout`]. Before closing after an answer, the
//! server shuts down its write side and reads (and drops) what the peer still sends for
//! up to [`Config::linger_timeout`], so that the peer sees the answer rather than a reset.
//!
//! The read buffer is [`Config::max_header_bytes`] long and allocated once per
//! connection, as is the output buffer; a request allocates nothing.
//!
//! On evloop (on tokio, wrap the stream in tokio-util's `compat` adapter and write a
//! [`Sleeper`] over `tokio::time::sleep_until`):
//!
//! ```no_run
//! use std::rc::Rc;
//!
//! use evloop::http::{Config, RuntimeSleeper, Stats, serve_connection};
//!
//! # fn main() -> std::io::Result<()> {
//! runtime::Runtime::new()?.block_on(async {
//!     let listener = net::TcpListener::bind("127.0.0.1:8080").await?;
//!     let config = Rc::new(Config::default());
//!     let stats = Rc::new(Stats::new(0));
//!     loop {
//!         let (stream, _peer) = listener.accept().await?;
//!         let (config, stats) = (config.clone(), stats.clone());
//!         runtime::spawn(async move {
//!             let _ = serve_connection(stream, &config, &RuntimeSleeper, &stats).await;
//!         });
//!     }
//! })
//! # }
//! ```

mod conn;
mod date;
mod request;
mod response;
mod status;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub use conn::{serve_connection, serve_connection_graceful};

/// The parser and the answer writer that [`serve_connection`] is built from, for a
/// connection loop over another I/O stack (the benchmarks run them over tokio's
/// `BufReader` and `BufWriter`, as a tokio user would).
///
/// A loop answers what it has read in order: [`parse`](proto::parse) the head at the
/// start of the unread bytes; on [`Complete`](proto::Parsed::Complete), consume its
/// length, count it with [`Stats::request`] and append the
/// [`answer`](proto::answer) to the output (and for `POST /echo` the body, copied
/// from the input); on [`Refused`](proto::Parsed::Refused), append the
/// [`refuse`](proto::refuse) answer and close after writing it; on
/// [`Partial`](proto::Parsed::Partial), read more (a head that fills
/// [`Config::max_header_bytes`] unfinished is refused with
/// [`HeadersTooLarge`](proto::Status::HeadersTooLarge)). Every answer takes the
/// [`date`](proto::date) field of the time its request was read.
///
/// ```
/// use std::time::Instant;
///
/// use evloop::http::Config;
/// use evloop::http::proto::{Parsed, answer, date, parse};
///
/// let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
/// let Parsed::Complete(head, len) = parse(raw, &Config::default()) else {
///     panic!("a whole head");
/// };
/// assert_eq!(len, raw.len());
/// let mut out = Vec::new();
/// answer(&mut out, &head, head.keep_alive, 0, &date(Instant::now()));
/// assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
/// assert!(out.ends_with(b"\r\n\r\nHello, world!"));
/// ```
pub mod proto {
    pub use super::date::{Field as DateField, current as date};
    pub use super::request::{Head, MAX_DELAY_MS, Method, Parsed, Route, parse};
    pub use super::response::{CONTINUE, answer, refuse};
    pub use super::status::Status;
}
/// `/delay`'s parameter and its refusal, shared with the hyper example.
#[cfg(feature = "hyper")]
pub(crate) use {request::delay_ms, response::BAD_DELAY};

/// Limits and timeouts of [`serve_connection`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The whole head of a request must arrive within this time of its first byte
    /// (default 10 s). Slow clients get `408` and are closed.
    pub header_timeout: Duration,
    /// A connection between requests is closed after this time without a byte
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// The body of a request must arrive within this time of its head (default 30 s).
    pub body_timeout: Duration,
    /// The peer must take each answer within this time of the read that brought its
    /// request (default 30 s).
    pub write_timeout: Duration,
    /// How long a closing connection drains what the peer still sends (default 1 s).
    pub linger_timeout: Duration,
    /// The largest head, request line and headers (default 8 KiB); larger gets `431`.
    /// This is also the size of the read buffer.
    pub max_header_bytes: usize,
    /// The most headers in one request (default 64, at most [`MAX_HEADERS`]).
    pub max_headers: usize,
    /// The largest request body (default 1 MiB); larger gets `413`.
    pub max_body_bytes: u64,
}

/// The upper bound of [`Config::max_headers`].
pub const MAX_HEADERS: usize = 128;

impl Default for Config {
    fn default() -> Config {
        Config {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            linger_timeout: Duration::from_secs(1),
            max_header_bytes: 8 * 1024,
            max_headers: 64,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// A timer that [`serve_connection`] uses for its timeouts, so that the same code runs on
/// any runtime. [`RuntimeSleeper`] is evloop's.
pub trait Sleeper {
    /// The future that completes at a deadline.
    type Sleep: Future<Output = ()>;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Moves `sleep` to a new deadline. The default builds a new one in its place;
    /// runtimes whose timers can move in place (evloop, tokio) should do that instead.
    fn reset(&self, mut sleep: Pin<&mut Self::Sleep>, deadline: Instant)
    where
        Self::Sleep: Sized,
    {
        sleep.set(self.sleep_until(deadline));
    }

    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        self.sleep_until(self.now() + duration)
    }

    /// The time the deadlines are counted from. The default is `Instant::now()`; a
    /// runtime whose clock a test can pause returns that clock, so that a paused test
    /// sees every timeout at exactly its length after the event that armed it.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// evloop's [`Sleeper`]: `runtime::time`'s timers, on the current loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct RuntimeSleeper;

impl Sleeper for RuntimeSleeper {
    type Sleep = runtime::time::Sleep;

    fn sleep_until(&self, deadline: Instant) -> runtime::time::Sleep {
        runtime::time::sleep_until(deadline)
    }

    /// `runtime::time::now()`: the loop's clock, paused with it.
    fn now(&self) -> Instant {
        runtime::time::now()
    }

    fn reset(&self, sleep: Pin<&mut runtime::time::Sleep>, deadline: Instant) {
        sleep.reset(deadline);
    }
}

/// Counters of one server (or of one loop of it), updated by [`serve_connection`].
/// The counters are relaxed atomics, so a `Stats` may be shared between threads.
#[derive(Debug, Default)]
pub struct Stats {
    loop_index: usize,
    connections: AtomicU64,
    requests: AtomicU64,
    rejected: AtomicU64,
    timed_out: AtomicU64,
}

impl Stats {
    /// Counters for the loop with this index, which `GET /loop` reports.
    pub fn new(loop_index: usize) -> Stats {
        Stats {
            loop_index,
            ..Stats::default()
        }
    }

    /// The loop index given to [`Stats::new`].
    pub fn loop_index(&self) -> usize {
        self.loop_index
    }

    /// Connections served (counted when they start).
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// Requests answered with a route's answer (`200`, `404`, `405`).
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Requests refused as hostile or malformed (`400`, `413`, `431`, `501`).
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Relaxed)
    }

    /// Connections closed by a timeout.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Relaxed)
    }

    /// Counts a connection (for a connection loop of its own; see [`proto`]).
    pub fn connection(&self) {
        Stats::count(&self.connections);
    }

    /// Counts a request answered with a route's answer.
    pub fn request(&self) {
        Stats::count(&self.requests);
    }

    /// Counts a request refused as hostile or malformed.
    pub fn reject(&self) {
        Stats::count(&self.rejected);
    }

    /// Counts a connection closed by a timeout.
    pub fn time_out(&self) {
        Stats::count(&self.timed_out);
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

#[cfg(test)]
mod tests;
