//! The first responder's qualification flows (issue 11), as the API gives and takes them: a
//! greeting, questions with an answer type, branches on answers, and where a chat goes at the
//! end. The server checks a flow when a lead saves it and decides each step; the responder seat
//! (the extension in responder mode) sends what it is told and reports the answer values it read.

use serde::{Deserialize, Serialize};

use crate::{ChatId, Millis};

/// Longest greeting, question or closing text, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;
/// Most questions in a flow.
pub const MAX_QUESTIONS: usize = 20;
/// Most options of a choice question.
pub const MAX_OPTIONS: usize = 10;

/// The words and phrases that ask for a person when a flow names none (English and Hinglish):
/// the server keeps them in the flow's stead, the seat looks for them in each reply.
pub const DEFAULT_PERSON_WORDS: &[&str] = &[
    "agent",
    "human",
    "person",
    "call me",
    "talk to someone",
    "real person",
    "executive",
    "insaan",
    "kisi se baat",
    "baat karni hai",
    "phone karo",
    "call karo",
];

/// A flow as the API gives it: the request's fields beside its id and times. (Spelled out rather
/// than `#[serde(flatten)]`, which would cost the settings page's WASM build a generic buffer.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub pipeline_id: String,
    pub enabled: bool,
    pub new_chats: bool,
    pub owned_off_shift: bool,
    pub greeting: String,
    pub questions: Vec<Question>,
    pub done_stage: String,
    pub closing: String,
    pub person_words: Vec<String>,
    pub max_unanswered: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl Flow {
    pub fn new(
        id: String,
        definition: FlowRequest,
        created_at: Millis,
        updated_at: Millis,
    ) -> Flow {
        Flow {
            id,
            name: definition.name,
            pipeline_id: definition.pipeline_id,
            enabled: definition.enabled,
            new_chats: definition.new_chats,
            owned_off_shift: definition.owned_off_shift,
            greeting: definition.greeting,
            questions: definition.questions,
            done_stage: definition.done_stage,
            closing: definition.closing,
            person_words: definition.person_words,
            max_unanswered: definition.max_unanswered,
            created_at,
            updated_at,
        }
    }

    /// The flow as a lead would write it again.
    pub fn definition(&self) -> FlowRequest {
        FlowRequest {
            name: self.name.clone(),
            pipeline_id: self.pipeline_id.clone(),
            enabled: self.enabled,
            new_chats: self.new_chats,
            owned_off_shift: self.owned_off_shift,
            greeting: self.greeting.clone(),
            questions: self.questions.clone(),
            done_stage: self.done_stage.clone(),
            closing: self.closing.clone(),
            person_words: self.person_words.clone(),
            max_unanswered: self.max_unanswered,
        }
    }
}

/// A flow as a lead writes it (`POST /flows`, `PUT /flows/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRequest {
    pub name: String,
    /// The pipeline whose new chats this flow answers (one flow per pipeline).
    pub pipeline_id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Also answers brand-new chats, which have no pipeline yet (they join this pipeline's first
    /// stage); one enabled flow of an org at most.
    #[serde(default)]
    pub new_chats: bool,
    /// Also answers a chat of the pipeline whose owner is off shift when the customer writes
    /// (once per chat, as any flow): the greeting says when the owner is back, and at the end the
    /// answers reach the owner in a handoff. Humans first: the owner typing ends it.
    #[serde(default)]
    pub owned_off_shift: bool,
    /// The first message, sent with the first question.
    pub greeting: String,
    pub questions: Vec<Question>,
    /// The stage a chat goes to when every question is answered and no branch ended it sooner.
    pub done_stage: String,
    /// Sent when the flow ends (empty: nothing).
    #[serde(default)]
    pub closing: String,
    /// Words or phrases that ask for a person (empty: the defaults, English and Hinglish).
    #[serde(default)]
    pub person_words: Vec<String>,
    /// At most this many responder messages in a row without a customer reply.
    #[serde(default = "three")]
    pub max_unanswered: u32,
}

fn yes() -> bool {
    true
}

fn three() -> u32 {
    3
}

/// One question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Its name among the conversation's qualification fields: `budget` (lowercase letters,
    /// digits and `_`, starting with a letter, at most 32).
    pub key: String,
    /// How the handoff note names the answer ("Budget").
    pub label: String,
    /// What the customer is asked.
    pub text: String,
    pub kind: AnswerKind,
    /// A choice's options, listed under the question numbered from 1.
    #[serde(default)]
    pub options: Vec<String>,
    /// Tried in order after a valid answer; the first that holds decides what comes next.
    #[serde(default)]
    pub branches: Vec<Branch>,
}

