//! How a moment is told to people: "just now", "5 min ago", "in 2 h", or a date and time. Pure,
//! so the choice is tested natively; the words and the date come from the browser's `Intl` in the
//! org's locale and time zone (`dom::ui::Times`).

use protocol::Millis;

/// A unit `Intl.RelativeTimeFormat` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Minute,
    Hour,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Minute => "minute",
            Unit::Hour => "hour",
        }
    }
}

/// How to tell `at` to someone at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telling {
    /// Within a minute either way.
    JustNow,
    /// `value` units from now: negative in the past ("5 min ago"), positive ahead ("in 2 h").
    Relative { value: i64, unit: Unit },
    /// Further than a day: the date and time.
    Absolute,
}

const MINUTE: Millis = 60_000;
const HOUR: Millis = 60 * MINUTE;
const DAY: Millis = 24 * HOUR;

/// Minutes up to an hour, hours up to a day (rounded towards now, so "59 min ago" never reads as
/// "1 h ago" early), then the date.
pub fn tell(now: Millis, at: Millis) -> Telling {
    let delta = at.saturating_sub(now);
    let distance = delta.saturating_abs();
    let sign = delta.signum();
    if distance < MINUTE {
        Telling::JustNow
    } else if distance < HOUR {
        Telling::Relative {
            value: sign * (distance / MINUTE),
            unit: Unit::Minute,
        }
    } else if distance < DAY {
        Telling::Relative {
            value: sign * (distance / HOUR),
            unit: Unit::Hour,
        }
    } else {
        Telling::Absolute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_told_relatively_within_a_day_and_by_date_beyond() {
        let now = 1_764_150_000_000;
        assert_eq!(tell(now, now), Telling::JustNow);
        assert_eq!(tell(now, now - 59_999), Telling::JustNow);
        assert_eq!(tell(now, now + 30_000), Telling::JustNow);
        assert_eq!(
            tell(now, now - 5 * MINUTE - 10_000),
            Telling::Relative {
                value: -5,
                unit: Unit::Minute
            }
        );
        assert_eq!(
            tell(now, now - HOUR + 1),
            Telling::Relative {
                value: -59,
                unit: Unit::Minute
            }
        );
        assert_eq!(
            tell(now, now + 2 * HOUR + 5 * MINUTE),
            Telling::Relative {
                value: 2,
                unit: Unit::Hour
            }
        );
        assert_eq!(
            tell(now, now - DAY + 1),
            Telling::Relative {
                value: -23,
                unit: Unit::Hour
            }
        );
        assert_eq!(tell(now, now - DAY), Telling::Absolute);
        assert_eq!(tell(now, now + 3 * DAY), Telling::Absolute);
        // Times far off either way do not overflow.
        assert_eq!(tell(now, Millis::MIN), Telling::Absolute);
        assert_eq!(tell(Millis::MIN, Millis::MAX), Telling::Absolute);
    }
}

/// A wall-clock time in some time zone: year, month (1–12), day, hour, minute.
pub type Wall = (i64, u32, u32, u32, u32);

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn as_if_utc((year, month, day, hour, minute): Wall) -> Millis {
    days_from_civil(year, month, day) * DAY + i64::from(hour) * HOUR + i64::from(minute) * MINUTE
}

/// The instant a wall-clock time `at` names in a zone, given `wall`, the zone's wall clock at any
/// instant. Offsets are learnt from the zone itself (twice, for the days its offset changes).
pub fn instant_of(at: Wall, wall: impl Fn(Millis) -> Option<Wall>) -> Option<Millis> {
    let guess = as_if_utc(at);
    let offset = as_if_utc(wall(guess)?) - guess;
    let first = guess - offset;
    let second_offset = as_if_utc(wall(first)?) - first;
    Some(guess - second_offset)
}

/// 10:00 tomorrow in a zone, seen from `now`.
pub fn tomorrow_at_ten(now: Millis, wall: impl Fn(Millis) -> Option<Wall>) -> Option<Millis> {
    let (year, month, day, _, _) = wall(now)?;
    let (year, month, day) = civil_from_days(days_from_civil(year, month, day) + 1);
    instant_of((year, month, day, 10, 0), wall)
}

/// A `datetime-local` input's value (`2026-11-27T10:00`) as a wall-clock time.
pub fn parse_local(value: &str) -> Option<Wall> {
    let (date, time) = value.split_once('T')?;
    let mut date = date.split('-');
    let year = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let mut time = time.split(':');
    let hour: u32 = time.next()?.parse().ok()?;
    let minute: u32 = time.next()?.parse().ok()?;
    ((1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60)
        .then_some((year, month, day, hour, minute))
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    /// A fixed-offset zone (Asia/Kolkata: +05:30).
    fn kolkata(at: Millis) -> Option<Wall> {
        wall_at_offset(at, 330 * MINUTE)
    }

    fn wall_at_offset(at: Millis, offset: Millis) -> Option<Wall> {
        let local = at + offset;
        let days = local.div_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let rest = local.rem_euclid(DAY);
        Some((
            y,
            m,
            d,
            (rest / HOUR) as u32,
            ((rest % HOUR) / MINUTE) as u32,
        ))
    }

    /// A zone that moves from +01:00 to +02:00 at 2026-03-29 01:00 UTC (Europe/Berlin's rule).
    fn berlin(at: Millis) -> Option<Wall> {
        let switch = as_if_utc((2026, 3, 29, 1, 0));
        wall_at_offset(at, if at < switch { HOUR } else { 2 * HOUR })
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_000, 20_418, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{days}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28),
            2,
            "a leap year"
        );
    }

    #[test]
    fn tomorrow_at_ten_is_the_orgs_ten_not_the_browsers() {
        // 2026-11-26 23:50 in Kolkata (18:20 UTC): tomorrow is the 27th there.
        let now = as_if_utc((2026, 11, 26, 18, 20));
        let due = tomorrow_at_ten(now, kolkata).unwrap();
        assert_eq!(
            due,
            as_if_utc((2026, 11, 27, 4, 30)),
            "10:00 IST is 04:30 UTC"
        );
        assert_eq!(kolkata(due), Some((2026, 11, 27, 10, 0)));
        // Across a DST change: 10:00 on the first summer day is 08:00 UTC.
        let before = as_if_utc((2026, 3, 28, 12, 0));
        let due = tomorrow_at_ten(before, berlin).unwrap();
        assert_eq!(berlin(due), Some((2026, 3, 29, 10, 0)));
        assert_eq!(due, as_if_utc((2026, 3, 29, 8, 0)));
        // Month and year ends.
        let new_year = tomorrow_at_ten(as_if_utc((2026, 12, 31, 12, 0)), kolkata).unwrap();
        assert_eq!(kolkata(new_year), Some((2027, 1, 1, 10, 0)));
    }

    #[test]
    fn a_picked_date_and_time_is_read_in_the_orgs_zone() {
        let wall = parse_local("2026-11-27T15:45").unwrap();
        assert_eq!(wall, (2026, 11, 27, 15, 45));
        let at = instant_of(wall, kolkata).unwrap();
        assert_eq!(at, as_if_utc((2026, 11, 27, 10, 15)));
        for bad in [
            "",
            "2026-11-27",
            "2026-13-01T10:00",
            "2026-11-27T24:00",
            "x-y-zT1:2",
        ] {
            assert_eq!(parse_local(bad), None, "{bad:?}");
        }
    }
}
