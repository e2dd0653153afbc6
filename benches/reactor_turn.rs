//! How precisely an idle `turn` waits: median and p99 of 1000 waits of 100 µs and 1 ms,
//! on each backend this machine has, with the loop thread's timer slack lowered (what
//! the reactor does) and at the kernel's default of 50 µs for comparison.
//!
//! Run: `cargo bench --bench reactor_turn` (pin it with `taskset -c 1` on a busy box).

use std::thread;
use std::time::{Duration, Instant};

use reactor::{BackendKind, Reactor};

const WAITS: usize = 1000;

fn measure(
    kind: BackendKind,
    wait: Duration,
    default_slack: bool,
) -> (Duration, Duration, Option<bool>) {
    thread::spawn(move || {
        let r = Reactor::builder()
            .backend(kind)
            .build()
            .expect("backend opens");
        // The first blocking turn lowers this thread's timer slack.
        r.turn(Some(Instant::now() + Duration::from_micros(10)))
            .unwrap();
        if default_slack {
            // SAFETY: PR_SET_TIMERSLACK takes an integer and affects only this thread.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 50_000 as libc::c_ulong, 0, 0, 0) };
        }
        let mut samples: Vec<Duration> = (0..WAITS)
            .map(|_| {
                let start = Instant::now();
                r.turn(Some(start + wait)).unwrap();
                start.elapsed()
            })
            .collect();
        samples.sort();
        (
            samples[WAITS / 2],
            samples[WAITS * 99 / 100],
            r.has_precise_timeouts(),
        )
    })
    .join()
    .expect("bench thread")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("| backend | timer slack | wait | p50 | p99 | epoll_pwait2 |");
    println!("|---|---|---|---|---|---|");
    for &kind in BackendKind::available() {
        for default_slack in [false, true] {
            for wait in [Duration::from_micros(100), Duration::from_millis(1)] {
                let (p50, p99, pwait2) = measure(kind, wait, default_slack);
                println!(
                    "| {} | {} | {:?} | {:.1} µs | {:.1} µs | {} |",
                    kind.name(),
                    if default_slack {
                        "50 µs (default)"
                    } else {
                        "1 ns (evloop)"
                    },
                    wait,
                    p50.as_secs_f64() * 1e6,
                    p99.as_secs_f64() * 1e6,
                    pwait2.map_or("n/a".to_string(), |b| b.to_string()),
                );
            }
        }
    }
}
