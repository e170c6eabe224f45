//! The chat-list filters an agent scans by: Mine, Unassigned, Handoffs, Reminders due. Which
//! chats each one holds, in what order and with what to say about each, decided from the team
//! state alone (pure; the filter strip in `dom::filters` draws it).
//!
//! WhatsApp renders only the rows in view, so the strip does not hide rows of its list: a chosen
//! filter shows its own list over WhatsApp's, and a click opens the chat in WhatsApp.

use protocol::api::AgentRef;
use protocol::{ChatId, Millis};

use crate::state::{ConversationState, TeamState};

/// One filter of the strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFilter {
    /// Chats I own.
    Mine,
    /// Chats nobody owns.
    Unassigned,
    /// Handoffs waiting: for me to accept, or sent by me and not yet accepted.
    Handoffs,
    /// Chats with a reminder of mine that fell due and is not done.
    RemindersDue,
}

impl ChatFilter {
    pub const ALL: [ChatFilter; 4] = [
        ChatFilter::Mine,
        ChatFilter::Unassigned,
        ChatFilter::Handoffs,
        ChatFilter::RemindersDue,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ChatFilter::Mine => "Mine",
            ChatFilter::Unassigned => "Unassigned",
            ChatFilter::Handoffs => "Handoffs",
            ChatFilter::RemindersDue => "Reminders due",
        }
    }

    /// Its name in the DOM (`data-filter`).
    pub fn key(self) -> &'static str {
        match self {
            ChatFilter::Mine => "mine",
            ChatFilter::Unassigned => "unassigned",
            ChatFilter::Handoffs => "handoffs",
            ChatFilter::RemindersDue => "reminders",
        }
    }

    pub fn from_key(key: &str) -> Option<ChatFilter> {
        ChatFilter::ALL.into_iter().find(|f| f.key() == key)
    }

    /// What the list says when the filter holds nothing.
    pub fn empty_text(self) -> &'static str {
        match self {
            ChatFilter::Mine => "You own no chats right now.",
            ChatFilter::Unassigned => "Every chat has an owner.",
            ChatFilter::Handoffs => "No handoffs are waiting.",
            ChatFilter::RemindersDue => "No reminders are due.",
        }
    }
}

/// A chat in a filter's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredChat {
    pub chat_id: ChatId,
    pub title: String,
    pub owner: Option<AgentRef>,
    /// Why it is in the list, in words ("From Asha Rao — next: Book the visit").
    pub detail: String,
    /// A time to show beside it (a reminder's due time), if any.
    pub at: Option<Millis>,
}

