//! Task and timer workloads, in a child process pinned to the server core. The same code
//! runs on both runtimes: [`suite!`] stamps it out once per runtime, with only `spawn`,
//! `sleep` and the runtime's constructor differing.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// One task workload and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Micro {
    /// Spawn this many trivial tasks, then await each.
    Spawn(u64),
    /// This many wake round trips between two tasks.
    PingPong(u64),
    /// This many sleeps created, polled once and dropped (cancelled).
    SleepCancel(u64),
    /// This many concurrent sleeps with deadlines spread over 0–100 ms, all firing.
    SleepFire(u64),
    /// Sequential sleeps of this many microseconds, 1000 of them (200 quick).
    SleepPrecision(u64, u64),
    /// This many `sleep(10 s)` set (polled once) and held, then all dropped, in the
    /// order they were set or shuffled; on evloop through a `CommonTimeout` when
    /// `common`, else the heap.
    EqualTimers {
        n: u64,
        common: bool,
        shuffled: bool,
    },
    /// 1,000 tasks busy on a yield, and one that sleeps until each of this many 1 ms
    /// ticks: the delay from each deadline to its first poll. On evloop the sleeper runs
    /// at priority 0 of 3 when `priorities`, else all share one queue.
    PriorityLatency { ticks: u64, priorities: bool },
}

/// How many busy tasks [`Micro::PriorityLatency`] runs.
pub const BUSY_TASKS: usize = 1000;

/// A yield that both runtimes treat alike: wake at once, then `Pending` once.
pub async fn yield_once() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

/// A busy task of [`Micro::PriorityLatency`]: yields until `stop` is set.
pub async fn busy(stop: Arc<std::sync::atomic::AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        yield_once().await;
    }
}

/// The sleeper of [`Micro::PriorityLatency`]: sleeps until each 1 ms tick of `ticks`
/// (through `sleep`, from a `Duration`) and records how late its first poll after the
/// deadline was, in µs; then stops the busy tasks. Returns the result line.
pub async fn ticker<S: std::future::Future<Output = ()>>(
    ticks: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    sleep: impl Fn(Duration) -> S,
) -> String {
    let start = std::time::Instant::now();
    let mut late = Vec::with_capacity(ticks as usize);
    for i in 1..=ticks {
        let deadline = start + Duration::from_millis(i);
        sleep(deadline.saturating_duration_since(std::time::Instant::now())).await;
        late.push(deadline.elapsed().as_secs_f64() * 1e6);
    }
    stop.store(true, Ordering::Relaxed);
    let (p50, p99) = p50_p99(&mut late);
    format!("p50_us={p50:.3} p99_us={p99:.3}")
}

/// The duration every timer of [`Micro::EqualTimers`] shares.
pub const EQUAL_TIMER: Duration = Duration::from_secs(10);

/// The order in which [`Micro::EqualTimers`] drops its timers: `0..n`, or a shuffle of
/// it by a small xorshift, the same for every runtime.
pub fn drop_order(n: u64, shuffled: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n as usize).collect();
    if !shuffled {
        return order;
    }
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..order.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// The calling thread's CPU time, in seconds: what [`Micro::EqualTimers`] measures, so
/// that other work on the machine does not count.
pub fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
    // available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Sets (polls once) every timer of `sleeps`, made since `start` (a
/// [`thread_cpu_secs`] reading), then drops them in `order`; returns the result line:
/// the CPU seconds in all, and those of the two phases. Each timer is an `Option` so it
/// can be dropped in place.
pub async fn arm_and_cancel<S: std::future::Future + Unpin>(
    mut sleeps: Vec<Option<S>>,
    order: &[usize],
    start: f64,
) -> String {
    poll_fn(|cx| {
        for s in sleeps.iter_mut().flatten() {
            assert!(std::pin::Pin::new(s).poll(cx).is_pending());
        }
        Poll::Ready(())
    })
    .await;
    let armed = thread_cpu_secs() - start;
    for &i in order {
        sleeps[i] = None;
    }
    let secs = thread_cpu_secs() - start;
    format!(
        "secs={secs:.6} arm_secs={armed:.6} cancel_secs={:.6}",
        secs - armed
    )
}

/// The state two ping-pong tasks share. `Send`, so the same code runs on tokio.
pub struct Court {
    turn: AtomicU64,
    rounds: u64,
    wakers: [Mutex<Option<Waker>>; 2],
}

impl Court {
    /// A court for `rounds` round trips.
    pub fn new(rounds: u64) -> Arc<Court> {
        Arc::new(Court {
            turn: AtomicU64::new(0),
            rounds,
            wakers: [Mutex::new(None), Mutex::new(None)],
        })
    }
}

