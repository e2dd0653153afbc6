//! Tasks, JoinHandle and wakers, on real threads.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread::{self, ThreadId};

use runtime::{JoinError, Runtime, spawn, yield_now};

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

/// Pending forever (until dropped); records every drop with the thread it ran on.
struct Tracked {
    drops: Arc<Mutex<Vec<ThreadId>>>,
}

impl Future for Tracked {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.lock().unwrap().push(thread::current().id());
    }
}

#[test]
fn spawn_and_join() {
    let rt = Runtime::new().unwrap();
    let out = rt.block_on(async {
        let a = spawn(async { 1 });
        let b = spawn(async {
            yield_now().await;
            2
        });
        a.await.unwrap() + b.await.unwrap()
    });
    assert_eq!(out, 3);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn runtime_spawn_outside_block_on_runs_at_next_block_on() {
    let rt = Runtime::new().unwrap();
    let handle = rt.spawn(async { "later" });
    assert!(!handle.is_finished());
    assert_eq!(rt.block_on(handle).unwrap(), "later");
}

#[test]
fn detached_task_still_runs() {
    let rt = Runtime::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    rt.block_on(async move {
        drop(spawn(async move {
            yield_now().await;
            r.set(true);
        }));
        while !ran.get() {
            yield_now().await;
        }
    });
}

#[test]
fn abort_before_first_poll() {
    let rt = Runtime::new().unwrap();
    let polled = Rc::new(Cell::new(false));
    let p = polled.clone();
    let err = rt.block_on(async move {
        let h = spawn(async move { p.set(true) });
        h.abort();
        assert!(h.is_finished());
        h.await.unwrap_err()
    });
    assert!(err.is_cancelled());
    assert!(!polled.get(), "an aborted task must never be polled");
}

#[test]
fn abort_after_a_pending_poll_drops_the_future() {
    let rt = Runtime::new().unwrap();
    let drops = Arc::new(Mutex::new(Vec::new()));
    let d = drops.clone();
    let err = rt.block_on(async move {
        let h = spawn(Tracked { drops: d });
        yield_now().await; // the task is polled once and stays pending
        yield_now().await;
        assert!(!h.is_finished());
        h.abort();
        h.await.unwrap_err()
    });
    assert!(err.is_cancelled());
    assert_eq!(*drops.lock().unwrap(), [thread::current().id()]);
}

#[test]
fn a_task_can_abort_itself() {
    let rt = Runtime::new().unwrap();
    let err = rt.block_on(async {
        let me: Rc<RefCell<Option<runtime::JoinHandle<()>>>> = Rc::default();
        let m = me.clone();
        let h = spawn(async move {
            loop {
                if let Some(h) = m.borrow().as_ref() {
                    h.abort();
                }
                yield_now().await;
            }
        });
        yield_now().await;
        *me.borrow_mut() = Some(h);
        yield_now().await;
        yield_now().await;
        let h = me.borrow_mut().take().unwrap();
        h.await.unwrap_err()
    });
    assert!(err.is_cancelled());
}

#[test]
fn futures_drop_once_on_the_owner_thread_including_at_shutdown() {
    let drops = Arc::new(Mutex::new(Vec::new()));
    let rt = Runtime::new().unwrap();
    let d = drops.clone();
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let s = slot.clone();
    let kept = rt.block_on(async move {
        // Completed, aborted, detached-pending and joined-pending tasks.
        let done = {
            let d = d.clone();
            spawn(async move {
                let _t = Tracked { drops: d };
            })
        };
        done.await.unwrap();
        spawn(Tracked { drops: d.clone() }).abort();
        drop(spawn(Tracked { drops: d.clone() }));
        let kept = spawn(Tracked { drops: d.clone() });
        drop(spawn(wait_flag(Rc::new(Cell::new(false)), s)));
        yield_now().await;
        Some(kept) // handed out (not awaited) to outlive the runtime
    });
    let kept = kept.unwrap();
    assert_eq!(drops.lock().unwrap().len(), 2);
    assert!(!kept.is_finished());
    // A waker kept past the runtime is moved to another thread and dropped there.
    let waker = slot.borrow_mut().take().unwrap();
    drop(rt);
    let me = thread::current().id();
    let all = drops.lock().unwrap().clone();
    assert_eq!(all.len(), 4, "every future dropped exactly once");
    assert!(all.iter().all(|t| *t == me), "always on the owner thread");
    assert!(
        kept.is_finished(),
        "shutdown completes the task as cancelled"
    );
    drop(kept);
    thread::spawn(move || {
        waker.wake_by_ref();
        let by_value = waker.clone();
        by_value.wake();
        drop(waker);
    })
    .join()
    .unwrap();
    assert_eq!(drops.lock().unwrap().len(), 4);
}

#[test]
fn shutdown_cancels_pending_tasks_and_handles_report_it() {
    let rt = Runtime::new().unwrap();
    let h = rt.spawn(std::future::pending::<()>());
    rt.block_on(yield_now());
    assert_eq!(rt.live_tasks(), 1);
    drop(rt);
    assert!(h.is_finished());
    let rt2 = Runtime::new().unwrap();
    assert!(rt2.block_on(h).unwrap_err().is_cancelled());
}

#[test]
fn panic_in_a_task_is_a_join_error_and_the_loop_goes_on() {
    let rt = Runtime::new().unwrap();
    let (err, after) = rt.block_on(async {
        let n = std::hint::black_box(7);
        let bad = spawn(async move { panic!("boom {n}") });
        let good = spawn(async {
            yield_now().await;
            5
        });
        (bad.await.unwrap_err(), good.await.unwrap())
    });
    assert_eq!(after, 5);
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "task panicked: boom 7");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");
}

