//! Request and response bodies of the HTTP API (`/api/v1`).
//!
//! Request types refuse unknown fields, so a typo in a client is an error and not silently ignored.
//! Optional response fields are always present (as `null`) so clients can rely on the shape.

use serde::{Deserialize, Serialize};

use crate::{ChatId, Millis};

/// What an agent may do beyond working their own chats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the chats they own or claim.
    Agent,
    /// Also reassigns, force-takes reply locks and defines pipelines.
    Lead,
    /// Everything a lead can, plus administration.
    Admin,
    /// The first responder's seat (issue 11): a browser left running that answers new chats by
    /// the org's flows. Not a person: it owns no chats, receives no handoffs, is in no team and
    /// is routed nothing.
    Responder,
}

impl Role {
    /// Leads and admins supervise: they may act on chats they do not own.
    pub fn supervises(self) -> bool {
        matches!(self, Role::Lead | Role::Admin)
    }

    /// The role's name on the wire and in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Lead => "lead",
            Role::Admin => "admin",
            Role::Responder => "responder",
        }
    }

    /// Parses the wire name of a role.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "agent" => Some(Role::Agent),
            "lead" => Some(Role::Lead),
            "admin" => Some(Role::Admin),
            "responder" => Some(Role::Responder),
            _ => None,
        }
    }
}

/// A reference to an agent as other agents see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub id: String,
    pub name: String,
}

/// An agent as listed by `GET /agents` and `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// An org: one WhatsApp number shared by a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `Asia/Kolkata`.
    pub timezone: String,
    /// How the org writes dates and times: a BCP 47 language tag, e.g. `en-GB` (26/11/2026, 15:43).
    #[serde(default = "default_locale")]
    pub locale: String,
}

/// The locale of an org that has not chosen one.
pub const DEFAULT_LOCALE: &str = "en-GB";

fn default_locale() -> String {
    DEFAULT_LOCALE.to_owned()
}

/// Whether `tag` is shaped like a BCP 47 language tag (`en`, `en-GB`, `hi-IN`, `zh-Hant-TW`): a
/// language of 2–3 letters, then subtags of 2–8 letters or digits. Browsers fall back for tags
/// they do not know; this only keeps out what is not a tag at all.
pub fn is_locale_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    tag.len() <= 35
        && (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// The agent's identity in a login response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginAgent {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Response to a successful login. The token goes in `Authorization: Bearer …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: Millis,
    pub agent: LoginAgent,
}

/// `GET /me`: who the token belongs to, and the server's clock so clients can correct for skew.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub agent: Agent,
    pub org: Org,
    pub server_time: Millis,
    /// The org's latest event sequence number: a client that loads state now can open the event
    /// stream with `since=latest_seq`.
    pub latest_seq: i64,
}

/// `POST /events/ticket`: a one-time ticket to open the event WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTicket {
    pub ticket: String,
    pub expires_in_ms: i64,
}

/// `PUT /agents/{id}/password` (admins): the agent's new password.
/// `POST /agents` (admins): a new agent of the caller's org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgentRequest {
    pub name: String,
    pub email: String,
    pub role: Role,
    /// At least 8 characters; sent once, stored only as an Argon2id hash.
    pub password: String,
}

/// `PUT /agents/{id}/role` (admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: String,
}

/// `PUT /conversations/{chat_id}`: what WhatsApp Web shows about the chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpsertConversation {
    pub title: String,
    #[serde(default)]
    pub phone: Option<String>,
    /// The other id of the same person, when WhatsApp knows both: the phone number's `@c.us` id
    /// of an `@lid` chat, or the reverse. The conversation is then found by either id.
    #[serde(default)]
    pub alias: Option<ChatId>,
}

/// The reply lock of a conversation while someone holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub holder: AgentRef,
    /// Fencing token: strictly increases each time the lock changes hands.
    pub fence: i64,
    pub expires_at: Millis,
    /// Time left on the lease when the response was made, so clients need not trust their clock.
    pub expires_in_ms: i64,
}

/// Where a conversation sits in a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRef {
    pub pipeline_id: String,
    pub pipeline_name: String,
    pub stage: String,
}

/// The state of a handoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoffStatus {
    /// The receiver owns the chat but has not acknowledged it yet.
    Pending,
    Accepted,
    /// The receiver declined; the chat went back to the sender (or the queue).
    Declined,
    /// A later handoff replaced this one before it was answered.
    Superseded,
}

/// A transfer of ownership with its structured note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub id: String,
    pub chat_id: ChatId,
    /// `None` when the chat came from the queue (unowned).
    pub from: Option<AgentRef>,
    pub to: AgentRef,
    pub by: AgentRef,
    pub done: String,
    pub promised: String,
    pub next_step: String,
    pub status: HandoffStatus,
    pub decline_reason: Option<String>,
    pub created_at: Millis,
    pub resolved_at: Option<Millis>,
}

