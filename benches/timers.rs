//! The timer heap against tokio's timer, in the same run, alternating A B A B:
//!
//! - 1,000,000 sleeps, each created, polled once (so it registers) and dropped (so it
//!   deregisters): evloop's `timer::sleep` on a current `timer::Handle`, against
//!   `tokio::time::sleep` inside a current_thread runtime's `block_on`, built two ways:
//!   with every driver, as `#[tokio::main(flavor = "current_thread")]` builds it, and
//!   with the time driver alone;
//! - the heap alone, 4-ary against binary: 1,000,000 inserts of random deadlines then
//!   one `fire_expired` of all; 1,000,000 inserts then a cancel of each in random order;
//!   1,000,000 insert + cancel pairs over 10,000 resident timers.
//!
//! Prints a Markdown table: median, min and max ns per operation over the runs, and the
//! ratio of the medians. Firing a million real sleeps and sleep precision need the
//! runtime's loop; `benches/tasks.rs` measures those.
//!
//! Run: `cargo bench --bench timers`. `EVLOOP_BENCH_PAIRS=n` sets the number of A B pairs
//! (default 5).

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use timer::TimerHeap;

const N: usize = 1_000_000;

/// ns per sleep: create, poll once, drop, on evloop's heap.
fn evloop_sleeps() -> f64 {
    let handle = timer::Handle::new();
    let _guard = handle.enter();
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    for _ in 0..N {
        let mut s = timer::sleep(Duration::from_secs(1));
        let _ = black_box(Pin::new(&mut s).poll(&mut cx));
        drop(s);
    }
    let ns = start.elapsed().as_nanos() as f64 / N as f64;
    assert!(handle.is_empty());
    ns
}

/// ns per sleep: create, poll once, drop, on tokio's current_thread timer; `io`: with
/// the I/O driver as well (`enable_all`), else the time driver alone.
fn tokio_sleeps(io: bool) -> f64 {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    if io {
        builder.enable_all();
    } else {
        builder.enable_time();
    }
    let rt = builder.build().expect("a tokio runtime");
    rt.block_on(async {
        let mut cx = Context::from_waker(Waker::noop());
        let start = Instant::now();
        for _ in 0..N {
            let mut s = pin!(tokio::time::sleep(Duration::from_secs(1)));
            let _ = black_box(s.as_mut().poll(&mut cx));
        }
        start.elapsed().as_nanos() as f64 / N as f64
    })
}

/// ns per `Instant::now()`: the clock read that every `sleep(dur)` pays, twice on
/// evloop's side (at the call and at the first poll), once on tokio's.
fn clock_read() -> f64 {
    let start = Instant::now();
    for _ in 0..N {
        black_box(Instant::now());
    }
    start.elapsed().as_nanos() as f64 / N as f64
}

/// A small xorshift generator: the same pseudo-random sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Deadlines spread over 0–100 ms after `base`, at nanosecond resolution.
fn deadlines(base: Instant) -> Vec<Instant> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..N)
        .map(|_| base + Duration::from_nanos(rng.next() % 100_000_000))
        .collect()
}

/// ns per timer: insert all of `ds`, then fire them all in one call.
fn insert_fire<const D: usize>(ds: &[Instant]) -> f64 {
    let mut heap = TimerHeap::<D>::default();
    let start = Instant::now();
    for &d in ds {
        black_box(heap.insert(d, None));
    }
    let fired = heap.fire_expired(ds[0] + Duration::from_secs(1));
    let ns = start.elapsed().as_nanos() as f64 / ds.len() as f64;
    assert_eq!(fired, ds.len());
    ns
}

/// ns per timer: insert all of `ds`, then cancel each, in a shuffled order.
fn insert_cancel_all<const D: usize>(ds: &[Instant], order: &[usize]) -> f64 {
    let mut heap = TimerHeap::<D>::default();
    let start = Instant::now();
    let keys: Vec<_> = ds.iter().map(|&d| heap.insert(d, None)).collect();
    for &i in order {
        black_box(heap.cancel(keys[i]));
    }
    let ns = start.elapsed().as_nanos() as f64 / ds.len() as f64;
    assert!(heap.is_empty());
    ns
}

