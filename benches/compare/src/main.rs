//! evloop against tokio's current_thread runtime, and against a raw epoll loop (the
//! limit), in one run: `cargo bench -p compare` (`-- --quick` for a short run,
//! `-- --only NAME` for one workload, `-- --pairs N` for N A B pairs, `-- --sizes 64
//! --conns 50,500` for a part of the echo workload, `-- --idle-conns N` for the idle
//! workload's count, 10,000 by default and 500 in a quick run).
//!
//! One binary, several roles. The parent orchestrates and re-executes itself:
//! `--serve <echo|http|hyper> --runtime <evloop|tokio|tokio-compat|raw|evloop-uring|raw-uring|evloop-poll>`
//! starts a server (tokio as a tokio user writes it, or evloop's code through tokio-util's
//! compat; the last two: evloop on its io_uring backend, and the raw io_uring limit;
//! pinned to core 0, printing `listening on 127.0.0.1:PORT`; `--serve kv --runtime
//! <evloop|tokio> --port P` the key-value server on that port, driven by
//! `redis-benchmark`; `--serve app --app NAME --port P` one of evloop's example servers),
//! `--loadgen <echo|http|idle>` a load
//! generator (pinned to core 1, built on libc epoll, not on evloop) and `--micro NAME
//! --runtime R` a task or timer workload (pinned to core 0). Every run gets fresh
//! processes; within each pair the runtimes run one after the other.
//!
//! The report goes to `target/bench/` (or `$CARGO_TARGET_DIR/bench/`): `report.json`,
//! `report.md` and `echo_throughput.svg`.

mod child;
mod evloop_side;
mod files;
mod idle;
mod kv;
mod kv_profile;
mod kv_tokio;
mod loadgen;
mod micro;
mod process;
mod profile;
mod raw;
#[cfg(target_os = "linux")]
mod raw_uring;
mod report;
mod serve;
mod sync;
mod sys;
mod tokio_native;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use micro::Micro;
use serve::Service;

/// The command line, as `--flag value` pairs and bare flags.
struct Args(Vec<String>);

impl Args {
    fn has(&self, flag: &str) -> bool {
        self.0.iter().any(|a| a == flag)
    }

    fn value(&self, flag: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == flag)?;
        self.0.get(i + 1).map(String::as_str)
    }

    fn parse<T: std::str::FromStr>(&self, flag: &str, default: T) -> Result<T, String> {
        match self.value(flag) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value for {flag}: {v:?}")),
        }
    }
}

