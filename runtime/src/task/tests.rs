//! The task harness driven directly, without a reactor: these tests need no syscall
//! but thread creation, so they run under Miri too (`.ci/run` does), which checks the
//! unsafe code of this module for undefined behaviour, data races and leaks.
//!
//! Remote wakes come from real threads; the scheduler's notifier is a counter.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use super::scheduler::Notify;
use super::{JoinHandle, Scheduler};
use crate::error::JoinError;
use crate::watchdog::Watchdog;

/// What a remote wake rings in these tests: a count of the rings.
pub(super) struct Rings(pub(super) Arc<AtomicUsize>);

impl Notify for Rings {
    fn notify(&self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Fewer rounds under Miri, which runs these a thousand times slower.
const ROUNDS: usize = if cfg!(miri) { 3 } else { 50 };

/// A scheduler, the count of its notifications, and a watchdog for the test.
fn setup() -> (Scheduler, Arc<AtomicUsize>, Watchdog) {
    let count = Arc::new(AtomicUsize::new(0));
    let sched = Scheduler::with_notify(Box::new(Rings(count.clone())), 1, 64);
    (
        sched,
        count,
        Watchdog::for_current_test(Duration::from_secs(60)),
    )
}

/// Runs ready tasks and remote wakes until there are none. Returns the polls.
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

fn poll_join<T>(handle: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(waker))
}

fn join_now<T>(mut handle: JoinHandle<T>) -> Result<T, JoinError> {
    match poll_join(&mut handle, Waker::noop()) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the task has not finished"),
    }
}

pub(super) fn panic_message(err: JoinError) -> String {
    let payload = err.into_panic();
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(payload) => *payload.downcast::<String>().expect("a string payload"),
    }
}

/// Pending until `ready`; keeps the latest waker in `slot` and counts its polls.
#[derive(Clone, Default)]
struct Gate {
    ready: Rc<Cell<bool>>,
    slot: Rc<RefCell<Option<Waker>>>,
    polls: Rc<Cell<usize>>,
}

impl Gate {
    fn wait(&self) -> impl Future<Output = ()> + 'static {
        let gate = self.clone();
        poll_fn(move |cx| {
            gate.polls.set(gate.polls.get() + 1);
            if gate.ready.get() {
                return Poll::Ready(());
            }
            *gate.slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    fn waker(&self) -> Waker {
        self.slot.borrow().clone().expect("the task was polled")
    }
}

/// Counts its drops, then panics with `message` if it has one.
#[derive(Debug)]
struct DropProbe {
    drops: Arc<AtomicUsize>,
    panic: Option<&'static str>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if let Some(message) = self.panic {
            panic!("{message}");
        }
    }
}

fn probe(drops: &Arc<AtomicUsize>, panic: Option<&'static str>) -> DropProbe {
    DropProbe {
        drops: drops.clone(),
        panic,
    }
}

/// `fut`, holding `guard` until the future itself is dropped (an async block's locals
/// are dropped in its last poll instead).
fn holding<F: Future + 'static>(guard: DropProbe, fut: F) -> impl Future<Output = F::Output> {
    let mut fut = Box::pin(fut);
    poll_fn(move |cx| {
        let _held = &guard;
        fut.as_mut().poll(cx)
    })
}

/// A joiner's waker that counts wakes, and may panic in `wake` or when its last clone
/// is dropped.
struct Joiner {
    wakes: AtomicUsize,
    panic_on_wake: bool,
    panic_on_drop: bool,
}

impl Joiner {
    fn new(panic_on_wake: bool, panic_on_drop: bool) -> Arc<Joiner> {
        Arc::new(Joiner {
            wakes: AtomicUsize::new(0),
            panic_on_wake,
            panic_on_drop,
        })
    }
}

impl Wake for Joiner {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        if self.panic_on_wake {
            panic!("the joiner's wake panics");
        }
    }
}

impl Drop for Joiner {
    fn drop(&mut self) {
        if self.panic_on_drop {
            panic!("the joiner's waker panics in drop");
        }
    }
}

#[test]
fn a_task_runs_and_its_handle_gives_the_output() {
    let (sched, _, _w) = setup();
    let mut handle = sched.spawn(async { 7 });
    assert!(poll_join(&mut handle, Waker::noop()).is_pending());
    assert_eq!(sched.live_tasks(), 1);
    assert_eq!(run_all(&sched), 1);
    assert!(handle.is_finished());
    assert_eq!(sched.live_tasks(), 0);
    assert_eq!(join_now(handle).unwrap(), 7);
}

