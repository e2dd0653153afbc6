//! Tasks spawned from other threads, driven without a reactor, so that Miri sees the
//! allocation on a foreign thread, the hand-over through the remote queue, the adoption,
//! the `RemoteJoinHandle` awaited and aborted from other threads, and the closed queue
//! giving the future back (`.ci/run` runs these under Miri with the other task tests).

use std::future::{Future, pending, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::Duration;

use super::tests::{Rings, panic_message};
use super::{RemoteJoinHandle, Scheduler};
use crate::error::JoinError;
use crate::watchdog::Watchdog;

/// Fewer rounds under Miri, which runs these a thousand times slower.
const ROUNDS: usize = if cfg!(miri) { 4 } else { 100 };

/// A scheduler on this thread, the count of its notifications, and a watchdog.
fn setup() -> (Scheduler, Arc<AtomicUsize>, Watchdog) {
    let rings = Arc::new(AtomicUsize::new(0));
    let sched = Scheduler::with_notify(Box::new(Rings(rings.clone())), 1, 64);
    let watchdog = Watchdog::for_current_test(Duration::from_secs(60));
    (sched, rings, watchdog)
}

/// Adopts the remote spawns and runs ready tasks until there are none. Returns the polls.
fn run_all(sched: &Scheduler) -> usize {
    let mut polls = 0;
    loop {
        sched.drain_remote();
        if !sched.run_one(128) {
            return polls;
        }
        polls += 1;
    }
}

fn try_join<T>(handle: &mut RemoteJoinHandle<T>) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
}

fn join_now<T>(mut handle: RemoteJoinHandle<T>) -> Result<T, JoinError> {
    match try_join(&mut handle) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the task has not finished"),
    }
}

/// Blocks this thread on `future`, parking between polls: a joiner on a plain thread.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// The threads that dropped each probe, in order.
type DropLog = Arc<Mutex<Vec<ThreadId>>>;

/// Records the thread that drops it, and panics then if asked to.
struct DropProbe {
    dropped_on: DropLog,
    panic: Option<&'static str>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.dropped_on.lock().unwrap().push(thread::current().id());
        if let Some(message) = self.panic {
            panic!("{message}");
        }
    }
}

fn probe(log: &DropLog, panic: Option<&'static str>) -> DropProbe {
    DropProbe {
        dropped_on: log.clone(),
        panic,
    }
}

/// `fut`, holding `guard` until the future itself is dropped.
fn holding<F: Future + Send>(guard: DropProbe, fut: F) -> impl Future<Output = F::Output> + Send {
    let mut fut = Box::pin(fut);
    poll_fn(move |cx| {
        let _held = &guard;
        fut.as_mut().poll(cx)
    })
}

