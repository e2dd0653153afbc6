//! The `Date` header (RFC 9110, section 6.6.1), in IMF-fixdate form:
//! `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! Formatting a date per answer would cost more than the rest of a small answer, so each
//! thread (each loop) keeps the formatted value of the current second and formats it
//! again only when the second changes, as nginx and hyper do. The check costs one
//! comparison of `Instant`s that the connection read anyway.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The length of an IMF-fixdate.
pub(crate) const LEN: usize = 29;

/// The length of a whole header field, `Date: <IMF-fixdate>\r\n`.
pub(crate) const FIELD_LEN: usize = 6 + LEN + 2;

/// A whole `Date` header field, `Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n`: copied into
/// an answer in one piece.
pub type Field = [u8; FIELD_LEN];

/// The field of the current second, and when it stops being current.
#[derive(Clone, Copy)]
struct Cached {
    /// When the wall clock reaches the next whole second; `None` before the first use.
    until: Option<Instant>,
    field: Field,
}

thread_local! {
    static CACHED: Cell<Cached> = const {
        Cell::new(Cached {
            until: None,
            field: [0; FIELD_LEN],
        })
    };
}

/// The `Date` field of the wall clock's current second, with `now` a recent reading of
/// the monotonic clock (it only decides whether the cached value is still current).
#[inline]
pub fn current(now: Instant) -> Field {
    CACHED.with(|cached| {
        let c = cached.get();
        if c.until.is_some_and(|until| now < until) {
            return c.field;
        }
        let fresh = refresh();
        cached.set(fresh);
        fresh.field
    })
}

/// Reads both clocks and formats the wall clock's second.
fn refresh() -> Cached {
    let now = Instant::now();
    // A wall clock before 1970 is a broken clock: say 1970 rather than fail the answer.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let to_next_second =
        Duration::from_nanos(1_000_000_000 - u64::from(since_epoch.subsec_nanos()));
    Cached {
        until: Some(now + to_next_second),
        field: field(since_epoch.as_secs()),
    }
}

/// The `Date` field of `secs` seconds after 1970.
fn field(secs: u64) -> Field {
    let mut field = [0; FIELD_LEN];
    field[..6].copy_from_slice(b"Date: ");
    let mut value = [0; LEN];
    format(secs, &mut value);
    field[6..6 + LEN].copy_from_slice(&value);
    field[6 + LEN..].copy_from_slice(b"\r\n");
    field
}

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The last second an IMF-fixdate can write (9999-12-31T23:59:59Z); later is clamped.
const MAX_SECS: u64 = 253_402_300_799;

/// Writes `secs` seconds after 1970-01-01T00:00:00Z as an IMF-fixdate.
pub(crate) fn format(secs: u64, out: &mut [u8; LEN]) {
    let secs = secs.min(MAX_SECS);
    let days = secs / 86_400;
    let in_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    two_digits(&mut out[12..14], year / 100);
    two_digits(&mut out[14..16], year % 100);
    out[16] = b' ';
    two_digits(&mut out[17..19], (in_day / 3600) as u32);
    out[19] = b':';
    two_digits(&mut out[20..22], (in_day / 60 % 60) as u32);
    out[22] = b':';
    two_digits(&mut out[23..25], (in_day % 60) as u32);
    out[25..].copy_from_slice(b" GMT");
}

fn two_digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// The proleptic Gregorian (year, month 1..=12, day 1..=31) of a day number counted
/// from 1970-01-01, for days up to year 9999.
///
/// The calendar is shifted to start on March 1st, so that the leap day ends a year: an
/// era of 400 years then has exactly 146,097 days, a shifted year `365 + leap` days, and
/// the month of a day in the shifted year follows from `(5 * day + 2) / 153` (the months
/// March to January alternate 31 and 30 days in a 153-day pattern of five).
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    // Days from 0000-03-01 to 1970-01-01.
    const EPOCH_SHIFT: u64 = 719_468;
    let z = days + EPOCH_SHIFT;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // 0..=146_096
    // Years into the era: a leap day every 4 years, but not every 100, but every 400.
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year as u32, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(secs: u64) -> String {
        let mut out = [0; LEN];
        format(secs, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn known_dates() {
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (68_169_600, "Tue, 29 Feb 1972 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
            (1_234_567_890, "Fri, 13 Feb 2009 23:31:30 GMT"),
            (1_704_067_199, "Sun, 31 Dec 2023 23:59:59 GMT"),
            (1_709_208_000, "Thu, 29 Feb 2024 12:00:00 GMT"),
            (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),
            (4_107_456_000, "Sun, 28 Feb 2100 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (MAX_SECS, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(formatted(secs), text, "{secs}");
        }
    }

    /// Every day from 1970 to 2400 against a calendar walked one day at a time.
    #[test]
    fn every_day_matches_a_day_by_day_calendar() {
        let leap = |y: u32| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..(430 * 366) {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let month_len = match month {
                2 if leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > month_len {
                (month, day) = (month + 1, 1);
                if month > 12 {
                    (year, month) = (year + 1, 1);
                }
            }
        }
    }

    #[test]
    fn the_cache_gives_the_current_second() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let value = current(Instant::now());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let text = String::from_utf8(value.to_vec()).unwrap();
        let text = text
            .strip_prefix("Date: ")
            .and_then(|t| t.strip_suffix("\r\n"))
            .unwrap();
        assert!(
            (before..=after).any(|s| formatted(s) == text),
            "{text} is not between {before} and {after}"
        );
        // Until the second changes, the same bytes come back.
        let again = current(Instant::now());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(again == value || field(after) == again);
    }
}
