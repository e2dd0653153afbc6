//! Task priorities on a real loop: the most urgent queue first and FIFO within one, a
//! timer-woken urgent task ahead of a thousand busy ones, the starvation limit, remote
//! wakes, `JoinHandle` and abort, and the misuse panics.

mod common;

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use runtime::{Builder, JoinHandle, spawn, spawn_with_priority, yield_now};

fn runtime_with(priorities: usize) -> runtime::Runtime {
    Builder::new()
        .priorities(priorities)
        .build()
        .expect("runtime")
}

fn message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn the_most_urgent_queue_runs_first_and_each_is_fifo() {
    let _watchdog = common::watchdog();
    let rt = runtime_with(3);
    let log = Rc::new(RefCell::new(Vec::new()));
    rt.block_on(async {
        let mut handles: Vec<JoinHandle<()>> = Vec::new();
        for (p, id) in [(2, 20), (1, 10), (0, 0), (2, 21), (0, 1), (1, 11)] {
            let log = log.clone();
            handles.push(spawn_with_priority(p, async move {
                log.borrow_mut().push(id);
            }));
        }
        let log2 = log.clone();
        handles.push(spawn(async move { log2.borrow_mut().push(12) }));
        for h in handles {
            h.await.expect("task");
        }
    });
    assert_eq!(*log.borrow(), [0, 1, 10, 11, 12, 20, 21]);
}

/// Counts the busy tasks' polls at the moment it is woken, then wakes the task.
struct Stamp {
    busy: Arc<AtomicUsize>,
    at_wake: Arc<AtomicUsize>,
    task: Waker,
}

impl Wake for Stamp {
    fn wake(self: Arc<Self>) {
        self.at_wake
            .store(self.busy.load(Ordering::SeqCst), Ordering::SeqCst);
        self.task.wake_by_ref();
    }
}

/// How many busy polls ran between a timer waking the measured task and its poll, for
/// each of five 5 ms sleeps, with 1,000 busy tasks yielding at the middle priority.
fn busy_polls_before_the_ticker(ticker_priority: usize, priorities: usize) -> Vec<usize> {
    let rt = runtime_with(priorities);
    let busy = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let stop = Rc::new(Cell::new(false));
        let workers: Vec<_> = (0..1000)
            .map(|_| {
                let (busy, stop) = (busy.clone(), stop.clone());
                spawn(async move {
                    while !stop.get() {
                        busy.fetch_add(1, Ordering::SeqCst);
                        yield_now().await;
                    }
                })
            })
            .collect();
        let busy2 = busy.clone();
        let ticker = spawn_with_priority(ticker_priority, async move {
            let mut gaps = Vec::new();
            // A sleep found already due at its first poll (on a very slow machine) never
            // uses its waker, and tells nothing: it is tried again, a bounded number of
            // times.
            for _ in 0..50 {
                let at_wake = Arc::new(AtomicUsize::new(usize::MAX));
                let mut sleep = runtime::time::sleep(Duration::from_millis(5));
                poll_fn(|cx| {
                    let stamp = Waker::from(Arc::new(Stamp {
                        busy: busy2.clone(),
                        at_wake: at_wake.clone(),
                        task: cx.waker().clone(),
                    }));
                    Pin::new(&mut sleep).poll(&mut Context::from_waker(&stamp))
                })
                .await;
                let woken_at = at_wake.load(Ordering::SeqCst);
                if woken_at != usize::MAX {
                    gaps.push(busy2.load(Ordering::SeqCst) - woken_at);
                }
                if gaps.len() == 5 {
                    break;
                }
            }
            assert_eq!(gaps.len(), 5, "the timer woke the task five times");
            gaps
        });
        let gaps = ticker.await.expect("ticker");
        stop.set(true);
        for w in workers {
            w.await.expect("worker");
        }
        gaps
    })
}

#[test]
fn a_timer_woken_urgent_task_runs_before_a_thousand_busy_ones() {
    let _watchdog = common::watchdog();
    // With 3 priorities, the busy tasks at 1 and the ticker at 0: the ticker runs first
    // in the turn after its timer fires (or second, on a turn of the starvation rule,
    // which may run one task of the busy queue first).
    for gap in busy_polls_before_the_ticker(0, 3) {
        assert!(gap <= 1, "{gap} busy polls ran before the urgent task");
    }
    // With one priority it waits behind the busy tasks, FIFO, as in tokio.
    for gap in busy_polls_before_the_ticker(0, 1) {
        assert!(gap >= 900, "only {gap} busy polls ran before the ticker");
    }
}

