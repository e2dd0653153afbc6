//! The results of a run and their three forms: `report.json`, `report.md` and the SVG
//! plot of echo throughput against connection count.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::{Value, json};

/// The runtimes, in the order they run within a pair and appear in the table. `raw` is
/// the limit of the network workloads, `redis` (redis-server) that of the kv workload.
pub const RUNTIMES: [&str; 4] = ["evloop", "tokio", "raw", "redis"];

/// A bar from the issues that an entry is checked against.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// `ratio` (evloop vs tokio, > 1 better) at least this.
    Ratio(f64),
    /// `ratio_vs_limit` at least this.
    VsLimit(f64),
    /// evloop's median at most this, in the entry's unit.
    AtMost(f64),
    /// A bar for evloop on io_uring (its own table, `uring_report.rs`).
    Uring(crate::uring_report::UringGoal),
}

/// One workload, parameter set and metric, with the samples of each runtime.
#[derive(Debug)]
pub struct Entry {
    /// The workload (`echo`, `http`, `spawn+await`, ...).
    pub workload: String,
    /// What is measured (`throughput`, `p99 latency`, ...).
    pub metric: String,
    /// The parameters, as shown in the table (`64 B × 50 conns`).
    pub params: String,
    /// The parameters, machine-readable.
    pub params_json: Value,
    /// The unit of the samples.
    pub unit: String,
    /// Whether more is better.
    pub higher_is_better: bool,
    /// The samples of each runtime that ran.
    pub samples: BTreeMap<&'static str, Vec<f64>>,
    /// The bars this entry is held to.
    pub goals: Vec<Goal>,
}

/// Median, min and max.
pub(crate) fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some((median, s[0], s[n - 1]))
}

impl Entry {
    fn median(&self, rt: &str) -> Option<f64> {
        stats(self.samples.get(rt)?).map(|s| s.0)
    }

    /// `a` over `b`, oriented so that > 1 means `a` is better.
    pub(crate) fn oriented(&self, a: &str, b: &str) -> Option<f64> {
        let (a, b) = (self.median(a)?, self.median(b)?);
        let r = if self.higher_is_better { a / b } else { b / a };
        r.is_finite().then_some(r)
    }

    /// evloop against tokio current_thread, > 1 = evloop better.
    pub fn ratio(&self) -> Option<f64> {
        self.oriented("evloop", "tokio")
    }

    /// evloop against the limit (the raw epoll loop, or redis-server), > 1 = evloop better.
    pub fn ratio_vs_limit(&self) -> Option<f64> {
        self.oriented("evloop", self.limit())
    }

    /// Which runtime is this entry's limit.
    fn limit(&self) -> &'static str {
        if self.samples.contains_key("redis") {
            "redis"
        } else {
            "raw"
        }
    }

    /// Each goal but the io_uring ones with whether it was met (None when a figure is
    /// missing).
    pub fn verdicts(&self) -> Vec<(String, Option<bool>)> {
        self.all_verdicts(false)
    }

    /// The io_uring goals with whether each was met.
    pub fn uring_verdicts(&self) -> Vec<(String, Option<bool>)> {
        self.all_verdicts(true)
    }

    fn all_verdicts(&self, uring: bool) -> Vec<(String, Option<bool>)> {
        self.goals
            .iter()
            .filter(|g| matches!(g, Goal::Uring(_)) == uring)
            .map(|g| match *g {
                Goal::Ratio(x) => (format!("≥ {x:.2}× tokio"), self.ratio().map(|r| r >= x)),
                Goal::VsLimit(x) => (
                    format!("≥ {x:.2}× limit"),
                    self.ratio_vs_limit().map(|r| r >= x),
                ),
                Goal::AtMost(x) => (
                    format!("≤ {x} {}", self.unit),
                    self.median("evloop").map(|m| m <= x),
                ),
                Goal::Uring(g) => g.verdict(self),
            })
            .collect()
    }
}

/// Everything a run produced.
#[derive(Debug, Default)]
pub struct Results {
    /// The entries, in the order they were first recorded.
    pub entries: Vec<Entry>,
    /// Notes on how figures were taken (`http load generator: builtin`, ...).
    pub notes: Vec<String>,
    /// Where the instructions go, per server profiled under callgrind.
    pub profiles: Vec<Profile>,
}

/// The functions that cost a server the most instructions per message.
#[derive(Debug)]
pub struct Profile {
    /// The service and its parameters.
    pub title: String,
    /// The runtime profiled.
    pub runtime: &'static str,
    /// (function, self `Ir` per message), most first.
    pub top: Vec<(String, f64)>,
}

/// How an entry is named and judged, given when a sample is recorded.
#[derive(Clone, Debug)]
pub struct Key<'a> {
    /// See [`Entry::workload`].
    pub workload: &'a str,
    /// See [`Entry::metric`].
    pub metric: &'a str,
    /// See [`Entry::params`].
    pub params: &'a str,
    /// See [`Entry::params_json`].
    pub params_json: Value,
    /// See [`Entry::unit`].
    pub unit: &'a str,
    /// See [`Entry::higher_is_better`].
    pub higher_is_better: bool,
    /// See [`Entry::goals`].
    pub goals: &'a [Goal],
}