/// The state of a request for a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatRequestStatus {
    /// The owner has not answered yet.
    Pending,
    /// The owner (or a lead) handed the chat to the one who asked.
    Granted,
    /// The owner (or a lead) kept the chat.
    Declined,
}

/// A colleague asking the owner of a chat for it ("Request this chat"): the owner hands it over
/// in one click or keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub id: String,
    pub chat_id: ChatId,
    /// Who asks for the chat.
    pub by: AgentRef,
    /// Why they ask, if they said.
    pub message: Option<String>,
    pub status: ChatRequestStatus,
    pub created_at: Millis,
    /// Who answered, once answered.
    pub answered_by: Option<AgentRef>,
    pub answered_at: Option<Millis>,
}

/// A reminder for an agent about a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: String,
    pub chat_id: ChatId,
    pub text: String,
    pub due_at: Millis,
    pub for_agent: AgentRef,
    pub created_by: AgentRef,
    pub created_at: Millis,
    /// When the due notification was sent; reset by a snooze.
    pub fired_at: Option<Millis>,
    pub done_at: Option<Millis>,
}

/// Everything an agent needs to see about one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub chat_id: ChatId,
    /// The other id of the same person (see [`UpsertConversation::alias`]).
    pub alias: Option<ChatId>,
    pub title: String,
    pub phone: Option<String>,
    pub owner: Option<AgentRef>,
    /// `None` when nobody holds the lock (released or expired).
    pub lock: Option<LockInfo>,
    pub stage: Option<StageRef>,
    /// Reminders on this chat that are not done, soonest first.
    pub open_reminders: Vec<Reminder>,
    /// The handoff the current owner has not yet accepted.
    pub pending_handoff: Option<Handoff>,
    /// The latest handoff someone accepted: what was done, promised and left to do when the chat
    /// last changed hands, kept in view after the acceptance.
    #[serde(default)]
    pub accepted_handoff: Option<Handoff>,
    /// Colleagues' unanswered requests for the chat, oldest first (only while someone else owns
    /// it: an unowned chat is anyone's to claim).
    #[serde(default)]
    pub requests: Vec<ChatRequest>,
    /// When it was closed (`POST …/close`), or `None` while open: a closed chat no longer counts
    /// against its owner's capacity.
    #[serde(default)]
    pub closed_at: Option<Millis>,
    /// Why its owner has it, while routing gave it to them.
    #[serde(default)]
    pub routed_by: Option<crate::routing::RoutedBy>,
    /// Since when it waits in the queue (nobody owns it and routing found nobody).
    #[serde(default)]
    pub queued_at: Option<Millis>,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    /// Sequence number of the latest event about this chat: clients compare it to notice change.
    pub last_event_seq: i64,
}

/// A conversation in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub chat_id: ChatId,
    pub alias: Option<ChatId>,
    pub title: String,
    pub phone: Option<String>,
    pub owner: Option<AgentRef>,
    pub lock: Option<LockInfo>,
    pub stage: Option<StageRef>,
    pub has_pending_handoff: bool,
    #[serde(default)]
    pub closed_at: Option<Millis>,
    /// Why its owner has it, while routing gave it to them.
    #[serde(default)]
    pub routed_by: Option<crate::routing::RoutedBy>,
    /// Since when it waits in the queue (nobody owns it and routing found nobody).
    #[serde(default)]
    pub queued_at: Option<Millis>,
    pub created_at: Millis,
    pub last_activity_at: Millis,
    /// Sequence number of the latest event about this chat (events up to it are reflected here).
    pub last_event_seq: i64,
}

/// A page of a list; pass `next_cursor` as `cursor` to get the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `POST /conversations/{chat_id}/lock` success: the caller holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockGrant {
    pub fence: i64,
    pub holder: AgentRef,
    pub expires_at: Millis,
    pub expires_in_ms: i64,
    /// True when this call made the caller the conversation's owner.
    pub claimed: bool,
}

/// `POST /conversations/{chat_id}/handoff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    pub to_agent_id: String,
    /// What was done so far.
    pub done: String,
    /// What the customer was promised.
    pub promised: String,
    /// What the receiver should do next.
    pub next_step: String,
    /// The sender's reply-lock fence, when handing off while replying; a stale one is refused.
    #[serde(default)]
    pub fence: Option<i64>,
}

/// `POST /conversations/{chat_id}/handoff/decline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclineRequest {
    pub reason: String,
}

/// `POST /conversations/{chat_id}/requests`: ask the owner for the chat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestChat {
    /// Why, in a few words (optional).
    #[serde(default)]
    pub message: Option<String>,
}

