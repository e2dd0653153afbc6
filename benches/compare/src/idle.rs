//! The `idle` workload: what a server pays for each connection that does nothing.
//!
//! The load generator opens N connections (`--idle-conns`, 10,000 by default, up to the
//! descriptor limit) from many 127.0.x.y source addresses, makes one round trip on each
//! (a byte for echo, `GET /` for HTTP, `PING` for RESP) and holds them. One second later
//! the server's RSS growth over its RSS before, divided by N, is the figure.
//!
//! Servers: evloop's example servers with their default options (`http_server`,
//! `echo_server`, `kv_server` on epoll and on io_uring, `hyper_server` on epoll), the
//! tokio baselines of the other workloads (the native HTTP, echo with a 4 KiB buffer,
//! hyper through hyper-util, and the kv store), and, where installed, nginx (one
//! process, `return 200`) and redis-server. A server that is not installed is skipped
//! with a note.
//!
//! The `idle_cpu` workload asks whether the loop's cost grows with the connections that
//! do nothing: echo server CPU per 64 B message at 50 active connections, with N others
//! idle and with none, alternating within each pair, on evloop's epoll, io_uring and
//! poll backends. poll scans every descriptor on every wait (O(n) by design), so it
//! runs with fewer idle connections.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::child;
use crate::report::{EVLOOP, EVLOOP_URING, Key, NGINX, REDIS, Results, TOKIO, goals};
use crate::serve::ECHO_BUF;
use crate::workloads::{Plan, failed, progress, uring_available};

