//! Decoding the server's tagged JSON without serde's buffering machinery.
//!
//! `ServerMessage` and `EventBody` are internally/adjacently tagged on the wire; serde's derived
//! decoders for those buffer the whole object first, which costs the WASM module dozens of
//! kilobytes. Here we read the tag with `Reflect` and decode each payload as a plain struct.

use js_sys::Reflect;
use protocol::api::{AgentRef, Handoff, MessageRecord, Note, Pipeline, Reminder, StageRef};
use protocol::events::{AssignReason, Event, EventBody};
use protocol::ws::ServerMessage;
use protocol::{ChatId, Millis};
use serde::Deserialize;
use wasm_bindgen::JsValue;

use crate::error::CoreError;
use crate::js::from_js;

fn field(value: &JsValue, name: &str) -> Result<JsValue, CoreError> {
    Ok(Reflect::get(value, &JsValue::from_str(name))?)
}

fn tag(value: &JsValue, name: &str) -> Result<String, CoreError> {
    field(value, name)?
        .as_string()
        .ok_or_else(|| CoreError::Decode(format!("missing \"{name}\"")))
}

/// A WebSocket frame from the server.
pub fn server_message(text: &str) -> Result<ServerMessage, CoreError> {
    #[derive(Deserialize)]
    struct Seqs {
        latest_seq: i64,
        server_time: Millis,
    }
    #[derive(Deserialize)]
    struct Pong {
        server_time: Millis,
    }
    let value = js_sys::JSON::parse(text)?;
    Ok(match tag(&value, "type")?.as_str() {
        "event" => ServerMessage::Event(event(&value)?),
        "ready" => {
            let s: Seqs = from_js(value)?;
            ServerMessage::Ready {
                latest_seq: s.latest_seq,
                server_time: s.server_time,
            }
        }
        "resync" => {
            let s: Seqs = from_js(value)?;
            ServerMessage::Resync {
                latest_seq: s.latest_seq,
                server_time: s.server_time,
            }
        }
        "pong" => ServerMessage::Pong {
            server_time: from_js::<Pong>(value)?.server_time,
        },
        other => return Err(CoreError::Decode(format!("unknown message type {other:?}"))),
    })
}

/// The `items` of a timeline page.
pub fn timeline_page(text: &str) -> Result<Vec<Event>, CoreError> {
    let value = js_sys::JSON::parse(text)?;
    let items: js_sys::Array = field(&value, "items")?.into();
    items.iter().map(|item| event(&item)).collect()
}

/// One event: `{seq, chat_id, actor, at, kind, data}`.
pub fn event(value: &JsValue) -> Result<Event, CoreError> {
    #[derive(Deserialize)]
    struct Head {
        seq: i64,
        chat_id: Option<ChatId>,
        actor: Option<AgentRef>,
        at: Millis,
    }
    let head: Head = from_js(value.clone())?;
    let kind = tag(value, "kind")?;
    let body = event_body(&kind, field(value, "data")?)?;
    Ok(Event {
        seq: head.seq,
        chat_id: head.chat_id,
        actor: head.actor,
        at: head.at,
        body,
    })
}

fn event_body(kind: &str, data: JsValue) -> Result<EventBody, CoreError> {
    #[derive(Deserialize)]
    struct TitlePhone {
        title: String,
        phone: Option<String>,
        #[serde(default)]
        alias: Option<ChatId>,
    }
    #[derive(Deserialize)]
    struct Assigned {
        owner: Option<AgentRef>,
        previous_owner: Option<AgentRef>,
        reason: AssignReason,
    }
    #[derive(Deserialize)]
    struct Lock {
        holder: AgentRef,
        #[serde(default)]
        previous_holder: Option<AgentRef>,
        fence: i64,
        #[serde(default)]
        expires_at: Millis,
        #[serde(default)]
        ttl_ms: i64,
    }
    #[derive(Deserialize)]
    struct Stage {
        stage: Option<StageRef>,
        previous: Option<StageRef>,
    }
    Ok(match kind {
        "conversation.created" | "conversation.updated" => {
            let d: TitlePhone = from_js(data)?;
            if kind == "conversation.created" {
                EventBody::ConversationCreated {
                    title: d.title,
                    phone: d.phone,
                    alias: d.alias,
                }
            } else {
                EventBody::ConversationUpdated {
                    title: d.title,
                    phone: d.phone,
                    alias: d.alias,
                }
            }
        }
        "conversation.assigned" => {
            let d: Assigned = from_js(data)?;
            EventBody::Assigned {
                owner: d.owner,
                previous_owner: d.previous_owner,
                reason: d.reason,
            }
        }
        "lock.acquired" | "lock.renewed" | "lock.released" | "lock.forced" => {
            let d: Lock = from_js(data)?;
            match kind {
                "lock.acquired" => EventBody::LockAcquired {
                    holder: d.holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
                "lock.renewed" => EventBody::LockRenewed {
                    holder: d.holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
                "lock.released" => EventBody::LockReleased {
                    holder: d.holder,
                    fence: d.fence,
                },
                _ => EventBody::LockForced {
                    holder: d.holder,
                    previous_holder: d.previous_holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
            }
        }
        "handoff.created" => EventBody::HandoffCreated(from_js::<Handoff>(data)?),
        "handoff.accepted" => EventBody::HandoffAccepted(from_js::<Handoff>(data)?),
        "handoff.declined" => EventBody::HandoffDeclined(from_js::<Handoff>(data)?),
        "note.created" => EventBody::NoteCreated(from_js::<Note>(data)?),
        "stage.changed" => {
            let d: Stage = from_js(data)?;
            EventBody::StageChanged {
                stage: d.stage,
                previous: d.previous,
            }
        }
        "reminder.created" => EventBody::ReminderCreated(from_js::<Reminder>(data)?),
        "reminder.due" => EventBody::ReminderDue(from_js::<Reminder>(data)?),
        "reminder.snoozed" => EventBody::ReminderSnoozed(from_js::<Reminder>(data)?),
        "reminder.done" => EventBody::ReminderDone(from_js::<Reminder>(data)?),
        "pipeline.created" => EventBody::PipelineCreated(from_js::<Pipeline>(data)?),
        "message.recorded" => EventBody::MessageRecorded(from_js::<MessageRecord>(data)?),
        "agent.deactivated" => EventBody::AgentDeactivated(from_js::<AgentRef>(data)?),
        "agent.reactivated" => EventBody::AgentReactivated(from_js::<AgentRef>(data)?),
        "agent.sessions_ended" => EventBody::SessionsEnded(from_js::<AgentRef>(data)?),
        other => return Err(CoreError::Decode(format!("unknown event kind {other:?}"))),
    })
}
