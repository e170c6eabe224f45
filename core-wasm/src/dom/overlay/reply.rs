//! The agent's reply in the open chat: the capture-phase listeners that guard the composer, the
//! reply lock while the agent types (taken, renewed, released), input held until the lock is
//! theirs, sending, the send guard, and reporting messages as they appear. The chat's state is
//! [`ChatSession`]'s (`dom::chat`).

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};
use protocol::api::{Direction, HistoryMessage, HistoryReport, MessageReport, NewConversation};
use protocol::{ChatId, Millis};
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, KeyboardEvent};

use super::{Overlay, Pending};
use crate::calls::{Answer, Call, Outcome, Reason};
use crate::dom::chat::{ChatSession, Held};
use crate::dom::ui::document;
use crate::dom::whatsapp::{self, OpenChat};
use crate::dom::with_overlay;
use crate::held::{HeldInput, Turn, TurnFacts};
use crate::identity::{Doubt, Verdict};
use crate::js::{now_ms, to_json};
use crate::messages::Connection;
use crate::views::{composer_gate, Change, Gate};

/// Give up waiting for a sent message to show up after this long, and release the lock.
const SEND_SETTLE_MS: i64 = 10_000;
/// Typing keeps the lock; this long without input (and an empty composer) releases it.
const IDLE_RELEASE_MS: i64 = 15_000;
/// A message stamped this long before now is history WhatsApp loaded, not news (stamps are to
/// the minute; a phone's clock may be a little off).
const HISTORY_AGE_MS: i64 = 5 * 60_000;
/// Most messages one history report carries (the server's limit).
const MAX_HISTORY_REPORT: usize = 500;

/// The capture-phase listeners that guard the composer: they run before WhatsApp's own handlers,
/// so a blocked keystroke, paste, drop or send never reaches it.
pub fn composer_listeners() -> Vec<EventListener> {
    let document = document();
    let options = EventListenerOptions {
        phase: EventListenerPhase::Capture,
        passive: false,
    };
    let mut listeners = Vec::new();
    for kind in [
        "keydown",
        "beforeinput",
        "paste",
        "drop",
        "click",
        "mousedown",
        "input",
    ] {
        listeners.push(EventListener::new_with_options(
            &document,
            kind,
            options,
            move |event| {
                let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
                    return;
                };
                match kind {
                    "click" | "mousedown" if whatsapp::in_send_button(&target) => {
                        with_overlay(|o| o.on_send_attempt(event))
                    }
                    "keydown" if whatsapp::in_composer(&target) => {
                        let Some(key) = event.dyn_ref::<KeyboardEvent>() else {
                            return;
                        };
                        // Shortcuts (Ctrl+V, Cmd+C, Ctrl+Z…) are not typing: what they do to the
                        // composer comes as its own paste or input event. AltGr types characters.
                        let shortcut = (key.ctrl_key() || key.meta_key() || key.alt_key())
                            && !key.get_modifier_state("AltGraph");
                        if key.is_composing() || shortcut {
                            return;
                        }
                        if key.key() == "Enter" && !key.shift_key() {
                            with_overlay(|o| o.on_send_attempt(event));
                        } else if key.key().chars().count() == 1
                            || matches!(key.key().as_str(), "Backspace" | "Delete")
                        {
                            with_overlay(|o| o.on_type_attempt(event));
                        }
                    }
                    "beforeinput" | "paste" | "drop" if whatsapp::in_composer(&target) => {
                        with_overlay(|o| o.on_type_attempt(event))
                    }
                    // A `/` that went in (typed, or typed in for the agent once the lock came).
                    "input" if whatsapp::in_composer(&target) => {
                        let slash = event
                            .dyn_ref::<web_sys::InputEvent>()
                            .and_then(|i| i.data())
                            .is_some_and(|d| d == "/");
                        if slash {
                            with_overlay(Overlay::after_slash);
                        }
                    }
                    _ => {}
                }
            },
        ));
    }
    listeners
}

