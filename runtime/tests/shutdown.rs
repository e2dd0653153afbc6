//! `Runtime::shutdown_timeout` (libevent's loopexit) and `Runtime::shutdown_now`
//! (loopbreak): which tasks finish, which are cancelled, where their futures are dropped,
//! and the exact count returned.

mod common;

use std::cell::Cell;
use std::future::{Future, pending};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use runtime::sync::CancellationToken;
use runtime::time::sleep;
use runtime::{Handle, JoinHandle, Runtime};

/// Records the thread that drops it.
struct DropProbe(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

type DropLog = Arc<Mutex<Vec<ThreadId>>>;

/// A future that never finishes and records where it is dropped.
fn stuck(log: &DropLog) -> impl Future<Output = ()> + Send + 'static {
    let probe = DropProbe(log.clone());
    async move {
        let _probe = probe;
        pending::<()>().await;
    }
}

/// A future that finishes after `ms` milliseconds on the runtime's clock.
fn quick(ms: u64, done: &Rc<Cell<usize>>) -> impl Future<Output = ()> + 'static {
    let done = done.clone();
    async move {
        sleep(Duration::from_millis(ms)).await;
        done.set(done.get() + 1);
    }
}

/// What a `JoinHandle` of a finished (or cancelled) task holds, read after its runtime
/// is gone.
fn outcome<T>(handle: JoinHandle<T>) -> Result<T, runtime::JoinError> {
    futures::executor::block_on(handle)
}

#[test]
fn a_stuck_task_is_cancelled_at_the_deadline_on_the_runtime_thread() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let log = DropLog::default();
    let handle = rt.spawn(stuck(&log));
    let start = Instant::now();
    assert_eq!(rt.shutdown_timeout(Duration::from_millis(200)), 1);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "hung: {took:?}");
    assert_eq!(*log.lock().unwrap(), [thread::current().id()]);
    assert!(outcome(handle).unwrap_err().is_cancelled());
}

#[test]
fn a_task_that_finishes_in_time_is_not_cancelled_and_the_loop_does_not_wait_longer() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let done = Rc::new(Cell::new(0));
    let handle = rt.spawn(quick(30, &done));
    let start = Instant::now();
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(60)), 0);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "waited out the timeout"
    );
    assert_eq!(done.get(), 1);
    outcome(handle).unwrap();
}

/// A runtime whose clock is paused: the short sleeps end before the deadline however
/// slow the machine, since the clock moves only from deadline to deadline.
fn paused_runtime() -> Runtime {
    Runtime::builder().start_paused(true).build().unwrap()
}

#[test]
fn the_counts_are_exact() {
    let _watchdog = common::watchdog();
    let rt = paused_runtime();
    let log = DropLog::default();
    let done = Rc::new(Cell::new(0));
    // Three stuck tasks (one detached), two that finish, one that was aborted already.
    let stuck_handles: Vec<_> = (0..2).map(|_| rt.spawn(stuck(&log))).collect();
    drop(rt.spawn(stuck(&log)));
    let quick_handles: Vec<_> = [5, 20].map(|ms| rt.spawn(quick(ms, &done))).into();
    let aborted = rt.spawn(stuck(&log));
    aborted.abort();
    assert_eq!(rt.shutdown_timeout(Duration::from_millis(100)), 3);
    assert_eq!(done.get(), 2);
    assert_eq!(log.lock().unwrap().len(), 4, "three cancelled, one aborted");
    for handle in stuck_handles {
        assert!(outcome(handle).unwrap_err().is_cancelled());
    }
    for handle in quick_handles {
        outcome(handle).unwrap();
    }
    // Nothing to wait for: it returns at once with nothing cancelled.
    let rt = Runtime::new().unwrap();
    let start = Instant::now();
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(60)), 0);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn shutdown_now_cancels_at_once_without_polling() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let polled = Rc::new(Cell::new(false));
    let log = DropLog::default();
    rt.block_on(async {
        // Polled once, then waiting.
        drop(runtime::spawn(stuck(&log)));
        runtime::yield_now().await;
    });
    let p = polled.clone();
    let never_polled = rt.spawn(async move { p.set(true) });
    let queued_remotely = rt.handle().spawn(stuck(&log));
    assert_eq!(rt.shutdown_now(), 3);
    assert!(!polled.get());
    assert!(outcome(never_polled).unwrap_err().is_cancelled());
    assert_eq!(*log.lock().unwrap(), [thread::current().id(); 2]);
    assert!(
        futures::executor::block_on(queued_remotely)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn dropping_the_runtime_is_shutdown_now() {
    let _watchdog = common::watchdog();
    let outcomes = |end: fn(Runtime)| {
        let rt = Runtime::new().unwrap();
        let done = Rc::new(Cell::new(0));
        let handle = rt.spawn(quick(1, &done));
        end(rt);
        (done.get(), outcome(handle).is_err())
    };
    let dropped = outcomes(drop);
    let broken = outcomes(|rt| {
        rt.shutdown_now();
    });
    assert_eq!(dropped, (0, true), "cancelled without waiting");
    assert_eq!(dropped, broken);
}

#[test]
fn tasks_spawned_during_the_window_are_waited_for_or_cancelled_and_counted() {
    let _watchdog = common::watchdog();
    let rt = paused_runtime();
    let done = Rc::new(Cell::new(0));
    let log = DropLog::default();
    let (d, l) = (done.clone(), log.clone());
    // Spawns, during the window, a child that finishes and one that never does.
    drop(rt.spawn(async move {
        sleep(Duration::from_millis(10)).await;
        drop(runtime::spawn(quick(10, &d)));
        drop(runtime::spawn(stuck(&l)));
    }));
    assert_eq!(rt.shutdown_timeout(Duration::from_millis(150)), 1);
    assert_eq!(done.get(), 1);
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[test]
fn a_task_spawned_by_a_future_dropped_at_the_end_is_cancelled_and_counted() {
    let _watchdog = common::watchdog();
    // A future whose drop spawns onto its own loop through a handle.
    struct SpawnsOnDrop(
        Handle,
        DropLog,
        Arc<Mutex<Vec<runtime::RemoteJoinHandle<()>>>>,
    );
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let task = self.0.spawn(stuck(&self.1));
            self.2.lock().unwrap().push(task);
        }
    }
    let rt = Runtime::new().unwrap();
    let log = DropLog::default();
    let spawned = Arc::default();
    let guard = SpawnsOnDrop(rt.handle(), log.clone(), Arc::clone(&spawned));
    drop(rt.spawn(async move {
        let _guard = guard;
        pending::<()>().await;
    }));
    assert_eq!(rt.shutdown_timeout(Duration::from_millis(20)), 2);
    assert_eq!(*log.lock().unwrap(), [thread::current().id()]);
    let task = spawned.lock().unwrap().pop().unwrap();
    assert!(
        futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled()
    );
}