/// What kind of answer a question takes (and which parser reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// One of the options, by number or words.
    Choice,
    /// Rupees: "60 lakh", "1.2 cr", "80k", "₹45,00,000".
    Amount,
    /// Yes or no, in English, Hindi or Hinglish.
    YesNo,
    /// A day: "tomorrow", "kal", "15 Dec".
    Date,
    /// Anything the customer writes.
    Text,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::Choice => "choice",
            AnswerKind::Amount => "amount",
            AnswerKind::YesNo => "yes_no",
            AnswerKind::Date => "date",
            AnswerKind::Text => "text",
        }
    }
}

/// A branch: when its condition holds for the answer, `then` happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    pub when: Condition,
    pub then: Then,
}

/// A condition on an answer (of the kind it names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// An amount below this many rupees.
    Below(u64),
    /// An amount of at least this many rupees.
    AtLeast(u64),
    /// A choice of this option (1-based, as the customer sees it).
    Option(u32),
    /// A yes.
    Yes,
    /// A no.
    No,
}

/// What a branch does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    /// End the flow, the chat going to this stage of the pipeline.
    Exit(String),
    /// Go on with this later question (skipping those between).
    Ask(String),
}

/// An answer's value, as the seat read it from the customer's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerValue {
    /// The option's 1-based number.
    Choice(u32),
    Amount(u64),
    YesNo(bool),
    /// `YYYY-MM-DD` on the org's calendar.
    Date(String),
    Text(String),
}

impl AnswerValue {
    pub fn kind(&self) -> AnswerKind {
        match self {
            AnswerValue::Choice(_) => AnswerKind::Choice,
            AnswerValue::Amount(_) => AnswerKind::Amount,
            AnswerValue::YesNo(_) => AnswerKind::YesNo,
            AnswerValue::Date(_) => AnswerKind::Date,
            AnswerValue::Text(_) => AnswerKind::Text,
        }
    }
}

/// What the seat has to do in one chat (`GET /responder/work`): send `sends` in order (each
/// cleared with the server just before it goes), then read the customer's reply to `reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatTask {
    pub chat_id: ChatId,
    /// The chat's title as WhatsApp showed it (the seat finds the chat by it).
    pub title: String,
    pub sends: Vec<SeatMessage>,
    pub reply: Option<SeatQuestion>,
    /// The message that started the flow (its id), until the greeting goes: the seat looks in it
    /// for a request for a person first, and reports one (`upto` = this id) instead of greeting.
    #[serde(default)]
    pub first_message: Option<String>,
    /// What asks for a person.
    #[serde(default)]
    pub person_words: Vec<String>,
    /// The responder no longer works the chat: nothing more to do there.
    pub over: bool,
}

/// A message the seat sends. `cleared`: the server already let it go once (the seat crashed or
/// lost the network after that), so the seat looks in the chat before sending it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatMessage {
    /// The message's idempotency key within the chat's run.
    pub key: String,
    pub text: String,
    pub cleared: bool,
}

/// The question the customer's latest messages answer, and how to read them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatQuestion {
    /// The latest incoming message the server knows of (its id): the report names it.
    pub upto: String,
    pub key: String,
    pub kind: AnswerKind,
    #[serde(default)]
    pub options: Vec<String>,
    /// What asks for a person, besides any answer.
    pub person_words: Vec<String>,
    /// Today on the org's calendar (`YYYY-MM-DD`): what "tomorrow" or "kal" counts from.
    pub today: String,
    /// The org understands replies with its language model: the report carries the reply's
    /// text too (see [`ModelSettings`]).
    #[serde(default)]
    pub send_text: bool,
}

/// The seat's reading of the customer's reply (`POST /responder/chats/{chat_id}/reply`): only
/// the value, never the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyReport {
    /// [`SeatQuestion::upto`] as the seat was given it.
    pub upto: String,
    /// `None`: the reply did not answer the question.
    pub value: Option<AnswerValue>,
    #[serde(default)]
    pub asks_person: bool,
    /// The reply's text, only when the question says `send_text` (the org's language model reads
    /// it; it is not stored). At most [`MAX_REPLY_TEXT`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Longest reply text a report carries for the language model.
pub const MAX_REPLY_TEXT: usize = 2000;

/// The org's optional language model as admins see it (`GET /org/responder-model`): an
/// OpenAI-compatible chat-completions endpoint that reads replies the parser may not understand.
/// Off by default; when on, each reply to a flow question goes from the seat to the Baton server
/// and from there to the endpoint (with the question), and the parser's reading stays the
/// fallback when the endpoint fails, times out or answers something unusable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelSettings {
    pub enabled: bool,
    /// The endpoint's base (`https://api.example.com/v1`) or its full chat-completions address.
    pub url: String,
    pub model: String,
    pub timeout_ms: u32,
    /// A key is set (it is never shown again).
    pub has_api_key: bool,
}

/// Setting the language model (`PUT /org/responder-model`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettingsRequest {
    pub enabled: bool,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub model: String,
    /// `None`: keep the key there is; `""`: remove it.
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default = "five_seconds")]
    pub timeout_ms: u32,
}

fn five_seconds() -> u32 {
    5000
}

