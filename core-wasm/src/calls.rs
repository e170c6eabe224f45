//! The calls a tab asks the service worker to make on the server, and what their answers mean:
//! the one typed layer between the overlay and the REST API.
//!
//! A [`Call`] wraps the `protocol` request type it sends (no field is declared twice); [`Call::route`]
//! is the only place a REST path is spelt; [`interpret`] turns the server's status and body into a
//! typed [`Outcome`] once, in the worker, so the tabs match on `LockGranted` or
//! `Refused { holder, … }` and never see an HTTP status or an error body. All of it is pure and
//! tested natively; the worker supplies the JSON decoder ([`Decode`]).

use protocol::api::{
    AgentRef, ChatRequest, Conversation, DeclineRequest, ErrorBody, Handoff, HandoffRequest,
    LockGrant, MessageReport, Note, NoteRequest, Page, Reminder, ReminderRequest, RequestChat,
    SnoozeRequest, StageRequest, UpsertConversation,
};
use protocol::codes;
use protocol::events::Event;
use protocol::routing::PresenceRequest;
use protocol::{ChatId, Millis};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A call a tab asks the worker to make on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Register the chat as WhatsApp shows it; answers with the full conversation.
    OpenChat {
        chat_id: ChatId,
        seen: UpsertConversation,
    },
    Lock {
        chat_id: ChatId,
        /// A lead's take-over of a lock someone else holds.
        force: bool,
    },
    Release {
        chat_id: ChatId,
        fence: i64,
    },
    Notes {
        chat_id: ChatId,
    },
    Timeline {
        chat_id: ChatId,
    },
    AddNote {
        chat_id: ChatId,
        note: NoteRequest,
    },
    Handoff {
        chat_id: ChatId,
        handoff: HandoffRequest,
    },
    AcceptHandoff {
        chat_id: ChatId,
    },
    DeclineHandoff {
        chat_id: ChatId,
        decline: DeclineRequest,
    },
    Remind {
        chat_id: ChatId,
        reminder: ReminderRequest,
    },
    ReminderDone {
        id: String,
    },
    Snooze {
        id: String,
        snooze: SnoozeRequest,
    },
    SetStage {
        chat_id: ChatId,
        stage: StageRequest,
    },
    /// Give the chat back to the team (nobody owns it afterwards): the Undo of a claim.
    GiveBack {
        chat_id: ChatId,
    },
    /// Ask the chat's owner for it.
    RequestChat {
        chat_id: ChatId,
        request: RequestChat,
    },
    /// Hand the chat to the colleague who asked for it (its owner or a lead).
    GrantRequest {
        id: String,
    },
    /// Keep the chat: answer a colleague's request with no.
    DeclineRequest {
        id: String,
    },
    /// Message metadata (never text), for a chat open or not.
    Message {
        chat_id: ChatId,
        report: MessageReport,
    },
    /// "Take next": the oldest chat waiting in the queue becomes mine.
    TakeNext,
    /// Say I am available or away.
    SetPresence {
        presence: PresenceRequest,
    },
}

/// Whether a tab may have the worker make this request as it is: one of the four methods, on an
/// absolute path of the API that does not climb, and never login or the event stream (the
/// worker keeps the session to itself).
pub fn relay_allowed(method: &str, path: &str) -> bool {
    matches!(method, "GET" | "POST" | "PUT" | "DELETE")
        && path.starts_with('/')
        && !path.contains("..")
        && !path.contains("//")
        && !path.contains('#')
        && !path.starts_with("/auth")
        && !path.starts_with("/events")
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Where a call goes: its method and its path under `/api/v1`, query included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: String,
}