#[test]
fn local_wakes_queue_a_task_once() {
    let (sched, notified, _w) = setup();
    let gate = Gate::default();
    let handle = sched.spawn(gate.wait());
    assert_eq!(run_all(&sched), 1);
    let waker = gate.waker();
    waker.wake_by_ref();
    waker.wake_by_ref();
    // By value: a clone's reference is handed to the wake.
    let by_value = waker.clone();
    by_value.wake();
    assert_eq!(run_all(&sched), 1, "three wakes, one poll");
    gate.ready.set(true);
    waker.wake();
    assert_eq!(run_all(&sched), 1);
    assert_eq!(gate.polls.get(), 3);
    assert_eq!(notified.load(SeqCst), 0, "no wake left this thread");
    join_now(handle).unwrap();
}

#[test]
fn remote_wakes_from_threads_reach_every_task() {
    let (sched, notified, _w) = setup();
    let flags: Vec<_> = (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
    let wakers = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = flags
        .iter()
        .map(|flag| {
            let (flag, wakers) = (flag.clone(), wakers.clone());
            sched.spawn(poll_fn(move |cx| {
                if flag.load(SeqCst) {
                    return Poll::Ready(());
                }
                wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }))
        })
        .collect();
    for _ in 0..ROUNDS.min(5) {
        run_all(&sched);
        let batch: Vec<Waker> = wakers.borrow_mut().drain(..).collect();
        let (by_ref, by_value) = batch.split_at(2);
        let (by_ref, by_value) = (by_ref.to_vec(), by_value.to_vec());
        let a = thread::spawn(move || by_ref.iter().for_each(Waker::wake_by_ref));
        let b = thread::spawn(move || by_value.into_iter().for_each(Waker::wake));
        a.join().unwrap();
        b.join().unwrap();
    }
    assert!(notified.load(SeqCst) >= 1, "remote wakes ring the notifier");
    flags.iter().for_each(|f| f.store(true, SeqCst));
    let last: Vec<Waker> = wakers.borrow_mut().drain(..).collect();
    thread::spawn(move || last.into_iter().for_each(Waker::wake))
        .join()
        .unwrap();
    run_all(&sched);
    for handle in handles {
        join_now(handle).unwrap();
    }
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn the_last_reference_may_free_the_task_on_another_thread() {
    let (sched, _, _w) = setup();
    let gate = Gate::default();
    let handle = sched.spawn(gate.wait());
    run_all(&sched);
    let waker = gate.waker();
    gate.slot.borrow_mut().take();
    gate.ready.set(true);
    waker.wake_by_ref();
    run_all(&sched);
    join_now(handle).unwrap();
    // Only the waker's reference is left: dropped elsewhere, it frees the allocation.
    thread::spawn(move || drop(waker)).join().unwrap();
}

#[test]
fn abort_before_the_first_poll_never_polls() {
    let (sched, _, _w) = setup();
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let handle = sched.spawn(async move { p.set(true) });
    handle.abort();
    assert!(handle.is_finished());
    assert_eq!(sched.live_tasks(), 0);
    assert_eq!(run_all(&sched), 1, "the stale queue entry is popped");
    assert!(!polled.get());
    assert!(join_now(handle).unwrap_err().is_cancelled());
}

#[test]
fn abort_during_its_own_poll_defers_the_drop_to_the_poll_end() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let own: Rc<RefCell<Option<JoinHandle<()>>>> = Rc::default();
    let (o, d) = (own.clone(), drops.clone());
    let handle = sched.spawn(async move {
        let _probe = probe(&d, None);
        loop {
            if let Some(h) = o.borrow().as_ref() {
                h.abort();
                assert!(!h.is_finished(), "deferred while running");
            }
            crate::yield_now().await;
        }
    });
    run_all_once(&sched);
    *own.borrow_mut() = Some(handle);
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 1, "dropped right after the poll");
    let handle = own.borrow_mut().take().unwrap();
    assert!(join_now(handle).unwrap_err().is_cancelled());
    assert_eq!(sched.live_tasks(), 0);
}

/// Polls each queued task once.
fn run_all_once(sched: &Scheduler) {
    assert!(sched.run_one(128));
}

