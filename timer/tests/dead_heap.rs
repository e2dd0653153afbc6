//! Timers whose heap was shut down (their runtime was dropped): a poll panics with a
//! message that says so, instead of waiting forever; waiting tasks are woken to see it.

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use timer::{Handle, interval, sleep, timeout};

mod dropped;

use dropped::{HOUR, assert_says_dropped, message_of};

#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Counter {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs `f`, which must panic, and returns the panic's message.
fn panic_message(f: impl FnOnce()) -> String {
    message_of(catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic"))
}

#[test]
fn a_pending_sleep_is_woken_then_panics() {
    let timers = Handle::new();
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut sleep = Box::pin(sleep(HOUR));
    {
        let _guard = timers.enter();
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(timers.len(), 1);
    timers.shutdown();
    assert!(timers.is_shut_down());
    assert_eq!(
        counter.count(),
        1,
        "the waiting task is woken by the shutdown"
    );
    // Polled anywhere now (here with no heap current at all), it panics.
    assert_says_dropped(&panic_message(|| {
        let _ = sleep.as_mut().poll(&mut cx);
    }));
    // Polled with another, live heap current, it still panics: its timer is in the
    // dead one, and nothing there will ever fire.
    let other = Handle::new();
    let _guard = other.enter();
    assert_says_dropped(&panic_message(|| {
        let _ = sleep.as_mut().poll(&mut cx);
    }));
    assert!(other.is_empty(), "nothing moved to the live heap");
    drop(sleep);
    assert!(timers.is_empty(), "dropping the sleep removes its entry");
    // A second shutdown has no one left to wake.
    timers.shutdown();
    assert_eq!(counter.count(), 1);
}

#[test]
fn a_sleep_that_fired_before_the_shutdown_completes() {
    let timers = Handle::new();
    let mut cx = Context::from_waker(Waker::noop());
    let mut sleep = Box::pin(sleep(HOUR));
    {
        let _guard = timers.enter();
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
    }
    // Due now: the heap fires it (the loop would), and nobody polls it before the end.
    let now = Instant::now();
    sleep.as_mut().reset(now);
    assert_eq!(timers.fire_expired(now), 1);
    timers.shutdown();
    assert_eq!(sleep.as_mut().poll(&mut cx), Poll::Ready(()));
    assert!(sleep.is_elapsed());
}

#[test]
fn a_new_sleep_on_a_shut_down_heap_panics() {
    let timers = Handle::new();
    timers.shutdown();
    let _guard = timers.enter();
    let mut cx = Context::from_waker(Waker::noop());
    let mut sleep = Box::pin(sleep(HOUR));
    assert_says_dropped(&panic_message(|| {
        let _ = sleep.as_mut().poll(&mut cx);
    }));
    assert!(timers.is_empty());
    // A sleep already due needs no heap, dead or alive.
    let mut due = Box::pin(timer::sleep(Duration::ZERO));
    assert_eq!(due.as_mut().poll(&mut cx), Poll::Ready(()));
}

#[test]
fn a_reset_sleep_of_a_shut_down_heap_panics() {
    let timers = Handle::new();
    let mut cx = Context::from_waker(Waker::noop());
    let mut sleep = Box::pin(sleep(HOUR));
    {
        let _guard = timers.enter();
        assert!(sleep.as_mut().poll(&mut cx).is_pending());
    }
    timers.shutdown();
    sleep.as_mut().reset(Instant::now() + HOUR);
    assert_says_dropped(&panic_message(|| {
        let _ = sleep.as_mut().poll(&mut cx);
    }));
}

#[test]
fn timeout_and_interval_of_a_shut_down_heap_panic() {
    let timers = Handle::new();
    let mut cx = Context::from_waker(Waker::noop());
    let mut limited = Box::pin(timeout(HOUR, pending::<()>()));
    let mut ticks = interval(HOUR);
    {
        let _guard = timers.enter();
        assert!(limited.as_mut().poll(&mut cx).is_pending());
        assert!(
            ticks.poll_tick(&mut cx).is_ready(),
            "the first tick is at once"
        );
        assert!(ticks.poll_tick(&mut cx).is_pending());
    }
    timers.shutdown();
    assert_says_dropped(&panic_message(|| {
        let _ = limited.as_mut().poll(&mut cx);
    }));
    assert_says_dropped(&panic_message(|| {
        let _ = ticks.poll_tick(&mut cx);
    }));
    // A timeout whose future is ready wins without looking at its timer.
    let mut ready = Box::pin(timeout(HOUR, std::future::ready(5)));
    {
        let _guard = timers.enter();
        assert_eq!(Pin::new(&mut ready).poll(&mut cx), Poll::Ready(Ok(5)));
    }
}