/// ns per pair: insert one timer and cancel it at once, over 10,000 resident timers
/// (the life of a sleep or timeout that does not fire).
fn insert_cancel_pairs<const D: usize>(ds: &[Instant]) -> f64 {
    let mut heap = TimerHeap::<D>::default();
    for &d in &ds[..10_000] {
        heap.insert(d, None);
    }
    let start = Instant::now();
    for &d in ds {
        let k = heap.insert(d, None);
        black_box(heap.cancel(k));
    }
    let ns = start.elapsed().as_nanos() as f64 / ds.len() as f64;
    assert_eq!(heap.len(), 10_000);
    ns
}

/// Median, min and max.
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Runs `a` and `b` alternately, `pairs` times each, after one warm-up of each, prints
/// a table row and returns the two medians.
fn compare(
    name: &str,
    pairs: usize,
    mut a: impl FnMut() -> f64,
    mut b: impl FnMut() -> f64,
) -> (f64, f64) {
    a();
    b();
    let (mut av, mut bv) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        av.push(a());
        bv.push(b());
    }
    let (am, amin, amax) = stats(av);
    let (bm, bmin, bmax) = stats(bv);
    println!(
        "| {name} | {am:.1} ({amin:.1}–{amax:.1}) | {bm:.1} ({bmin:.1}–{bmax:.1}) | {:.2} |",
        am / bm
    );
    (am, bm)
}

fn main() {
    let pairs = std::env::var("EVLOOP_BENCH_PAIRS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let ds = deadlines(Instant::now());
    let mut order: Vec<usize> = (0..N).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in (1..N).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }

    println!("1,000,000 operations per run, {pairs} alternating pairs; ns/op median (min–max).");
    println!();
    println!("| benchmark | evloop | tokio current_thread | evloop / tokio |");
    println!("|---|---|---|---|");
    let mut clocks = Vec::new();
    let (e, t_all) = compare(
        "sleep: create, poll once, drop; tokio with every driver (`#[tokio::main]`)",
        pairs,
        || {
            clocks.push(clock_read());
            evloop_sleeps()
        },
        || tokio_sleeps(true),
    );
    let (e2, t_time) = compare(
        "sleep: create, poll once, drop; tokio with the time driver alone",
        pairs,
        evloop_sleeps,
        || tokio_sleeps(false),
    );
    let (clock, _, _) = stats(clocks);
    println!();
    println!(
        "One `Instant::now()` costs {clock:.1} ns here (median, measured between the runs). \
         evloop reads the clock twice per sleep (at the call, and at the first poll, so that \
         a sleep already due is ready without a heap entry); tokio reads it once. Less those \
         reads: evloop {:.1} ns, tokio {:.1} ns with every driver and {:.1} ns with the time \
         driver alone. With the I/O driver on, tokio's first poll of a sleep that is earlier \
         than the driver's next wake-up (always, in a loop that never parks) unparks the \
         driver: one eventfd `write` per sleep.",
        (e + e2) / 2.0 - 2.0 * clock,
        t_all - clock,
        t_time - clock,
    );
    println!();
    println!("| heap benchmark | d = 4 | d = 2 | d4 / d2 |");
    println!("|---|---|---|---|");
    compare(
        "insert 1M random deadlines, fire all",
        pairs,
        || insert_fire::<4>(&ds),
        || insert_fire::<2>(&ds),
    );
    compare(
        "insert 1M, cancel all in random order",
        pairs,
        || insert_cancel_all::<4>(&ds, &order),
        || insert_cancel_all::<2>(&ds, &order),
    );
    compare(
        "insert + cancel over 10k resident",
        pairs,
        || insert_cancel_pairs::<4>(&ds),
        || insert_cancel_pairs::<2>(&ds),
    );
    println!();
    println!(
        "size_of::<timer::Sleep>() = {} bytes; heap entry + slab slot = {} bytes per timer; \
         size_of::<tokio::time::Sleep>() = {} bytes",
        size_of::<timer::Sleep>(),
        TimerHeap::<4>::BYTES_PER_TIMER,
        size_of::<tokio::time::Sleep>(),
    );
}
