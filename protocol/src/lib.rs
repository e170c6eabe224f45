//! Wire types shared by the Baton sync server and the extension core.
//!
//! Everything here is plain data plus the few rules both sides must agree on (which chat ids are
//! valid, which events belong in a conversation's timeline). It depends on serde only, so it
//! compiles unchanged for the server and for `wasm32-unknown-unknown`.
//!
//! Times on the wire are milliseconds since the Unix epoch (UTC), taken from the server's database
//! clock; see [`Millis`].

pub mod api;
pub mod chat_id;
pub mod codes;
pub mod events;
pub mod reports;
pub mod responder;
pub mod routing;
pub mod templates;
pub mod text;
pub mod ws;

pub use chat_id::{ChatId, ChatIdError, ChatKind};

/// Milliseconds since the Unix epoch, UTC, as read from the server's database clock.
pub type Millis = i64;

/// Every HTTP route of the API lives under this prefix.
pub const API_PREFIX: &str = "/api/v1";

/// The Chrome extension id that follows from the public `key` in the extension's manifest.
/// The server allows `chrome-extension://{DEFAULT_EXTENSION_ID}` as an origin by default.
pub const DEFAULT_EXTENSION_ID: &str = "jgbjgnfajdikapkdoohjnaobmijkgmmj";

/// The origin a browser reports for requests made by the extension's service worker.
pub fn extension_origin(extension_id: &str) -> String {
    format!("chrome-extension://{extension_id}")
}
