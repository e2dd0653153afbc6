//! `Sleep`, `timeout` and `interval` on a minimal driver: enter a `Handle`, poll, sleep
//! the thread until the next deadline, fire, poll again.
//!
//! Time is only ever checked from below: a sleep of 5 ms never completes before 5 ms.

use std::future::{Future, pending, ready};
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use timer::{Elapsed, Handle, sleep, sleep_until, timeout, timeout_at};

/// Counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `fut` to completion on `handle`'s heap. Panics if it waits with no timer set.
fn block_on<F: Future>(handle: &Handle, fut: F) -> F::Output {
    let _guard = handle.enter();
    let counter = Arc::new(Counter::default());
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let next = handle
            .next_deadline()
            .expect("the future waits, but no timer is set");
        thread::sleep(next.saturating_duration_since(Instant::now()));
        let woken = counter.0.load(Ordering::SeqCst);
        assert!(handle.fire_expired(Instant::now()) >= 1);
        assert!(
            counter.0.load(Ordering::SeqCst) > woken,
            "firing woke nobody"
        );
    }
}

/// Polls `fut` once with a counting waker, inside `handle`.
fn poll_once<F: Future + Unpin>(
    handle: &Handle,
    fut: &mut F,
    counter: &Arc<Counter>,
) -> Poll<F::Output> {
    let _guard = handle.enter();
    let waker = Waker::from(counter.clone());
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[test]
fn a_sleep_never_completes_early() {
    let handle = Handle::new();
    for d in [1, 5, 2] {
        let start = Instant::now();
        block_on(&handle, sleep(ms(d)));
        assert!(start.elapsed() >= ms(d));
        assert!(handle.is_empty());
    }
    let deadline = Instant::now() + ms(3);
    block_on(&handle, sleep_until(deadline));
    assert!(Instant::now() >= deadline);
}

#[test]
fn an_elapsed_sleep_is_ready_at_once_without_a_timer() {
    let handle = Handle::new();
    let counter = Arc::default();
    let mut past = sleep_until(Instant::now() - ms(1));
    assert_eq!(poll_once(&handle, &mut past, &counter), Poll::Ready(()));
    assert!(past.is_elapsed());
    let mut zero = sleep(Duration::ZERO);
    assert_eq!(poll_once(&handle, &mut zero, &counter), Poll::Ready(()));
    assert_eq!(handle.len(), 0);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_sleep_registers_on_first_poll_and_dropping_it_removes_the_entry() {
    let handle = Handle::new();
    let counter = Arc::default();
    let mut s = sleep(Duration::from_secs(3600));
    assert_eq!(handle.len(), 0, "creating a sleep sets no timer");
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    assert_eq!(handle.len(), 1);
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    assert_eq!(handle.len(), 1, "a second poll sets no second timer");
    assert_eq!(handle.next_deadline(), Some(s.deadline()));
    drop(s);
    assert_eq!(handle.len(), 0);
    assert_eq!(handle.next_deadline(), None);
}

#[test]
fn firing_wakes_the_sleep_once_and_it_is_ready_after() {
    let handle = Handle::new();
    let counter = Arc::new(Counter::default());
    let mut s = sleep(ms(1));
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    let deadline = s.deadline();
    assert_eq!(handle.fire_expired(deadline - Duration::from_nanos(1)), 0);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    assert_eq!(handle.fire_expired(deadline), 1);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll_once(&handle, &mut s, &counter), Poll::Ready(()));
    assert!(s.is_elapsed());
}

#[test]
fn reset_moves_the_entry_in_place() {
    let handle = Handle::new();
    let counter = Arc::default();
    let mut s = sleep(Duration::from_secs(3600));
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    let deadline = Instant::now() + ms(3);
    std::pin::Pin::new(&mut s).reset(deadline);
    assert_eq!(s.deadline(), deadline);
    assert_eq!(handle.len(), 1);
    assert_eq!(handle.next_deadline(), Some(deadline));
    block_on(&handle, &mut s);
    assert!(Instant::now() >= deadline);
    assert!(handle.is_empty());

    // A completed sleep that is reset waits again.
    let deadline = Instant::now() + ms(2);
    std::pin::Pin::new(&mut s).reset(deadline);
    assert!(!s.is_elapsed());
    block_on(&handle, &mut s);
    assert!(Instant::now() >= deadline);
}

#[test]
fn an_overflowing_sleep_saturates() {
    let handle = Handle::new();
    let counter = Arc::default();
    let mut s = sleep(Duration::MAX);
    assert!(s.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 20));
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    let mut t = timeout(Duration::MAX, pending::<()>());
    assert!(poll_once(&handle, &mut t, &counter).is_pending());
    assert_eq!(handle.len(), 2);
}

