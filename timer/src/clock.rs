//! The loop's clock: the system's monotonic clock, or a paused one for tests.
//!
//! Every timer reads the time through [`now`], which reads the clock of the thread's
//! current heap (the one [`Handle::enter`](crate::Handle::enter) installed). A clock is
//! in one of three modes:
//!
//! | mode      | `now()` reads                        | entered by                   |
//! |-----------|--------------------------------------|------------------------------|
//! | `Real`    | `Instant::now()`                     | a new heap                   |
//! | `Paused`  | a frozen instant, moved by `advance` | [`Handle::pause`]            |
//! | `Resumed` | the frozen instant plus the real time since the resume | [`Handle::resume`] |
//!
//! A clock never goes back: a resumed clock goes on from where the paused one stood, as
//! tokio's does, so deadlines set while paused keep their order with later ones.
//!
//! The mode of the current heap's clock is copied into a thread-local `Cell` when the
//! heap is entered, and again each time it changes, so that [`now`] costs one
//! thread-local byte read and a branch on top of `Instant::now()`: no `Rc`, no
//! `RefCell`, and the paused modes out of line.
//! The heap's own copy is the authority; the thread-local one mirrors the current
//! heap's (see `Handle::set_clock`).

use std::cell::Cell;
use std::time::{Duration, Instant};

/// What a clock reads (see the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The system's monotonic clock.
    Real,
    /// Frozen at this instant.
    Paused(Instant),
    /// Running again: `base` at the real instant `origin`, moving with real time.
    Resumed { base: Instant, origin: Instant },
}

impl Mode {
    #[inline]
    pub(crate) fn now(self) -> Instant {
        match self {
            Mode::Real => Instant::now(),
            other => other.now_not_real(),
        }
    }

    /// `now` of a clock that was paused: out of line, to keep the real clock's path short.
    #[cold]
    #[inline(never)]
    fn now_not_real(self) -> Instant {
        match self {
            Mode::Real => Instant::now(),
            Mode::Paused(at) => at,
            Mode::Resumed { base, origin } => {
                add_saturating(base, Instant::now().saturating_duration_since(origin))
            }
        }
    }

    /// The real instant at which this clock reads `deadline`, for a wait in the OS;
    /// `None` while paused, when no real instant ever reads it.
    #[inline]
    pub(crate) fn real_instant(self, deadline: Instant) -> Option<Instant> {
        match self {
            Mode::Real => Some(deadline),
            Mode::Paused(_) => None,
            Mode::Resumed { base, origin } => Some(match deadline.checked_duration_since(base) {
                Some(ahead) => add_saturating(origin, ahead),
                // Before the resume: long due.
                None => origin,
            }),
        }
    }
}

thread_local! {
    /// The mode of the current heap's clock; `Real` where no heap is current.
    static CURRENT: Cell<Mode> = const { Cell::new(Mode::Real) };
    /// Whether `CURRENT` is not `Real`: the one byte `now` reads on the real clock's path.
    static NOT_REAL: Cell<bool> = const { Cell::new(false) };
}

/// Mirrors the current heap's clock (see the module docs).
pub(crate) fn set_current(mode: Mode) {
    CURRENT.set(mode);
    NOT_REAL.set(mode != Mode::Real);
}

/// The time on the current loop's clock: `Instant::now()`, unless the runtime's clock is
/// paused (or was: see [`Handle::pause`](crate::Handle::pause)). Outside a runtime it is
/// `Instant::now()`.
///
/// Every timer of this crate measures from it: [`sleep`](crate::sleep),
/// [`timeout`](crate::timeout), [`interval`](crate::interval), the first poll of a
/// [`Sleep`](crate::Sleep), and [`CommonTimeout`](crate::CommonTimeout).
///
/// ```
/// use std::time::Duration;
///
/// let timers = timer::Handle::new();
/// let _guard = timers.enter();
/// timers.pause();
/// let t0 = timer::now();
/// std::thread::sleep(Duration::from_millis(2));
/// assert_eq!(timer::now(), t0, "a paused clock stands still");
/// timers.advance(Duration::from_secs(3600));
/// assert_eq!(timer::now(), t0 + Duration::from_secs(3600));
/// ```
#[inline]
pub fn now() -> Instant {
    if NOT_REAL.get() {
        return CURRENT.get().now_not_real();
    }
    Instant::now()
}

/// About thirty years: what "forever" means for a deadline that would overflow.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + dur`, or about thirty years after `at` where that sum would overflow.
pub(crate) fn add_saturating(at: Instant, dur: Duration) -> Instant {
    at.checked_add(dur)
        .or_else(|| at.checked_add(FAR_FUTURE))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_clock_maps_its_deadlines_to_real_instants() {
        let origin = Instant::now();
        let base = origin + Duration::from_secs(3600);
        let mode = Mode::Resumed { base, origin };
        let deadline = base + Duration::from_millis(5);
        assert_eq!(
            mode.real_instant(deadline),
            Some(origin + Duration::from_millis(5))
        );
        assert_eq!(mode.real_instant(origin), Some(origin), "long due");
        assert!(mode.now() >= base);
        assert_eq!(Mode::Paused(base).real_instant(deadline), None);
        assert_eq!(Mode::Real.real_instant(deadline), Some(deadline));
    }
}
