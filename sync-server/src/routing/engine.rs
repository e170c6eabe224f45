//! Deciding where a chat goes, purely: whether a rule applies to a chat, which of its target's
//! agents are eligible now (and why each other one is not, in words for the timeline), and whom
//! the rule's strategy picks. The server gathers the facts in the org's write transaction (so two
//! instances never decide the same chat twice); everything here is plain data and tested natively.

use std::fmt;

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use protocol::routing::{PresenceStatus, RoutingProfile, RuleMatch, Strategy, Weekday};
use protocol::Millis;

use super::schedule::{minutes, on_shift};

/// What routing knows of a chat when a rule is tried on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatFacts {
    pub pipeline_id: Option<String>,
    pub stage: Option<String>,
    /// Nobody owns it and it was never routed.
    pub is_new: bool,
}

/// Whether every condition the rule gives holds for the chat at `now` on the org's clock.
pub fn rule_matches(conditions: &RuleMatch, chat: &ChatFacts, tz: Tz, now: Millis) -> bool {
    mismatch(conditions, chat, tz, now).is_none()
}

/// The first of the rule's conditions the chat does not meet at `now`, in words (`None`: it
/// meets them all).
pub fn mismatch(conditions: &RuleMatch, chat: &ChatFacts, tz: Tz, now: Millis) -> Option<String> {
    if conditions.pipeline_id.is_some() && conditions.pipeline_id != chat.pipeline_id {
        return Some("the chat is not in the rule's pipeline".into());
    }
    if let Some(stage) = &conditions.stage {
        if chat.stage.as_ref() != Some(stage) {
            return Some(format!("the chat is not at stage {stage}"));
        }
    }
    if conditions.new_chat == Some(true) && !chat.is_new {
        return Some("the chat is not new".into());
    }
    let Some(local) = tz.timestamp_millis_opt(now).single() else {
        return Some("the time is not on the org's clock".into());
    };
    if let Some(days) = &conditions.weekdays {
        let today = Weekday::ALL[local.weekday().num_days_from_monday() as usize];
        if !days.contains(&today) {
            return Some(format!("today ({}) is not one of its days", today.as_str()));
        }
    }
    if let (Some(from), Some(to)) = (&conditions.from, &conditions.to) {
        let (Ok(start), Ok(end)) = (minutes("from", from), minutes("to", to)) else {
            return Some("its hours are unreadable".into());
        };
        let now = local.hour() * 60 + local.minute();
        let within = if start < end {
            start <= now && now < end
        } else {
            now >= start || now < end
        };
        if !within {
            return Some(format!(
                "{:02}:{:02} is outside its hours ({from} to {to})",
                local.hour(),
                local.minute()
            ));
        }
    }
    None
}

/// An agent a rule could route to, as the database has them now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub presence: PresenceStatus,
    pub profile: RoutingProfile,
    /// Chats they own that are not closed.
    pub open_chats: u32,
    /// When routing last gave them a chat (`None`: never).
    pub last_assigned_at: Option<Millis>,
}

/// Why an agent was not eligible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotEligible {
    Offline,
    Away,
    OffShift,
    AtCapacity { open: u32, capacity: u32 },
    MissingSkill(String),
}

impl fmt::Display for NotEligible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotEligible::Offline => write!(f, "offline"),
            NotEligible::Away => write!(f, "away"),
            NotEligible::OffShift => write!(f, "off shift"),
            NotEligible::AtCapacity { open, capacity } => {
                write!(f, "at capacity ({open} of {capacity} chats open)")
            }
            NotEligible::MissingSkill(skill) => write!(f, "without the skill {skill}"),
        }
    }
}

/// Whether the candidate can be given a chat now: available, on shift, under capacity, and with
/// the rule's skill if it names one. The first reason found, in that order.
pub fn eligibility(
    candidate: &Candidate,
    skill: Option<&str>,
    tz: Tz,
    now: Millis,
) -> Result<(), NotEligible> {
    match candidate.presence {
        PresenceStatus::Offline => return Err(NotEligible::Offline),
        PresenceStatus::Away => return Err(NotEligible::Away),
        PresenceStatus::Available => {}
    }
    if !on_shift(&candidate.profile, tz, now) {
        return Err(NotEligible::OffShift);
    }
    if let Some(capacity) = candidate.profile.capacity {
        if candidate.open_chats >= capacity {
            return Err(NotEligible::AtCapacity {
                open: candidate.open_chats,
                capacity,
            });
        }
    }
    if let Some(skill) = skill {
        if !candidate.profile.skills.iter().any(|s| s == skill) {
            return Err(NotEligible::MissingSkill(skill.to_owned()));
        }
    }
    Ok(())
}

