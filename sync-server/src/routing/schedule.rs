//! Shifts on the org's clock: checking a routing profile's skills, capacity, weekly shifts and
//! date exceptions, and whether an agent is on shift at an instant. Pure (the instant and the
//! time zone are arguments), so every edge is tested natively: overnight shifts, exceptions,
//! time zones with and without daylight saving.

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use protocol::routing::{Hours, RoutingProfile, Shift, Weekday};

/// Minutes in a day and a week.
const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;
/// Limits that keep a profile a profile.
const MAX_SKILLS: usize = 20;
const MAX_SKILL_CHARS: usize = 32;
const MAX_SHIFTS: usize = 50;
const MAX_EXCEPTIONS: usize = 400;
const MAX_CAPACITY: u32 = 1_000;

/// `"HH:MM"` as minutes after midnight; `field` names it in the error.
pub fn minutes(field: &str, text: &str) -> Result<u32, String> {
    let bad = || format!("{field} must be a time of day as HH:MM (00:00 to 23:59), not {text:?}");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A skill as a tag (trimmed, lower-cased): letters, digits, `-` and `_`, starting with a letter
/// or digit; `field` names it in the error.
pub fn skill_tag(field: &str, text: &str) -> Result<String, String> {
    let skill = text.trim().to_ascii_lowercase();
    let valid = !skill.is_empty()
        && skill.len() <= MAX_SKILL_CHARS
        && skill
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && skill.as_bytes()[0].is_ascii_alphanumeric();
    if valid {
        Ok(skill)
    } else {
        Err(format!(
            "{field} must be a short tag of letters, digits, - and _ (up to {MAX_SKILL_CHARS}), not {text:?}"
        ))
    }
}

/// A span of hours as `(start, end)` minutes; `end <= start` runs past midnight.
fn span(field: &str, start: &str, end: &str) -> Result<(u32, u32), String> {
    let (s, e) = (
        minutes(&format!("{field}.start"), start)?,
        minutes(&format!("{field}.end"), end)?,
    );
    if s == e {
        return Err(format!(
            "{field}: start and end are both {start}; a shift needs some length"
        ));
    }
    Ok((s, e))
}

/// The span's length in minutes (overnight spans wrap past midnight).
fn length((start, end): (u32, u32)) -> u32 {
    (end + DAY - start) % DAY
}

/// Whether two spans on a circle of `period` minutes, each `(from, length)`, overlap.
fn overlap(a: (u32, u32), b: (u32, u32), period: u32) -> bool {
    let starts_within = |x: (u32, u32), y: (u32, u32)| (y.0 + period - x.0) % period < x.1;
    starts_within(a, b) || starts_within(b, a)
}

fn date(field: &str, text: &str) -> Result<NaiveDate, String> {
    if text.len() != 10 {
        return Err(format!(
            "{field} must be a date as YYYY-MM-DD, not {text:?}"
        ));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{field} must be a date as YYYY-MM-DD, not {text:?}"))
}

/// Checks a profile and returns it tidied (skills trimmed, lowercased, sorted, deduplicated;
/// shifts and exceptions in order), or says what is wrong, naming the field.
pub fn check_profile(profile: RoutingProfile) -> Result<RoutingProfile, String> {
    let mut skills = Vec::new();
    for (i, skill) in profile.skills.iter().enumerate() {
        skills.push(skill_tag(&format!("skills[{i}]"), skill)?);
    }
    skills.sort();
    skills.dedup();
    if skills.len() > MAX_SKILLS {
        return Err(format!("skills: at most {MAX_SKILLS}"));
    }
    if let Some(capacity) = profile.capacity {
        if capacity > MAX_CAPACITY {
            return Err(format!(
                "capacity must be between 0 and {MAX_CAPACITY} open chats"
            ));
        }
    }
    if profile.shifts.len() > MAX_SHIFTS {
        return Err(format!("shifts: at most {MAX_SHIFTS}"));
    }
    let mut week: Vec<(usize, (u32, u32))> = Vec::new();
    for (i, shift) in profile.shifts.iter().enumerate() {
        let (start, end) = span(&format!("shifts[{i}]"), &shift.start, &shift.end)?;
        let placed = (shift.weekday.index() * DAY + start, length((start, end)));
        if let Some((j, _)) = week.iter().find(|(_, other)| overlap(*other, placed, WEEK)) {
            return Err(format!("shifts[{i}] overlaps shifts[{j}]"));
        }
        week.push((i, placed));
    }
    if profile.exceptions.len() > MAX_EXCEPTIONS {
        return Err(format!("exceptions: at most {MAX_EXCEPTIONS}"));
    }
    let mut seen_dates = Vec::new();
    for (i, exception) in profile.exceptions.iter().enumerate() {
        let day = date(&format!("exceptions[{i}].date"), &exception.date)?;
        if seen_dates.contains(&day) {
            return Err(format!(
                "exceptions[{i}]: {} is listed twice",
                exception.date
            ));
        }
        seen_dates.push(day);
        let mut spans: Vec<(usize, (u32, u32))> = Vec::new();
        for (k, hours) in exception.hours.iter().enumerate() {
            let field = format!("exceptions[{i}].hours[{k}]");
            let (start, end) = span(&field, &hours.start, &hours.end)?;
            let placed = (start, length((start, end)));
            // On a line (not a circle): an overnight span ends the next day.
            if let Some((j, _)) = spans
                .iter()
                .find(|(_, o)| o.0 < placed.0 + placed.1 && placed.0 < o.0 + o.1)
            {
                return Err(format!("{field} overlaps exceptions[{i}].hours[{j}]"));
            }
            spans.push((k, placed));
        }
    }
    let mut shifts = profile.shifts;
    shifts.sort_by_key(|s| (s.weekday, s.start.clone()));
    let mut exceptions = profile.exceptions;
    exceptions.sort_by(|a, b| a.date.cmp(&b.date));
    Ok(RoutingProfile {
        skills,
        capacity: profile.capacity,
        shifts,
        exceptions,
    })
}

fn weekday_of(day: NaiveDate) -> Weekday {
    Weekday::ALL[day.weekday().num_days_from_monday() as usize]
}

/// The spans `(start, end)` worked on `day`: its exception's hours if it has one, else the weekly
/// shifts of its weekday. `None` when the profile has no shifts at all (not limited by shifts)
/// and the day has no exception.
fn spans_on(profile: &RoutingProfile, day: NaiveDate) -> Option<Vec<(u32, u32)>> {
    let key = day.format("%Y-%m-%d").to_string();
    let parse = |start: &str, end: &str| span("", start, end).ok();
    if let Some(exception) = profile.exceptions.iter().find(|e| e.date == key) {
        return Some(
            exception
                .hours
                .iter()
                .filter_map(|h: &Hours| parse(&h.start, &h.end))
                .collect(),
        );
    }
    if profile.shifts.is_empty() {
        return None;
    }
    let weekday = weekday_of(day);
    Some(
        profile
            .shifts
            .iter()
            .filter(|s: &&Shift| s.weekday == weekday)
            .filter_map(|s| parse(&s.start, &s.end))
            .collect(),
    )
}

/// Whether the agent is on shift at `at_ms` (Unix ms) on the org's clock in `tz`: within one of
/// today's spans, or the part after midnight of one of yesterday's overnight spans.
pub fn on_shift(profile: &RoutingProfile, tz: Tz, at_ms: i64) -> bool {
    let Some(local) = tz.timestamp_millis_opt(at_ms).single() else {
        return false;
    };
    let today = local.date_naive();
    let now = local.hour() * 60 + local.minute();
    // No shifts and no exception today: not limited by shifts.
    let Some(today_spans) = spans_on(profile, today) else {
        return true;
    };
    let yesterday_spans = today.pred_opt().and_then(|d| spans_on(profile, d));
    let today_hit = today_spans
        .iter()
        .any(|&(s, e)| if s < e { s <= now && now < e } else { now >= s });
    let spill = yesterday_spans
        .unwrap_or_default()
        .iter()
        .any(|&(s, e)| e <= s && now < e);
    today_hit || spill
}

/// How many milliseconds of `[from_ms, to_ms)` fall within the profile's hours on the org's clock
/// in `tz` (for business hours: how long something took counting only the hours the org works).
/// A day with no shifts and no exception is open all day, so no hours at all is the wall clock.
/// A local time that does not exist (a daylight-saving gap) counts from the first instant after.
pub fn within_hours(profile: &RoutingProfile, tz: Tz, from_ms: i64, to_ms: i64) -> i64 {
    if to_ms <= from_ms {
        return 0;
    }
    if profile.shifts.is_empty() && profile.exceptions.is_empty() {
        return to_ms - from_ms;
    }
    let Some(last) = local_date(tz, to_ms) else {
        return 0;
    };
    let mut total = 0;
    walk_hours(profile, tz, from_ms, |day, a, b| {
        if day > last {
            return false;
        }
        let (a, b) = (a.max(from_ms), b.min(to_ms));
        if b > a {
            total += b - a;
        }
        true
    });
    total
}

/// The last instant at which no more than `business_ms` of the profile's hours have passed since
/// `from_ms` (the inverse of [`within_hours`]: after it, a wait is past its target), or `None`
/// when the hours within the next `horizon_days` days do not add up to it (a long closure).
pub fn deadline(
    profile: &RoutingProfile,
    tz: Tz,
    from_ms: i64,
    business_ms: i64,
    horizon_days: u32,
) -> Option<i64> {
    if profile.shifts.is_empty() && profile.exceptions.is_empty() {
        return Some(from_ms + business_ms.max(0));
    }
    let last = local_date(tz, from_ms)?.checked_add_days(chrono::Days::new(horizon_days.into()))?;
    let mut left = business_ms.max(0);
    let mut found = None;
    walk_hours(profile, tz, from_ms, |day, a, b| {
        if day > last {
            return false;
        }
        let a = a.max(from_ms);
        if b > a {
            // Strictly more: a wait that used up its target as the day closed is past it only
            // when the next span begins (as `within_hours` counts it).
            if b - a > left {
                found = Some(a + left);
                return false;
            }
            left -= b - a;
        }
        true
    });
    found
}

fn local_date(tz: Tz, ms: i64) -> Option<NaiveDate> {
    tz.timestamp_millis_opt(ms).single().map(|t| t.date_naive())
}

/// Calls `visit(day, begin_ms, end_ms)` for each span of hours from the day before `from_ms`'s
/// local date on (an overnight span of that day may reach into it), in time order — the profile's
/// spans never overlap ([`check_profile`]) — until `visit` says stop. Days with no shifts and no
/// exception are one span, the whole day.
fn walk_hours(
    profile: &RoutingProfile,
    tz: Tz,
    from_ms: i64,
    mut visit: impl FnMut(NaiveDate, i64, i64) -> bool,
) {
    let Some(first) = local_date(tz, from_ms) else {
        return;
    };
    let instant = |local: chrono::NaiveDateTime| -> i64 {
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| {
                tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map_or(i64::MIN, |t| t.timestamp_millis())
    };
    let mut day = first.pred_opt().unwrap_or(first);
    loop {
        let mut spans: Vec<(u32, u32)> = match spans_on(profile, day) {
            Some(spans) => spans.into_iter().map(|s| (s.0, length(s))).collect(),
            None => vec![(0, DAY)],
        };
        spans.sort_unstable();
        for (start, minutes) in spans {
            let Some(begin) = day.and_hms_opt(start / 60, start % 60, 0) else {
                continue;
            };
            let end = begin + chrono::Duration::minutes(i64::from(minutes));
            if !visit(day, instant(begin), instant(end)) {
                return;
            }
        }
        let Some(next) = day.succ_opt() else { return };
        day = next;
    }
}

/// The local time of day of `at_ms` in `tz`, for messages.
pub fn local_time(tz: Tz, at_ms: i64) -> Option<NaiveTime> {
    tz.timestamp_millis_opt(at_ms).single().map(|t| t.time())
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::routing::ShiftException;

    fn shift(weekday: Weekday, start: &str, end: &str) -> Shift {
        Shift {
            weekday,
            start: start.into(),
            end: end.into(),
        }
    }

    /// Monday to Friday, 09:00 to 18:00.
    fn office_hours() -> RoutingProfile {
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        RoutingProfile {
            shifts: weekdays
                .into_iter()
                .map(|d| shift(d, "09:00", "18:00"))
                .collect(),
            ..RoutingProfile::default()
        }
    }

    /// Unix ms of a wall-clock time in `tz`.
    fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn times_of_day_are_hh_mm_and_nothing_else() {
        assert_eq!(minutes("t", "09:30"), Ok(570));
        assert_eq!(minutes("t", "00:00"), Ok(0));
        assert_eq!(minutes("t", "23:59"), Ok(1439));
        for bad in [
            "25:00", "24:00", "9:30", "09:60", "0930", "ab:cd", "", "09:30:00", "-1:00",
        ] {
            let err = minutes("shifts[0].start", bad).unwrap_err();
            assert!(err.starts_with("shifts[0].start must be"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_profile_is_tidied_or_refused_naming_the_field() {
        let tidy = check_profile(RoutingProfile {
            skills: vec![" Hindi ".into(), "home-loans".into(), "hindi".into()],
            capacity: Some(8),
            shifts: vec![
                shift(Weekday::Tue, "09:00", "18:00"),
                shift(Weekday::Mon, "22:00", "06:00"),
            ],
            exceptions: vec![ShiftException {
                date: "2026-12-25".into(),
                hours: vec![],
            }],
        })
        .unwrap();
        assert_eq!(tidy.skills, ["hindi", "home-loans"]);
        assert_eq!(tidy.shifts[0].weekday, Weekday::Mon);
        let refused = |profile: RoutingProfile| check_profile(profile).unwrap_err();
        let with_shifts = |shifts: Vec<Shift>| RoutingProfile {
            shifts,
            ..RoutingProfile::default()
        };
        assert!(
            refused(with_shifts(vec![shift(Weekday::Mon, "25:00", "18:00")]))
                .starts_with("shifts[0].start")
        );
        assert!(
            refused(with_shifts(vec![shift(Weekday::Mon, "09:00", "09:00")]))
                .contains("start and end are both")
        );
        assert_eq!(
            refused(with_shifts(vec![
                shift(Weekday::Mon, "09:00", "13:00"),
                shift(Weekday::Mon, "12:00", "18:00"),
            ])),
            "shifts[1] overlaps shifts[0]"
        );
        // An overnight Sunday shift runs into Monday morning.
        assert_eq!(
            refused(with_shifts(vec![
                shift(Weekday::Sun, "22:00", "06:00"),
                shift(Weekday::Mon, "05:00", "09:00"),
            ])),
            "shifts[1] overlaps shifts[0]"
        );
        // Back to back is not an overlap.
        check_profile(with_shifts(vec![
            shift(Weekday::Mon, "09:00", "13:00"),
            shift(Weekday::Mon, "13:00", "18:00"),
        ]))
        .unwrap();
        assert!(refused(RoutingProfile {
            skills: vec!["Home Loans".into()],
            ..RoutingProfile::default()
        })
        .starts_with("skills[0]"));
        assert!(refused(RoutingProfile {
            capacity: Some(1_001),
            ..RoutingProfile::default()
        })
        .starts_with("capacity"));
        let exception = |date: &str, hours: Vec<(&str, &str)>| ShiftException {
            date: date.into(),
            hours: hours
                .into_iter()
                .map(|(s, e)| Hours {
                    start: s.into(),
                    end: e.into(),
                })
                .collect(),
        };
        let with_exceptions = |exceptions| RoutingProfile {
            exceptions,
            ..RoutingProfile::default()
        };
        assert!(
            refused(with_exceptions(vec![exception("2026-02-30", vec![])]))
                .starts_with("exceptions[0].date")
        );
        assert!(refused(with_exceptions(vec![
            exception("2026-12-25", vec![]),
            exception("2026-12-25", vec![("10:00", "12:00")]),
        ]))
        .contains("listed twice"));
        assert_eq!(
            refused(with_exceptions(vec![exception(
                "2026-12-24",
                vec![("10:00", "14:00"), ("13:00", "15:00")]
            )])),
            "exceptions[0].hours[1] overlaps exceptions[0].hours[0]"
        );
    }

    #[test]
    fn on_shift_follows_the_orgs_clock_overnight_shifts_and_exceptions() {
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        let profile = check_profile(RoutingProfile {
            shifts: vec![
                // Thursday 26 Nov 2026 is a Thursday.
                shift(Weekday::Thu, "09:00", "18:00"),
                shift(Weekday::Fri, "22:00", "06:00"),
            ],
            exceptions: vec![
                ShiftException {
                    date: "2026-12-03".into(),
                    hours: vec![],
                },
                ShiftException {
                    date: "2026-12-05".into(),
                    hours: vec![Hours {
                        start: "10:00".into(),
                        end: "12:00".into(),
                    }],
                },
            ],
            ..RoutingProfile::default()
        })
        .unwrap();
        let cases = [
            // (day, hour, minute, on shift)
            ((2026, 11, 26), 8, 59, false),
            ((2026, 11, 26), 9, 0, true),
            ((2026, 11, 26), 17, 59, true),
            ((2026, 11, 26), 18, 0, false),
            // Friday night into Saturday morning.
            ((2026, 11, 27), 21, 59, false),
            ((2026, 11, 27), 22, 0, true),
            ((2026, 11, 28), 5, 59, true),
            ((2026, 11, 28), 6, 0, false),
            // Thursday 3 Dec is a day off; Saturday 5 Dec has extra hours.
            ((2026, 12, 3), 10, 0, false),
            ((2026, 12, 5), 11, 0, true),
            ((2026, 12, 5), 12, 0, false),
        ];
        for ((y, mo, d), h, mi, expected) in cases {
            assert_eq!(
                on_shift(&profile, kolkata, at(kolkata, y, mo, d, h, mi)),
                expected,
                "{y}-{mo}-{d} {h}:{mi}"
            );
        }
        // The same instant is 03:30 in Kolkata and 22:00 the evening before in UTC.
        let instant = at(kolkata, 2026, 11, 26, 3, 30);
        assert_eq!(
            local_time(Tz::UTC, instant),
            NaiveTime::from_hms_opt(22, 0, 0)
        );
    }

    #[test]
    fn shifts_keep_their_wall_clock_hours_across_daylight_saving() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let profile = check_profile(RoutingProfile {
            shifts: Weekday::ALL
                .into_iter()
                .map(|d| shift(d, "09:00", "17:00"))
                .collect(),
            ..RoutingProfile::default()
        })
        .unwrap();
        // 29 March 2026: clocks go forward at 02:00; 25 October: back at 03:00.
        for (mo, d) in [(3, 28), (3, 29), (3, 30), (10, 24), (10, 25), (10, 26)] {
            assert!(on_shift(&profile, berlin, at(berlin, 2026, mo, d, 9, 0)));
            assert!(!on_shift(&profile, berlin, at(berlin, 2026, mo, d, 8, 59)));
            assert!(!on_shift(&profile, berlin, at(berlin, 2026, mo, d, 17, 0)));
        }
        // The same UTC hour is on shift in winter and not in summer.
        let utc_8 = |mo, d| {
            Tz::UTC
                .with_ymd_and_hms(2026, mo, d, 8, 0, 0)
                .unwrap()
                .timestamp_millis()
        };
        assert!(on_shift(&profile, berlin, utc_8(1, 15)));
        assert!(!on_shift(&profile, berlin, utc_8(1, 15) - 3_600_000));
        assert!(on_shift(&profile, berlin, utc_8(7, 15)));
        assert!(on_shift(&profile, berlin, utc_8(7, 15) - 3_600_000));
    }

    #[test]
    fn without_shifts_an_agent_is_limited_only_by_their_days_off() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let free = RoutingProfile::default();
        assert!(on_shift(&free, tz, at(tz, 2026, 11, 26, 3, 0)));
        let holiday = RoutingProfile {
            exceptions: vec![ShiftException {
                date: "2026-12-25".into(),
                hours: vec![],
            }],
            ..RoutingProfile::default()
        };
        assert!(!on_shift(&holiday, tz, at(tz, 2026, 12, 25, 12, 0)));
        assert!(on_shift(&holiday, tz, at(tz, 2026, 12, 26, 12, 0)));
    }

    #[test]
    fn business_time_counts_only_open_hours_across_nights_and_weekends() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let hours = office_hours();
        let mins = |from: i64, to: i64| within_hours(&hours, tz, from, to) / 60_000;
        // Friday 2026-11-27 17:30 to Monday 09:15: 30 minutes on Friday, 15 on Monday.
        assert_eq!(
            mins(at(tz, 2026, 11, 27, 17, 30), at(tz, 2026, 11, 30, 9, 15)),
            45
        );
        // Wholly at night: nothing.
        assert_eq!(
            mins(at(tz, 2026, 11, 26, 20, 0), at(tz, 2026, 11, 27, 8, 0)),
            0
        );
        // Within one day: the wall clock.
        assert_eq!(
            mins(at(tz, 2026, 11, 26, 10, 0), at(tz, 2026, 11, 26, 11, 7)),
            67
        );
        // Backwards or empty: nothing.
        assert_eq!(
            mins(at(tz, 2026, 11, 26, 11, 0), at(tz, 2026, 11, 26, 10, 0)),
            0
        );
        // No hours at all: the wall clock, weekends included.
        let open = RoutingProfile::default();
        let (a, b) = (at(tz, 2026, 11, 28, 1, 0), at(tz, 2026, 11, 29, 2, 0));
        assert_eq!(within_hours(&open, tz, a, b), b - a);
    }

    #[test]
    fn a_deadline_is_where_business_time_reaches_the_target() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        let hours = office_hours();
        // Friday 17:30 with a 45-minute target: 30 minutes on Friday, so Monday 09:15.
        let friday = at(tz, 2026, 11, 27, 17, 30);
        assert_eq!(
            deadline(&hours, tz, friday, 45 * 60_000, 30),
            Some(at(tz, 2026, 11, 30, 9, 15))
        );
        // A target used up as Friday closes is past only when Monday begins.
        assert_eq!(
            deadline(&hours, tz, friday, 30 * 60_000, 30),
            Some(at(tz, 2026, 11, 30, 9, 0))
        );
        // Saturday night: Monday 09:00 plus the target.
        let saturday = at(tz, 2026, 11, 28, 22, 0);
        assert_eq!(
            deadline(&hours, tz, saturday, 10 * 60_000, 30),
            Some(at(tz, 2026, 11, 30, 9, 10))
        );
        // Within the day: the wall clock.
        let morning = at(tz, 2026, 11, 26, 10, 0);
        assert_eq!(
            deadline(&hours, tz, morning, 30 * 60_000, 30),
            Some(at(tz, 2026, 11, 26, 10, 30))
        );
        // No hours: the wall clock; closed for longer than the horizon: none.
        let open = RoutingProfile::default();
        assert_eq!(
            deadline(&open, tz, saturday, 60_000, 1),
            Some(saturday + 60_000)
        );
        let closed = RoutingProfile {
            exceptions: (1..=20)
                .map(|d| ShiftException {
                    date: format!("2026-12-{d:02}"),
                    hours: vec![],
                })
                .collect(),
            ..RoutingProfile::default()
        };
        assert_eq!(
            deadline(&closed, tz, at(tz, 2026, 12, 1, 0, 0), 60_000, 10),
            None
        );
    }

    #[test]
    fn a_deadline_inverts_business_time_over_nights_holidays_and_daylight_saving() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let profile = RoutingProfile {
            shifts: vec![
                shift(Weekday::Sun, "01:00", "06:00"),
                shift(Weekday::Sat, "22:00", "01:00"),
                shift(Weekday::Mon, "09:00", "12:00"),
                shift(Weekday::Mon, "13:00", "17:00"),
            ],
            exceptions: vec![ShiftException {
                date: "2026-03-30".into(),
                hours: vec![Hours {
                    start: "14:00".into(),
                    end: "15:00".into(),
                }],
            }],
            ..RoutingProfile::default()
        };
        let profile = check_profile(profile).unwrap();
        // Across Berlin's spring-forward night, from every quarter hour of a week, for targets
        // of a minute to two days: business time up to the deadline is the target exactly.
        let start = at(berlin, 2026, 3, 26, 0, 0);
        for step in 0..(7 * 24 * 4) {
            let from = start + step * 15 * 60_000;
            for target_mins in [1, 45, 90, 300, 2 * 24 * 60] {
                let target = target_mins * 60_000;
                let due = deadline(&profile, berlin, from, target, 60).unwrap();
                assert_eq!(
                    within_hours(&profile, berlin, from, due),
                    target,
                    "from {from}, {target_mins} min"
                );
                assert!(within_hours(&profile, berlin, from, due + 1) > target);
            }
        }
    }

    #[test]
    fn business_time_follows_overnight_hours_days_off_and_daylight_saving() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap();
        // A night desk: Sunday 22:00 to Monday 06:00.
        let night = RoutingProfile {
            shifts: vec![shift(Weekday::Sun, "22:00", "06:00")],
            ..RoutingProfile::default()
        };
        let (a, b) = (at(tz, 2026, 11, 29, 23, 0), at(tz, 2026, 11, 30, 12, 0));
        assert_eq!(within_hours(&night, tz, a, b) / 60_000, 7 * 60);
        // A holiday on an otherwise open-all-day calendar takes its 24 hours out.
        let holiday = RoutingProfile {
            exceptions: vec![ShiftException {
                date: "2026-12-25".into(),
                hours: vec![],
            }],
            ..RoutingProfile::default()
        };
        let (a, b) = (at(tz, 2026, 12, 24, 12, 0), at(tz, 2026, 12, 26, 12, 0));
        assert_eq!(within_hours(&holiday, tz, a, b) / 3_600_000, 24);
        // Berlin springs forward on 2026-03-29 at 02:00: the 00:00–06:00 shift is 5 hours long.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let early = RoutingProfile {
            shifts: vec![shift(Weekday::Sun, "00:00", "06:00")],
            ..RoutingProfile::default()
        };
        let (a, b) = (
            at(berlin, 2026, 3, 28, 12, 0),
            at(berlin, 2026, 3, 30, 12, 0),
        );
        assert_eq!(within_hours(&early, berlin, a, b) / 3_600_000, 5);
    }
}
