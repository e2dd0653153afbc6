//! The workloads and how the parent runs them: every run in its own processes, the
//! runtimes alternating within each pair (evloop, tokio, then the raw limit where it
//! applies; for echo and memory then evloop on io_uring and the raw io_uring limit,
//! where the kernel allows io_uring).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::child;
use crate::report::{
    EVLOOP, EVLOOP_URING, Goal, Key, Profile, RAW, RAW_URING, Results, TOKIO, TOKIO_COMPAT, goals,
};
use crate::serve::{ECHO_BUF, IDLE_BUF};

/// The names `--only` accepts, in the order of a full run.
pub const NAMES: [&str; 15] = [
    "echo",
    "http",
    "hyper",
    "spawn",
    "pingpong",
    "sleep_cancel",
    "sleep_fire",
    "sleep_precision",
    "timers_equal",
    "priority",
    "memory",
    "idle",
    "idle_cpu",
    "instructions",
    "kv",
];

/// How long and how often.
#[derive(Debug)]
pub struct Plan {
    /// `--quick`.
    pub quick: bool,
    /// A B pairs per workload.
    pub pairs: usize,
    /// Warm-up of each timed network run.
    pub warmup: Duration,
    /// Measured time of each timed network run.
    pub secs: Duration,
    /// Where profiles go.
    pub out_dir: PathBuf,
    /// The message sizes and connection counts of the echo workload (`--sizes`,
    /// `--conns`; all of [`ECHO_SIZES`] and [`ECHO_CONNS`] unless narrowed).
    pub echo_sizes: Vec<usize>,
    pub echo_conns: Vec<usize>,
    /// Connections of the idle workload (`--idle-conns`).
    pub idle_conns: usize,
}

impl Plan {
    /// The plan of a full or quick run.
    pub fn new(quick: bool, pairs: Option<usize>, out_dir: &Path) -> Plan {
        Plan {
            quick,
            pairs: pairs.unwrap_or(if quick { 1 } else { 3 }),
            warmup: Duration::from_millis(if quick { 200 } else { 1000 }),
            secs: Duration::from_millis(if quick { 1000 } else { 5000 }),
            out_dir: out_dir.to_path_buf(),
            echo_sizes: ECHO_SIZES.to_vec(),
            echo_conns: ECHO_CONNS.to_vec(),
            idle_conns: if quick { 500 } else { IDLE_CONNS },
        }
    }
}

/// The conns × sizes of the echo workload.
pub const ECHO_SIZES: [usize; 2] = [64, 4096];
pub const ECHO_CONNS: [usize; 3] = [1, 50, 500];
const HTTP_CONNS: usize = 50;
const IDLE_CONNS: usize = 10_000;
const MILLION: u64 = 1_000_000;

