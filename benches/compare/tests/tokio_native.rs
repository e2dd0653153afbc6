//! The native tokio servers of the compare bench (the baseline column of every "vs tokio"
//! goal) behave as evloop's servers do: the HTTP loop over tokio's `BufReader` and
//! `BufWriter` gives byte for byte the answers of `evloop::http::serve_connection` (the
//! `Date` field aside) to the same requests, hostile ones included, and keeps its
//! timeouts; the echo server echoes and closes.

#[path = "../src/tokio_native.rs"]
#[allow(dead_code)]
mod tokio_native;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use evloop::http::{Config, RuntimeSleeper, Stats, serve_connection};

/// A hang guard for every read of these tests.
const PATIENCE: Duration = Duration::from_secs(10);

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// The native tokio HTTP server on its own thread, serving connections until the
/// process ends.
fn tokio_http(config: Config) -> (SocketAddr, &'static Stats) {
    let (config, stats) = (leak(config), leak(Stats::new(7)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let _ = tokio_native::serve_http(stream, config, stats).await;
                });
            }
        });
    });
    (addr, stats)
}

/// evloop's shared HTTP server on its own thread.
fn evloop_http(config: Config) -> SocketAddr {
    let (config, stats) = (leak(config), leak(Stats::new(7)));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime::Runtime::new().unwrap().block_on(async move {
            let listener = net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                runtime::spawn(async move {
                    let _ = serve_connection(stream, config, &RuntimeSleeper, stats).await;
                });
            }
        });
    });
    rx.recv_timeout(PATIENCE).unwrap()
}

/// Sends `parts` one after the other (a pause between them, so that a server may see
/// them apart), closes the write side unless `keep_open`, and returns everything the
/// server sent until it closed.
fn exchange(addr: SocketAddr, parts: &[&[u8]], keep_open: bool) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        s.write_all(part).unwrap();
    }
    if !keep_open {
        s.shutdown(Shutdown::Write).unwrap();
    }
    let mut out = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("no end of the answers within {PATIENCE:?}: {e}"),
        }
        assert!(started.elapsed() < PATIENCE, "the server never closed");
    }
    out
}

/// The answers with each `Date` value blanked (the two servers may answer in different
/// seconds).
fn without_dates(answers: &[u8]) -> String {
    let text = String::from_utf8_lossy(answers);
    let mut out = String::new();
    let mut rest = &*text;
    while let Some(at) = rest.find("\r\nDate: ") {
        let field = at + "\r\nDate: ".len();
        out.push_str(&rest[..field]);
        out.push_str("<date>");
        rest = &rest[field + 29..];
    }
    out.push_str(rest);
    out
}

fn statuses(answers: &str) -> Vec<&str> {
    answers
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|a| &a[..3])
        .collect()
}

/// A request script: its name, the parts sent one after the other, and the statuses
/// expected back.
type Script = (&'static str, Vec<&'static [u8]>, Vec<&'static str>);

/// The request scripts both servers answer.
fn scripts() -> Vec<Script> {
    let mut many_headers = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..100 {
        many_headers.push_str(&format!("X-{i}: y\r\n"));
    }
    many_headers.push_str("\r\n");
    let many_headers: &'static [u8] = leak(many_headers).as_bytes();
    let huge_head: &'static [u8] = leak(format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(9000)
    ))
    .as_bytes();
    vec![
        (
            "pipelined, every route",
            vec![
                b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n\
                  HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /loop HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /nope HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /echo HTTP/1.1\r\nHost: a\r\n\r\nGET /delay?ms=x HTTP/1.1\r\nHost: a\r\n\r\n\
                  GET /delay?ms=5 HTTP/1.1\r\nHost: a\r\n\r\n",
            ],
            vec!["200", "200", "200", "200", "404", "405", "405", "400", "200"],
        ),
        (
            "a head cut in three",
            vec![b"GET / HT", b"TP/1.1\r\nHo", b"st: a\r\n\r\n"],
            vec!["200"],
        ),
        (
            "a body in parts, echoed, then a request after it",
            vec![
                b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhel",
                b"lo wor",
                b"ldGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            ],
            vec!["200", "200"],
        ),
        (
            "100-continue",
            vec![
                b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
                b"ping",
            ],
            vec!["100", "200"],
        ),
        (
            "HTTP/1.0 keep-alive, then Connection: close ends it",
            vec![
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
                  GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
                  GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            ],
            vec!["200", "200"],
        ),
        (
            "a malformed head",
            vec![b"GET / HTTP/1.1\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"],
            vec!["400"],
        ),
        (
            "no Host",
            vec![b"GET / HTTP/1.1\r\n\r\n"],
            vec!["400"],
        ),
        (
            "Transfer-Encoding",
            vec![b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"],
            vec!["501"],
        ),
        (
            "Content-Length and Transfer-Encoding",
            vec![b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\nx"],
            vec!["400"],
        ),
        ("too many headers", vec![many_headers], vec!["431"]),
        ("a head larger than the buffer", vec![huge_head], vec!["431"]),
        (
            "a body over the limit",
            vec![b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n"],
            vec!["413"],
        ),
    ]
}

#[test]
fn native_tokio_http_answers_as_the_shared_server_does() {
    let (native, stats) = tokio_http(Config::default());
    let shared = evloop_http(Config::default());
    for (name, parts, expected) in scripts() {
        let a = without_dates(&exchange(native, &parts, false));
        let b = without_dates(&exchange(shared, &parts, false));
        assert_eq!(a, b, "{name}: native tokio and the shared server differ");
        assert_eq!(statuses(&a), expected, "{name}: {a}");
    }
    let loop_answer = without_dates(&exchange(
        native,
        &[b"GET /loop HTTP/1.1\r\nHost: a\r\n\r\n"],
        false,
    ));
    assert!(loop_answer.ends_with("\r\n\r\n7"), "{loop_answer}");
    assert!(stats.connections() >= scripts().len() as u64);
    assert!(stats.requests() >= 12);
    assert!(stats.rejected() >= 6);
}

#[test]
fn native_tokio_http_keeps_the_timeouts() {
    let config = Config {
        header_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let (native, stats) = tokio_http(config.clone());
    let shared = evloop_http(config);
    // A head that never ends: 408, then close.
    let started = Instant::now();
    let slow = exchange(native, &[b"GET / HTTP/1.1\r\nHost: a\r\n"], true);
    assert!(started.elapsed() < PATIENCE);
    let slow = without_dates(&slow);
    assert_eq!(statuses(&slow), ["408"], "{slow}");
    assert_eq!(
        slow,
        without_dates(&exchange(shared, &[b"GET / HTTP/1.1\r\nHost: a\r\n"], true))
    );
    // A connection that answers one request, then goes quiet: closed without a word.
    let idle = exchange(native, &[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], true);
    assert_eq!(statuses(&without_dates(&idle)), ["200"]);
    assert_eq!(stats.timed_out(), 2);
}

#[test]
fn native_tokio_echo_echoes_and_closes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            tokio_native::echo(stream, 16).await
        })
    });
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let payload = payload.clone();
        std::thread::spawn(move || {
            s.write_all(&payload).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back, payload);
    assert_eq!(server.join().unwrap().unwrap(), payload.len() as u64);
}
