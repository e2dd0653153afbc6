//! The frame every example server shares: listeners, loops, the accept loop and a
//! graceful shutdown.
//!
//! [`serve`] starts one loop per thread with [`runtime::Builder::run`]. Each loop binds its
//! own listener on the same address with `SO_REUSEPORT` ([`net::TcpSocket`]): loop 0
//! binds the address asked for and publishes the address it got (with port 0, the port
//! the kernel chose), and the others bind that. Once every loop listens for signals and
//! accepts, the line `listening on HOST:PORT` is printed. Each loop accepts its own
//! connections and serves each one in its own task, held in the loop's
//! [`JoinSet`].
//!
//! # Shutdown
//!
//! The first `SIGINT` or `SIGTERM` starts the drain, on every loop:
//!
//! 1. the loop stops accepting and closes its listener, so new connects are refused, and
//!    prints `draining loop I: listener closed, N connections open`;
//! 2. it cancels the drain token that every connection handler was given: a handler
//!    closes its connection at once if it is idle, and otherwise finishes the work in
//!    flight (and says it closes, as HTTP's `Connection: close` does), then closes;
//! 3. it waits for the connections to end, for at most the grace period
//!    ([`ServerArgs::grace`], `--grace-ms`), then cancels what is left: their tasks are
//!    aborted and their sockets closed.
//!
//! A second signal ends the wait at once, cancelling what is left. Each loop then prints
//! one line, `loop I served S connections, drained D, cancelled C`: `S` connections
//! accepted in all; of those open when the drain began, `D` ended before the deadline
//! (whatever way they ended) and `C` were cancelled. The process exits 0 either way.
//!
//! # Adopting the drain
//!
//! A server opts in by taking the token in its handler: `serve(&args, |loop_index| {
//! move |stream, drain| async move { .. } })`. The token is a
//! [`CancellationToken`] of the loop's own tree, so
//! connections watch it without contending with other loops. Typical handlers:
//!
//! - request/response protocols race the wait for the next request against
//!   `drain.cancelled()` and close when the drain wins, and check `drain.is_cancelled()`
//!   before each answer to make it the last ([`crate::http::serve_connection_graceful`]);
//! - streaming protocols stop reading when `drain.cancelled()` wins and write out what
//!   they owe (the echo server);
//! - a handler that ignores the token is simply cancelled at the deadline.
//!
//! [`run`] is the same frame for handlers that take no token: their connections are
//! cancelled as soon as the drain begins (a grace of zero).

use std::cell::Cell;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use runtime::JoinSet;
use runtime::signal::{Signal, SignalKind, signal};
use runtime::sync::CancellationToken;

use crate::cli::ServerArgs;
use crate::io::{Either, race};

/// How long an accept loop pauses when the process or the system is out of file
/// descriptors (`EMFILE`, `ENFILE`) or of memory for sockets (`ENOBUFS`, `ENOMEM`):
/// the connection stays queued, so retrying at once would spin, and stopping would leave
/// the server deaf once connections close and free descriptors again (see
/// [`net::TcpListener::accept`]).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The listen backlog of every listener.
pub const BACKLOG: u32 = 1024;

/// What one loop did, returned by [`serve`] and [`run`] when they stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopReport {
    /// The loop's index (`0..threads`).
    pub index: usize,
    /// How many connections it accepted.
    pub connections: u64,
    /// How many of the connections open when the drain began ended before the deadline.
    pub drained: u64,
    /// How many connections were still open at the deadline (or the second signal), and
    /// were cancelled.
    pub cancelled: u64,
}

impl std::fmt::Display for LoopReport {
    /// The loop's one-line summary: `loop 0 served 12 connections, drained 3, cancelled 1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "loop {} served {} connections, drained {}, cancelled {}",
            self.index, self.connections, self.drained, self.cancelled
        )
    }
}

/// The process-wide shutdown requests, cancelled by the signal watchers of every loop:
/// `drain` on the first signal, `force` on the second; and `drained`, cancelled when the
/// last loop has drained.
///
/// A loop that has drained waits for `drained` before it returns, because returning drops
/// its runtime and with it its signal listeners: a second signal must still find the
/// listener that saw the first one apart (a listener that sees both only once the drain
/// has begun elsewhere reports them as one delivery).
#[derive(Debug)]
struct Shutdown {
    drain: CancellationToken,
    force: CancellationToken,
    drained: CancellationToken,
    /// Loops that have not drained yet.
    draining: AtomicUsize,
}

/// Counts its loop as drained when dropped, even by a panic.
struct Drained(Arc<Shutdown>);

impl Drop for Drained {
    fn drop(&mut self) {
        if self.0.draining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.cancel();
        }
    }
}

/// How long the other loops wait for loop 0 to bind.
const BIND_WAIT: Duration = Duration::from_secs(30);

/// Where loop 0 bound, for the other loops to bind the same address.
#[derive(Debug, Default)]
struct BoundAddr {
    addr: Mutex<Option<Result<SocketAddr, String>>>,
    published: Condvar,
}

