//! The overlay's life cycle: talking to the worker, watching the page, and refreshing what it
//! shows. The open chat's logic is in [`super::chat`], the chat's UI in [`super::panels`].

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};
use gloo_timers::callback::{Interval, Timeout};
use protocol::api::Note;
use protocol::ChatId;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, MutationObserver, MutationObserverInit};

mod actions;
mod identity;
mod render;
mod reply;

use super::chat::ChatSession;
use super::chat_identity::ChatIdentity;
use super::filters::{FilterIntent, FilterStrip};
use super::panels::ChatUi;
use super::ui::{self, child_with_role, document, remove_attr, set_attr, set_text, show};
use super::whatsapp::{self, Row};
use super::with_overlay;
use super::worker_link::WorkerLink;
use crate::adapter::normalize_title;
use crate::calls::{Answer, Call, Outcome, Refusal};
use crate::identity::{NameIndex, RowFacts, Verdict};
use crate::js::{from_js, now_ms, to_js, warn};
use crate::messages::{Connection, CoreMode, LayoutState, PendingItem, TabStatus, ToTab, ToWorker};
use crate::state::{ConversationState, TeamState};
use crate::views::owner_badge;

/// After this long WhatsApp has had time to render; missing hooks then mean an unknown layout.
const LAYOUT_PATIENCE_MS: i64 = 20_000;
/// Mutations are batched: one refresh at most this long after the first of a burst.
const DEBOUNCE_MS: u32 = 40;

/// What a pending request was for, so its reply can be handled without keeping closures around.
#[derive(Debug, Clone)]
pub enum Pending {
    OpenChat {
        /// The id it was registered under.
        chat_id: ChatId,
    },
    Lock {
        chat_id: ChatId,
        then_release: bool,
    },
    Release,
    Notes {
        chat_id: ChatId,
    },
    Timeline {
        chat_id: ChatId,
    },
    /// A form submission (handoff, note, reminder, stage, handoff answer): close it on success,
    /// show the error on failure.
    Form {
        chat_id: ChatId,
        form: &'static str,
    },
    /// Fire and forget (message reports).
    Report,
    /// "Take next": the chat given is opened.
    TakeNext,
    /// A chat's history report (a relayed request).
    History,
}

/// Counters for the benchmark and for tests.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    pub refreshes: u32,
    pub refresh_ms_total: f64,
    pub refresh_ms_max: f64,
    pub rows_rendered: u32,
    /// Every callback into the overlay (events, timers, observer, worker messages).
    pub callbacks: u32,
    pub busy_ms_total: f64,
    pub busy_ms_max: f64,
    /// History reports the server took.
    pub history_reports: u32,
}

pub struct Overlay {
    pub(super) mode: CoreMode,
    pub(super) started_at: i64,
    pub(super) worker: WorkerLink,
    pub(super) state: TeamState,
    pub(super) connection: Connection,
    /// The server was lost and is not back yet (a retry's "connecting" does not count as back).
    lost_server: bool,
    /// Writes the worker holds until the server has them.
    pub(super) pending_writes: Vec<PendingItem>,
    clock_offset_ms: i64,
    /// The team's known titles and aliases ([`TeamState::name_index`]), rebuilt when stale.
    pub(super) known_names: NameIndex,
    known_names_stale: bool,
    pub(super) identity: ChatIdentity,
    bridge_port: JsValue,
    /// What was last told to the worker about this tab.
    reported_status: Option<TabStatus>,
    /// Looking for a chat to open in the (virtualised) chat list: the next step's timer.
    seek: Option<Timeout>,
    pub(super) layout: LayoutState,
    pub(super) chat: Option<ChatSession>,
    pub(super) ui: ChatUi,
    /// Mine / Unassigned / Handoffs / Reminders due, over the chat list.
    filters: FilterStrip,
    /// Calls the worker has not answered yet, by request id (a handful at most: a list).
    pending: Vec<(u32, Pending)>,
    next_request: u32,
    observer: Option<Observer>,
    observed: Option<Element>,
    listeners: Vec<EventListener>,
    ticker: Option<Interval>,
    debounce: Option<Timeout>,
    reconnect: Option<Timeout>,
    pub(super) deferred: Vec<Timeout>,
    stats: Stats,
}

