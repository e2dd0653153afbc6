//! hyper's Executor and Timer on evloop (feature `hyper`).
#![cfg(feature = "hyper")]

mod common;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::task::{Context, Waker};
use std::thread;
use std::time::{Duration, Instant};

use hyper::rt::{Executor, Timer};
use runtime::Runtime;
use runtime::hyper::{EvloopExecutor, EvloopSleep, EvloopTimer};

#[test]
fn sleeps_are_send_and_sync() {
    let _watchdog = common::watchdog();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EvloopSleep>();
    assert_send_sync::<EvloopTimer>();
}

#[test]
fn the_timer_sleeps_at_least_the_duration() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        EvloopTimer.sleep(Duration::from_millis(2)).await;
        assert!(start.elapsed() >= Duration::from_millis(2));
        let deadline = Instant::now() + Duration::from_millis(1);
        EvloopTimer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        let mut s = EvloopTimer.sleep(Duration::from_secs(3600));
        let deadline = Instant::now() + Duration::from_millis(1);
        EvloopTimer.reset(&mut s, deadline);
        s.await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn the_executor_runs_not_send_futures() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    rt.block_on(async move {
        EvloopExecutor.execute(async move { r.set(true) });
        while !ran.get() {
            runtime::yield_now().await;
        }
    });
}

#[test]
fn a_sleep_polled_on_another_thread_panics() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let sleep = rt.block_on(async { Some(EvloopTimer.sleep(Duration::from_secs(3600))) });
    let sleep = sleep.unwrap();
    let r = thread::spawn(move || {
        let mut sleep = sleep;
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _ = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        }));
        drop(sleep); // leaked, not touched
        r.is_err()
    })
    .join()
    .unwrap();
    assert!(r);
}

#[runtime::test(start_paused = true)]
async fn the_timer_reads_the_paused_clock() {
    const HOUR: Duration = Duration::from_secs(3600);
    let t0 = EvloopTimer.now();
    assert_eq!(t0, runtime::time::now());
    thread::sleep(Duration::from_millis(2));
    assert_eq!(EvloopTimer.now(), t0, "paused");
    runtime::time::advance(HOUR).await;
    assert_eq!(EvloopTimer.now(), t0 + HOUR);
    // hyper's sleeps measure from it, and auto-advance fires them.
    let real = Instant::now();
    EvloopTimer.sleep(HOUR).await;
    assert_eq!(EvloopTimer.now(), t0 + 2 * HOUR);
    let deadline = EvloopTimer.now() + HOUR;
    EvloopTimer.sleep_until(deadline).await;
    assert_eq!(EvloopTimer.now(), deadline);
    assert!(real.elapsed() < Duration::from_secs(10));
}