#[test]
fn spawns_from_another_thread_during_the_window_run() {
    let _watchdog = common::watchdog();
    const SPAWNS: usize = 50;
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let ran = Arc::new(AtomicUsize::new(0));
    let all_ran = CancellationToken::new();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (r, a) = (ran.clone(), all_ran.clone());
    let spawner = thread::spawn(move || {
        go_rx.recv().unwrap();
        for _ in 0..SPAWNS {
            let (r, a) = (r.clone(), a.clone());
            drop(handle.spawn(async move {
                if r.fetch_add(1, SeqCst) + 1 == SPAWNS {
                    a.cancel();
                }
            }));
        }
    });
    // A local task opens the gate once the window has begun, and stays until all ran.
    drop(rt.spawn(async move {
        go_tx.send(()).unwrap();
        all_ran.cancelled().await;
    }));
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(60)), 0);
    spawner.join().unwrap();
    assert_eq!(ran.load(SeqCst), SPAWNS);
}

#[test]
fn blocking_pool_work_is_waited_for_and_a_stuck_job_is_cut_off() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let job = rt.spawn_blocking(move || {
        thread::sleep(Duration::from_millis(30));
        f.store(true, SeqCst);
        7
    });
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(60)), 0);
    assert!(finished.load(SeqCst));
    assert_eq!(outcome(job).unwrap(), 7);
    // A job that outlives the deadline: its task is cancelled (and counted); the job
    // itself cannot be stopped and finishes on its thread.
    let rt = Runtime::new().unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (ended_tx, ended_rx) = mpsc::channel();
    let job = rt.spawn_blocking(move || {
        release_rx.recv().unwrap();
        ended_tx.send(()).unwrap();
    });
    assert_eq!(rt.shutdown_timeout(Duration::from_millis(50)), 1);
    assert!(outcome(job).unwrap_err().is_cancelled());
    release_tx.send(()).unwrap();
    ended_rx.recv_timeout(Duration::from_secs(10)).unwrap();
}

#[test]
fn with_a_paused_clock_the_deadline_comes_by_auto_advance() {
    let _watchdog = common::watchdog();
    let rt = Runtime::builder().start_paused(true).build().unwrap();
    let log = DropLog::default();
    drop(rt.spawn(stuck(&log)));
    let done = Rc::new(Cell::new(0));
    drop(rt.spawn(quick(60_000, &done)));
    let start = Instant::now();
    assert_eq!(rt.shutdown_timeout(Duration::from_secs(3600)), 1);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "waited in real time"
    );
    assert_eq!(
        done.get(),
        1,
        "the minute-long sleep finished on the paused clock"
    );
}

#[test]
fn shutdown_timeout_inside_another_runtime_panics_clearly() {
    let _watchdog = common::watchdog();
    let outer = Runtime::new().unwrap();
    let inner = Runtime::new().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        outer.block_on(async move { inner.shutdown_timeout(Duration::from_secs(1)) })
    }));
    let payload = caught.unwrap_err();
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("cannot start a runtime from within a runtime"),
        "{message}"
    );
}