fn main() -> ExitCode {
    let args = Args(std::env::args().skip(1).collect());
    if args.has("--list") {
        // A test runner listing tests: this binary has none.
        return ExitCode::SUCCESS;
    }
    let r = if let Some(service) = args.value("--serve") {
        serve_mode(&args, service)
    } else if let Some(kind) = args.value("--loadgen") {
        loadgen_mode(&args, kind)
    } else if let Some(name) = args.value("--micro") {
        micro_mode(&args, name)
    } else if let Some(name) = args.value("--sync") {
        args.parse("--n", 1_000_000u64)
            .and_then(|n| sync::run(name, args.value("--runtime").unwrap_or("evloop"), n))
    } else {
        parent(&args)
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_mode(args: &Args, service: &str) -> Result<(), String> {
    sys::pin_to(sys::SERVER_CORE);
    sys::raise_nofile();
    if service == "kv" {
        return serve_kv(args);
    }
    if service == "app" {
        return serve_app(args);
    }
    let buf = args.parse("--buf", serve::ECHO_BUF)?;
    let service = match service {
        "echo" => Service::Echo(buf),
        "http" => Service::Http,
        "hyper" => Service::Hyper,
        other => return Err(format!("unknown service {other:?}")),
    };
    let runtime = args.value("--runtime").unwrap_or("evloop");
    let r = match (runtime, service) {
        ("evloop", s) => evloop_side::serve(s, None),
        ("evloop-uring", s) => evloop_side::serve(s, Some(runtime::BackendKind::Uring)),
        ("evloop-poll", s) => evloop_side::serve(s, Some(runtime::BackendKind::Poll)),
        ("tokio", s) => serve::tokio(s, serve::TokioStyle::Native),
        ("tokio-compat", s) => serve::tokio(s, serve::TokioStyle::Compat),
        ("raw", Service::Echo(_)) => serve::raw(),
        #[cfg(target_os = "linux")]
        ("raw-uring", Service::Echo(_)) => serve::raw_uring(),
        (rt, s) => return Err(format!("no {rt} server for {s:?}")),
    };
    r.map_err(|e| format!("{runtime} server: {e}"))
}

/// `--serve kv`: evloop's `kv_server` itself, or the tokio build of the same store.
fn serve_kv(args: &Args) -> Result<(), String> {
    let port = args.parse("--port", 0u16)?;
    let runtime = args.value("--runtime").unwrap_or("evloop");
    let r = match runtime {
        "evloop" => evloop::examples::kv_server::run(evloop::cli::ServerArgs {
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            threads: 1,
            grace: evloop::cli::DEFAULT_GRACE,
        }),
        "tokio" => kv_tokio::serve(port),
        other => return Err(format!("no {other} kv server")),
    };
    r.map_err(|e| format!("{runtime} kv server: {e}"))
}

/// `--serve app --app NAME --port P`: one of evloop's example servers, with its default
/// options, on that port (its backend from `EVLOOP_BACKEND`).
fn serve_app(args: &Args) -> Result<(), String> {
    use evloop::examples::{echo_server, http_server, hyper_server, kv_server};
    let port = args.parse("--port", 0u16)?;
    let name = args.value("--app").ok_or("--serve app needs --app")?;
    let flags = ["--addr".to_string(), format!("127.0.0.1:{port}")];
    let bad = |e: evloop::cli::CliError| format!("{name}: {e}");
    let r = match name {
        "http_server" => http_server::run(http_server::Args::parse(flags).map_err(bad)?),
        "echo_server" => echo_server::run(echo_server::Args::parse(flags).map_err(bad)?),
        "kv_server" => kv_server::run(kv_server::parse(flags).map_err(bad)?),
        "hyper_server" => hyper_server::run(hyper_server::Args::parse(flags).map_err(bad)?),
        other => return Err(format!("unknown app {other:?}")),
    };
    r.map_err(|e| format!("{name}: {e}"))
}

fn loadgen_mode(args: &Args, kind: &str) -> Result<(), String> {
    sys::pin_to(sys::LOADGEN_CORE);
    sys::raise_nofile();
    let addr = args
        .value("--addr")
        .ok_or("--loadgen needs --addr")?
        .parse()
        .map_err(|e| format!("bad --addr: {e}"))?;
    let conns = args.parse("--conns", 50usize)?;
    if kind == "idle" {
        let hold = Duration::from_secs(args.parse("--hold", 300u64)?);
        let probe = args.value("--probe").unwrap_or("echo");
        let probe = loadgen::Probe::from_name(probe).ok_or(format!("unknown --probe {probe:?}"))?;
        return loadgen::idle(addr, conns, probe, hold).map_err(|e| format!("idle loadgen: {e}"));
    }
    let protocol = match kind {
        "echo" => loadgen::Protocol::Echo(args.parse("--size", 64usize)?),
        "http" => loadgen::Protocol::Http,
        other => return Err(format!("unknown load {other:?}")),
    };
    let plan = loadgen::Plan {
        addr,
        conns,
        protocol,
        warmup: Duration::from_secs_f64(args.parse("--warmup", 1.0f64)?),
        secs: Duration::from_secs_f64(args.parse("--secs", 5.0f64)?),
        count: args
            .value("--count")
            .map(str::parse)
            .transpose()
            .map_err(|_| "bad --count")?,
    };
    let out = loadgen::run(plan).map_err(|e| format!("loadgen: {e}"))?;
    println!("{}", loadgen::result_line(&out));
    Ok(())
}

fn micro_mode(args: &Args, name: &str) -> Result<(), String> {
    sys::pin_to(sys::SERVER_CORE);
    let n = args.parse("--n", 1_000_000u64)?;
    if name == process::NAME {
        let runtime = args.value("--runtime").unwrap_or("evloop");
        println!("result {}", process::micro(runtime, n as usize)?);
        return Ok(());
    }
    if name == files::NAME {
        let runtime = args.value("--runtime").unwrap_or("evloop");
        let path = args.value("--path").ok_or("--micro files needs --path")?;
        println!("result {}", files::micro(runtime, path.into())?);
        return Ok(());
    }
    let m = match name {
        "spawn" => Micro::Spawn(n),
        "pingpong" => Micro::PingPong(n),
        "sleep_cancel" => Micro::SleepCancel(n),
        "sleep_fire" => Micro::SleepFire(n),
        "sleep_precision" => Micro::SleepPrecision(args.parse("--us", 100u64)?, n),
        "priority" => Micro::PriorityLatency {
            ticks: n,
            priorities: args.has("--priorities"),
        },
        "timers_equal" => Micro::EqualTimers {
            n,
            common: args.has("--common"),
            shuffled: match args.value("--order").unwrap_or("fifo") {
                "fifo" => false,
                "shuffled" => true,
                other => return Err(format!("unknown --order {other:?}")),
            },
        },
        other => return Err(format!("unknown micro workload {other:?}")),
    };
    let line = match args.value("--runtime").unwrap_or("evloop") {
        "evloop" => evloop_side::micro(m),
        "tokio" => micro::on_tokio::run(m),
        other => return Err(format!("unknown runtime {other:?}")),
    };
    println!("result {line}");
    Ok(())
}

/// The workspace's root: this package is `benches/compare` in it.
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Where the report goes: `$CARGO_TARGET_DIR/bench`, else the workspace's `target/bench`.
fn out_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => PathBuf::from(t).join("bench"),
        None => {
            let root = PathBuf::from(WORKSPACE);
            root.canonicalize().unwrap_or(root).join("target/bench")
        }
    }
}