#[test]
fn a_task_that_panics_while_another_holds_its_waker() {
    let rt = Runtime::new().unwrap();
    let slot: Rc<RefCell<Option<Waker>>> = Rc::default();
    let s = slot.clone();
    let err = rt.block_on(async move {
        let first = Rc::new(Cell::new(true));
        let h = spawn(poll_fn(move |cx| -> Poll<()> {
            if first.replace(false) {
                *s.borrow_mut() = Some(cx.waker().clone());
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                panic!("second poll")
            }
        }));
        let err = h.await.unwrap_err();
        // Wake the dead task, by reference and by value, then keep going.
        let w = slot.borrow_mut().take().unwrap();
        w.wake_by_ref();
        let by_value = w.clone();
        by_value.wake();
        yield_now().await;
        drop(w);
        err
    });
    assert!(err.is_panic());
    assert_eq!(rt.block_on(async { spawn(async { 1 }).await.unwrap() }), 1);
}

#[test]
fn panic_in_block_on_propagates_and_the_runtime_stays_usable() {
    let rt = Runtime::new().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { panic!("main") })));
    assert!(r.is_err());
    assert_eq!(rt.block_on(async { spawn(async { 2 }).await.unwrap() }), 2);
}

#[test]
fn wake_from_a_plain_thread() {
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
fn hundred_thousand_tasks_pass_a_token_around_a_ring() {
    const N: usize = 100_000;
    const LAPS: usize = 3;
    let rt = Runtime::new().unwrap();
    let total = rt.block_on(async {
        let token = Rc::new(Cell::new(0usize)); // the index of the task that holds it
        let wakers: Rc<RefCell<Vec<Option<Waker>>>> = Rc::new(RefCell::new(vec![None; N]));
        let passes = Rc::new(Cell::new(0usize));
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let (token, wakers, passes) = (token.clone(), wakers.clone(), passes.clone());
            let mut laps = 0;
            handles.push(spawn(poll_fn(move |cx| -> Poll<()> {
                if token.get() != i {
                    wakers.borrow_mut()[i] = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                laps += 1;
                passes.set(passes.get() + 1);
                let next = (i + 1) % N;
                token.set(next);
                if let Some(w) = wakers.borrow_mut()[next].take() {
                    w.wake();
                }
                if laps == LAPS {
                    Poll::Ready(())
                } else {
                    wakers.borrow_mut()[i] = Some(cx.waker().clone());
                    Poll::Pending
                }
            })));
        }
        for h in handles {
            h.await.unwrap();
        }
        passes.get()
    });
    assert_eq!(total, N * LAPS);
}

#[test]
fn not_send_futures_spawn() {
    let rt = Runtime::new().unwrap();
    let rc = Rc::new(RefCell::new(Vec::new()));
    let r = rc.clone();
    rt.block_on(async move {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let r = r.clone();
                spawn(async move {
                    yield_now().await;
                    r.borrow_mut().push(i);
                    Rc::new(i) // a !Send output too
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert_eq!(rc.borrow().len(), 10);
}

#[test]
fn wakers_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Waker>();
    // Like tokio's: `?` can carry it into `Box<dyn Error + Send + Sync>`.
    assert_send_sync::<JoinError>();
}

#[test]
fn nested_block_on_panics_with_advice() {
    let rt = Runtime::new().unwrap();
    let rt2 = Runtime::new().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(async { rt2.block_on(async {}) })
    }));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("cannot start a runtime from within a runtime"),
        "{msg}"
    );
    assert!(msg.contains(".await"), "{msg}");
    // Both still work afterwards.
    rt.block_on(async {});
    rt2.block_on(async {});
}

