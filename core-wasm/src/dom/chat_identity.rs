//! The overlay's side of chat identity: the bridge's reports coming in, WhatsApp's database read
//! when the bridge is not answering, new messages in any chat reported to the server, and the
//! identity health shown in the header bar and the popup. What the sources mean and how they are
//! weighed is [`crate::identity`]; this module only feeds it.

use std::collections::HashSet;

use super::whatsapp_bridge::WhatsAppBridge;
use crate::identity::bridge::CreationBudget;
use crate::identity::{BridgeView, DbState, IdentityHealth, NameIndex, NewMessage, Sources, Tally};
use crate::js::now_ms;

/// While the bridge is not answering, WhatsApp's database is read again this often (it has no
/// change events).
pub(in crate::dom) const DATABASE_REREAD_MS: i64 = 60_000;
/// A new message waits for the bridge's next chat lists to name its chat, at most this many.
pub(in crate::dom) const PENDING_LISTS: u8 = 5;
/// Message ids remembered so each is reported once from this tab.
pub(in crate::dom) const REMEMBERED_MESSAGES: usize = 5_000;
/// The identity health goes to the worker when it changes, counts at most this often.
pub(in crate::dom) const HEALTH_EVERY_MS: i64 = 5_000;

pub struct ChatIdentity {
    pub bridge: BridgeView,
    pub(in crate::dom) link: Option<WhatsAppBridge>,
    pub indexed_db: Option<NameIndex>,
    pub indexed_db_state: DbState,
    pub(in crate::dom) reading_db: bool,
    pub(in crate::dom) db_read_at: i64,
    /// New messages whose chat the bridge has not listed yet, and how many lists came since.
    pub(in crate::dom) pending: Vec<(NewMessage, u8)>,
    pub(in crate::dom) reported: HashSet<String>,
    /// Conversations this tab may still have created from messages (see [`CreationBudget`]).
    pub(in crate::dom) creations: CreationBudget,
    /// What the last refresh identified, for the health report.
    pub tally: Tally,
    pub health: IdentityHealth,
    /// The health as last published to the worker (counts lag by up to [`HEALTH_EVERY_MS`]).
    pub published: IdentityHealth,
    pub(in crate::dom) published_at: i64,
}

impl ChatIdentity {
    pub fn new() -> ChatIdentity {
        ChatIdentity {
            bridge: BridgeView::new(false),
            link: None,
            indexed_db: None,
            indexed_db_state: DbState::NotRead,
            reading_db: false,
            db_read_at: 0,
            pending: Vec::new(),
            reported: HashSet::new(),
            creations: CreationBudget::new(now_ms()),
            tally: Tally::default(),
            health: IdentityHealth::unknown(),
            published: IdentityHealth::unknown(),
            published_at: 0,
        }
    }

    /// The sources for one identification, with the team's known titles.
    pub fn sources<'a>(&'a self, known: &'a NameIndex) -> Sources<'a> {
        Sources {
            bridge: &self.bridge,
            indexed_db: self.indexed_db.as_ref(),
            known,
        }
    }

    /// Whether this message id is new here (and remembers it).
    pub fn first_report(&mut self, message_id: &str) -> bool {
        if self.reported.len() >= REMEMBERED_MESSAGES {
            self.reported.clear();
        }
        self.reported.insert(message_id.to_owned())
    }
}
