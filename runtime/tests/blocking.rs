//! The blocking pool: results, panics, cross-thread wakes, bounds and idle exit.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use runtime::{Builder, Runtime, spawn, spawn_blocking};

#[test]
fn result_comes_back_and_wakes_the_task() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (a, b) = rt.block_on(async {
        let main_thread = thread::current().id();
        // Awaited from a spawned task: the wake crosses from the pool thread.
        let task = spawn(async move {
            spawn_blocking(move || thread::current().id() != main_thread)
                .await
                .unwrap()
        });
        // And straight from the block_on future.
        let direct = spawn_blocking(|| 40 + 2).await.unwrap();
        (task.await.unwrap(), direct)
    });
    assert!(a, "the closure runs on another thread");
    assert_eq!(b, 42);
}

#[test]
fn a_panic_becomes_a_join_error_with_its_payload() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let err = rt.block_on(async { spawn_blocking(|| -> u8 { panic!("in the pool") }).await });
    let err = err.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(
        *err.into_panic().downcast_ref::<&str>().unwrap(),
        "in the pool"
    );
    // The pool still works.
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 1)).unwrap(), 1);
}

#[test]
fn many_jobs_stay_within_the_thread_bound() {
    let _watchdog = common::watchdog();
    const MAX: usize = 3;
    const JOBS: usize = 24;
    let rt = Builder::new().max_blocking_threads(MAX).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..JOBS)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..JOBS).sum::<usize>());
    assert!(
        peak.load(Ordering::SeqCst) <= MAX,
        "never more than MAX threads"
    );
    assert!(rt.blocking_threads() <= MAX);
}

#[test]
fn the_pool_grows_to_run_jobs_that_wait_for_each_other() {
    let _watchdog = common::watchdog();
    // Four jobs that can only finish together need four threads.
    let rt = Builder::new().max_blocking_threads(8).build().unwrap();
    let barrier = Arc::new(Barrier::new(4));
    rt.block_on(async {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let b = barrier.clone();
                spawn_blocking(move || {
                    b.wait();
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert!(rt.blocking_threads() >= 4);
}

#[test]
fn idle_threads_exit_after_the_keep_alive() {
    let _watchdog = common::watchdog();
    let rt = Builder::new()
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    rt.block_on(rt.spawn_blocking(|| ())).unwrap();
    let give_up = Instant::now() + Duration::from_secs(20);
    while rt.blocking_threads() != 0 {
        assert!(Instant::now() < give_up, "idle pool thread never exited");
        thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn aborting_the_handle_stops_waiting() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let release = Arc::new(Barrier::new(2));
    let r = release.clone();
    let err = rt.block_on(async move {
        let h = spawn_blocking(move || {
            r.wait();
        });
        h.abort();
        h.await.unwrap_err()
    });
    assert!(err.is_cancelled());
    release.wait(); // the closure itself still runs to the end
}

#[test]
fn spawn_blocking_outside_a_runtime_panics_with_advice() {
    let _watchdog = common::watchdog();
    let r = std::panic::catch_unwind(|| drop(spawn_blocking(|| ())));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Runtime::block_on"), "{msg}");
}
