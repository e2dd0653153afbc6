//! The results of a run and their three forms: `report.json`, `report.md` and the SVG
//! plot of echo throughput against connection count.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde_json::{Value, json};

/// What a column stands for in the comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The runtime under test: evloop (on each backend it is measured on).
    Subject,
    /// What every "vs tokio" goal is measured against: tokio's current_thread runtime
    /// as a tokio user writes for it (`tokio::io`, `BufReader`/`BufWriter`, hyper-util).
    Baseline,
    /// Shown beside the others, held to no goal: tokio running the very futures-io code
    /// evloop runs, through tokio-util's `compat()`.
    Reference,
    /// The limit: a minimal hand-written server (raw epoll), or redis-server for kv.
    Limit,
}

/// One column of the report: a server or runtime that ran the workloads.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The name the runs record it under, the `--runtime` of its server, and its key in
    /// `report.json`.
    pub id: &'static str,
    /// The column's heading in `report.md`.
    pub label: &'static str,
    /// How goals and ratios name it (`≥ 1.00× tokio (native)`).
    pub short: &'static str,
    /// What it is for.
    pub role: Role,
}

/// evloop on its default backend (epoll on Linux).
pub const EVLOOP: &str = "evloop";
/// tokio as a tokio user writes for it: the baseline of every "vs tokio" goal.
pub const TOKIO: &str = "tokio";
/// tokio through tokio-util's compat adapter, running evloop's futures-io code.
pub const TOKIO_COMPAT: &str = "tokio-compat";
/// The raw epoll echo loop, the limit of the network workloads.
pub const RAW: &str = "raw";
/// redis-server, the limit of the kv workload.
pub const REDIS: &str = "redis";
/// nginx (Debian's nginx-light, one process, `return 200`), the limit of the idle
/// workload's HTTP row.
pub const NGINX: &str = "nginx";
/// evloop on its io_uring backend (`BackendKind::Uring`).
pub const EVLOOP_URING: &str = "evloop-uring";
/// The raw io_uring echo loop, the io_uring limit: multishot accept and receive into a
/// provided buffer ring, `SINGLE_ISSUER | DEFER_TASKRUN`, one submit-and-wait per batch.
pub const RAW_URING: &str = "raw-uring";

/// Every column, in the order the runs alternate within a pair and the tables show them.
pub const COLUMNS: &[Column] = &[
    Column {
        id: EVLOOP,
        label: "evloop (epoll)",
        short: "evloop",
        role: Role::Subject,
    },
    Column {
        id: TOKIO,
        label: "tokio current_thread (native)",
        short: "tokio (native)",
        role: Role::Baseline,
    },
    Column {
        id: TOKIO_COMPAT,
        label: "tokio via compat (evloop's futures-io code)",
        short: "tokio via compat",
        role: Role::Reference,
    },
    Column {
        id: RAW,
        label: "raw epoll loop (limit)",
        short: "raw epoll",
        role: Role::Limit,
    },
    Column {
        id: EVLOOP_URING,
        label: "evloop (io_uring)",
        short: "evloop io_uring",
        role: Role::Subject,
    },
    Column {
        id: RAW_URING,
        label: "raw io_uring loop (limit)",
        short: "raw io_uring",
        role: Role::Limit,
    },
    Column {
        id: REDIS,
        label: "redis-server (limit)",
        short: "redis-server",
        role: Role::Limit,
    },
    Column {
        id: NGINX,
        label: "nginx (limit)",
        short: "nginx",
        role: Role::Limit,
    },
];

/// The ratios the tables show, `of` against `against`, where an entry has both (a
/// goal's pair is shown too, listed here or not).
pub const RATIOS: &[(&str, &str)] = &[
    (EVLOOP, TOKIO),
    (EVLOOP, TOKIO_COMPAT),
    (EVLOOP, RAW),
    (EVLOOP, REDIS),
    (EVLOOP, NGINX),
    (EVLOOP_URING, EVLOOP),
    (EVLOOP_URING, TOKIO),
    (EVLOOP_URING, RAW_URING),
];

/// The column named `id`.
pub fn column(id: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.id == id)
}

/// How a column is named in goals and ratio headings.
fn short(id: &str) -> &str {
    column(id).map_or(id, |c| c.short)
}

/// A bar from the issues that an entry is checked against.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// `of` against `against`, oriented so that > 1 means `of` is better: at least
    /// `at_least`.
    Ratio {
        of: &'static str,
        against: &'static str,
        at_least: f64,
    },
    /// `of`'s median at most this, in the entry's unit.
    AtMost { of: &'static str, at_most: f64 },
}