/// A rule's decision: whom it picked (if anyone was eligible), who was eligible, and why each
/// other candidate was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub chosen: Option<String>,
    pub eligible: Vec<String>,
    pub refused: Vec<(String, NotEligible)>,
}

/// Decides among `candidates` by the rule's strategy. Round robin goes to the first eligible
/// agent after `last_picked` (by id, wrapping), so turns stay fair whoever drops out in between;
/// least-loaded to the fewest open chats, then whoever waited longest since their last chat.
pub fn decide(
    candidates: &[Candidate],
    strategy: Strategy,
    skill: Option<&str>,
    last_picked: Option<&str>,
    tz: Tz,
    now: Millis,
) -> Decision {
    let mut ordered: Vec<&Candidate> = candidates.iter().collect();
    ordered.sort_by(|a, b| a.id.cmp(&b.id));
    let mut eligible: Vec<&Candidate> = Vec::new();
    let mut refused = Vec::new();
    for candidate in ordered {
        match eligibility(candidate, skill, tz, now) {
            Ok(()) => eligible.push(candidate),
            Err(why) => refused.push((candidate.id.clone(), why)),
        }
    }
    let chosen = match strategy {
        Strategy::RoundRobin => eligible
            .iter()
            .find(|c| last_picked.is_some_and(|last| c.id.as_str() > last))
            .or_else(|| eligible.first())
            .map(|c| c.id.clone()),
        Strategy::LeastLoaded => eligible
            .iter()
            .min_by(|a, b| {
                a.open_chats
                    .cmp(&b.open_chats)
                    .then_with(|| {
                        // Never assigned counts as having waited longest.
                        a.last_assigned_at
                            .unwrap_or(i64::MIN)
                            .cmp(&b.last_assigned_at.unwrap_or(i64::MIN))
                    })
                    .then_with(|| a.id.cmp(&b.id))
            })
            .map(|c| c.id.clone()),
    };
    Decision {
        chosen,
        eligible: eligible.iter().map(|c| c.id.clone()).collect(),
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::routing::Shift;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    /// Unix ms of a wall-clock time in Kolkata.
    fn at(d: u32, h: u32, mi: u32) -> Millis {
        kolkata()
            .with_ymd_and_hms(2026, 11, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    fn candidate(id: &str) -> Candidate {
        Candidate {
            id: id.into(),
            name: id.to_uppercase(),
            presence: PresenceStatus::Available,
            profile: RoutingProfile::default(),
            open_chats: 0,
            last_assigned_at: None,
        }
    }

    #[test]
    fn a_rule_applies_by_pipeline_stage_newness_day_and_hour_on_the_orgs_clock() {
        let by_day = RuleMatch {
            weekdays: Some(vec![Weekday::Thu, Weekday::Fri]),
            from: Some("09:00".into()),
            to: Some("18:00".into()),
            new_chat: Some(true),
            ..RuleMatch::default()
        };
        let new = ChatFacts {
            is_new: true,
            ..ChatFacts::default()
        };
        // Thursday 26 November 2026.
        assert!(rule_matches(&by_day, &new, kolkata(), at(26, 9, 0)));
        assert!(!rule_matches(&by_day, &new, kolkata(), at(26, 18, 0)));
        assert!(!rule_matches(
            &by_day,
            &ChatFacts::default(),
            kolkata(),
            at(26, 10, 0)
        ));
        // Saturday is not one of its days.
        assert!(!rule_matches(&by_day, &new, kolkata(), at(28, 10, 0)));
        // The same instant is 03:30 UTC: in a UTC org it would not match.
        assert!(!rule_matches(&by_day, &new, Tz::UTC, at(26, 9, 0)));
        let night = RuleMatch {
            from: Some("22:00".into()),
            to: Some("06:00".into()),
            ..RuleMatch::default()
        };
        assert!(rule_matches(&night, &new, kolkata(), at(26, 23, 0)));
        assert!(rule_matches(&night, &new, kolkata(), at(27, 5, 59)));
        assert!(!rule_matches(&night, &new, kolkata(), at(27, 6, 0)));
        let qualified = RuleMatch {
            pipeline_id: Some("p".into()),
            stage: Some("Qualified".into()),
            ..RuleMatch::default()
        };
        let in_stage = |stage: &str| ChatFacts {
            pipeline_id: Some("p".into()),
            stage: Some(stage.into()),
            is_new: false,
        };
        assert!(rule_matches(
            &qualified,
            &in_stage("Qualified"),
            kolkata(),
            at(26, 3, 0)
        ));
        assert!(!rule_matches(
            &qualified,
            &in_stage("New"),
            kolkata(),
            at(26, 3, 0)
        ));
    }

    #[test]
    fn each_ineligible_agent_is_refused_with_the_reason() {
        let now = at(26, 20, 0);
        let mut off_shift = candidate("d");
        off_shift.profile.shifts = vec![Shift {
            weekday: Weekday::Thu,
            start: "09:00".into(),
            end: "18:00".into(),
        }];
        let mut full = candidate("e");
        full.profile.capacity = Some(2);
        full.open_chats = 2;
        let mut away = candidate("b");
        away.presence = PresenceStatus::Away;
        let mut offline = candidate("c");
        offline.presence = PresenceStatus::Offline;
        let mut hindi = candidate("f");
        hindi.profile.skills = vec!["hindi".into()];
        let candidates = [candidate("a"), away, offline, off_shift, full, hindi];
        let decision = decide(
            &candidates,
            Strategy::RoundRobin,
            Some("hindi"),
            None,
            kolkata(),
            now,
        );
        assert_eq!(decision.chosen.as_deref(), Some("f"));
        assert_eq!(decision.eligible, ["f"]);
        let words: Vec<String> = decision
            .refused
            .iter()
            .map(|(id, why)| format!("{id}: {why}"))
            .collect();
        assert_eq!(
            words,
            [
                "a: without the skill hindi",
                "b: away",
                "c: offline",
                "d: off shift",
                "e: at capacity (2 of 2 chats open)",
            ]
        );
        // Nobody eligible: nobody chosen (the chat waits in the queue).
        let nobody = decide(
            &candidates[1..3],
            Strategy::LeastLoaded,
            None,
            None,
            kolkata(),
            now,
        );
        assert_eq!(nobody.chosen, None);
    }

    #[test]
    fn round_robin_stays_fair_over_300_chats_whoever_drops_out() {
        let mut team = vec![candidate("a"), candidate("b"), candidate("c")];
        let mut last: Option<String> = None;
        let mut counts = std::collections::BTreeMap::new();
        for n in 0..300 {
            // Now and then someone is away for a turn; their share moves to the others only then.
            team[1].presence = if n % 50 == 7 {
                PresenceStatus::Away
            } else {
                PresenceStatus::Available
            };
            let decision = decide(
                &team,
                Strategy::RoundRobin,
                None,
                last.as_deref(),
                kolkata(),
                at(26, 12, 0),
            );
            let chosen = decision.chosen.unwrap();
            *counts.entry(chosen.clone()).or_insert(0) += 1;
            last = Some(chosen);
        }
        let shares: Vec<i32> = counts.values().copied().collect();
        let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
        assert!(max - min <= 6, "shares {counts:?}");
        assert_eq!(shares.iter().sum::<i32>(), 300);
        // Without anyone away, exactly 100 each.
        let mut counts = std::collections::BTreeMap::new();
        let mut last: Option<String> = None;
        let team = [candidate("a"), candidate("b"), candidate("c")];
        for _ in 0..300 {
            let chosen = decide(
                &team,
                Strategy::RoundRobin,
                None,
                last.as_deref(),
                kolkata(),
                at(26, 12, 0),
            )
            .chosen
            .unwrap();
            *counts.entry(chosen.clone()).or_insert(0) += 1;
            last = Some(chosen);
        }
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            [100, 100, 100]
        );
    }

    #[test]
    fn least_loaded_picks_the_fewest_open_chats_then_who_waited_longest() {
        let mut a = candidate("a");
        a.open_chats = 3;
        let mut b = candidate("b");
        b.open_chats = 1;
        b.last_assigned_at = Some(500);
        let mut c = candidate("c");
        c.open_chats = 1;
        c.last_assigned_at = Some(100);
        let now = at(26, 12, 0);
        let pick = |team: &[Candidate]| {
            decide(team, Strategy::LeastLoaded, None, None, kolkata(), now).chosen
        };
        assert_eq!(
            pick(&[a.clone(), b.clone(), c.clone()]).as_deref(),
            Some("c")
        );
        let mut d = candidate("d");
        d.open_chats = 1;
        assert_eq!(
            pick(&[a, b, c, d]).as_deref(),
            Some("d"),
            "never given a chat: waited longest"
        );
    }
}
