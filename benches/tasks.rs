//! evloop against tokio's current_thread runtime, in the same run, alternating A B A B:
//!
//! - spawn + await 1,000,000 trivial tasks;
//! - a wake ping-pong between two tasks, 1,000,000 rounds;
//! - `sleep(100µs)` and `sleep(1ms)`: p50 and p99 of the overshoot-inclusive duration
//!   over 1000 sequential sleeps;
//! - 1,000,000 concurrent sleeps with random deadlines in 0–100 ms, all firing: wall time,
//!   and peak heap bytes per timer task (a counting global allocator, the same for both).
//!
//! Prints a Markdown table (median, min and max of the runs, and evloop/tokio ratio of the
//! medians), then the same figures as one JSON object.
//!
//! Run: `cargo bench --bench tasks` (`taskset -c 1 cargo bench --bench tasks` on a busy box).
//! `EVLOOP_BENCH_PAIRS=n` changes the number of A B pairs (default 3).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let now = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const TASKS: usize = 1_000_000;
const ROUNDS: u64 = 1_000_000;
const SLEEPS: usize = 1000;
const TIMERS: usize = 1_000_000;

/// The two runtimes, behind one interface.
#[derive(Clone, Copy, PartialEq)]
enum Rt {
    Evloop,
    Tokio,
}

impl Rt {
    fn block_on<F: Future>(self, f: impl FnOnce() -> F) -> F::Output {
        match self {
            Rt::Evloop => runtime::Runtime::new().unwrap().block_on(f()),
            Rt::Tokio => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f()),
        }
    }
}

/// spawn + await `TASKS` trivial tasks; the time inside the runtime.
fn spawn_await(rt: Rt) -> f64 {
    rt.block_on(|| async move {
        let start = Instant::now();
        let mut sum = 0usize;
        match rt {
            Rt::Evloop => {
                let hs: Vec<_> = (0..TASKS)
                    .map(|i| runtime::spawn(async move { i }))
                    .collect();
                for h in hs {
                    sum += h.await.unwrap();
                }
            }
            Rt::Tokio => {
                let hs: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
                for h in hs {
                    sum += h.await.unwrap();
                }
            }
        }
        assert_eq!(sum, TASKS * (TASKS - 1) / 2);
        start.elapsed().as_secs_f64()
    })
}

/// The state two ping-pong tasks share; the same `Send` code runs on both runtimes.
struct Court {
    turn: AtomicU64,
    wakers: [Mutex<Option<Waker>>; 2],
}

fn player(court: Arc<Court>, me: u64) -> impl Future<Output = ()> + Send + 'static {
    poll_fn(move |cx| {
        loop {
            let turn = court.turn.load(Ordering::Relaxed);
            if turn >= 2 * ROUNDS {
                return Poll::Ready(());
            }
            if turn % 2 != me {
                let mut slot = court.wakers[me as usize].lock().unwrap();
                match &*slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
                drop(slot);
                // Re-check: the other side may have moved in between.
                if court.turn.load(Ordering::Relaxed) == turn {
                    return Poll::Pending;
                }
                continue;
            }
            court.turn.store(turn + 1, Ordering::Relaxed);
            let other = court.wakers[1 - me as usize].lock().unwrap().take();
            if let Some(w) = other {
                w.wake();
            }
        }
    })
}

/// `ROUNDS` wake round trips between two tasks.
fn ping_pong(rt: Rt) -> f64 {
    rt.block_on(|| async move {
        let court = Arc::new(Court {
            turn: AtomicU64::new(0),
            wakers: [Mutex::new(None), Mutex::new(None)],
        });
        let start = Instant::now();
        match rt {
            Rt::Evloop => {
                let a = runtime::spawn(player(court.clone(), 0));
                let b = runtime::spawn(player(court.clone(), 1));
                a.await.unwrap();
                b.await.unwrap();
            }
            Rt::Tokio => {
                let a = tokio::spawn(player(court.clone(), 0));
                let b = tokio::spawn(player(court.clone(), 1));
                a.await.unwrap();
                b.await.unwrap();
            }
        }
        start.elapsed().as_secs_f64()
    })
}

/// p50 and p99 (seconds) of `SLEEPS` sequential sleeps of `d`.
fn sleep_latency(rt: Rt, d: Duration) -> (f64, f64) {
    rt.block_on(|| async move {
        let mut samples = Vec::with_capacity(SLEEPS);
        for _ in 0..SLEEPS {
            let start = Instant::now();
            match rt {
                Rt::Evloop => runtime::time::sleep(d).await,
                Rt::Tokio => tokio::time::sleep(d).await,
            }
            samples.push(start.elapsed().as_secs_f64());
        }
        samples.sort_by(f64::total_cmp);
        (samples[SLEEPS / 2], samples[SLEEPS * 99 / 100])
    })
}

