//! Unit tests of `serve_connection` over in-memory streams.

use std::time::Duration;

use super::*;
use crate::testing::{MockStream, NowSleeper, block_on};

fn serve_with(stream: &mut MockStream, config: &Config) -> (String, Stats) {
    let stats = Stats::new(7);
    block_on(serve_connection(&mut *stream, config, &NowSleeper, &stats)).unwrap();
    (String::from_utf8_lossy(&stream.written).into_owned(), stats)
}

fn serve(chunks: &[&[u8]]) -> (String, MockStream) {
    let mut stream = MockStream::chunks(chunks);
    let (out, _) = serve_with(&mut stream, &Config::default());
    (out, stream)
}

fn statuses(out: &str) -> Vec<&str> {
    out.match_indices("HTTP/1.1 ")
        .map(|(i, _)| &out[i + 9..i + 12])
        .collect()
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn pipelined_requests_are_answered_in_order_in_one_write() {
    let mut all = Vec::new();
    all.extend_from_slice(GET);
    all.extend_from_slice(b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n");
    all.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nping");
    all.extend_from_slice(b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
    all.extend_from_slice(b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n");
    all.extend_from_slice(b"GET /loop HTTP/1.1\r\nHost: a\r\n\r\n");
    let (out, stream) = serve(&[&all]);
    assert_eq!(statuses(&out), ["200", "200", "200", "404", "405", "200"]);
    assert_eq!(stream.writes, 1, "one write for the whole batch");
    let hello = out.find("Hello, world!").unwrap();
    let json = out.find(r#"{"message":"Hello, world!"}"#).unwrap();
    let ping = out.find("\r\n\r\nping").unwrap();
    assert!(hello < json && json < ping);
    assert!(out.ends_with("\r\n\r\n7"), "{out}");
}

#[test]
fn requests_split_anywhere_are_reassembled() {
    let raw = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    for cut in 1..raw.len() {
        let (out, _) = serve(&[&raw[..cut], &raw[cut..]]);
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "cut {cut}: {out}");
        assert!(out.ends_with("\r\n\r\nhello world"), "cut {cut}: {out}");
    }
}

#[test]
fn bodies_longer_than_the_buffer_are_streamed() {
    let body = vec![b'x'; 100_000];
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (out, _) = serve(&[head.as_bytes(), &body[..50_000], &body[50_000..], GET]);
    assert_eq!(statuses(&out), ["200", "200"]);
    assert!(out.contains(&"x".repeat(100_000)));
}

#[test]
fn bodies_of_other_routes_are_skipped() {
    let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nGET /";
    let (out, _) = serve(&[raw, GET]);
    assert_eq!(statuses(&out), ["405", "200"]);
}

#[test]
fn connection_close_and_http_1_0() {
    let (out, stream) = serve(&[
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        GET,
    ]);
    assert_eq!(statuses(&out), ["200"]);
    assert!(out.contains("Connection: close\r\n"));
    assert!(stream.closed, "write side shut down");
    let (out, _) = serve(&[b"GET / HTTP/1.0\r\n\r\n", GET]);
    assert_eq!(statuses(&out), ["200"]);
    let (out, _) = serve(&[b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", GET]);
    assert_eq!(statuses(&out), ["200", "200"]);
    assert!(out.contains("Connection: keep-alive\r\n"));
}

#[test]
fn hostile_requests_are_refused_and_closed() {
    let cases: [(&[u8], &str); 6] = [
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", "400"),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", "413"),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "501"),
        (b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", "400"),
        (b"GET / HTTP/1.1\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", "400"),
    ];
    for (raw, status) in cases {
        let mut stream = MockStream::chunks(&[raw, GET]);
        let (out, stats) = serve_with(&mut stream, &Config::default());
        assert_eq!(statuses(&out), [status], "{}", String::from_utf8_lossy(raw));
        assert!(out.contains("Connection: close\r\n"));
        assert!(stream.closed);
        assert_eq!(stats.rejected(), 1);
    }
}

#[test]
fn oversized_heads_are_431() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 9000));
    raw.extend_from_slice(b"\r\n\r\n");
    let (out, _) = serve(&[&raw]);
    assert_eq!(statuses(&out), ["431"]);
    // The same without a single newline.
    let (out, _) = serve(&[&[b'a'; 10_000]]);
    assert_eq!(statuses(&out), ["431"]);
}

#[test]
fn expect_continue_gets_an_interim_answer() {
    let head =
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    let (out, _) = serve(&[head, b"ok"]);
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{out}"
    );
    assert!(out.ends_with("ok"));
}

#[test]
fn a_slow_head_times_out_with_408() {
    let config = Config {
        header_timeout: Duration::ZERO,
        ..Config::default()
    };
    let mut stream = MockStream::chunks(&[b"GET / HT"]);
    stream.hang_at_end = true;
    let (out, stats) = serve_with(&mut stream, &config);
    assert_eq!(statuses(&out), ["408"]);
    assert_eq!(stats.timed_out(), 1);
}

#[test]
fn an_idle_connection_times_out_silently() {
    let config = Config {
        idle_timeout: Duration::ZERO,
        ..Config::default()
    };
    let mut stream = MockStream::chunks(&[GET]);
    stream.hang_at_end = true;
    let (out, stats) = serve_with(&mut stream, &config);
    assert_eq!(statuses(&out), ["200"]);
    assert_eq!(stats.timed_out(), 1);
    assert_eq!(stats.requests(), 1);
}

fn serve_draining(stream: &mut MockStream) -> String {
    let drain = runtime::sync::CancellationToken::new();
    drain.cancel();
    let stats = Stats::new(0);
    block_on(serve_connection_graceful(
        &mut *stream,
        &Config::default(),
        &NowSleeper,
        &stats,
        &drain,
    ))
    .unwrap();
    String::from_utf8_lossy(&stream.written).into_owned()
}

#[test]
fn a_drain_closes_an_idle_connection_without_an_answer() {
    let mut stream = MockStream::chunks(&[]);
    stream.hang_at_end = true;
    let out = serve_draining(&mut stream);
    assert_eq!(out, "");
    assert!(stream.closed, "write side shut down");
}

#[test]
fn a_drain_answers_the_request_in_flight_with_connection_close() {
    // Two pipelined requests: the first is answered and is the last.
    let mut two = GET.to_vec();
    two.extend_from_slice(GET);
    let mut stream = MockStream::chunks(&[&two]);
    stream.hang_at_end = true;
    let out = serve_draining(&mut stream);
    assert_eq!(statuses(&out), ["200"]);
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(stream.closed);
    // A head that is still arriving is in flight too.
    let mut stream = MockStream::chunks(&[b"GET / HTTP/1.1\r\n", b"Host: a\r\n\r\n"]);
    stream.hang_at_end = true;
    let out = serve_draining(&mut stream);
    assert_eq!(statuses(&out), ["200"]);
    assert!(out.contains("Connection: close\r\n"), "{out}");
}

#[test]
fn delay_answers_after_its_delay() {
    let started = std::time::Instant::now();
    let (out, _) = serve(&[
        b"GET /delay?ms=20 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /delay?ms=abc HTTP/1.1\r\nHost: a\r\n\r\nGET /delay?ms=10001 HTTP/1.1\r\nHost: a\r\n\r\n",
        GET,
    ]);
    assert!(started.elapsed() >= Duration::from_millis(20));
    assert_eq!(statuses(&out), ["200", "400", "400", "200"]);
    assert!(out.contains("\r\n\r\ndelayed 20 ms"), "{out}");
}

#[test]
fn every_answer_carries_a_date() {
    let (out, _) = serve(&[GET, b"GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!(out.matches("\r\nDate: ").count(), 2, "{out}");
    let date = out.lines().find_map(|l| l.strip_prefix("Date: ")).unwrap();
    assert_eq!(date.len(), 29);
    assert!(date.ends_with(" GMT"), "{date}");
}
