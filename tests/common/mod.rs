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
