//! The reports' arithmetic, pure: a conversation's messages (metadata only) and its history of
//! owners and stages become [`Fact`]s — each credited to an agent and a stage at an instant —
//! and facts grouped by agent, team, stage or day become [`Figures`]. Every definition the README
//! gives ("Reports: what each figure means") is implemented here and nowhere else.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use protocol::reports::{Durations, Figures};
use protocol::routing::RoutingProfile;

use crate::routing::schedule::within_hours;

/// A pipeline stage as `(pipeline id, stage name)`; `None`: in no stage.
pub type Stage = Option<(String, String)>;

/// One message of a conversation: when, which way, and who sent it if Baton knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub sent_at: i64,
    pub outgoing: bool,
    /// The agent whose reply-lock fence came with it.
    pub sender: Option<String>,
}

/// What is known of one conversation.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    /// Its messages by time sent (ties: as recorded); de-duplicated already.
    pub messages: Vec<Message>,
    /// Changes of owner, oldest first: from that instant on, the owner is that agent (or nobody).
    pub owners: Vec<(i64, Option<String>)>,
    /// Changes of stage, oldest first, under the stages' current names.
    pub stages: Vec<(i64, Stage)>,
    /// Not closed.
    pub open: bool,
}

/// A handoff between agents (its conversation by index into the chats).
#[derive(Debug, Clone)]
pub struct Handoff {
    pub chat: usize,
    pub from: Option<String>,
    pub to: String,
    pub accepted: bool,
    pub declined: bool,
    pub at: i64,
}

/// A stage's targets in minutes of business hours: `(first response, response)`.
pub type Targets = HashMap<(String, String), (Option<u32>, Option<u32>)>;

/// Where and when the figures are taken.
pub struct Frame<'a> {
    pub tz: Tz,
    /// The org's business hours (no hours: open at all times).
    pub hours: &'a RoutingProfile,
    pub targets: &'a Targets,
    /// The range, `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    pub now: i64,
}

/// Something that happened, credited to an agent (if any) and the stage the chat was in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub chat: usize,
    pub agent: Option<String>,
    pub stage: Stage,
    pub at: i64,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    Incoming,
    Outgoing,
    /// An outgoing message that answered a wait; `first`: the conversation's first answer.
    Response {
        first: bool,
        wall_ms: i64,
        business_ms: i64,
        breached: bool,
    },
    HandoffGiven,
    HandoffReceived,
    HandoffDeclined,
    /// The chat is open and waiting for us now, since `at`.
    Waiting {
        breached: bool,
    },
}

/// The value in force at `at` in a list of changes (oldest first): the last change at or before it.
fn as_of<T: Clone + Default>(changes: &[(i64, T)], at: i64) -> T {
    let after = changes.partition_point(|(t, _)| *t <= at);
    after
        .checked_sub(1)
        .map(|i| changes[i].1.clone())
        .unwrap_or_default()
}

fn target(frame: &Frame, stage: &Stage, first: bool) -> Option<i64> {
    let (first_mins, response_mins) = frame.targets.get(stage.as_ref()?)?;
    let mins = if first { *first_mins } else { *response_mins }?;
    Some(i64::from(mins) * 60_000)
}

