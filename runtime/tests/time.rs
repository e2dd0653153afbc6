//! The timer heap wired into the loop: precision, no busy waiting, fairness.

mod common;

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use runtime::time::{Elapsed, interval, sleep, sleep_until, timeout};
use runtime::{Runtime, spawn};

#[test]
fn a_one_millisecond_sleep_never_ends_early() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    for _ in 0..20 {
        let start = Instant::now();
        rt.block_on(sleep(Duration::from_millis(1)));
        assert!(start.elapsed() >= Duration::from_millis(1));
    }
    let start = Instant::now();
    rt.block_on(sleep(Duration::from_micros(100)));
    assert!(start.elapsed() >= Duration::from_micros(100));
}

#[test]
fn the_loop_does_not_spin_while_it_sleeps() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let before = rt.turns();
    let start = Instant::now();
    rt.block_on(sleep(Duration::from_millis(50)));
    assert!(start.elapsed() >= Duration::from_millis(50));
    let turns = rt.turns() - before;
    // One blocking wait (a few more if a signal interrupts it); a spin would be thousands.
    assert!(turns <= 10, "{turns} reactor turns for one sleep");
}

#[test]
fn sleeping_tasks_wake_in_deadline_order_and_never_early() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (order, registered_in_time) = rt.block_on(async {
        let order = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let hs: Vec<_> = [7u64, 1, 5, 3, 9, 2]
            .into_iter()
            .map(|ms| {
                let order = order.clone();
                spawn(async move {
                    let deadline = start + Duration::from_millis(ms);
                    sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline);
                    order.lock().unwrap().push(ms);
                })
            })
            .collect();
        // The tasks run (and register their sleeps) before the block_on future resumes.
        runtime::yield_now().await;
        let registered_in_time = Instant::now() < start + Duration::from_millis(1);
        for h in hs {
            h.await.unwrap();
        }
        let order = Arc::try_unwrap(order).unwrap().into_inner().unwrap();
        (order, registered_in_time)
    });
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 5, 7, 9], "every sleep completed once");
    // Unless the machine was too slow to register them all before the first deadline
    // (under valgrind, say), they fire in deadline order.
    if registered_in_time {
        assert_eq!(order, [1, 2, 3, 5, 7, 9]);
    }
}

#[test]
fn timeout_and_interval_work_on_the_loop() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let r: Result<(), Elapsed> =
            timeout(Duration::from_millis(2), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert_eq!(
            timeout(Duration::from_secs(5), async { 3 }).await.unwrap(),
            3
        );
        let start = Instant::now();
        let mut ticks = interval(Duration::from_millis(2));
        for _ in 0..3 {
            ticks.tick().await;
        }
        // The first tick is immediate; two periods follow.
        assert!(start.elapsed() >= Duration::from_millis(4));
    });
}

#[test]
fn a_remote_wake_interrupts_a_long_timer_wait() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let long = spawn(sleep(Duration::from_secs(3600)));
        let flag = Arc::new(Mutex::new(false));
        let f = flag.clone();
        poll_fn(move |cx| {
            if *f.lock().unwrap() {
                return std::task::Poll::Ready(());
            }
            let (w, f) = (cx.waker().clone(), f.clone());
            thread::spawn(move || {
                *f.lock().unwrap() = true;
                w.wake();
            });
            std::task::Poll::Pending
        })
        .await;
        long.abort();
    });
}

#[test]
fn a_timer_fires_while_a_task_is_always_ready() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let spinner = spawn(async {
            loop {
                poll_fn(reactor::budget::poll_proceed).await;
            }
        });
        let yielder = spawn(async {
            loop {
                runtime::yield_now().await;
            }
        });
        // Both a sleeping task and the block_on future's own sleep complete.
        let sleeper = spawn(sleep(Duration::from_millis(3)));
        sleep(Duration::from_millis(5)).await;
        sleeper.await.unwrap();
        spinner.abort();
        yielder.abort();
    });
}

#[test]
fn dropping_the_runtime_cancels_sleeping_tasks() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let h = rt.spawn(sleep(Duration::from_secs(3600)));
    rt.block_on(runtime::yield_now());
    drop(rt);
    assert!(h.is_finished());
}