#[test]
fn abort_after_completion_keeps_the_output() {
    let (sched, _, _w) = setup();
    let handle = sched.spawn(async { "done" });
    run_all(&sched);
    handle.abort();
    assert_eq!(join_now(handle).unwrap(), "done");
}

#[test]
fn a_dropped_handle_detaches_and_the_output_is_dropped_at_completion() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    drop(sched.spawn(async move { probe(&d, None) }));
    assert_eq!(drops.load(SeqCst), 0);
    run_all(&sched);
    assert_eq!(
        drops.load(SeqCst),
        1,
        "dropped at completion, nobody wants it"
    );
    // A handle dropped after completion drops the stored output.
    let d = drops.clone();
    let handle = sched.spawn(async move { probe(&d, None) });
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 1);
    drop(handle);
    assert_eq!(drops.load(SeqCst), 2);
}

#[test]
fn a_dropped_handle_drops_the_joiner_it_stored() {
    let (sched, _, _w) = setup();
    let gate = Gate::default();
    let mut handle = sched.spawn(gate.wait());
    run_all(&sched);
    let joiner = Joiner::new(false, false);
    let waker = Waker::from(joiner.clone());
    assert!(poll_join(&mut handle, &waker).is_pending());
    assert!(poll_join(&mut handle, &waker).is_pending());
    assert_eq!(Arc::strong_count(&joiner), 3, "one clone stored, once");
    drop(handle);
    assert_eq!(Arc::strong_count(&joiner), 2);
    gate.ready.set(true);
    gate.waker().wake();
    run_all(&sched);
    assert_eq!(joiner.wakes.load(SeqCst), 0);
}

#[test]
fn completion_wakes_the_joiner_once() {
    let (sched, _, _w) = setup();
    let gate = Gate::default();
    let mut handle = sched.spawn(gate.wait());
    run_all(&sched);
    let joiner = Joiner::new(false, false);
    assert!(poll_join(&mut handle, &Waker::from(joiner.clone())).is_pending());
    gate.ready.set(true);
    gate.waker().wake();
    run_all(&sched);
    assert_eq!(joiner.wakes.load(SeqCst), 1);
    assert_eq!(
        Arc::strong_count(&joiner),
        1,
        "the stored clone was consumed"
    );
    join_now(handle).unwrap();
}

#[test]
fn a_panicking_poll_is_a_panic_join_error_and_the_future_is_dropped() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let handle = sched.spawn(async move {
        let _probe = probe(&d, None);
        panic!("in the poll");
    });
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 1);
    assert_eq!(panic_message(join_now(handle).unwrap_err()), "in the poll");
}

#[test]
fn a_future_whose_drop_panics_on_abort_reports_the_panic() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let handle = sched.spawn(holding(
        probe(&d, Some("the future's drop panics")),
        std::future::pending::<()>(),
    ));
    run_all(&sched);
    handle.abort();
    assert_eq!(drops.load(SeqCst), 1);
    assert_eq!(sched.live_tasks(), 0);
    let err = join_now(handle).unwrap_err();
    assert_eq!(panic_message(err), "the future's drop panics");
    // Without a handle: the panic is swallowed and the task released.
    let d = drops.clone();
    let gate = Gate::default();
    let wait = gate.wait();
    drop(sched.spawn(holding(
        probe(&d, Some("detached, dropped after Ready")),
        wait,
    )));
    run_all(&sched);
    gate.ready.set(true);
    gate.waker().wake();
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 2);
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn a_drop_panic_after_ready_replaces_the_output_and_the_output_is_dropped() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let output = probe(&d, Some("the output's drop panics too"));
    let handle = sched.spawn(holding(
        probe(&d, Some("the future's drop panics")),
        async move { output },
    ));
    // Both drops panic: the second must not escape the harness.
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 2);
    assert_eq!(sched.live_tasks(), 0);
    let err = join_now(handle).unwrap_err();
    assert_eq!(panic_message(err), "the future's drop panics");
}

