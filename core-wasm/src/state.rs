//! The team's shared state as one browser knows it, kept current by applying server events.
//!
//! The service worker and every content script run this same reducer: the worker loads a snapshot
//! over HTTP and forwards each live event, and all copies apply it the same way. Applying is
//! idempotent per conversation (an event at or below the conversation's `last_event_seq` is
//! skipped), so a snapshot taken while events were in flight converges instead of regressing.

use std::collections::BTreeMap;

use protocol::api::{
    Agent, AgentRef, ChatRequest, ConversationSummary, Handoff, HandoffStatus, Me, Org, Pipeline,
    Reminder, Role, StageRef,
};
use protocol::events::{AssignReason, Event, EventBody};
use protocol::routing::RoutedBy;
use protocol::{ChatId, Millis};
use serde::{Deserialize, Serialize};

use crate::identity::NameIndex;

/// A reply lock as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockState {
    pub holder: AgentRef,
    pub fence: i64,
    /// Server clock.
    pub expires_at: Millis,
}

/// One conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    pub chat_id: ChatId,
    /// The other id of the same person (`@c.us` ↔ `@lid`), by which the server finds it too.
    pub alias: Option<ChatId>,
    pub title: String,
    pub owner: Option<AgentRef>,
    pub lock: Option<LockState>,
    pub stage: Option<StageRef>,
    pub pending_handoff: Option<Handoff>,
    /// The latest accepted handoff (known from full reads and events; lists do not carry it).
    #[serde(default)]
    pub accepted_handoff: Option<Handoff>,
    /// Reminders that are not done.
    pub reminders: Vec<Reminder>,
    /// Colleagues' unanswered requests for the chat, oldest first.
    #[serde(default)]
    pub requests: Vec<ChatRequest>,
    /// A handoff waits for its receiver (known from lists, which do not carry the handoff itself).
    #[serde(default)]
    pub handoff_waiting: bool,
    /// When the latest message was sent or received (server clock).
    #[serde(default)]
    pub last_activity_at: Millis,
    /// The rule that gave the chat to its owner, while they have it from routing.
    #[serde(default)]
    pub routed_by: Option<RoutedBy>,
    /// Since when it waits in the queue (while nobody owns it).
    #[serde(default)]
    pub queued_at: Option<Millis>,
    /// Closed chats do not count against their owner's capacity.
    #[serde(default)]
    pub closed: bool,
    pub last_event_seq: i64,
}

impl ConversationState {
    fn empty(chat_id: ChatId) -> ConversationState {
        ConversationState {
            chat_id,
            alias: None,
            title: String::new(),
            owner: None,
            lock: None,
            stage: None,
            pending_handoff: None,
            accepted_handoff: None,
            reminders: Vec::new(),
            requests: Vec::new(),
            handoff_waiting: false,
            last_activity_at: 0,
            routed_by: None,
            queued_at: None,
            closed: false,
            last_event_seq: 0,
        }
    }

    /// The lock if it is still held at `now` (server clock).
    pub fn active_lock(&self, now: Millis) -> Option<&LockState> {
        self.lock.as_ref().filter(|lock| lock.expires_at > now)
    }

    fn upsert_reminder(&mut self, reminder: Reminder) {
        self.reminders.retain(|r| r.id != reminder.id);
        if reminder.done_at.is_none() {
            self.reminders.push(reminder);
            self.reminders.sort_by_key(|r| (r.due_at, r.id.clone()));
        }
    }
}

impl From<&ConversationSummary> for ConversationState {
    fn from(summary: &ConversationSummary) -> ConversationState {
        ConversationState {
            chat_id: summary.chat_id.clone(),
            alias: summary.alias.clone(),
            title: summary.title.clone(),
            owner: summary.owner.clone(),
            lock: summary.lock.as_ref().map(|l| LockState {
                holder: l.holder.clone(),
                fence: l.fence,
                expires_at: l.expires_at,
            }),
            stage: summary.stage.clone(),
            pending_handoff: None,
            accepted_handoff: None,
            reminders: Vec::new(),
            requests: Vec::new(),
            handoff_waiting: summary.has_pending_handoff,
            last_activity_at: summary.last_activity_at,
            routed_by: summary.routed_by.clone(),
            queued_at: summary.queued_at,
            closed: summary.closed_at.is_some(),
            last_event_seq: summary.last_event_seq,
        }
    }
}