#[test]
fn spawn_outside_a_runtime_panics_with_advice() {
    let r = catch_unwind(|| drop(spawn(async {})));
    let payload = r.unwrap_err();
    let msg = payload.downcast_ref::<String>().unwrap();
    assert!(msg.contains("Runtime::block_on"), "{msg}");
    assert!(msg.contains("#[runtime::main]"), "{msg}");
}

#[test]
fn join_error_converts_to_io_error() {
    let rt = Runtime::new().unwrap();
    let err = rt.block_on(async {
        let h = spawn(async {});
        h.abort();
        h.await.unwrap_err()
    });
    assert_eq!(format!("{err:?}"), "JoinError::Cancelled");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), std::io::ErrorKind::Interrupted);
    assert_eq!(io.to_string(), "task was cancelled");
    let inner = io.into_inner().expect("the JoinError is the source");
    assert!(inner.downcast::<JoinError>().unwrap().is_cancelled());
}

#[test]
fn a_panic_join_error_travels_as_a_boxed_sync_error_with_its_payload() {
    use std::error::Error;
    let rt = Runtime::new().unwrap();
    let r: Result<(), Box<dyn Error + Send + Sync>> = rt.block_on(async {
        spawn(async { std::panic::panic_any(String::from("owned boom")) }).await?;
        Ok(())
    });
    let err = r.unwrap_err();
    assert_eq!(err.to_string(), "task panicked: owned boom");
    let join = err.downcast::<JoinError>().unwrap();
    assert!(join.is_panic() && !join.is_cancelled());
    assert_eq!(format!("{join:?}"), "JoinError::Panic(\"owned boom\")");
    // A JoinError can be shared between threads and read from both.
    let join = Arc::new(*join);
    let j2 = join.clone();
    let from_thread = thread::spawn(move || j2.to_string()).join().unwrap();
    assert_eq!(from_thread, join.to_string());
    let payload = Arc::into_inner(join).unwrap().into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "owned boom");
    // io::Error::other takes it as its source.
    let rt = Runtime::new().unwrap();
    let err = rt.block_on(async { spawn(async { panic!("again") }).await.unwrap_err() });
    let io = std::io::Error::other(err);
    assert_eq!(io.to_string(), "task panicked: again");
}

#[test]
fn one_runtime_per_thread_on_many_threads() {
    let threads: Vec<_> = (0..4)
        .map(|i| {
            thread::spawn(move || {
                let rt = Runtime::new().unwrap();
                rt.block_on(async move { spawn(async move { i * 2 }).await.unwrap() })
            })
        })
        .collect();
    let sum: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sum, 12);
}

#[test]
fn futures_dropped_at_shutdown_still_see_their_reactor() {
    struct HoldsRegistration {
        reg: Option<reactor::Registration>,
        saw_reactor: Rc<Cell<bool>>,
        _pipe: (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
    }
    impl Future for HoldsRegistration {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl Drop for HoldsRegistration {
        fn drop(&mut self) {
            self.saw_reactor.set(reactor::Handle::try_current().is_ok());
            drop(self.reg.take()); // deregisters while the reactor is alive
        }
    }
    let rt = Runtime::new().unwrap();
    let saw = Rc::new(Cell::new(false));
    let s = saw.clone();
    rt.block_on(async move {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let reg = reactor::Handle::current()
            .register(std::os::fd::AsRawFd::as_raw_fd(&a))
            .unwrap();
        assert_eq!(reactor::Handle::current().registrations(), 1);
        drop(spawn(HoldsRegistration {
            reg: Some(reg),
            saw_reactor: s,
            _pipe: (a.into(), b.into()),
        }));
        yield_now().await;
    });
    drop(rt);
    assert!(saw.get(), "the reactor is current while task futures drop");
}

#[test]
fn small_event_interval_and_budget_still_run_everything() {
    let rt = runtime::Builder::new()
        .event_interval(1)
        .budget(1)
        .build()
        .unwrap();
    let sum = rt.block_on(async {
        let hs: Vec<_> = (0..100u32)
            .map(|i| {
                spawn(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 4950);
}

/// A waker that counts its wakes; its `Arc`'s strong count tells how many clones live.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_thousand_handles_awaited_at_once_each_wake_their_own_joiner() {
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
    let rt = Runtime::new().unwrap();
    let counter = Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
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
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_foreign_joiner_is_woken_once_when_the_task_completes() {
    let rt = Runtime::new().unwrap();
    let counter = Arc::new(CountingWaker(std::sync::atomic::AtomicUsize::new(0)));
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
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(
        Arc::strong_count(&counter),
        2,
        "the wake consumed the stored clone"
    );
}

#[test]
fn many_rounds_of_remote_wakes_from_two_threads_reach_every_task() {
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