impl BoundAddr {
    fn publish(&self, result: Result<SocketAddr, String>) {
        if let Ok(mut addr) = self.addr.lock() {
            *addr = Some(result);
        }
        self.published.notify_all();
    }

    fn wait(&self) -> io::Result<SocketAddr> {
        let mut addr = self
            .addr
            .lock()
            .map_err(|_| io::Error::other("a loop panicked"))?;
        loop {
            match &*addr {
                Some(Ok(bound)) => return Ok(*bound),
                Some(Err(e)) => return Err(io::Error::other(format!("loop 0: {e}"))),
                None => {
                    let (next, waited) = self
                        .published
                        .wait_timeout(addr, BIND_WAIT)
                        .map_err(|_| io::Error::other("a loop panicked"))?;
                    if waited.timed_out() && next.is_none() {
                        return Err(io::Error::other("loop 0 did not bind in time"));
                    }
                    addr = next;
                }
            }
        }
    }
}

/// A socket bound to `addr`, with `SO_REUSEADDR`, and `SO_REUSEPORT` if `shared`.
pub fn bind_socket(addr: SocketAddr, shared: bool) -> io::Result<net::TcpSocket> {
    let socket = match addr {
        SocketAddr::V4(_) => net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if shared {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    Ok(socket)
}

/// Binds loop `index`'s socket: loop 0 on `addr`, the others where loop 0 bound.
fn bind_for_loop(
    index: usize,
    addr: SocketAddr,
    threads: usize,
    bound: &BoundAddr,
) -> io::Result<net::TcpSocket> {
    let shared = threads > 1;
    if index > 0 {
        return bind_socket(bound.wait()?, shared);
    }
    let socket = bind_socket(addr, shared).and_then(|s| Ok((s.local_addr()?, s)));
    bound.publish(socket.as_ref().map(|(a, _)| *a).map_err(|e| e.to_string()));
    socket.map(|(_, s)| s)
}

/// Whether an accept error is a lack of resources that passes once connections close.
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Accepts connections on `listener` forever, counting them in `accepted` and handing
/// each to `handler`, which returns the future to spawn for it. Lacking descriptors, it
/// pauses for [`ACCEPT_BACKOFF`]; other errors are printed on stderr, and it goes on
/// after the same pause.
pub async fn accept_loop<H, Fut>(listener: &net::TcpListener, accepted: &Cell<u64>, mut handler: H)
where
    H: FnMut(net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                accepted.set(accepted.get() + 1);
                let _ = stream.set_nodelay(true);
                drop(runtime::spawn(handler(stream)));
            }
            Err(e) if is_resource_exhaustion(&e) => {
                runtime::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                runtime::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Runs a server as described in the [module](self), draining on the first signal:
/// `per_loop(index)` is called once on each loop's thread and returns that loop's
/// connection handler, which gets each accepted stream and the loop's drain token.
///
/// A loop that cannot listen (the address is taken, say) prints why and ends the process
/// with exit code 1, so that no loop serves alone. A panic in one loop is reported when
/// the others have stopped, as an error.
pub fn serve<L, H, Fut>(args: &ServerArgs, per_loop: L) -> io::Result<Vec<LoopReport>>
where
    L: Fn(usize) -> H + Send + Sync + 'static,
    H: FnMut(net::TcpStream, CancellationToken) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    serve_with_grace(args, args.grace, per_loop)
}

/// Runs a server whose handlers know nothing of draining: as [`serve`], but on the first
/// signal the connections are cancelled as soon as the listeners are closed.
pub fn run<L, H, Fut>(args: &ServerArgs, per_loop: L) -> io::Result<Vec<LoopReport>>
where
    L: Fn(usize) -> H + Send + Sync + 'static,
    H: FnMut(net::TcpStream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    serve_with_grace(args, Duration::ZERO, move |index| {
        let mut handler = per_loop(index);
        move |stream, _drain: CancellationToken| handler(stream)
    })
}

fn serve_with_grace<L, H, Fut>(
    args: &ServerArgs,
    grace: Duration,
    per_loop: L,
) -> io::Result<Vec<LoopReport>>
where
    L: Fn(usize) -> H + Send + Sync + 'static,
    H: FnMut(net::TcpStream, CancellationToken) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let bound = Arc::new(BoundAddr::default());
    let ready = Arc::new(AtomicUsize::new(0));
    let (addr, threads) = (args.addr, args.threads);
    let shutdown = Arc::new(Shutdown {
        drain: CancellationToken::new(),
        force: CancellationToken::new(),
        drained: CancellationToken::new(),
        draining: AtomicUsize::new(threads),
    });
    let results = runtime::Builder::new().threads(threads).run(move || {
        let index = runtime::loop_index().unwrap_or(0);
        let socket = bind_for_loop(index, addr, threads, &bound);
        let ready = ready.clone();
        let shutdown = shutdown.clone();
        let mut handler = per_loop(index);
        async move {
            let drained_guard = Drained(shutdown.clone());
            // Listen for signals before announcing, so that a signal sent right after
            // the announcement is never missed.
            let started = (|| {
                let interrupt = signal(SignalKind::interrupt())?;
                let terminate = signal(SignalKind::terminate())?;
                Ok::<_, io::Error>((interrupt, terminate, socket?.listen(BACKLOG)?))
            })();
            let (interrupt, terminate, listener) = match started {
                Ok(started) => started,
                Err(e) => {
                    // The other loops would serve without this one, and the server would
                    // never announce itself: stop them all.
                    eprintln!("loop {index} could not start: {e}");
                    std::process::exit(1);
                }
            };
            if ready.fetch_add(1, Ordering::AcqRel) + 1 == threads {
                announce(listener.local_addr()?)?;
            }
            // Every loop sees every signal; whichever sees it first cancels for all.
            let watcher = runtime::spawn(watch_signals(interrupt, terminate, shutdown.clone()));
            // The connections' token is the loop's own tree, so that they register
            // without contending with other loops. It is cancelled only once the loop
            // has stopped accepting and counted the open connections.
            let drain = CancellationToken::new();
            let mut conns = JoinSet::new();
            let accepted = accept_until(&listener, &shutdown.drain, &mut conns, |stream| {
                handler(stream, drain.clone())
            })
            .await;
            drop(listener);
            while conns.try_join_next().is_some() {}
            eprintln!(
                "draining loop {index}: listener closed, {} connections open",
                conns.len()
            );
            drain.cancel();
            let (drained, cancelled) = drain_connections(&mut conns, grace, &shutdown.force).await;
            drop(drained_guard);
            shutdown.drained.cancelled().await;
            watcher.abort();
            Ok::<_, io::Error>(LoopReport {
                index,
                connections: accepted,
                drained,
                cancelled,
            })
        }
    });
    let mut reports = Vec::with_capacity(results.len());
    let mut failure = None;
    for result in results {
        match result {
            Ok(Ok(report)) => {
                eprintln!("{report}");
                reports.push(report);
            }
            Ok(Err(e)) => failure = Some(e),
            Err(e) => failure = Some(io::Error::other(e.to_string())),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(reports),
    }
}

/// Cancels `shutdown.drain` on the first `SIGINT` or `SIGTERM`, and `shutdown.force` on
/// the next. A listener whose pipe failed counts as a signal.
async fn watch_signals(mut interrupt: Signal, mut terminate: Signal, shutdown: Arc<Shutdown>) {
    let _ = race(interrupt.recv(), terminate.recv()).await;
    shutdown.drain.cancel();
    let _ = race(interrupt.recv(), terminate.recv()).await;
    shutdown.force.cancel();
}

/// Accepts connections into `conns` until `stop` is cancelled, spawning `handler(stream)`
/// for each, and returns how many it accepted. Finished connections are joined as it
/// goes, so the set holds only open ones. Errors are handled as in [`accept_loop`].
async fn accept_until<H, Fut>(
    listener: &net::TcpListener,
    stop: &CancellationToken,
    conns: &mut JoinSet<()>,
    mut handler: H,
) -> u64
where
    H: FnMut(net::TcpStream) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let mut accepted = 0;
    // One wait for the whole loop: registered once, not once per connection.
    let mut drained = pin!(stop.cancelled());
    loop {
        match race(drained.as_mut(), listener.accept()).await {
            Either::Left(()) => return accepted,
            Either::Right(Ok((stream, _peer))) => {
                accepted += 1;
                let _ = stream.set_nodelay(true);
                conns.spawn(handler(stream));
                while conns.try_join_next().is_some() {}
            }
            Either::Right(Err(e)) => {
                if !is_resource_exhaustion(&e) {
                    eprintln!("accept failed: {e}");
                }
                let pause = runtime::time::sleep(ACCEPT_BACKOFF);
                if let Either::Left(()) = race(drained.as_mut(), pause).await {
                    return accepted;
                }
            }
        }
    }
}

/// Joins `conns` until all have ended, `grace` has passed or `force` is cancelled, then
/// cancels the rest. Returns how many ended in time and how many were cancelled.
async fn drain_connections(
    conns: &mut JoinSet<()>,
    grace: Duration,
    force: &CancellationToken,
) -> (u64, u64) {
    let mut deadline = pin!(runtime::time::sleep(grace));
    let mut forced = pin!(force.cancelled());
    let mut drained = 0;
    while !conns.is_empty() {
        let stop = race(deadline.as_mut(), forced.as_mut());
        match race(conns.join_next(), stop).await {
            Either::Left(Some(_)) => drained += 1,
            Either::Left(None) | Either::Right(_) => break,
        }
    }
    // Those that ended with the deadline were not cut off.
    while conns.try_join_next().is_some() {
        drained += 1;
    }
    let cancelled = conns.len() as u64;
    conns.shutdown().await;
    (drained, cancelled)
}

/// Prints the one line that says the server accepts, and flushes it.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}