/// The facts of one conversation in the range (and its wait now, whatever the range).
///
/// A wait begins with an incoming message when none is unanswered; the next outgoing message
/// answers it (a response, credited to its sender, or when Baton does not know the sender, to
/// whoever owned the chat when it was sent). The conversation's first response answers the wait
/// its first incoming message began. A response's stage is the stage when the wait began.
pub fn chat_facts(index: usize, chat: &Chat, frame: &Frame, out: &mut Vec<Fact>) {
    let in_range = |at: i64| frame.from_ms <= at && at < frame.to_ms;
    let mut waiting_since: Option<i64> = None;
    let mut answered_before = false;
    for message in &chat.messages {
        let at = message.sent_at;
        if !message.outgoing {
            if waiting_since.is_none() {
                waiting_since = Some(at);
            }
            if in_range(at) {
                out.push(Fact {
                    chat: index,
                    agent: as_of(&chat.owners, at),
                    stage: as_of(&chat.stages, at),
                    at,
                    what: What::Incoming,
                });
            }
            continue;
        }
        let agent = message.sender.clone().or_else(|| as_of(&chat.owners, at));
        if in_range(at) {
            out.push(Fact {
                chat: index,
                agent: agent.clone(),
                stage: as_of(&chat.stages, at),
                at,
                what: What::Outgoing,
            });
        }
        if let Some(since) = waiting_since.take() {
            let first = !answered_before;
            answered_before = true;
            if in_range(at) {
                let stage = as_of(&chat.stages, since);
                let business_ms = within_hours(frame.hours, frame.tz, since, at);
                let breached = target(frame, &stage, first).is_some_and(|t| business_ms > t);
                out.push(Fact {
                    chat: index,
                    agent,
                    stage,
                    at,
                    what: What::Response {
                        first,
                        wall_ms: (at - since).max(0),
                        business_ms,
                        breached,
                    },
                });
            }
        }
    }
    if let (Some(since), true) = (waiting_since, chat.open) {
        let stage = as_of(&chat.stages, frame.now);
        let waited = within_hours(frame.hours, frame.tz, since, frame.now);
        let breached = target(frame, &stage, !answered_before).is_some_and(|t| waited > t);
        out.push(Fact {
            chat: index,
            agent: as_of(&chat.owners, frame.now),
            stage,
            at: since,
            what: What::Waiting { breached },
        });
    }
}

/// A handoff's facts if it was made in the range: given by its sender, received (accepted) or
/// declined by its receiver; its stage is the chat's when it was made.
pub fn handoff_facts(handoff: &Handoff, chats: &[Chat], frame: &Frame, out: &mut Vec<Fact>) {
    if !(frame.from_ms <= handoff.at && handoff.at < frame.to_ms) {
        return;
    }
    let stage = chats
        .get(handoff.chat)
        .map(|c| as_of(&c.stages, handoff.at))
        .unwrap_or_default();
    let fact = |agent: Option<String>, what| Fact {
        chat: handoff.chat,
        agent,
        stage: stage.clone(),
        at: handoff.at,
        what,
    };
    out.push(fact(handoff.from.clone(), What::HandoffGiven));
    if handoff.accepted {
        out.push(fact(Some(handoff.to.clone()), What::HandoffReceived));
    }
    if handoff.declined {
        out.push(fact(Some(handoff.to.clone()), What::HandoffDeclined));
    }
}

/// Nearest-rank percentile `p` (in percent) of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Milliseconds as whole seconds, halves rounded up.
fn secs(ms: i64) -> i64 {
    (ms + 500).div_euclid(1000)
}

fn durations(mut wall: Vec<i64>, mut business: Vec<i64>) -> Durations {
    wall.sort_unstable();
    business.sort_unstable();
    let mean = |v: &[i64]| {
        (!v.is_empty()).then(|| {
            let sum: i128 = v.iter().map(|&x| i128::from(x)).sum();
            secs((sum / v.len() as i128) as i64)
        })
    };
    Durations {
        count: wall.len() as u32,
        median_secs: percentile(&wall, 50).map(secs),
        p90_secs: percentile(&wall, 90).map(secs),
        mean_secs: mean(&wall),
        business_median_secs: percentile(&business, 50).map(secs),
        business_p90_secs: percentile(&business, 90).map(secs),
        business_mean_secs: mean(&business),
    }
}

