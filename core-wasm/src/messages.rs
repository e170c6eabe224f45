//! Messages between the content scripts (one per WhatsApp Web tab), the popup and the service
//! worker, which alone talks to the server. They travel as JSON-compatible objects over
//! `chrome.runtime` ports and messages.
//!
//! Enums here use serde's default external tagging (`{"lock": {...}}`): unlike tagged or
//! flattened representations it decodes without buffering, which keeps the WASM core small.
//! The worker digests server events, so tabs receive plain state and never decode an event.

use protocol::api::{Handoff, Note, Pipeline, Reminder};
use protocol::ChatId;
use serde::{Deserialize, Serialize};

use crate::calls::{Call, Outcome};
use crate::identity::IdentityHealth;
use crate::state::{ConversationState, TeamState};
use crate::views::Change;

/// How the content script's core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreMode {
    /// WebAssembly (the page allows `'wasm-unsafe-eval'`).
    Wasm,
    /// The same core compiled to JavaScript by wasm2js (the page's CSP forbids WebAssembly).
    Wasm2js,
    /// Neither could start; `error` says why.
    Failed,
}

/// Whether the overlay recognises WhatsApp Web's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutState {
    /// Still loading (no `#app` yet, or WhatsApp shows its loading screen).
    Waiting,
    Recognised,
    /// Hooks the overlay relies on are missing; it does nothing rather than act on a wrong chat.
    Unrecognised {
        missing: Vec<String>,
    },
}

/// A tab's report about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabStatus {
    pub mode: CoreMode,
    pub layout: LayoutState,
    pub error: Option<String>,
    /// How well the tab tells chats apart (absent until the overlay has looked).
    #[serde(default)]
    pub identity: Option<IdentityHealth>,
}

/// A queued write the server refused for good, kept until the agent has seen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedWrite {
    /// What it was, for people ("A note on Priya Sharma").
    pub what: String,
    /// The server's reason.
    pub reason: String,
}

/// Message reports waiting in the offline queue beyond this many are dropped, oldest first: every
/// agent's browser reports each message, so a browser that was offline long loses little, and a
/// busy number must not grow the queue without bound.
pub const MAX_QUEUED_REPORTS: usize = 1_000;

/// Drops the oldest message reports from `queue` beyond [`MAX_QUEUED_REPORTS`]; other writes stay.
pub fn trim_queued_reports<T>(queue: &mut Vec<T>, call: impl Fn(&T) -> &Call) {
    let reports = queue
        .iter()
        .filter(|q| matches!(call(q), Call::Message { .. }))
        .count();
    let mut excess = reports.saturating_sub(MAX_QUEUED_REPORTS);
    queue.retain(|q| {
        let drop = excess > 0 && matches!(call(q), Call::Message { .. });
        excess -= usize::from(drop);
        !drop
    });
}

/// Tab → worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToWorker {
    Status(TabStatus),
    Request { id: u32, call: Call },
}

/// The connection between the worker and the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    LoggedOut,
    Connecting,
    Online,
    /// Lost; retrying. `error` is what went wrong, for the popup.
    Offline {
        error: String,
        retry_in_ms: u64,
    },
}

/// Worker → tab.
// Messages are built, sent and dropped at once; variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToTab {
    /// The whole state: on connect, after login and after a resync.
    Snapshot {
        state: TeamState,
        connection: Connection,
        /// Server clock minus the browser's, to judge lock expiry with the server's clock.
        clock_offset_ms: i64,
    },
    Connection {
        connection: Connection,
        clock_offset_ms: i64,
    },
    /// A conversation changed (an event, or a fresher full read).
    Conversation {
        conversation: ConversationState,
    },
    /// The org's pipelines changed.
    Pipelines {
        pipelines: Vec<Pipeline>,
    },
    /// A note was added (for open notes panels).
    Note {
        note: Note,
    },
    /// Something another agent did in a chat, for the send guard (see [`crate::views::guard_change`]).
    Change {
        chat_id: ChatId,
        change: Change,
    },
    Reply {
        id: u32,
        outcome: Outcome,
    },
    /// Open this chat (the agent clicked a notification about it).
    OpenChat {
        chat_id: ChatId,
    },
    /// A reminder of mine fell due (the worker also raised a Chrome notification).
    ReminderDue {
        reminder: Reminder,
    },
    /// A handoff to me arrived.
    HandoffForMe {
        handoff: Handoff,
    },
    /// A write queued while offline was refused by the server for good.
    WriteRefused {
        refused: RefusedWrite,
    },
    /// Every write the worker holds until the server has it (message reports left out), so tabs
    /// show them in place as pending. Sent whenever the queue changes and to every new tab.
    Pending {
        items: Vec<PendingItem>,
    },
}

/// A write waiting in the worker's queue, with the idempotency key it will be sent under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    pub key: String,
    pub call: Call,
}

