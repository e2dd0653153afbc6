//! Panics at a task's completion edges: in the future's `Drop`, in the output's `Drop`,
//! and in the waker of whoever awaits the task, with and without a live `JoinHandle`,
//! on a running loop and while the runtime is dropped. None of them may escape the
//! loop, leave a task half-finished, or keep the runtime's drop from ending; a panic in
//! a future's drop is reported to its `JoinHandle`.

mod common;

use std::cell::{Cell, RefCell};
use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use runtime::{JoinError, JoinHandle, Runtime, spawn, yield_now};

/// Counts its drops, then panics with its message, if it has one.
#[derive(Debug)]
struct DropProbe {
    drops: Rc<Cell<usize>>,
    panic: Option<&'static str>,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some(message) = self.panic {
            panic!("{message}");
        }
    }
}

fn probe(drops: &Rc<Cell<usize>>, panic: Option<&'static str>) -> DropProbe {
    DropProbe {
        drops: drops.clone(),
        panic,
    }
}

/// `fut`, holding `guard` until the future itself is dropped (an async block would
/// drop its locals in its last poll instead).
fn holding<F: Future + 'static>(guard: DropProbe, fut: F) -> impl Future<Output = F::Output> {
    let mut fut = Box::pin(fut);
    poll_fn(move |cx| {
        let _held = &guard;
        fut.as_mut().poll(cx)
    })
}

fn message(err: JoinError) -> String {
    assert!(err.is_panic(), "{err:?}");
    let payload = err.into_panic();
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(payload) => *payload.downcast::<String>().expect("a string payload"),
    }
}

/// A joiner's waker: counts wakes, and panics in `wake` or in the drop of its last
/// clone, as told.
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
        self.wakes.fetch_add(1, Ordering::SeqCst);
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

/// Polls `handle` once with `waker`, which it stores while the task runs.
fn poll_with<T>(handle: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(waker))
}

/// The loop still runs tasks.
async fn the_loop_goes_on() {
    let task = spawn(async {
        yield_now().await;
        "still running"
    });
    assert_eq!(task.await.unwrap(), "still running");
}

#[test]
fn a_future_panicking_in_drop_when_aborted_is_a_panic_join_error() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let err = rt.block_on(async move {
        let task = spawn(holding(
            probe(&d, Some("aborted, then panicked")),
            pending::<()>(),
        ));
        yield_now().await;
        task.abort();
        let err = task.await.unwrap_err();
        the_loop_goes_on().await;
        err
    });
    assert_eq!(drops.get(), 1);
    assert_eq!(message(err), "aborted, then panicked");
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn a_future_and_its_output_both_panicking_in_drop_with_a_handle() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let err = rt.block_on(async move {
        let output = probe(&d, Some("the output's drop panics"));
        let task = spawn(holding(
            probe(&d, Some("the future's drop panics")),
            async move { output },
        ));
        let err = task.await.unwrap_err();
        the_loop_goes_on().await;
        err
    });
    // The future's panic replaced the output, which was dropped (and panicked) too.
    assert_eq!(drops.get(), 2);
    assert_eq!(message(err), "the future's drop panics");
    assert_eq!(rt.live_tasks(), 0);
    drop(rt);
}

#[test]
fn a_future_and_its_output_both_panicking_in_drop_without_a_handle() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    rt.block_on(async move {
        let output = probe(&d, Some("the output's drop panics"));
        drop(spawn(holding(
            probe(&d, Some("the future's drop panics")),
            async move { output },
        )));
        while d.get() < 2 {
            yield_now().await;
        }
        the_loop_goes_on().await;
    });
    assert_eq!(drops.get(), 2);
    assert_eq!(rt.live_tasks(), 0);
    // The runtime's drop ends: no task was left half-finished.
    drop(rt);
}

