//! The load generator: one thread on `libc` epoll (level-triggered), no runtime, the same
//! for every server. Each connection has one request in flight: it sends a message,
//! waits for the whole answer, records the latency and sends the next.
//!
//! - echo: a message of `size` bytes, complete when `size` bytes have come back;
//! - http: `GET / HTTP/1.1` with keep-alive, complete when the head and
//!   `Content-Length` bytes of body have come back;
//! - idle: opens connections from many 127.0.x.y source addresses, makes one round trip
//!   on each (a byte, an HTTP request or a RESP `PING`) so that the server has accepted
//!   it and its task has run, then holds them until stdin closes.
//!
//! Timed runs warm up, then measure for a fixed time. Counted runs (`count`) send exactly
//! that many messages in all and stop, for the callgrind difference.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// What a load generator does.
#[derive(Clone, Copy, Debug)]
pub enum Protocol {
    /// Echo messages of this many bytes.
    Echo(usize),
    /// HTTP/1.1 `GET /`, keep-alive.
    Http,
}

/// One load-generator run.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// The server.
    pub addr: SocketAddr,
    /// Concurrent connections, one request in flight each.
    pub conns: usize,
    /// What to send.
    pub protocol: Protocol,
    /// Time before measuring (ignored with `count`).
    pub warmup: Duration,
    /// Time measured; with `count`, the bound on the whole run.
    pub secs: Duration,
    /// Send exactly this many messages in all, then stop.
    pub count: Option<u64>,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Messages completed in the measured window.
    pub msgs: u64,
    /// The measured window, seconds.
    pub secs: f64,
    /// Messages completed in the whole run, warm-up included.
    pub total: u64,
    /// Median latency, nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile latency, nanoseconds.
    pub p99_ns: u64,
    /// Connections the server closed or broke during the run.
    pub errors: u64,
}

const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// One connection of the load generator.
struct Conn {
    stream: TcpStream,
    /// Bytes of the current request still to send, from `out_off`.
    out_off: usize,
    sent_at: Instant,
    /// Echo: bytes of the answer received; HTTP: the answer so far.
    got: usize,
    answer: Vec<u8>,
    busy: bool,
    alive: bool,
}

/// Runs `plan` and reports what it measured.
pub fn run(plan: Plan) -> io::Result<Outcome> {
    let request: Vec<u8> = match plan.protocol {
        Protocol::Echo(size) => (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
        Protocol::Http => HTTP_REQUEST.to_vec(),
    };
    // SAFETY: no pointers are involved.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `ep` was just returned by epoll_create1 and is owned by nobody else.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    let mut conns = Vec::with_capacity(plan.conns);
    for i in 0..plan.conns {
        let stream = TcpStream::connect(plan.addr)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        ctl(&ep, libc::EPOLL_CTL_ADD, &stream, libc::EPOLLIN as u32, i)?;
        conns.push(Conn {
            stream,
            out_off: 0,
            sent_at: Instant::now(),
            got: 0,
            answer: Vec::new(),
            busy: false,
            alive: true,
        });
    }

    let start = Instant::now();
    let (measure_from, end) = match plan.count {
        Some(_) => (start, start + plan.secs),
        None => (start + plan.warmup, start + plan.warmup + plan.secs),
    };
    let mut issued = 0u64;
    let mut total = 0u64;
    let mut msgs = 0u64;
    let mut errors = 0u64;
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let may_issue = |issued: u64| plan.count.is_none_or(|k| issued < k);

    for (i, conn) in conns.iter_mut().enumerate() {
        if may_issue(issued) {
            issued += 1;
            start_request(&ep, conn, i, &request)?;
        }
    }

    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let mut in_flight = issued;
    loop {
        let now = Instant::now();
        if now >= end || (plan.count.is_some() && in_flight == 0) {
            break;
        }
        let timeout_ms = (end - now).as_millis().clamp(1, 100) as i32;
        // SAFETY: `events` is writable for `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let i = ev.u64 as usize;
            let conn = &mut conns[i];
            if !conn.alive {
                continue;
            }
            if conn.out_off < request.len() && conn.busy {
                if let Err(e) = flush(&ep, conn, i, &request) {
                    eprintln!("loadgen: send: {e}");
                    conn.alive = false;
                    errors += 1;
                    in_flight -= u64::from(conn.busy);
                    continue;
                }
                if conn.out_off < request.len() {
                    continue;
                }
            }
            let r = (&conn.stream).read(&mut buf);
            let n = match r {
                Ok(0) => {
                    conn.alive = false;
                    errors += 1;
                    in_flight -= u64::from(conn.busy);
                    continue;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    conn.alive = false;
                    errors += 1;
                    in_flight -= u64::from(conn.busy);
                    continue;
                }
            };
            if !answer_complete(conn, plan.protocol, &buf[..n]) {
                continue;
            }
            let done = Instant::now();
            conn.busy = false;
            in_flight -= 1;
            total += 1;
            if done >= measure_from && done < end {
                msgs += 1;
                let ns = (done - conn.sent_at).as_nanos().min(u128::from(u32::MAX));
                latencies.push(ns as u32);
            }
            if may_issue(issued) && done < end {
                issued += 1;
                in_flight += 1;
                start_request(&ep, conn, i, &request)?;
            }
        }
    }
    let secs = match plan.count {
        Some(_) => start.elapsed().as_secs_f64(),
        None => plan.secs.as_secs_f64(),
    };
    let (p50_ns, p99_ns) = percentiles(&mut latencies);
    Ok(Outcome {
        msgs,
        secs,
        total,
        p50_ns,
        p99_ns,
        errors,
    })
}