impl From<&protocol::api::Conversation> for ConversationState {
    fn from(c: &protocol::api::Conversation) -> ConversationState {
        ConversationState {
            chat_id: c.chat_id.clone(),
            alias: c.alias.clone(),
            title: c.title.clone(),
            owner: c.owner.clone(),
            lock: c.lock.as_ref().map(|l| LockState {
                holder: l.holder.clone(),
                fence: l.fence,
                expires_at: l.expires_at,
            }),
            stage: c.stage.clone(),
            pending_handoff: c.pending_handoff.clone(),
            accepted_handoff: c.accepted_handoff.clone(),
            reminders: c.open_reminders.clone(),
            requests: c.requests.clone(),
            handoff_waiting: c.pending_handoff.is_some(),
            last_activity_at: c.last_activity_at,
            routed_by: c.routed_by.clone(),
            queued_at: c.queued_at,
            closed: c.closed_at.is_some(),
            last_event_seq: c.last_event_seq,
        }
    }
}

/// Everything the overlay renders from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamState {
    pub me: Option<Agent>,
    /// My org: its time zone and locale say how times are shown.
    #[serde(default)]
    pub org: Option<Org>,
    pub agents: Vec<Agent>,
    pub pipelines: Vec<Pipeline>,
    pub conversations: BTreeMap<ChatId, ConversationState>,
    /// The latest event applied.
    pub seq: i64,
}

impl TeamState {
    /// How many chats wait in the queue: open, nobody's, and routing found nobody for them.
    pub fn queue_len(&self) -> usize {
        self.conversations
            .values()
            .filter(|c| c.owner.is_none() && c.queued_at.is_some() && !c.closed)
            .count()
    }

    /// My open chats (owned, not closed): my load against my capacity.
    pub fn my_open_chats(&self) -> usize {
        let me = self.my_id();
        self.conversations
            .values()
            .filter(|c| !c.closed && c.owner.as_ref().map(|o| o.id.as_str()) == me && me.is_some())
            .count()
    }

    /// A fresh state from `/me`, `/agents`, `/pipelines` and the conversation list.
    pub fn from_snapshot(
        me: &Me,
        agents: Vec<Agent>,
        pipelines: Vec<Pipeline>,
        conversations: &[ConversationSummary],
    ) -> TeamState {
        TeamState {
            me: Some(me.agent.clone()),
            org: Some(me.org.clone()),
            agents,
            pipelines,
            conversations: conversations
                .iter()
                .map(|c| (c.chat_id.clone(), ConversationState::from(c)))
                .collect(),
            seq: me.latest_seq,
        }
    }

    pub fn my_id(&self) -> Option<&str> {
        self.me.as_ref().map(|m| m.id.as_str())
    }

    pub fn my_role(&self) -> Option<Role> {
        self.me.as_ref().map(|m| m.role)
    }

    pub fn conversation(&self, chat_id: &ChatId) -> Option<&ConversationState> {
        self.conversations.get(chat_id)
    }

    /// Replaces one conversation with a fresher full read (unless the state is already newer).
    pub fn merge_conversation(&mut self, fresh: ConversationState) {
        match self.conversations.get(&fresh.chat_id) {
            Some(known) if known.last_event_seq > fresh.last_event_seq => {}
            _ => {
                self.conversations.insert(fresh.chat_id.clone(), fresh);
            }
        }
    }