/// The figures of a set of facts.
pub fn figures<'a>(facts: impl IntoIterator<Item = &'a Fact>) -> Figures {
    let mut f = Figures::default();
    let mut handled = BTreeSet::new();
    let (mut first_wall, mut first_business) = (Vec::new(), Vec::new());
    let (mut wall, mut business) = (Vec::new(), Vec::new());
    for fact in facts {
        match &fact.what {
            What::Incoming => f.messages_in += 1,
            What::Outgoing => {
                f.messages_out += 1;
                handled.insert(fact.chat);
            }
            What::Response {
                first,
                wall_ms,
                business_ms,
                breached,
            } => {
                if *first {
                    first_wall.push(*wall_ms);
                    first_business.push(*business_ms);
                }
                wall.push(*wall_ms);
                business.push(*business_ms);
                f.sla_breaches += u32::from(*breached);
            }
            What::HandoffGiven => f.handoffs_given += 1,
            What::HandoffReceived => f.handoffs_received += 1,
            What::HandoffDeclined => f.handoffs_declined += 1,
            What::Waiting { breached } => {
                f.waiting_now += 1;
                f.waiting_breached += u32::from(*breached);
            }
        }
    }
    f.conversations = handled.len() as u32;
    f.first_response = durations(first_wall, first_business);
    f.response = durations(wall, business);
    f
}

/// Facts grouped under the keys `keys` gives each (none: left out; several: in each).
pub fn group<K: Ord>(facts: &[Fact], keys: impl Fn(&Fact) -> Vec<K>) -> BTreeMap<K, Figures> {
    let mut groups: BTreeMap<K, Vec<&Fact>> = BTreeMap::new();
    for fact in facts {
        for key in keys(fact) {
            groups.entry(key).or_default().push(fact);
        }
    }
    groups
        .into_iter()
        .map(|(key, facts)| (key, figures(facts)))
        .collect()
}

/// The org's calendar date of an instant.
pub fn local_date(tz: Tz, at: i64) -> Option<NaiveDate> {
    tz.timestamp_millis_opt(at).single().map(|t| t.date_naive())
}