impl Overlay {
    /// `bridge_port` is the MAIN-world bridge's private port, if `bridge-port.js` got it.
    pub fn new(mode: CoreMode, bridge_port: JsValue) -> Overlay {
        Overlay {
            mode,
            started_at: now_ms(),
            worker: WorkerLink::new(),
            state: TeamState::default(),
            connection: Connection::Connecting,
            lost_server: false,
            pending_writes: Vec::new(),
            clock_offset_ms: 0,
            known_names: NameIndex::default(),
            known_names_stale: true,
            identity: ChatIdentity::new(),
            bridge_port,
            reported_status: None,
            seek: None,
            layout: LayoutState::Waiting,
            chat: None,
            ui: ChatUi::new(),
            filters: FilterStrip::new(|action, value| {
                with_overlay(|o| o.on_filter_click(action, value))
            }),
            pending: Vec::new(),
            next_request: 1,
            observer: None,
            observed: None,
            listeners: Vec::new(),
            ticker: None,
            debounce: None,
            reconnect: None,
            deferred: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn start(&mut self) {
        self.connect_worker();
        let port = std::mem::replace(&mut self.bridge_port, JsValue::NULL);
        self.connect_whatsapp_bridge(port);
        self.maybe_read_indexed_db();
        self.listeners = reply::composer_listeners();
        self.listeners.push(actions::click_listener(&self.ui));
        self.listeners.push(actions::change_listener(&self.ui));
        self.listeners.push(actions::key_listener());
        let options = EventListenerOptions {
            phase: EventListenerPhase::Capture,
            passive: true,
        };
        self.listeners.push(EventListener::new_with_options(
            &web_sys::window()
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL)
                .unchecked_into(),
            "pagehide",
            options,
            |_| with_overlay(|o| o.leave_chat()),
        ));
        // The lead's board asks for a chat to be opened (it knows the chat, WhatsApp's list
        // has the row).
        self.listeners.push(EventListener::new(
            &super::ui::document(),
            "baton:open-chat",
            |event| {
                let chat = event
                    .dyn_ref::<web_sys::CustomEvent>()
                    .and_then(|e| e.detail().as_string())
                    .and_then(|id| ChatId::parse(&id).ok());
                if let Some(chat) = chat {
                    with_overlay(|o| o.seek_chat(chat, 0));
                }
            },
        ));
        self.ticker = Some(Interval::new(1_000, || with_overlay(Overlay::tick)));
        self.refresh();
    }

    fn connect_worker(&mut self) {
        self.worker.connect(
            |message| with_overlay(|o| o.on_worker_message(message)),
            |_| with_overlay(|o| o.on_worker_lost()),
        );
        if self.worker.connected() {
            self.reported_status = None;
            self.report_status();
        }
    }

    fn on_worker_lost(&mut self) {
        self.worker.lost();
        for (_, pending) in std::mem::take(&mut self.pending) {
            self.on_reply(
                pending,
                Outcome::NotSent {
                    message: "Lost contact with the Baton extension; trying again.".into(),
                },
            );
        }
        if let Some(chat) = self.chat.as_mut() {
            // The lock is the worker's to renew; without it, assume nothing.
            chat.acquiring = false;
        }
        // The worker restarts on demand: reconnecting wakes it.
        self.reconnect = Some(Timeout::new(500, || {
            with_overlay(|o| {
                o.reconnect = None;
                if !o.worker.invalidated {
                    o.connect_worker();
                }
            })
        }));
    }

    /// The server's clock, as best we know it.
    pub(super) fn now(&self) -> i64 {
        now_ms() + self.clock_offset_ms
    }

    pub(super) fn logged_in(&self) -> bool {
        self.state.me.is_some() && !matches!(self.connection, Connection::LoggedOut)
    }

    /// Asks the worker to make a call; returns false (after telling the agent) if it cannot.
    pub(super) fn request(&mut self, call: Call, pending: Pending) -> bool {
        let sent = self.request_quietly(call, pending);
        if !sent {
            self.ui
                .toast("Baton is not connected; try again in a moment");
        }
        sent
    }

    /// Has the worker make a request as it is ([`crate::calls::relay_allowed`]): `{relay: id,
    /// method, path, body}`, answered `{relay: id, status, body}`; false if it cannot be sent.
    pub(super) fn relay(
        &mut self,
        method: &str,
        path: String,
        body: Option<String>,
        pending: Pending,
    ) -> bool {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let message = crate::js::relay_request(id, method, &path, body.as_deref());
        let sent = self.worker.send_value(&message);
        if sent {
            self.pending.push((id, pending));
        }
        sent
    }

    /// Like [`Overlay::request`], without telling the agent if it cannot (background reports).
    pub(super) fn request_quietly(&mut self, call: Call, pending: Pending) -> bool {
        let id = self.next_request;
        self.next_request = self.next_request.wrapping_add(1).max(1);
        let sent = self.worker.send(&ToWorker::Request { id, call });
        if sent {
            self.pending.push((id, pending));
        }
        sent
    }

    /// Tells the worker how this tab is doing, if that changed.
    fn report_status(&mut self) {
        // Called after every refresh: compare before building (and cloning) anything.
        let unchanged = self.reported_status.as_ref().is_some_and(|reported| {
            reported.mode == self.mode
                && reported.layout == self.layout
                && reported.error.is_none()
                && reported.identity.as_ref() == Some(&self.identity.published)
        });
        if unchanged {
            return;
        }
        let status = TabStatus {
            mode: self.mode,
            layout: self.layout.clone(),
            error: None,
            identity: Some(self.identity.published.clone()),
        };
        if self.worker.send(&ToWorker::Status(status.clone())) {
            self.reported_status = Some(status);
        }
    }

    fn on_worker_message(&mut self, message: JsValue) {
        if let Some((id, status, body)) = crate::js::relay_answer(&message) {
            if let Some(i) = self.pending.iter().position(|(p, _)| *p == id) {
                let (_, pending) = self.pending.remove(i);
                self.on_relayed(pending, status, &body);
            }
            return;
        }
        let message: ToTab = match from_js(message) {
            Ok(message) => message,
            Err(err) => {
                warn(&format!("unreadable message from the worker: {err}"));
                return;
            }
        };
        match message {
            ToTab::Snapshot {
                state,
                connection,
                clock_offset_ms,
            } => {
                let previous_me = self.state.my_id().map(str::to_owned);
                self.state = state;
                self.set_connection(connection);
                self.clock_offset_ms = clock_offset_ms;
                self.known_names_stale = true;
                self.ui.invalidate();
                if previous_me.as_deref() != self.state.my_id() {
                    // Logged in as someone else (or out): start the open chat afresh.
                    self.chat = None;
                }
                if self.chat.as_ref().is_some_and(|c| c.chat_id.is_some()) {
                    self.open_chat_call();
                }
            }
            ToTab::Connection {
                connection,
                clock_offset_ms,
            } => {
                self.set_connection(connection);
                self.clock_offset_ms = clock_offset_ms;
            }
            ToTab::Pending { items } => {
                self.pending_writes = items;
                self.ui.notes.invalidate();
            }
            ToTab::Conversation { conversation } => self.merge(conversation),
            ToTab::Pipelines { pipelines } => {
                self.state.pipelines = pipelines;
                self.ui.invalidate();
            }
            ToTab::Note { note } => self.on_note(note),
            ToTab::OpenChat { chat_id } => self.seek_chat(chat_id, 0),
            ToTab::Change { chat_id, change } => {
                if let Some(chat) = self
                    .chat
                    .as_mut()
                    .filter(|c| c.chat_id.as_ref() == Some(&chat_id))
                {
                    chat.add_change(change);
                }
            }
            ToTab::Reply { id, outcome } => {
                let waiting = self.pending.iter().position(|(known, _)| *known == id);
                if let Some((_, pending)) = waiting.map(|at| self.pending.swap_remove(at)) {
                    self.on_reply(pending, outcome);
                }
            }
            ToTab::WriteRefused { refused } => self
                .ui
                .toast(&format!("Not saved: {} — {}", refused.what, refused.reason)),
            ToTab::ReminderDue { .. } | ToTab::HandoffForMe { .. } => {}
        }
        self.schedule_refresh();
    }

    fn set_connection(&mut self, connection: Connection) {
        match connection {
            Connection::Offline { .. } => self.lost_server = true,
            Connection::Online | Connection::LoggedOut => self.lost_server = false,
            Connection::Connecting => {}
        }
        self.connection = connection;
    }

    /// Logged in but cut off from the server: locks are not enforced and nobody sees this agent,
    /// so the chat says so across its width and every badge is marked as last known.
    pub(super) fn out_of_touch(&self) -> bool {
        self.lost_server && self.logged_in()
    }

    fn merge(&mut self, conversation: ConversationState) {
        // A lead took over my reply in the open chat: say so, and that the draft is kept.
        let open_here = self
            .chat
            .as_ref()
            .is_some_and(|c| c.chat_id.as_ref() == Some(&conversation.chat_id));
        if let (true, Some(me)) = (open_here, self.state.my_id()) {
            let before = self
                .state
                .conversation(&conversation.chat_id)
                .and_then(|c| c.lock.as_ref());
            if let Some(words) = crate::views::reply_taken(before, conversation.lock.as_ref(), me) {
                self.ui.toast(&words);
            }
        }
        let names_changed = self
            .state
            .conversation(&conversation.chat_id)
            .is_none_or(|known| {
                known.title != conversation.title || known.alias != conversation.alias
            });
        self.state.merge_conversation(conversation);
        if names_changed {
            self.known_names_stale = true;
        }
    }

    /// Opens `chat_id` as the agent would: clicks its row in the chat list, scrolling the list a
    /// screen at a time until the row is rendered (WhatsApp renders only the rows in view); when
    /// a dozen screens or the end of the list do not show it (an archived chat, or one far down a
    /// long list), types its name in WhatsApp's search box and clicks it among the results. Never
    /// reloads the page. Gives up, saying so, when neither finds it.
    pub(super) fn seek_chat(&mut self, chat_id: ChatId, step: u32) {
        self.seek_step(chat_id, step, None, 0);
    }

    /// One step of [`Overlay::seek_chat`]. `scrolled_from`: the rendered rows' places when the
    /// last step scrolled; while they are still the same the list has not re-rendered yet, and
    /// the step waits (`waited` times at most) instead of scrolling past what it has not seen.
    fn seek_step(
        &mut self,
        chat_id: ChatId,
        step: u32,
        scrolled_from: Option<Vec<Option<u32>>>,
        waited: u32,
    ) {
        const MAX_STEPS: u32 = 12;
        const MAX_WAITS: u32 = 20;
        self.seek = None;
        if self.chat.as_ref().and_then(|c| c.chat_id.as_ref()) == Some(&chat_id) {
            return;
        }
        let Err(rows) = self.click_rendered_row(&chat_id) else {
            return;
        };
        let places: Vec<Option<u32>> = rows.iter().map(|r| r.position).collect();
        if scrolled_from.as_ref() == Some(&places) && waited < MAX_WAITS {
            self.seek = Some(Timeout::new(100, move || {
                with_overlay(|o| o.seek_step(chat_id, step, scrolled_from, waited + 1))
            }));
            return;
        }
        let Some(pane) = document().get_element_by_id("pane-side") else {
            return;
        };
        let at_end = pane.scroll_top() + pane.client_height() >= pane.scroll_height();
        if step >= MAX_STEPS || (step > 0 && at_end) {
            return self.search_step(chat_id, 0);
        }
        // From the top first, then most of a screen at a time.
        let next = if step == 0 {
            0
        } else {
            pane.scroll_top() + (pane.client_height() * 3 / 4).max(1)
        };
        let moved = next != pane.scroll_top();
        pane.set_scroll_top(next);
        let from = moved.then_some(places);
        self.seek = Some(Timeout::new(100, move || {
            with_overlay(|o| o.seek_step(chat_id, step + 1, from, 0))
        }));
    }

    /// Clicks the chat's row if WhatsApp renders it now; otherwise hands back the rows it does
    /// render. The rows are marked first, so each row's chip names its chat.
    fn click_rendered_row(&mut self, chat_id: &ChatId) -> Result<(), Vec<Row>> {
        self.refresh();
        let rows = whatsapp::read_page(false).rows;
        match rows
            .iter()
            .find(|row| row_chat(&row.element).as_ref() == Some(chat_id))
        {
            Some(row) => {
                whatsapp::click_row(&row.element);
                Ok(())
            }
            None => Err(rows),
        }
    }

    /// One step of finding a chat through WhatsApp's search box: the first types the chat's name,
    /// the next ones look for its row among the results (they render a moment later). The
    /// search is cleared afterwards, found or not, so the agent's list is as it was.
    fn search_step(&mut self, chat_id: ChatId, attempt: u32) {
        const MAX_ATTEMPTS: u32 = 30;
        self.seek = None;
        let title = self
            .state
            .conversation(&chat_id)
            .map(|c| c.title.clone())
            .filter(|t| !t.trim().is_empty());
        let not_found = |overlay: &mut Overlay| {
            let name = title.clone().unwrap_or_else(|| chat_id.to_string());
            overlay.ui.toast(&format!(
                "Baton could not find “{name}” in the chat list: search for it in WhatsApp."
            ));
        };
        if attempt == 0 && !title.as_deref().is_some_and(whatsapp::search_for) {
            return not_found(self);
        }
        if self.chat.as_ref().and_then(|c| c.chat_id.as_ref()) == Some(&chat_id) {
            whatsapp::search_for("");
            return;
        }
        if self.click_rendered_row(&chat_id).is_ok() {
            whatsapp::search_for("");
            return;
        }
        if attempt >= MAX_ATTEMPTS {
            whatsapp::search_for("");
            return not_found(self);
        }
        self.seek = Some(Timeout::new(100, move || {
            with_overlay(|o| o.search_step(chat_id, attempt + 1))
        }));
    }

    /// A click in the filter strip: choosing a filter redraws it; a chat in its list opens.
    pub(super) fn on_filter_click(&mut self, action: &str, value: Option<String>) {
        match self.filters.click(action, value) {
            Some(FilterIntent::Open(chat_id)) => self.seek_chat(chat_id, 0),
            // The loader loads the lead module on first use and hands it the tool.
            Some(FilterIntent::Tool(tool)) => {
                let init = web_sys::CustomEventInit::new();
                init.set_detail(&JsValue::from_str(&tool));
                if let Ok(event) =
                    web_sys::CustomEvent::new_with_event_init_dict("baton:open-tool", &init)
                {
                    let _ = super::ui::document().dispatch_event(&event);
                }
            }
            None => {}
        }
        self.schedule_refresh();
    }

    /// Reads the open chat's notes once it is registered, so the Notes button can say how many
    /// there are before the panel opens.
    fn load_notes_once(&mut self) {
        self.notes_follow_chat();
        let Some(chat_id) = self.ui.notes.to_load().cloned() else {
            return;
        };
        let _ = self.request_quietly(
            Call::Notes {
                chat_id: chat_id.clone(),
            },
            Pending::Notes { chat_id },
        );
    }

    fn on_note(&mut self, note: Note) {
        self.notes_follow_chat();
        self.ui.notes.add(note);
    }

    /// Tells the notes panel which chat (and which visit of it) is open.
    pub(in crate::dom) fn notes_follow_chat(&mut self) {
        let visit = self.chat.as_ref().map(|c| (c.serial, c.chat_id.as_ref()));
        match visit {
            Some((serial, chat_id)) => self.ui.notes.show_chat(serial, chat_id),
            None => self.ui.notes.show_chat(0, None),
        }
    }

    /// Registers the open chat as WhatsApp shows it (its title, and its alias when known), under
    /// the id WhatsApp uses; the server answers with the conversation, filed under its own id.
    pub(super) fn open_chat_call(&mut self) {
        let Some(chat) = self.chat.as_ref() else {
            return;
        };
        let (Some(chat_id), false) = (
            chat.whatsapp_id.clone().or_else(|| chat.chat_id.clone()),
            chat.title.is_empty(),
        ) else {
            return;
        };
        if !self.logged_in() {
            return;
        }
        let call = Call::OpenChat {
            chat_id: chat_id.clone(),
            seen: protocol::api::UpsertConversation {
                title: chat.title.clone(),
                phone: None,
                alias: chat.alias.clone(),
            },
        };
        // A chat the team already has can be locked at once; a new one waits to be created.
        let known = self
            .chat
            .as_ref()
            .and_then(|c| c.chat_id.as_ref())
            .is_some_and(|id| self.state.conversation(id).is_some());
        if self.request(call, Pending::OpenChat { chat_id }) && !known {
            if let Some(chat) = self.chat.as_mut() {
                chat.registering = true;
            }
        }
    }

    /// The chat's registration answered (either way): a lock that waited for it is asked for.
    fn registered(&mut self, chat_id: &ChatId) {
        let Some(chat) = self
            .chat
            .as_mut()
            .filter(|c| c.whatsapp_id.as_ref() == Some(chat_id))
        else {
            return;
        };
        chat.registering = false;
        self.lock_if_typed();
    }

    /// A relayed request's answer (status 0: it was not sent).
    fn on_relayed(&mut self, pending: Pending, status: u16, body: &str) {
        if !(200..300).contains(&status) {
            warn(&format!(
                "a request Baton relayed failed ({status}): {body}"
            ));
        } else if let Pending::History = pending {
            self.stats.history_reports += 1;
        }
    }

    fn on_reply(&mut self, pending: Pending, outcome: Outcome) {
        match (pending, outcome) {
            (Pending::OpenChat { chat_id }, Outcome::Done(Answer::Conversation(conversation))) => {
                // The server may file the chat under its alias (the id it knew first).
                if let Some(chat) = self
                    .chat
                    .as_mut()
                    .filter(|c| c.whatsapp_id.as_ref() == Some(&chat_id))
                {
                    chat.chat_id = Some(conversation.chat_id.clone());
                }
                self.merge(ConversationState::from(&conversation));
                self.registered(&chat_id);
                self.load_notes_once();
            }
            (Pending::OpenChat { chat_id }, outcome) => {
                if let Outcome::Refused(refusal) = &outcome {
                    // Without it nobody sees this chat's owner or lock: say so, not just log.
                    self.ui.toast(&format!(
                        "Baton could not register this chat: {}",
                        refusal.message
                    ));
                }
                self.registered(&chat_id);
            }
            (
                Pending::Lock {
                    chat_id,
                    then_release,
                },
                outcome,
            ) => self.on_lock_reply(chat_id, then_release, outcome),
            (Pending::Notes { chat_id }, Outcome::Done(Answer::Notes(page))) => {
                self.notes_follow_chat();
                self.ui.notes.loaded(&chat_id, page);
            }
            (Pending::Timeline { chat_id }, Outcome::Done(Answer::Timeline(lines))) => {
                self.notes_follow_chat();
                self.ui.notes.timeline_read(&chat_id, lines);
            }
            (Pending::Form { chat_id, form }, outcome) => {
                self.on_form_reply(chat_id, form, outcome)
            }
            (Pending::TakeNext, Outcome::Done(Answer::Conversation(conversation))) => {
                self.ui.toast(&format!(
                    "From the queue: {} is yours now",
                    conversation.title
                ));
                let chat_id = conversation.chat_id.clone();
                self.merge(ConversationState::from(&conversation));
                self.seek_chat(chat_id, 0);
            }
            (Pending::TakeNext, Outcome::Refused(refusal)) => self.ui.toast(&refusal.message),
            (Pending::TakeNext, Outcome::NotSent { message }) => self.ui.toast(&message),
            (_, Outcome::Refused(refusal)) => {
                warn(&format!("the server refused: {}", refusal.message));
            }
            _ => {}
        }
    }

    fn on_form_reply(&mut self, chat_id: ChatId, form: &'static str, outcome: Outcome) {
        if let Some(words) = self.ui.requests.told(form, &outcome) {
            // Known at once (the event follows): the banner says "Asked", the card loses the row.
            if let Outcome::Done(Answer::ChatRequest(request)) = &outcome {
                if let Some(mut conversation) = self.state.conversation(&request.chat_id).cloned() {
                    conversation.requests.retain(|r| r.id != request.id);
                    if request.status == protocol::api::ChatRequestStatus::Pending {
                        conversation.requests.push(request.clone());
                    }
                    self.state
                        .conversations
                        .insert(request.chat_id.clone(), conversation);
                }
            }
            self.ui.toast(&words);
            return;
        }
        // A reminder set is confirmed with its time, as the org tells time, and can be undone.
        if let Outcome::Done(Answer::Reminder(reminder)) = &outcome {
            if form == "remind" {
                let when = ui::times(self.state.org.as_ref()).absolute(reminder.due_at);
                let words = if Some(reminder.for_agent.id.as_str()) == self.state.my_id() {
                    format!("Reminder set for {when}")
                } else {
                    format!("Reminder for {} set for {when}", reminder.for_agent.name)
                };
                self.ui
                    .toast_with(&words, Some(("Undo", "reminder-undo", &reminder.id)));
            }
        }
        let error = match outcome {
            Outcome::Done(_) => None,
            Outcome::Queued => {
                self.ui
                    .toast("Offline: saved, and will be sent when Baton reconnects");
                None
            }
            Outcome::Refused(refusal) => Some(refusal.message),
            Outcome::NotSent { message } => Some(message),
        };
        let same_chat = self.chat.as_ref().and_then(|c| c.chat_id.as_ref()) == Some(&chat_id);
        // The stage picker has no form to show an error in: a refused move says why, and the
        // picker goes back to the stage the chat has.
        if form == "stage" {
            if let Some(message) = error {
                self.ui
                    .toast(&format!("The stage was not changed: {message}"));
            }
            return;
        }
        if form == "give-back" {
            self.ui.toast(&match error {
                None => "Given back to the team: nobody owns this chat now".to_owned(),
                Some(message) => format!("The chat is still yours: {message}"),
            });
            return;
        }
        match error {
            None => {
                if same_chat {
                    self.ui.form_done(form);
                    if let Some(chat) = self.chat.as_mut() {
                        chat.form_succeeded(form);
                    }
                }
            }
            Some(message) => {
                // "done is required: …" goes beside the Done field, not under the buttons.
                let field = crate::views::refused_field(
                    &message,
                    &["done", "promised", "next_step", "reason", "to_agent_id"],
                )
                .map(|f| if f == "to_agent_id" { "to" } else { f });
                match (same_chat, field) {
                    (true, Some(field)) => self.ui.field_error(form, field, &message),
                    (true, None) => self.ui.form_error(form, &message),
                    (false, _) => self.ui.toast(&message),
                }
            }
        }
    }

    /// Reads a refusal's details (who holds the lock, who owns the chat) into the state, so the
    /// composer blocks at once instead of waiting for the next event.
    pub(super) fn learn_from_refusal(&mut self, chat_id: &ChatId, refusal: &Refusal) {
        let Some(mut conversation) = self.state.conversation(chat_id).cloned() else {
            return;
        };
        if let (Some(holder), Some(expires_in)) = (&refusal.holder, refusal.expires_in_ms) {
            conversation.lock = Some(crate::state::LockState {
                holder: holder.clone(),
                fence: conversation.lock.as_ref().map_or(0, |l| l.fence),
                expires_at: self.now() + expires_in,
            });
        }
        if let Some(owner) = &refusal.owner {
            conversation.owner = Some(owner.clone());
        }
        self.state
            .conversations
            .insert(chat_id.clone(), conversation);
    }

    pub(super) fn schedule_refresh(&mut self) {
        if self.debounce.is_none() {
            self.debounce = Some(Timeout::new(DEBOUNCE_MS, || {
                with_overlay(|o| {
                    o.debounce = None;
                    o.refresh();
                })
            }));
        }
    }

    /// Acts on the page after the current callback has returned, with the overlay free, so
    /// the events it causes reach our own listeners like the agent's would.
    pub(super) fn defer_dom(&mut self, action: impl FnOnce() + 'static) {
        // Zero-delay timers fire almost at once; keep only the recent handles.
        if self.deferred.len() >= 16 {
            drop(self.deferred.remove(0));
        }
        self.deferred.push(Timeout::new(0, action));
    }

    fn tick(&mut self) {
        self.ensure_observer();
        self.chat_tick();
        self.maybe_read_indexed_db();
        self.refresh();
    }

    /// Watches `#app` (re-attaching if WhatsApp replaced it) with one observer.
    fn ensure_observer(&mut self) {
        let app = document().get_element_by_id("app");
        if app.is_some() && app == self.observed {
            return;
        }
        self.observer = None;
        self.observed = None;
        let Some(app) = app else {
            return;
        };
        let callback = Closure::<dyn FnMut(js_sys::Array, MutationObserver)>::new(
            |_records: js_sys::Array, _observer: MutationObserver| {
                with_overlay(Overlay::schedule_refresh)
            },
        );
        let Ok(observer) = MutationObserver::new(callback.as_ref().unchecked_ref()) else {
            return;
        };
        let options = MutationObserverInit::new();
        options.set_child_list(true);
        options.set_subtree(true);
        options.set_character_data(true);
        options.set_attributes(true);
        let filter = js_sys::Array::of4(
            &"title".into(),
            &"style".into(),
            &"aria-selected".into(),
            &"data-id".into(),
        );
        options.set_attribute_filter(&filter);
        if observer.observe_with_options(&app, &options).is_ok() {
            self.observer = Some(Observer {
                observer,
                _callback: callback,
            });
            self.observed = Some(app);
        }
    }

    /// Reads the page and brings everything the overlay shows up to date.
    pub(super) fn refresh(&mut self) {
        let started = web_sys::window()
            .and_then(|w| w.performance())
            .map(|p| p.now());
        self.ensure_observer();
        let patience_over = now_ms() - self.started_at > LAYOUT_PATIENCE_MS;
        let page = whatsapp::read_page(patience_over);
        self.layout = page.layout.clone();
        self.identity.tally = crate::identity::Tally::default();
        self.render_rows(&page.rows);
        self.sync_chat(page.open_chat);
        let open = self.chat.as_ref().and_then(|c| c.chat_id.clone());
        let times = ui::times(self.state.org.as_ref());
        self.filters.render(&self.state, open.as_ref(), &times);
        self.update_health();
        self.report_status();
        self.render_chat();
        if let (Some(started), Some(perf)) =
            (started, web_sys::window().and_then(|w| w.performance()))
        {
            let took = perf.now() - started;
            self.stats.refreshes += 1;
            self.stats.refresh_ms_total += took;
            self.stats.refresh_ms_max = self.stats.refresh_ms_max.max(took);
        }
    }

    /// Rebuilds the team's known titles if the state changed since.
    pub(super) fn ensure_known_names(&mut self) {
        if self.known_names_stale {
            self.known_names = self.state.name_index();
            self.known_names_stale = false;
        }
    }

    /// Owner badge, lock dot and reminder marker on every rendered chat-list row. Recomputed from
    /// the row's current title and place each time, since rows are recycled for other chats.
    fn render_rows(&mut self, rows: &[Row]) {
        let logged_in = self.logged_in();
        if !logged_in {
            for row in rows {
                if let Ok(Some(marks)) = row.element.query_selector(ROW_MARKS) {
                    marks.remove();
                }
            }
            return;
        }
        let now = self.now();
        let me = self.state.my_id().map(str::to_owned);
        let stale = self.out_of_touch();
        self.ensure_known_names();
        let facts: Vec<RowFacts> = rows
            .iter()
            .map(|row| RowFacts {
                title: normalize_title(&row.title),
                position: row.position,
            })
            .collect();
        let verdicts = self
            .identity
            .sources(&self.known_names)
            .identify_rows(&facts);
        for (row, verdict) in rows.iter().zip(verdicts) {
            let verdict = match verdict {
                Verdict::Known { chat_id, source } => {
                    self.identity.tally.count(source);
                    Verdict::Known {
                        chat_id: self.state.own_id(&chat_id, &self.known_names),
                        source,
                    }
                }
                doubt => {
                    if !matches!(doubt, Verdict::Unsure(crate::identity::Doubt::Unknown)) {
                        self.identity.tally.rows_unsure += 1;
                    }
                    doubt
                }
            };
            self.identity.tally.rows += 1;
            let badge = owner_badge(&self.state, &verdict, now, row.unread);
            let marks = row_marks(&row.element);
            let element = child_with_role(&marks, "owner-badge", || ui::el("span", "owner-badge"));
            set_text(&element, &badge.label);
            set_attr(&element, "title", &badge.tooltip);
            set_attr(&element, "aria-label", &badge.tooltip);
            set_attr(&element, "data-kind", badge.kind);
            match badge.colour {
                Some(colour) => set_attr(&element, "data-colour", &colour.to_string()),
                None => remove_attr(&element, "data-colour"),
            }
            set_attr(
                &element,
                "data-chat",
                badge.chat_id.as_ref().map(ChatId::as_str).unwrap_or(""),
            );
            set_attr(
                &element,
                "data-source",
                badge.source.map_or("", |s| s.as_str()),
            );
            if stale {
                set_attr(&element, "data-stale", "");
                set_attr(
                    &element,
                    "title",
                    &format!("{} (last known: Baton is offline)", badge.tooltip),
                );
            } else {
                remove_attr(&element, "data-stale");
            }
            let dot = child_with_role(&marks, "lock-dot", || ui::el("span", "lock-dot"));
            show(&dot, badge.replying.is_some());
            if stale {
                set_attr(&dot, "data-stale", "");
            } else {
                remove_attr(&dot, "data-stale");
            }
            if let Some(name) = &badge.replying {
                let words = format!("{name} is replying");
                set_attr(&dot, "title", &words);
                set_attr(&dot, "aria-label", &words);
            }
            let due = badge
                .chat_id
                .as_ref()
                .and_then(|c| self.state.conversation(c))
                .map(|c| {
                    c.reminders
                        .iter()
                        .filter(|r| {
                            r.fired_at.is_some() && Some(r.for_agent.id.as_str()) == me.as_deref()
                        })
                        .count()
                })
                .unwrap_or(0);
            let marker =
                child_with_role(&marks, "reminder", || ui::text_el("span", "reminder", "⏰"));
            show(&marker, due > 0);
            set_attr(&marker, "title", "A reminder is due");
            self.stats.rows_rendered += 1;
        }
    }

    pub fn record_busy(&mut self, ms: f64) {
        self.stats.callbacks += 1;
        self.stats.busy_ms_total += ms;
        self.stats.busy_ms_max = self.stats.busy_ms_max.max(ms);
    }

    pub fn debug_state(&self) -> JsValue {
        #[derive(serde::Serialize)]
        struct Debug<'a> {
            mode: CoreMode,
            layout: &'a LayoutState,
            connection: &'a Connection,
            logged_in: bool,
            me: Option<&'a str>,
            chat_id: Option<&'a str>,
            held_fence: Option<i64>,
            pending_changes: usize,
            stats: &'a Stats,
            /// The open chat's id as WhatsApp knows it, and which source identified it.
            whatsapp_id: Option<&'a str>,
            chat_source: Option<&'static str>,
            /// Input is waiting for the reply lock (or for the chat to be identified).
            held_input: bool,
            identity: &'a crate::identity::IdentityHealth,
        }
        let chat = self.chat.as_ref();
        to_js(&Debug {
            mode: self.mode,
            layout: &self.layout,
            connection: &self.connection,
            logged_in: self.logged_in(),
            me: self.state.my_id(),
            chat_id: chat.and_then(|c| c.chat_id.as_ref()).map(ChatId::as_str),
            held_fence: chat.and_then(|c| c.held.as_ref()).map(|h| h.fence),
            pending_changes: chat.map_or(0, |c| c.changes.len()),
            stats: &self.stats,
            whatsapp_id: chat
                .and_then(|c| c.whatsapp_id.as_ref())
                .map(ChatId::as_str),
            chat_source: chat.and_then(|c| c.source).map(|s| s.as_str()),
            held_input: chat.is_some_and(|c| !c.held_input.is_empty() || c.releasing),
            identity: &self.identity.health,
        })
        .unwrap_or(JsValue::NULL)
    }

