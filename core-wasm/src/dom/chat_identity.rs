//! The overlay's side of chat identity: the bridge's reports coming in, WhatsApp's database read
//! when the bridge is not answering, new messages in any chat reported to the server, and the
//! identity health shown in the header bar and the popup. What the sources mean and how they are
//! weighed is [`crate::identity`]; this module only feeds it.

use std::collections::HashSet;

use protocol::api::{Direction, MessageReport, NewConversation};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use super::overlay::{Overlay, Pending};
use super::whatsapp_bridge::WhatsAppBridge;
use super::{indexed_db, with_overlay};
use crate::calls::Call;
use crate::error::CoreError;
use crate::identity::bridge::{CreationBudget, RawReport};
use crate::identity::{
    assess, BridgeView, DbState, IdentityHealth, NameIndex, NewMessage, Sources, Tally,
};
use crate::js::{from_json, now_ms, warn};
use crate::messages::LayoutState;

/// While the bridge is not answering, WhatsApp's database is read again this often (it has no
/// change events).
const DATABASE_REREAD_MS: i64 = 60_000;
/// A new message waits for the bridge's next chat lists to name its chat, at most this many.
const PENDING_LISTS: u8 = 5;
/// Message ids remembered so each is reported once from this tab.
const REMEMBERED_MESSAGES: usize = 5_000;
/// The identity health goes to the worker when it changes, counts at most this often.
const HEALTH_EVERY_MS: i64 = 5_000;

pub struct ChatIdentity {
    pub bridge: BridgeView,
    link: Option<WhatsAppBridge>,
    pub indexed_db: Option<NameIndex>,
    pub indexed_db_state: DbState,
    reading_db: bool,
    db_read_at: i64,
    /// New messages whose chat the bridge has not listed yet, and how many lists came since.
    pending: Vec<(NewMessage, u8)>,
    reported: HashSet<String>,
    /// Conversations this tab may still have created from messages (see [`CreationBudget`]).
    creations: CreationBudget,
    /// What the last refresh identified, for the health report.
    pub tally: Tally,
    pub health: IdentityHealth,
    /// The health as last published to the worker (counts lag by up to [`HEALTH_EVERY_MS`]).
    pub published: IdentityHealth,
    published_at: i64,
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

impl Overlay {
    /// Listens to the MAIN-world bridge on the port `bridge-port.js` kept (if it did).
    pub(super) fn connect_whatsapp_bridge(&mut self, port: JsValue) {
        let link =
            WhatsAppBridge::connect(port, |text| with_overlay(|o| o.on_bridge_report(&text)));
        self.identity.bridge.connected = link.connected();
        self.identity.link = Some(link);
    }

    fn on_bridge_report(&mut self, text: &str) {
        let raw: RawReport = match from_json(text) {
            Ok(raw) => raw,
            Err(err) => {
                self.identity.bridge.rejected += 1;
                warn(&format!("ignored a report from the page: {err}"));
                return;
            }
        };
        let is_list = raw.kind == "chats";
        match self.identity.bridge.receive(raw) {
            Ok(Some(message)) => self.on_new_message(message),
            Ok(None) if is_list => self.flush_pending_messages(),
            Ok(None) => {}
            Err(err) => warn(&format!("ignored a report from the page: {err}")),
        }
        self.schedule_refresh();
    }

    /// Reads WhatsApp's database while the bridge does not answer (at start, then now and then).
    pub(super) fn maybe_read_indexed_db(&mut self) {
        let identity = &mut self.identity;
        let due = match identity.indexed_db_state {
            DbState::NotRead => true,
            _ => now_ms() - identity.db_read_at >= DATABASE_REREAD_MS,
        };
        if identity.reading_db || !due || identity.bridge.answers_rows() {
            return;
        }
        identity.reading_db = true;
        identity.db_read_at = now_ms();
        spawn_local(async {
            let result = indexed_db::read().await;
            with_overlay(|o| o.on_indexed_db(result));
        });
    }

