//! evloop on its io_uring backend beside evloop on epoll, and the raw io_uring echo
//! server (the io_uring limit) beside the raw epoll one: the `evloop-uring` and
//! `raw-uring` runtimes, their goals, and their table in `report.md`.

use std::fmt::Write as _;

use crate::report::{Entry, Results, num, stats};

/// The runtimes of this table, in the order they run after the others in a pair.
pub const URING_RUNTIMES: [&str; 2] = ["evloop-uring", "raw-uring"];

/// A bar for evloop on io_uring. Each holds an oriented ratio (> 1: evloop on io_uring
/// better) to at least the figure given.
#[derive(Clone, Copy, Debug)]
pub enum UringGoal {
    /// Against evloop on epoll.
    Epoll(f64),
    /// Against the raw io_uring echo server.
    Limit(f64),
    /// Against tokio.
    Tokio(f64),
}

impl Entry {
    /// evloop on io_uring against evloop on epoll, > 1 = io_uring better.
    pub fn uring_vs_epoll(&self) -> Option<f64> {
        self.oriented("evloop-uring", "evloop")
    }

    /// evloop on io_uring against the raw io_uring server, > 1 = evloop better.
    pub fn uring_vs_limit(&self) -> Option<f64> {
        self.oriented("evloop-uring", "raw-uring")
    }

    /// evloop on io_uring against tokio, > 1 = evloop better.
    pub fn uring_vs_tokio(&self) -> Option<f64> {
        self.oriented("evloop-uring", "tokio")
    }

    /// Whether this entry has figures for the io_uring table.
    fn has_uring(&self) -> bool {
        URING_RUNTIMES
            .iter()
            .any(|rt| self.samples.contains_key(rt))
    }
}

impl UringGoal {
    /// The goal as the table says it, and whether it was met.
    pub fn verdict(self, e: &Entry) -> (String, Option<bool>) {
        // For a lower-is-better metric, "oriented ≥ x" reads "at most 1/x times".
        let bar = |x: f64, what: &str| {
            if e.higher_is_better {
                format!("≥ {x:.2}× {what}")
            } else {
                format!("≤ {:.2}× {what}", 1.0 / x)
            }
        };
        match self {
            UringGoal::Epoll(x) => (
                bar(x, "evloop on epoll"),
                e.uring_vs_epoll().map(|r| r >= x),
            ),
            UringGoal::Limit(x) => (bar(x, "raw io_uring"), e.uring_vs_limit().map(|r| r >= x)),
            UringGoal::Tokio(x) => (bar(x, "tokio"), e.uring_vs_tokio().map(|r| r >= x)),
        }
    }
}

impl Results {
    /// The io_uring table, or nothing when no entry has io_uring figures.
    pub fn uring_markdown(&self) -> String {
        let mut s = String::new();
        if !self.entries.iter().any(Entry::has_uring) {
            return s;
        }
        s.push_str(
            "\nevloop on io_uring (`BackendKind::Uring`) beside evloop on epoll, and the raw \
             io_uring echo server (multishot accept and receive into a provided buffer ring, \
             `SINGLE_ISSUER | DEFER_TASKRUN`, one submit-and-wait per batch) beside the raw \
             epoll one.\n\n| workload | params | metric | evloop (epoll) | evloop (io_uring) \
             | raw io_uring limit | raw epoll limit | io_uring/epoll | io_uring/limit | \
             io_uring/tokio | goal |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for e in self.entries.iter().filter(|e| e.has_uring()) {
            let cell = |rt: &str| match e.samples.get(rt).and_then(|v| stats(v)) {
                Some((m, lo, hi)) => format!("{} {} ({}–{})", num(m), e.unit, num(lo), num(hi)),
                None => "–".into(),
            };
            let ratio = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.2}×"));
            let goals: Vec<String> = e
                .uring_verdicts()
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
                "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.workload,
                e.params,
                e.metric,
                if e.higher_is_better { " ↑" } else { " ↓" },
                cell("evloop"),
                cell("evloop-uring"),
                cell("raw-uring"),
                cell("raw"),
                ratio(e.uring_vs_epoll()),
                ratio(e.uring_vs_limit()),
                ratio(e.uring_vs_tokio()),
                if goals.is_empty() {
                    "–".into()
                } else {
                    goals.join("; ")
                },
            );
        }
        s.push_str(
            "\nRatios compare medians, oriented so that > 1 means evloop on io_uring is \
             better. Where the kernel refuses io_uring, the io_uring columns are empty and a \
             note says so.\n",
        );
        for p in self.profiles.iter().filter(|p| p.runtime == "evloop-uring") {
            let _ = writeln!(
                s,
                "\nevloop on io_uring, {}: self `Ir` per message by function (differential \
                 callgrind profile)\n\n| function | Ir/msg |\n|---|---|",
                p.title
            );
            for (f, ir) in &p.top {
                let _ = writeln!(s, "| `{}` | {ir:.0} |", f.replace('|', "\\|"));
            }
        }
        s
    }
}