/// Feeds `data` to the answer in progress; true when it is whole.
fn answer_complete(conn: &mut Conn, protocol: Protocol, data: &[u8]) -> bool {
    match protocol {
        Protocol::Echo(size) => {
            conn.got += data.len();
            if conn.got >= size {
                conn.got -= size;
                true
            } else {
                false
            }
        }
        Protocol::Http => {
            conn.answer.extend_from_slice(data);
            match http_answer_len(&conn.answer) {
                Some(len) if conn.answer.len() >= len => {
                    conn.answer.drain(..len);
                    true
                }
                _ => false,
            }
        }
    }
}

/// The length of the HTTP answer at the start of `buf` (head + `Content-Length`), once
/// its head is complete.
fn http_answer_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let body = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(head_end + body)
}

fn start_request(ep: &OwnedFd, conn: &mut Conn, i: usize, request: &[u8]) -> io::Result<()> {
    conn.busy = true;
    conn.out_off = 0;
    conn.sent_at = Instant::now();
    flush(ep, conn, i, request)
}

/// Sends what is left of the request; waits for `EPOLLOUT` after a short send.
fn flush(ep: &OwnedFd, conn: &mut Conn, i: usize, request: &[u8]) -> io::Result<()> {
    let was_short = conn.out_off > 0;
    while conn.out_off < request.len() {
        match (&conn.stream).write(&request[conn.out_off..]) {
            Ok(n) => conn.out_off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let short = conn.out_off < request.len();
    if short != was_short {
        let events = if short {
            libc::EPOLLIN | libc::EPOLLOUT
        } else {
            libc::EPOLLIN
        };
        ctl(ep, libc::EPOLL_CTL_MOD, &conn.stream, events as u32, i)?;
    }
    Ok(())
}

fn ctl(ep: &OwnedFd, op: i32, s: &TcpStream, events: u32, token: usize) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: token as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    let rc = unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, s.as_raw_fd(), &mut ev) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// p50 and p99 of `v` (0 when empty).
fn percentiles(v: &mut [u32]) -> (u64, u64) {
    if v.is_empty() {
        return (0, 0);
    }
    v.sort_unstable();
    let at = |q: f64| u64::from(v[((v.len() - 1) as f64 * q).round() as usize]);
    (at(0.50), at(0.99))
}

/// The one round trip an idle connection makes before it rests.
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// One byte, echoed.
    Echo,
    /// `GET /`, keep-alive, read to the end of the answer.
    Http,
    /// A RESP `PING`, answered `+PONG`.
    Resp,
}

impl Probe {
    /// The probe named `name` (`echo`, `http` or `resp`).
    pub fn from_name(name: &str) -> Option<Probe> {
        match name {
            "echo" => Some(Probe::Echo),
            "http" => Some(Probe::Http),
            "resp" => Some(Probe::Resp),
            _ => None,
        }
    }

    fn request(self) -> &'static [u8] {
        match self {
            Probe::Echo => b"x",
            Probe::Http => HTTP_REQUEST,
            Probe::Resp => b"*1\r\n$4\r\nPING\r\n",
        }
    }

    fn answered(self, got: &[u8]) -> bool {
        match self {
            Probe::Echo => !got.is_empty(),
            Probe::Http => http_answer_len(got).is_some_and(|len| got.len() >= len),
            Probe::Resp => got.ends_with(b"\r\n"),
        }
    }
}

/// The source address of idle connection `i`: 127.0.x.y, from 127.0.1.1 on, 250
/// addresses per third byte, so that no source address runs out of ports.
fn source(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

/// A blocking TCP connection to `addr` from `from` (port chosen by the kernel).
fn connect_from(from: std::net::Ipv4Addr, addr: SocketAddr) -> io::Result<TcpStream> {
    let SocketAddr::V4(to) = addr else {
        return Err(io::Error::other("the idle load needs an IPv4 server"));
    };
    let sockaddr = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: no pointers are involved.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let local = sockaddr(from, 0);
    // SAFETY: `local` is a valid sockaddr_in of `len` bytes for the duration of the call.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const local).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let remote = sockaddr(*to.ip(), to.port());
    // SAFETY: as above, for `remote`.
    if unsafe { libc::connect(fd.as_raw_fd(), (&raw const remote).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpStream::from(fd))
}

/// Opens `conns` connections from many 127.0.x.y source addresses, makes one round trip
/// (`probe`) on each, prints `ready`, and holds them until stdin closes (or `hold`
/// passes).
pub fn idle(addr: SocketAddr, conns: usize, probe: Probe, hold: Duration) -> io::Result<()> {
    let mut streams = Vec::with_capacity(conns);
    let mut buf = [0u8; 4096];
    for i in 0..conns {
        let mut s = connect_from(source(i), addr)
            .map_err(|e| io::Error::new(e.kind(), format!("connection {i}: {e}")))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(probe.request())?;
        let mut got = Vec::new();
        while !probe.answered(&got) {
            match s.read(&mut buf)? {
                0 => return Err(io::Error::other(format!("connection {i} closed"))),
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        streams.push(s);
    }
    println!("ready");
    io::stdout().flush()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = io::stdin().read_to_end(&mut sink);
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(hold);
    drop(streams);
    Ok(())
}

/// Formats an outcome as the `result` line the parent parses.
pub fn result_line(o: &Outcome) -> String {
    format!(
        "result msgs={} secs={:.6} total={} p50_ns={} p99_ns={} errors={}",
        o.msgs, o.secs, o.total, o.p50_ns, o.p99_ns, o.errors
    )
}