#[test]
fn an_output_whose_drop_panics_is_swallowed_with_or_without_a_handle() {
    let (sched, _, _w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    drop(sched.spawn(async move { probe(&d, Some("no handle")) }));
    run_all(&sched);
    assert_eq!(drops.load(SeqCst), 1);
    let d = drops.clone();
    let handle = sched.spawn(async move { probe(&d, Some("dropped by the handle")) });
    run_all(&sched);
    drop(handle);
    assert_eq!(drops.load(SeqCst), 2);
    // Taken by the handle, the output is the caller's: its drop panics in the caller.
    let d = drops.clone();
    let handle = sched.spawn(async move { probe(&d, Some("taken")) });
    run_all(&sched);
    let output = join_now(handle).unwrap();
    assert!(catch_unwind(AssertUnwindSafe(move || drop(output))).is_err());
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn a_joiner_that_panics_in_wake_or_drop_is_swallowed() {
    let (sched, _, _w) = setup();
    let gate = Gate::default();
    let mut handle = sched.spawn(gate.wait());
    run_all(&sched);
    let joiner = Joiner::new(true, false);
    assert!(poll_join(&mut handle, &Waker::from(joiner.clone())).is_pending());
    gate.ready.set(true);
    gate.waker().wake();
    run_all(&sched);
    assert_eq!(joiner.wakes.load(SeqCst), 1);
    assert_eq!(sched.live_tasks(), 0);
    join_now(handle).unwrap();
    // A joiner whose last clone, stored by the handle, panics when dropped.
    let gate = Gate::default();
    let mut handle = sched.spawn(gate.wait());
    run_all(&sched);
    let joiner = Joiner::new(false, true);
    assert!(poll_join(&mut handle, &Waker::from(joiner)).is_pending());
    drop(handle);
    gate.ready.set(true);
    gate.waker().wake();
    run_all(&sched);
    assert_eq!(sched.live_tasks(), 0);
}

#[test]
fn shutdown_completes_every_task_without_polling_and_survives_panics() {
    let (sched, notified, w) = setup();
    let drops = Arc::new(AtomicUsize::new(0));
    let gate = Gate::default();
    let d = drops.clone();
    let idle = sched.spawn(holding(
        probe(&d, Some("dropped at shutdown")),
        std::future::pending::<()>(),
    ));
    let d = drops.clone();
    let wait = gate.wait();
    drop(sched.spawn(holding(
        probe(&d, Some("detached, dropped at shutdown")),
        wait,
    )));
    let d = drops.clone();
    let queued = sched.spawn(async move { probe(&d, None) });
    run_all(&sched);
    let polls = gate.polls.get();
    let woken = gate.waker();
    woken.wake_by_ref();
    let mut joined = sched.spawn(std::future::pending::<()>());
    let joiner = Joiner::new(true, false);
    assert!(poll_join(&mut joined, &Waker::from(joiner.clone())).is_pending());
    drop(sched);
    drop(w);
    assert_eq!(gate.polls.get(), polls, "shutdown polls nothing");
    assert_eq!(
        drops.load(SeqCst),
        2,
        "both futures dropped (the output is stored)"
    );
    assert_eq!(joiner.wakes.load(SeqCst), 1);
    assert_eq!(
        panic_message(join_now(idle).unwrap_err()),
        "dropped at shutdown"
    );
    assert!(join_now(joined).unwrap_err().is_cancelled());
    join_now(queued).unwrap();
    assert_eq!(drops.load(SeqCst), 3);
    // A waker that outlived the scheduler: harmless on any thread, and the last one
    // frees its task there.
    let before = notified.load(SeqCst);
    woken.wake_by_ref();
    thread::spawn(move || {
        woken.wake_by_ref();
        // By value: a clone's reference is handed to the wake.
        let by_value = woken.clone();
        by_value.wake();
        drop(woken);
    })
    .join()
    .unwrap();
    assert_eq!(notified.load(SeqCst), before, "the remote queue is closed");
}

#[test]
fn a_remote_wake_racing_shutdown_is_released() {
    let (sched, _, _w) = setup();
    let gate = Gate::default();
    let handle = sched.spawn(gate.wait());
    run_all(&sched);
    let wakers: Vec<Waker> = (0..4).map(|_| gate.waker()).collect();
    let go = Arc::new(std::sync::Barrier::new(wakers.len() + 1));
    let threads: Vec<_> = wakers
        .into_iter()
        .map(|w| {
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                for _ in 0..ROUNDS {
                    w.wake_by_ref();
                }
            })
        })
        .collect();
    go.wait();
    gate.slot.borrow_mut().take();
    drop(sched);
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert!(join_now(handle).unwrap_err().is_cancelled());
}

#[test]
fn a_task_woken_during_its_last_poll_leaves_a_stale_entry() {
    let (sched, _, _w) = setup();
    let handle = sched.spawn(poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(5)
    }));
    assert_eq!(run_all(&sched), 2, "the poll, then the stale entry");
    assert_eq!(join_now(handle).unwrap(), 5);
}

