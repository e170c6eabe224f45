//! The overlay's side of chat identity, acting: the bridge's reports applied, WhatsApp's database
//! read when the bridge is not answering, new messages in chats nobody has open reported to the
//! server, and the identity health kept current. The sources' state is [`ChatIdentity`]'s
//! (`dom::chat_identity`); what they mean is [`crate::identity`]'s.

use protocol::api::{Direction, MessageReport, NewConversation};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use super::{Overlay, Pending};
use crate::calls::Call;
use crate::dom::chat_identity::{DATABASE_REREAD_MS, HEALTH_EVERY_MS, PENDING_LISTS};
use crate::dom::whatsapp_bridge::WhatsAppBridge;
use crate::dom::{indexed_db, with_overlay};
use crate::error::CoreError;
use crate::identity::bridge::RawReport;
use crate::identity::{assess, DbState, NameIndex, NewMessage};
use crate::js::{from_json, now_ms, warn};
use crate::messages::LayoutState;

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
