//! `Interval`: ticks at a fixed period, with a policy for missed ticks.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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

/// The deadline of the tick after one `scheduled` for, observed at `now`.
///
/// A pure function of its inputs, so the policies can be checked with a manual clock.
pub fn next_tick(
    behavior: MissedTickBehavior,
    scheduled: Instant,
    now: Instant,
    period: Duration,
) -> Instant {
    let on_time = scheduled + period;
    if on_time > now {
        return on_time;
    }
    match behavior {
        MissedTickBehavior::Burst => on_time,
        MissedTickBehavior::Delay => now + period,
        MissedTickBehavior::Skip => {
            let behind = now.duration_since(scheduled).as_nanos();
            let periods = behind / period.as_nanos() + 1;
            let skip = u32::try_from(periods).unwrap_or(u32::MAX);
            scheduled + period.saturating_mul(skip).max(period)
        }
    }
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
///
/// If `period` is zero.
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
        let next = next_tick(self.behavior, scheduled, Instant::now(), self.period);
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        Pin::new(&mut self.delay).reset(Instant::now() + self.period);
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

use std::future::Future as _;
