//! Checking a routing rule's shape before it is stored: its name, conditions and target, each
//! refused with a message naming the field. The ids it names (pipeline, stage, team, agents) are
//! checked against the org by the handler, in the same transaction as the write.

use protocol::routing::{RuleMatch, RuleRequest, RuleTarget};

use super::schedule::{minutes, skill_tag};

/// Longest rule name.
const MAX_NAME_CHARS: usize = 80;
/// Most agents a rule may list.
const MAX_AGENTS: usize = 500;
/// The no-reply fallback's bounds, in seconds.
pub const REASSIGN_SECS: std::ops::RangeInclusive<u32> = 30..=86_400;

/// The request tidied: name trimmed; weekdays, agents once each and sorted; skill as a tag; empty
/// optional texts as absent. Or what is wrong.
pub fn check_rule(request: RuleRequest) -> Result<RuleRequest, String> {
    let name = crate::admin::clean_name("name", &request.name, MAX_NAME_CHARS)?;
    let given = |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    let m = request.matches;
    let pipeline_id = given(m.pipeline_id);
    let stage = given(m.stage);
    if stage.is_some() && pipeline_id.is_none() {
        return Err("match.stage needs match.pipeline_id: a stage belongs to a pipeline".into());
    }
    let weekdays = match m.weekdays {
        Some(mut days) => {
            if days.is_empty() {
                return Err(
                    "match.weekdays must name at least one day (leave it out for every day)".into(),
                );
            }
            days.sort();
            days.dedup();
            Some(days)
        }
        None => None,
    };
    let (from, to) = (given(m.from), given(m.to));
    match (&from, &to) {
        (Some(f), Some(t)) => {
            let (start, end) = (minutes("match.from", f)?, minutes("match.to", t)?);
            if start == end {
                return Err(format!(
                    "match.from and match.to are both {f}; leave both out for all day"
                ));
            }
        }
        (None, None) => {}
        _ => return Err("match.from and match.to go together: give both or neither".into()),
    }
    let skill = given(m.skill)
        .map(|s| skill_tag("match.skill", &s))
        .transpose()?;
    let target = match (given(request.target.team_id), request.target.agent_ids) {
        (Some(team_id), None) => RuleTarget {
            team_id: Some(team_id),
            agent_ids: None,
        },
        (None, Some(mut agents)) => {
            agents.sort();
            agents.dedup();
            if agents.is_empty() {
                return Err("target.agent_ids must name at least one agent".into());
            }
            if agents.len() > MAX_AGENTS {
                return Err(format!("target.agent_ids: at most {MAX_AGENTS} agents"));
            }
            RuleTarget {
                team_id: None,
                agent_ids: Some(agents),
            }
        }
        (None, None) => {
            return Err(
                "target must name a team (target.team_id) or agents (target.agent_ids)".into(),
            )
        }
        (Some(_), Some(_)) => {
            return Err("target names a team or agents, not both".into());
        }
    };
    if let Some(secs) = request.reassign_after_secs {
        if !REASSIGN_SECS.contains(&secs) {
            return Err(format!(
                "reassign_after_secs must be between {} and {} seconds",
                REASSIGN_SECS.start(),
                REASSIGN_SECS.end()
            ));
        }
    }
    Ok(RuleRequest {
        name,
        enabled: request.enabled,
        matches: RuleMatch {
            pipeline_id,
            stage,
            weekdays,
            from,
            to,
            skill,
            new_chat: m.new_chat,
        },
        target,
        strategy: request.strategy,
        reassign_after_secs: request.reassign_after_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::routing::{Strategy, Weekday};

    fn rule() -> RuleRequest {
        RuleRequest {
            name: " Qualification by day ".into(),
            enabled: true,
            matches: RuleMatch {
                weekdays: Some(vec![Weekday::Tue, Weekday::Mon, Weekday::Mon]),
                from: Some("09:00".into()),
                to: Some("18:00".into()),
                skill: Some(" Hindi".into()),
                new_chat: Some(true),
                ..RuleMatch::default()
            },
            target: RuleTarget {
                team_id: Some("t1".into()),
                agent_ids: None,
            },
            strategy: Strategy::RoundRobin,
            reassign_after_secs: Some(600),
        }
    }

    #[test]
    fn a_rule_is_tidied() {
        let tidy = check_rule(rule()).unwrap();
        assert_eq!(tidy.name, "Qualification by day");
        assert_eq!(
            tidy.matches.weekdays,
            Some(vec![Weekday::Mon, Weekday::Tue])
        );
        assert_eq!(tidy.matches.skill.as_deref(), Some("hindi"));
    }

    #[test]
    fn a_bad_rule_is_refused_naming_the_field() {
        let refused = |change: &dyn Fn(&mut RuleRequest)| {
            let mut r = rule();
            change(&mut r);
            check_rule(r).unwrap_err()
        };
        type Change = Box<dyn Fn(&mut RuleRequest)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.name = "  ".into()), "the name"),
            (
                Box::new(|r| r.matches.stage = Some("Qualified".into())),
                "match.stage",
            ),
            (
                Box::new(|r| r.matches.weekdays = Some(vec![])),
                "match.weekdays",
            ),
            (
                Box::new(|r| r.matches.from = Some("25:00".into())),
                "match.from",
            ),
            (
                Box::new(|r| r.matches.to = None),
                "match.from and match.to go together",
            ),
            (
                Box::new(|r| r.matches.to = Some("09:00".into())),
                "match.from and match.to are both",
            ),
            (
                Box::new(|r| r.matches.skill = Some("Home Loans".into())),
                "match.skill",
            ),
            (
                Box::new(|r| {
                    r.target = RuleTarget::default();
                }),
                "target must name",
            ),
            (
                Box::new(|r| r.target.agent_ids = Some(vec!["a".into()])),
                "target names a team or agents",
            ),
            (
                Box::new(|r| {
                    r.target = RuleTarget {
                        team_id: None,
                        agent_ids: Some(vec![]),
                    }
                }),
                "target.agent_ids",
            ),
            (
                Box::new(|r| r.reassign_after_secs = Some(5)),
                "reassign_after_secs",
            ),
        ];
        for (change, field) in cases {
            let message = refused(&*change);
            assert!(message.starts_with(field), "{field}: {message}");
        }
    }
}