    /// Applies one event. Returns false if it was already reflected (and so changed nothing).
    pub fn apply(&mut self, event: &Event) -> bool {
        self.seq = self.seq.max(event.seq);
        match &event.body {
            EventBody::PipelineCreated(pipeline) => {
                if !self.pipelines.iter().any(|p| p.id == pipeline.id) {
                    self.pipelines.push(pipeline.clone());
                }
                return true;
            }
            // Renamed stages keep their chats; a renamed pipeline's chats show the new name.
            EventBody::PipelineUpdated { pipeline, renamed } => {
                match self.pipelines.iter_mut().find(|p| p.id == pipeline.id) {
                    Some(known) => *known = pipeline.clone(),
                    None => self.pipelines.push(pipeline.clone()),
                }
                for conversation in self.conversations.values_mut() {
                    if let Some(stage) = conversation
                        .stage
                        .as_mut()
                        .filter(|s| s.pipeline_id == pipeline.id)
                    {
                        stage.pipeline_name.clone_from(&pipeline.name);
                        if let Some(rename) = renamed.iter().find(|r| r.from == stage.stage) {
                            stage.stage.clone_from(&rename.to);
                        }
                    }
                }
                return true;
            }
            // A deactivated colleague is no longer someone to hand chats to or mention.
            EventBody::AgentDeactivated(agent) => {
                self.agents.retain(|a| a.id != agent.id);
                return true;
            }
            _ => {}
        }
        let Some(chat_id) = &event.chat_id else {
            return true;
        };
        let conversation = self
            .conversations
            .entry(chat_id.clone())
            .or_insert_with(|| ConversationState::empty(chat_id.clone()));
        if event.seq <= conversation.last_event_seq {
            return false;
        }
        conversation.last_event_seq = event.seq;
        match &event.body {
            EventBody::ConversationCreated { title, alias, .. }
            | EventBody::ConversationUpdated { title, alias, .. } => {
                conversation.title = title.clone();
                conversation.alias = alias.clone();
            }
            EventBody::Assigned { owner, reason, .. } => {
                // A request is answered once its asker owns the chat, however they came to.
                if let Some(owner) = owner {
                    conversation.requests.retain(|r| r.by.id != owner.id);
                    conversation.queued_at = None;
                }
                // Routing's reason holds while the owner has the chat from routing.
                if *reason != AssignReason::Routed {
                    conversation.routed_by = None;
                }
                conversation.owner = owner.clone();
            }
            EventBody::RoutingAssigned(decision) | EventBody::RoutingReassigned(decision) => {
                if let (Some(_), Some(rule)) = (&decision.owner, &decision.rule) {
                    conversation.routed_by = Some(RoutedBy {
                        rule: rule.clone(),
                        at: event.at,
                    });
                    conversation.queued_at = None;
                }
            }
            EventBody::RoutingQueued(_) => conversation.queued_at = Some(event.at),
            EventBody::ConversationClosed { .. } => conversation.closed = true,
            EventBody::ConversationReopened { .. } => conversation.closed = false,
            EventBody::ChatRequested(request) => {
                if !conversation.requests.iter().any(|r| r.id == request.id) {
                    conversation.requests.push(request.clone());
                }
            }
            EventBody::ChatRequestAnswered(request) => {
                conversation.requests.retain(|r| r.id != request.id)
            }
            EventBody::LockAcquired {
                holder,
                fence,
                expires_at,
                ..
            }
            | EventBody::LockForced {
                holder,
                fence,
                expires_at,
                ..
            } => {
                conversation.lock = Some(LockState {
                    holder: holder.clone(),
                    fence: *fence,
                    expires_at: *expires_at,
                })
            }
            // A renewal of the current lease (an older fence's renewal changes nothing).
            EventBody::LockRenewed {
                holder,
                fence,
                expires_at,
                ..
            } => {
                if conversation.lock.as_ref().is_none_or(|l| l.fence <= *fence) {
                    conversation.lock = Some(LockState {
                        holder: holder.clone(),
                        fence: *fence,
                        expires_at: *expires_at,
                    });
                }
            }
            EventBody::LockReleased { fence, .. } => {
                if conversation
                    .lock
                    .as_ref()
                    .is_some_and(|l| l.fence <= *fence)
                {
                    conversation.lock = None;
                }
            }
            EventBody::HandoffCreated(handoff) => {
                conversation.pending_handoff =
                    (handoff.status == HandoffStatus::Pending).then(|| handoff.clone());
                conversation.handoff_waiting = conversation.pending_handoff.is_some();
            }
            EventBody::HandoffAccepted(handoff) | EventBody::HandoffDeclined(handoff) => {
                if conversation
                    .pending_handoff
                    .as_ref()
                    .is_none_or(|p| p.id == handoff.id)
                {
                    conversation.pending_handoff = None;
                }
                if handoff.status == HandoffStatus::Accepted {
                    conversation.accepted_handoff = Some(handoff.clone());
                }
                conversation.handoff_waiting = conversation.pending_handoff.is_some();
            }
            EventBody::StageChanged { stage, .. } => conversation.stage = stage.clone(),
            EventBody::ReminderCreated(reminder)
            | EventBody::ReminderDue(reminder)
            | EventBody::ReminderSnoozed(reminder)
            | EventBody::ReminderDone(reminder) => conversation.upsert_reminder(reminder.clone()),
            EventBody::MessageRecorded(message) => {
                conversation.last_activity_at = conversation.last_activity_at.max(message.sent_at)
            }
            EventBody::NoteCreated(_)
            | EventBody::PipelineCreated(_)
            | EventBody::AgentCreated(_)
            | EventBody::AgentDeactivated(_)
            | EventBody::AgentReactivated(_)
            | EventBody::SessionsEnded(_)
            | EventBody::TemplateSaved(_)
            | EventBody::TemplateDeleted { .. }
            | EventBody::PipelineUpdated { .. }
            | EventBody::ResponderSent(_)
            | EventBody::ResponderAnswer(_)
            | EventBody::ResponderHandoff(_)
            | EventBody::ResponderStopped(_) => {}
        }
        true
    }