impl Goal {
    /// evloop against native tokio, at least `x`.
    pub const fn vs_tokio(x: f64) -> Goal {
        Goal::Ratio {
            of: EVLOOP,
            against: TOKIO,
            at_least: x,
        }
    }

    /// evloop against `limit`, at least `x`.
    pub const fn vs_limit(limit: &'static str, x: f64) -> Goal {
        Goal::Ratio {
            of: EVLOOP,
            against: limit,
            at_least: x,
        }
    }

    /// evloop on io_uring against `against`, at least `x`.
    pub const fn uring_vs(against: &'static str, x: f64) -> Goal {
        Goal::Ratio {
            of: EVLOOP_URING,
            against,
            at_least: x,
        }
    }

    /// evloop's median at most `x`.
    pub const fn at_most(x: f64) -> Goal {
        Goal::AtMost {
            of: EVLOOP,
            at_most: x,
        }
    }
}

/// Goal lists for the `&'static [Goal]` of a [`Key`] (const items, so that they are
/// promoted to statics).
pub mod goals {
    use super::{EVLOOP, Goal, RAW, RAW_URING, REDIS, TOKIO};

    /// ≥ 1.0× native tokio.
    pub const TOKIO_1: &[Goal] = &[Goal::vs_tokio(1.0)];
    /// ≥ 2× native tokio.
    pub const TOKIO_2: &[Goal] = &[Goal::vs_tokio(2.0)];
    /// ≥ 10× native tokio.
    pub const TOKIO_10: &[Goal] = &[Goal::vs_tokio(10.0)];
    /// ≤ 0.7× native tokio's time.
    pub const TOKIO_0_7: &[Goal] = &[Goal::vs_tokio(1.0 / 0.7)];
    /// ≤ 0.6× native tokio's instructions.
    pub const TOKIO_0_6: &[Goal] = &[Goal::vs_tokio(1.0 / 0.6)];
    /// ≥ 1.0× redis-server.
    pub const REDIS_1: &[Goal] = &[Goal::vs_limit(REDIS, 1.0)];
    /// ≥ 1.0× redis-server and ≥ 1.2× native tokio.
    pub const REDIS_1_TOKIO_1_2: &[Goal] = &[Goal::vs_limit(REDIS, 1.0), Goal::vs_tokio(1.2)];
    /// evloop's median ≤ 200 (µs).
    pub const AT_MOST_200: &[Goal] = &[Goal::at_most(200.0)];
    /// evloop's median ≤ 1100 (µs).
    pub const AT_MOST_1100: &[Goal] = &[Goal::at_most(1100.0)];
    /// evloop's median ≤ 512 (bytes per idle connection).
    pub const AT_MOST_512: &[Goal] = &[Goal::at_most(512.0)];
    /// evloop's median ≤ 0.1.
    pub const AT_MOST_0_1: &[Goal] = &[Goal::at_most(0.1)];
    /// Echo throughput at 64 B: evloop ≥ 1.0× native tokio and ≥ 0.97× raw epoll; evloop
    /// on io_uring ≥ 1.0× evloop on epoll and ≥ 1.0× native tokio.
    pub const ECHO_THROUGHPUT: &[Goal] = &[
        Goal::vs_tokio(1.0),
        Goal::vs_limit(RAW, 0.97),
        Goal::uring_vs(EVLOOP, 1.0),
        Goal::uring_vs(TOKIO, 1.0),
    ];
    /// Echo server CPU per 64 B message at 50 connections: evloop ≤ native tokio's; evloop
    /// on io_uring ≤ 0.95× evloop on epoll's and within 3 % of raw io_uring's.
    pub const ECHO_CPU_50: &[Goal] = &[
        Goal::vs_tokio(1.0),
        Goal::uring_vs(EVLOOP, 1.0 / 0.95),
        Goal::uring_vs(RAW_URING, 1.0 / 1.03),
    ];
    /// The io_uring bars of [`ECHO_CPU_50`] alone (at 500 connections).
    pub const ECHO_CPU_500: &[Goal] = &[
        Goal::uring_vs(EVLOOP, 1.0 / 0.95),
        Goal::uring_vs(RAW_URING, 1.0 / 1.03),
    ];
}

