//! Starting the example binaries and talking to them over loopback.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The hang guard of every wait in these tests.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// The path of an example binary: `cargo test` builds the package's examples into
/// `target/<profile>/examples`, next to the `deps` folder holding this test binary.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test` (which builds the examples) or run \
         `cargo build --examples --all-features` first",
        path.display()
    );
    path
}

/// A running example server; killed on drop if still running.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `name` with `--addr 127.0.0.1:0` and `args`, and waits for its
    /// `listening on` line.
    pub fn start(name: &str, args: &[&str]) -> Server {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line_tx, line_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = line_tx.send(first);
            for _ in lines {}
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let (err_tx, err_rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = err_tx.send(line);
            }
        });
        let line = match line_rx.recv_timeout(HANG_GUARD) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let errors: Vec<String> = err_rx.try_iter().collect();
                panic!("{name} printed no listening line: {other:?}; stderr: {errors:?}");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server {
            child,
            addr,
            stderr: err_rx,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` and waits for the exit (hang-guarded).
    pub fn stop_with(&mut self, signal: i32) -> ExitStatus {
        // SAFETY: kill(2) with the pid of our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0);
        self.wait()
    }

    /// Waits for the exit (hang-guarded).
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(start.elapsed() < HANG_GUARD, "the server did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The lines printed on stderr so far (after the exit: all of them).
    pub fn stderr_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .stderr
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            lines.push(line);
        }
        lines
    }

    /// Reads stderr lines until `count` of them satisfy `pred` (hang-guarded), and
    /// returns every line read meanwhile; later lines stay for [`Server::stderr_lines`].
    pub fn stderr_until(&self, count: usize, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let start = Instant::now();
        let mut lines = Vec::new();
        let mut hits = 0;
        while hits < count {
            let left = HANG_GUARD.saturating_sub(start.elapsed());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    hits += usize::from(pred(&line));
                    lines.push(line);
                }
                Err(e) => panic!("waited for {count} matching stderr lines ({e}); got {lines:?}"),
            }
        }
        lines
    }

    /// How many descriptors the server has open.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(HANG_GUARD)).unwrap();
        s.set_write_timeout(Some(HANG_GUARD)).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `cond` every 10 ms until it holds; panics after `bound`.
pub fn wait_until(what: &str, bound: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < bound, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// One parsed HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one response (head and `Content-Length` body) from `stream`; `None` at EOF.
pub fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<Response> {
    let head_end = loop {
        if let Some(at) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let mut response = Response {
        status,
        head,
        body: Vec::new(),
    };
    let len: usize = response
        .header("content-length")
        .map_or(0, |v| v.parse().expect("numeric Content-Length"));
    pending.drain(..head_end);
    while pending.len() < len {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
    }
    response.body = pending.drain(..len).collect();
    Some(response)
}

/// Sends `raw` on a new connection and reads every response until the server closes
/// (or `count` responses arrived).
pub fn exchange(addr: SocketAddr, raw: &[u8], count: usize) -> Vec<Response> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    stream.write_all(raw).expect("send");
    let mut pending = Vec::new();
    let mut out = Vec::new();
    while out.len() < count {
        match read_response(&mut stream, &mut pending) {
            Some(r) => out.push(r),
            None => break,
        }
    }
    out
}

/// Whether the peer closed `stream`: reads until EOF or a reset, dropping what comes.
pub fn reads_to_eof(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Raises this process's soft limit of open files to the hard limit.
pub fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard one is allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur
}

/// Seconds since 1970 of an RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), or
/// `None` if it is not one (including a weekday that does not match the date).
pub fn parse_imf_fixdate(date: &str) -> Option<u64> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = date.as_bytes();
    if b.len() != 29 || &date[3..5] != ", " || &date[25..] != " GMT" {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = date.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (day, year) = (num(5..7)?, num(12..16)?);
    let month = MONTHS.iter().position(|m| *m == &date[8..11])? as i64 + 1;
    let (h, m, s) = (num(17..19)?, num(20..22)?, num(23..25)?);
    if [7, 11, 16].iter().any(|&i| b[i] != b' ') || b[19] != b':' || b[22] != b':' {
        return None;
    }
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days from 1970-01-01, counting in 400-year eras from 0000-03-01.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    if DAYS[days.rem_euclid(7) as usize] != &date[..3] {
        return None;
    }
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// Asserts that `response` has a `Date` header within a few seconds of the clock.
pub fn assert_fresh_date(response: &Response) {
    let date = response.header("date").expect("a Date header");
    let at = parse_imf_fixdate(date).unwrap_or_else(|| panic!("not an IMF-fixdate: {date:?}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        at.abs_diff(now) <= 5,
        "Date {date} is {at}, the clock says {now}"
    );
}
