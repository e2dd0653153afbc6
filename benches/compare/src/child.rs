//! The parent's side of the child processes: servers (optionally under callgrind) and
//! load generators, each this same binary re-executed with a mode flag.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A server child, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process id (under valgrind: the guest's, which is the same process).
    pub pid: u32,
    grace: Duration,
}

/// This binary.
pub fn exe() -> PathBuf {
    std::env::current_exe().expect("the path of the running bench binary")
}

/// Starts `--serve <service> --runtime <runtime>` (with `extra` arguments), under
/// `valgrind --tool=callgrind` writing to `callgrind_out` when given, and waits for its
/// `listening on` line.
pub fn server(
    runtime: &str,
    service: &str,
    extra: &[String],
    callgrind_out: Option<&Path>,
) -> io::Result<Server> {
    let mut cmd = match callgrind_out {
        Some(out) => {
            let mut c = Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg("-q")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg(exe());
            c
        }
        None => Command::new(exe()),
    };
    cmd.args(["--serve", service, "--runtime", runtime])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let wait = if callgrind_out.is_some() { 120 } else { 30 };
    let line = first_line_with(stdout, "listening on ", Duration::from_secs(wait));
    let addr = line
        .as_deref()
        .and_then(|l| l.strip_prefix("listening on "))
        .and_then(|a| a.trim().parse().ok());
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!(
            "{runtime} {service} server did not say where it listens"
        )));
    };
    let pid = child.id();
    Ok(Server {
        child,
        addr,
        pid,
        grace: Duration::from_secs(wait),
    })
}

impl Server {
    /// Stops the server with SIGTERM (callgrind writes its profile then), waiting up to
    /// the grace period before SIGKILL.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: `pid` is our own child, not yet reaped (try_wait said so).
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while waited < self.grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(step);
            waited += step;
            if waited.as_millis() % 500 == 0 {
                // valgrind holds signals while the server waits in io_uring_enter: a
                // connection ends that wait, and the SIGTERM is delivered.
                let _ = std::net::TcpStream::connect_timeout(&self.addr, step);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Reads lines of `out` on a thread until one starts with `prefix`, for up to `limit`.
/// The thread keeps draining `out` afterwards, so the child never blocks on a full pipe.
fn first_line_with(
    out: impl io::Read + Send + 'static,
    prefix: &str,
    limit: Duration,
) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if !sent && line.starts_with(&prefix) {
                sent = tx.send(line).is_ok();
            }
        }
    });
    rx.recv_timeout(limit).ok()
}

/// Runs a load generator with `args` to completion (bounded by `limit`) and returns the
/// `key=value` pairs of its `result` line.
pub fn loadgen(args: &[String], limit: Duration) -> io::Result<BTreeMap<String, f64>> {
    result_of("--loadgen", args, limit)
}

/// Runs `--micro` with `args` and returns its result pairs.
pub fn micro(args: &[String], limit: Duration) -> io::Result<BTreeMap<String, f64>> {
    result_of("--micro", args, limit)
}

/// Runs this binary in `mode` with `args`, waits up to `limit` for its `result` line,
/// and returns the line's pairs.
fn result_of(mode: &str, args: &[String], limit: Duration) -> io::Result<BTreeMap<String, f64>> {
    let mut child = Command::new(exe())
        .arg(mode)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped stdout");
    let line = first_line_with(stdout, "result ", limit);
    let _ = child.kill();
    let _ = child.wait();
    line.map(|l| parse_result(&l))
        .ok_or_else(|| io::Error::other(format!("{mode} {args:?} gave no result")))
}

/// An idle-connections load generator: holds its connections until [`Idle::release`].
#[derive(Debug)]
pub struct Idle {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Starts `--loadgen idle` (its round trip: `probe`) and waits until it says `ready`.
pub fn idle(addr: SocketAddr, conns: usize, probe: &str, limit: Duration) -> io::Result<Idle> {
    let mut child = Command::new(exe())
        .args(["--loadgen", "idle", "--addr", &addr.to_string()])
        .args(["--conns", &conns.to_string(), "--probe", probe])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped stdout");
    if first_line_with(stdout, "ready", limit).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other("idle load generator did not get ready"));
    }
    Ok(Idle { child, stdin })
}

impl Idle {
    /// Closes the connections and waits for the process.
    pub fn release(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `result a=1 b=2` → {a: 1, b: 2}.
fn parse_result(line: &str) -> BTreeMap<String, f64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// The total instruction count (`Ir`) of a callgrind profile.
pub fn callgrind_total(path: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no totals in {}", path.display())))
}