/// A seat saying how it is (`PUT /responder/status`): working, or stopped and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatStatusReport {
    pub working: bool,
    #[serde(default)]
    pub reason: String,
}

/// A responder seat as the team sees it (`GET /responder/seats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatStatus {
    pub agent: crate::api::AgentRef,
    /// Its browser holds the event stream now.
    pub connected: bool,
    /// What it last said: working, or stopped (`reason`) — since `since`. A seat that never
    /// said: working.
    pub working: bool,
    pub reason: String,
    pub since: Option<Millis>,
}

/// Asking to send a message now (`POST /responder/chats/{chat_id}/send`), under the reply lock
/// the seat holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub key: String,
    pub fence: i64,
}

/// The server's leave to send: `already`: it was cleared before (look in the chat first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendClearance {
    pub already: bool,
}

/// A message the seat sent, now in the chat (`POST /responder/chats/{chat_id}/sent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentReport {
    pub key: String,
}

/// What a `responder.*` timeline event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponderNote {
    /// In words: the message sent, the answer as understood, where the chat went, why it stopped.
    pub text: String,
}

/// The answers a flow collected in a chat, and how its run stands (`GET
/// /responder/chats/{chat_id}`): the conversation's qualification fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    pub chat_id: ChatId,
    pub flow_id: String,
    pub flow_name: String,
    /// `active` or `over`.
    pub status: String,
    /// How it ended (`finished`, `person_asked`, `human_took_over`, `too_many_unanswered`).
    pub ended: Option<String>,
    pub answers: Vec<QualificationField>,
    pub started_at: Millis,
    pub ended_at: Option<Millis>,
}

/// One answer: the question's key and label, the value, and the value in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualificationField {
    pub key: String,
    pub label: String,
    pub value: AnswerValue,
    pub said: String,
}

/// Rupees the way India writes them: `₹60,00,000`, `₹1,20,00,000`, `₹80,000`.
pub fn rupees(amount: u64) -> String {
    let digits = amount.to_string();
    if digits.len() <= 3 {
        return format!("₹{digits}");
    }
    let (head, last3) = digits.split_at(digits.len() - 3);
    let mut groups: Vec<&str> = Vec::new();
    let mut rest = head;
    while rest.len() > 2 {
        let (a, b) = rest.split_at(rest.len() - 2);
        groups.push(b);
        rest = a;
    }
    if !rest.is_empty() {
        groups.push(rest);
    }
    groups.reverse();
    format!("₹{},{last3}", groups.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_are_grouped_the_indian_way() {
        assert_eq!(rupees(0), "₹0");
        assert_eq!(rupees(999), "₹999");
        assert_eq!(rupees(80_000), "₹80,000");
        assert_eq!(rupees(6_000_000), "₹60,00,000");
        assert_eq!(rupees(12_000_000), "₹1,20,00,000");
        assert_eq!(rupees(100_000), "₹1,00,000");
    }

    #[test]
    fn flows_read_as_a_lead_writes_them() {
        let json = r#"{
            "name": "Home loans", "pipeline_id": "p1", "greeting": "Hi! This is Acme Realty.",
            "done_stage": "Qualified",
            "questions": [
                {"key": "budget", "label": "Budget", "text": "What is your budget?", "kind": "amount",
                 "branches": [{"when": {"below": 5000000}, "then": {"exit": "Nurture"}}]},
                {"key": "type", "label": "Type", "text": "Which home?", "kind": "choice",
                 "options": ["2BHK", "3BHK"], "branches": [{"when": {"option": 2}, "then": {"ask": "visit"}}]},
                {"key": "visit", "label": "Site visit", "text": "A visit this week?", "kind": "yes_no",
                 "branches": [{"when": "no", "then": {"exit": "Nurture"}}]}
            ]
        }"#;
        let flow: FlowRequest = serde_json::from_str(json).unwrap();
        assert!(flow.enabled);
        assert_eq!(flow.max_unanswered, 3);
        assert_eq!(
            flow.questions[0].branches[0].when,
            Condition::Below(5_000_000)
        );
        assert_eq!(
            flow.questions[1].branches[0].then,
            Then::Ask("visit".into())
        );
        assert_eq!(flow.questions[2].kind, AnswerKind::YesNo);
        assert_eq!(flow.questions[2].branches[0].when, Condition::No);
        let value: AnswerValue = serde_json::from_str(r#"{"amount": 6000000}"#).unwrap();
        assert_eq!(value.kind(), AnswerKind::Amount);
        assert!(serde_json::from_str::<FlowRequest>(r#"{"name": "x", "colour": 1}"#).is_err());
        // As the API gives it back: the same fields beside its id and times.
        let stored = Flow::new("f1".into(), flow.clone(), 1, 2);
        assert_eq!(stored.definition(), flow);
        let text = serde_json::to_string(&stored).unwrap();
        assert!(
            text.starts_with(r#"{"id":"f1","name":"Home loans""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Flow>(&text).unwrap(), stored);
    }
}