/// `POST /conversations/{chat_id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// Plain text. Clients must render it as text, never as HTML.
    pub body: String,
    /// Agents @mentioned in the note.
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// An internal note on a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub chat_id: ChatId,
    pub author: AgentRef,
    pub body: String,
    pub mentions: Vec<AgentRef>,
    pub created_at: Millis,
}

/// `POST /conversations/{chat_id}/reminders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderRequest {
    pub due_at: Millis,
    pub text: String,
    /// Defaults to the caller.
    #[serde(default)]
    pub for_agent_id: Option<String>,
}

/// `POST /reminders/{id}/snooze`: give exactly one of `until` or `minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnoozeRequest {
    #[serde(default)]
    pub until: Option<Millis>,
    #[serde(default)]
    pub minutes: Option<i64>,
}

/// `POST /pipelines`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineRequest {
    pub name: String,
    /// Stage names in order.
    pub stages: Vec<String>,
}

/// A sales pipeline: an ordered list of stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pipeline {
    pub id: String,
    pub name: String,
    pub stages: Vec<String>,
    /// Response-time targets, one entry per stage that has any (lists, not maps: each map type
    /// costs the extension's WASM its own copy of the B-tree code).
    #[serde(default)]
    pub sla: Vec<StageSla>,
    pub created_at: Millis,
}

/// A stage's response-time targets, in minutes of the org's business hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSla {
    pub stage: String,
    /// From a chat's first incoming message to the team's first reply.
    #[serde(default)]
    pub first_response_mins: Option<u32>,
    /// From any incoming message left unanswered to the next reply.
    #[serde(default)]
    pub response_mins: Option<u32>,
}

/// A stage renamed: its conversations keep it under the new name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRename {
    pub from: String,
    pub to: String,
}

/// Where a removed stage's conversations go: another stage, or `None` (out of the pipeline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageMove {
    pub from: String,
    pub to: Option<String>,
}

/// `PUT /pipelines/{id}`: the pipeline as it should be. A stage in `renamed` keeps its
/// conversations under the new name; a removed stage that holds conversations needs an entry in
/// `moved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineUpdate {
    pub name: String,
    pub stages: Vec<String>,
    #[serde(default)]
    pub renamed: Vec<StageRename>,
    #[serde(default)]
    pub moved: Vec<StageMove>,
    #[serde(default)]
    pub sla: Vec<StageSla>,
}

/// `PUT /conversations/{chat_id}/stage`; both `null` takes the chat out of any pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    pub pipeline_id: Option<String>,
    pub stage: Option<String>,
}

/// Whether a WhatsApp message came from the customer or from the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    /// Out for a message the business's number sent, in for the customer's.
    pub fn from_me(from_me: bool) -> Direction {
        if from_me {
            Direction::Out
        } else {
            Direction::In
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// `POST /conversations/{chat_id}/messages`: metadata of a message seen in WhatsApp Web (never its
/// text). An outgoing message sent by the caller carries the caller's reply-lock `fence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageReport {
    /// WhatsApp's message id (the last part of the row's `data-id`).
    pub message_id: String,
    pub direction: Direction,
    /// When WhatsApp says it was sent; defaults to now.
    #[serde(default)]
    pub sent_at: Option<Millis>,
    #[serde(default)]
    pub fence: Option<i64>,
    /// Creates the conversation if no conversation has this id (or alias) yet: how a message
    /// in a chat nobody has opened reaches the server. An existing conversation is not changed.
    #[serde(default)]
    pub if_missing: Option<NewConversation>,
}

/// `POST /conversations/{chat_id}/messages/history`: the messages a chat already held when it
/// was opened (their times from WhatsApp's own per-message timestamps, to the minute), so
/// response-time reports count history, not only what happened live. Recorded once each; they
/// route nothing and start no reply limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryReport {
    pub messages: Vec<HistoryMessage>,
}

/// One message of a chat's history: id, direction and time, never text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryMessage {
    pub message_id: String,
    pub direction: Direction,
    pub sent_at: Millis,
}

/// The answer to a [`HistoryReport`]: how many messages were new to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecorded {
    pub recorded: u32,
}

/// A conversation to create along with its first reported message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewConversation {
    pub title: String,
    #[serde(default)]
    pub alias: Option<ChatId>,
}

/// A recorded message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub chat_id: ChatId,
    pub message_id: String,
    pub direction: Direction,
    pub sent_at: Millis,
    /// The agent who sent it under the reply lock, if known.
    pub agent: Option<AgentRef>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A code from [`crate::codes`].
    pub error: String,
    pub message: String,
    /// With `locked`: who holds the lock. With `not_owner`: the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<AgentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<AgentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<i64>,
}
