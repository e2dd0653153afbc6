//! The frame every example server shares: listeners, loops, the accept loop and shutdown.
//!
//! [`run`] starts one loop per thread with [`runtime::Builder::run`]. Each loop binds its
//! own listener on the same address with `SO_REUSEPORT` ([`net::TcpSocket`]): loop 0
//! binds the address asked for and publishes the address it got (with port 0, the port
//! the kernel chose), and the others bind that. Once every loop listens for signals and
//! accepts, the line `listening on HOST:PORT` is printed. Each loop accepts its own
//! connections and serves each one in its own task. On `SIGINT` or `SIGTERM` every loop
//! stops accepting and drops its connections, each prints on stderr how many connections
//! it served, and [`run`] returns.

use std::cell::Cell;
use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use runtime::signal::{SignalKind, signal};

use crate::cli::ServerArgs;
use crate::io::race;

/// How long an accept loop pauses when the process or the system is out of file
/// descriptors (`EMFILE`, `ENFILE`) or of memory for sockets (`ENOBUFS`, `ENOMEM`):
/// the connection stays queued, so retrying at once would spin, and stopping would leave
/// the server deaf once connections close and free descriptors again (see
/// [`net::TcpListener::accept`]).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// The listen backlog of every listener.
pub const BACKLOG: u32 = 1024;

/// What one loop did, returned by [`run`] when it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopReport {
    /// The loop's index (`0..threads`).
    pub index: usize,
    /// How many connections it accepted.
    pub connections: u64,
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

/// Runs a server as described in the [module](self): `per_loop(index)` is called once on
/// each loop's thread and returns that loop's connection handler.
///
/// A loop that cannot listen (the address is taken, say) prints why and ends the process
/// with exit code 1, so that no loop serves alone. A panic in one loop is reported when
/// the others have stopped, as an error.
pub fn run<L, H, Fut>(args: &ServerArgs, per_loop: L) -> io::Result<Vec<LoopReport>>
where
    L: Fn(usize) -> H + Send + Sync + 'static,
    H: FnMut(net::TcpStream) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let bound = Arc::new(BoundAddr::default());
    let ready = Arc::new(AtomicUsize::new(0));
    let (addr, threads) = (args.addr, args.threads);
    let results = runtime::Builder::new().threads(threads).run(move || {
        let index = runtime::loop_index().unwrap_or(0);
        let socket = bind_for_loop(index, addr, threads, &bound);
        let ready = ready.clone();
        let handler = per_loop(index);
        async move {
            // Listen for signals before announcing, so that a signal sent right after
            // the announcement is never missed.
            let started = (|| {
                let interrupt = signal(SignalKind::interrupt())?;
                let terminate = signal(SignalKind::terminate())?;
                Ok::<_, io::Error>((interrupt, terminate, socket?.listen(BACKLOG)?))
            })();
            let (mut interrupt, mut terminate, listener) = match started {
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
            let accepted = Cell::new(0);
            let serving = accept_loop(&listener, &accepted, handler);
            let stop = race(interrupt.recv(), terminate.recv());
            // The accept loop never ends: this returns on a signal. Then the loop stops
            // accepting, and dropping its runtime drops its connections.
            let _ = race(stop, serving).await;
            Ok::<_, io::Error>(LoopReport {
                index,
                connections: accepted.get(),
            })
        }
    });
    let mut reports = Vec::with_capacity(results.len());
    let mut failure = None;
    for result in results {
        match result {
            Ok(Ok(report)) => {
                eprintln!(
                    "loop {} served {} connections",
                    report.index, report.connections
                );
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

/// Prints the one line that says the server accepts, and flushes it.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}