/// How one server of the workload starts.
#[derive(Clone, Copy, Debug)]
enum Start {
    /// An evloop example server (`--serve app --app NAME`), on epoll or io_uring.
    App(&'static str, bool),
    /// A compare server that says where it listens (`--serve SERVICE --runtime tokio`).
    Tokio(&'static str),
    /// The tokio kv server (`--serve kv --runtime tokio --port P`).
    TokioKv,
    Nginx,
    Redis,
}

/// (row, column, how it starts, the round trip of the load generator).
const RUNS: [(&str, &str, Start, &str); 13] = [
    ("HTTP", EVLOOP, Start::App("http_server", false), "http"),
    (
        "HTTP",
        EVLOOP_URING,
        Start::App("http_server", true),
        "http",
    ),
    ("HTTP", TOKIO, Start::Tokio("http"), "http"),
    ("HTTP", NGINX, Start::Nginx, "http"),
    ("hyper", EVLOOP, Start::App("hyper_server", false), "http"),
    ("hyper", TOKIO, Start::Tokio("hyper"), "http"),
    ("echo", EVLOOP, Start::App("echo_server", false), "echo"),
    (
        "echo",
        EVLOOP_URING,
        Start::App("echo_server", true),
        "echo",
    ),
    ("echo", TOKIO, Start::Tokio("echo"), "echo"),
    ("kv", EVLOOP, Start::App("kv_server", false), "resp"),
    ("kv", EVLOOP_URING, Start::App("kv_server", true), "resp"),
    ("kv", TOKIO, Start::TokioKv, "resp"),
    ("kv", REDIS, Start::Redis, "resp"),
];

fn params(row: &str, conns: usize) -> String {
    let what = match row {
        "HTTP" => "`http_server`; tokio: the native HTTP loop; nginx `return 200`",
        "hyper" => "`hyper_server`; tokio: hyper through hyper-util",
        "echo" => "`echo_server`; tokio: echo with a 4 KiB buffer",
        _ => "`kv_server`; tokio: the same store; redis-server",
    };
    format!("{row}, {conns} conns ({what})")
}

/// Runs the workload.
pub fn run(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let conns = plan.idle_conns;
    let uring = uring_available(results);
    let nginx = crate::kv::installed("nginx") || nginx_runs();
    let redis = crate::kv::installed("redis-server");
    for (tool, ok) in [("nginx", nginx), ("redis-server", redis)] {
        if !ok {
            results.notes.push(format!(
                "idle connections: {tool} is not installed, its row is skipped"
            ));
        }
    }
    results.notes.push(format!(
        "idle connections: the server's RSS growth over {conns} connections held 1 s after \
         one round trip each, from 127.0.x.y source addresses, divided by {conns}; nginx \
         runs one process with `worker_connections {NGINX_SLOTS}`, whose slots are \
         allocated before the first measure"
    ));
    for pair in 0..plan.pairs {
        for (row, column, start, probe) in RUNS {
            match start {
                Start::App(_, true) if !uring => continue,
                Start::Nginx if !nginx => continue,
                Start::Redis if !redis => continue,
                _ => {}
            }
            progress(&format!(
                "idle, {row}, {conns} conns, {column}, pair {}/{}",
                pair + 1,
                plan.pairs
            ));
            match measure(plan, start, probe, conns) {
                Ok(per_conn) => {
                    let key = Key {
                        workload: "idle connections",
                        metric: "RSS growth / conns",
                        params: &params(row, conns),
                        params_json: json!({"row": row, "conns": conns, "hold_s": 1}),
                        unit: "B",
                        higher_is_better: false,
                        goals: if row == "hyper" {
                            &[]
                        } else {
                            goals::AT_MOST_512
                        },
                    };
                    results.record(key, column, per_conn);
                }
                Err(e) => failed(results, &format!("idle {row} on {column}"), &e),
            }
        }
    }
    Ok(())
}

/// `nginx -v` (nginx has no `--version`).
fn nginx_runs() -> bool {
    Command::new("nginx")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// nginx's `worker_connections`: above the largest N the descriptor limit allows.
const NGINX_SLOTS: usize = 20_480;

/// A started server: its process (the one whose RSS counts) and address.
enum Running {
    Compare(child::Server),
    Other { child: Child, addr: SocketAddr },
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Compare(s) => s.pid,
            Running::Other { child, .. } => child.id(),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Running::Compare(s) => s.addr,
            Running::Other { addr, .. } => *addr,
        }
    }

    fn stop(self) {
        match self {
            Running::Compare(s) => s.stop(),
            Running::Other { mut child, .. } => {
                // SAFETY: our own child, not yet reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn start(plan: &Plan, how: Start) -> std::io::Result<Running> {
    if let Start::Tokio(service) = how {
        let extra: Vec<String> = if service == "echo" {
            vec!["--buf".into(), ECHO_BUF.to_string()]
        } else {
            vec![]
        };
        return child::server(TOKIO, service, &extra, None).map(Running::Compare);
    }
    let port = crate::kv::free_port()?;
    let p = port.to_string();
    let mut cmd = match how {
        Start::App(app, uring) => {
            let mut c = Command::new(child::exe());
            c.args(["--serve", "app", "--app", app, "--port", &p]);
            c.env("EVLOOP_BACKEND", if uring { "uring" } else { "epoll" });
            c
        }
        Start::TokioKv => {
            let mut c = Command::new(child::exe());
            c.args(["--serve", "kv", "--runtime", "tokio", "--port", &p]);
            c
        }
        Start::Nginx => {
            let dir = plan.out_dir.join("nginx");
            std::fs::create_dir_all(&dir)?;
            let conf = dir.join("nginx.conf");
            std::fs::write(&conf, nginx_conf(&dir, port))?;
            let mut c = Command::new("nginx");
            c.arg("-p").arg(&dir).arg("-e").arg(dir.join("error.log"));
            c.arg("-c").arg(&conf);
            crate::kv::pinned(&mut c, crate::sys::SERVER_CORE);
            c
        }
        Start::Redis => {
            let mut c = Command::new("redis-server");
            c.args([
                "--port",
                &p,
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "no",
            ]);
            c.args(["--save", "", "--appendonly", "no", "--loglevel", "warning"]);
            c.args(["--maxclients", "20000"]);
            crate::kv::pinned(&mut c, crate::sys::SERVER_CORE);
            c
        }
        Start::Tokio(_) => unreachable!("handled above"),
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline || child.try_wait()?.is_some() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other(format!("{how:?} did not listen")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Running::Other { child, addr })
}

fn nginx_conf(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n\
         worker_rlimit_nofile {NGINX_SLOTS};\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{ worker_connections {NGINX_SLOTS}; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n\
         keepalive_timeout 300s;\n  keepalive_requests 1000000;\n\
         server {{\n    listen 127.0.0.1:{port};\n\
         location / {{ return 200 \"Hello, world!\"; }}\n  }}\n}}\n"
    )
}

/// One run: bytes of RSS growth per idle connection.
fn measure(plan: &Plan, how: Start, probe: &str, conns: usize) -> std::io::Result<f64> {
    let server = start(plan, how)?;
    std::thread::sleep(Duration::from_millis(200));
    let before = crate::sys::rss_bytes(server.pid())?;
    let idle = child::idle(server.addr(), conns, probe, Duration::from_secs(300))?;
    std::thread::sleep(Duration::from_secs(1));
    let after = crate::sys::rss_bytes(server.pid());
    idle.release();
    server.stop();
    Ok(after?.saturating_sub(before) as f64 / conns as f64)
}

/// Idle connections beside the active ones on poll, whose every wait scans them all.
const POLL_IDLE: usize = 2_000;

/// The `idle_cpu` workload.
pub fn cpu(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let mut backends = vec![(EVLOOP, "epoll"), (POLL, "poll")];
    if uring_available(results) {
        backends.push((EVLOOP_URING, "io_uring"));
    }
    // (backend, idle?) → server CPU per message of every pair, for the note.
    let mut per: Vec<((&str, bool), Vec<f64>)> = Vec::new();
    for pair in 0..plan.pairs {
        for &(runtime, backend) in &backends {
            let idle = if runtime == POLL {
                POLL_IDLE.min(plan.idle_conns)
            } else {
                plan.idle_conns
            };
            for with in [false, true] {
                let n = if with { idle } else { 0 };
                progress(&format!(
                    "echo 64 B × 50 conns beside {n} idle, {backend}, pair {}/{}",
                    pair + 1,
                    plan.pairs
                ));
                match cpu_run(plan, runtime, n) {
                    Ok(us) => {
                        let key = Key {
                            workload: "echo beside idle connections",
                            metric: "server CPU per message",
                            params: &format!("64 B × 50 conns, {backend}, {n} idle"),
                            params_json: json!({"backend": backend, "idle": n, "conns": 50, "size": 64}),
                            unit: "µs",
                            higher_is_better: false,
                            goals: &[],
                        };
                        let column = if runtime == EVLOOP_URING {
                            EVLOOP_URING
                        } else {
                            EVLOOP
                        };
                        results.record(key, column, us);
                        match per.iter_mut().find(|(k, _)| *k == (backend, with)) {
                            Some((_, v)) => v.push(us),
                            None => per.push(((backend, with), vec![us])),
                        }
                    }
                    Err(e) => failed(results, &format!("echo beside {n} idle on {backend}"), &e),
                }
            }
        }
    }
    let median = |k: (&str, bool)| {
        let mut v = per.iter().find(|(key, _)| *key == k)?.1.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    for &(runtime, backend) in &backends {
        if let (Some(none), Some(idle)) = (median((backend, false)), median((backend, true))) {
            let n = if runtime == POLL {
                POLL_IDLE.min(plan.idle_conns)
            } else {
                plan.idle_conns
            };
            let r = idle / none;
            let verdict = if runtime == POLL {
                "poll is O(n) by design, no goal"
            } else if r <= 1.05 {
                "goal ≤ 1.05×: met"
            } else {
                "goal ≤ 1.05×: **missed**"
            };
            results.notes.push(format!(
                "echo CPU per message, 50 active connections on {backend}: {r:.3}× with {n} \
                 idle beside them ({idle:.2} µs against {none:.2} µs, medians; {verdict})"
            ));
        }
    }
    Ok(())
}

/// evloop on its poll backend (the `idle_cpu` workload only).
const POLL: &str = "evloop-poll";

/// One timed echo run at 50 connections against a fresh server holding `idle` idle
/// connections; the server's CPU per message, µs.
fn cpu_run(plan: &Plan, runtime: &str, idle: usize) -> std::io::Result<f64> {
    let extra = vec!["--buf".into(), ECHO_BUF.to_string()];
    let server = child::server(runtime, "echo", &extra, None)?;
    let held = if idle > 0 {
        Some(child::idle(
            server.addr,
            idle,
            "echo",
            Duration::from_secs(300),
        )?)
    } else {
        None
    };
    let cpu0 = crate::sys::cpu_seconds(server.pid)?;
    let args: Vec<String> = vec![
        "echo".into(),
        "--conns".into(),
        "50".into(),
        "--size".into(),
        "64".into(),
        "--addr".into(),
        server.addr.to_string(),
        "--warmup".into(),
        format!("{}", plan.warmup.as_secs_f64()),
        "--secs".into(),
        format!("{}", plan.secs.as_secs_f64()),
    ];
    let out = child::loadgen(&args, plan.warmup + plan.secs + Duration::from_secs(60))?;
    let cpu1 = crate::sys::cpu_seconds(server.pid)?;
    if let Some(held) = held {
        held.release();
    }
    server.stop();
    let total = out.get("total").copied().unwrap_or(0.0);
    if total <= 0.0 {
        return Err(std::io::Error::other("no message completed"));
    }
    Ok((cpu1 - cpu0) / total * 1e6)
}