    /// The team's known chats by title, with their aliases: the [`Source::KnownTitle`] source
    /// of chat identity.
    ///
    /// [`Source::KnownTitle`]: crate::identity::Source::KnownTitle
    pub fn name_index(&self) -> NameIndex {
        let mut index = NameIndex::default();
        for conversation in self.conversations.values() {
            index.insert(
                &conversation.title,
                conversation.chat_id.clone(),
                conversation.alias.clone(),
            );
        }
        index
    }

    /// The conversation's own id for a chat known by `chat_id`, which may be its alias.
    pub fn own_id(&self, chat_id: &ChatId, names: &NameIndex) -> ChatId {
        if self.conversations.contains_key(chat_id) {
            return chat_id.clone();
        }
        names
            .alias(chat_id)
            .filter(|alias| {
                self.conversations
                    .get(*alias)
                    .is_some_and(|c| c.alias.as_ref() == Some(chat_id))
            })
            .cloned()
            .unwrap_or_else(|| chat_id.clone())
    }

    /// Reminders for me that have fired and are not done.
    pub fn my_due_reminders(&self) -> Vec<&Reminder> {
        let Some(me) = self.my_id() else {
            return Vec::new();
        };
        self.conversations
            .values()
            .flat_map(|c| c.reminders.iter())
            .filter(|r| r.for_agent.id == me && r.fired_at.is_some() && r.done_at.is_none())
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::identity::Claim;
    use protocol::api::Role;
    use protocol::events::AssignReason;

    pub fn agent(id: &str, name: &str) -> AgentRef {
        AgentRef {
            id: id.into(),
            name: name.into(),
        }
    }

    pub fn chat(n: u32) -> ChatId {
        ChatId::parse(&format!("9198765{n:05}@c.us")).unwrap()
    }

    pub fn event(seq: i64, chat_id: &ChatId, body: EventBody) -> Event {
        Event {
            seq,
            chat_id: Some(chat_id.clone()),
            actor: Some(agent("a", "Asha")),
            at: 1_000,
            body,
        }
    }

    pub fn state_for(me_id: &str, role: Role) -> TeamState {
        TeamState {
            me: Some(Agent {
                id: me_id.into(),
                name: me_id.to_uppercase(),
                email: format!("{me_id}@x.test"),
                role,
            }),
            ..TeamState::default()
        }
    }

    #[test]
    fn a_pipeline_change_renames_stages_on_every_chat_in_it() {
        use protocol::api::{Pipeline, StageRef};
        let mut state = state_for("r", Role::Agent);
        let stage = |pipeline: &str, stage: &str| StageRef {
            pipeline_id: pipeline.into(),
            pipeline_name: "Loans".into(),
            stage: stage.into(),
        };
        for (n, at) in [
            (1, stage("p", "Quoted")),
            (2, stage("p", "New")),
            (3, stage("q", "Quoted")),
        ] {
            state.apply(&event(
                n,
                &chat(n as u32),
                EventBody::StageChanged {
                    stage: Some(at),
                    previous: None,
                },
            ));
        }
        let updated = Event {
            chat_id: None,
            ..event(
                9,
                &chat(1),
                EventBody::PipelineUpdated {
                    pipeline: Pipeline {
                        id: "p".into(),
                        name: "Home loans".into(),
                        stages: vec!["New".into(), "Quote sent".into()],
                        sla: Default::default(),
                        created_at: 1,
                    },
                    renamed: vec![protocol::api::StageRename {
                        from: "Quoted".into(),
                        to: "Quote sent".into(),
                    }],
                },
            )
        };
        assert!(state.apply(&updated));
        let at = |n: u32| state.conversation(&chat(n)).unwrap().stage.clone().unwrap();
        assert_eq!(
            (at(1).pipeline_name.as_str(), at(1).stage.as_str()),
            ("Home loans", "Quote sent")
        );
        assert_eq!(at(2).stage, "New");
        assert_eq!(
            (at(3).pipeline_name.as_str(), at(3).stage.as_str()),
            ("Loans", "Quoted"),
            "another pipeline"
        );
        assert_eq!(state.pipelines.len(), 1);
        assert_eq!(state.pipelines[0].name, "Home loans");
    }

    #[test]
    fn events_build_up_a_conversation() {
        let c = chat(1);
        let mut state = state_for("r", Role::Agent);
        state.apply(&event(
            1,
            &c,
            EventBody::ConversationCreated {
                title: "Priya".into(),
                phone: None,
                alias: None,
            },
        ));
        state.apply(&event(
            2,
            &c,
            EventBody::Assigned {
                owner: Some(agent("a", "Asha")),
                previous_owner: None,
                reason: AssignReason::Claim,
            },
        ));
        state.apply(&event(
            3,
            &c,
            EventBody::LockAcquired {
                holder: agent("a", "Asha"),
                fence: 1,
                expires_at: 31_000,
                ttl_ms: 30_000,
            },
        ));
        let conv = state.conversation(&c).unwrap();
        assert_eq!(conv.title, "Priya");
        assert_eq!(conv.owner.as_ref().unwrap().name, "Asha");
        assert_eq!(conv.active_lock(30_999).unwrap().fence, 1);
        assert!(conv.active_lock(31_000).is_none(), "expired at expires_at");

        state.apply(&event(
            4,
            &c,
            EventBody::LockReleased {
                holder: agent("a", "Asha"),
                fence: 1,
            },
        ));
        assert!(state.conversation(&c).unwrap().lock.is_none());
        assert_eq!(state.seq, 4);
    }

    #[test]
    fn a_renewal_moves_the_expiry_of_the_current_lease_only() {
        let c = chat(5);
        let mut state = state_for("r", Role::Agent);
        let lock = |seq, fence, expires_at| {
            event(
                seq,
                &c,
                EventBody::LockAcquired {
                    holder: agent("a", "Asha"),
                    fence,
                    expires_at,
                    ttl_ms: 30_000,
                },
            )
        };
        let renew = |seq, fence, expires_at| {
            event(
                seq,
                &c,
                EventBody::LockRenewed {
                    holder: agent("a", "Asha"),
                    fence,
                    expires_at,
                    ttl_ms: 30_000,
                },
            )
        };
        state.apply(&lock(1, 3, 31_000));
        state.apply(&renew(2, 3, 41_000));
        let conversation = state.conversation(&c).unwrap();
        assert!(
            conversation.active_lock(35_000).is_some(),
            "still held after the first lease would have ended"
        );
        state.apply(&lock(3, 4, 50_000));
        state.apply(&renew(4, 3, 99_000));
        assert_eq!(
            state.conversation(&c).unwrap().lock.as_ref().unwrap().fence,
            4,
            "an old lease's renewal does not bring it back"
        );
    }

    #[test]
    fn a_stale_release_does_not_clear_a_newer_lock() {
        let c = chat(2);
        let mut state = state_for("r", Role::Agent);
        state.apply(&event(
            5,
            &c,
            EventBody::LockForced {
                holder: agent("l", "Lena"),
                previous_holder: Some(agent("a", "Asha")),
                fence: 2,
                expires_at: 9_000,
                ttl_ms: 30_000,
            },
        ));
        state.apply(&event(
            6,
            &c,
            EventBody::LockReleased {
                holder: agent("a", "Asha"),
                fence: 1,
            },
        ));
        assert_eq!(
            state.conversation(&c).unwrap().lock.as_ref().unwrap().fence,
            2
        );
    }

    #[test]
    fn events_already_in_a_snapshot_are_skipped() {
        let c = chat(3);
        let mut state = state_for("r", Role::Agent);
        state.merge_conversation(ConversationState {
            owner: Some(agent("m", "Meera")),
            last_event_seq: 10,
            ..ConversationState::empty(c.clone())
        });
        let stale = event(
            9,
            &c,
            EventBody::Assigned {
                owner: Some(agent("a", "Asha")),
                previous_owner: None,
                reason: AssignReason::Claim,
            },
        );
        assert!(!state.apply(&stale));
        assert_eq!(
            state.conversation(&c).unwrap().owner.as_ref().unwrap().name,
            "Meera"
        );
        // A full read older than what we know is ignored too.
        state.merge_conversation(ConversationState {
            last_event_seq: 8,
            ..ConversationState::empty(c.clone())
        });
        assert!(state.conversation(&c).unwrap().owner.is_some());
    }

    #[test]
    fn known_titles_and_aliases_find_the_conversation() {
        let mut state = state_for("r", Role::Agent);
        let lid = ChatId::parse("179950657200007@lid").unwrap();
        let phone = ChatId::parse("919876500007@c.us").unwrap();
        for (n, title) in [(1, "Priya Sharma"), (2, "Mom"), (3, "Mom")] {
            state.apply(&event(
                n,
                &chat(n as u32),
                EventBody::ConversationCreated {
                    title: title.into(),
                    phone: None,
                    alias: None,
                },
            ));
        }
        // First known by its number, later linked to its @lid id.
        state.apply(&event(
            4,
            &phone,
            EventBody::ConversationCreated {
                title: "+91 98765 00007".into(),
                phone: None,
                alias: None,
            },
        ));
        state.apply(&event(
            5,
            &phone,
            EventBody::ConversationUpdated {
                title: "Kavya Nair".into(),
                phone: None,
                alias: Some(lid.clone()),
            },
        ));
        let names = state.name_index();
        assert_eq!(
            names.claim("\u{202a}Priya  Sharma\u{202c}"),
            Claim::One(chat(1))
        );
        assert_eq!(names.claim("Mom"), Claim::Several);
        assert_eq!(names.claim("Dad"), Claim::Nothing);
        assert_eq!(names.claim("Kavya Nair"), Claim::One(phone.clone()));
        assert_eq!(state.own_id(&lid, &names), phone, "the alias leads to it");
        assert_eq!(state.own_id(&phone, &names), phone);
        let stranger = ChatId::parse("179950657200099@lid").unwrap();
        assert_eq!(state.own_id(&stranger, &names), stranger);
    }

    #[test]
    fn reminders_come_and_go() {
        let c = chat(4);
        let mut state = state_for("r", Role::Agent);
        let mut reminder = Reminder {
            id: "x".into(),
            chat_id: c.clone(),
            text: "call".into(),
            due_at: 5,
            for_agent: agent("r", "Ravi"),
            created_by: agent("a", "Asha"),
            created_at: 1,
            fired_at: None,
            done_at: None,
        };
        state.apply(&event(1, &c, EventBody::ReminderCreated(reminder.clone())));
        assert!(state.my_due_reminders().is_empty());
        reminder.fired_at = Some(5);
        state.apply(&event(2, &c, EventBody::ReminderDue(reminder.clone())));
        assert_eq!(state.my_due_reminders().len(), 1);
        reminder.done_at = Some(6);
        state.apply(&event(3, &c, EventBody::ReminderDone(reminder)));
        assert!(state.my_due_reminders().is_empty());
        assert!(state.conversation(&c).unwrap().reminders.is_empty());
    }

    #[test]
    fn an_accepted_handoff_stays_in_view_with_its_chat() {
        let c = chat(7);
        let mut state = state_for("r", Role::Agent);
        let handoff = Handoff {
            id: "h1".into(),
            chat_id: c.clone(),
            from: Some(agent("a", "Asha")),
            to: agent("r", "Ravi"),
            by: agent("a", "Asha"),
            done: "Quoted".into(),
            promised: "A call before 6 pm".into(),
            next_step: "Book the visit".into(),
            status: HandoffStatus::Pending,
            decline_reason: None,
            created_at: 1,
            resolved_at: None,
        };
        state.apply(&event(1, &c, EventBody::HandoffCreated(handoff.clone())));
        let pending = state.conversation(&c).unwrap();
        assert!(pending.pending_handoff.is_some() && pending.accepted_handoff.is_none());
        let accepted = Handoff {
            status: HandoffStatus::Accepted,
            resolved_at: Some(2),
            ..handoff.clone()
        };
        state.apply(&event(2, &c, EventBody::HandoffAccepted(accepted.clone())));
        let after = state.conversation(&c).unwrap();
        assert_eq!(after.pending_handoff, None);
        assert_eq!(after.accepted_handoff, Some(accepted.clone()));
        // A declined one does not replace what was accepted before.
        let declined = Handoff {
            id: "h2".into(),
            status: HandoffStatus::Declined,
            ..handoff
        };
        state.apply(&event(3, &c, EventBody::HandoffDeclined(declined)));
        assert_eq!(
            state.conversation(&c).unwrap().accepted_handoff,
            Some(accepted)
        );
    }
}
