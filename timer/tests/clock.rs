//! The paused clock, driven by hand: every timer measures from the heap's clock, which
//! stands still while paused, moves only with `advance`, and goes on from there after a
//! resume. No test here sleeps for the durations it sets.

use std::future::{Future, pending};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use timer::{CommonTimeout, Handle, interval, sleep, sleep_until, timeout};

const HOUR: Duration = Duration::from_secs(3600);

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// A current heap whose clock is paused.
fn paused() -> (Handle, timer::EnterGuard) {
    let timers = Handle::new();
    let guard = timers.enter();
    timers.pause();
    (timers, guard)
}

/// Fires what the clock has passed; returns how many.
fn fire(timers: &Handle) -> usize {
    timers.fire_expired(timers.now())
}

fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("it should have panicked");
    match payload.downcast::<&'static str>() {
        Ok(s) => (*s).to_owned(),
        Err(payload) => *payload.downcast::<String>().expect("a string payload"),
    }
}

#[test]
fn a_paused_clock_stands_still_and_moves_only_with_advance() {
    let (timers, _guard) = paused();
    let t0 = timer::now();
    assert_eq!(timers.now(), t0);
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(timer::now(), t0);
    timers.advance(HOUR);
    assert_eq!(timer::now(), t0 + HOUR);
    timers.advance_to(t0);
    assert_eq!(timer::now(), t0 + HOUR, "advance_to never goes back");
    timers.advance_to(t0 + HOUR * 2);
    assert_eq!(timer::now(), t0 + HOUR * 2);
    assert!(timers.is_paused());
    assert_eq!(timers.real_instant(t0), None, "no real instant reads it");
}

#[test]
fn a_sleep_measures_from_the_paused_clock_and_fires_when_advanced_past() {
    let (timers, _guard) = paused();
    let t0 = timer::now();
    let mut s = pin!(sleep(HOUR));
    assert_eq!(s.deadline(), t0 + HOUR);
    assert!(s.as_mut().poll(&mut cx()).is_pending());
    timers.advance(HOUR - Duration::from_nanos(1));
    assert_eq!(fire(&timers), 0, "never early");
    assert!(s.as_mut().poll(&mut cx()).is_pending());
    timers.advance(Duration::from_nanos(1));
    assert_eq!(fire(&timers), 1);
    assert!(s.as_mut().poll(&mut cx()).is_ready());
    // A sleep whose deadline the clock has passed is ready at its first poll.
    let mut due = pin!(sleep_until(t0 + Duration::from_secs(1)));
    assert!(due.as_mut().poll(&mut cx()).is_ready());
    assert!(timers.is_empty());
}

#[test]
fn a_timeout_of_an_hour_elapses_on_advance() {
    let (timers, _guard) = paused();
    let mut t = pin!(timeout(HOUR, pending::<()>()));
    assert!(t.as_mut().poll(&mut cx()).is_pending());
    timers.advance(HOUR);
    assert_eq!(fire(&timers), 1);
    assert!(matches!(t.as_mut().poll(&mut cx()), Poll::Ready(Err(_))));
}

#[test]
fn an_interval_ticks_with_advance_and_reset_measures_from_the_clock() {
    let (timers, _guard) = paused();
    let t0 = timer::now();
    let period = Duration::from_millis(10);
    let mut ticks = interval(period);
    assert_eq!(ticks.poll_tick(&mut cx()), Poll::Ready(t0));
    for n in 1..=5 {
        assert!(ticks.poll_tick(&mut cx()).is_pending());
        timers.advance(period);
        fire(&timers);
        assert_eq!(ticks.poll_tick(&mut cx()), Poll::Ready(t0 + period * n));
    }
    timers.advance(Duration::from_millis(3));
    ticks.reset();
    assert!(ticks.poll_tick(&mut cx()).is_pending());
    timers.advance(period);
    fire(&timers);
    assert_eq!(
        ticks.poll_tick(&mut cx()),
        Poll::Ready(t0 + period * 5 + Duration::from_millis(3) + period)
    );
}

#[test]
fn common_timeouts_and_resets_use_the_paused_clock() {
    let (timers, _guard) = paused();
    let t0 = timer::now();
    let idle = CommonTimeout::new(HOUR);
    let mut s = idle.sleep();
    assert_eq!(s.deadline(), t0 + HOUR);
    assert!(Pin::new(&mut s).poll(&mut cx()).is_pending());
    Pin::new(&mut s).reset(t0 + HOUR * 2);
    timers.advance(HOUR);
    assert_eq!(fire(&timers), 0);
    timers.advance(HOUR);
    assert_eq!(fire(&timers), 1);
    assert!(Pin::new(&mut s).poll(&mut cx()).is_ready());
}

#[test]
fn a_resumed_clock_goes_on_from_where_it_stood() {
    let (timers, _guard) = paused();
    let t0 = timer::now();
    timers.advance(HOUR);
    timers.resume();
    assert!(!timers.is_paused());
    let after = timer::now();
    assert!(after >= t0 + HOUR, "it never jumps back");
    assert!(after < t0 + HOUR + Duration::from_secs(60));
    // A deadline on this clock maps to the real instant that reads it.
    let real = timers.real_instant(after + Duration::from_secs(1)).unwrap();
    let now = Instant::now();
    assert!(real > now && real <= now + Duration::from_secs(1));
    timers.pause();
    assert!(timer::now() >= after);
}

#[test]
fn only_the_current_heap_drives_now() {
    let outer = Handle::new();
    let _outer = outer.enter();
    let inner = Handle::new();
    inner.pause();
    assert!(!outer.is_paused());
    let frozen = inner.now();
    {
        let _inner = inner.enter();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(timer::now(), frozen, "the entered heap's clock is paused");
        inner.advance(HOUR);
        assert_eq!(timer::now(), frozen + HOUR);
    }
    assert!(
        timer::now() < frozen + HOUR,
        "back on the outer, real clock"
    );
    outer.pause();
    let held = timer::now();
    {
        let _again = outer.enter();
        outer.advance(HOUR);
    }
    assert_eq!(
        timer::now(),
        held + HOUR,
        "a nested enter keeps the changes"
    );
}

#[test]
fn misuse_of_the_clock_panics_clearly() {
    let timers = Handle::new();
    let not_paused = "the clock is not paused: pause it first";
    assert!(panic_message(|| timers.advance(HOUR)).starts_with(not_paused));
    assert!(panic_message(|| timers.advance_to(Instant::now())).starts_with(not_paused));
    assert!(panic_message(|| timers.resume()).starts_with(not_paused));
    timers.pause();
    assert_eq!(
        panic_message(|| timers.pause()),
        "the clock is already paused"
    );
    // Outside any heap, `now` is the real clock.
    let before = Instant::now();
    assert!(timer::now() >= before);
}
