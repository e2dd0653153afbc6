//! The `http_server` example over loopback: routes with a real client, pipelining, hostile
//! input next to a well-behaved client, and the slowloris and idle timeouts.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    HANG_GUARD, Server, assert_fresh_date, exchange, parse_imf_fixdate, read_response, reads_to_eof,
};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// `curl -s -o BODY -w STATUS`, or `None` without curl.
fn curl(args: &[&str]) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n')?;
    Some((status.parse().ok()?, body.to_owned()))
}

/// One request on its own connection, by raw socket.
fn raw(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    let r = exchange(addr, &req, 1).pop().expect("a response");
    (r.status, r.body)
}

#[test]
fn every_route_answers_a_real_client() {
    let server = Server::start("http_server", &[]);
    let base = format!("http://{}", server.addr);
    let cases: [(&[&str], u16, &str); 7] = [
        (&[], 200, "Hello, world!"),
        (&["/json"], 200, r#"{"message":"Hello, world!"}"#),
        (
            &["-X", "POST", "--data-binary", "ping pong", "/echo"],
            200,
            "ping pong",
        ),
        (&["/missing"], 404, "Not Found\n"),
        (&["-X", "DELETE", "/"], 405, "Method Not Allowed\n"),
        (&["/echo"], 405, "Method Not Allowed\n"),
        (&["/loop"], 200, "0"),
    ];
    let have_curl = curl(&["--version"]).is_some();
    for (args, status, body) in cases {
        let (path, rest) = args.split_last().map_or(("/", &[][..]), |(p, r)| (*p, r));
        let got = if have_curl {
            let url = format!("{base}{path}");
            let mut all: Vec<&str> = rest.to_vec();
            all.push(&url);
            curl(&all).expect("curl ran")
        } else {
            let method = if rest.contains(&"POST") {
                "POST"
            } else if rest.contains(&"DELETE") {
                "DELETE"
            } else {
                "GET"
            };
            let data = rest
                .iter()
                .position(|a| *a == "--data-binary")
                .map_or("", |i| rest[i + 1]);
            let (s, b) = raw(server.addr, method, path, data.as_bytes());
            (s, String::from_utf8_lossy(&b).into_owned())
        };
        assert_eq!(got, (status, body.to_owned()), "{args:?}");
    }
    // A large body, which curl sends with `Expect: 100-continue`.
    let big = "y".repeat(200_000);
    if have_curl {
        let url = format!("{base}/echo");
        let (status, body) = curl(&["-X", "POST", "--data-binary", &big, &url]).unwrap();
        assert_eq!((status, body.len()), (200, big.len()));
    }
    let (status, body) = raw(server.addr, "POST", "/echo", big.as_bytes());
    assert_eq!((status, body.len()), (200, big.len()));
}

#[test]
fn every_answer_carries_the_date() {
    let server = Server::start("http_server", &[]);
    let mut batch = Vec::new();
    for path in [
        "/",
        "/json",
        "/loop",
        "/missing",
        "/delay?ms=1",
        "/delay?ms=x",
    ] {
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"DELETE / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let responses = exchange(server.addr, &batch, usize::MAX);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 200, 400, 405]);
    for r in &responses {
        assert_fresh_date(r);
    }
    assert_eq!(responses[4].body, b"delayed 1 ms");
    // A refused request too.
    let refused = exchange(server.addr, b"GET / HTTP/1.1\r\n\r\n", 1);
    assert_eq!(refused[0].status, 400);
    assert_fresh_date(&refused[0]);
}

#[test]
fn the_date_parser_of_these_tests_knows_real_dates() {
    assert_eq!(
        parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(784_111_777)
    );
    assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    assert_eq!(
        parse_imf_fixdate("Tue, 29 Feb 2000 00:00:00 GMT"),
        Some(951_782_400)
    );
    assert_eq!(
        parse_imf_fixdate("Mon, 01 Mar 2100 00:00:00 GMT"),
        Some(4_107_542_400)
    );
    for bad in [
        "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nox 1994 08:49:37 GMT",
    ] {
        assert_eq!(parse_imf_fixdate(bad), None, "{bad}");
    }
}

#[test]
fn pipelined_requests_come_back_in_order() {
    let server = Server::start("http_server", &[]);
    let mut batch = Vec::new();
    for i in 0..50 {
        let body = format!("request {i}");
        batch.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        batch.extend_from_slice(GET);
    }
    batch.extend_from_slice(b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let responses = exchange(server.addr, &batch, usize::MAX);
    assert_eq!(responses.len(), 101);
    for i in 0..50 {
        assert_eq!(responses[2 * i].body, format!("request {i}").as_bytes());
        assert_eq!(responses[2 * i + 1].body, b"Hello, world!");
    }
    assert_eq!(responses[100].header("connection"), Some("close"));
    // HTTP/1.0 closes unless asked to keep alive.
    let r = exchange(
        server.addr,
        b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        2,
    );
    assert_eq!(r.len(), 1);
    let r = exchange(
        server.addr,
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        2,
    );
    assert_eq!(r.len(), 2);
}

/// A client that keeps getting 200s on one keep-alive connection until told to stop.
fn well_behaved(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut pending = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            stream.write_all(GET).unwrap();
            let r = read_response(&mut stream, &mut pending).expect("a response");
            assert_eq!(r.status, 200);
            served.fetch_add(1, Ordering::Relaxed);
        }
    })
}

