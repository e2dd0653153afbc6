//! `evloop::http` is runtime-agnostic: here it runs on tokio's multi-threaded runtime (so
//! its future is `Send`), through a small futures-io adapter and a tokio `Sleeper`, the
//! way the benchmarks run it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use evloop::http::{Config, Sleeper, Stats, serve_connection, serve_connection_graceful};
use runtime::sync::CancellationToken;

struct Compat(tokio::net::TcpStream);

impl futures_io::AsyncRead for Compat {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut buf = tokio::io::ReadBuf::new(buf);
        tokio::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, &mut buf)
            .map_ok(|()| buf.filled().len())
    }
}

impl futures_io::AsyncWrite for Compat {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

/// tokio's timers, counting the deadlines armed less than 5 s ahead: with the default
/// timeouts, only a `/delay` arms one, so the count says a delay is under way.
#[derive(Clone, Default)]
struct TokioSleeper {
    short_deadlines: Arc<AtomicUsize>,
}

impl TokioSleeper {
    fn note(&self, deadline: Instant) {
        if deadline < Instant::now() + Duration::from_secs(5) {
            self.short_deadlines.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Sleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;
    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        self.note(deadline);
        tokio::time::sleep_until(deadline.into())
    }
    fn reset(&self, sleep: Pin<&mut tokio::time::Sleep>, deadline: Instant) {
        self.note(deadline);
        sleep.reset(deadline.into());
    }
}

fn start(config: Config) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    let (addr, rt, _) = start_with(config, None);
    (addr, rt)
}

/// Serves with `serve_connection_graceful` when `drain` is given; gives the server's
/// sleeper too.
fn start_with(
    config: Config,
    drain: Option<CancellationToken>,
) -> (std::net::SocketAddr, tokio::runtime::Runtime, TokioSleeper) {
    let sleeper = TokioSleeper::default();
    let timer = sleeper.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(config);
    let stats = Arc::new(Stats::new(0));
    rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (config, stats, drain) = (config.clone(), stats.clone(), drain.clone());
            let timer = timer.clone();
            tokio::spawn(async move {
                let stream = Compat(stream);
                let _ = match drain {
                    Some(drain) => {
                        serve_connection_graceful(stream, &config, &timer, &stats, &drain).await
                    }
                    None => serve_connection(stream, &config, &timer, &stats).await,
                };
            });
        }
    });
    (addr, rt, sleeper)
}

fn read_all(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn pipelined_requests_on_tokio() {
    let (addr, _rt) = start(Config::default());
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc\
          GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let text = read_all(&mut s);
    let hello = text.find("Hello, world!").unwrap();
    let abc = text.find("\r\n\r\nabc").unwrap();
    let json = text.find(r#"{"message""#).unwrap();
    assert!(hello < abc && abc < json, "{text}");
}

#[test]
fn slowloris_is_closed_with_408_on_tokio() {
    let timeout = Duration::from_millis(300);
    let (addr, _rt) = start(Config {
        header_timeout: timeout,
        ..Config::default()
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    s.write_all(b"GET / HT").unwrap();
    let text = read_all(&mut s);
    let waited = started.elapsed();
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(waited >= timeout && waited < timeout * 20, "{waited:?}");
}

/// The drain works on tokio too, cancelled from this (non-runtime) thread: the idle
/// connection is closed, the request in flight answered with `Connection: close`.
#[test]
fn a_drain_on_tokio() {
    let drain = CancellationToken::new();
    let (addr, _rt, sleeper) = start_with(Config::default(), Some(drain.clone()));
    let answered = || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut pending = Vec::new();
        let r = common::read_response(&mut s, &mut pending).expect("an answer");
        assert_eq!((r.status, pending.len()), (200, 0));
        common::assert_fresh_date(&r);
        s
    };
    let (mut idle, mut busy) = (answered(), answered());
    busy.write_all(b"GET /delay?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // A request that arrives as the drain begins may find its connection closed, as
    // with any server: cancel once the server is holding this one.
    common::wait_until("the delay to start", common::HANG_GUARD, || {
        sleeper.short_deadlines.load(Ordering::SeqCst) > 0
    });
    drain.cancel();
    assert!(
        common::reads_to_eof(&mut idle),
        "the idle connection was closed"
    );
    let mut pending = Vec::new();
    let r = common::read_response(&mut busy, &mut pending).expect("the delayed answer");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"delayed 300 ms");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(common::reads_to_eof(&mut busy));
}