/// One side of the ping-pong: waits for its turn, passes it and wakes the other.
pub async fn player(court: Arc<Court>, me: u64) {
    poll_fn(move |cx| {
        loop {
            let turn = court.turn.load(Ordering::Relaxed);
            if turn >= 2 * court.rounds {
                return Poll::Ready(());
            }
            if turn % 2 != me {
                let mut slot = court.wakers[me as usize]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                match &*slot {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *slot = Some(cx.waker().clone()),
                }
                drop(slot);
                if court.turn.load(Ordering::Relaxed) == turn {
                    return Poll::Pending;
                }
                continue;
            }
            court.turn.store(turn + 1, Ordering::Relaxed);
            let other = court.wakers[1 - me as usize]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(w) = other {
                w.wake();
            }
        }
    })
    .await
}

/// Deadlines spread over 0–100 ms by a small xorshift, the same for both runtimes.
pub fn spread(n: u64) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_micros(x % 100_000)
        })
        .collect()
}

/// p50 and p99 of `v`.
pub fn p50_p99(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.50), at(0.99))
}

/// Stamps out the workloads for one runtime: `$block_on` runs a future to completion,
/// `$spawn` spawns one and returns a handle whose output is a `Result`, `$sleep` makes
/// a sleep from a `Duration`.
macro_rules! suite {
    ($name:ident, $block_on:path, $spawn:path, $sleep:path) => {
        /// The workloads on one runtime.
        pub mod $name {
            use std::future::{Future, poll_fn};
            use std::pin::pin;
            use std::task::Poll;
            use std::time::{Duration, Instant};

            use crate::micro::{
                Court, EQUAL_TIMER, Micro, arm_and_cancel, drop_order, p50_p99, player, spread,
                thread_cpu_secs,
            };

            /// Runs `m` and returns the `key=value` pairs of its result line.
            pub fn run(m: Micro) -> String {
                match m {
                    Micro::Spawn(n) => $block_on(async move {
                        let start = Instant::now();
                        let hs: Vec<_> = (0..n).map(|i| $spawn(async move { i })).collect();
                        let mut sum = 0u64;
                        for h in hs {
                            sum += h.await.expect("task failed");
                        }
                        assert_eq!(sum, n * (n - 1) / 2);
                        format!("secs={:.6}", start.elapsed().as_secs_f64())
                    }),
                    Micro::PingPong(rounds) => $block_on(async move {
                        let court = Court::new(rounds);
                        let start = Instant::now();
                        let a = $spawn(player(court.clone(), 0));
                        let b = $spawn(player(court, 1));
                        a.await.expect("task failed");
                        b.await.expect("task failed");
                        format!("secs={:.6}", start.elapsed().as_secs_f64())
                    }),
                    Micro::SleepCancel(n) => $block_on(async move {
                        let start = Instant::now();
                        for i in 0..n {
                            let d = Duration::from_secs(1) + Duration::from_nanos(i % 1_000_000);
                            let mut s = pin!($sleep(d));
                            poll_fn(|cx| {
                                let _ = s.as_mut().poll(cx);
                                Poll::Ready(())
                            })
                            .await;
                        }
                        format!("secs={:.6}", start.elapsed().as_secs_f64())
                    }),
                    Micro::SleepFire(n) => {
                        let ds = spread(n);
                        $block_on(async move {
                            let start = Instant::now();
                            let hs: Vec<_> = ds.into_iter().map(|d| $spawn($sleep(d))).collect();
                            for h in hs {
                                h.await.expect("task failed");
                            }
                            format!("secs={:.6}", start.elapsed().as_secs_f64())
                        })
                    }
                    Micro::EqualTimers { n, shuffled, .. } => {
                        let order = drop_order(n, shuffled);
                        $block_on(async move {
                            let start = thread_cpu_secs();
                            let sleeps: Vec<_> = (0..n)
                                .map(|_| Some(Box::pin($sleep(EQUAL_TIMER))))
                                .collect();
                            arm_and_cancel(sleeps, &order, start).await
                        })
                    }
                    Micro::PriorityLatency { ticks, .. } => $block_on(async move {
                        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                        let workers: Vec<_> = (0..crate::micro::BUSY_TASKS)
                            .map(|_| $spawn(crate::micro::busy(stop.clone())))
                            .collect();
                        let line = $spawn(crate::micro::ticker(ticks, stop, $sleep))
                            .await
                            .expect("ticker");
                        for w in workers {
                            w.await.expect("busy task");
                        }
                        line
                    }),
                    Micro::SleepPrecision(us, k) => $block_on(async move {
                        let d = Duration::from_micros(us);
                        let mut v = Vec::with_capacity(k as usize);
                        for _ in 0..k {
                            let start = Instant::now();
                            $sleep(d).await;
                            v.push(start.elapsed().as_secs_f64() * 1e6);
                        }
                        let (p50, p99) = p50_p99(&mut v);
                        format!("p50_us={p50:.3} p99_us={p99:.3}")
                    }),
                }
            }
        }
    };
}

/// Runs `f` on a fresh tokio current_thread runtime.
pub fn tokio_block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

pub(crate) use suite;

suite!(
    on_tokio,
    crate::micro::tokio_block_on,
    tokio::spawn,
    tokio::time::sleep
);
