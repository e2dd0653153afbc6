//! The `kv` workload under callgrind: user-space instructions per request of each
//! server, `(I(n₂) − I(n₁)) / (n₂ − n₁)` over two run lengths, and where evloop's go,
//! function by function.

use std::path::PathBuf;

use serde_json::json;

use crate::kv::{CONNS, Server, TESTS, Under, benchmark};
use crate::report::{Key, Profile, Results};
use crate::workloads::Plan;

/// Requests per test in the short and the long run, for `-P 1` and `-P 16`.
fn counts(pipeline: usize) -> [usize; 2] {
    if pipeline == 1 {
        [2_000, 10_000]
    } else {
        [20_000, 100_000]
    }
}

/// Measures every server at `-P 16` and `-P 1`.
pub fn instructions(plan: &Plan, results: &mut Results, servers: &[&'static str]) {
    results.notes.push(
        "kv instructions: user-space `Ir` of the server under `valgrind --tool=callgrind`, \
         SET then GET with n requests each, (I(n₂) − I(n₁)) / (2 (n₂ − n₁)); the profiles are \
         in `callgrind/kv.*` next to this report"
            .into(),
    );
    let dir = plan.out_dir.join("callgrind");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        results.notes.push(format!("kv instructions: failed ({e})"));
        return;
    }
    for pipeline in [16, 1] {
        for &server in servers {
            let mut points: Vec<(f64, f64, PathBuf)> = Vec::new();
            for n in counts(pipeline) {
                eprintln!("[compare] kv callgrind, {server} -P {pipeline}, {n} requests per test");
                let out = dir.join(format!("kv.{server}.P{pipeline}.{n}.out"));
                let _ = std::fs::remove_file(&out);
                let run = (|| {
                    let s = Server::start(server, Under::Callgrind(&out))?;
                    for test in TESTS {
                        benchmark(s.addr, test, n, pipeline)?;
                    }
                    s.stop()?;
                    crate::child::callgrind_total(&out)
                })();
                match run {
                    Ok(total) => points.push(((n * TESTS.len()) as f64, total as f64, out)),
                    Err(e) => {
                        results.notes.push(format!(
                            "kv callgrind on {server} -P {pipeline}: failed ({e})"
                        ));
                        break;
                    }
                }
            }
            let [(n1, i1, p1), (n2, i2, p2)] = match <[_; 2]>::try_from(points) {
                Ok(p) => p,
                Err(_) => continue,
            };
            let params = format!("SET + GET, -c {CONNS} -P {pipeline}");
            let key = Key {
                workload: "kv instructions per request",
                metric: "user-space Ir",
                params: &params,
                params_json: json!({"conns": CONNS, "pipeline": pipeline, "counts": counts(pipeline)}),
                unit: "instr",
                higher_is_better: false,
                goals: &[],
            };
            results.record(key, server, (i2 - i1) / (n2 - n1));
            if server == "evloop" {
                match crate::profile::per_message((n1, &p1), (n2, &p2), 15) {
                    Ok(top) => results.profiles.push(Profile {
                        title: format!("kv_server ({params})"),
                        runtime: "evloop",
                        top,
                    }),
                    Err(e) => results.notes.push(format!("annotating kv: failed ({e})")),
                }
            }
        }
    }
}