/// A queued write as its chat shows it, described by the worker (which knows the team), so tabs
/// only draw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingItem {
    pub key: String,
    pub chat_id: ChatId,
    /// In words: "Handoff to Ravi Kumar — not sent yet".
    pub text: String,
    /// A note's body, shown in the notes list in place.
    pub note: Option<String>,
    /// A stage move: `Some(None)` moves the chat out of every pipeline.
    pub stage: Option<Option<(String, String)>>,
}

/// Popup → worker (one-off messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopupRequest {
    State {
        tab_id: Option<i32>,
    },
    Login {
        server: String,
        email: String,
        password: String,
    },
    Logout,
    /// The agent has seen the refused writes.
    DismissRefused,
    /// The agent says they are away (no new chats routed to them) or available again.
    SetAvailability {
        away: bool,
    },
}

/// Checks and tidies the server address an agent typed in the popup. It must be `https://`: the
/// login, the token and every note travel to it. Plain `http://` is only for a server on this
/// machine (loopback), where nothing crosses a network.
pub fn normalise_server(server: &str) -> Result<String, String> {
    let server = server.trim().trim_end_matches('/');
    let malformed = || {
        format!("“{server}” is not a server address; write it like https://baton.example.com or http://127.0.0.1:8080")
    };
    let (secure, rest) = match server.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        _ => return Err(malformed()),
    };
    let host_port = rest.split('/').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port
            .rsplit_once(':')
            .map_or(host_port, |(host, _)| host),
    };
    if host.is_empty() || server.contains(char::is_whitespace) || rest.contains('@') {
        return Err(malformed());
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !secure && !loopback {
        return Err(format!(
            "{server} is not encrypted: use https:// (plain http:// only for a server on this computer)"
        ));
    }
    Ok(server.to_owned())
}

/// What the popup shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopupState {
    /// The logged-in server, or the one of the last login (offered again after logout).
    pub server: Option<String>,
    pub agent: Option<protocol::api::Agent>,
    pub org: Option<protocol::api::Org>,
    pub connection: Connection,
    /// The active tab's overlay, if it runs one.
    pub tab: Option<TabStatus>,
    /// Every WhatsApp Web tab's overlay (for when the popup is not opened over one).
    pub tabs: Vec<TabStatus>,
    /// The last error of a popup action (login), to show under the form.
    pub error: Option<String>,
    pub queued_writes: usize,
    /// Queued writes the server refused for good, until dismissed.
    #[serde(default)]
    pub refused_writes: Vec<RefusedWrite>,
    /// My presence and load, while logged in and known.
    #[serde(default)]
    pub availability: Option<Availability>,
}

/// The popup's availability line: "Available · 3 of 8 chats open".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub status: protocol::routing::PresenceStatus,
    /// Chats I own that are not closed (as this worker knows them).
    pub open_chats: usize,
    /// My routing profile's capacity (`None`: no limit).
    pub capacity: Option<u32>,
}

/// The queue's format before calls wrapped the protocol's request types (2026-11).
pub mod legacy {
    use protocol::api::{
        HandoffRequest, MessageReport, NoteRequest, ReminderRequest, SnoozeRequest, StageRequest,
    };
    use protocol::{ChatId, Millis};
    use serde::Deserialize;

    use crate::calls::Call as Current;

    #[derive(Deserialize)]
    pub struct PendingWrite {
        key: String,
        call: Call,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Call {
        AddNote {
            chat_id: ChatId,
            body: String,
            mentions: Vec<String>,
        },
        Handoff {
            chat_id: ChatId,
            to_agent_id: String,
            done: String,
            promised: String,
            next_step: String,
            fence: Option<i64>,
        },
        Remind {
            chat_id: ChatId,
            due_at: Millis,
            text: String,
        },
        ReminderDone {
            id: String,
        },
        Snooze {
            id: String,
            minutes: i64,
        },
        SetStage {
            chat_id: ChatId,
            pipeline_id: Option<String>,
            stage: Option<String>,
        },
        Message {
            chat_id: ChatId,
            report: MessageReport,
        },
    }