    /// Removes everything the overlay added and stops watching.
    pub fn remove_from_page(&mut self) {
        self.leave_chat();
        self.observer = None;
        self.listeners.clear();
        self.ticker = None;
        self.debounce = None;
        self.deferred.clear();
        self.ui.remove();
        self.filters.remove();
        if let Some(app) = document().get_element_by_id("app") {
            for element in ui::all(&app, "[data-baton]") {
                element.remove();
            }
        }
    }
}

/// The chat Baton identified a row as (its owner chip carries it), if any.
fn row_chat(row: &Element) -> Option<ChatId> {
    row.query_selector(ROW_MARKS)
        .ok()
        .flatten()
        .and_then(|host| host.shadow_root())
        .and_then(|root| {
            root.query_selector("[data-baton=\"owner-badge\"]")
                .ok()
                .flatten()
        })
        .and_then(|badge| badge.get_attribute("data-chat"))
        .and_then(|id| ChatId::parse(&id).ok())
}

/// The host of a row's marks, as a direct child of the row.
const ROW_MARKS: &str = ":scope > [data-baton=\"row-marks\"]";

/// The element inside a row's shadow root that holds Baton's marks on it (made on first use): the
/// row's own styles cannot reach them, and the row's text stays WhatsApp's alone.
fn row_marks(row: &Element) -> Element {
    let existing = row
        .query_selector(ROW_MARKS)
        .ok()
        .flatten()
        .and_then(|host| host.shadow_root())
        .and_then(|root| root.first_element_child());
    if let Some(marks) = existing {
        return marks;
    }
    let (host, root) = ui::shadow_host(
        "span",
        "row-marks",
        "display: block; position: absolute; inset: 0; pointer-events: none; z-index: 2;",
        ui::Sheet::Rows,
    );
    let marks = ui::el("span", "marks");
    let _ = root.append_child(&marks);
    let _ = row.append_child(&host);
    marks.into()
}

/// A mutation observer with its callback; dropping it disconnects before the callback goes.
struct Observer {
    observer: MutationObserver,
    _callback: Closure<dyn FnMut(js_sys::Array, MutationObserver)>,
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.observer.disconnect();
    }
}
