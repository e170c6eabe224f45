//! Events: every change to an org's shared state, numbered by a per-org sequence.
//!
//! The server stores each event in the same transaction as the change it describes, so the event
//! log is both the live feed (pushed over the WebSocket) and each conversation's timeline.

use serde::{Deserialize, Serialize};

use crate::api::{
    AgentRef, ChatRequest, Handoff, MessageRecord, Note, Pipeline, Reminder, StageRef,
};
use crate::responder::ResponderNote;
use crate::{ChatId, Millis};

/// One change, as stored and as pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Per-org sequence number: strictly increasing in commit order, without gaps.
    pub seq: i64,
    /// The conversation it is about, if any.
    pub chat_id: Option<ChatId>,
    /// The agent who caused it; `None` for the server itself (e.g. a reminder falling due).
    pub actor: Option<AgentRef>,
    pub at: Millis,
    #[serde(flatten)]
    pub body: EventBody,
}

/// Why a conversation changed owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignReason {
    /// The first agent to take the reply lock of an unowned chat.
    Claim,
    Handoff,
    /// A declined handoff returned the chat.
    Declined,
    /// Its owner (or a lead) gave the chat back to the team: nobody owns it now.
    Released,
    /// Its owner (or a lead) handed it to a colleague who asked for it.
    Requested,
    /// A routing rule gave it (a `routing.assigned` or `routing.reassigned` event says why).
    Routed,
}

/// What happened, tagged on the wire as `{"kind": "…", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum EventBody {
    #[serde(rename = "conversation.created")]
    ConversationCreated {
        title: String,
        phone: Option<String>,
        /// The other id of the same person (`@c.us` ↔ `@lid`), if known.
        #[serde(default)]
        alias: Option<ChatId>,
    },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated {
        title: String,
        phone: Option<String>,
        /// The other id of the same person (`@c.us` ↔ `@lid`), if known.
        #[serde(default)]
        alias: Option<ChatId>,
    },
    #[serde(rename = "conversation.assigned")]
    Assigned {
        owner: Option<AgentRef>,
        previous_owner: Option<AgentRef>,
        reason: AssignReason,
    },
    #[serde(rename = "lock.acquired")]
    LockAcquired {
        holder: AgentRef,
        fence: i64,
        expires_at: Millis,
        ttl_ms: i64,
    },
    /// The holder renewed the lease (a heartbeat while typing): it now ends later.
    #[serde(rename = "lock.renewed")]
    LockRenewed {
        holder: AgentRef,
        fence: i64,
        expires_at: Millis,
        ttl_ms: i64,
    },
    #[serde(rename = "lock.released")]
    LockReleased { holder: AgentRef, fence: i64 },
    /// A lead or admin took the lock from its holder.
    #[serde(rename = "lock.forced")]
    LockForced {
        holder: AgentRef,
        previous_holder: Option<AgentRef>,
        fence: i64,
        expires_at: Millis,
        ttl_ms: i64,
    },
    #[serde(rename = "handoff.created")]
    HandoffCreated(Handoff),
    #[serde(rename = "handoff.accepted")]
    HandoffAccepted(Handoff),
    #[serde(rename = "handoff.declined")]
    HandoffDeclined(Handoff),
    /// The chat was closed: done for now (it no longer counts against its owner's capacity).
    #[serde(rename = "conversation.closed")]
    ConversationClosed { owner: Option<AgentRef> },
    /// The chat was opened again.
    #[serde(rename = "conversation.reopened")]
    ConversationReopened { owner: Option<AgentRef> },
    /// Routing gave the chat to an agent.
    #[serde(rename = "routing.assigned")]
    RoutingAssigned(crate::routing::RoutingDecision),
    /// Routing found nobody eligible (or no rule): the chat waits in the queue.
    #[serde(rename = "routing.queued")]
    RoutingQueued(crate::routing::RoutingDecision),
    /// The assignee did not answer in the rule's time: the chat moved on (or stayed, when nobody
    /// else was eligible; the explanation says which).
    #[serde(rename = "routing.reassigned")]
    RoutingReassigned(crate::routing::RoutingDecision),
    /// A lead changed a pipeline: its name, stages (`renamed`: the stages whose
    /// conversations followed) or targets. Conversations moved out of removed stages have their
    /// own `stage.changed` events.
    #[serde(rename = "pipeline.updated")]
    PipelineUpdated {
        pipeline: Pipeline,
        #[serde(default)]
        renamed: Vec<crate::api::StageRename>,
    },
    /// A lead created or changed a template.
    #[serde(rename = "template.saved")]
    TemplateSaved(crate::templates::Template),
    #[serde(rename = "template.deleted")]
    TemplateDeleted { id: String },
    /// A colleague asked the owner for the chat.
    #[serde(rename = "chat.requested")]
    ChatRequested(ChatRequest),
    /// The owner (or a lead) answered a request: granted (an `Assigned` event follows) or declined.
    #[serde(rename = "chat.request_answered")]
    ChatRequestAnswered(ChatRequest),
    #[serde(rename = "note.created")]
    NoteCreated(Note),
    #[serde(rename = "stage.changed")]
    StageChanged {
        stage: Option<StageRef>,
        previous: Option<StageRef>,
    },
    #[serde(rename = "reminder.created")]
    ReminderCreated(Reminder),
    /// Pushed at the due time; clients notify `for_agent`.
    #[serde(rename = "reminder.due")]
    ReminderDue(Reminder),
    #[serde(rename = "reminder.snoozed")]
    ReminderSnoozed(Reminder),
    #[serde(rename = "reminder.done")]
    ReminderDone(Reminder),
    #[serde(rename = "pipeline.created")]
    PipelineCreated(Pipeline),
    #[serde(rename = "message.recorded")]
    MessageRecorded(MessageRecord),
    /// An admin added an agent (or a first responder's seat) to the org.
    #[serde(rename = "agent.created")]
    AgentCreated(AgentRef),
    /// An admin deactivated the agent: they can no longer log in, their sessions and locks end.
    #[serde(rename = "agent.deactivated")]
    AgentDeactivated(AgentRef),
    #[serde(rename = "agent.reactivated")]
    AgentReactivated(AgentRef),
    /// Every login of the agent was revoked (logged out everywhere, or a new password).
    #[serde(rename = "agent.sessions_ended")]
    SessionsEnded(AgentRef),
    /// The first responder sent a message in the chat (its text: a lead wrote it).
    #[serde(rename = "responder.sent")]
    ResponderSent(ResponderNote),
    /// The first responder read an answer (the value, as understood) or did not understand one.
    #[serde(rename = "responder.answer")]
    ResponderAnswer(ResponderNote),
    /// The first responder's flow ended and the chat went on to people.
    #[serde(rename = "responder.handoff")]
    ResponderHandoff(ResponderNote),
    /// The first responder stopped in the chat (a person took over, or the message limit).
    #[serde(rename = "responder.stopped")]
    ResponderStopped(ResponderNote),
}