    impl From<PendingWrite> for crate::messages::PendingWrite {
        fn from(old: PendingWrite) -> Self {
            let call = match old.call {
                Call::AddNote {
                    chat_id,
                    body,
                    mentions,
                } => Current::AddNote {
                    chat_id,
                    note: NoteRequest { body, mentions },
                },
                Call::Handoff {
                    chat_id,
                    to_agent_id,
                    done,
                    promised,
                    next_step,
                    fence,
                } => Current::Handoff {
                    chat_id,
                    handoff: HandoffRequest {
                        to_agent_id,
                        done,
                        promised,
                        next_step,
                        fence,
                    },
                },
                Call::Remind {
                    chat_id,
                    due_at,
                    text,
                } => Current::Remind {
                    chat_id,
                    reminder: ReminderRequest {
                        due_at,
                        text,
                        for_agent_id: None,
                    },
                },
                Call::ReminderDone { id } => Current::ReminderDone { id },
                Call::Snooze { id, minutes } => Current::Snooze {
                    id,
                    snooze: SnoozeRequest {
                        until: None,
                        minutes: Some(minutes),
                    },
                },
                Call::SetStage {
                    chat_id,
                    pipeline_id,
                    stage,
                } => Current::SetStage {
                    chat_id,
                    stage: StageRequest { pipeline_id, stage },
                },
                Call::Message { chat_id, report } => Current::Message { chat_id, report },
            };
            crate::messages::PendingWrite { key: old.key, call }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_round_trip_as_tagged_objects() {
        let call = Call::Lock {
            chat_id: ChatId::parse("919876543210@c.us").unwrap(),
            force: false,
        };
        let json = serde_json::to_value(ToWorker::Request {
            id: 7,
            call: call.clone(),
        })
        .unwrap();
        assert_eq!(json["request"]["id"], 7);
        assert_eq!(
            json["request"]["call"]["lock"]["chat_id"],
            "919876543210@c.us"
        );
        let back: ToWorker = serde_json::from_value(json).unwrap();
        assert_eq!(back, ToWorker::Request { id: 7, call });
    }

    #[test]
    fn the_offline_queue_keeps_every_write_but_only_the_newest_message_reports() {
        let chat_id = ChatId::parse("919876543210@c.us").unwrap();
        let report = |n: usize| Call::Message {
            chat_id: chat_id.clone(),
            report: protocol::api::MessageReport {
                message_id: format!("M{n}"),
                direction: protocol::api::Direction::In,
                sent_at: None,
                fence: None,
                if_missing: None,
            },
        };
        let note = Call::AddNote {
            chat_id: chat_id.clone(),
            note: protocol::api::NoteRequest {
                body: "keep me".into(),
                mentions: vec![],
            },
        };
        let mut queue = vec![note.clone()];
        queue.extend((0..MAX_QUEUED_REPORTS + 5).map(report));
        trim_queued_reports(&mut queue, |c| c);
        assert_eq!(queue.len(), MAX_QUEUED_REPORTS + 1);
        assert_eq!(queue[0], note, "other writes are never dropped");
        assert_eq!(queue[1], report(5), "the oldest reports went");
    }

    #[test]
    fn server_addresses_must_be_encrypted_unless_on_this_machine() {
        for ok in [
            "https://baton.example.com",
            "https://baton.example.com:8443/",
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
            "http://127.1.2.3",
            " https://10.0.0.5 ",
        ] {
            assert!(normalise_server(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            normalise_server("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        for plain in [
            "http://baton.example.com",
            "http://10.0.0.5:8080",
            "http://127.0.0.1.evil.example",
            "http://127.evil.example.com",
            "http://127.0.0.1x:8080",
        ] {
            let refused = normalise_server(plain).unwrap_err();
            assert!(refused.contains("https://"), "{plain}: {refused}");
        }
        for malformed in [
            "baton.example.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://user@host",
        ] {
            assert!(normalise_server(malformed).is_err(), "{malformed}");
        }
    }

    #[test]
    fn writes_queued_by_the_previous_version_are_read_as_todays_calls() {
        // As the version before the typed call layer saved them.
        let saved = serde_json::json!([
            {"key": "k1", "call": {"add_note": {"chat_id": "919876543210@c.us", "body": "Call after 5", "mentions": ["a2"]}}},
            {"key": "k2", "call": {"handoff": {"chat_id": "919876543210@c.us", "to_agent_id": "a2",
                "done": "Quoted", "promised": "Call back", "next_step": "Brochure", "fence": 4}}},
            {"key": "k3", "call": {"remind": {"chat_id": "919876543210@c.us", "due_at": 9, "text": "Follow up"}}},
            {"key": "k4", "call": {"snooze": {"id": "r1", "minutes": 60}}},
            {"key": "k5", "call": {"set_stage": {"chat_id": "919876543210@c.us", "pipeline_id": null, "stage": null}}}
        ]);
        let old: Vec<legacy::PendingWrite> = serde_json::from_value(saved).unwrap();
        let now: Vec<PendingWrite> = old.into_iter().map(Into::into).collect();
        let chat_id = ChatId::parse("919876543210@c.us").unwrap();
        assert_eq!(now.len(), 5);
        assert_eq!(
            now[0],
            PendingWrite {
                key: "k1".into(),
                call: Call::AddNote {
                    chat_id: chat_id.clone(),
                    note: protocol::api::NoteRequest {
                        body: "Call after 5".into(),
                        mentions: vec!["a2".into()],
                    },
                },
            }
        );
        let Call::Handoff { handoff, .. } = &now[1].call else {
            panic!("a handoff");
        };
        assert_eq!(
            (handoff.next_step.as_str(), handoff.fence),
            ("Brochure", Some(4))
        );
        let Call::Snooze { snooze, .. } = &now[3].call else {
            panic!("a snooze");
        };
        assert_eq!(snooze.minutes, Some(60));
        assert_eq!(
            now[4].call,
            Call::SetStage {
                chat_id,
                stage: protocol::api::StageRequest {
                    pipeline_id: None,
                    stage: None,
                },
            }
        );
        // Today's format is not mistaken for the old one.
        let today = serde_json::to_value(&now[0]).unwrap();
        assert!(serde_json::from_value::<legacy::PendingWrite>(today).is_err());
    }
}
