//! `Interval`: ticks at a fixed period, with a policy for missed ticks.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::clock::{self, add_saturating};
use crate::sleep::{Sleep, sleep_until};

/// What an [`Interval`] does when a tick is observed late enough that the next one is
/// already due.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per `tick()`, until caught up (the default).
    #[default]
    Burst,
    /// Start the schedule again: the next tick is one period after the late one was
    /// observed.
    Delay,
    /// Skip the missed ticks: the next tick is the next one of the original schedule that
    /// lies in the future.
    Skip,
}

impl MissedTickBehavior {
    /// The deadline of the tick that follows one `scheduled` for and observed at `now`,
    /// every `period`.
    ///
    /// A tick is *missed* when the one after it is already due (`scheduled + period <=
    /// now`). Otherwise every policy gives `scheduled + period`, so an interval observed
    /// a little late does not drift. When ticks were missed:
    ///
    /// - `Burst`: `scheduled + period`, already past: the caller fires at once, one tick
    ///   per call, until it has caught up;
    /// - `Delay`: `now + period`;
    /// - `Skip`: the first instant of the original schedule (`scheduled + k * period`)
    ///   after `now`.
    ///
    /// A pure function of its inputs, so a test can drive it with a manual clock.
    /// Sums that overflow saturate to about thirty years ahead.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use timer::MissedTickBehavior::{Burst, Delay, Skip};
    ///
    /// let t0 = Instant::now();
    /// let ms = Duration::from_millis;
    /// // Observed 35 ms after a tick scheduled at t0, with a period of 10 ms:
    /// assert_eq!(Burst.next_deadline(t0, t0 + ms(35), ms(10)), t0 + ms(10));
    /// assert_eq!(Delay.next_deadline(t0, t0 + ms(35), ms(10)), t0 + ms(45));
    /// assert_eq!(Skip.next_deadline(t0, t0 + ms(35), ms(10)), t0 + ms(40));
    /// // Observed 3 ms late: no tick was missed, so all agree.
    /// assert_eq!(Delay.next_deadline(t0, t0 + ms(3), ms(10)), t0 + ms(10));
    /// ```
    pub fn next_deadline(self, scheduled: Instant, now: Instant, period: Duration) -> Instant {
        let on_time = add_saturating(scheduled, period);
        if on_time > now || period.is_zero() {
            return on_time;
        }
        match self {
            MissedTickBehavior::Burst => on_time,
            MissedTickBehavior::Delay => add_saturating(now, period),
            MissedTickBehavior::Skip => {
                // `period <= now - scheduled` here, so both fit in nanoseconds as u64.
                let behind = now.duration_since(scheduled).as_nanos();
                let into_period = behind % period.as_nanos();
                let rest = period - Duration::from_nanos(into_period as u64);
                add_saturating(now, rest)
            }
        }
    }
}

/// Ticks every `period`, the first tick at once, on the current loop's clock
/// ([`now`](crate::now)).
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(clock::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "interval: the period must be greater than zero"
    );
    Interval {
        delay: sleep_until(start),
        period,
        behavior: MissedTickBehavior::Burst,
    }
}

/// The stream of ticks made by [`interval`]. `!Send`.
///
/// The first tick completes at once; each later one waits for its deadline, and
/// [`MissedTickBehavior`] says what happens when the ticks fall behind.
///
/// ```
/// use std::task::{Context, Waker};
/// use std::time::{Duration, Instant};
///
/// let timers = timer::Handle::new();
/// let _guard = timers.enter();
/// let mut cx = Context::from_waker(Waker::noop());
/// let start = Instant::now();
/// let mut ticks = timer::interval(Duration::from_millis(2));
/// let first = ticks.poll_tick(&mut cx);
/// assert!(first.is_ready());
/// // The second tick waits: the loop sleeps until the deadline and fires it.
/// assert!(ticks.poll_tick(&mut cx).is_pending());
/// let next = timers.next_deadline().unwrap();
/// std::thread::sleep(next.saturating_duration_since(Instant::now()));
/// timers.fire_expired(Instant::now());
/// assert!(ticks.poll_tick(&mut cx).is_ready());
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// ```
#[derive(Debug)]
pub struct Interval {
    delay: Sleep,
    period: Duration,
    behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.delay.deadline();
        let next = self
            .behavior
            .next_deadline(scheduled, clock::now(), self.period);
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.reset_at(add_saturating(clock::now(), self.period));
    }

    /// Restarts the schedule: the next tick is at `deadline`, and every period after it.
    pub fn reset_at(&mut self, deadline: Instant) {
        Pin::new(&mut self.delay).reset(deadline);
    }

    /// The policy for missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.behavior
    }

    /// Sets the policy for missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.behavior = behavior;
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}