#[test]
fn a_busy_urgent_task_leaves_the_lower_queues_a_task_every_limit_turns() {
    let _watchdog = common::watchdog();
    const LIMIT: u32 = 8;
    const INTERVAL: u32 = 4;
    let rt = Builder::new()
        .priorities(3)
        .starvation_limit(LIMIT)
        .event_interval(INTERVAL)
        .build()
        .expect("runtime");
    let urgent_polls = Rc::new(Cell::new(0u32));
    let seen: Rc<RefCell<Vec<(u32, u32)>>> = Rc::default();
    rt.block_on(async {
        let polls = urgent_polls.clone();
        // Never finishes by itself, and is always ready.
        let urgent = spawn_with_priority(0, async move {
            loop {
                polls.set(polls.get() + 1);
                yield_now().await;
            }
        });
        let lower: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|p| {
                let (polls, seen) = (urgent_polls.clone(), seen.clone());
                spawn_with_priority(p, async move {
                    for _ in 0..3 {
                        seen.borrow_mut().push((p as u32, polls.get()));
                        yield_now().await;
                    }
                })
            })
            .collect();
        for h in lower {
            h.await.expect("lower task");
        }
        urgent.abort();
        assert!(urgent.await.unwrap_err().is_cancelled());
    });
    // Each lower task runs once per LIMIT turns, while the urgent one fills the rest:
    // between two of its runs, at most LIMIT turns of INTERVAL urgent polls pass.
    let seen = seen.borrow();
    for p in [1, 2] {
        let mut last = 0;
        for &(_, at) in seen.iter().filter(|(q, _)| *q == p) {
            assert!(
                at - last <= LIMIT * INTERVAL,
                "priority {p} waited {} urgent polls",
                at - last
            );
            last = at;
        }
    }
    assert_eq!(seen.len(), 6);
}

#[test]
fn a_wake_from_another_thread_keeps_the_task_priority() {
    let _watchdog = common::watchdog();
    let rt = runtime_with(2);
    let log = Rc::new(RefCell::new(Vec::new()));
    let parked: Arc<Mutex<Vec<(usize, Waker)>>> = Arc::default();
    rt.block_on(async {
        let handles: Vec<_> = [1usize, 0]
            .into_iter()
            .map(|p| {
                let (log, parked) = (log.clone(), parked.clone());
                let mut waiting = false;
                spawn_with_priority(
                    p,
                    poll_fn(move |cx| {
                        if waiting {
                            log.borrow_mut().push(p);
                            return Poll::Ready(());
                        }
                        waiting = true;
                        parked.lock().unwrap().push((p, cx.waker().clone()));
                        Poll::Pending
                    }),
                )
            })
            .collect();
        while parked.lock().unwrap().len() < 2 {
            yield_now().await;
        }
        // Another thread wakes the less urgent task first. The loop is held meanwhile
        // (the join blocks it), so both wakes are in the remote queue at its next turn.
        let mut wakers = std::mem::take(&mut *parked.lock().unwrap());
        wakers.sort_by_key(|(p, _)| std::cmp::Reverse(*p));
        std::thread::spawn(move || {
            for (_, w) in wakers {
                w.wake();
            }
        })
        .join()
        .expect("waking thread");
        for h in handles {
            h.await.expect("task");
        }
    });
    assert_eq!(*log.borrow(), [0, 1]);
}

#[test]
fn join_handles_and_abort_work_at_any_priority() {
    let _watchdog = common::watchdog();
    let rt = runtime_with(4);
    rt.block_on(async {
        let answer = spawn_with_priority(3, async { 6 * 7 });
        let stuck = spawn_with_priority(0, std::future::pending::<()>());
        yield_now().await;
        stuck.abort();
        assert!(stuck.await.unwrap_err().is_cancelled());
        assert_eq!(answer.await.unwrap(), 42);
        let panicking = spawn_with_priority(1, async { panic!("boom") });
        assert!(panicking.await.unwrap_err().is_panic());
    });
    let on_rt = rt.spawn_with_priority(2, async { "ran" });
    assert_eq!(rt.block_on(on_rt).unwrap(), "ran");
}

#[test]
fn out_of_range_priorities_are_refused_clearly() {
    let _watchdog = common::watchdog();
    for n in [0, 257] {
        let msg = message(catch_unwind(|| Builder::new().priorities(n)).unwrap_err());
        assert!(msg.contains("1 to 256 priorities"), "{msg}");
    }
    let msg = message(catch_unwind(|| Builder::new().starvation_limit(0)).unwrap_err());
    assert!(msg.contains("at least 1"), "{msg}");
    let rt = runtime_with(2);
    let msg = message(
        catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { drop(spawn_with_priority(2, async {})) })
        }))
        .unwrap_err(),
    );
    assert!(msg.contains("priority 2 is out of range"), "{msg}");
    let msg = message(
        catch_unwind(AssertUnwindSafe(|| {
            drop(rt.spawn_with_priority(9, async {}));
        }))
        .unwrap_err(),
    );
    assert!(msg.contains("priority 9 is out of range"), "{msg}");
    // The default: one priority, so every task is at 0.
    let one = runtime::Runtime::new().unwrap();
    let got = one.block_on(async { spawn_with_priority(0, async { 1 }).await });
    assert_eq!(got.unwrap(), 1);
}