/// A call's request body, borrowed from the call; it is sent as the protocol type it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Body<'a> {
    Seen(&'a UpsertConversation),
    Note(&'a NoteRequest),
    Handoff(&'a HandoffRequest),
    Decline(&'a DeclineRequest),
    Reminder(&'a ReminderRequest),
    Snooze(&'a SnoozeRequest),
    Stage(&'a StageRequest),
    Report(&'a MessageReport),
    RequestChat(&'a RequestChat),
    Presence(&'a PresenceRequest),
}

/// A chat id as one path segment (`@` is the only character a chat id has that a path needs
/// escaped; [`ChatId`] admits nothing else that would need it).
fn segment(chat_id: &ChatId) -> String {
    chat_id.as_str().replace('@', "%40")
}

/// A server-made id (a reminder's) as one path segment, escaped whatever it holds.
fn id_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Call {
    /// The REST route of the call: every path the extension uses is spelt here and only here.
    pub fn route(&self) -> Route {
        use Method::{Delete, Get, Post, Put};
        let chat =
            |chat_id: &ChatId, rest: &str| format!("/conversations/{}{rest}", segment(chat_id));
        let (method, path) = match self {
            Call::OpenChat { chat_id, .. } => (Put, chat(chat_id, "")),
            Call::Lock { chat_id, force } => (
                Post,
                chat(chat_id, if *force { "/lock?force=true" } else { "/lock" }),
            ),
            Call::Release { chat_id, fence } => {
                (Delete, chat(chat_id, &format!("/lock?fence={fence}")))
            }
            Call::Notes { chat_id } => (Get, chat(chat_id, "/notes")),
            Call::Timeline { chat_id } => (Get, chat(chat_id, "/timeline")),
            Call::AddNote { chat_id, .. } => (Post, chat(chat_id, "/notes")),
            Call::Handoff { chat_id, .. } => (Post, chat(chat_id, "/handoff")),
            Call::AcceptHandoff { chat_id } => (Post, chat(chat_id, "/handoff/accept")),
            Call::DeclineHandoff { chat_id, .. } => (Post, chat(chat_id, "/handoff/decline")),
            Call::Remind { chat_id, .. } => (Post, chat(chat_id, "/reminders")),
            Call::ReminderDone { id } => (Post, format!("/reminders/{}/done", id_segment(id))),
            Call::Snooze { id, .. } => (Post, format!("/reminders/{}/snooze", id_segment(id))),
            Call::SetStage { chat_id, .. } => (Put, chat(chat_id, "/stage")),
            Call::GiveBack { chat_id } => (Delete, chat(chat_id, "/owner")),
            Call::RequestChat { chat_id, .. } => (Post, chat(chat_id, "/requests")),
            Call::GrantRequest { id } => (Post, format!("/chat-requests/{}/grant", id_segment(id))),
            Call::DeclineRequest { id } => {
                (Post, format!("/chat-requests/{}/decline", id_segment(id)))
            }
            Call::Message { chat_id, .. } => (Post, chat(chat_id, "/messages")),
            Call::TakeNext => (Post, "/queue/take".to_owned()),
            Call::SetPresence { .. } => (Put, "/me/presence".to_owned()),
        };
        Route { method, path }
    }

    /// The request body, if the call has one.
    pub fn body(&self) -> Option<Body<'_>> {
        Some(match self {
            Call::OpenChat { seen, .. } => Body::Seen(seen),
            Call::AddNote { note, .. } => Body::Note(note),
            Call::Handoff { handoff, .. } => Body::Handoff(handoff),
            Call::DeclineHandoff { decline, .. } => Body::Decline(decline),
            Call::Remind { reminder, .. } => Body::Reminder(reminder),
            Call::Snooze { snooze, .. } => Body::Snooze(snooze),
            Call::SetStage { stage, .. } => Body::Stage(stage),
            Call::Message { report, .. } => Body::Report(report),
            Call::RequestChat { request, .. } => Body::RequestChat(request),
            Call::SetPresence { presence } => Body::Presence(presence),
            Call::TakeNext
            | Call::Lock { .. }
            | Call::Release { .. }
            | Call::Notes { .. }
            | Call::Timeline { .. }
            | Call::AcceptHandoff { .. }
            | Call::ReminderDone { .. }
            | Call::GiveBack { .. }
            | Call::GrantRequest { .. }
            | Call::DeclineRequest { .. } => return None,
        })
    }

    /// Whether the call may wait in the offline queue and be sent later. Locks and reads are only
    /// meaningful now; notes, handoffs, reminders and stage moves keep their meaning.
    pub fn queueable(&self) -> bool {
        matches!(
            self,
            Call::AddNote { .. }
                | Call::Handoff { .. }
                | Call::Remind { .. }
                | Call::ReminderDone { .. }
                | Call::Snooze { .. }
                | Call::SetStage { .. }
                | Call::Message { .. }
        )
    }

    /// What a successful answer to this call carries.
    pub fn expects(&self) -> Expect {
        match self {
            Call::OpenChat { .. }
            | Call::SetStage { .. }
            | Call::GiveBack { .. }
            | Call::TakeNext => Expect::Conversation,
            Call::Lock { .. } => Expect::LockGrant,
            Call::Release { .. } => Expect::Nothing,
            Call::Notes { .. } => Expect::Notes,
            Call::Timeline { .. } => Expect::Timeline,
            Call::AddNote { .. } => Expect::Note,
            Call::Handoff { .. } | Call::AcceptHandoff { .. } | Call::DeclineHandoff { .. } => {
                Expect::Handoff
            }
            Call::Remind { .. } | Call::ReminderDone { .. } | Call::Snooze { .. } => {
                Expect::Reminder
            }
            Call::Message { .. } | Call::SetPresence { .. } => Expect::Nothing,
            Call::RequestChat { .. } | Call::GrantRequest { .. } | Call::DeclineRequest { .. } => {
                Expect::ChatRequest
            }
        }
    }
}

/// The kind of body a successful answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Conversation,
    LockGrant,
    Notes,
    Timeline,
    Note,
    Handoff,
    Reminder,
    ChatRequest,
    /// Nothing the tab reads (`204`, or a record nobody shows).
    Nothing,
}

/// One line of a conversation's timeline, described for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineLine {
    pub seq: i64,
    pub at: Millis,
    pub actor: Option<String>,
    pub text: String,
}

/// What a call did, when the server took it.
// Answers are built, sent and dropped at once; variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The conversation as it now is (registered, or moved to a stage).
    Conversation(Conversation),
    LockGranted(LockGrant),
    /// The first page of the chat's notes, oldest first (`next_cursor` set when there are more).
    Notes(Page<Note>),
    /// The chat's timeline, described.
    Timeline(Vec<TimelineLine>),
    NoteAdded(Note),
    /// The handoff as it now is (sent, accepted or declined).
    Handoff(Handoff),
    /// The reminder as it now is (set, done or snoozed).
    Reminder(Reminder),
    /// The request for a chat as it now is (made, granted or declined).
    ChatRequest(ChatRequest),
    /// Taken; nothing to show (a lock released, a message recorded).
    Done,
}

/// Why the server refused a call, in the terms the overlay acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A colleague holds the reply lock or owns the chat (see [`Refusal::holder`] and
    /// [`Refusal::owner`]).
    Taken,
    /// The agent's reply lock ended or changed hands since it was granted.
    StaleFence,
    /// The server does not know the chat (or the reminder) — not registered yet, or gone.
    NotFound,
    /// The agent's role does not allow it.
    Forbidden,
    /// The request was invalid (a field missing or too long); the message says which.
    Invalid,
    /// The state moved on: nothing is pending to accept, the reminder is already done, …
    Conflict,
    /// The login ended (expired, revoked, or the agent was deactivated).
    SessionEnded,
    /// Passing trouble (the server is busy or restarting, throttled, the same write still in
    /// flight): the same call may succeed later.
    TryLater,
}

impl Reason {
    /// The reason behind an error response's status and code.
    pub fn classify(status: u16, code: &str) -> Reason {
        match (status, code) {
            (_, codes::LOCKED | codes::NOT_LOCK_HOLDER | codes::NOT_OWNER) => Reason::Taken,
            (_, codes::STALE_FENCE) => Reason::StaleFence,
            (409, codes::IDEMPOTENCY_IN_FLIGHT) => Reason::TryLater,
            (401, _) => Reason::SessionEnded,
            (403, _) => Reason::Forbidden,
            (404, _) => Reason::NotFound,
            (408 | 429, _) => Reason::TryLater,
            (status, _) if status >= 500 => Reason::TryLater,
            (409, _) => Reason::Conflict,
            _ => Reason::Invalid,
        }
    }
}

/// The server's refusal of a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub reason: Reason,
    /// The server's words, for the agent.
    pub message: String,
    /// With [`Reason::Taken`]: who holds the reply lock, and for how much longer.
    pub holder: Option<AgentRef>,
    pub expires_in_ms: Option<i64>,
    /// With [`Reason::Taken`]: who owns the chat.
    pub owner: Option<AgentRef>,
}

impl Refusal {
    /// Whether the same call may succeed if sent again later (with the same idempotency key).
    pub fn passing(&self) -> bool {
        self.reason == Reason::TryLater
    }
}

/// What became of a call.
// Outcomes are built, sent and dropped at once; variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Done(Answer),
    Refused(Refusal),
    /// Not sent yet: the worker is offline and queued it; it goes out, with its idempotency key,
    /// when the server is back.
    Queued,
    /// Never reached the server (offline, not logged in, or the extension restarting); the
    /// message says which. Nothing was written.
    NotSent {
        message: String,
    },
}

/// Decodes JSON text: the worker's is the browser's `JSON.parse`, the tests' is `serde_json`.
pub trait Decode {
    fn value<T: DeserializeOwned>(&self, text: &str) -> Result<T, String>;
    /// A page of events (`{items: [Event…], next_cursor}`).
    fn events(&self, text: &str) -> Result<Vec<Event>, String>;
}

/// The outcome of `call` from the server's answer: status and body text.
pub fn interpret(call: &Call, status: u16, body: &str, decode: &impl Decode) -> Outcome {
    if !(200..300).contains(&status) {
        return Outcome::Refused(refusal(status, body, decode));
    }
    let answer = match call.expects() {
        Expect::Nothing => Ok(Answer::Done),
        Expect::Conversation => decode.value(body).map(Answer::Conversation),
        Expect::LockGrant => decode.value(body).map(Answer::LockGranted),
        Expect::Notes => decode.value(body).map(Answer::Notes),
        Expect::Timeline => decode.events(body).map(|events| {
            Answer::Timeline(
                events
                    .iter()
                    .filter_map(|event| {
                        crate::views::describe_event(event).map(|text| TimelineLine {
                            seq: event.seq,
                            at: event.at,
                            actor: event.actor.as_ref().map(|a| a.name.clone()),
                            text,
                        })
                    })
                    .collect(),
            )
        }),
        Expect::Note => decode.value(body).map(Answer::NoteAdded),
        Expect::Handoff => decode.value(body).map(Answer::Handoff),
        Expect::Reminder => decode.value(body).map(Answer::Reminder),
        Expect::ChatRequest => decode.value(body).map(Answer::ChatRequest),
    };
    match answer {
        Ok(answer) => Outcome::Done(answer),
        // Taken, but the answer is not what this version understands (a newer server): the
        // write stands, so it is not refused; the tab hears nothing to show.
        Err(_) => Outcome::Done(Answer::Done),
    }
}

/// The refusal in an error answer (or, when the body is not the API's error body — a proxy's page,
/// say — one that says what the status means).
pub fn refusal(status: u16, body: &str, decode: &impl Decode) -> Refusal {
    match decode.value::<ErrorBody>(body) {
        Ok(error) => Refusal {
            reason: Reason::classify(status, &error.error),
            message: error.message,
            holder: error.holder,
            expires_in_ms: error.expires_in_ms,
            owner: error.owner,
        },
        Err(_) => Refusal {
            reason: Reason::classify(status, ""),
            message: format!("The Baton server answered {status}; try again in a moment."),
            holder: None,
            expires_in_ms: None,
            owner: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::{Direction, HandoffStatus};
    use protocol::events::EventBody;

    struct SerdeJson;

    impl Decode for SerdeJson {
        fn value<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        fn events(&self, text: &str) -> Result<Vec<Event>, String> {
            self.value::<Page<Event>>(text).map(|page| page.items)
        }
    }

    fn chat() -> ChatId {
        ChatId::parse("919876543210@c.us").unwrap()
    }

    fn agent(id: &str, name: &str) -> AgentRef {
        AgentRef {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn a_tab_may_relay_the_apis_resources_but_not_the_session() {
        assert!(relay_allowed("GET", "/reports/agents?from=2026-11-01"));
        assert!(relay_allowed(
            "POST",
            "/conversations/91%40c.us/messages/history"
        ));
        assert!(relay_allowed("DELETE", "/templates/t1"));
        for (method, path) in [
            ("GET", "/auth/logout"),
            ("POST", "/auth/login"),
            ("GET", "/events?ticket=x"),
            ("POST", "/events/ticket"),
            ("GET", "reports/agents"),
            ("GET", "/templates/../auth/login"),
            ("GET", "//evil.example/x"),
            ("PATCH", "/templates/t1"),
            ("get", "/templates"),
        ] {
            assert!(!relay_allowed(method, path), "{method} {path}");
        }
    }

    fn every_call() -> Vec<Call> {
        let chat_id = chat();
        vec![
            Call::OpenChat {
                chat_id: chat_id.clone(),
                seen: UpsertConversation {
                    title: "Priya".into(),
                    phone: None,
                    alias: None,
                },
            },
            Call::Lock {
                chat_id: chat_id.clone(),
                force: false,
            },
            Call::Lock {
                chat_id: chat_id.clone(),
                force: true,
            },
            Call::Release {
                chat_id: chat_id.clone(),
                fence: 7,
            },
            Call::Notes {
                chat_id: chat_id.clone(),
            },
            Call::Timeline {
                chat_id: chat_id.clone(),
            },
            Call::AddNote {
                chat_id: chat_id.clone(),
                note: NoteRequest {
                    body: "Call after 5".into(),
                    mentions: vec!["a2".into()],
                },
            },
            Call::Handoff {
                chat_id: chat_id.clone(),
                handoff: HandoffRequest {
                    to_agent_id: "a2".into(),
                    done: "Quoted".into(),
                    promised: "Call back".into(),
                    next_step: "Send brochure".into(),
                    fence: Some(3),
                },
            },
            Call::AcceptHandoff {
                chat_id: chat_id.clone(),
            },
            Call::DeclineHandoff {
                chat_id: chat_id.clone(),
                decline: DeclineRequest {
                    reason: "On leave".into(),
                },
            },
            Call::Remind {
                chat_id: chat_id.clone(),
                reminder: ReminderRequest {
                    due_at: 1_000,
                    text: "Follow up".into(),
                    for_agent_id: None,
                },
            },
            Call::ReminderDone { id: "r 1/2".into() },
            Call::Snooze {
                id: "r1".into(),
                snooze: SnoozeRequest {
                    until: None,
                    minutes: Some(60),
                },
            },
            Call::SetStage {
                chat_id: chat_id.clone(),
                stage: StageRequest {
                    pipeline_id: Some("p".into()),
                    stage: Some("Quoted".into()),
                },
            },
            Call::Message {
                chat_id: chat_id.clone(),
                report: MessageReport {
                    message_id: "M1".into(),
                    direction: Direction::In,
                    sent_at: None,
                    fence: None,
                    if_missing: None,
                },
            },
            Call::GiveBack {
                chat_id: chat_id.clone(),
            },
            Call::RequestChat {
                chat_id,
                request: RequestChat {
                    message: Some("I quoted her".into()),
                },
            },
            Call::GrantRequest { id: "q1".into() },
            Call::DeclineRequest { id: "q/2".into() },
            Call::TakeNext,
            Call::SetPresence {
                presence: PresenceRequest {
                    status: protocol::routing::PresenceChoice::Away,
                },
            },
        ]
    }

    #[test]
    fn every_call_has_its_route() {
        let routes: Vec<(&str, String)> = every_call()
            .iter()
            .map(|call| {
                let route = call.route();
                (route.method.as_str(), route.path)
            })
            .collect();
        let c = "/conversations/919876543210%40c.us";
        let expected = [
            ("PUT", c.to_owned()),
            ("POST", format!("{c}/lock")),
            ("POST", format!("{c}/lock?force=true")),
            ("DELETE", format!("{c}/lock?fence=7")),
            ("GET", format!("{c}/notes")),
            ("GET", format!("{c}/timeline")),
            ("POST", format!("{c}/notes")),
            ("POST", format!("{c}/handoff")),
            ("POST", format!("{c}/handoff/accept")),
            ("POST", format!("{c}/handoff/decline")),
            ("POST", format!("{c}/reminders")),
            ("POST", "/reminders/r%201%2F2/done".to_owned()),
            ("POST", "/reminders/r1/snooze".to_owned()),
            ("PUT", format!("{c}/stage")),
            ("POST", format!("{c}/messages")),
            ("DELETE", format!("{c}/owner")),
            ("POST", format!("{c}/requests")),
            ("POST", "/chat-requests/q1/grant".to_owned()),
            ("POST", "/chat-requests/q%2F2/decline".to_owned()),
            ("POST", "/queue/take".to_owned()),
            ("PUT", "/me/presence".to_owned()),
        ];
        assert_eq!(routes, expected.map(|(m, p)| (m, p)).to_vec());
    }

    #[test]
    fn a_body_is_the_protocol_request_it_wraps() {
        for call in every_call() {
            let sent = call.body().map(|body| serde_json::to_value(body).unwrap());
            let expected = match &call {
                Call::OpenChat { seen, .. } => Some(serde_json::to_value(seen).unwrap()),
                Call::AddNote { note, .. } => Some(serde_json::to_value(note).unwrap()),
                Call::Handoff { handoff, .. } => Some(serde_json::to_value(handoff).unwrap()),
                Call::DeclineHandoff { decline, .. } => {
                    Some(serde_json::to_value(decline).unwrap())
                }
                Call::Remind { reminder, .. } => Some(serde_json::to_value(reminder).unwrap()),
                Call::Snooze { snooze, .. } => Some(serde_json::to_value(snooze).unwrap()),
                Call::SetStage { stage, .. } => Some(serde_json::to_value(stage).unwrap()),
                Call::Message { report, .. } => Some(serde_json::to_value(report).unwrap()),
                Call::RequestChat { request, .. } => Some(serde_json::to_value(request).unwrap()),
                Call::SetPresence { presence } => Some(serde_json::to_value(presence).unwrap()),
                _ => None,
            };
            assert_eq!(sent, expected, "{call:?}");
            // And the server reads it back as that type: nothing lost or renamed on the way.
            if let (Call::Handoff { handoff, .. }, Some(sent)) = (&call, &sent) {
                let back: HandoffRequest = serde_json::from_value(sent.clone()).unwrap();
                assert_eq!(&back, handoff);
            }
        }
    }

    #[test]
    fn calls_travel_between_tab_and_worker_unchanged() {
        for call in every_call() {
            let json = serde_json::to_string(&call).unwrap();
            let back: Call = serde_json::from_str(&json).unwrap();
            assert_eq!(back, call);
        }
    }

    #[test]
    fn refusals_say_what_the_overlay_can_do_about_them() {
        let cases = [
            (409, codes::LOCKED, Reason::Taken),
            (403, codes::NOT_OWNER, Reason::Taken),
            (409, codes::NOT_LOCK_HOLDER, Reason::Taken),
            (409, codes::STALE_FENCE, Reason::StaleFence),
            (404, codes::NOT_FOUND, Reason::NotFound),
            (403, codes::FORBIDDEN, Reason::Forbidden),
            (422, codes::VALIDATION, Reason::Invalid),
            (400, codes::INVALID_CHAT_ID, Reason::Invalid),
            (413, codes::BODY_TOO_LARGE, Reason::Invalid),
            (409, codes::NO_PENDING_HANDOFF, Reason::Conflict),
            (409, codes::REMINDER_DONE, Reason::Conflict),
            (401, codes::UNAUTHORIZED, Reason::SessionEnded),
            (503, codes::UNAVAILABLE, Reason::TryLater),
            (500, codes::INTERNAL, Reason::TryLater),
            (502, "", Reason::TryLater),
            (408, "", Reason::TryLater),
            (429, codes::TOO_MANY_REQUESTS, Reason::TryLater),
            (409, codes::IDEMPOTENCY_IN_FLIGHT, Reason::TryLater),
        ];
        for (status, code, reason) in cases {
            assert_eq!(Reason::classify(status, code), reason, "{status} {code}");
            let refusal = Refusal {
                reason,
                message: String::new(),
                holder: None,
                expires_in_ms: None,
                owner: None,
            };
            assert_eq!(refusal.passing(), reason == Reason::TryLater);
        }
    }

    #[test]
    fn a_lock_refusal_names_the_holder_and_the_owner() {
        let lock = Call::Lock {
            chat_id: chat(),
            force: false,
        };
        let body = serde_json::to_string(&ErrorBody {
            error: codes::LOCKED.into(),
            message: "Asha Rao is replying".into(),
            holder: Some(agent("a1", "Asha Rao")),
            owner: Some(agent("a1", "Asha Rao")),
            expires_at: Some(50_000),
            expires_in_ms: Some(20_000),
        })
        .unwrap();
        assert_eq!(
            interpret(&lock, 409, &body, &SerdeJson),
            Outcome::Refused(Refusal {
                reason: Reason::Taken,
                message: "Asha Rao is replying".into(),
                holder: Some(agent("a1", "Asha Rao")),
                expires_in_ms: Some(20_000),
                owner: Some(agent("a1", "Asha Rao")),
            })
        );
        // A body that is not the API's (a proxy's error page) still refuses, in plain words.
        let Outcome::Refused(refusal) =
            interpret(&lock, 502, "<html>Bad gateway</html>", &SerdeJson)
        else {
            panic!("a 502 is a refusal");
        };
        assert_eq!(refusal.reason, Reason::TryLater);
        assert!(refusal.message.contains("502"), "{}", refusal.message);
    }

    #[test]
    fn answers_are_decoded_once_into_what_each_call_returns() {
        let grant = LockGrant {
            fence: 4,
            holder: agent("a1", "Asha Rao"),
            expires_at: 30_000,
            expires_in_ms: 30_000,
            claimed: true,
        };
        let lock = Call::Lock {
            chat_id: chat(),
            force: false,
        };
        assert_eq!(
            interpret(
                &lock,
                200,
                &serde_json::to_string(&grant).unwrap(),
                &SerdeJson
            ),
            Outcome::Done(Answer::LockGranted(grant))
        );
        let release = Call::Release {
            chat_id: chat(),
            fence: 4,
        };
        assert_eq!(
            interpret(&release, 204, "", &SerdeJson),
            Outcome::Done(Answer::Done)
        );
        let note = Note {
            id: "n1".into(),
            chat_id: chat(),
            author: agent("a1", "Asha Rao"),
            body: "<b>verbatim</b>".into(),
            mentions: vec![],
            created_at: 5,
        };
        let page = Page {
            items: vec![note.clone()],
            next_cursor: None,
        };
        let notes = Call::Notes { chat_id: chat() };
        assert_eq!(
            interpret(
                &notes,
                200,
                &serde_json::to_string(&page).unwrap(),
                &SerdeJson
            ),
            Outcome::Done(Answer::Notes(page))
        );
        let add = every_call().remove(6);
        assert_eq!(
            interpret(
                &add,
                201,
                &serde_json::to_string(&note).unwrap(),
                &SerdeJson
            ),
            Outcome::Done(Answer::NoteAdded(note))
        );
        let handoff = Handoff {
            id: "h1".into(),
            chat_id: chat(),
            from: Some(agent("a1", "Asha Rao")),
            to: agent("a2", "Ravi Kumar"),
            by: agent("a1", "Asha Rao"),
            done: "Quoted".into(),
            promised: "Call back".into(),
            next_step: "Send brochure".into(),
            status: HandoffStatus::Pending,
            decline_reason: None,
            created_at: 1,
            resolved_at: None,
        };
        assert_eq!(
            interpret(
                &every_call().remove(7),
                201,
                &serde_json::to_string(&handoff).unwrap(),
                &SerdeJson
            ),
            Outcome::Done(Answer::Handoff(handoff))
        );
    }

    #[test]
    fn a_timeline_arrives_described_not_as_raw_events() {
        let event = |seq: i64, body: EventBody| Event {
            seq,
            chat_id: Some(chat()),
            actor: Some(agent("a1", "Asha Rao")),
            at: 1_000 + seq,
            body,
        };
        let page = Page {
            items: vec![
                event(
                    1,
                    EventBody::StageChanged {
                        stage: None,
                        previous: None,
                    },
                ),
                event(
                    2,
                    EventBody::LockReleased {
                        holder: agent("a1", "Asha Rao"),
                        fence: 3,
                    },
                ),
            ],
            next_cursor: None,
        };
        let Outcome::Done(Answer::Timeline(lines)) = interpret(
            &Call::Timeline { chat_id: chat() },
            200,
            &serde_json::to_string(&page).unwrap(),
            &SerdeJson,
        ) else {
            panic!("a timeline");
        };
        // Lock releases are not worth a line; each line says who and when.
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].seq, 1);
        assert_eq!(lines[0].actor.as_deref(), Some("Asha Rao"));
        assert!(!lines[0].text.is_empty());
    }

    #[test]
    fn only_writes_that_keep_their_meaning_are_queued() {
        let queued: Vec<bool> = every_call().iter().map(Call::queueable).collect();
        assert_eq!(
            queued,
            vec![
                false, false, false, false, false, false, // open, lock ×2, release, reads
                true, true, false, false, // note, handoff; accept, decline answer now
                true, true, true, true, true,  // reminders, stage, message
                false, // giving a chat back is meaningful only now
                false, false, false, // asking for a chat and answering: now or not at all
                false, false, // taking the next chat and saying I am away: now or not at all
            ]
        );
    }
}