/// An input method's composition: it cannot be cancelled, so it goes in (holding it as well
/// would type it twice).
fn is_composition(event: &Event) -> bool {
    event
        .dyn_ref::<web_sys::InputEvent>()
        .is_some_and(|input| input.is_composing() || input.input_type().contains("Composition"))
}

fn refuse(event: &Event) {
    event.prevent_default();
    event.stop_immediate_propagation();
}

/// Keeps what an input event would have put into the composer.
fn hold(held: &mut HeldInput, event: &Event) {
    if let Some(key) = event.dyn_ref::<KeyboardEvent>() {
        match key.key().as_str() {
            "Backspace" | "Delete" => {
                held.delete_back();
            }
            typed if typed.chars().count() == 1 => held.add_text(typed),
            _ => {}
        }
    } else if let Some(input) = event.dyn_ref::<web_sys::InputEvent>() {
        match input.input_type().as_str() {
            "deleteContentBackward" | "deleteContentForward" => {
                held.delete_back();
            }
            // Shift+Enter.
            "insertLineBreak" | "insertParagraph" => held.add_text("\n"),
            _ => {
                if let Some(data) = input.data() {
                    held.add_text(&data);
                }
            }
        }
    } else if let Some(paste) = event.dyn_ref::<web_sys::ClipboardEvent>() {
        if let Some(text) = paste
            .clipboard_data()
            .and_then(|d| d.get_data("text/plain").ok())
        {
            held.add_text(&text);
        }
    } else if let Some(drop) = event.dyn_ref::<web_sys::DragEvent>() {
        if let Some(text) = drop
            .data_transfer()
            .and_then(|d| d.get_data("text/plain").ok())
        {
            held.add_text(&text);
        }
    }
}

impl Overlay {
    /// The gate of the open chat now.
    pub(in crate::dom) fn gate(&self) -> Gate {
        match self.chat.as_ref().and_then(|c| c.chat_id.as_ref()) {
            Some(chat_id) if self.logged_in() => composer_gate(&self.state, chat_id, self.now()),
            _ => Gate::Open,
        }
    }

    /// Whose turn it is to type in the open chat, as far as Baton knows.
    pub(in crate::dom) fn turn(&self) -> Turn {
        let Some(chat) = self.chat.as_ref() else {
            return Turn::Uncoordinated;
        };
        Turn::of(TurnFacts {
            coordinated: self.logged_in() && matches!(self.connection, Connection::Online),
            typing_in: chat.typing_in,
            identified: chat.chat_id.is_some(),
            disagreeing_since: chat
                .disagreeing_since
                .filter(|_| self.identity.bridge.answers_open_chat()),
            lock_held: chat.held.is_some(),
            input_waiting: !chat.held_input.is_empty() || chat.releasing,
            now: now_ms(),
        })
    }

    /// Input can come before the overlay has looked at a freshly opened chat (its refresh waits
    /// for the page to settle): look now, so the input is judged for the chat on screen.
    fn catch_up_with_the_page(&mut self) {
        let on_screen = whatsapp::open_chat_title();
        let stale = match (&self.chat, &on_screen) {
            (None, None) => false,
            (Some(chat), Some(title)) => &chat.title != title,
            _ => true,
        };
        if stale {
            self.refresh();
        }
    }

    fn on_type_attempt(&mut self, event: &Event) {
        self.catch_up_with_the_page();
        if let Gate::Blocked(_) = self.gate() {
            refuse(event);
            self.ui.flash_lock_banner();
            return;
        }
        let turn = self.turn();
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        chat.last_input_at = now_ms();
        // Typed before the chat is known: the lock follows once it is (see `sync_chat`).
        chat.wants_lock |= chat.chat_id.is_none();
        if !turn.lets_input_through() && !is_composition(event) {
            // Not into the composer until it is known to be ours — but not lost either.
            hold(&mut chat.held_input, event);
            refuse(event);
        }
        self.ensure_lock();
    }

