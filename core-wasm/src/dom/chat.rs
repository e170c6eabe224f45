//! What the overlay knows about the chat open in `#main`: which chat it is, the reply lock this
//! tab holds, input held until the lock is the agent's, what changed since the agent looked, and
//! which panel is open. State only: the overlay (`dom::overlay::reply`) acts on it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::ChatId;

use crate::held::HeldInput;
use crate::identity::{Doubt, Source};
use crate::views::Change;

/// The reply lock as this tab holds it.
#[derive(Debug, Clone)]
pub struct Held {
    pub fence: i64,
    pub renewed_at: i64,
    /// Renew after this long (a third of the lease).
    pub renew_every_ms: i64,
}

/// What the overlay knows about the chat open in `#main`.
pub struct ChatSession {
    /// Tells this visit of a chat from any other (a deferred step checks it is still the same).
    pub serial: u64,
    /// The chat's id as the server files it; `None` while it cannot be identified safely.
    pub chat_id: Option<ChatId>,
    /// The chat's id as WhatsApp knows it (the server may file it under its alias).
    pub whatsapp_id: Option<ChatId>,
    /// The other id of the same person, when a source knows it.
    pub alias: Option<ChatId>,
    /// Why the chat is not identified, if it is not.
    pub doubt: Option<Doubt>,
    /// Since when the sources have disagreed about it (see [`TurnFacts`]).
    pub disagreeing_since: Option<i64>,
    /// Which source identified it.
    pub source: Option<Source>,
    /// The agent typed before the chat was identified: take the lock as soon as it is.
    pub wants_lock: bool,
    /// Input that arrived before the composer was known to be the agent's.
    pub held_input: HeldInput,
    /// Held input is being typed in: new input waits behind it.
    pub releasing: bool,
    /// Baton itself is typing the held input in (its own events pass).
    pub typing_in: bool,
    /// The chat is being registered on the server (its conversation may not exist yet): a lock
    /// request waits for that.
    pub registering: bool,
    /// A lock request found the chat unknown and it was registered again; a second time is not
    /// retried.
    pub registered_again: bool,
    pub title: String,
    /// Message ids already seen; the first batch is history, later ones are new.
    pub known_messages: HashSet<String>,
    pub history_loaded: bool,
    /// History not yet reported (the chat must be registered first).
    pub pending_history: Vec<protocol::api::HistoryMessage>,
    pub held: Option<Held>,
    pub acquiring: bool,
    pub last_input_at: i64,
    pub pending_send_at: Option<i64>,
    /// What others did since the agent last looked, for the send guard.
    pub changes: Vec<Change>,
    pub guard_open: bool,
    /// The open side panel: `notes`, `handoff`, `remind`, or none.
    pub panel: Option<&'static str>,
    pub declining: bool,
    /// A lead asked to take over the reply and has not confirmed yet.
    pub confirming_force: bool,
}

impl ChatSession {
    pub fn new(title: String) -> ChatSession {
        static VISITS: AtomicU64 = AtomicU64::new(0);
        ChatSession {
            serial: VISITS.fetch_add(1, Ordering::Relaxed),
            chat_id: None,
            whatsapp_id: None,
            alias: None,
            doubt: None,
            disagreeing_since: None,
            source: None,
            wants_lock: false,
            held_input: HeldInput::default(),
            releasing: false,
            typing_in: false,
            registering: false,
            registered_again: false,
            title,
            known_messages: HashSet::new(),
            history_loaded: false,
            pending_history: Vec::new(),
            held: None,
            acquiring: false,
            last_input_at: 0,
            pending_send_at: None,
            changes: Vec::new(),
            guard_open: false,
            confirming_force: false,
            panel: None,
            declining: false,
        }
    }

    /// Records a change for the send guard (once per event, and once per reply).
    pub fn add_change(&mut self, change: Change) {
        if let Some(id) = &change.message_id {
            if let Some(known) = self
                .changes
                .iter_mut()
                .find(|c| c.message_id.as_ref() == Some(id))
            {
                // The page showed the reply first; the server now says who sent it.
                known.text = change.text;
                return;
            }
        }
        if !self
            .changes
            .iter()
            .any(|c| c.seq == change.seq && change.seq != 0)
        {
            self.changes.push(change);
        }
    }

    pub fn form_succeeded(&mut self, form: &str) {
        match form {
            "handoff" | "remind" => self.panel = None,
            "decline" | "accept" => self.declining = false,
            _ => {}
        }
    }
}
