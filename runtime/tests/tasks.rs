//! Tasks and `JoinHandle`s on one runtime: spawn, join, abort, detach, shutdown, and
//! panics in task bodies.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let handle = rt.spawn(async { "later" });
    assert!(!handle.is_finished());
    assert_eq!(rt.block_on(handle).unwrap(), "later");
}

#[test]
fn detached_task_still_runs() {
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| rt.block_on(async { panic!("main") })));
    assert!(r.is_err());
    assert_eq!(rt.block_on(async { spawn(async { 2 }).await.unwrap() }), 2);
}

#[test]
fn hundred_thousand_tasks_pass_a_token_around_a_ring() {
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
fn join_error_converts_to_io_error() {
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
    let _watchdog = common::watchdog();
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