    fn on_send_attempt(&mut self, event: &Event) {
        self.catch_up_with_the_page();
        if let Gate::Blocked(_) = self.gate() {
            refuse(event);
            self.ui.flash_lock_banner();
            return;
        }
        if !self.turn().lets_input_through() {
            // Sent once the held text is in and the lock is ours.
            if let Some(chat) = self.chat.as_mut() {
                chat.held_input.add_send();
            }
            refuse(event);
            self.ensure_lock();
            return;
        }
        let composer_has_text = whatsapp::composer_has_text();
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        if !composer_has_text {
            return;
        }
        if !chat.changes.is_empty() {
            refuse(event);
            chat.guard_open = true;
            // The agent decides in the guard, not in a composer where Enter now does nothing.
            self.ui.focus_guard = true;
            self.schedule_refresh();
            return;
        }
        chat.pending_send_at = Some(now_ms());
    }

    /// Takes the reply lock for the open chat unless held or on its way.
    fn ensure_lock(&mut self) {
        if !self.logged_in() {
            return;
        }
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        let Some(chat_id) = chat.chat_id.clone() else {
            return;
        };
        if chat.held.is_some() || chat.acquiring {
            return;
        }
        if chat.registering {
            // The server may not know the chat yet; the lock is asked for once it does.
            chat.wants_lock = true;
            return;
        }
        chat.acquiring = true;
        if !self.request_lock(chat_id, false, false) {
            if let Some(chat) = self.chat.as_mut() {
                chat.acquiring = false;
            }
        }
    }

    /// Asks for the lock (or renews it: the same call is the heartbeat); `then_release` gives it
    /// back at once when granted (a claim: the chat stays mine).
    fn request_lock(&mut self, chat_id: ChatId, force: bool, then_release: bool) -> bool {
        self.request(
            Call::Lock {
                chat_id: chat_id.clone(),
                force,
            },
            Pending::Lock {
                chat_id,
                then_release,
            },
        )
    }

    /// Claim (take and give back the lock: the chat stays mine) or take over (lead, forced).
    pub(in crate::dom) fn take_lock(&mut self, force: bool) {
        if let Some(chat_id) = self.chat.as_ref().and_then(|c| c.chat_id.clone()) {
            self.request_lock(chat_id, force, !force);
        }
    }

    pub(in crate::dom) fn on_lock_reply(
        &mut self,
        chat_id: ChatId,
        then_release: bool,
        outcome: Outcome,
    ) {
        let still_here = self.chat.as_ref().and_then(|c| c.chat_id.as_ref()) == Some(&chat_id);
        if let Some(chat) = self.chat.as_mut().filter(|_| still_here) {
            chat.acquiring = false;
        }
        match outcome {
            Outcome::Done(Answer::LockGranted(grant)) => {
                if !still_here || then_release {
                    // Left the chat meanwhile, or only claiming: give the lock back.
                    self.request(
                        Call::Release {
                            chat_id,
                            fence: grant.fence,
                        },
                        Pending::Release,
                    );
                    return;
                }
                if let Some(chat) = self.chat.as_mut() {
                    // Taken on purpose (typing or a take-over): it counts as activity.
                    chat.last_input_at = chat.last_input_at.max(now_ms());
                    chat.held = Some(Held {
                        fence: grant.fence,
                        renewed_at: now_ms(),
                        renew_every_ms: (grant.expires_in_ms / 3).max(500),
                    });
                }
                self.release_held_input();
                // Reflect it locally at once; the event will confirm.
                if let Some(conversation) = self.state.conversations.get_mut(&chat_id) {
                    conversation.lock = Some(crate::state::LockState {
                        holder: grant.holder.clone(),
                        fence: grant.fence,
                        expires_at: grant.expires_at,
                    });
                    if grant.claimed {
                        conversation.owner = Some(grant.holder);
                    }
                }
                // Typing in a chat nobody owned made it mine: said, with a way back.
                if grant.claimed {
                    self.ui.toast_with(
                        "You now own this chat",
                        Some(("Undo", "give-back", chat_id.as_str())),
                    );
                }
            }
            // Any other answer to a lock request is not one this version understands.
            Outcome::Done(_) => return,
            Outcome::Refused(refusal) => {
                if let Some(chat) = self.chat.as_mut().filter(|_| still_here) {
                    chat.held = None;
                }
                match refusal.reason {
                    Reason::Taken | Reason::Forbidden | Reason::Conflict => {
                        self.learn_from_refusal(&chat_id, &refusal);
                        self.ui.flash_lock_banner();
                        self.drop_held_input("someone else is replying");
                    }
                    Reason::NotFound
                        if still_here
                            && self.chat.as_ref().is_some_and(|c| !c.registered_again) =>
                    {
                        // Not registered yet (or no longer): register it, and the lock follows.
                        if let Some(chat) = self.chat.as_mut() {
                            chat.registered_again = true;
                            chat.wants_lock = true;
                        }
                        self.open_chat_call();
                    }
                    _ => {
                        self.ui.toast(&refusal.message);
                        // Nothing says a colleague is replying: what the agent typed goes in.
                        self.release_held_input();
                    }
                }
            }
            Outcome::NotSent { .. } => {
                if let Some(chat) = self.chat.as_mut().filter(|_| still_here) {
                    chat.held = None;
                }
                // Nothing says a colleague is replying: what the agent typed goes in.
                self.release_held_input();
            }
            Outcome::Queued => {}
        }
        self.schedule_refresh();
    }

