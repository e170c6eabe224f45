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
