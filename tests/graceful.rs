//! Graceful shutdown of the example servers, against the real binaries and real signals:
//! on the first SIGTERM a server closes its listeners (new connects are refused) and its
//! idle connections, lets the work in flight finish (HTTP answers it with `Connection:
//! close`; echo writes back what it read), and exits 0; `--grace-ms` bounds the wait, and
//! a second signal ends it at once. Each loop's stderr summary is checked, with one loop
//! and with two.
//!
//! No test sleeps for its result: each waits for what it needs (the listening line, an
//! answer proving a connection was accepted, the `draining` lines, end of stream), with
//! the hang guard of `common`. The only timing bounds are loose upper bounds.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{HANG_GUARD, Server, assert_fresh_date, read_response, reads_to_eof};

/// A loop's summary: served, drained, cancelled.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    served: u64,
    drained: u64,
    cancelled: u64,
}

/// Parses `loop I served S connections, drained D, cancelled C`.
fn summary(line: &str) -> Option<(usize, Counts)> {
    let rest = line.strip_prefix("loop ")?;
    let (index, rest) = rest.split_once(" served ")?;
    let (served, rest) = rest.split_once(" connections, drained ")?;
    let (drained, cancelled) = rest.split_once(", cancelled ")?;
    Some((
        index.parse().ok()?,
        Counts {
            served: served.parse().ok()?,
            drained: drained.parse().ok()?,
            cancelled: cancelled.parse().ok()?,
        },
    ))
}

/// Parses `draining loop I: listener closed, N connections open`.
fn draining(line: &str) -> Option<(usize, u64)> {
    let rest = line.strip_prefix("draining loop ")?;
    let (index, rest) = rest.split_once(": listener closed, ")?;
    let open = rest.strip_suffix(" connections open")?;
    Some((index.parse().ok()?, open.parse().ok()?))
}

fn kill(server: &Server, signal: i32) {
    // SAFETY: kill(2) with the pid of our own child, which has not been reaped (the
    // `Server` reaps it only in `wait` or on drop).
    assert_eq!(unsafe { libc::kill(server.pid(), signal) }, 0);
}

/// Sends SIGTERM and waits until every loop has closed its listener; returns the number
/// of connections open when the drains began, summed over the loops.
fn begin_drain(server: &Server, threads: usize) -> u64 {
    kill(server, libc::SIGTERM);
    let lines = server.stderr_until(threads, |l| draining(l).is_some());
    let mut loops: Vec<(usize, u64)> = lines.iter().filter_map(|l| draining(l)).collect();
    loops.sort_unstable();
    assert_eq!(
        loops.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..threads).collect::<Vec<_>>(),
        "{lines:?}"
    );
    loops.iter().map(|(_, open)| open).sum()
}

/// After the listeners closed, a new connect is refused.
fn assert_refused(server: &Server) {
    match TcpStream::connect(server.addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("a connect after the drain began was accepted"),
    }
}

