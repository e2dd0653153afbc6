//! The servers. evloop runs `evloop::echo::echo`, `evloop::http::serve_connection` and
//! one hyper service ([`hello`]). tokio runs them twice over:
//!
//! - **native** (`--runtime tokio`), as a tokio user writes them: echo and HTTP with
//!   `tokio::io` (`tokio_native.rs`; HTTP drives the same parser and answer writer,
//!   `evloop::http::proto`, over tokio's `BufReader` and `BufWriter`), hyper through
//!   hyper-util's `TokioIo`;
//! - **through compat** (`--runtime tokio-compat`): evloop's own futures-io code, echo
//!   and HTTP, over tokio-util's `compat()` adapter.
//!
//! evloop's streams implement futures-io and hyper's traits themselves.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use evloop::http::{Config, Sleeper, Stats};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio_util::compat::TokioAsyncReadCompatExt;

/// Which application a server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `evloop::echo::echo` with the given buffer size.
    Echo(usize),
    /// `evloop::http::serve_connection` with the default [`Config`].
    Http,
    /// hyper 1.x's HTTP/1 server with [`hello`].
    Hyper,
}

/// The buffer of the echo service in the echo workloads.
pub const ECHO_BUF: usize = 4096;

/// The buffer of the echo service in the idle-memory workload: the smallest message
/// size, so the figure is mostly the runtime's own cost per connection.
pub const IDLE_BUF: usize = 64;

/// How long an accept loop pauses after an error other than a retriable one.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Tells the parent where the server listens.
pub fn announce(addr: SocketAddr) {
    println!("listening on {addr}");
    let _ = io::stdout().flush();
}

/// The HTTP server's configuration and counters, alive for the whole process.
pub fn http_state() -> (&'static Config, &'static Stats) {
    (
        Box::leak(Box::new(Config::default())),
        Box::leak(Box::new(Stats::new(0))),
    )
}

/// The hyper service of both runtimes: `Hello, world!` for any request.
pub async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, world!",
    ))))
}

/// tokio's [`Sleeper`] for the shared HTTP server.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn reset(&self, sleep: Pin<&mut tokio::time::Sleep>, deadline: Instant) {
        sleep.reset(deadline.into());
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// How tokio runs the application code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokioStyle {
    /// `tokio::io` as a tokio user writes it (`tokio_native.rs`, hyper-util's `TokioIo`).
    Native,
    /// evloop's futures-io code through tokio-util's `compat()`.
    Compat,
}

/// Runs `service` on tokio's current_thread runtime until the process is killed.
pub fn tokio(service: Service, style: TokioStyle) -> io::Result<()> {
    if style == TokioStyle::Compat && service == Service::Hyper {
        return Err(io::Error::other(
            "hyper runs on tokio through hyper-util's TokioIo only (no compat server)",
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (config, stats) = http_state();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("tokio: accept: {e}");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match (service, style) {
                (Service::Echo(buf), TokioStyle::Native) => drop(tokio::spawn(async move {
                    let _ = crate::tokio_native::echo(stream, buf).await;
                })),
                (Service::Http, TokioStyle::Native) => drop(tokio::spawn(async move {
                    let _ = crate::tokio_native::serve_http(stream, config, stats).await;
                })),
                (Service::Echo(buf), TokioStyle::Compat) => drop(tokio::spawn(async move {
                    let _ = evloop::echo::echo(stream.compat(), buf).await;
                })),
                (Service::Http, TokioStyle::Compat) => drop(tokio::spawn(async move {
                    let _ = evloop::http::serve_connection(
                        stream.compat(),
                        config,
                        &TokioSleeper,
                        stats,
                    )
                    .await;
                })),
                (Service::Hyper, _) => drop(tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .serve_connection(io, hyper::service::service_fn(hello))
                        .await;
                })),
            }
        }
    })
}

/// Runs the raw epoll echo server until the process is killed.
pub fn raw() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?);
    crate::raw::serve(listener)
}

/// Runs the raw io_uring echo server until the process is killed.
#[cfg(target_os = "linux")]
pub fn raw_uring() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    announce(listener.local_addr()?);
    crate::raw_uring::serve(listener)
}