/// The instant a date begins on the org's calendar (the first instant after a gap).
pub fn day_start(tz: Tz, date: NaiveDate) -> Option<i64> {
    (0..3).find_map(|hour| {
        let local = date.and_hms_opt(hour, 0, 0)?;
        tz.from_local_datetime(&local)
            .earliest()
            .map(|t| t.timestamp_millis())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::routing::{Shift, Weekday};

    const MIN: i64 = 60_000;

    fn kolkata() -> Tz {
        "Asia/Kolkata".parse().unwrap()
    }

    fn at(d: u32, h: u32, m: u32) -> i64 {
        kolkata()
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .unwrap()
            .timestamp_millis()
    }

    fn msg(sent_at: i64, outgoing: bool, sender: Option<&str>) -> Message {
        Message {
            sent_at,
            outgoing,
            sender: sender.map(str::to_owned),
        }
    }

    fn all_day() -> Frame<'static> {
        static OPEN: RoutingProfile = RoutingProfile {
            skills: Vec::new(),
            capacity: None,
            shifts: Vec::new(),
            exceptions: Vec::new(),
        };
        static NONE: std::sync::OnceLock<Targets> = std::sync::OnceLock::new();
        Frame {
            tz: kolkata(),
            hours: &OPEN,
            targets: NONE.get_or_init(Targets::new),
            from_ms: at(1, 0, 0),
            to_ms: at(30, 0, 0),
            now: at(29, 12, 0),
        }
    }

    fn facts_of(chats: &[Chat], frame: &Frame) -> Vec<Fact> {
        let mut out = Vec::new();
        for (i, chat) in chats.iter().enumerate() {
            chat_facts(i, chat, frame, &mut out);
        }
        out
    }

    #[test]
    fn a_wait_starts_at_the_first_unanswered_message_and_the_next_reply_ends_it() {
        let chat = Chat {
            messages: vec![
                msg(at(2, 10, 0), false, None),
                msg(at(2, 10, 3), false, None),
                msg(at(2, 10, 10), true, Some("asha")),
                msg(at(2, 10, 11), true, Some("asha")),
                msg(at(2, 11, 0), false, None),
                msg(at(2, 11, 30), true, Some("ravi")),
            ],
            open: true,
            ..Chat::default()
        };
        let facts = facts_of(&[chat], &all_day());
        let total = figures(&facts);
        assert_eq!((total.messages_in, total.messages_out), (3, 3));
        assert_eq!(total.conversations, 1);
        assert_eq!(total.first_response.count, 1);
        assert_eq!(total.first_response.median_secs, Some(600));
        // 10 minutes and 30 minutes: nearest-rank median is the lower, p90 the higher.
        assert_eq!(total.response.count, 2);
        assert_eq!(total.response.median_secs, Some(600));
        assert_eq!(total.response.p90_secs, Some(1800));
        assert_eq!(total.response.mean_secs, Some(1200));
        assert_eq!(total.waiting_now, 0);
        let by_agent = group(&facts, |f| vec![f.agent.clone()]);
        let ravi = &by_agent[&Some("ravi".to_owned())];
        assert_eq!(ravi.first_response.count, 0);
        assert_eq!(ravi.response.median_secs, Some(1800));
        assert_eq!(by_agent[&Some("asha".to_owned())].messages_out, 2);
    }

    #[test]
    fn an_unknown_sender_is_the_owner_at_the_time_else_nobody() {
        let chat = Chat {
            messages: vec![
                msg(at(2, 9, 0), false, None),
                msg(at(2, 9, 5), true, None),
                msg(at(2, 12, 0), false, None),
                msg(at(2, 12, 5), true, None),
            ],
            owners: vec![(at(2, 11, 0), Some("meera".into()))],
            open: true,
            ..Chat::default()
        };
        let facts = facts_of(&[chat], &all_day());
        let by_agent = group(&facts, |f| vec![f.agent.clone()]);
        assert_eq!(by_agent[&None].first_response.count, 1);
        assert_eq!(by_agent[&Some("meera".to_owned())].response.count, 1);
        assert_eq!(by_agent[&Some("meera".to_owned())].messages_in, 1);
    }

    #[test]
    fn business_hours_leave_out_the_night_and_the_weekend() {
        let hours = RoutingProfile {
            shifts: [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]
            .into_iter()
            .map(|weekday| Shift {
                weekday,
                start: "09:00".into(),
                end: "18:00".into(),
            })
            .collect(),
            ..RoutingProfile::default()
        };
        let targets = Targets::from([(("p".into(), "New".into()), (Some(30), Some(60)))]);
        let frame = Frame {
            hours: &hours,
            targets: &targets,
            ..all_day()
        };
        // Friday 27th 17:50 → Monday 30th 09:10 is 20 business minutes, three days on the wall.
        let chat = Chat {
            messages: vec![
                msg(at(27, 17, 50), false, None),
                msg(at(30, 9, 10) - 1, true, Some("asha")),
            ],
            stages: vec![(at(1, 0, 0), Some(("p".into(), "New".into())))],
            open: true,
            ..Chat::default()
        };
        let frame = Frame {
            to_ms: at(30, 23, 0),
            now: at(30, 23, 0),
            ..frame
        };
        let total = figures(&facts_of(std::slice::from_ref(&chat), &frame));
        assert_eq!(total.first_response.business_median_secs, Some(20 * 60));
        assert_eq!(
            total.first_response.median_secs,
            Some((at(30, 9, 10) - at(27, 17, 50)) / 1000)
        );
        assert_eq!(total.sla_breaches, 0);
        // A first response after 31 business minutes breaches the 30-minute target.
        let slow = Chat {
            messages: vec![
                msg(at(27, 17, 50), false, None),
                msg(at(30, 9, 21), true, Some("asha")),
            ],
            ..chat
        };
        let total = figures(&facts_of(&[slow], &frame));
        assert_eq!(total.sla_breaches, 1);
    }

    #[test]
    fn waiting_now_counts_open_chats_and_their_breaches_whatever_the_range() {
        let targets = Targets::from([(("p".into(), "New".into()), (Some(30), Some(60)))]);
        let frame = Frame {
            targets: &targets,
            ..all_day()
        };
        let in_new = vec![(at(1, 0, 0), Some(("p".to_owned(), "New".to_owned())))];
        let chats = vec![
            // Waiting 2 hours for a first answer: breached.
            Chat {
                messages: vec![msg(frame.now - 120 * MIN, false, None)],
                stages: in_new.clone(),
                owners: vec![(at(1, 0, 0), Some("asha".into()))],
                open: true,
            },
            // Answered once, waiting 45 minutes again: within the 60-minute response target.
            Chat {
                messages: vec![
                    msg(at(3, 10, 0), false, None),
                    msg(at(3, 10, 1), true, Some("asha")),
                    msg(frame.now - 45 * MIN, false, None),
                ],
                stages: in_new,
                open: true,
                ..Chat::default()
            },
            // Closed: not waiting.
            Chat {
                messages: vec![msg(at(5, 10, 0), false, None)],
                open: false,
                ..Chat::default()
            },
        ];
        let narrow = Frame {
            from_ms: at(29, 11, 0),
            ..frame
        };
        let total = figures(&facts_of(&chats, &narrow));
        assert_eq!((total.waiting_now, total.waiting_breached), (2, 1));
        // The range holds only the second chat's last message, so one incoming and nothing else.
        assert_eq!(total.messages_in, 1);
        assert_eq!(total.response.count, 0);
    }

    #[test]
    fn a_responses_stage_is_the_stage_when_the_wait_began() {
        let chat = Chat {
            messages: vec![
                msg(at(4, 10, 0), false, None),
                msg(at(4, 12, 0), true, Some("asha")),
            ],
            stages: vec![
                (at(4, 9, 0), Some(("p".into(), "New".into()))),
                (at(4, 11, 0), Some(("p".into(), "Won".into()))),
            ],
            ..Chat::default()
        };
        let facts = facts_of(&[chat], &all_day());
        let by_stage = group(&facts, |f| vec![f.stage.clone()]);
        let new = &by_stage[&Some(("p".to_owned(), "New".to_owned()))];
        assert_eq!(new.response.count, 1);
        assert_eq!(new.messages_in, 1);
        assert_eq!(
            by_stage[&Some(("p".to_owned(), "Won".to_owned()))].messages_out,
            1
        );
    }

    #[test]
    fn handoffs_count_for_giver_and_receiver_in_the_range() {
        let chats = vec![Chat::default()];
        let frame = all_day();
        let mut facts = Vec::new();
        for (at_ms, accepted, declined) in [
            (at(3, 10, 0), true, false),
            (at(3, 11, 0), false, true),
            (at(3, 12, 0), false, false),
            (at(30, 12, 0), true, false),
        ] {
            handoff_facts(
                &Handoff {
                    chat: 0,
                    from: Some("asha".into()),
                    to: "ravi".into(),
                    accepted,
                    declined,
                    at: at_ms,
                },
                &chats,
                &frame,
                &mut facts,
            );
        }
        let by_agent = group(&facts, |f| vec![f.agent.clone()]);
        assert_eq!(by_agent[&Some("asha".to_owned())].handoffs_given, 3);
        let ravi = &by_agent[&Some("ravi".to_owned())];
        assert_eq!((ravi.handoffs_received, ravi.handoffs_declined), (1, 1));
    }

    #[test]
    fn percentiles_are_nearest_rank_and_seconds_round_half_up() {
        let v: Vec<i64> = (1..=10).map(|s| s * 1000).collect();
        assert_eq!(percentile(&v, 50), Some(5000));
        assert_eq!(percentile(&v, 90), Some(9000));
        assert_eq!(percentile(&v[..1], 90), Some(1000));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(secs(1499), 1);
        assert_eq!(secs(1500), 2);
        let d = durations(vec![1000, 2000, 4000], vec![0, 0, 0]);
        assert_eq!((d.mean_secs, d.business_mean_secs), (Some(2), Some(0)));
    }

    #[test]
    fn days_begin_at_local_midnight() {
        let tz = kolkata();
        let date = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(day_start(tz, date), Some(at(26, 0, 0)));
        assert_eq!(local_date(tz, at(26, 23, 59)), Some(date));
    }
}