#[test]
fn hostile_input_is_refused_while_others_are_served() {
    let server = Server::start("http_server", &["--max-body-bytes", "1000"]);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let client = well_behaved(server.addr, stop.clone(), served.clone());
    let mut huge_header = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
    huge_header.extend(std::iter::repeat_n(b'a', 10_000));
    huge_header.extend_from_slice(b"\r\n\r\n");
    let mut many_headers = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    for i in 0..200 {
        many_headers.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many_headers.extend_from_slice(b"\r\n");
    let cases: Vec<(&[u8], u16)> = vec![
        (b"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (&huge_header, 431),
        (&many_headers, 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", 413),
        // A chunked body must not be taken for the next request ("GET / ..." inside it).
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1b\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n\r\n0\r\n\r\n", 501),
    ];
    for (raw, status) in &cases {
        let mut responses = exchange(server.addr, raw, usize::MAX);
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(60)]);
        assert_eq!(
            responses.len(),
            1,
            "exactly one answer, then close: {shown}"
        );
        let r = responses.pop().unwrap();
        assert_eq!(r.status, *status, "{shown}");
        assert_eq!(r.header("connection"), Some("close"), "{shown}");
    }
    let before = served.load(Ordering::Relaxed);
    common::wait_until("more 200s", HANG_GUARD, || {
        served.load(Ordering::Relaxed) > before + 10
    });
    stop.store(true, Ordering::Relaxed);
    client
        .join()
        .expect("the well-behaved client saw only 200s");
}

#[test]
fn slowloris_is_closed_by_the_header_timeout() {
    let timeout = Duration::from_millis(600);
    let server = Server::start(
        "http_server",
        &["--header-timeout-ms", "600", "--idle-timeout-ms", "60000"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let client = well_behaved(server.addr, stop.clone(), served.clone());
    let mut slow = server.connect();
    let started = Instant::now();
    let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_at = None;
    for byte in head {
        if slow.write_all(&[*byte]).is_err() {
            closed_at = Some(started.elapsed());
            break;
        }
        // Between bytes, see whether the server answered (408) and closed.
        slow.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
                slow.set_read_timeout(Some(HANG_GUARD)).unwrap();
                assert!(reads_to_eof(&mut slow));
                closed_at = Some(started.elapsed());
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed_at = Some(started.elapsed());
                break;
            }
        }
    }
    let closed_at = closed_at.expect("the slow client was disconnected");
    assert!(
        closed_at >= timeout,
        "closed after {closed_at:?}, before the timeout"
    );
    assert!(closed_at < timeout * 20, "closed only after {closed_at:?}");
    assert!(served.load(Ordering::Relaxed) > 0);
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
}

#[test]
fn idle_connections_are_closed_by_the_idle_timeout() {
    let timeout = Duration::from_millis(500);
    let server = Server::start("http_server", &["--idle-timeout-ms", "500"]);
    // Never sends a byte.
    let mut idle = server.connect();
    let started = Instant::now();
    assert!(reads_to_eof(&mut idle));
    let waited = started.elapsed();
    assert!(waited >= timeout && waited < timeout * 20, "{waited:?}");
    // Idle after a request.
    let mut kept = server.connect();
    let started = Instant::now();
    kept.write_all(GET).unwrap();
    let mut pending = Vec::new();
    assert_eq!(read_response(&mut kept, &mut pending).unwrap().status, 200);
    assert!(reads_to_eof(&mut kept));
    let waited = started.elapsed();
    assert!(waited >= timeout && waited < timeout * 20, "{waited:?}");
}