/// The chats `filter` holds for me, in the order to scan them: the most recently active first;
/// handoffs newest first; reminders soonest first.
pub fn filter_chats(state: &TeamState, filter: ChatFilter) -> Vec<FilteredChat> {
    let Some(me) = state.my_id() else {
        return Vec::new();
    };
    let title = |c: &ConversationState| {
        if c.title.trim().is_empty() {
            c.chat_id.to_string()
        } else {
            c.title.clone()
        }
    };
    let stage = |c: &ConversationState| {
        c.stage
            .as_ref()
            .map(|s| format!("{} · {}", s.pipeline_name, s.stage))
            .unwrap_or_default()
    };
    let item = |c: &ConversationState, detail: String, at: Option<Millis>| FilteredChat {
        chat_id: c.chat_id.clone(),
        title: title(c),
        owner: c.owner.clone(),
        detail,
        at,
    };
    let mut keyed: Vec<(i64, FilteredChat)> = Vec::new();
    for c in state.conversations.values() {
        let owner = c.owner.as_ref().map(|o| o.id.as_str());
        match filter {
            ChatFilter::Mine if owner == Some(me) => {
                keyed.push((-c.last_activity_at, item(c, stage(c), None)))
            }
            ChatFilter::Unassigned if owner.is_none() && !c.title.is_empty() => {
                keyed.push((-c.last_activity_at, item(c, stage(c), None)))
            }
            ChatFilter::Handoffs => {
                let pending = c.pending_handoff.as_ref();
                let detail = match pending {
                    Some(h) if h.to.id == me => Some(format!(
                        "From {} — next: {}",
                        h.by.name,
                        crate::views::shorten(&h.next_step, 80)
                    )),
                    Some(h) if h.by.id == me => {
                        Some(format!("Waiting for {} to accept", h.to.name))
                    }
                    Some(_) => None,
                    // Known only from the list: the receiver owns the chat while it waits.
                    None if c.handoff_waiting && owner == Some(me) => {
                        Some("Handed to you: accept or decline it".to_owned())
                    }
                    None => None,
                };
                if let Some(detail) = detail {
                    // Newest first; those known only from the list (no time) after them.
                    let key = pending.map_or(0, |h| -h.created_at);
                    keyed.push((key, item(c, detail, None)));
                }
            }
            ChatFilter::RemindersDue => {
                let due = c
                    .reminders
                    .iter()
                    .filter(|r| r.for_agent.id == me && r.fired_at.is_some() && r.done_at.is_none())
                    .min_by_key(|r| r.due_at);
                if let Some(reminder) = due {
                    keyed.push((
                        reminder.due_at,
                        item(
                            c,
                            crate::views::shorten(&reminder.text, 80),
                            Some(reminder.due_at),
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    keyed.sort_unstable_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.title.cmp(&y.title)));
    keyed.into_iter().map(|(_, item)| item).collect()
}

/// How many chats each filter holds, in strip order.
pub fn filter_counts(state: &TeamState) -> [(ChatFilter, usize); 4] {
    ChatFilter::ALL.map(|f| (f, filter_chats(state, f).len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{agent, chat, event, state_for};
    use protocol::api::{
        ConversationSummary, Handoff, HandoffStatus, MessageRecord, Reminder, Role,
    };
    use protocol::events::EventBody;

    fn summary(
        n: u32,
        owner: Option<AgentRef>,
        active: Millis,
        handoff: bool,
    ) -> ConversationSummary {
        ConversationSummary {
            chat_id: chat(n),
            alias: None,
            title: format!("Chat {n}"),
            phone: None,
            owner,
            lock: None,
            stage: None,
            has_pending_handoff: handoff,
            closed_at: None,
            routed_by: None,
            queued_at: None,
            created_at: 1,
            last_activity_at: active,
            last_event_seq: i64::from(n),
        }
    }

    fn titles(items: &[FilteredChat]) -> Vec<&str> {
        items.iter().map(|i| i.title.as_str()).collect()
    }

    #[test]
    fn each_filter_holds_the_chats_an_agent_would_expect_in_the_order_to_work_them() {
        let me = agent("m", "Mia");
        let asha = agent("a", "Asha Rao");
        let mut state = state_for("m", Role::Agent);
        for s in [
            summary(1, Some(me.clone()), 100, false),
            summary(2, Some(me.clone()), 300, false),
            summary(3, None, 200, false),
            summary(4, None, 400, false),
            summary(5, Some(asha.clone()), 500, false),
            // Handed to me, known only from the list.
            summary(6, Some(me.clone()), 50, true),
        ] {
            state
                .conversations
                .insert(s.chat_id.clone(), ConversationState::from(&s));
        }
        assert_eq!(
            titles(&filter_chats(&state, ChatFilter::Mine)),
            ["Chat 2", "Chat 1", "Chat 6"]
        );
        assert_eq!(
            titles(&filter_chats(&state, ChatFilter::Unassigned)),
            ["Chat 4", "Chat 3"]
        );
        // A message moves a chat up.
        state.apply(&event(
            10,
            &chat(1),
            EventBody::MessageRecorded(MessageRecord {
                chat_id: chat(1),
                message_id: "M".into(),
                direction: protocol::api::Direction::In,
                sent_at: 900,
                agent: None,
            }),
        ));
        assert_eq!(
            titles(&filter_chats(&state, ChatFilter::Mine)),
            ["Chat 1", "Chat 2", "Chat 6"]
        );
        // Handoffs: to me (with its next step), sent by me (waiting), not others'.
        let handoff = |id: &str, n: u32, by: &AgentRef, to: &AgentRef, at: Millis| Handoff {
            id: id.into(),
            chat_id: chat(n),
            from: Some(by.clone()),
            to: to.clone(),
            by: by.clone(),
            done: "Quoted".into(),
            promised: "A call".into(),
            next_step: "Book the visit".into(),
            status: HandoffStatus::Pending,
            decline_reason: None,
            created_at: at,
            resolved_at: None,
        };
        state.apply(&event(
            11,
            &chat(2),
            EventBody::HandoffCreated(handoff("h1", 2, &asha, &me, 1_000)),
        ));
        state.apply(&event(
            12,
            &chat(5),
            EventBody::HandoffCreated(handoff("h2", 5, &me, &asha, 2_000)),
        ));
        state.apply(&event(
            13,
            &chat(3),
            EventBody::HandoffCreated(handoff("h3", 3, &asha, &agent("r", "Ravi"), 3_000)),
        ));
        let handoffs = filter_chats(&state, ChatFilter::Handoffs);
        assert_eq!(
            handoffs
                .iter()
                .map(|h| (h.title.as_str(), h.detail.as_str()))
                .collect::<Vec<_>>(),
            [
                ("Chat 5", "Waiting for Asha Rao to accept"),
                ("Chat 2", "From Asha Rao — next: Book the visit"),
                ("Chat 6", "Handed to you: accept or decline it"),
            ]
        );
        state.apply(&event(
            14,
            &chat(2),
            EventBody::HandoffAccepted(Handoff {
                status: HandoffStatus::Accepted,
                ..handoff("h1", 2, &asha, &me, 1_000)
            }),
        ));
        assert_eq!(
            titles(&filter_chats(&state, ChatFilter::Handoffs)),
            ["Chat 5", "Chat 6"]
        );
        // Reminders due: mine, fired, not done; soonest first.
        let reminder =
            |id: &str, n: u32, due: Millis, fired: bool, for_agent: &AgentRef| Reminder {
                id: id.into(),
                chat_id: chat(n),
                text: format!("Call back {id}"),
                due_at: due,
                for_agent: for_agent.clone(),
                created_by: for_agent.clone(),
                created_at: 1,
                fired_at: fired.then_some(due),
                done_at: None,
            };
        state.apply(&event(
            15,
            &chat(4),
            EventBody::ReminderDue(reminder("r1", 4, 700, true, &me)),
        ));
        state.apply(&event(
            16,
            &chat(1),
            EventBody::ReminderDue(reminder("r2", 1, 600, true, &me)),
        ));
        state.apply(&event(
            17,
            &chat(3),
            EventBody::ReminderCreated(reminder("r3", 3, 100, false, &me)),
        ));
        state.apply(&event(
            18,
            &chat(5),
            EventBody::ReminderDue(reminder("r4", 5, 50, true, &asha)),
        ));
        let due = filter_chats(&state, ChatFilter::RemindersDue);
        assert_eq!(titles(&due), ["Chat 1", "Chat 4"]);
        assert_eq!(due[0].at, Some(600));
        assert_eq!(due[0].detail, "Call back r2");
        assert_eq!(
            filter_counts(&state).map(|(f, n)| (f.key(), n)),
            [
                ("mine", 3),
                ("unassigned", 2),
                ("handoffs", 2),
                ("reminders", 2)
            ]
        );
        // Logged out: nothing.
        let logged_out = TeamState {
            me: None,
            ..state.clone()
        };
        assert!(filter_chats(&logged_out, ChatFilter::Mine).is_empty());
        for filter in ChatFilter::ALL {
            assert_eq!(ChatFilter::from_key(filter.key()), Some(filter));
        }
    }
}