fn parent(args: &Args) -> Result<(), String> {
    let quick = args.has("--quick");
    let only = args.value("--only");
    if let Some(name) = only
        && !workloads::NAMES.contains(&name)
        && name != process::NAME
        && name != files::NAME
    {
        return Err(format!(
            "unknown workload {name:?}; one of: {}",
            workloads::NAMES.join(", ")
        ));
    }
    let pairs = args
        .value("--pairs")
        .map(str::parse)
        .transpose()
        .map_err(|_| "bad --pairs")?;
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut plan = workloads::Plan::new(quick, pairs, &dir);
    // `--sizes 64` and `--conns 50,500` narrow the echo workload to a subset of its
    // sizes and connection counts, for longer runs of the cases a goal names.
    for (flag, all, chosen) in [
        ("--sizes", &workloads::ECHO_SIZES[..], &mut plan.echo_sizes),
        ("--conns", &workloads::ECHO_CONNS[..], &mut plan.echo_conns),
    ] {
        if let Some(list) = args.value(flag) {
            let picked: Vec<usize> = list
                .split(',')
                .map(|v| v.trim().parse().ok().filter(|v| all.contains(v)))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    format!("bad {flag} {list:?}; a comma-separated subset of {all:?}")
                })?;
            *chosen = picked;
        }
    }
    if let Some(n) = args.value("--idle-conns") {
        plan.idle_conns = n
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("bad --idle-conns {n:?}"))?;
    }
    let machine = report::Machine {
        cores: sys::cores(),
        kernel: sys::kernel(),
        cpu: sys::cpu_model(),
        date: sys::now_utc(),
        commit: sys::git_commit(WORKSPACE),
    };
    let mut command = String::from("cargo bench -p compare");
    let passed: Vec<&str> = args
        .0
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--bench")
        .collect();
    if !passed.is_empty() {
        command.push_str(" -- ");
        command.push_str(&passed.join(" "));
    }
    let started = Instant::now();
    let mut results = report::Results::default();
    if sys::cores() < 2 {
        results
            .notes
            .push("one core: servers and load generators share it (no pinning)".into());
    } else {
        results
            .notes
            .push("servers and task workloads pinned to core 0, load generators to core 1".into());
    }
    for name in workloads::NAMES {
        if only.is_none_or(|o| o == name) {
            workloads::run(name, &plan, &mut results);
        }
    }
    if only.is_none_or(|o| o == process::NAME) {
        process::run(&plan, &mut results);
    }
    if only.is_none_or(|o| o == files::NAME) {
        files::run(&plan, &dir, &mut results);
    }
    let elapsed = started.elapsed().as_secs_f64();
    results.notes.push(format!("the run took {elapsed:.0} s"));

    let json = results.json(&machine, &command, plan.pairs, quick);
    let md = results.markdown(&machine, &command, plan.pairs);
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(
        "report.json",
        &serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?,
    )?;
    write("report.md", &md)?;
    let svg = dir.join("echo_throughput.svg");
    let plotted = report::plot_echo(&results, &svg, &machine).map_err(|e| e.to_string())?;
    println!("{md}");
    println!("report: {}", dir.join("report.json").display());
    println!("table:  {}", dir.join("report.md").display());
    if plotted {
        println!("plot:   {}", svg.display());
    }
    Ok(())
}