/// Waits for the exit, checks it is 0, and sums the loops' summaries (one per loop).
fn finish(server: &mut Server, threads: usize) -> Counts {
    let status = server.wait();
    let lines = server.stderr_lines();
    assert_eq!(status.code(), Some(0), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:?}");
    let mut loops: Vec<(usize, Counts)> = lines.iter().filter_map(|l| summary(l)).collect();
    loops.sort_unstable_by_key(|(i, _)| *i);
    assert_eq!(loops.len(), threads, "one summary per loop: {lines:?}");
    let mut total = Counts::default();
    for (_, c) in loops {
        assert!(c.drained + c.cancelled <= c.served, "{c:?}");
        total.served += c.served;
        total.drained += c.drained;
        total.cancelled += c.cancelled;
    }
    total
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// A keep-alive connection that has had one answer, so the server has accepted it.
fn answered_connection(server: &Server) -> (TcpStream, Vec<u8>) {
    let mut stream = server.connect();
    stream.write_all(GET).unwrap();
    let mut pending = Vec::new();
    let r = read_response(&mut stream, &mut pending).expect("an answer");
    assert_eq!(r.status, 200);
    assert_fresh_date(&r);
    (stream, pending)
}

fn send_delay(stream: &mut TcpStream, ms: u64) {
    let req = format!("GET /delay?ms={ms} HTTP/1.1\r\nHost: t\r\n\r\n");
    stream.write_all(req.as_bytes()).unwrap();
}

/// Whether `stream` has no byte to read yet.
fn nothing_to_read(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let empty = matches!(stream.peek(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    empty
}

/// A request in flight gets its whole answer with `Connection: close`; an idle
/// keep-alive connection is closed at once (before that answer); new connects are
/// refused; the server exits 0 having drained both.
fn http_drain(name: &str, threads: usize) {
    let threads_arg = threads.to_string();
    let mut server = Server::start(name, &["--threads", &threads_arg]);
    let (mut idle, _) = answered_connection(&server);
    let (mut busy, mut pending) = answered_connection(&server);
    send_delay(&mut busy, 1500);
    assert_eq!(begin_drain(&server, threads), 2);
    assert_refused(&server);
    assert!(reads_to_eof(&mut idle), "the idle connection was closed");
    assert!(
        nothing_to_read(&busy),
        "the idle connection closed only after the request in flight was answered"
    );
    drop(idle);
    let r = read_response(&mut busy, &mut pending).expect("the answer in flight");
    assert_eq!(r.status, 200, "{}", r.head);
    assert_eq!(r.body, b"delayed 1500 ms");
    assert_eq!(r.header("connection"), Some("close"), "{}", r.head);
    assert_fresh_date(&r);
    assert!(reads_to_eof(&mut busy), "closed after the last answer");
    drop(busy);
    let total = finish(&mut server, threads);
    assert_eq!(
        total,
        Counts {
            served: 2,
            drained: 2,
            cancelled: 0
        }
    );
}

/// With `--grace-ms 200`, a 5 s request is cut off without an answer, well before its
/// 5 s, and the server still exits 0.
fn http_grace_cuts_off(name: &str, threads: usize) {
    let threads_arg = threads.to_string();
    let mut server = Server::start(name, &["--threads", &threads_arg, "--grace-ms", "200"]);
    let (mut busy, mut pending) = answered_connection(&server);
    send_delay(&mut busy, 5000);
    let signalled = Instant::now();
    assert_eq!(begin_drain(&server, threads), 1);
    assert!(
        read_response(&mut busy, &mut pending).is_none(),
        "no answer"
    );
    let total = finish(&mut server, threads);
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "cut before the grace: {took:?}"
    );
    assert!(took < Duration::from_millis(4000), "not cut off: {took:?}");
    assert_eq!(
        total,
        Counts {
            served: 1,
            drained: 0,
            cancelled: 1
        }
    );
}

/// A second signal during the drain cancels what is left at once.
fn http_second_signal(name: &str, threads: usize) {
    let threads_arg = threads.to_string();
    let mut server = Server::start(name, &["--threads", &threads_arg]);
    let (mut busy, mut pending) = answered_connection(&server);
    send_delay(&mut busy, 5000);
    let signalled = Instant::now();
    assert_eq!(begin_drain(&server, threads), 1);
    kill(&server, libc::SIGTERM);
    assert!(
        read_response(&mut busy, &mut pending).is_none(),
        "no answer"
    );
    let total = finish(&mut server, threads);
    let took = signalled.elapsed();
    assert!(
        took < Duration::from_millis(4000),
        "the second signal waited: {took:?}"
    );
    assert_eq!(
        total,
        Counts {
            served: 1,
            drained: 0,
            cancelled: 1
        }
    );
}

#[test]
fn http_server_drains_one_loop() {
    http_drain("http_server", 1);
}

#[test]
fn http_server_drains_two_loops() {
    http_drain("http_server", 2);
}

#[test]
fn http_server_grace_cuts_off_one_loop() {
    http_grace_cuts_off("http_server", 1);
}

#[test]
fn http_server_grace_cuts_off_two_loops() {
    http_grace_cuts_off("http_server", 2);
}

#[test]
fn http_server_second_signal_one_loop() {
    http_second_signal("http_server", 1);
}

#[test]
fn http_server_second_signal_two_loops() {
    http_second_signal("http_server", 2);
}

#[cfg(feature = "hyper")]
mod hyper {
    #[test]
    fn hyper_server_drains_one_loop() {
        super::http_drain("hyper_server", 1);
    }

    #[test]
    fn hyper_server_drains_two_loops() {
        super::http_drain("hyper_server", 2);
    }

    #[test]
    fn hyper_server_grace_cuts_off_one_loop() {
        super::http_grace_cuts_off("hyper_server", 1);
    }

    #[test]
    fn hyper_server_grace_cuts_off_two_loops() {
        super::http_grace_cuts_off("hyper_server", 2);
    }

    #[test]
    fn hyper_server_second_signal_one_loop() {
        super::http_second_signal("hyper_server", 1);
    }

    #[test]
    fn hyper_server_second_signal_two_loops() {
        super::http_second_signal("hyper_server", 2);
    }
}

/// An echo connection that has echoed one message, so the server has accepted it.
fn echoed_connection(server: &Server) -> TcpStream {
    let mut stream = server.connect();
    stream.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"hello");
    stream
}

/// The byte at position `i` of the stream a [`Flood`] sends.
fn flood_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// A thread that sends a known stream of bytes on a connection and never reads, until
/// told to stop (then it shuts down its write side) or a write fails.
struct Flood {
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<()>,
}

impl Flood {
    fn start(stream: &TcpStream) -> Flood {
        let mut stream = stream.try_clone().unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counter, stopped) = (sent.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            let mut at = 0;
            while !stopped.load(Ordering::SeqCst) {
                for (j, b) in chunk.iter_mut().enumerate() {
                    *b = flood_byte(at + j);
                }
                match stream.write(&chunk) {
                    Ok(n) => at += n,
                    Err(_) => return,
                }
                counter.store(at, Ordering::SeqCst);
            }
            let _ = stream.shutdown(Shutdown::Write);
        });
        Flood { sent, stop, thread }
    }

    /// Waits until the sender has been stuck for a while: the server has stopped reading
    /// because it cannot write its echo back (this client does not read), so the
    /// connection is in flight. A stall of 300 ms cannot be the server merely being
    /// between two reads on a working machine; a false alarm would fail the test, not
    /// pass it.
    fn wait_until_stuck(&self) {
        let start = Instant::now();
        let (mut last, mut since) = (usize::MAX, Instant::now());
        loop {
            let now = self.sent.load(Ordering::SeqCst);
            if now != last {
                (last, since) = (now, Instant::now());
            } else if now > 0 && since.elapsed() >= Duration::from_millis(300) {
                return;
            }
            assert!(start.elapsed() < HANG_GUARD, "the sender never got stuck");
            assert!(!self.thread.is_finished(), "the sender failed");
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Echo's drain: an idle connection is closed at once; a connection with unechoed data
/// gets back all that was read (a prefix of what it sent) and then end of stream; new
/// connects are refused; exit 0.
fn echo_drain(threads: usize) {
    let threads_arg = threads.to_string();
    let mut server = Server::start("echo_server", &["--threads", &threads_arg]);
    let mut idle = echoed_connection(&server);
    let mut busy = echoed_connection(&server);
    let flood = Flood::start(&busy);
    flood.wait_until_stuck();
    assert_eq!(begin_drain(&server, threads), 2);
    // The server drops what comes after the drain: let the sender finish and close.
    flood.stop.store(true, Ordering::SeqCst);
    assert_refused(&server);
    assert!(reads_to_eof(&mut idle), "the idle connection was closed");
    drop(idle);
    let mut back = Vec::new();
    busy.read_to_end(&mut back)
        .expect("the echo, then end of stream");
    assert!(!back.is_empty(), "what was read is written back");
    let sent = flood.sent.load(Ordering::SeqCst);
    assert!(back.len() <= sent, "{} echoed of {sent} sent", back.len());
    let mismatch = back
        .iter()
        .enumerate()
        .position(|(i, b)| *b != flood_byte(i));
    assert_eq!(mismatch, None, "the echo is a prefix of what was sent");
    flood.thread.join().unwrap();
    drop(busy);
    let total = finish(&mut server, threads);
    assert_eq!(
        total,
        Counts {
            served: 2,
            drained: 2,
            cancelled: 0
        }
    );
}

/// A connection whose peer never takes its echo is cancelled at `--grace-ms`, or at the
/// second signal; the server exits 0 well before the default grace.
fn echo_cut_off(threads: usize, second_signal: bool) {
    let threads_arg = threads.to_string();
    let mut args = vec!["--threads", &threads_arg];
    if !second_signal {
        args.extend(["--grace-ms", "200"]);
    }
    let mut server = Server::start("echo_server", &args);
    let busy = echoed_connection(&server);
    let flood = Flood::start(&busy);
    flood.wait_until_stuck();
    let signalled = Instant::now();
    assert_eq!(begin_drain(&server, threads), 1);
    if second_signal {
        kill(&server, libc::SIGTERM);
    }
    let total = finish(&mut server, threads);
    let took = signalled.elapsed();
    assert!(took < Duration::from_millis(4000), "not cut off: {took:?}");
    if !second_signal {
        assert!(
            took >= Duration::from_millis(200),
            "cut before the grace: {took:?}"
        );
    }
    assert_eq!(
        total,
        Counts {
            served: 1,
            drained: 0,
            cancelled: 1
        }
    );
    drop(busy);
    flood.thread.join().unwrap();
}

#[test]
fn echo_server_drains_one_loop() {
    echo_drain(1);
}

#[test]
fn echo_server_drains_two_loops() {
    echo_drain(2);
}

#[test]
fn echo_server_grace_cuts_off_one_loop() {
    echo_cut_off(1, false);
}

#[test]
fn echo_server_grace_cuts_off_two_loops() {
    echo_cut_off(2, false);
}

#[test]
fn echo_server_second_signal_one_loop() {
    echo_cut_off(1, true);
}

#[test]
fn echo_server_second_signal_two_loops() {
    echo_cut_off(2, true);
}

/// A server with no connection at all drains at once, and says so.
#[test]
fn an_idle_server_exits_at_once() {
    for threads in [1, 2] {
        let threads_arg = threads.to_string();
        let mut server = Server::start("http_server", &["--threads", &threads_arg]);
        let signalled = Instant::now();
        assert_eq!(begin_drain(&server, threads), 0);
        let total = finish(&mut server, threads);
        assert!(signalled.elapsed() < Duration::from_millis(4000));
        assert_eq!(total, Counts::default());
    }
}

/// Reads one chat line (through `\n`), byte by byte so nothing after it is consumed.
fn chat_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        stream.read_exact(&mut byte).expect("a chat line");
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// Chat's drain: every member is sent the lines queued for it and then the goodbye line,
/// and is closed; new connects are refused; the server exits 0 having drained them all.
fn chat_drain(threads: usize) {
    let threads_arg = threads.to_string();
    let mut server = Server::start("chat", &["--threads", &threads_arg]);
    let base = server.open_fds();
    let mut alice = server.connect();
    let mut bob = server.connect();
    if threads == 1 {
        // One room: a line each way proves both joined.
        bob.write_all(b"ping\n").unwrap();
        assert!(chat_line(&mut alice).ends_with(": ping\n"));
        alice.write_all(b"last words\n").unwrap();
        assert!(chat_line(&mut bob).ends_with(": last words\n"));
    } else {
        // Two loops may put them in two rooms: accepted is seen in the server's
        // descriptors instead.
        common::wait_until("both accepted", HANG_GUARD, || {
            server.open_fds() >= base + 2
        });
    }
    assert_eq!(begin_drain(&server, threads), 2);
    assert_refused(&server);
    for member in [&mut alice, &mut bob] {
        member.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut rest = Vec::new();
        member
            .read_to_end(&mut rest)
            .expect("the goodbye, then end of stream");
        assert!(
            rest.ends_with(b"server: shutting down\n"),
            "{:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    let counts = finish(&mut server, threads);
    assert_eq!(
        counts,
        Counts {
            served: 2,
            drained: 2,
            cancelled: 0
        }
    );
}

#[test]
fn chat_drains_one_loop() {
    chat_drain(1);
}

#[test]
fn chat_drains_two_loops() {
    chat_drain(2);
}
