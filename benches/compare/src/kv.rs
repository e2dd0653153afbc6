//! The `kv` workload: `redis-benchmark -t set,get -c 50 -P 1` and `-P 16` against three
//! servers, alternating within each pair: evloop's `kv_server`, the same store and parser
//! on tokio current_thread (`kv_tokio.rs`), and `redis-server` itself, the limit.
//!
//! Per test and pipeline depth it records requests per second, p50 and p99 (as
//! `redis-benchmark --csv` reports them) and the server's CPU time per request. Then,
//! once per server: the `send`-family syscalls per request under `strace -c -f`, at the
//! margin between two run lengths (start-up and shutdown cancel out), and, in a full run
//! with valgrind installed, user-space instructions per request under callgrind, likewise.
//! A server or tool that is not installed is skipped with a note.

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::{Goal, Key, Results, goals};
use crate::workloads::Plan;

/// The servers, in the order they run within a pair.
const SERVERS: [&str; 3] = ["evloop", "tokio", "redis"];
pub(crate) const CONNS: usize = 50;
const PIPELINES: [usize; 2] = [1, 16];
pub(crate) const TESTS: [&str; 2] = ["set", "get"];

/// Requests per test in one timed run, for `-P 1` and `-P 16`.
fn requests(quick: bool, pipeline: usize) -> usize {
    match (quick, pipeline) {
        (true, 1) => 20_000,
        (true, _) => 100_000,
        (false, 1) => 200_000,
        (false, _) => 2_000_000,
    }
}

/// Whether `program --version` runs.
pub(crate) fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins the process about to be executed to `core` (children inherit it).
pub(crate) fn pinned(cmd: &mut Command, core: usize) -> &mut Command {
    if crate::sys::cores() < 2 {
        return cmd;
    }
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // `sched_setaffinity`, which is async-signal-safe, on a set built on its stack.
    unsafe {
        cmd.pre_exec(move || {
            // SAFETY: all-zero is the empty cpu set.
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        })
    }
}

/// How a server runs: bare, under `strace -c`, or under callgrind.
#[derive(Clone, Copy)]
pub(crate) enum Under<'a> {
    Bare,
    Strace(&'a Path),
    Callgrind(&'a Path),
}

/// A server on core 0, stopped with SIGTERM (then SIGKILL) when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// The server process itself (not strace's).
    pid: u32,
}