fn size_label(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Runs the workload `name`, adding its figures to `results`.
pub fn run(name: &str, plan: &Plan, results: &mut Results) {
    let r = match name {
        "echo" => echo(plan, results),
        "http" => http(plan, results, "http"),
        "hyper" => http(plan, results, "hyper"),
        "spawn" | "pingpong" | "sleep_cancel" | "sleep_fire" | "sleep_precision" => {
            micro(name, plan, results)
        }
        "timers_equal" => timers_equal(plan, results),
        "priority" => priority_latency(plan, results),
        "memory" => memory(plan, results),
        "idle" => crate::idle::run(plan, results),
        "idle_cpu" => crate::idle::cpu(plan, results),
        "instructions" => instructions(plan, results),
        "kv" => crate::kv::run(plan, results),
        _ => Err(std::io::Error::other(format!("unknown workload {name}"))),
    };
    if let Err(e) = r {
        eprintln!("workload {name} failed: {e}");
        results.notes.push(format!("workload `{name}` failed: {e}"));
    }
}

pub(crate) fn progress(what: &str) {
    eprintln!("[compare] {what}");
}

/// Notes a run that failed; the workload goes on with the other runs.
pub(crate) fn failed(results: &mut Results, what: &str, e: &std::io::Error) {
    eprintln!("[compare] {what} failed: {e}");
    let note = format!("{what}: failed ({e})");
    if !results.notes.contains(&note) {
        results.notes.push(note);
    }
}

/// Whether the kernel lets evloop use io_uring here; if not, says so in the notes once.
pub(crate) fn uring_available(results: &mut Results) -> bool {
    let ok = runtime::Builder::new()
        .backend(runtime::BackendKind::Uring)
        .build()
        .is_ok_and(|rt| rt.backend_name() == "uring");
    let note = "io_uring: the kernel refuses it here (the reactor falls back to epoll), so \
        the io_uring runs are skipped";
    if !ok && !results.notes.iter().any(|n| n == note) {
        results.notes.push(note.into());
    }
    ok
}

/// `runtimes`, then `uring` where the kernel allows io_uring.
fn with_uring(
    results: &mut Results,
    runtimes: &[&'static str],
    uring: &[&'static str],
) -> Vec<&'static str> {
    let mut all = runtimes.to_vec();
    if uring_available(results) {
        all.extend_from_slice(uring);
    }
    all
}

/// One timed load-generator run against a fresh server; returns the loadgen's figures
/// and the server's CPU seconds over the run.
fn timed_run(
    plan: &Plan,
    runtime: &'static str,
    service: &str,
    extra: &[String],
    load: &[String],
) -> std::io::Result<(std::collections::BTreeMap<String, f64>, f64)> {
    let server = child::server(runtime, service, extra, None)?;
    let cpu0 = crate::sys::cpu_seconds(server.pid)?;
    let mut args = load.to_vec();
    args.extend([
        "--addr".into(),
        server.addr.to_string(),
        "--warmup".into(),
        format!("{}", plan.warmup.as_secs_f64()),
        "--secs".into(),
        format!("{}", plan.secs.as_secs_f64()),
    ]);
    let limit = plan.warmup + plan.secs + Duration::from_secs(60);
    let out = child::loadgen(&args, limit)?;
    let cpu1 = crate::sys::cpu_seconds(server.pid)?;
    server.stop();
    if out.get("errors").copied().unwrap_or(0.0) > 0.0 {
        eprintln!("{runtime} {service}: {} connections failed", out["errors"]);
    }
    Ok((out, cpu1 - cpu0))
}

fn echo(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let runtimes = with_uring(
        results,
        &[EVLOOP, TOKIO, TOKIO_COMPAT, RAW],
        &[EVLOOP_URING, RAW_URING],
    );
    for pair in 0..plan.pairs {
        for &size in &plan.echo_sizes {
            for &conns in &plan.echo_conns {
                for &runtime in &runtimes {
                    progress(&format!(
                        "echo {} × {conns} conns, {runtime}, pair {}/{}",
                        size_label(size),
                        pair + 1,
                        plan.pairs
                    ));
                    let load: Vec<String> = vec![
                        "echo".into(),
                        "--conns".into(),
                        conns.to_string(),
                        "--size".into(),
                        size.to_string(),
                    ];
                    let extra = vec!["--buf".into(), ECHO_BUF.to_string()];
                    match timed_run(plan, runtime, "echo", &extra, &load) {
                        Ok((out, cpu)) => {
                            record_network(results, "echo", size, conns, runtime, &out, cpu)
                        }
                        Err(e) => failed(results, &format!("echo on {runtime}"), &e),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Records throughput, p50, p99 and server CPU per message of one network run.
fn record_network(
    results: &mut Results,
    workload: &str,
    size: usize,
    conns: usize,
    runtime: &'static str,
    out: &std::collections::BTreeMap<String, f64>,
    cpu: f64,
) {
    let params = if workload == "echo" {
        format!("{} × {conns} conns", size_label(size))
    } else {
        format!("{conns} conns, keep-alive")
    };
    let params_json = if workload == "echo" {
        json!({"size": size, "conns": conns, "buf": ECHO_BUF})
    } else {
        json!({"conns": conns, "loadgen": "builtin"})
    };
    let small_echo = workload == "echo" && size == 64;
    let is_http = workload != "echo";
    let key = |metric: &'static str, unit: &'static str, hib: bool, goals: &'static [Goal]| Key {
        workload,
        metric,
        params: &params,
        params_json: params_json.clone(),
        unit,
        higher_is_better: hib,
        goals,
    };
    let secs = out.get("secs").copied().unwrap_or(0.0);
    let msgs = out.get("msgs").copied().unwrap_or(0.0);
    let total = out.get("total").copied().unwrap_or(0.0);
    if secs > 0.0 {
        let goals: &'static [Goal] = if small_echo {
            goals::ECHO_THROUGHPUT
        } else if is_http {
            goals::TOKIO_1
        } else {
            &[]
        };
        let unit = if is_http { "req/s" } else { "msg/s" };
        results.record(key("throughput", unit, true, goals), runtime, msgs / secs);
    }
    if let Some(&p50) = out.get("p50_ns") {
        results.record(key("p50 latency", "µs", false, &[]), runtime, p50 / 1e3);
    }
    if let Some(&p99) = out.get("p99_ns") {
        let goals: &'static [Goal] = if small_echo { goals::TOKIO_1 } else { &[] };
        results.record(key("p99 latency", "µs", false, goals), runtime, p99 / 1e3);
    }
    if total > 0.0 {
        let goals: &'static [Goal] = match (small_echo, conns) {
            (true, 50) => goals::ECHO_CPU_50,
            (true, 500) => goals::ECHO_CPU_500,
            _ => &[],
        };
        results.record(
            key("server CPU per message", "µs", false, goals),
            runtime,
            cpu / total * 1e6,
        );
    }
}

fn http(plan: &Plan, results: &mut Results, service: &'static str) -> std::io::Result<()> {
    if !results
        .notes
        .iter()
        .any(|n| n.contains("HTTP load generator"))
    {
        results.notes.push(
            "HTTP load generator: builtin (wrk is not installed); keep-alive `GET /`, one \
             request in flight per connection"
                .into(),
        );
    }
    // hyper on tokio through hyper-util's `TokioIo` is how a tokio user runs hyper, so
    // hyper has no compat column.
    let runtimes: &[&'static str] = if service == "http" {
        &[EVLOOP, TOKIO, TOKIO_COMPAT]
    } else {
        &[EVLOOP, TOKIO]
    };
    for pair in 0..plan.pairs {
        for &runtime in runtimes {
            progress(&format!(
                "{service} × {HTTP_CONNS} conns, {runtime}, pair {}/{}",
                pair + 1,
                plan.pairs
            ));
            let load: Vec<String> = vec!["http".into(), "--conns".into(), HTTP_CONNS.to_string()];
            let workload = if service == "http" {
                "http (shared server)"
            } else {
                "http (hyper)"
            };
            match timed_run(plan, runtime, service, &[], &load) {
                Ok((out, cpu)) => {
                    record_network(results, workload, 0, HTTP_CONNS, runtime, &out, cpu)
                }
                Err(e) => failed(results, &format!("{service} on {runtime}"), &e),
            }
        }
    }
    Ok(())
}

fn micro(name: &str, plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let samples = if plan.quick { 200 } else { 1000 };
    // (workload, params, child args, metrics: (result key, metric, unit, scale, goals))
    type Metric = (
        &'static str,
        &'static str,
        &'static str,
        f64,
        &'static [Goal],
    );
    let runs: Vec<(&str, String, Vec<String>, Vec<Metric>)> = match name {
        "spawn" => vec![(
            "spawn + await",
            "1M tasks".into(),
            vec!["spawn".into(), "--n".into(), MILLION.to_string()],
            vec![("secs", "time", "ms", 1e3, goals::TOKIO_2)],
        )],
        "pingpong" => vec![(
            "wake ping-pong",
            "1M rounds".into(),
            vec!["pingpong".into(), "--n".into(), MILLION.to_string()],
            vec![("secs", "time", "ms", 1e3, goals::TOKIO_2)],
        )],
        "sleep_cancel" => vec![(
            "sleep create/poll/cancel",
            "1M sleeps".into(),
            vec!["sleep_cancel".into(), "--n".into(), MILLION.to_string()],
            vec![("secs", "time", "ms", 1e3, goals::TOKIO_2)],
        )],
        "sleep_fire" => vec![(
            "sleeps firing",
            "1M sleeps, 0–100 ms".into(),
            vec!["sleep_fire".into(), "--n".into(), MILLION.to_string()],
            vec![("secs", "wall time", "ms", 1e3, goals::TOKIO_0_7)],
        )],
        "sleep_precision" => [100u64, 1000]
            .into_iter()
            .map(|us| {
                let goals: &'static [Goal] = if us == 100 {
                    goals::AT_MOST_200
                } else {
                    goals::AT_MOST_1100
                };
                (
                    "sleep precision",
                    format!(
                        "sleep({}), {samples} sleeps",
                        if us == 100 { "100µs" } else { "1ms" }
                    ),
                    vec![
                        "sleep_precision".into(),
                        "--us".into(),
                        us.to_string(),
                        "--n".into(),
                        samples.to_string(),
                    ],
                    vec![
                        ("p50_us", "p50 elapsed", "µs", 1.0, goals),
                        ("p99_us", "p99 elapsed", "µs", 1.0, &[][..]),
                    ],
                )
            })
            .collect(),
        _ => return Err(std::io::Error::other(format!("unknown workload {name}"))),
    };
    for pair in 0..plan.pairs {
        for (workload, params, args, metrics) in &runs {
            for runtime in [EVLOOP, TOKIO] {
                progress(&format!(
                    "{workload} {params}, {runtime}, pair {}/{}",
                    pair + 1,
                    plan.pairs
                ));
                let mut a = args.clone();
                a.extend(["--runtime".into(), runtime.into()]);
                let out = match child::micro(&a, Duration::from_secs(300)) {
                    Ok(out) => out,
                    Err(e) => {
                        failed(results, &format!("{workload} on {runtime}"), &e);
                        continue;
                    }
                };
                for &(k, metric, unit, scale, goals) in metrics {
                    if let Some(v) = out.get(k) {
                        let key = Key {
                            workload,
                            metric,
                            params,
                            params_json: json!({"args": args}),
                            unit,
                            higher_is_better: false,
                            goals,
                        };
                        results.record(key, runtime, v * scale);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Equal-duration timers: 1M `sleep(10 s)` set and held, then cancelled, on evloop
/// through a `CommonTimeout` and through the heap, each beside tokio's `sleep` (boxed,
/// as it is `!Unpin`). Two orders of cancelling: the order they were set in (oldest
/// first, as equal timeouts of requests that finish in turn are), and a shuffle.
/// Measured in the thread's CPU time, so that other work on the machine does not
/// count. The goal compares evloop's `CommonTimeout` row with its heap row.
fn timers_equal(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let n = if plan.quick { MILLION / 10 } else { MILLION };
    let label = if plan.quick { "100k" } else { "1M" };
    // (order, CommonTimeout?) → evloop's totals, for the goal.
    let mut totals: Vec<((&str, bool), Vec<f64>)> = Vec::new();
    for pair in 0..plan.pairs {
        for order in ["fifo", "shuffled"] {
            for common in [true, false] {
                let params = format!(
                    "{label} × sleep(10 s), {}, cancelled {}",
                    if common { "CommonTimeout" } else { "heap" },
                    if order == "fifo" {
                        "oldest first"
                    } else {
                        "shuffled"
                    }
                );
                for runtime in [EVLOOP, TOKIO] {
                    progress(&format!(
                        "equal-duration timers, {params}, {runtime}, pair {}/{}",
                        pair + 1,
                        plan.pairs
                    ));
                    let mut args = vec![
                        "timers_equal".to_string(),
                        "--n".into(),
                        n.to_string(),
                        "--order".into(),
                        order.into(),
                        "--runtime".into(),
                        runtime.into(),
                    ];
                    if common {
                        args.push("--common".into());
                    }
                    let out = match child::micro(&args, Duration::from_secs(300)) {
                        Ok(out) => out,
                        Err(e) => {
                            failed(results, &format!("equal-duration timers on {runtime}"), &e);
                            continue;
                        }
                    };
                    if let (Some(secs), EVLOOP) = (out.get("secs"), runtime) {
                        match totals.iter_mut().find(|(k, _)| *k == (order, common)) {
                            Some((_, v)) => v.push(*secs),
                            None => totals.push(((order, common), vec![*secs])),
                        }
                    }
                    for (k, metric) in [
                        ("secs", "CPU time"),
                        ("arm_secs", "CPU time to arm"),
                        ("cancel_secs", "CPU time to cancel"),
                    ] {
                        if let Some(v) = out.get(k) {
                            let key = Key {
                                workload: "arm + cancel, equal durations",
                                metric,
                                params: &params,
                                params_json: json!({"n": n, "common": common, "order": order}),
                                unit: "ms",
                                higher_is_better: false,
                                goals: &[],
                            };
                            results.record(key, runtime, v * 1e3);
                        }
                    }
                }
            }
        }
    }
    let median = |order: &str, common: bool| {
        let mut v = totals
            .iter()
            .find(|(k, _)| *k == (order, common))?
            .1
            .clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    for order in ["fifo", "shuffled"] {
        if let (Some(ct), Some(heap)) = (median(order, true), median(order, false)) {
            let r = ct / heap;
            results.notes.push(format!(
                "equal-duration timers, cancelled {}: evloop's CommonTimeout takes {r:.2}× \
                 the heap's CPU time (medians {:.1} ms against {:.1} ms; goal ≤ 0.30×: {})",
                if order == "fifo" {
                    "oldest first"
                } else {
                    "shuffled"
                },
                ct * 1e3,
                heap * 1e3,
                if r <= 0.3 { "met" } else { "**missed**" }
            ));
        }
    }
    Ok(())
}

/// Priority latency: 1,000 tasks busy on a yield, and one that sleeps until each 1 ms
/// tick; the delay from each deadline to its first poll. evloop runs twice, with the
/// sleeper at priority 0 (of 3) and with one queue for all; tokio has no priorities.
fn priority_latency(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let ticks: u64 = if plan.quick { 200 } else { 1000 };
    for pair in 0..plan.pairs {
        for with in [true, false] {
            let params = format!(
                "1,000 busy tasks, {ticks} ticks of 1 ms, evloop {}",
                if with {
                    "with priorities (the sleeper at 0 of 3)"
                } else {
                    "with one queue"
                }
            );
            for runtime in [EVLOOP, TOKIO] {
                progress(&format!(
                    "priority latency, {params}, {runtime}, pair {}/{}",
                    pair + 1,
                    plan.pairs
                ));
                let mut args = vec![
                    "priority".to_string(),
                    "--n".into(),
                    ticks.to_string(),
                    "--runtime".into(),
                    runtime.into(),
                ];
                if with {
                    args.push("--priorities".into());
                }
                let out = match child::micro(&args, Duration::from_secs(120)) {
                    Ok(out) => out,
                    Err(e) => {
                        failed(results, &format!("priority latency on {runtime}"), &e);
                        continue;
                    }
                };
                let goal: &'static [Goal] = if with { goals::TOKIO_10 } else { &[] };
                for (k, metric, goals) in [
                    ("p50_us", "p50 deadline to poll", &[][..]),
                    ("p99_us", "p99 deadline to poll", goal),
                ] {
                    if let Some(v) = out.get(k) {
                        let key = Key {
                            workload: "priority latency",
                            metric,
                            params: &params,
                            params_json: json!({"ticks": ticks, "busy": 1000, "priorities": with}),
                            unit: "µs",
                            higher_is_better: false,
                            goals,
                        };
                        results.record(key, runtime, *v);
                    }
                }
            }
        }
    }
    Ok(())
}

fn memory(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    let runtimes = with_uring(
        results,
        &[EVLOOP, TOKIO, TOKIO_COMPAT, RAW],
        &[EVLOOP_URING],
    );
    for pair in 0..plan.pairs {
        for &runtime in &runtimes {
            progress(&format!(
                "memory, {IDLE_CONNS} idle conns, {runtime}, pair {}/{}",
                pair + 1,
                plan.pairs
            ));
            let (before, after) = match idle_rss(runtime) {
                Ok(r) => r,
                Err(e) => {
                    failed(results, &format!("memory on {runtime}"), &e);
                    continue;
                }
            };
            let key = Key {
                workload: "memory per idle connection",
                metric: "RSS delta / conns",
                params: &format!("{IDLE_CONNS} conns, echo buffer {IDLE_BUF} B"),
                params_json: json!({"conns": IDLE_CONNS, "buf": IDLE_BUF}),
                unit: "B",
                higher_is_better: false,
                goals: goals::TOKIO_2,
            };
            results.record(
                key,
                runtime,
                after.saturating_sub(before) as f64 / IDLE_CONNS as f64,
            );
        }
    }
    Ok(())
}

/// The server's RSS before and after [`IDLE_CONNS`] idle connections.
fn idle_rss(runtime: &str) -> std::io::Result<(u64, u64)> {
    let extra = vec!["--buf".into(), IDLE_BUF.to_string()];
    let server = child::server(runtime, "echo", &extra, None)?;
    std::thread::sleep(Duration::from_millis(100));
    let before = crate::sys::rss_bytes(server.pid)?;
    let idle = child::idle(server.addr, IDLE_CONNS, "echo", Duration::from_secs(120))?;
    std::thread::sleep(Duration::from_millis(100));
    let after = crate::sys::rss_bytes(server.pid)?;
    idle.release();
    server.stop();
    Ok((before, after))
}

/// The two message counts of the callgrind difference.
fn callgrind_counts(quick: bool) -> (u64, u64) {
    if quick {
        (5_000, 15_000)
    } else {
        (50_000, 250_000)
    }
}

/// One server measured under callgrind.
struct Callgrind {
    service: &'static str,
    params: &'static str,
    runtimes: &'static [&'static str],
    load: &'static [&'static str],
    goals: &'static [Goal],
}

fn instructions(plan: &Plan, results: &mut Results) -> std::io::Result<()> {
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        results
            .notes
            .push("instructions per message: skipped, valgrind is not installed".into());
        return Ok(());
    }
    let dir = plan.out_dir.join("callgrind");
    std::fs::create_dir_all(&dir)?;
    let (k1, k2) = callgrind_counts(plan.quick);
    results.notes.push(format!(
        "instructions: user-space `Ir` of the server process under `valgrind --tool=callgrind`, \
         (I({k2}) − I({k1})) / (n₂ − n₁) messages at 50 connections, one run each \
         (the counts are deterministic to well under 1 %); the profiles are kept in \
         `callgrind/` next to this report. valgrind does not know `epoll_pwait2` (it warns \
         about syscall 441), so there evloop's reactor uses `epoll_wait`, as on a kernel \
         without it"
    ));
    let cases = [
        Callgrind {
            service: "echo",
            params: "64 B × 50 conns",
            runtimes: &[EVLOOP, TOKIO, TOKIO_COMPAT, RAW, EVLOOP_URING],
            load: &["echo", "--size", "64"],
            goals: goals::TOKIO_2,
        },
        Callgrind {
            service: "http",
            params: "shared server, 50 conns",
            runtimes: &[EVLOOP, TOKIO, TOKIO_COMPAT],
            load: &["http"],
            goals: goals::TOKIO_0_6,
        },
        Callgrind {
            service: "hyper",
            params: "hyper, 50 conns",
            runtimes: &[EVLOOP, TOKIO],
            load: &["http"],
            goals: goals::TOKIO_0_6,
        },
    ];
    for Callgrind {
        service,
        params,
        runtimes,
        load,
        goals,
    } in cases
    {
        let load: Vec<String> = load.iter().map(|a| a.to_string()).collect();
        for &runtime in runtimes {
            if runtime == EVLOOP_URING && !uring_available(results) {
                continue;
            }
            match callgrind_points(&dir, service, runtime, &load, [k1, k2]) {
                Ok(points) => {
                    let (n1, i1, ref p1) = points[0];
                    let (n2, i2, ref p2) = points[1];
                    if n2 > n1 {
                        let key = Key {
                            workload: "instructions per message",
                            metric: "user-space Ir",
                            params,
                            params_json: json!({"service": service, "conns": 50, "counts": [k1, k2]}),
                            unit: "instr",
                            higher_is_better: false,
                            goals,
                        };
                        results.record(key, runtime, (i2 - i1) / (n2 - n1));
                        match crate::profile::per_message((n1, p1), (n2, p2), 12) {
                            Ok(top) => results.profiles.push(Profile {
                                title: format!("{service} ({params})"),
                                runtime,
                                top,
                            }),
                            Err(e) => failed(results, &format!("annotating {service}"), &e),
                        }
                    }
                }
                Err(e) => failed(results, &format!("callgrind {service} on {runtime}"), &e),
            }
        }
    }
    Ok(())
}

/// (messages, instructions, profile) of the server under callgrind for each of
/// `counts`.
fn callgrind_points(
    dir: &Path,
    service: &str,
    runtime: &str,
    load: &[String],
    counts: [u64; 2],
) -> std::io::Result<Vec<(f64, f64, PathBuf)>> {
    let mut points = Vec::new();
    for k in counts {
        progress(&format!("callgrind {service}, {runtime}, {k} messages"));
        let out = dir.join(format!("{service}.{runtime}.{k}.out"));
        let _ = std::fs::remove_file(&out);
        let extra: Vec<String> = if service == "echo" {
            vec!["--buf".into(), ECHO_BUF.to_string()]
        } else {
            vec![]
        };
        let server = child::server(runtime, service, &extra, Some(&out))?;
        let mut args = load.to_vec();
        args.extend([
            "--conns".into(),
            "50".into(),
            "--addr".into(),
            server.addr.to_string(),
            "--count".into(),
            k.to_string(),
            "--secs".into(),
            "300".into(),
        ]);
        let res = child::loadgen(&args, Duration::from_secs(330))?;
        server.stop();
        let n = res.get("total").copied().unwrap_or(0.0);
        let total = child::callgrind_total(&out)? as f64;
        points.push((n, total, out));
    }
    Ok(points)
}