    /// Types the held input into the composer (and sends, if a send was held), after this
    /// callback: Baton's own typing passes the listeners, anything typed meanwhile waits behind it.
    pub(in crate::dom) fn release_held_input(&mut self) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        if chat.held_input.is_empty() || chat.releasing {
            return;
        }
        let preview = chat.held_input.preview();
        let (text, send) = chat.held_input.take();
        chat.releasing = true;
        let for_visit = chat.serial;
        self.defer_dom(move || {
            // Only into the chat it was typed for (the agent may have switched meanwhile).
            let mut same_chat = false;
            with_overlay(|o| {
                same_chat = o.chat.as_ref().is_some_and(|c| c.serial == for_visit);
                o.set_typing_in(same_chat);
                if !same_chat && !preview.is_empty() {
                    o.ui.toast(&format!("Not typed, you left the chat: “{preview}”"));
                }
            });
            if !same_chat {
                return;
            }
            if !text.is_empty() {
                whatsapp::type_into_composer(&text);
            }
            if send {
                whatsapp::send();
            }
            with_overlay(|o| o.set_typing_in(false));
            with_overlay(|o| {
                if let Some(chat) = o.chat.as_mut() {
                    chat.releasing = false;
                }
                // More may have arrived while this was typed in.
                if o.turn() != Turn::Uncoordinated
                    && o.chat.as_ref().is_some_and(|c| c.held.is_some())
                {
                    o.release_held_input();
                }
            });
        });
    }

    fn set_typing_in(&mut self, typing_in: bool) {
        if let Some(chat) = self.chat.as_mut() {
            chat.typing_in = typing_in;
        }
    }

    /// What the agent typed must not reach the composer (a colleague has the chat, or the agent
    /// left it); say so.
    fn drop_held_input(&mut self, why: &str) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        if chat.held_input.is_empty() {
            return;
        }
        let preview = chat.held_input.preview();
        chat.held_input.take();
        if !preview.is_empty() {
            self.ui.toast(&format!("Not typed, {why}: “{preview}”"));
        }
    }

    /// Lets the lock go (after sending, leaving or going idle).
    pub(in crate::dom) fn release_lock(&mut self) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        // A send that went out without a lock (offline, an unidentified chat) is settled too.
        chat.pending_send_at = None;
        let (Some(held), Some(chat_id)) = (chat.held.take(), chat.chat_id.clone()) else {
            return;
        };
        if let Some(conversation) = self.state.conversations.get_mut(&chat_id) {
            if conversation
                .lock
                .as_ref()
                .is_some_and(|l| l.fence == held.fence)
            {
                conversation.lock = None;
            }
        }
        self.request(
            Call::Release {
                chat_id,
                fence: held.fence,
            },
            Pending::Release,
        );
    }

    pub(in crate::dom) fn leave_chat(&mut self) {
        self.drop_held_input("you left the chat");
        self.release_lock();
        self.chat = None;
    }

    /// Once a second: renew or release the lock, and settle a send that never showed up.
    pub(in crate::dom) fn chat_tick(&mut self) {
        // Coordination became impossible (offline, a chat that cannot be identified): what was
        // held goes in rather than wait for ever.
        if self.turn() == Turn::Uncoordinated
            && self.chat.as_ref().is_some_and(|c| !c.held_input.is_empty())
        {
            self.release_held_input();
        }
        let now = now_ms();
        let composer_busy = whatsapp::composer_has_text();
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        if chat
            .pending_send_at
            .is_some_and(|at| now - at > SEND_SETTLE_MS)
        {
            self.release_lock();
            return;
        }
        let Some(held) = chat.held.as_mut() else {
            return;
        };
        let active = composer_busy
            || chat.pending_send_at.is_some()
            || now - chat.last_input_at < IDLE_RELEASE_MS;
        if !active {
            self.release_lock();
            return;
        }
        if now - held.renewed_at >= held.renew_every_ms {
            held.renewed_at = now;
            if let Some(chat_id) = chat.chat_id.clone() {
                self.request_lock(chat_id, false, false);
            }
        }
    }

    /// Works out which chat is open and what changed in it since the last refresh.
    pub(in crate::dom) fn sync_chat(&mut self, open: Option<OpenChat>) {
        let Some(open) = open else {
            if self.chat.is_some() {
                self.leave_chat();
            }
            return;
        };
        self.ensure_known_names();
        let verdict = self
            .identity
            .sources(&self.known_names)
            .identify_open(&open.title, open.chat_id_from_messages.as_ref());
        let tally = &mut self.identity.tally;
        tally.legacy_message_ids |= open.chat_id_from_messages.is_some();
        let (whatsapp_id, source, doubt) = match verdict {
            Verdict::Known { chat_id, source } => {
                tally.count(source);
                (Some(chat_id), Some(source), None)
            }
            Verdict::Unsure(doubt) => (None, None, Some(doubt)),
        };
        tally.open_chat_identified = Some(whatsapp_id.is_some());
        let alias = whatsapp_id.as_ref().and_then(|id| self.alias_of(id));
        let own_id = whatsapp_id
            .as_ref()
            .map(|id| self.state.own_id(id, &self.known_names));
        let same = match (&self.chat, &whatsapp_id) {
            (Some(chat), Some(id)) => chat.whatsapp_id.as_ref() == Some(id),
            // A passing doubt about the chat still on screen (the page and WhatsApp's modules
            // a moment apart) keeps what is known of it; but with several chats of that name
            // on screen it may be its twin.
            (Some(chat), None) => chat.title == open.title && doubt != Some(Doubt::SeveralNamed),
            (None, _) => false,
        };
        if same {
            if let (Some(chat), Some(own_id)) = (self.chat.as_mut(), own_id) {
                // The server may have linked it to the id it knew first.
                chat.chat_id = Some(own_id);
            }
        } else {
            let identified_now = self
                .chat
                .as_ref()
                .is_some_and(|c| c.whatsapp_id.is_none() && c.title == open.title);
            if !identified_now {
                self.leave_chat();
                self.chat = Some(ChatSession::new(open.title.clone()));
                self.ui.chat_changed();
            }
            if let Some(chat) = self.chat.as_mut() {
                chat.whatsapp_id = whatsapp_id.clone();
                chat.chat_id = own_id;
                chat.alias = alias;
            }
            if whatsapp_id.is_some() {
                self.open_chat_call();
                self.lock_if_typed();
            }
        }
        if let Some(chat) = self.chat.as_mut() {
            if chat.whatsapp_id.is_none() {
                chat.disagreeing_since = match doubt {
                    Some(Doubt::SourcesDisagree) => chat.disagreeing_since.or(Some(now_ms())),
                    _ => None,
                };
                chat.doubt = doubt;
            }
            chat.source = source.or(chat.source);
        }
        // History is read from the DOM either way; news from it only when WhatsApp's modules do
        // not report it.
        let news = !self.identity.bridge.answers_messages();
        self.note_messages(&open, news);
    }

    /// The other id of the chat's person, from whichever source knows it.
    fn alias_of(&self, chat_id: &ChatId) -> Option<ChatId> {
        if let Some(chat) = self.identity.bridge.chat(chat_id) {
            return if &chat.id == chat_id {
                chat.alias.clone()
            } else {
                Some(chat.id.clone())
            };
        }
        self.identity
            .indexed_db
            .as_ref()
            .and_then(|idb| idb.alias(chat_id))
            .or_else(|| self.known_names.alias(chat_id))
            .cloned()
    }

    /// Whatever the agent typed while the chat was being identified (or registered) takes the
    /// lock now.
    pub(in crate::dom) fn lock_if_typed(&mut self) {
        let typed = whatsapp::composer_has_text();
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        if chat.wants_lock || typed || !chat.held_input.is_empty() {
            chat.wants_lock = false;
            chat.last_input_at = chat.last_input_at.max(now_ms());
            if let Gate::Open = self.gate() {
                self.ensure_lock();
            }
        }
    }

    /// A `/` typed into the composer: once it is in, alone, the template picker opens.
    fn after_slash(&mut self) {
        self.defer_dom(|| {
            let alone = whatsapp::composer()
                .and_then(|c| c.text_content())
                .is_some_and(|t| t.trim() == "/");
            if alone {
                with_overlay(|o| o.open_templates(true));
            }
        });
    }

    /// Asks the lead module for the template picker, with what it needs to fill templates for
    /// this chat (`slash`: opened by typing `/`, which the template replaces).
    pub(in crate::dom) fn open_templates(&mut self, slash: bool) {
        #[derive(serde::Serialize)]
        struct Context<'a> {
            title: &'a str,
            pipeline_id: Option<&'a str>,
            stage: Option<&'a str>,
            slash: bool,
        }
        let Some(chat) = self.chat.as_ref() else {
            return;
        };
        let stage = chat
            .chat_id
            .as_ref()
            .and_then(|id| self.state.conversations.get(id))
            .and_then(|c| c.stage.as_ref());
        let context = to_json(&Context {
            title: &chat.title,
            pipeline_id: stage.map(|s| s.pipeline_id.as_str()),
            stage: stage.map(|s| s.stage.as_str()),
            slash,
        });
        let detail = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&detail, &"tool".into(), &"templates".into());
        if let Ok(context) = context {
            let _ = js_sys::Reflect::set(&detail, &"context".into(), &context.into());
        }
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&detail);
        if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("baton:open-tool", &init)
        {
            let _ = document().dispatch_event(&event);
        }
    }

    /// Reports the open chat's messages as the DOM shows them: its history for the reports, and
    /// (`news`: when WhatsApp's modules do not report them) its new messages. The first batch of
    /// a chat is its history, not news.
    fn note_messages(&mut self, open: &OpenChat, news: bool) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        let Some(whatsapp_id) = chat.whatsapp_id.clone() else {
            return;
        };
        let alias = chat.alias.clone();
        let fresh: Vec<_> = open
            .messages
            .iter()
            .filter(|m| {
                m.chat_id
                    .as_ref()
                    .is_none_or(|c| *c == whatsapp_id || Some(c) == alias.as_ref())
                    && !chat.known_messages.contains(&m.message_id)
            })
            .cloned()
            .collect();
        for message in &fresh {
            chat.known_messages.insert(message.message_id.clone());
        }
        // Messages stamped minutes before now are history — the first batch, or older ones
        // WhatsApp loads as the agent scrolls up: they go to the reports, never as news. The rest
        // of the first batch is neither (its live reports come from whoever saw it arrive).
        let first_batch = !chat.history_loaded;
        chat.history_loaded = !chat.known_messages.is_empty();
        let now = now_ms();
        let (history, recent): (Vec<_>, Vec<_>) = fresh
            .into_iter()
            .partition(|m| m.sent_at.is_some_and(|at| now - at > HISTORY_AGE_MS));
        let fresh_news = if first_batch { Vec::new() } else { recent };
        chat.pending_history
            .extend(history.into_iter().filter_map(|m| {
                Some(HistoryMessage {
                    message_id: m.message_id,
                    direction: Direction::from_me(m.from_me),
                    sent_at: m.sent_at?,
                })
            }));
        self.send_history();
        if !news {
            return;
        }
        for message in fresh_news {
            if self.identity.first_report(&message.message_id) {
                self.open_chat_message(message.message_id, message.from_me, None);
            }
        }
    }

    /// Reports the open chat's history once the server knows the chat, 500 messages at a time.
    fn send_history(&mut self) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        let Some(chat_id) = chat.chat_id.clone() else {
            return;
        };
        if chat.registering || chat.pending_history.is_empty() {
            return;
        }
        let take = chat.pending_history.len().min(MAX_HISTORY_REPORT);
        let messages: Vec<HistoryMessage> = chat.pending_history.drain(..take).collect();
        let Ok(body) = to_json(&HistoryReport { messages }) else {
            return;
        };
        let path = format!(
            "/conversations/{}/messages/history",
            chat_id.as_str().replace('@', "%40")
        );
        let _ = self.relay("POST", path, Some(body), Pending::History);
    }

    /// A new message in the open chat: reported; an outgoing one after the agent pressed send is
    /// their reply (sent under their fence, after which the lock goes), any other outgoing one is
    /// another agent's, for the send guard.
    pub(in crate::dom) fn open_chat_message(
        &mut self,
        message_id: String,
        from_me: bool,
        sent_at: Option<Millis>,
    ) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        let Some(chat_id) = chat.chat_id.clone() else {
            return;
        };
        let mine = from_me && chat.pending_send_at.is_some();
        let fence = if mine {
            chat.held.as_ref().map(|h| h.fence)
        } else {
            None
        };
        if from_me && !mine {
            chat.add_change(Change {
                seq: 0,
                text: "Another agent replied in this chat".to_owned(),
                message_id: Some(message_id.clone()),
            });
        }
        let report = MessageReport {
            message_id,
            direction: Direction::from_me(from_me),
            sent_at,
            fence,
            if_missing: Some(NewConversation {
                title: chat.title.clone(),
                alias: chat.alias.clone(),
            }),
        };
        let _ = self.request_quietly(Call::Message { chat_id, report }, Pending::Report);
        if mine {
            // Reported under the fence first, then the lock goes.
            self.release_lock();
        }
    }

    /// The send guard's buttons. The page is touched from a timer after this callback returns:
    /// pressing WhatsApp's send button re-enters our own listeners, which must find the overlay
    /// free (and, the changes being acknowledged, let the send through).
    pub(in crate::dom) fn guard_action(&mut self, action: &str) {
        let Some(chat) = self.chat.as_mut() else {
            return;
        };
        chat.changes.clear();
        chat.guard_open = false;
        match action {
            "send-anyway" => self.defer_dom(whatsapp::send),
            "discard" => {
                self.release_lock();
                self.defer_dom(|| {
                    if let Some(composer) = whatsapp::composer() {
                        let _ = composer.focus();
                        if let Ok(html) = document().dyn_into::<web_sys::HtmlDocument>() {
                            let _ = html.exec_command("selectAll");
                            let _ = html.exec_command("delete");
                        }
                    }
                });
            }
            _ => self.defer_dom(|| {
                if let Some(composer) = whatsapp::composer() {
                    let _ = composer.focus();
                }
            }),
        }
        self.schedule_refresh();
    }
}
