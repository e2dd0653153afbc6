//! The `process` workload: N concurrent `true` children, spawned and then awaited, on
//! evloop's `runtime::process` and on `tokio::process` (current_thread), alternating
//! within each pair, each run in a fresh process of its own (`--micro process`). The
//! child also reports its own CPU time (the children's not counted) and how many
//! threads the spawns added (`/proc/self/task`, Linux).

use std::io;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::child;
use crate::report::{EVLOOP, Key, Results, TOKIO, goals};
use crate::workloads::{Plan, failed, progress};

/// The workload's name for `--only`.
pub const NAME: &str = "process";

/// Children per run in a full and in a quick run.
const CHILDREN: usize = 1000;
const CHILDREN_QUICK: usize = 100;

/// The parent's side: alternating runs, recorded in `results`.
pub fn run(plan: &Plan, results: &mut Results) {
    let n = if plan.quick { CHILDREN_QUICK } else { CHILDREN };
    let params = format!("{n} concurrent `true` children");
    let args = vec!["process".to_string(), "--n".into(), n.to_string()];
    // Forks are noisy: more pairs than the task workloads take.
    let pairs = if plan.quick {
        plan.pairs
    } else {
        plan.pairs.max(5)
    };
    for pair in 0..pairs {
        for runtime in [EVLOOP, TOKIO] {
            progress(&format!("{params}, {runtime}, pair {}/{pairs}", pair + 1));
            let mut a = args.clone();
            a.extend(["--runtime".into(), runtime.into()]);
            let out = match child::micro(&a, Duration::from_secs(120)) {
                Ok(out) => out,
                Err(e) => {
                    failed(results, &format!("{NAME} on {runtime}"), &e);
                    continue;
                }
            };
            let metrics = [
                ("secs", "spawn + await all", "ms", 1e3, goals::TOKIO_1),
                ("cpu_secs", "parent CPU", "ms", 1e3, &[][..]),
                ("threads_added", "threads added", "threads", 1.0, &[][..]),
            ];
            for (k, metric, unit, scale, goals) in metrics {
                if let Some(v) = out.get(k) {
                    let key = Key {
                        workload: "child processes",
                        metric,
                        params: &params,
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

/// This process's own CPU time (user + system, every thread), children not counted.
pub fn self_cpu() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: `getrusage` fills `usage` for `RUSAGE_SELF`, which cannot fail.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn threads() -> f64 {
    std::fs::read_dir("/proc/self/task").map_or(f64::NAN, |d| d.count() as f64)
}

/// The child's side (`--micro process --n N --runtime R`): the `result` line.
pub fn micro(runtime: &str, n: usize) -> Result<String, String> {
    let cpu = self_cpu();
    let (secs, added) = match runtime {
        "evloop" => on_evloop(n, false),
        // The path FreeBSD and macOS take, measured on Linux by hand (not in the report).
        "evloop-sigchld" => on_evloop(n, true),
        "tokio" => on_tokio(n),
        other => return Err(format!("unknown runtime {other:?}")),
    }
    .map_err(|e| format!("{NAME} on {runtime}: {e}"))?;
    let cpu = self_cpu() - cpu;
    Ok(format!(
        "secs={secs:.6} cpu_secs={cpu:.6} threads_added={added}"
    ))
}

fn on_evloop(n: usize, sigchld: bool) -> io::Result<(f64, f64)> {
    use runtime::process::Command;
    runtime::Runtime::new()?.block_on(async {
        // Warm-up: what the first spawn makes once.
        Command::new("true").status().await?;
        let before = threads();
        let start = Instant::now();
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            let mut cmd = Command::new("true");
            if sigchld {
                cmd.watch_with_sigchld();
            }
            children.push(cmd.spawn()?);
        }
        let added = threads() - before;
        let waits: Vec<_> = children
            .into_iter()
            .map(|mut c| runtime::spawn(async move { c.wait().await }))
            .collect();
        for w in waits {
            w.await.map_err(io::Error::other)??;
        }
        Ok((start.elapsed().as_secs_f64(), added))
    })
}

fn on_tokio(n: usize) -> io::Result<(f64, f64)> {
    use tokio::process::Command;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        Command::new("true").status().await?;
        let before = threads();
        let start = Instant::now();
        let mut children = Vec::with_capacity(n);
        for _ in 0..n {
            children.push(Command::new("true").spawn()?);
        }
        let added = threads() - before;
        let waits: Vec<_> = children
            .into_iter()
            .map(|mut c| tokio::spawn(async move { c.wait().await }))
            .collect();
        for w in waits {
            w.await.map_err(io::Error::other)??;
        }
        Ok((start.elapsed().as_secs_f64(), added))
    })
}
