//! What outlives a dropped runtime fails clearly and never hangs: sleeps, timeouts and
//! intervals panic with a message that says their runtime was dropped, signal listeners
//! end (`None`, or an error from `ctrl_c`), join handles report cancellation, and tasks
//! of another runtime that wait on any of them are woken to see it.
//!
//! Each test runs on its own thread under a watchdog, and what it awaits from the dead
//! runtime runs in a second runtime under a timeout, so that a regression fails instead
//! of hanging the suite.

use std::future::{Future, pending, poll_fn};
use std::task::Poll;

use runtime::signal::{SignalKind, ctrl_c, signal};
use runtime::time::{interval, sleep, timeout};
use runtime::{BackendKind, Runtime};

#[path = "../../timer/tests/dropped/mod.rs"]
mod dropped;

use dropped::{HANG, HOUR, assert_says_dropped, bounded, message_of};

fn runtime(kind: BackendKind) -> Runtime {
    runtime::Builder::new().backend(kind).build().unwrap()
}

/// Runs `fut` on a fresh runtime, failing with `what` if it takes longer than `HANG`.
fn in_other_runtime<F: Future>(kind: BackendKind, what: &str, fut: F) -> F::Output {
    runtime(kind).block_on(async {
        timeout(HANG, fut)
            .await
            .unwrap_or_else(|_| panic!("{what} of a dropped runtime hung"))
    })
}

/// Polls `fut` once, inside `rt`, and says whether it was pending.
fn poll_once_in<F: Future + Unpin>(rt: &Runtime, fut: &mut F) -> bool {
    rt.block_on(poll_fn(|cx| {
        Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx).is_pending())
    }))
}

/// Awaits `fut` in a task of the current runtime and returns the task's panic message.
async fn panic_of<F: Future + 'static>(fut: F) -> String {
    let err = match runtime::spawn(fut).await {
        Ok(_) => panic!("expected the task to panic"),
        Err(err) => err,
    };
    assert!(err.is_panic(), "{err}");
    message_of(err.into_panic())
}

fn sleep_timeout_and_interval_panic(kind: BackendKind) {
    bounded("sleep_timeout_and_interval_panic", move || {
        let a = runtime(kind);
        let mut sleeping = Box::pin(sleep(HOUR));
        let mut limited = Box::pin(timeout(HOUR, pending::<()>()));
        let mut ticks = interval(HOUR);
        assert!(poll_once_in(&a, &mut sleeping));
        assert!(poll_once_in(&a, &mut limited));
        a.block_on(ticks.tick()); // the first tick is at once
        assert!(poll_once_in(&a, &mut Box::pin(ticks.tick())));
        drop(a);
        in_other_runtime(kind, "a sleep", async move {
            assert_says_dropped(&panic_of(sleeping).await);
            assert_says_dropped(&panic_of(limited).await);
            assert_says_dropped(&panic_of(async move { ticks.tick().await }).await);
        });
    });
}

fn a_sleep_that_fired_first_completes(kind: BackendKind) {
    bounded("a_sleep_that_fired_first_completes", move || {
        let a = runtime(kind);
        let mut short = Box::pin(sleep(HOUR));
        assert!(poll_once_in(&a, &mut short));
        // Make it due, and let the first runtime fire it without polling it again: one
        // turn of its loop (a yield) fires every timer that is due.
        short.as_mut().reset(std::time::Instant::now());
        a.block_on(runtime::yield_now());
        drop(a);
        in_other_runtime(kind, "a fired sleep", short);
    });
}

fn a_task_waiting_on_a_sleep_is_woken(kind: BackendKind) {
    bounded("a_task_waiting_on_a_sleep_is_woken", move || {
        let a = runtime(kind);
        let mut sleeping = Box::pin(sleep(HOUR));
        assert!(poll_once_in(&a, &mut sleeping));
        in_other_runtime(kind, "a task waiting on a sleep", async move {
            // This runtime's task now waits on the first runtime's timer.
            let waiting = runtime::spawn(sleeping);
            runtime::yield_now().await;
            runtime::yield_now().await;
            assert!(!waiting.is_finished());
            drop(a);
            let err = waiting.await.expect_err("the sleep cannot complete");
            assert!(err.is_panic(), "{err}");
        });
    });
}

fn signal_listener_ends(kind: BackendKind) {
    bounded("signal_listener_ends", move || {
        let a = runtime(kind);
        let mut listener = a
            .block_on(async { signal(SignalKind::user_defined2()) })
            .unwrap();
        drop(a);
        // A delivery after the drop still reaches the listener's pipe; it does not
        // matter: no runtime can report it.
        // SAFETY: `raise` has no memory-safety preconditions, and the listener above
        // installed a handler for SIGUSR2, so its default action does not run.
        assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0);
        in_other_runtime(kind, "a signal listener", async {
            assert_eq!(listener.recv().await, None);
            assert_eq!(listener.recv().await, None, "and it stays ended");
        });
    });
}

fn ctrl_c_is_an_error(kind: BackendKind) {
    bounded("ctrl_c_is_an_error", move || {
        let a = runtime(kind);
        let mut waiting = Box::pin(ctrl_c());
        assert!(poll_once_in(&a, &mut waiting), "the listener is set up");
        drop(a);
        in_other_runtime(kind, "ctrl_c", async {
            let err = waiting.await.expect_err("ctrl_c of a dropped runtime");
            assert!(err.to_string().contains("has been dropped"), "{err}");
        });
    });
}

fn join_handle_reports_cancellation(kind: BackendKind) {
    bounded("join_handle_reports_cancellation", move || {
        let a = runtime(kind);
        let never = a.spawn(pending::<()>());
        let started = a.spawn(async { sleep(HOUR).await });
        a.block_on(runtime::yield_now());
        drop(a);
        in_other_runtime(kind, "a join handle", async {
            assert!(never.await.unwrap_err().is_cancelled());
            assert!(started.await.unwrap_err().is_cancelled());
        });
    });
}

macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod epoll {
            $( #[test] fn $name() { super::$name(super::BackendKind::Epoll) } )*
        }
        mod poll {
            $( #[test] fn $name() { super::$name(super::BackendKind::Poll) } )*
        }
    };
}

per_backend!(
    sleep_timeout_and_interval_panic,
    a_sleep_that_fired_first_completes,
    a_task_waiting_on_a_sleep_is_woken,
    signal_listener_ends,
    ctrl_c_is_an_error,
    join_handle_reports_cancellation,
);
