//! Messages on the live event WebSocket (`GET /api/v1/events`).
//!
//! The client connects with `?ticket=…&since=SEQ` (SEQ = the last sequence number it has seen, 0
//! for none). The server first sends every event after SEQ in order, then `ready`, then live
//! events. If SEQ is too old (or ahead of the server), it sends `resync` instead of the backlog:
//! the client reloads the state it shows and continues from `latest_seq`.

use serde::{Deserialize, Serialize};

use crate::events::Event;
use crate::Millis;

/// Server → client. JSON text frames tagged by `type`.
// Messages are built, serialised and dropped at once, so the size of the event variant is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Event(Event),
    /// An agent's presence changed (came online, went away, came back, went offline). Live only:
    /// not an event, no sequence number, not replayed; a client that reconnects reads everyone's
    /// presence from `GET /agents`.
    Presence(crate::routing::Presence),
    /// The backlog has been sent; from here on events are live.
    Ready {
        latest_seq: i64,
        server_time: Millis,
    },
    /// The requested cursor cannot be served: reload state, then continue from `latest_seq`.
    Resync {
        latest_seq: i64,
        server_time: Millis,
    },
    /// Answer to a client `ping`.
    Pong {
        server_time: Millis,
    },
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Keeps the connection (and an MV3 service worker) alive; answered with `pong`.
    Ping,
}