#[test]
fn a_task_spawned_on_another_thread_runs_on_the_owner() {
    let (sched, rings, _w) = setup();
    let spawner = sched.spawner();
    let owner = thread::current().id();
    let handle = thread::spawn(move || spawner.spawn(async { (thread::current().id(), 7) }))
        .join()
        .unwrap();
    assert_eq!(sched.live_tasks(), 0, "not adopted before the drain");
    assert!(rings.load(SeqCst) >= 1, "a spawn rings the notifier");
    assert_eq!(run_all(&sched), 1);
    assert!(handle.is_finished());
    assert_eq!(join_now(handle).unwrap(), (owner, 7));
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn spawns_from_several_threads_at_once_each_run_exactly_once() {
    let (sched, _, _w) = setup();
    let threads = 4;
    let runs: Arc<Vec<AtomicUsize>> =
        Arc::new((0..threads * ROUNDS).map(|_| AtomicUsize::new(0)).collect());
    let go = Arc::new(Barrier::new(threads));
    let spawners: Vec<_> = (0..threads)
        .map(|t| {
            let (spawner, runs, go) = (sched.spawner(), runs.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                (0..ROUNDS)
                    .map(|i| {
                        let runs = runs.clone();
                        let n = t * ROUNDS + i;
                        spawner.spawn(async move {
                            runs[n].fetch_add(1, SeqCst);
                            n
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // The owner drains while the threads spawn.
    let mut handles = Vec::new();
    for spawner in spawners {
        run_all(&sched);
        handles.extend(spawner.join().unwrap());
    }
    run_all(&sched);
    for (n, handle) in handles.into_iter().enumerate() {
        assert_eq!(join_now(handle).unwrap(), n);
    }
    assert!(
        runs.iter().all(|r| r.load(SeqCst) == 1),
        "every task ran once"
    );
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn the_handle_is_awaited_on_another_thread_and_woken_from_the_owner() {
    let (sched, _, _w) = setup();
    let open = Arc::new(AtomicBool::new(false));
    let task_waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (o, tw) = (open.clone(), task_waker.clone());
    let handle = sched.spawner().spawn(poll_fn(move |cx| {
        if o.load(SeqCst) {
            return Poll::Ready("opened");
        }
        *tw.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }));
    run_all(&sched);
    let joiner = thread::spawn(move || block_on(handle));
    // A remote wake of the task (from yet another thread), then the owner completes it
    // and wakes the joiner across threads.
    open.store(true, SeqCst);
    let waker = task_waker.lock().unwrap().take().unwrap();
    thread::spawn(move || waker.wake()).join().unwrap();
    while !joiner.is_finished() {
        run_all(&sched);
        thread::yield_now();
    }
    assert_eq!(joiner.join().unwrap().unwrap(), "opened");
}

#[test]
fn a_spawn_onto_a_closed_scheduler_drops_the_future_on_the_spawning_thread() {
    let (sched, _, _w) = setup();
    let spawner = sched.spawner();
    drop(sched);
    assert!(spawner.is_closed());
    let log: DropLog = Arc::default();
    let polled = Arc::new(AtomicBool::new(false));
    let (l, p) = (log.clone(), polled.clone());
    let (spawner_thread, handle) = thread::spawn(move || {
        let handle = spawner.spawn(holding(probe(&l, None), async move {
            p.store(true, SeqCst);
        }));
        (thread::current().id(), handle)
    })
    .join()
    .unwrap();
    assert!(!polled.load(SeqCst), "never polled");
    assert_eq!(
        *log.lock().unwrap(),
        [spawner_thread],
        "dropped before spawn returned"
    );
    assert!(handle.is_finished());
    assert!(join_now(handle).unwrap_err().is_cancelled());
}

#[test]
fn spawns_not_yet_adopted_at_shutdown_are_cancelled_on_the_owner() {
    let (sched, _, _w) = setup();
    let log: DropLog = Arc::default();
    let spawner = sched.spawner();
    let l = log.clone();
    let handles = thread::spawn(move || {
        (0..3)
            .map(|_| spawner.spawn(holding(probe(&l, None), pending::<()>())))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let owner = thread::current().id();
    assert_eq!(sched.shutdown(), 3, "adopted, then cancelled and counted");
    assert_eq!(*log.lock().unwrap(), [owner; 3]);
    for handle in handles {
        assert!(join_now(handle).unwrap_err().is_cancelled());
    }
}

#[test]
fn abort_from_another_thread_drops_the_future_on_the_owner() {
    let (sched, rings, _w) = setup();
    let log: DropLog = Arc::default();
    let mut handle = sched
        .spawner()
        .spawn(holding(probe(&log, None), pending::<()>()));
    run_all(&sched);
    assert!(try_join(&mut handle).is_pending());
    let before = rings.load(SeqCst);
    let handle = thread::spawn(move || {
        handle.abort();
        handle
    })
    .join()
    .unwrap();
    assert!(
        rings.load(SeqCst) > before,
        "the abort woke the task remotely"
    );
    assert!(!handle.is_finished(), "the owner has not run yet");
    assert_eq!(run_all(&sched), 1);
    assert_eq!(*log.lock().unwrap(), [thread::current().id()]);
    assert!(join_now(handle).unwrap_err().is_cancelled());
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn abort_before_the_first_poll_never_polls_and_after_completion_keeps_the_output() {
    let (sched, _, _w) = setup();
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let handle = sched.spawner().spawn(async move { p.store(true, SeqCst) });
    handle.abort();
    run_all(&sched);
    assert!(!polled.load(SeqCst));
    assert!(join_now(handle).unwrap_err().is_cancelled());
    let handle = sched.spawner().spawn(async { 5 });
    run_all(&sched);
    handle.abort();
    assert_eq!(join_now(handle).unwrap(), 5);
}

#[test]
fn panics_of_the_poll_and_of_the_drop_reach_the_handle() {
    let (sched, _, _w) = setup();
    let spawner = sched.spawner();
    let log: DropLog = Arc::default();
    let in_poll = spawner.spawn(async { panic!("in the poll") });
    let in_drop = spawner.spawn(holding(probe(&log, Some("in the drop")), async { 1 }));
    let both = spawner.spawn(holding(probe(&log, Some("the drop, too")), async {
        panic!("the poll first")
    }));
    let aborted = spawner.spawn(holding(
        probe(&log, Some("dropped by abort")),
        pending::<()>(),
    ));
    run_all(&sched);
    aborted.abort();
    run_all(&sched);
    assert_eq!(panic_message(join_now(in_poll).unwrap_err()), "in the poll");
    assert_eq!(panic_message(join_now(in_drop).unwrap_err()), "in the drop");
    assert_eq!(panic_message(join_now(both).unwrap_err()), "the poll first");
    assert_eq!(
        panic_message(join_now(aborted).unwrap_err()),
        "dropped by abort"
    );
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn a_detached_task_runs_on_and_its_output_is_dropped_on_the_owner() {
    let (sched, _, _w) = setup();
    let log: DropLog = Arc::default();
    let l = log.clone();
    let handle = sched.spawner().spawn(async move { probe(&l, None) });
    thread::spawn(move || drop(handle)).join().unwrap();
    run_all(&sched);
    assert_eq!(*log.lock().unwrap(), [thread::current().id()]);
    // A handle dropped after completion drops the output where it is dropped.
    let l = log.clone();
    let handle = sched.spawner().spawn(async move { probe(&l, None) });
    run_all(&sched);
    let dropper = thread::spawn(move || {
        drop(handle);
        thread::current().id()
    })
    .join()
    .unwrap();
    assert_eq!(log.lock().unwrap()[1], dropper);
}

#[test]
fn spawns_racing_the_shutdown_are_run_or_cancelled_and_never_lost() {
    let (sched, _, _w) = setup();
    let threads = 3;
    let go = Arc::new(Barrier::new(threads + 1));
    let spawners: Vec<_> = (0..threads)
        .map(|_| {
            let (spawner, go) = (sched.spawner(), go.clone());
            thread::spawn(move || {
                go.wait();
                (0..ROUNDS)
                    .map(|i| spawner.spawn(async move { i }))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    go.wait();
    run_all(&sched);
    drop(sched);
    for spawner in spawners {
        for (i, handle) in spawner.join().unwrap().into_iter().enumerate() {
            match join_now(handle) {
                Ok(n) => assert_eq!(n, i),
                Err(e) => assert!(e.is_cancelled()),
            }
        }
    }
}

#[test]
fn an_abort_handle_cancels_a_detached_task_from_another_thread() {
    let (sched, _, _w) = setup();
    let log: DropLog = Arc::default();
    let task = sched
        .spawner()
        .spawn(holding(probe(&log, None), pending::<()>()));
    run_all(&sched);
    let abort = task.abort_handle();
    drop(task);
    let abort = thread::spawn(move || {
        let again = abort.clone();
        abort.abort();
        again
    })
    .join()
    .unwrap();
    assert!(!abort.is_finished());
    assert_eq!(run_all(&sched), 1);
    assert!(abort.is_finished());
    assert_eq!(*log.lock().unwrap(), [thread::current().id()]);
    assert_eq!(sched.live_tasks(), 0);
}