    fn on_indexed_db(&mut self, result: Result<NameIndex, CoreError>) {
        let identity = &mut self.identity;
        identity.reading_db = false;
        match result {
            Ok(index) => {
                identity.indexed_db_state = DbState::Read { chats: index.len() };
                identity.indexed_db = Some(index);
            }
            Err(err) => {
                identity.indexed_db_state = DbState::Failed(err.to_string());
                identity.indexed_db = None;
            }
        }
        self.schedule_refresh();
    }

    /// A new message in any chat, from the bridge: the open chat's goes through the send logic
    /// (an outgoing one may be the agent's fenced reply); any other is reported with what is
    /// needed to create its conversation, so chats nobody opened reach the server.
    fn on_new_message(&mut self, message: NewMessage) {
        if !self.logged_in() || !self.identity.first_report(&message.id) {
            return;
        }
        let in_open_chat = self.chat.as_ref().is_some_and(|chat| {
            [chat.whatsapp_id.as_ref(), chat.chat_id.as_ref()]
                .into_iter()
                .flatten()
                .any(|id| self.identity.bridge.same_chat(id, &message.chat_id))
        });
        if in_open_chat {
            self.open_chat_message(message.id, message.from_me, Some(message.sent_at));
        } else if self.identity.bridge.chat(&message.chat_id).is_some() {
            self.report_elsewhere(&message);
        } else {
            self.identity.pending.push((message, 0));
        }
    }

    fn flush_pending_messages(&mut self) {
        for (message, lists) in std::mem::take(&mut self.identity.pending) {
            if self.identity.bridge.chat(&message.chat_id).is_some() {
                self.report_elsewhere(&message);
            } else if lists < PENDING_LISTS {
                self.identity.pending.push((message, lists + 1));
            }
        }
    }

    fn report_elsewhere(&mut self, message: &NewMessage) {
        let Some(chat) = self.identity.bridge.chat(&message.chat_id) else {
            return;
        };
        // Only a chat the team does not know yet costs a creation.
        let known = self.state.conversation(&chat.id).is_some()
            || chat
                .alias
                .as_ref()
                .is_some_and(|alias| self.state.conversation(alias).is_some());
        let create = known || self.identity.creations.spend(now_ms());
        let call = Call::Message {
            chat_id: chat.id.clone(),
            report: MessageReport {
                message_id: message.id.clone(),
                direction: Direction::from_me(message.from_me),
                sent_at: Some(message.sent_at),
                fence: None,
                if_missing: create.then(|| NewConversation {
                    title: chat.title.clone(),
                    alias: chat.alias.clone(),
                }),
            },
        };
        let _ = self.request_quietly(call, Pending::Report);
    }

    /// Works out the identity health after a refresh; what changed in kind is published at once,
    /// moved counts now and then.
    pub(super) fn update_health(&mut self) {
        let known_chats = self.state.conversations.len();
        let layout_recognised = !matches!(self.layout, LayoutState::Unrecognised { .. });
        let identity = &mut self.identity;
        identity.health = assess(
            &identity.bridge,
            &identity.indexed_db_state,
            known_chats,
            layout_recognised,
            &identity.tally,
            now_ms() - self.started_at,
        );
        let (now, was) = (&identity.health, &identity.published);
        let changed_in_kind = now.level != was.level
            || now.missing != was.missing
            || now.open_chat_identified != was.open_chat_identified
            || now.bridge_rejected != was.bridge_rejected
            || now
                .sources
                .iter()
                .map(|s| &s.state)
                .ne(was.sources.iter().map(|s| &s.state));
        let stale = now != was && now_ms() - identity.published_at >= HEALTH_EVERY_MS;
        if changed_in_kind || stale {
            identity.published = identity.health.clone();
            identity.published_at = now_ms();
        }
    }
}