#[test]
fn a_future_may_drop_its_own_handle_while_being_dropped() {
    let (sched, _, _w) = setup();
    let own: Rc<RefCell<Option<JoinHandle<DropProbe>>>> = Rc::default();
    let drops = Arc::new(AtomicUsize::new(0));
    let (o, d) = (own.clone(), drops.clone());
    let handle = sched.spawn(async move {
        struct DropsHandle(Rc<RefCell<Option<JoinHandle<DropProbe>>>>);
        impl Drop for DropsHandle {
            fn drop(&mut self) {
                drop(self.0.borrow_mut().take());
            }
        }
        let _holder = DropsHandle(o);
        probe(&d, None)
    });
    *own.borrow_mut() = Some(handle);
    run_all(&sched);
    assert_eq!(
        drops.load(SeqCst),
        1,
        "no handle left: the output is dropped"
    );
    assert_eq!(sched.live_tasks(), 0);
}

/// A scheduler with `n` priorities and the given starvation limit.
fn setup_priorities(n: usize, limit: u32) -> (Scheduler, Watchdog) {
    let count = Arc::new(AtomicUsize::new(0));
    (
        Scheduler::with_notify(Box::new(Rings(count)), n, limit),
        Watchdog::for_current_test(Duration::from_secs(60)),
    )
}