/// A small xorshift, so the deadlines are the same for both runtimes.
fn deadlines() -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..TIMERS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 100_000)
        })
        .collect()
}

/// `TIMERS` concurrent sleeps firing: (wall seconds, peak heap bytes per timer task).
fn many_timers(rt: Rt, ds: &[Duration]) -> (f64, f64) {
    let ds = ds.to_vec();
    rt.block_on(|| async move {
        let fired = Arc::new(AtomicUsize::new(0));
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        match rt {
            Rt::Evloop => {
                for &d in &ds {
                    let fired = fired.clone();
                    drop(runtime::spawn(async move {
                        runtime::time::sleep(d).await;
                        fired.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                while fired.load(Ordering::Relaxed) < TIMERS {
                    runtime::time::sleep(Duration::from_millis(1)).await;
                }
            }
            Rt::Tokio => {
                for &d in &ds {
                    let fired = fired.clone();
                    drop(tokio::spawn(async move {
                        tokio::time::sleep(d).await;
                        fired.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                while fired.load(Ordering::Relaxed) < TIMERS {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        (wall, peak as f64 / TIMERS as f64)
    })
}

/// Median, min and max.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

struct Row {
    name: &'static str,
    unit: &'static str,
    scale: f64,
    evloop: Vec<f64>,
    tokio: Vec<f64>,
}

impl Row {
    fn new(name: &'static str, unit: &'static str, scale: f64) -> Row {
        Row {
            name,
            unit,
            scale,
            evloop: Vec::new(),
            tokio: Vec::new(),
        }
    }
    fn push(&mut self, rt: Rt, v: f64) {
        match rt {
            Rt::Evloop => self.evloop.push(v),
            Rt::Tokio => self.tokio.push(v),
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let pairs: usize = std::env::var("EVLOOP_BENCH_PAIRS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let ds = deadlines();
    let mut rows = vec![
        Row::new("spawn + await 1M tasks", "ms", 1e3),
        Row::new("ping-pong 1M rounds", "ms", 1e3),
        Row::new("sleep(100µs) p50", "µs", 1e6),
        Row::new("sleep(100µs) p99", "µs", 1e6),
        Row::new("sleep(1ms) p50", "µs", 1e6),
        Row::new("sleep(1ms) p99", "µs", 1e6),
        Row::new("1M timers 0–100 ms, wall", "ms", 1e3),
        Row::new("1M timers, peak bytes/timer task", "B", 1.0),
    ];
    for pair in 0..pairs {
        for rt in [Rt::Evloop, Rt::Tokio] {
            eprintln!(
                "pair {}/{pairs}: {}",
                pair + 1,
                if rt == Rt::Evloop { "evloop" } else { "tokio" }
            );
            rows[0].push(rt, spawn_await(rt));
            rows[1].push(rt, ping_pong(rt));
            let (p50, p99) = sleep_latency(rt, Duration::from_micros(100));
            rows[2].push(rt, p50);
            rows[3].push(rt, p99);
            let (p50, p99) = sleep_latency(rt, Duration::from_millis(1));
            rows[4].push(rt, p50);
            rows[5].push(rt, p99);
            let (wall, bytes) = many_timers(rt, &ds);
            rows[6].push(rt, wall);
            rows[7].push(rt, bytes);
        }
    }
    println!(
        "| benchmark | evloop median (min–max) | tokio current_thread median (min–max) | evloop / tokio |"
    );
    println!("|---|---|---|---|");
    let mut json = Vec::new();
    for r in &rows {
        let (em, emin, emax) = stats(r.evloop.clone());
        let (tm, tmin, tmax) = stats(r.tokio.clone());
        let s = r.scale;
        println!(
            "| {} | {:.1} {u} ({:.1}–{:.1}) | {:.1} {u} ({:.1}–{:.1}) | {:.2}× |",
            r.name,
            em * s,
            emin * s,
            emax * s,
            tm * s,
            tmin * s,
            tmax * s,
            em / tm,
            u = r.unit
        );
        json.push(format!(
            "{{\"name\":\"{}\",\"unit\":\"{}\",\"evloop\":{:.3},\"tokio\":{:.3},\"ratio\":{:.3}}}",
            r.name,
            r.unit,
            em * s,
            tm * s,
            em / tm
        ));
    }
    println!("\n{{\"pairs\":{pairs},\"results\":[{}]}}", json.join(","));
}