/// One workload, parameter set and metric, with the samples of each column.
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
    /// The samples of each column that ran, by [`Column::id`].
    pub samples: BTreeMap<&'static str, Vec<f64>>,
    /// The bars this entry is held to.
    pub goals: Vec<Goal>,
}

/// Median, min and max.
fn stats(v: &[f64]) -> Option<(f64, f64, f64)> {
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
    fn median(&self, id: &str) -> Option<f64> {
        stats(self.samples.get(id)?).map(|s| s.0)
    }

    /// `of` against `against`, oriented so that > 1 means `of` is better.
    pub fn ratio(&self, of: &str, against: &str) -> Option<f64> {
        let (a, b) = (self.median(of)?, self.median(against)?);
        let r = if self.higher_is_better { a / b } else { b / a };
        r.is_finite().then_some(r)
    }

    /// The pairs of [`RATIOS`] this entry has both columns of, then its goals' pairs.
    fn ratio_pairs(&self) -> Vec<(&'static str, &'static str)> {
        let mut pairs: Vec<(&'static str, &'static str)> = RATIOS
            .iter()
            .copied()
            .filter(|(a, b)| self.samples.contains_key(a) && self.samples.contains_key(b))
            .collect();
        for g in &self.goals {
            if let Goal::Ratio { of, against, .. } = *g
                && !pairs.contains(&(of, against))
            {
                pairs.push((of, against));
            }
        }
        pairs
    }

    /// Each goal with whether it was met (None when a figure is missing).
    pub fn verdicts(&self) -> Vec<(String, Option<bool>)> {
        self.goals
            .iter()
            .map(|g| match *g {
                Goal::Ratio {
                    of,
                    against,
                    at_least,
                } => {
                    let who = if of == EVLOOP {
                        String::new()
                    } else {
                        format!("{}: ", short(of))
                    };
                    // An oriented ratio of a lower-is-better metric reads "at most 1/x".
                    let bar = if self.higher_is_better {
                        format!("≥ {at_least:.2}×")
                    } else {
                        format!("≤ {:.2}×", 1.0 / at_least)
                    };
                    (
                        format!("{who}{bar} {}", short(against)),
                        self.ratio(of, against).map(|r| r >= at_least),
                    )
                }
                Goal::AtMost { of, at_most } => {
                    let who = if of == EVLOOP {
                        String::new()
                    } else {
                        format!("{}: ", short(of))
                    };
                    (
                        format!("{who}≤ {at_most} {}", self.unit),
                        self.median(of).map(|m| m <= at_most),
                    )
                }
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
                let mut per_column = serde_json::Map::new();
                for c in COLUMNS {
                    if let Some(v) = e.samples.get(c.id)
                        && let Some((median, min, max)) = stats(v)
                    {
                        per_column.insert(
                            c.id.into(),
                            json!({"median": median, "min": min, "max": max, "samples": v}),
                        );
                    }
                }
                let ratios: Vec<Value> = e
                    .ratio_pairs()
                    .into_iter()
                    .map(|(of, against)| {
                        json!({"of": of, "against": against, "ratio": e.ratio(of, against)})
                    })
                    .collect();
                let goals: Vec<Value> = e
                    .verdicts()
                    .into_iter()
                    .map(|(g, met)| json!({"goal": g, "met": met}))
                    .collect();
                json!({
                    "workload": e.workload,
                    "metric": e.metric,
                    "params": e.params_json,
                    "unit": e.unit,
                    "higher_is_better": e.higher_is_better,
                    "columns": per_column,
                    "ratios": ratios,
                    "goals": goals,
                })
            })
            .collect();
        let columns: Vec<Value> = COLUMNS
            .iter()
            .filter(|c| self.entries.iter().any(|e| e.samples.contains_key(c.id)))
            .map(|c| {
                json!({
                    "id": c.id,
                    "label": c.label,
                    "role": format!("{:?}", c.role).to_lowercase(),
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
            "columns": columns,
            "results": entries,
            "profiles": self.profiles.iter().map(|p| json!({
                "service": p.title,
                "runtime": p.runtime,
                "top": p.top.iter().map(|(f, ir)| json!({"function": f, "ir_per_message": ir})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The Markdown report: one table per workload, with the columns that ran it.
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
        s.push_str("\nColumns:\n");
        for c in COLUMNS
            .iter()
            .filter(|c| self.entries.iter().any(|e| e.samples.contains_key(c.id)))
        {
            let role = match c.role {
                Role::Subject => "the runtime under test",
                Role::Baseline => {
                    "the baseline of every \"vs tokio\" goal: tokio as a tokio user writes for \
                     it (`tokio::io`, `BufReader`/`BufWriter`, hyper-util's `TokioIo`, tokio's \
                     own tasks and timers)"
                }
                Role::Reference => "for reference, held to no goal",
                Role::Limit => "the limit",
            };
            let _ = writeln!(s, "- **{}** (`{}`): {role}", c.label, c.id);
        }
        let mut workloads: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !workloads.contains(&e.workload.as_str()) {
                workloads.push(&e.workload);
            }
        }
        for w in workloads {
            let group: Vec<&Entry> = self.entries.iter().filter(|e| e.workload == w).collect();
            Self::table(&mut s, w, &group);
        }
        s.push_str(
            "\n↑ higher is better, ↓ lower is better. Cells: median (min–max) over the runs. \
             Ratios compare medians and are oriented so that > 1 means the first-named column \
             is better. A goal on a ↓ metric names the plain ratio of the figures: \
             \"≤ 0.60× tokio (native)\" is at most 0.6 times tokio's figure, an oriented \
             ratio of at least 1.67.\n",
        );
        for p in self.profiles.iter().filter(|p| p.runtime == EVLOOP) {
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

    /// One workload's table: the columns any of its entries has, and the ratios any of
    /// them has.
    fn table(s: &mut String, workload: &str, group: &[&Entry]) {
        let columns: Vec<&Column> = COLUMNS
            .iter()
            .filter(|c| group.iter().any(|e| e.samples.contains_key(c.id)))
            .collect();
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for e in group {
            for p in e.ratio_pairs() {
                if !pairs.contains(&p) {
                    pairs.push(p);
                }
            }
        }
        let _ = write!(s, "\n### {workload}\n\n| params | metric |");
        for c in &columns {
            let _ = write!(s, " {} |", c.label);
        }
        for (of, against) in &pairs {
            let _ = write!(s, " {} / {} |", short(of), short(against));
        }
        s.push_str(" goal |\n|---|---|");
        for _ in 0..columns.len() + pairs.len() + 1 {
            s.push_str("---|");
        }
        s.push('\n');
        for e in group {
            let _ = write!(
                s,
                "| {} | {}{} |",
                e.params,
                e.metric,
                if e.higher_is_better { " ↑" } else { " ↓" }
            );
            for c in &columns {
                let cell = match e.samples.get(c.id).and_then(|v| stats(v)) {
                    Some((m, lo, hi)) if lo == hi => format!("{} {}", num(m), e.unit),
                    Some((m, lo, hi)) => {
                        format!("{} {} ({}–{})", num(m), e.unit, num(lo), num(hi))
                    }
                    None => "–".into(),
                };
                let _ = write!(s, " {cell} |");
            }
            for (of, against) in &pairs {
                let r = e
                    .ratio(of, against)
                    .map_or("–".into(), |r| format!("{r:.2}×"));
                let _ = write!(s, " {r} |");
            }
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
                " {} |",
                if goals.is_empty() {
                    "–".into()
                } else {
                    goals.join("; ")
                }
            );
        }
    }
}

/// A figure with about three significant digits.
fn num(x: f64) -> String {
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
    if sizes
        .iter()
        .all(|&(s, _)| COLUMNS.iter().all(|c| series(s, c.id).is_empty()))
    {
        return Ok(false);
    }
    // (column, colour, dashed): each line names its column in the legend.
    let styles = [
        (EVLOOP, "#d62728", false),
        (TOKIO, "#1f77b4", false),
        (TOKIO_COMPAT, "#9ecae1", true),
        (RAW, "#555555", true),
        (EVLOOP_URING, "#ff7f0e", false),
        (RAW_URING, "#8c564b", true),
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
        let all: Vec<f64> = COLUMNS
            .iter()
            .flat_map(|c| series(size, c.id))
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
        for (k, &(rt, color, dashed)) in styles.iter().enumerate() {
            let pts = series(size, rt);
            if pts.is_empty() {
                continue;
            }
            let path: Vec<String> = pts
                .iter()
                .map(|&(c, m, _, _)| format!("{:.1},{:.1}", px(c), py(m)))
                .collect();
            let dash = if dashed {
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
            let name = xml(short(rt));
            let _ = writeln!(
                svg,
                r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{name}</text>"#,
                x0 + 10.0,
                x0 + 35.0,
                x0 + 40.0,
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
