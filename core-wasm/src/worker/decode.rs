//! Decoding the server's tagged JSON without serde's buffering machinery.
//!
//! `ServerMessage` and `EventBody` are internally/adjacently tagged on the wire; serde's derived
//! decoders for those buffer the whole object first, which costs the WASM module dozens of
//! kilobytes. Here we read the tag with `Reflect` and decode each payload as a plain struct.

use js_sys::Reflect;
use protocol::api::AgentRef;
use protocol::events::{Event, EventBody};
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
        "presence" => ServerMessage::Presence(from_js(value)?),
        "pong" => ServerMessage::Pong {
            server_time: from_js::<Pong>(value)?.server_time,
        },
        other => return Err(CoreError::Decode(format!("unknown message type “{other}”"))),
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
    crate::event_kinds::event_body(kind, serde_wasm_bindgen::Deserializer::from(data))
        .map_err(CoreError::Decode)
}