#[test]
fn an_output_panicking_in_drop_is_swallowed_when_its_handle_drops() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    rt.block_on(async move {
        let probed = d.clone();
        let task = spawn(async move { probe(&probed, Some("dropped with its handle")) });
        while !task.is_finished() {
            yield_now().await;
        }
        drop(task);
        assert_eq!(d.get(), 1);
        the_loop_goes_on().await;
    });
    // Without a handle, at completion.
    let d = drops.clone();
    rt.block_on(async move {
        let probed = d.clone();
        drop(spawn(async move {
            probe(&probed, Some("dropped at completion"))
        }));
        while d.get() < 2 {
            yield_now().await;
        }
        the_loop_goes_on().await;
    });
    assert_eq!(drops.get(), 2);
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn a_joiner_panicking_in_wake_when_the_task_completes() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let joiner = Joiner::new(true, false);
    let out = rt.block_on(async {
        let mut task = spawn(async {
            yield_now().await;
            7
        });
        assert!(poll_with(&mut task, &Waker::from(joiner.clone())).is_pending());
        while !task.is_finished() {
            yield_now().await;
        }
        the_loop_goes_on().await;
        task.await.unwrap()
    });
    assert_eq!(out, 7);
    assert_eq!(joiner.wakes.load(Ordering::SeqCst), 1);
    assert_eq!(
        Arc::strong_count(&joiner),
        1,
        "the stored clone was released"
    );
}

#[test]
fn a_joiner_panicking_in_drop_when_its_handle_drops() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let completed = Rc::new(Cell::new(false));
    let c = completed.clone();
    rt.block_on(async move {
        let mut task = spawn(async move {
            yield_now().await;
            c.set(true);
        });
        // The handle keeps the last clone of the joiner's waker, then is dropped.
        assert!(poll_with(&mut task, &Waker::from(Joiner::new(false, true))).is_pending());
        drop(task);
        the_loop_goes_on().await;
    });
    assert!(completed.get(), "the detached task ran to the end");
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn panics_in_drops_while_the_runtime_is_dropped() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let joiner = Joiner::new(true, false);
    let d = drops.clone();
    let (joined, mut awaited) = rt.block_on(async {
        // Detached, and joined: both futures panic when dropped.
        drop(spawn(holding(probe(&d, Some("detached")), pending::<()>())));
        let joined = spawn(holding(probe(&d, Some("joined")), pending::<()>()));
        // Awaited by a joiner whose wake panics.
        let mut awaited = spawn(pending::<()>());
        assert!(poll_with(&mut awaited, &Waker::from(joiner.clone())).is_pending());
        // A task holding the handle of a finished task whose output panics in drop.
        let finished = spawn(async move { probe(&d, Some("an output")) });
        let holder = spawn(async move {
            let _keeps = finished;
            pending::<()>().await
        });
        drop(holder);
        yield_now().await;
        (joined, awaited)
    });
    assert_eq!(rt.live_tasks(), 4);
    drop(rt);
    assert_eq!(
        drops.get(),
        3,
        "every future and the held output were dropped"
    );
    assert_eq!(joiner.wakes.load(Ordering::SeqCst), 1);
    let after = Runtime::new().unwrap();
    assert_eq!(message(after.block_on(joined).unwrap_err()), "joined");
    let err = after
        .block_on(poll_fn(|cx| poll_with(&mut awaited, cx.waker())))
        .unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn a_runtime_whose_loop_saw_a_double_panic_still_drops() {
    let _watchdog = common::watchdog();
    let rt = Runtime::new().unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let waiting = Rc::new(RefCell::new(None));
    let w = waiting.clone();
    rt.block_on(async move {
        // One task is left pending, another finishes with a double panic in its drops.
        *w.borrow_mut() = Some(spawn(holding(probe(&d, None), pending::<()>())));
        let output = probe(&d, Some("the output"));
        let task = spawn(holding(
            probe(&d, Some("the future")),
            async move { output },
        ));
        assert!(task.await.unwrap_err().is_panic());
    });
    assert_eq!(rt.live_tasks(), 1);
    // Shutdown drops the pending one, and ends.
    drop(rt);
    assert_eq!(drops.get(), 3);
    let waiting = waiting.borrow_mut().take().unwrap();
    assert!(waiting.is_finished());
}