impl EventBody {
    /// The `kind` string this body is tagged with.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::ConversationCreated { .. } => "conversation.created",
            EventBody::ConversationUpdated { .. } => "conversation.updated",
            EventBody::Assigned { .. } => "conversation.assigned",
            EventBody::LockAcquired { .. } => "lock.acquired",
            EventBody::LockRenewed { .. } => "lock.renewed",
            EventBody::LockReleased { .. } => "lock.released",
            EventBody::LockForced { .. } => "lock.forced",
            EventBody::HandoffCreated(_) => "handoff.created",
            EventBody::HandoffAccepted(_) => "handoff.accepted",
            EventBody::HandoffDeclined(_) => "handoff.declined",
            EventBody::ConversationClosed { .. } => "conversation.closed",
            EventBody::ConversationReopened { .. } => "conversation.reopened",
            EventBody::RoutingAssigned(_) => "routing.assigned",
            EventBody::RoutingQueued(_) => "routing.queued",
            EventBody::RoutingReassigned(_) => "routing.reassigned",
            EventBody::PipelineUpdated { .. } => "pipeline.updated",
            EventBody::TemplateSaved(_) => "template.saved",
            EventBody::TemplateDeleted { .. } => "template.deleted",
            EventBody::ChatRequested(_) => "chat.requested",
            EventBody::ChatRequestAnswered(_) => "chat.request_answered",
            EventBody::NoteCreated(_) => "note.created",
            EventBody::StageChanged { .. } => "stage.changed",
            EventBody::ReminderCreated(_) => "reminder.created",
            EventBody::ReminderDue(_) => "reminder.due",
            EventBody::ReminderSnoozed(_) => "reminder.snoozed",
            EventBody::ReminderDone(_) => "reminder.done",
            EventBody::PipelineCreated(_) => "pipeline.created",
            EventBody::MessageRecorded(_) => "message.recorded",
            EventBody::AgentCreated(_) => "agent.created",
            EventBody::AgentDeactivated(_) => "agent.deactivated",
            EventBody::AgentReactivated(_) => "agent.reactivated",
            EventBody::SessionsEnded(_) => "agent.sessions_ended",
            EventBody::ResponderSent(_) => "responder.sent",
            EventBody::ResponderAnswer(_) => "responder.answer",
            EventBody::ResponderHandoff(_) => "responder.handoff",
            EventBody::ResponderStopped(_) => "responder.stopped",
        }
    }

    /// The agent whose live sessions this event ends, if any: servers close those event streams
    /// at once (after checking the session's login is indeed no longer valid).
    pub fn ends_sessions_of(&self) -> Option<&AgentRef> {
        match self {
            EventBody::AgentDeactivated(agent) | EventBody::SessionsEnded(agent) => Some(agent),
            _ => None,
        }
    }

    /// Whether the event belongs in the conversation's timeline (its history for people), as
    /// opposed to being live state only: who is typing right now or a title refresh is not
    /// history, a forced lock take-over is.
    pub fn in_timeline(&self) -> bool {
        !matches!(
            self,
            EventBody::ConversationUpdated { .. }
                | EventBody::LockAcquired { .. }
                | EventBody::LockRenewed { .. }
                | EventBody::LockReleased { .. }
                | EventBody::PipelineCreated(_)
                | EventBody::MessageRecorded(_)
                | EventBody::AgentCreated(_)
                | EventBody::AgentDeactivated(_)
                | EventBody::AgentReactivated(_)
                | EventBody::SessionsEnded(_)
                | EventBody::TemplateSaved(_)
                | EventBody::TemplateDeleted { .. }
                | EventBody::PipelineUpdated { .. }
        )
    }
}
