//! `interval`: the missed-tick policies on a manual clock, and ticks on a real one.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use timer::MissedTickBehavior::{self, Burst, Delay, Skip};
use timer::{Handle, interval, interval_at};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const ALL: [MissedTickBehavior; 3] = [Burst, Delay, Skip];

#[test]
fn a_tick_on_time_or_a_little_late_keeps_the_schedule() {
    let t0 = Instant::now();
    for b in ALL {
        assert_eq!(b.next_deadline(t0, t0, ms(10)), t0 + ms(10));
        assert_eq!(b.next_deadline(t0, t0 + ms(9), ms(10)), t0 + ms(10));
        assert_eq!(
            b.next_deadline(t0, t0 + ms(10) - Duration::from_nanos(1), ms(10)),
            t0 + ms(10)
        );
    }
}

#[test]
fn burst_replays_every_missed_tick() {
    // A manual clock: the tick at t0 is seen at t0 + 35 ms, and each tick() after it
    // is called at once (the clock does not move).
    let t0 = Instant::now();
    let now = t0 + ms(35);
    let mut scheduled = t0;
    let mut ticks = vec![scheduled];
    while scheduled <= now {
        scheduled = Burst.next_deadline(scheduled, now, ms(10));
        ticks.push(scheduled);
    }
    assert_eq!(
        ticks,
        [t0, t0 + ms(10), t0 + ms(20), t0 + ms(30), t0 + ms(40)]
    );
}

#[test]
fn delay_restarts_from_the_late_tick() {
    let t0 = Instant::now();
    assert_eq!(Delay.next_deadline(t0, t0 + ms(35), ms(10)), t0 + ms(45));
    // Exactly one period late counts as missed.
    assert_eq!(Delay.next_deadline(t0, t0 + ms(10), ms(10)), t0 + ms(20));
    // Then the new schedule holds while on time.
    let next = Delay.next_deadline(t0 + ms(45), t0 + ms(47), ms(10));
    assert_eq!(next, t0 + ms(55));
}

#[test]
fn skip_keeps_the_original_schedule_and_drops_the_missed_ticks() {
    let t0 = Instant::now();
    assert_eq!(Skip.next_deadline(t0, t0 + ms(35), ms(10)), t0 + ms(40));
    // On a tick of the original schedule: the next one.
    assert_eq!(Skip.next_deadline(t0, t0 + ms(30), ms(10)), t0 + ms(40));
    assert_eq!(Skip.next_deadline(t0, t0 + ms(10), ms(10)), t0 + ms(20));
    // Sub-millisecond periods keep full resolution.
    let p = Duration::from_micros(333);
    let next = Skip.next_deadline(t0, t0 + Duration::from_micros(1000), p);
    assert_eq!(next, t0 + Duration::from_micros(1332));
}

#[test]
fn huge_periods_saturate_instead_of_panicking() {
    let t0 = Instant::now();
    for b in ALL {
        let next = b.next_deadline(t0, t0 + ms(1), Duration::MAX);
        assert!(next > t0 + Duration::from_secs(86_400 * 365 * 20));
    }
}

/// Runs one `tick()` to completion on `handle`, sleeping the thread until deadlines.
fn tick(handle: &Handle, iv: &mut timer::Interval) -> Instant {
    let _guard = handle.enter();
    let mut fut = pin!(iv.tick());
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(at) = fut.as_mut().poll(&mut cx) {
            return at;
        }
        let next = handle.next_deadline().expect("a pending tick sets a timer");
        thread::sleep(next.saturating_duration_since(Instant::now()));
        handle.fire_expired(Instant::now());
    }
}

#[test]
fn ticks_come_every_period_and_never_early() {
    let handle = Handle::new();
    let start = Instant::now();
    let mut iv = interval(ms(3));
    let first = tick(&handle, &mut iv);
    assert!(first >= start, "the first tick is immediate");
    assert!(handle.is_empty(), "the first tick set no timer");
    for k in 1..4 {
        let at = tick(&handle, &mut iv);
        assert!(at == first + ms(3) * k || iv.missed_tick_behavior() != Burst);
        assert!(Instant::now() >= at);
        assert!(start.elapsed() >= ms(3) * k);
    }
}

#[test]
fn a_late_burst_interval_catches_up_one_tick_per_call() {
    let handle = Handle::new();
    let Some(t0) = Instant::now().checked_sub(ms(35)) else {
        return; // the clock is too young to go back
    };
    let mut iv = interval_at(t0, ms(10));
    assert_eq!(iv.missed_tick_behavior(), Burst);
    for k in 0..4 {
        // Each of these was due already: no timer is needed.
        assert_eq!(tick(&handle, &mut iv), t0 + ms(10) * k);
        assert!(handle.is_empty());
    }
    assert_eq!(tick(&handle, &mut iv), t0 + ms(40));
    assert!(Instant::now() >= t0 + ms(40));
}

#[test]
fn a_late_delay_interval_restarts_from_now() {
    let handle = Handle::new();
    let Some(t0) = Instant::now().checked_sub(ms(35)) else {
        return;
    };
    let mut iv = interval_at(t0, ms(10));
    iv.set_missed_tick_behavior(Delay);
    let before = Instant::now();
    assert_eq!(tick(&handle, &mut iv), t0);
    let second = tick(&handle, &mut iv);
    assert!(second >= before + ms(10), "one period after the late tick");
    assert!(Instant::now() >= second);
}

#[test]
fn reset_restarts_the_schedule_from_now() {
    let handle = Handle::new();
    let mut iv = interval(Duration::from_secs(3600));
    tick(&handle, &mut iv);
    let before = Instant::now();
    iv.reset_at(before + ms(2));
    assert_eq!(tick(&handle, &mut iv), before + ms(2));
    iv.reset();
    assert!(iv.period() == Duration::from_secs(3600));
    let mut fut = pin!(iv.tick());
    let _guard = handle.enter();
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
    assert!(handle.next_deadline().unwrap() >= before + Duration::from_secs(3600));
}

#[test]
#[should_panic(expected = "period must be greater than zero")]
fn a_zero_period_panics() {
    let _ = interval(Duration::ZERO);
}

#[test]
fn poll_tick_works_without_a_future() {
    let handle = Handle::new();
    let _guard = handle.enter();
    let mut iv = interval(ms(1));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(iv.poll_tick(&mut cx).is_ready());
    assert!(iv.poll_tick(&mut cx).is_pending());
    assert_eq!(handle.len(), 1);
    drop(iv);
    assert_eq!(handle.len(), 0);
}
