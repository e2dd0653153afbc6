//! Wakers across threads: task wakers woken, cloned and dropped on other threads, the
//! `block_on` future's waker, and the wakers of tasks awaiting a `JoinHandle`.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;

use runtime::{Runtime, spawn, yield_now};

/// Pending until `flag` is set; stores its waker in `slot` each poll.
fn wait_flag(flag: Rc<Cell<bool>>, slot: Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
    poll_fn(move |cx| {
        if flag.get() {
            Poll::Ready(())
        } else {
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    })
}

/// A waker that counts its wakes; its `Arc`'s strong count tells how many clones live.
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn wake_from_a_plain_thread() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let (tx, rx) = mpsc::channel::<Waker>();
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    let waker_thread = thread::spawn(move || {
        let w = rx.recv().unwrap();
        *d.lock().unwrap() = true;
        w.wake();
    });
    let d = done.clone();
    rt.block_on(async move {
        let sent = Cell::new(false);
        let task = spawn(poll_fn(move |cx| {
            if *d.lock().unwrap() {
                return Poll::Ready(7);
            }
            if !sent.replace(true) {
                tx.send(cx.waker().clone()).unwrap();
            }
            Poll::Pending
        }));
        assert_eq!(task.await.unwrap(), 7);
    });
    waker_thread.join().unwrap();
}

#[test]
fn block_on_future_woken_from_a_plain_thread() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    rt.block_on(poll_fn(move |cx| {
        if *d.lock().unwrap() {
            return Poll::Ready(());
        }
        let (w, d2) = (cx.waker().clone(), d.clone());
        thread::spawn(move || {
            *d2.lock().unwrap() = true;
            w.wake();
        });
        Poll::Pending
    }));
}

#[test]
fn a_thousand_handles_awaited_at_once_each_wake_their_own_joiner() {
    let _watchdog = common::watchdog();
    const N: usize = 1000;
    let rt = Runtime::new().unwrap();
    let total = rt.block_on(async {
        let flags: Vec<_> = (0..N).map(|_| Rc::new(Cell::new(false))).collect();
        let slots: Vec<_> = (0..N).map(|_| Rc::new(RefCell::new(None))).collect();
        let workers: Vec<_> = (0..N)
            .map(|i| {
                let wait = wait_flag(flags[i].clone(), slots[i].clone());
                spawn(async move {
                    wait.await;
                    i
                })
            })
            .collect();
        // Every joiner awaits its worker while the worker is still pending, so all N
        // joiners wait at once.
        let waiting = Rc::new(Cell::new(0));
        let joiners: Vec<_> = workers
            .into_iter()
            .map(|mut h| {
                let waiting = waiting.clone();
                spawn(async move {
                    let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut h).poll(cx))).await;
                    assert!(pending.is_pending(), "the worker is still waiting");
                    waiting.set(waiting.get() + 1);
                    h.await.unwrap() * 2
                })
            })
            .collect();
        // The block_on future may be polled between batches of tasks: wait for all.
        while waiting.get() < N || slots.iter().any(|s| s.borrow().is_none()) {
            yield_now().await;
        }
        // Release the workers in reverse order.
        for i in (0..N).rev() {
            flags[i].set(true);
            let waker = slots[i].borrow_mut().take().expect("the worker was polled");
            waker.wake();
        }
        let mut total = 0;
        for (i, j) in joiners.into_iter().enumerate() {
            let v = j.await.unwrap();
            assert_eq!(v, i * 2);
            total += v;
        }
        total
    });
    assert_eq!(total, N * (N - 1));
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn a_handle_moved_to_another_task_wakes_the_new_one() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        let flag = Rc::new(Cell::new(false));
        let slot = Rc::new(RefCell::new(None));
        let wait = wait_flag(flag.clone(), slot.clone());
        let mut worker = spawn(async move {
            wait.await;
            7
        });
        yield_now().await;
        // This task polls the handle once, leaving its waker behind...
        poll_fn(|cx| {
            assert!(Pin::new(&mut worker).poll(cx).is_pending());
            Poll::Ready(())
        })
        .await;
        // ...then another task takes the handle over and awaits it.
        let joiner = spawn(worker);
        yield_now().await;
        flag.set(true);
        slot.borrow_mut().take().unwrap().wake();
        joiner.await.unwrap().unwrap()
    });
    assert_eq!(out, 7);
}