#[test]
#[should_panic(expected = "there is no timer running on this thread")]
fn polling_a_sleep_outside_a_runtime_panics_clearly() {
    // Creating it is fine; polling it is not.
    let mut s = pin!(sleep(Duration::from_secs(1)));
    let _ = s.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

#[test]
fn the_current_handle_is_scoped_by_its_guard() {
    assert!(Handle::try_current().is_none());
    let outer = Handle::new();
    let inner = Handle::new();
    let counter = Arc::default();
    {
        let _a = outer.enter();
        assert!(Handle::try_current().is_some());
        {
            let _b = inner.enter();
            let mut s = sleep(ms(50));
            // poll_once enters `inner` again; a nested guard restores it.
            assert!(poll_once(&inner, &mut s, &counter).is_pending());
            assert_eq!(Handle::current().len(), 1);
            std::mem::forget(s);
        }
        assert_eq!(Handle::current().len(), 0, "`outer` is current again");
    }
    assert!(Handle::try_current().is_none());
    assert_eq!(inner.len(), 1);
}

/// Sets and cancels a timer from inside `wake`, as a task polled at once would.
struct Reentrant {
    seen: AtomicUsize,
}

impl Wake for Reentrant {
    fn wake(self: Arc<Self>) {
        let handle = Handle::current();
        let mut s = pin!(sleep(Duration::from_secs(60)));
        assert!(
            s.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        self.seen.store(handle.len(), Ordering::SeqCst);
    }
}

#[test]
fn a_waker_may_use_the_timer_while_firing() {
    let handle = Handle::new();
    let _guard = handle.enter();
    let waker = Waker::from(Arc::new(Reentrant {
        seen: AtomicUsize::new(0),
    }));
    let reentrant = Arc::new(Reentrant {
        seen: AtomicUsize::new(0),
    });
    let waker2 = Waker::from(reentrant.clone());
    let mut a = pin!(sleep(ms(1)));
    let mut b = pin!(sleep(ms(1)));
    assert!(
        a.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    assert!(
        b.as_mut()
            .poll(&mut Context::from_waker(&waker2))
            .is_pending()
    );
    let deadline = a.deadline().max(b.deadline());
    assert_eq!(handle.fire_expired(deadline), 2);
    // The second wake saw its own new sleep; the first one's was dropped again.
    assert_eq!(reentrant.seen.load(Ordering::SeqCst), 1);
    assert!(handle.is_empty());
}

#[test]
fn timeout_when_the_future_wins() {
    let handle = Handle::new();
    assert_eq!(
        block_on(&handle, timeout(Duration::from_secs(3600), ready(7))),
        Ok(7)
    );
    let start = Instant::now();
    let r = block_on(&handle, timeout(Duration::from_secs(3600), sleep(ms(2))));
    assert_eq!(r, Ok(()));
    assert!(start.elapsed() >= ms(2));
    assert!(handle.is_empty(), "the timeout's timer left with it");
}

#[test]
fn timeout_when_the_deadline_wins() {
    let handle = Handle::new();
    let start = Instant::now();
    let r: Result<(), Elapsed> = block_on(&handle, timeout(ms(3), pending::<()>()));
    assert!(r.is_err());
    assert!(start.elapsed() >= ms(3));
    let r = block_on(&handle, timeout(ms(1), sleep(Duration::from_secs(3600))));
    assert!(r.is_err());
    assert!(
        handle.is_empty(),
        "the inner sleep was dropped with the timeout"
    );
}

#[test]
fn timeout_whose_deadline_has_passed() {
    let handle = Handle::new();
    let counter = Arc::default();
    let past = Instant::now() - ms(1);
    // A ready future still wins.
    let mut t = timeout_at(past, ready("done"));
    assert_eq!(
        poll_once(&handle, &mut t, &counter),
        Poll::Ready(Ok("done"))
    );
    // A pending one loses at once, with no timer set.
    let mut t = timeout_at(past, pending::<()>());
    assert!(matches!(
        poll_once(&handle, &mut t, &counter),
        Poll::Ready(Err(_))
    ));
    let mut t = timeout(Duration::ZERO, pending::<()>());
    assert!(matches!(
        poll_once(&handle, &mut t, &counter),
        Poll::Ready(Err(_))
    ));
    assert_eq!(handle.len(), 0);
}

#[test]
fn elapsed_is_a_useful_error() {
    let handle = Handle::new();
    let e = block_on(&handle, timeout(Duration::ZERO, pending::<()>())).unwrap_err();
    assert!(e.to_string().contains("deadline has elapsed"), "{e}");
    let copy = e;
    assert_eq!(copy, e);
    let io: io::Error = e.into();
    assert_eq!(io.kind(), io::ErrorKind::TimedOut);
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(!boxed.to_string().is_empty());
}

#[test]
fn a_sleep_first_polled_after_its_deadline_is_ready_without_a_timer() {
    let handle = Handle::new();
    let counter = Arc::new(Counter::default());
    let mut s = sleep(ms(1));
    thread::sleep(ms(2));
    // The deadline has passed: ready on the first poll, with no heap entry and so no
    // trip through the loop.
    assert_eq!(poll_once(&handle, &mut s, &counter), Poll::Ready(()));
    assert!(Instant::now() >= s.deadline());
    assert!(handle.is_empty());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}

#[test]
fn reset_before_the_first_poll_sets_the_new_deadline() {
    let handle = Handle::new();
    let counter = Arc::default();
    let mut s = sleep(Duration::from_secs(3600));
    let deadline = Instant::now() + Duration::from_secs(60);
    std::pin::Pin::new(&mut s).reset(deadline);
    assert_eq!(handle.len(), 0);
    assert!(poll_once(&handle, &mut s, &counter).is_pending());
    assert_eq!(handle.next_deadline(), Some(deadline));
    assert!(s.is_registered_in(&handle));
    assert!(!s.is_registered_in(&Handle::new()));
    // Reset into the past: the entry moves to the top and fires at once.
    std::pin::Pin::new(&mut s).reset(Instant::now() - ms(1));
    assert_eq!(handle.fire_expired(Instant::now()), 1);
    assert_eq!(poll_once(&handle, &mut s, &counter), Poll::Ready(()));
    assert!(!s.is_registered_in(&handle));
}

#[test]
fn many_sleeps_wake_in_deadline_order() {
    let handle = Handle::new();
    let counters: Vec<Arc<Counter>> = (0..6).map(|_| Arc::default()).collect();
    let t0 = Instant::now();
    let offsets = [7u64, 1, 5, 3, 9, 2];
    let mut sleeps: Vec<_> = offsets.iter().map(|&o| sleep_until(t0 + ms(o))).collect();
    for (s, c) in sleeps.iter_mut().zip(&counters) {
        assert!(poll_once(&handle, s, c).is_pending());
    }
    let mut order = Vec::new();
    while let Some(next) = handle.next_deadline() {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        handle.fire_expired(next);
        assert!(Instant::now() >= next);
        for (i, c) in counters.iter().enumerate() {
            if c.0.load(Ordering::SeqCst) == 1 && !order.contains(&offsets[i]) {
                order.push(offsets[i]);
            }
        }
    }
    assert_eq!(order, [1, 2, 3, 5, 7, 9]);
}

#[test]
fn a_sleep_is_small() {
    // The deadline, the heap's handle and one key; no flags beside them.
    let expected = size_of::<Instant>() + size_of::<Handle>() + 8;
    assert_eq!(size_of::<timer::Sleep>(), expected);
}

/// Panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics");
    }
}

#[test]
fn a_panicking_waker_leaves_no_other_timer_unwoken() {
    let handle = Handle::new();
    let _guard = handle.enter();
    let counter = Arc::new(Counter::default());
    let good = Waker::from(counter.clone());
    let bad = Waker::from(Arc::new(PanickingWaker));
    let t0 = Instant::now() + ms(1000);
    // Good, bad, good, bad, good: the bad ones fire between the good ones.
    let mut sleeps: Vec<_> = (0..5).map(|i| Box::pin(sleep_until(t0 + ms(i)))).collect();
    for (i, s) in sleeps.iter_mut().enumerate() {
        let w = if i % 2 == 0 { &good } else { &bad };
        assert!(s.as_mut().poll(&mut Context::from_waker(w)).is_pending());
    }
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handle.fire_expired(t0 + ms(10))
    }));
    let payload = r.expect_err("the waker's panic goes on after the others are woken");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"this waker panics"));
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        3,
        "every good waker was woken"
    );
    assert!(handle.is_empty());
    // The heap is still usable.
    let mut later = pin!(sleep_until(t0 + ms(20)));
    assert!(
        later
            .as_mut()
            .poll(&mut Context::from_waker(&good))
            .is_pending()
    );
    assert_eq!(handle.fire_expired(t0 + ms(20)), 1);
    assert_eq!(counter.0.load(Ordering::SeqCst), 4);
}