impl Server {
    pub(crate) fn start(name: &str, under: Under<'_>) -> io::Result<Server> {
        let port = free_port()?;
        let (program, args): (PathBuf, Vec<String>) = match name {
            "redis" => (
                "redis-server".into(),
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--loglevel",
                    "warning",
                ]
                .map(String::from)
                .to_vec(),
            ),
            runtime => (
                crate::child::exe(),
                [
                    "--serve",
                    "kv",
                    "--runtime",
                    runtime,
                    "--port",
                    &port.to_string(),
                ]
                .map(String::from)
                .to_vec(),
            ),
        };
        let mut cmd = match under {
            Under::Bare => Command::new(&program),
            Under::Strace(out) => {
                let mut c = Command::new("strace");
                c.args(["-c", "-f", "-o"]).arg(out).arg("--").arg(&program);
                c
            }
            Under::Callgrind(out) => {
                let mut c = Command::new("valgrind");
                c.args(["--tool=callgrind", "-q"])
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg(&program);
                c
            }
        };
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = pinned(&mut cmd, crate::sys::SERVER_CORE).spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let patience = if matches!(under, Under::Bare) {
            30
        } else {
            120
        };
        let deadline = Instant::now() + Duration::from_secs(patience);
        let mut server = Server {
            pid: child.id(),
            child,
            addr,
        };
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline || server.child.try_wait()?.is_some() {
                return Err(io::Error::other(format!("{name} server did not listen")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !matches!(under, Under::Bare) {
            server.pid = traced_pid(server.child.id()).unwrap_or(server.pid);
        }
        Ok(server)
    }

    pub(crate) fn stop(mut self) -> io::Result<()> {
        self.stop_now()
    }

    fn stop_now(&mut self) -> io::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        // SAFETY: signals the server process we started (for strace: its tracee, whose
        // exit ends strace), which has not been reaped.
        unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        self.child.wait()?;
        Err(io::Error::other("the server did not stop on SIGTERM"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop_now();
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The child of a wrapper process (strace or valgrind exec in place, strace forks).
fn traced_pid(wrapper: u32) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// One `redis-benchmark` run on core 1: requests per second, p50 and p99 in ms.
pub(crate) fn benchmark(
    addr: SocketAddr,
    test: &str,
    n: usize,
    pipeline: usize,
) -> io::Result<[f64; 3]> {
    let mut cmd = Command::new("redis-benchmark");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &addr.port().to_string(),
        "-t",
        test,
    ])
    .args([
        "-c",
        &CONNS.to_string(),
        "-n",
        &n.to_string(),
        "-P",
        &pipeline.to_string(),
    ])
    .arg("--csv")
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let child = pinned(&mut cmd, crate::sys::LOADGEN_CORE).spawn()?;
    let out = wait_bounded(child, Duration::from_secs(600))?;
    let text = String::from_utf8_lossy(&out);
    let row = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&format!("\"{test}\"")))
        .ok_or_else(|| io::Error::other(format!("redis-benchmark gave no {test} row: {text}")))?;
    let cells: Vec<f64> = row
        .split(',')
        .skip(1)
        .map(|c| c.trim_matches('"').parse().unwrap_or(f64::NAN))
        .collect();
    // "test","rps","avg","min","p50","p95","p99","max"
    match cells.as_slice() {
        [rps, _, _, p50, _, p99, ..] if rps.is_finite() => Ok([*rps, *p50, *p99]),
        _ => Err(io::Error::other(format!(
            "unreadable redis-benchmark row {row}"
        ))),
    }
}

/// Waits for `child` for at most `limit`, killing it then; returns its stdout.
fn wait_bounded(mut child: Child, limit: Duration) -> io::Result<Vec<u8>> {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = io::Read::read_to_end(&mut stdout, &mut out);
        out
    });
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            let out = reader.join().unwrap_or_default();
            return if status.success() {
                Ok(out)
            } else {
                Err(io::Error::other(format!(
                    "redis-benchmark exited with {status}"
                )))
            };
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Err(io::Error::other("redis-benchmark ran past its time bound"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `-P` and test of an entry, as the table shows them.
fn params(test: &str, pipeline: usize) -> String {
    format!("{}, -c {CONNS} -P {pipeline}", test.to_uppercase())
}

/// Runs the workload, adding its figures to `results`.
pub fn run(plan: &Plan, results: &mut Results) -> io::Result<()> {
    if !installed("redis-benchmark") {
        results
            .notes
            .push("kv: skipped, redis-benchmark is not installed (Debian's redis-tools)".into());
        return Ok(());
    }
    let mut servers: Vec<&str> = SERVERS.to_vec();
    if !installed("redis-server") {
        servers.retain(|s| *s != "redis");
        results
            .notes
            .push("kv: the redis-server column is skipped, redis-server is not installed".into());
    }
    results.notes.push(format!(
        "kv: `redis-benchmark -t set|get -c {CONNS} -n N -P 1|16 --csv` on core 1 (N = {} at -P 1, \
         {} at -P 16), one run per test against a fresh server on core 0 (SET, then GET on \
         the same server); the limit column is `redis-server --save '' --appendonly no`; \
         server CPU is utime + stime over the run",
        requests(plan.quick, 1),
        requests(plan.quick, 16),
    ));
    for pair in 0..plan.pairs {
        for pipeline in PIPELINES {
            for &server in &servers {
                eprintln!(
                    "[compare] kv -P {pipeline}, {server}, pair {}/{}",
                    pair + 1,
                    plan.pairs
                );
                if let Err(e) = timed(plan, results, server, pipeline) {
                    eprintln!("[compare] kv on {server} failed: {e}");
                    results
                        .notes
                        .push(format!("kv -P {pipeline} on {server}: failed ({e})"));
                }
            }
        }
    }
    let can_trace = Command::new("strace")
        .args(["-c", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !can_trace {
        results.notes.push(
            "kv: sends per request skipped, strace is not installed or may not trace here".into(),
        );
    } else {
        for &server in &servers {
            for pipeline in PIPELINES {
                match sends(plan, server, pipeline) {
                    Ok(per_request) => record_sends(results, server, pipeline, per_request),
                    Err(e) => results
                        .notes
                        .push(format!("kv sends on {server} -P {pipeline}: failed ({e})")),
                }
            }
        }
    }
    if !plan.quick {
        if installed("valgrind") {
            crate::kv_profile::instructions(plan, results, &servers);
        } else {
            results
                .notes
                .push("kv: instructions per request skipped, valgrind is not installed".into());
        }
    }
    Ok(())
}

/// One server, SET then GET, each a timed `redis-benchmark` run with the server's CPU.
fn timed(
    plan: &Plan,
    results: &mut Results,
    server: &'static str,
    pipeline: usize,
) -> io::Result<()> {
    let s = Server::start(server, Under::Bare)?;
    let n = requests(plan.quick, pipeline);
    for test in TESTS {
        let cpu0 = crate::sys::cpu_seconds(s.pid)?;
        let [rps, p50, p99] = benchmark(s.addr, test, n, pipeline)?;
        let cpu = crate::sys::cpu_seconds(s.pid)? - cpu0;
        let params = params(test, pipeline);
        let key = |metric: &'static str, unit: &'static str, hib: bool, goals: &'static [Goal]| {
            Key {
                workload: "kv (redis-benchmark)",
                metric,
                params: &params,
                params_json: json!({"test": test, "conns": CONNS, "pipeline": pipeline, "requests": n}),
                unit,
                higher_is_better: hib,
                goals,
            }
        };
        let throughput_goals: &'static [Goal] = if pipeline == 16 {
            goals::REDIS_1_TOKIO_1_2
        } else {
            goals::REDIS_1
        };
        results.record(
            key("throughput", "req/s", true, throughput_goals),
            server,
            rps,
        );
        results.record(key("p50 latency", "µs", false, &[]), server, p50 * 1e3);
        results.record(key("p99 latency", "µs", false, &[]), server, p99 * 1e3);
        results.record(
            key("server CPU per request", "µs", false, goals::REDIS_1),
            server,
            cpu / n as f64 * 1e6,
        );
    }
    s.stop()
}

/// The syscall counts of a `strace -c` table, by name.
fn strace_counts(path: &Path) -> io::Result<BTreeMap<String, u64>> {
    let text = std::fs::read_to_string(path)?;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if cols.len() >= 5
            && let (Ok(calls), Some(name)) = (cols[3].parse::<u64>(), cols.last())
            && cols[0].parse::<f64>().is_ok()
        {
            counts.insert((*name).to_string(), calls);
        }
    }
    Ok(counts)
}

/// Sends per request under strace, at the margin between two run lengths.
fn sends(plan: &Plan, server: &str, pipeline: usize) -> io::Result<f64> {
    let base = if plan.quick { 2_000 } else { 10_000 } * pipeline.min(4);
    let dir = plan.out_dir.join("strace");
    std::fs::create_dir_all(&dir)?;
    let mut points = Vec::new();
    for n in [base, 3 * base] {
        eprintln!("[compare] kv sends, {server} -P {pipeline}, {n} requests per test");
        let out = dir.join(format!("kv.{server}.P{pipeline}.{n}.strace"));
        let s = Server::start(server, Under::Strace(&out))?;
        for test in TESTS {
            benchmark(s.addr, test, n, pipeline)?;
        }
        s.stop()?;
        let counts = strace_counts(&out)?;
        let sends: u64 = ["sendto", "sendmsg", "writev", "write", "send"]
            .iter()
            .filter_map(|c| counts.get(*c))
            .sum();
        points.push(((n * TESTS.len()) as f64, sends as f64));
    }
    let ((n1, s1), (n2, s2)) = (points[0], points[1]);
    Ok((s2 - s1) / (n2 - n1))
}

fn record_sends(results: &mut Results, server: &'static str, pipeline: usize, per_request: f64) {
    let params = format!("SET + GET, -c {CONNS} -P {pipeline}");
    let goals: &'static [Goal] = if pipeline == 16 {
        goals::AT_MOST_0_1
    } else {
        &[]
    };
    let key = Key {
        workload: "kv sends per request",
        metric: "send syscalls (strace, marginal)",
        params: &params,
        params_json: json!({"conns": CONNS, "pipeline": pipeline}),
        unit: "sends",
        higher_is_better: false,
        goals,
    };
    results.record(key, server, per_request);
}