#[test]
fn a_dropped_pending_handle_neither_wakes_nor_keeps_its_joiner() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let joiner = Waker::from(counter.clone());
    rt.block_on(async {
        let flag = Rc::new(Cell::new(false));
        let slot = Rc::new(RefCell::new(None));
        let wait = wait_flag(flag.clone(), slot.clone());
        let mut worker = spawn(wait);
        yield_now().await;
        let mut cx = Context::from_waker(&joiner);
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending());
        // Polling again with the same waker keeps a single clone.
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending());
        assert_eq!(
            Arc::strong_count(&counter),
            3,
            "the joiner's clone is stored once"
        );
        drop(worker);
        assert_eq!(
            Arc::strong_count(&counter),
            2,
            "dropping the handle drops it"
        );
        flag.set(true);
        slot.borrow_mut().take().unwrap().wake();
        yield_now().await;
        yield_now().await;
    });
    assert_eq!(rt.live_tasks(), 0);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_foreign_joiner_is_woken_once_when_the_task_completes() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let joiner = Waker::from(counter.clone());
    let out = rt.block_on(async {
        let mut worker = spawn(async {
            yield_now().await;
            5
        });
        let mut cx = Context::from_waker(&joiner);
        assert!(Pin::new(&mut worker).poll(&mut cx).is_pending());
        yield_now().await;
        yield_now().await;
        assert!(worker.is_finished());
        match Pin::new(&mut worker).poll(&mut cx) {
            Poll::Ready(v) => v.unwrap(),
            Poll::Pending => panic!("a finished task's handle must be ready"),
        }
    });
    assert_eq!(out, 5);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the wake consumed the stored clone"
    );
}

#[test]
fn many_rounds_of_remote_wakes_from_two_threads_reach_every_task() {
    let _watchdog = common::watchdog();
    use std::sync::atomic::{AtomicU64, Ordering};
    const TASKS: usize = 64;
    const ROUNDS: u64 = 200;
    // Each task waits until the shared counter passes its own round, then goes on; two
    // plain threads advance the counter and wake every task from outside.
    let round = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Vec<Waker>>();
    let rt = Runtime::new().unwrap();
    let r = round.clone();
    let wakers_thread = thread::spawn(move || {
        let mut helpers = Vec::new();
        for wakers in rx {
            r.fetch_add(1, Ordering::SeqCst);
            // Split the wakes between this thread and a fresh one.
            let (a, b) = wakers.split_at(wakers.len() / 2);
            let b = b.to_vec();
            helpers.push(thread::spawn(move || b.into_iter().for_each(Waker::wake)));
            a.iter().for_each(Waker::wake_by_ref);
        }
        helpers.into_iter().for_each(|h| h.join().unwrap());
    });
    let total = rt.block_on(async move {
        let seen = Rc::new(RefCell::new(Vec::<Waker>::new()));
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let (round, seen) = (round.clone(), seen.clone());
                spawn(async move {
                    let mut mine = 0;
                    for want in 1..=ROUNDS {
                        poll_fn(|cx| {
                            if round.load(Ordering::SeqCst) >= want {
                                Poll::Ready(())
                            } else {
                                seen.borrow_mut().push(cx.waker().clone());
                                Poll::Pending
                            }
                        })
                        .await;
                        mine += 1;
                    }
                    mine
                })
            })
            .collect();
        let mut finished = 0;
        while finished < TASKS {
            yield_now().await;
            let batch: Vec<_> = seen.borrow_mut().drain(..).collect();
            if !batch.is_empty() {
                tx.send(batch).unwrap();
            }
            finished = handles.iter().filter(|h| h.is_finished()).count();
        }
        drop(tx);
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    wakers_thread.join().unwrap();
    assert_eq!(total, TASKS as u64 * ROUNDS);
}
#[test]
fn one_task_waker_shared_by_reference_among_threads_drives_the_task() {
    let _watchdog = common::watchdog();
    const THREADS: usize = 4;
    const ROUNDS: usize = 100;
    // A task needs THREADS * ROUNDS wakes from other threads, which share one `&Waker`
    // (so the waker must be `Sync`, and its by-reference wake safe from many threads at
    // once) and wake clones of it by value. It counts its polls: a wake that reached
    // nobody would leave it, and the test, waiting.
    let rt = Runtime::new().unwrap();
    let wakes = Arc::new(AtomicUsize::new(0));
    let w = wakes.clone();
    let (tx, rx) = mpsc::channel::<Waker>();
    let waking = thread::spawn(move || {
        let waker = rx.recv().unwrap();
        thread::scope(|scope| {
            for _ in 0..THREADS {
                let (waker, w) = (&waker, &w);
                scope.spawn(move || {
                    for round in 0..ROUNDS {
                        w.fetch_add(1, Ordering::SeqCst);
                        if round % 2 == 0 {
                            waker.wake_by_ref();
                        } else {
                            // By value: a clone's reference is handed to the wake.
                            let by_value = waker.clone();
                            by_value.wake();
                        }
                    }
                });
            }
        });
        // The last reference the thread holds goes here, after the task may be gone.
        drop(waker);
    });
    let task = rt.spawn(async move {
        let mut tx = Some(tx);
        let mut polls = 0;
        poll_fn(|cx| {
            polls += 1;
            if let Some(tx) = tx.take() {
                tx.send(cx.waker().clone()).unwrap();
            }
            if wakes.load(Ordering::SeqCst) == THREADS * ROUNDS {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        polls
    });
    let polls = rt.block_on(task).unwrap();
    waking.join().unwrap();
    assert!(polls >= 2, "the task was woken from the other threads");
    assert!(
        polls <= THREADS * ROUNDS + 1,
        "{polls} polls for at most {} wakes",
        THREADS * ROUNDS
    );
    assert_eq!(rt.live_tasks(), 0);
}