/// A task that logs `id` each time it is polled, and stays pending until polled `polls`
/// times.
fn logger(log: &Rc<RefCell<Vec<u32>>>, id: u32, polls: u32) -> impl Future<Output = ()> + use<> {
    let log = log.clone();
    let mut left = polls;
    poll_fn(move |cx| {
        log.borrow_mut().push(id);
        left -= 1;
        if left == 0 {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn the_most_urgent_queue_runs_first_and_each_queue_is_fifo() {
    let (sched, _watchdog) = setup_priorities(4, 64);
    assert_eq!(sched.priorities(), 4);
    assert_eq!(sched.default_priority(), 2);
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut handles = Vec::new();
    // (priority, id): ids are spawned in this order.
    for (p, id) in [(3, 30), (1, 10), (2, 20), (1, 11), (0, 0), (3, 31), (0, 1)] {
        handles.push(sched.spawn_with_priority(p, logger(&log, id, 1)));
    }
    handles.push(sched.spawn(logger(&log, 21, 1)));
    assert_eq!(sched.run_turn(100, 128), 8);
    assert_eq!(*log.borrow(), [0, 1, 10, 11, 20, 21, 30, 31]);
    for h in handles {
        assert!(join_now(h).is_ok());
    }
}

#[test]
fn a_task_woken_during_a_turn_at_a_higher_priority_runs_next() {
    let (sched, _watchdog) = setup_priorities(3, 64);
    let log = Rc::new(RefCell::new(Vec::new()));
    // The urgent task waits for a waker that the first low task will use.
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let urgent = {
        let (log, slot) = (log.clone(), slot.clone());
        let mut woken = false;
        poll_fn(move |cx| {
            if woken {
                log.borrow_mut().push(0);
                return Poll::Ready(());
            }
            woken = true;
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
    };
    let urgent = sched.spawn_with_priority(0, urgent);
    assert_eq!(sched.run_turn(1, 128), 1, "the urgent task parks");
    let waker_user = {
        let (log, slot) = (log.clone(), slot.clone());
        poll_fn(move |_| {
            log.borrow_mut().push(20);
            if let Some(w) = slot.borrow_mut().take() {
                w.wake();
            }
            Poll::Ready(())
        })
    };
    let a = sched.spawn_with_priority(2, waker_user);
    let b = sched.spawn_with_priority(2, logger(&log, 21, 1));
    assert_eq!(sched.run_turn(100, 128), 3);
    assert_eq!(
        *log.borrow(),
        [20, 0, 21],
        "the woken urgent task runs before 21"
    );
    for h in [a, b] {
        assert!(join_now(h).is_ok());
    }
    assert!(join_now(urgent).is_ok());
}

#[test]
fn a_busy_urgent_queue_leaves_each_lower_queue_a_task_every_limit_turns() {
    const LIMIT: u32 = 4;
    const INTERVAL: u32 = 3;
    let (sched, _watchdog) = setup_priorities(3, LIMIT);
    let log = Rc::new(RefCell::new(Vec::new()));
    // Two urgent tasks that never finish within the test: they wake themselves.
    let busy: Vec<_> = (0..2)
        .map(|i| sched.spawn_with_priority(0, logger(&log, i, u32::MAX)))
        .collect();
    let mid = sched.spawn_with_priority(1, logger(&log, 10, 2));
    let low = sched.spawn_with_priority(2, logger(&log, 20, 2));
    let turns_of = |id: u32| {
        let mut at = Vec::new();
        for turn in 1..=(3 * LIMIT) {
            log.borrow_mut().clear();
            sched.run_turn(INTERVAL, 128);
            if log.borrow().contains(&id) {
                at.push(turn);
            }
        }
        at
    };
    // Turns 4, 8, 12 serve the lower queues; the others run only the urgent ones.
    assert_eq!(turns_of(10), [4, 8]);
    for turn in 1..=LIMIT {
        log.borrow_mut().clear();
        sched.run_turn(INTERVAL, 128);
        let ran = log.borrow().clone();
        assert_eq!(
            ran.len(),
            INTERVAL as usize,
            "turn {turn} ran a full interval"
        );
    }
    assert!(mid.is_finished() && low.is_finished());
    for h in busy {
        h.abort();
    }
    sched.shutdown();
}

#[test]
fn a_remote_wake_keeps_the_task_priority() {
    let (sched, _watchdog) = setup_priorities(2, 64);
    let log = Rc::new(RefCell::new(Vec::new()));
    let wakers: Arc<std::sync::Mutex<Vec<(u32, Waker)>>> = Arc::default();
    let parked = |id: u32| {
        let (log, wakers) = (log.clone(), wakers.clone());
        let mut parked = false;
        poll_fn(move |cx| {
            if parked {
                log.borrow_mut().push(id);
                return Poll::Ready(());
            }
            parked = true;
            wakers.lock().unwrap().push((id, cx.waker().clone()));
            Poll::Pending
        })
    };
    let low = sched.spawn_with_priority(1, parked(1));
    let high = sched.spawn_with_priority(0, parked(0));
    run_all(&sched);
    assert_eq!(wakers.lock().unwrap().len(), 2);
    // Another thread wakes the low one first, then the high one.
    let taken = std::mem::take(&mut *wakers.lock().unwrap());
    thread::spawn(move || {
        let mut taken = taken;
        taken.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
        for (_, w) in taken {
            w.wake();
        }
    })
    .join()
    .unwrap();
    sched.drain_remote();
    assert_eq!(sched.run_turn(100, 128), 2);
    assert_eq!(*log.borrow(), [0, 1], "the urgent task runs first");
    assert!(join_now(high).is_ok() && join_now(low).is_ok());
}

#[test]
fn aborting_and_joining_work_at_every_priority() {
    let (sched, _watchdog) = setup_priorities(256, 64);
    assert_eq!(sched.default_priority(), 128);
    let log = Rc::new(RefCell::new(Vec::new()));
    let done = sched.spawn_with_priority(255, async { 7 });
    let aborted = sched.spawn_with_priority(0, logger(&log, 0, 5));
    aborted.abort();
    run_all(&sched);
    assert_eq!(join_now(done).unwrap(), 7);
    assert!(join_now(aborted).unwrap_err().is_cancelled());
    assert!(log.borrow().is_empty(), "an aborted task is never polled");
    let out_of_range = catch_unwind(AssertUnwindSafe(|| {
        drop(sched.spawn_with_priority(256, async {}));
    }));
    assert!(out_of_range.is_err(), "priority 256 of 256 is refused");
}

#[test]
fn an_abort_handle_counts_a_reference_of_its_own() {
    let (sched, _count, _watchdog) = setup();
    let handle = sched.spawn(std::future::pending::<()>());
    let abort = handle.abort_handle();
    let twin = abort.clone();
    drop(handle);
    assert!(!abort.is_finished());
    abort.abort();
    assert!(twin.is_finished());
    drop(abort);
    run_all(&sched);
    // The last reference goes with the twin, after the task completed.
    drop(twin);
    let done = sched.spawn(async { 5 });
    let late = done.abort_handle();
    run_all(&sched);
    assert!(late.is_finished());
    late.abort();
    assert_eq!(
        join_now(done).unwrap(),
        5,
        "aborting a finished task keeps its output"
    );
}