impl Results {
    /// Adds one sample of `runtime` to the entry named by `key`.
    pub fn record(&mut self, key: Key<'_>, runtime: &'static str, value: f64) {
        let i = self.entries.iter().position(|e| {
            e.workload == key.workload && e.metric == key.metric && e.params == key.params
        });
        let i = i.unwrap_or_else(|| {
            self.entries.push(Entry {
                workload: key.workload.into(),
                metric: key.metric.into(),
                params: key.params.into(),
                params_json: key.params_json.clone(),
                unit: key.unit.into(),
                higher_is_better: key.higher_is_better,
                samples: BTreeMap::new(),
                goals: key.goals.to_vec(),
            });
            self.entries.len() - 1
        });
        self.entries[i]
            .samples
            .entry(runtime)
            .or_default()
            .push(value);
    }

    /// The JSON report.
    pub fn json(&self, machine: &Machine, command: &str, pairs: usize, quick: bool) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut per_runtime = serde_json::Map::new();
                for rt in RUNTIMES
                    .into_iter()
                    .chain(crate::uring_report::URING_RUNTIMES)
                {
                    if let Some(v) = e.samples.get(rt)
                        && let Some((median, min, max)) = stats(v)
                    {
                        per_runtime.insert(
                            rt.into(),
                            json!({"median": median, "min": min, "max": max, "samples": v}),
                        );
                    }
                }
                let goals: Vec<Value> = e
                    .verdicts()
                    .into_iter()
                    .chain(e.uring_verdicts())
                    .map(|(g, met)| json!({"goal": g, "met": met}))
                    .collect();
                json!({
                    "workload": e.workload,
                    "metric": e.metric,
                    "params": e.params_json,
                    "unit": e.unit,
                    "higher_is_better": e.higher_is_better,
                    "runtimes": per_runtime,
                    "ratio": e.ratio(),
                    "ratio_vs_limit": e.ratio_vs_limit(),
                    "uring_vs_epoll": e.uring_vs_epoll(),
                    "uring_vs_uring_limit": e.uring_vs_limit(),
                    "goals": goals,
                })
            })
            .collect();
        json!({
            "machine": {"cores": machine.cores, "kernel": machine.kernel, "cpu": machine.cpu},
            "date": machine.date,
            "commit": machine.commit,
            "command": command,
            "mode": if quick { "quick" } else { "full" },
            "pairs": pairs,
            "notes": self.notes,
            "results": entries,
            "profiles": self.profiles.iter().map(|p| json!({
                "service": p.title,
                "runtime": p.runtime,
                "top": p.top.iter().map(|(f, ir)| json!({"function": f, "ir_per_message": ir})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The Markdown table.
    pub fn markdown(&self, machine: &Machine, command: &str, pairs: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "`{command}`: {}, commit {}, {pairs} A B pairs.\n",
            machine.line(),
            machine.commit
        );
        for n in &self.notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push_str(
            "\n| workload | params | metric | evloop | tokio current_thread | limit (raw epoll; \
             redis-server for kv) | evloop/tokio | evloop/limit | goal |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for e in &self.entries {
            let cell = |rt: &str| match e.samples.get(rt).and_then(|v| stats(v)) {
                Some((m, lo, hi)) => format!("{} {} ({}–{})", num(m), e.unit, num(lo), num(hi)),
                None => "–".into(),
            };
            let ratio = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.2}×"));
            let goals: Vec<String> = e
                .verdicts()
                .into_iter()
                .map(|(g, met)| {
                    let mark = match met {
                        Some(true) => "met",
                        Some(false) => "**missed**",
                        None => "n/a",
                    };
                    format!("{g}: {mark}")
                })
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} |",
                e.workload,
                e.params,
                e.metric,
                if e.higher_is_better { " ↑" } else { " ↓" },
                cell("evloop"),
                cell("tokio"),
                cell(e.limit()),
                ratio(e.ratio()),
                ratio(e.ratio_vs_limit()),
                if goals.is_empty() {
                    "–".into()
                } else {
                    goals.join("; ")
                },
            );
        }
        s.push_str(
            "\n↑ higher is better, ↓ lower is better. Cells: median (min–max) over the runs. \
             Ratios compare medians and are oriented so that > 1 means evloop is better.\n",
        );
        s.push_str(&self.uring_markdown());
        for p in self.profiles.iter().filter(|p| p.runtime == "evloop") {
            let _ = writeln!(
                s,
                "\nevloop, {}: self `Ir` per message by function (differential callgrind \
                 profile)\n\n| function | Ir/msg |\n|---|---|",
                p.title
            );
            for (f, ir) in &p.top {
                let _ = writeln!(s, "| `{}` | {ir:.0} |", f.replace('|', "\\|"));
            }
        }
        s
    }
}

/// A figure with about three significant digits.
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// What the report says about the machine.
#[derive(Debug)]
pub struct Machine {
    /// Cores available.
    pub cores: usize,
    /// `uname -sr`.
    pub kernel: String,
    /// The CPU model.
    pub cpu: String,
    /// When the run started.
    pub date: String,
    /// The commit measured (`+dirty` when the work tree had changes).
    pub commit: String,
}

impl Machine {
    /// One line for the report.
    pub fn line(&self) -> String {
        format!(
            "{} cores ({}), {}, {}",
            self.cores, self.cpu, self.kernel, self.date
        )
    }
}

/// Writes the SVG plot: echo throughput against connections, one panel per message
/// size, one line per runtime (median, with a min–max bar). Returns false when the run
/// had no echo throughput figures.
pub fn plot_echo(results: &Results, path: &Path, machine: &Machine) -> io::Result<bool> {
    let series = |size: u64, rt: &str| -> Vec<(f64, f64, f64, f64)> {
        let mut pts: Vec<(f64, f64, f64, f64)> = results
            .entries
            .iter()
            .filter(|e| e.workload == "echo" && e.metric == "throughput")
            .filter(|e| e.params_json["size"].as_u64() == Some(size))
            .filter_map(|e| {
                let conns = e.params_json["conns"].as_f64()?;
                let (m, lo, hi) = stats(e.samples.get(rt)?)?;
                Some((conns, m, lo, hi))
            })
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    };
    let sizes = [(64u64, "64 B"), (4096, "4 KiB")];
    let all_runtimes: Vec<&str> = RUNTIMES
        .into_iter()
        .chain(crate::uring_report::URING_RUNTIMES)
        .collect();
    if sizes
        .iter()
        .all(|&(s, _)| all_runtimes.iter().all(|rt| series(s, rt).is_empty()))
    {
        return Ok(false);
    }
    let colors = [
        ("evloop", "#d62728"),
        ("tokio", "#1f77b4"),
        ("raw", "#555555"),
        ("evloop-uring", "#ff7f0e"),
        ("raw-uring", "#8c564b"),
    ];
    let (pw, ph, ml, mt, mb) = (420.0, 300.0, 70.0, 50.0, 50.0);
    let width = 2.0 * (pw + ml) + 20.0;
    let height = ph + mt + mb + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14">echo throughput (msg/s) against connections: {}</text>"#,
        width / 2.0,
        xml(&machine.line())
    );
    for (panel, &(size, label)) in sizes.iter().enumerate() {
        let x0 = 10.0 + panel as f64 * (pw + ml) + ml;
        let y0 = mt;
        let all: Vec<f64> = all_runtimes
            .iter()
            .flat_map(|rt| series(size, rt))
            .map(|p| p.3)
            .collect();
        let ymax = nice_ceiling(all.iter().copied().fold(1.0, f64::max));
        let (xmin, xmax) = (1.0f64.ln(), 500.0f64.ln());
        let px = |c: f64| x0 + (c.max(1.0).ln() - xmin) / (xmax - xmin) * pw;
        let py = |v: f64| y0 + ph - v / ymax * ph;
        let _ = writeln!(
            svg,
            r#"<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="black"/><text x="{}" y="{}" text-anchor="middle">{label} messages; connections (log scale)</text>"#,
            x0 + pw / 2.0,
            y0 + ph + 35.0
        );
        for i in 0..=4 {
            let v = ymax * f64::from(i) / 4.0;
            let y = py(v);
            let _ = writeln!(
                svg,
                r##"<line x1="{x0}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 + pw,
                x0 - 5.0,
                y + 4.0,
                si(v)
            );
        }
        for c in [1.0, 50.0, 500.0] {
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{c}</text>"#,
                px(c),
                y0 + ph + 16.0
            );
        }
        for (k, &(rt, color)) in colors.iter().enumerate() {
            let pts = series(size, rt);
            if pts.is_empty() {
                continue;
            }
            let path: Vec<String> = pts
                .iter()
                .map(|&(c, m, _, _)| format!("{:.1},{:.1}", px(c), py(m)))
                .collect();
            let dash = if rt == "raw" || rt == "raw-uring" {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            for &(c, m, lo, hi) in &pts {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}"/>"#,
                    px(c),
                    py(m),
                    px(c),
                    py(lo),
                    px(c),
                    py(hi)
                );
            }
            let ly = y0 + 15.0 + 16.0 * k as f64;
            let name = match rt {
                "raw" => "raw epoll (limit)",
                "raw-uring" => "raw io_uring (limit)",
                "evloop-uring" => "evloop on io_uring",
                rt => rt,
            };
            let _ = writeln!(
                svg,
                r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{name}</text>"#,
                x0 + pw - 150.0,
                x0 + pw - 125.0,
                x0 + pw - 120.0,
                ly + 4.0
            );
        }
    }
    svg.push_str("</svg>\n");
    std::fs::write(path, svg)?;
    Ok(true)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// `12000` → `12k`.
fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}
