//! One client connection: commands in, replies out, through a [`net::BufStream`].
//!
//! The loop is Redis's: take every complete command from the input buffer, run it and
//! append its reply to the output buffer; when no complete command is left, read more.
//! The stream flushes before it waits ([`BufStream::set_flush_before_wait`]), so the
//! replies to a pipelined batch leave in one `send`, and only once every request that had
//! arrived is answered.
//!
//! A protocol error is answered with `-ERR Protocol error: ...`, and then that connection
//! alone is closed: the replies before it are sent, the write side is shut down, and what
//! the client still sends is read and dropped for up to [`LINGER`], so that closing with
//! unread bytes does not reset the connection before the client has read the error.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use net::BufStream;

use super::command::{Flow, execute};
use super::reply;
use super::resp::{Parsed, Parser};
use super::store::{ExpirePolicy, Now, Store};
use crate::io::{Either, race};

/// The input buffer's size: each read asks for up to this much (Redis reads 16 KiB).
pub const READ_CAPACITY: usize = 16 * 1024;

/// The most a client may have buffered, unparsed, before it is disconnected (Redis's
/// `client-query-buffer-limit`).
pub const QUERY_BUFFER_LIMIT: usize = 1024 * 1024 * 1024;

/// How long a connection closed by the server drains what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);

/// How often the active expiry runs (Redis's `hz` of 10).
pub const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// What the connection does after answering what was buffered.
enum Step {
    /// No complete command is left: read more.
    NeedInput,
    /// The output reached its high watermark: wait until it drains.
    Backpressure,
    /// `QUIT`, or a protocol error that was answered: close.
    Close,
}

/// Serves one client on `stream` until it closes, sends `QUIT` or breaks the protocol,
/// or until `stop` completes. `stop` is looked at between commands: while the
/// connection waits for the next one, or for its output to drain. The replies already
/// queued are then sent (for at most [`LINGER`] after a `stop`, a `QUIT` or a refusal)
/// and the write side is shut down.
///
/// Returns `Ok(())` for each of those ends, and the I/O error otherwise (a reset, say).
pub async fn serve_connection<S, F>(stream: S, store: &RefCell<Store>, stop: F) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Future<Output = ()>,
{
    let mut conn = BufStream::with_capacity(READ_CAPACITY, stream);
    conn.set_flush_before_wait(true);
    conn.set_read_watermarks(1, QUERY_BUFFER_LIMIT);
    let mut parser = Parser::new();
    let mut stop = pin!(stop);
    let end = loop {
        match answer_buffered(&mut conn, &mut parser, store) {
            Step::Close => break End::Refused,
            Step::Backpressure => match race(conn.write_ready(), stop.as_mut()).await {
                Either::Left(r) => {
                    r?;
                    continue;
                }
                Either::Right(()) => break End::Stopped,
            },
            Step::NeedInput => {}
        }
        match race(conn.read_more(), stop.as_mut()).await {
            Either::Left(Ok(0)) => break End::PeerClosed,
            Either::Left(Ok(_)) => {}
            Either::Left(Err(e)) if e.kind() == io::ErrorKind::QuotaExceeded => {
                let limit = QUERY_BUFFER_LIMIT >> 20;
                let msg = format!("ERR Protocol error: query buffer over its {limit} MiB limit");
                reply::error(conn.output_mut(), msg.as_bytes());
                break End::Refused;
            }
            Either::Left(Err(e)) => return Err(e),
            Either::Right(()) => break End::Stopped,
        }
    };
    match end {
        // The client may still read slowly what it asked for before its half-close.
        End::PeerClosed => conn.close().await,
        // The replies queued get `LINGER` to leave; a client that reads nothing cannot
        // hold the server.
        End::Stopped => {
            let _ = runtime::time::timeout(LINGER, conn.close()).await;
            Ok(())
        }
        End::Refused => {
            let deadline = Instant::now() + LINGER;
            if let Ok(r) = runtime::time::timeout_at(deadline, conn.close()).await {
                r?;
                drain(&mut conn, deadline).await;
            }
            Ok(())
        }
    }
}

/// How a connection ends.
enum End {
    /// The client closed its side (or both).
    PeerClosed,
    /// `stop` completed.
    Stopped,
    /// `QUIT`, or a request refused with an error.
    Refused,
}

/// Runs every complete command in the input buffer, appending the replies to the output.
fn answer_buffered<S>(
    conn: &mut BufStream<S>,
    parser: &mut Parser,
    store: &RefCell<Store>,
) -> Step {
    let mut store = store.borrow_mut();
    let mut now = Now::lazy();
    let high = conn.write_watermarks().1;
    loop {
        let (input, output) = conn.buffers_mut();
        let used = match parser.parse(input) {
            Ok(Parsed::Command(n)) => {
                if execute(&mut store, parser.args(input), &mut now, output) == Flow::Close {
                    return Step::Close;
                }
                n
            }
            Ok(Parsed::Empty(n)) => n,
            Ok(Parsed::Incomplete) => return Step::NeedInput,
            Err(e) => {
                reply::error(output, format!("ERR {e}").as_bytes());
                return Step::Close;
            }
        };
        let queued = output.len();
        conn.consume(used);
        if queued >= high {
            return Step::Backpressure;
        }
    }
}

/// Reads and drops what the client sends until it closes, or until `deadline`.
async fn drain<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut BufStream<S>, deadline: Instant) {
    loop {
        let n = conn.buffer().len();
        conn.consume(n);
        match runtime::time::timeout_at(deadline, conn.read_more()).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// Active expiry for `store`: every `period`, one
/// [`expire_cycle`](Store::expire_cycle) with `policy`. Runs until dropped.
pub async fn active_expiry(store: Rc<RefCell<Store>>, period: Duration, policy: ExpirePolicy) {
    let mut ticks = runtime::time::interval(period);
    ticks.set_missed_tick_behavior(runtime::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        store.borrow_mut().expire_cycle(&mut Now::lazy(), &policy);
    }
}
