//! The `files` workload: one file read front to back in 64 KiB chunks, through
//! `runtime::fs::File` and through `tokio::fs::File` (current_thread), alternating within
//! each pair, each run in a fresh process of its own (`--micro files`). The file (256 MiB,
//! 32 MiB in a quick run) is written once and read warm from the page cache, so the
//! figures are the runtimes' cost of moving each chunk, not the disk's. CPU is the whole
//! process's: the loop's thread and the pool threads that run the reads.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::child;
use crate::process::self_cpu;
use crate::report::{EVLOOP, Key, Results, TOKIO};
use crate::workloads::{Plan, failed, progress};

/// The workload's name for `--only`.
pub const NAME: &str = "files";

/// The chunk each read asks for.
const CHUNK: usize = 64 * 1024;

/// The file's size in a full and in a quick run, in MiB.
const MIB: usize = 256;
const MIB_QUICK: usize = 32;

/// The parent's side: writes the file, then alternating runs, recorded in `results`.
pub fn run(plan: &Plan, dir: &Path, results: &mut Results) {
    let mib = if plan.quick { MIB_QUICK } else { MIB };
    let path = dir.join(format!("files-{mib}mib.bin"));
    if let Err(e) = write_file(&path, mib) {
        failed(results, &format!("{NAME}: writing {}", path.display()), &e);
        return;
    }
    let params = format!(
        "{mib} MiB file, {} KiB reads, page cache warm",
        CHUNK / 1024
    );
    let args = vec![
        NAME.to_string(),
        "--path".into(),
        path.display().to_string(),
    ];
    for pair in 0..plan.pairs {
        for runtime in [EVLOOP, TOKIO] {
            progress(&format!(
                "{params}, {runtime}, pair {}/{}",
                pair + 1,
                plan.pairs
            ));
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
                ("mib_per_sec", "read throughput", "MiB/s", true),
                ("cpu_ms", "process CPU", "ms", false),
            ];
            for (k, metric, unit, higher_is_better) in metrics {
                if let Some(v) = out.get(k) {
                    let key = Key {
                        workload: "files, blocking pool",
                        metric,
                        params: &params,
                        params_json: json!({"args": args}),
                        unit,
                        higher_is_better,
                        goals: &[],
                    };
                    results.record(key, runtime, *v);
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// Writes `mib` MiB of a byte pattern to `path`, unless a file of that size is there.
fn write_file(path: &Path, mib: usize) -> io::Result<()> {
    let len = (mib * 1024 * 1024) as u64;
    if std::fs::metadata(path).is_ok_and(|m| m.len() == len) {
        return Ok(());
    }
    let chunk: Vec<u8> = (0..CHUNK).map(|i| (i * 31 + 7) as u8).collect();
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for _ in 0..len / CHUNK as u64 {
        file.write_all(&chunk)?;
    }
    file.into_inner()?.sync_all()
}

/// The child's side (`--micro files --path P --runtime R`): the `result` line.
pub fn micro(runtime: &str, path: PathBuf) -> Result<String, String> {
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    // Warm the page cache, so both runtimes read from memory.
    std::fs::read(&path).map_err(|e| e.to_string())?;
    let cpu = self_cpu();
    let start = Instant::now();
    let read = match runtime {
        "evloop" => on_evloop(&path),
        "tokio" => on_tokio(&path),
        other => return Err(format!("unknown runtime {other:?}")),
    }
    .map_err(|e| format!("{NAME} on {runtime}: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = self_cpu() - cpu;
    if read != len {
        return Err(format!("{NAME} on {runtime}: read {read} of {len} bytes"));
    }
    let mib = len as f64 / (1024.0 * 1024.0);
    Ok(format!(
        "mib_per_sec={:.3} cpu_ms={:.3}",
        mib / secs,
        cpu * 1e3
    ))
}

fn on_evloop(path: &Path) -> io::Result<u64> {
    use futures_io::AsyncRead;
    use std::pin::Pin;
    let path = path.to_owned();
    runtime::Runtime::new()?.block_on(async move {
        let mut file = runtime::fs::File::open(&path).await?;
        let mut buf = vec![0; CHUNK];
        let mut total = 0u64;
        loop {
            let n = std::future::poll_fn(|cx| Pin::new(&mut file).poll_read(cx, &mut buf)).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    })
}

fn on_tokio(path: &Path) -> io::Result<u64> {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut file = tokio::fs::File::open(path).await?;
        let mut buf = vec![0; CHUNK];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    })
}
