//! The service worker's sync client: the only part of the extension that talks to the server.
//!
//! It logs in, loads a snapshot of the org's state, holds the event WebSocket (with a keepalive
//! that also keeps the MV3 service worker alive), applies events to its [`TeamState`] and relays
//! them to every WhatsApp Web tab over `chrome.runtime` ports. Tabs ask it to make calls; writes
//! made while offline wait in a persisted queue and are sent with idempotency keys once connected.
//! JavaScript (`extension/background.js`) only wires `chrome.*` events to the methods here and
//! provides the [`Host`] functions.

mod api;
mod decode;
mod socket;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use protocol::api::{
    Agent, ConversationSummary, EventTicket, LoginRequest, LoginResponse, Me, Org, Page, Pipeline,
};
use protocol::events::EventBody;
use protocol::ws::{ClientMessage, ServerMessage};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use crate::error::CoreError;
use crate::js::{from_js, from_json, log, now_ms, to_js, to_json, warn};
pub use crate::messages::normalise_server;
use crate::messages::{
    refusal, Call, Connection, CoreMode, LayoutState, Outcome, PendingWrite, PopupRequest,
    PopupState, Refusal, RefusedWrite, TabStatus, ToTab, ToWorker,
};
use crate::state::{ConversationState, TeamState};
use api::{path_chat, Api, Reply};
use socket::{Socket, SocketEvent};

#[wasm_bindgen]
extern "C" {
    /// Browser glue the worker calls back into (see `extension/background.js`).
    #[derive(Debug, Clone)]
    pub type Host;

    #[wasm_bindgen(method, js_name = postToPort)]
    fn post_to_port(this: &Host, port: u32, message: &JsValue);
    #[wasm_bindgen(method, js_name = storageGet)]
    fn storage_get(this: &Host, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = storageSet)]
    fn storage_set(this: &Host, key: &str, value: &JsValue) -> js_sys::Promise;
    #[wasm_bindgen(method, js_name = storageRemove)]
    fn storage_remove(this: &Host, key: &str) -> js_sys::Promise;
    #[wasm_bindgen(method)]
    fn notify(this: &Host, id: &str, title: &str, message: &str);
    #[wasm_bindgen(method, js_name = setBadge)]
    fn set_badge(this: &Host, tab_id: i32, text: &str, color: &str);
    #[wasm_bindgen(method, js_name = randomId)]
    fn random_id(this: &Host) -> String;
}

/// Keepalive period: Chrome keeps a service worker with a WebSocket alive while messages flow
/// at least every 30 s.
const KEEPALIVE_MS: u32 = 20_000;
const MAX_RETRY_MS: u64 = 30_000;
/// Conversations loaded into the snapshot (most recently active first).
const SNAPSHOT_LIMIT: usize = 2_000;

/// The login, as persisted in `chrome.storage.local`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    server: String,
    token: String,
    agent: Option<Agent>,
    org: Option<Org>,
}

#[derive(Debug, Default)]
struct PortInfo {
    tab_id: Option<i32>,
    status: Option<TabStatus>,
}

struct Inner {
    session: Option<Session>,
    state: TeamState,
    clock_offset_ms: i64,
    connection: Connection,
    socket: Option<Socket>,
    /// Bumped on every (re)connect; callbacks of older attempts compare and bow out.
    generation: u32,
    keepalive: Option<Interval>,
    retry: Option<Timeout>,
    attempts: u32,
    ports: BTreeMap<u32, PortInfo>,
    tab_status: BTreeMap<i32, TabStatus>,
    queue: Vec<PendingWrite>,
    flushing: bool,
    /// Consecutive flushes the server put off, and the timer of the next try.
    flush_attempts: u32,
    flush_retry: Option<Timeout>,
    /// Queued writes the server refused for good, until the agent dismisses them.
    refused: Vec<RefusedWrite>,
    notified: BTreeSet<String>,
    popup_error: Option<String>,
    /// The last event sequence number received, persisted so a restarted worker resumes from it.
    last_seq: i64,
}

/// The worker, created once by `background.js`.
#[wasm_bindgen]
pub struct Worker {
    core: Rc<Core>,
}

struct Core {
    host: Host,
    inner: RefCell<Inner>,
}

#[wasm_bindgen]
impl Worker {
    #[wasm_bindgen(constructor)]
    pub fn new(host: Host) -> Worker {
        Worker {
            core: Rc::new(Core {
                host,
                inner: RefCell::new(Inner {
                    session: None,
                    state: TeamState::default(),
                    clock_offset_ms: 0,
                    connection: Connection::LoggedOut,
                    socket: None,
                    generation: 0,
                    keepalive: None,
                    retry: None,
                    attempts: 0,
                    ports: BTreeMap::new(),
                    tab_status: BTreeMap::new(),
                    queue: Vec::new(),
                    flushing: false,
                    flush_attempts: 0,
                    flush_retry: None,
                    refused: Vec::new(),
                    notified: BTreeSet::new(),
                    popup_error: None,
                    last_seq: 0,
                }),
            }),
        }
    }

    /// Restores the login and the offline queue, and connects if logged in.
    pub async fn start(&self) -> Result<(), JsValue> {
        let core = &self.core;
        let session: Option<Session> = core.load("session").await;
        let queue: Option<Vec<PendingWrite>> = core.load("queue").await;
        let notified: Option<Vec<String>> = core.load("notified").await;
        let refused: Option<Vec<RefusedWrite>> = core.load("refused").await;
        let last_seq: Option<i64> = core.load("seq").await;
        {
            let mut inner = core.inner.borrow_mut();
            inner.last_seq = last_seq.unwrap_or(0);
            inner.queue = queue.unwrap_or_default();
            inner.notified = notified.unwrap_or_default().into_iter().collect();
            inner.refused = refused.unwrap_or_default();
            inner.session = session;
        }
        if core.inner.borrow().session.is_some() {
            Core::connect(core.clone());
        }
        Ok(())
    }

    /// A tab connected: send it everything it needs to render.
    pub fn port_opened(&self, port: u32, tab_id: Option<i32>) {
        self.core.inner.borrow_mut().ports.insert(
            port,
            PortInfo {
                tab_id,
                status: None,
            },
        );
        self.core.send_snapshot(Some(port));
    }

    pub fn port_closed(&self, port: u32) {
        let mut inner = self.core.inner.borrow_mut();
        if let Some(info) = inner.ports.remove(&port) {
            if let Some(tab) = info.tab_id {
                inner.tab_status.remove(&tab);
            }
        }
    }

    /// A message from a tab.
    pub fn port_message(&self, port: u32, message: JsValue) {
        match from_js::<ToWorker>(message) {
            Ok(ToWorker::Status(status)) => self.core.tab_reported(port, status),
            Ok(ToWorker::Request { id, call }) => {
                let core = self.core.clone();
                spawn_local(async move {
                    let outcome = Core::perform(&core, call, None).await;
                    core.post(port, &ToTab::Reply { id, outcome });
                });
            }
            Err(err) => warn(&format!("ignoring a malformed message from a tab: {err}")),
        }
    }

    /// A loader that could not start the core in a tab reports here (the tab has no core to
    /// report with).
    pub fn tab_failed(&self, tab_id: i32, error: String) {
        self.core.tab_status_changed(
            tab_id,
            TabStatus {
                mode: CoreMode::Failed,
                layout: LayoutState::Waiting,
                error: Some(error),
                identity: None,
            },
        );
    }

    /// A message from the popup; resolves to the popup's new state.
    pub fn popup(&self, message: JsValue) -> js_sys::Promise {
        let core = self.core.clone();
        future_to_promise(async move {
            let request: PopupRequest = from_js(message)?;
            let tab = match &request {
                PopupRequest::State { tab_id } => *tab_id,
                _ => None,
            };
            match request {
                PopupRequest::State { .. } => {}
                PopupRequest::Login {
                    server,
                    email,
                    password,
                } => Core::login(&core, &server, &email, &password).await,
                PopupRequest::Logout => Core::logout(&core, None).await,
                PopupRequest::DismissRefused => {
                    core.inner.borrow_mut().refused.clear();
                    core.save("refused", &Vec::<RefusedWrite>::new());
                }
            }
            Ok(to_js(&core.popup_state(tab))?)
        })
    }
}

impl Core {
    async fn load<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let value = JsFuture::from(self.host.storage_get(key)).await.ok()?;
        if value.is_undefined() || value.is_null() {
            return None;
        }
        from_js(value).ok()
    }

    fn save<T: Serialize>(&self, key: &str, value: &T) {
        match to_js(value) {
            Ok(value) => {
                let promise = self.host.storage_set(key, &value);
                spawn_local(async move {
                    if let Err(err) = JsFuture::from(promise).await {
                        warn(&format!("cannot save: {}", CoreError::from(err)));
                    }
                });
            }
            Err(err) => warn(&format!("cannot encode for storage: {err}")),
        }
    }

    fn post(&self, port: u32, message: &ToTab) {
        match to_js(message) {
            Ok(value) => self.host.post_to_port(port, &value),
            Err(err) => warn(&format!("cannot encode a message for a tab: {err}")),
        }
    }

    fn broadcast(&self, message: &ToTab) {
        let ports: Vec<u32> = self.inner.borrow().ports.keys().copied().collect();
        if ports.is_empty() {
            return;
        }
        match to_js(message) {
            Ok(value) => {
                for port in ports {
                    self.host.post_to_port(port, &value);
                }
            }
            Err(err) => warn(&format!("cannot encode a message for tabs: {err}")),
        }
    }

    fn send_snapshot(&self, port: Option<u32>) {
        let message = {
            let inner = self.inner.borrow();
            ToTab::Snapshot {
                state: inner.state.clone(),
                connection: inner.connection.clone(),
                clock_offset_ms: inner.clock_offset_ms,
            }
        };
        let pending = self.pending_message();
        match port {
            Some(port) => {
                self.post(port, &message);
                self.post(port, &pending);
            }
            None => {
                self.broadcast(&message);
                self.broadcast(&pending);
            }
        }
    }

    /// The queued writes agents see as pending; message reports are background work.
    fn pending_message(&self) -> ToTab {
        let inner = self.inner.borrow();
        ToTab::Pending {
            items: inner
                .queue
                .iter()
                .filter_map(|q| crate::views::pending_item(&inner.state, q))
                .collect(),
        }
    }

    fn set_connection(&self, connection: Connection) {
        let clock_offset_ms = {
            let mut inner = self.inner.borrow_mut();
            inner.connection = connection.clone();
            inner.clock_offset_ms
        };
        self.broadcast(&ToTab::Connection {
            connection,
            clock_offset_ms,
        });
    }

    fn tab_reported(&self, port: u32, status: TabStatus) {
        let tab_id = {
            let mut inner = self.inner.borrow_mut();
            let Some(info) = inner.ports.get_mut(&port) else {
                return;
            };
            info.status = Some(status.clone());
            info.tab_id
        };
        if let Some(tab_id) = tab_id {
            self.tab_status_changed(tab_id, status);
        }
    }

    /// Records a tab's status and shows trouble on the toolbar icon of that tab.
    fn tab_status_changed(&self, tab_id: i32, status: TabStatus) {
        let trouble = status.mode == CoreMode::Failed
            || matches!(status.layout, LayoutState::Unrecognised { .. });
        self.host.set_badge(
            tab_id,
            if trouble { "!" } else { "" },
            if trouble { "#d93025" } else { "#00a884" },
        );
        self.inner.borrow_mut().tab_status.insert(tab_id, status);
    }

    fn popup_state(&self, tab: Option<i32>) -> PopupState {
        let inner = self.inner.borrow();
        PopupState {
            server: inner.session.as_ref().map(|s| s.server.clone()),
            agent: inner.session.as_ref().and_then(|s| s.agent.clone()),
            org: inner.session.as_ref().and_then(|s| s.org.clone()),
            connection: inner.connection.clone(),
            tab: tab.and_then(|t| inner.tab_status.get(&t).cloned()),
            tabs: inner.tab_status.values().cloned().collect(),
            error: inner.popup_error.clone(),
            queued_writes: inner.queue.len(),
            refused_writes: inner.refused.clone(),
        }
    }

    fn api(&self) -> Option<Api> {
        self.inner.borrow().session.as_ref().map(|s| Api {
            server: s.server.clone(),
            token: Some(s.token.clone()),
        })
    }

    async fn login(core: &Rc<Core>, server: &str, email: &str, password: &str) {
        core.inner.borrow_mut().popup_error = None;
        let result = async {
            let server = normalise_server(server)?;
            let api = Api {
                server: server.clone(),
                token: None,
            };
            let body = to_json(&LoginRequest {
                email: email.trim().to_owned(),
                password: password.to_owned(),
            })
            .map_err(|e| e.to_string())?;
            let reply = api
                .call("POST", "/auth/login", Some(body), None)
                .await
                .map_err(|e| format!("{e}. Is the Baton server running?"))?;
            if reply.status == 401 {
                return Err("Wrong email or password.".to_owned());
            }
            if !reply.ok() {
                return Err(format!("Login failed: {}", reply.error().1));
            }
            let login: LoginResponse = from_json(&reply.body)
                .map_err(|e| format!("{server} does not look like a Baton server ({e})"))?;
            Ok(Session {
                server,
                token: login.token,
                agent: None,
                org: None,
            })
        }
        .await;
        match result {
            Ok(session) => {
                Core::disconnect(core);
                {
                    let mut inner = core.inner.borrow_mut();
                    inner.popup_error = None;
                    inner.session = Some(session.clone());
                    inner.state = TeamState::default();
                    inner.queue.clear();
                    inner.last_seq = 0;
                }
                core.save("session", &session);
                core.save("seq", &0);
                core.save("queue", &Vec::<PendingWrite>::new());
                Core::connect(core.clone());
                // The popup shows the agent as soon as the snapshot has loaded.
                Core::wait_for_snapshot(core).await;
            }
            Err(error) => core.inner.borrow_mut().popup_error = Some(error),
        }
    }

    async fn wait_for_snapshot(core: &Rc<Core>) {
        for _ in 0..50 {
            if core.inner.borrow().state.me.is_some()
                || matches!(
                    core.inner.borrow().connection,
                    Connection::Offline { .. } | Connection::LoggedOut
                )
            {
                return;
            }
            gloo_timers::future::TimeoutFuture::new(100).await;
        }
    }

    async fn logout(core: &Rc<Core>, reason: Option<String>) {
        if let (Some(api), None) = (core.api(), &reason) {
            // Best effort: the token dies on the server too.
            let _ = api.call("POST", "/auth/logout", None, None).await;
        }
        Core::disconnect(core);
        {
            let mut inner = core.inner.borrow_mut();
            inner.session = None;
            inner.state = TeamState::default();
            inner.queue.clear();
            inner.popup_error = reason;
            inner.last_seq = 0;
        }
        core.save("seq", &0);
        let _ = JsFuture::from(core.host.storage_remove("session")).await;
        core.save("queue", &Vec::<PendingWrite>::new());
        core.set_connection(Connection::LoggedOut);
        core.send_snapshot(None);
    }

    fn disconnect(core: &Rc<Core>) {
        let mut inner = core.inner.borrow_mut();
        inner.generation += 1;
        inner.socket = None;
        inner.keepalive = None;
        inner.retry = None;
    }

    /// (Re)connects: loads a fresh snapshot, then opens the event stream after it.
    fn connect(core: Rc<Core>) {
        let generation = {
            let mut inner = core.inner.borrow_mut();
            inner.generation += 1;
            inner.socket = None;
            inner.keepalive = None;
            inner.retry = None;
            inner.generation
        };
        core.set_connection(Connection::Connecting);
        spawn_local(async move {
            if let Err(error) = Core::load_and_listen(&core, generation).await {
                if core.inner.borrow().generation == generation {
                    Core::connection_lost(&core, generation, error);
                }
            }
        });
    }

    async fn load_and_listen(core: &Rc<Core>, generation: u32) -> Result<(), String> {
        let api = core.api().ok_or("not logged in")?;
        let me_reply = api
            .call("GET", "/me", None, None)
            .await
            .map_err(|e| e.to_string())?;
        if me_reply.status == 401 {
            Core::logout(
                core,
                Some("Your session has ended; log in again.".to_owned()),
            )
            .await;
            return Ok(());
        }
        let me: Me = parse_ok(&me_reply)?;
        let offset = me.server_time - now_ms();
        let agents = load_agents(&api).await?;
        let mut pipelines: Vec<Pipeline> = every_page(&api, "/pipelines", usize::MAX).await?;
        pipelines.sort_by(|a, b| a.name.cmp(&b.name));
        let conversations: Vec<ConversationSummary> =
            every_page(&api, "/conversations?limit=500", SNAPSHOT_LIMIT).await?;
        let ticket: EventTicket = parse_ok(
            &api.call("POST", "/events/ticket", None, None)
                .await
                .map_err(|e| e.to_string())?,
        )?;
        if core.inner.borrow().generation != generation {
            return Ok(());
        }
        // Resume after the last event we received (its effects on state are in the snapshot, but
        // notifications and send-guard changes are not); a first start begins at the snapshot.
        let last_seq = core.inner.borrow().last_seq;
        let since = if last_seq > 0 && last_seq <= me.latest_seq {
            last_seq
        } else {
            me.latest_seq
        };
        {
            let mut inner = core.inner.borrow_mut();
            let mut state = TeamState::from_snapshot(&me, agents, pipelines, &conversations);
            // Keep full reads (handoffs, reminders) of conversations tabs opened meanwhile.
            for (chat_id, known) in &inner.state.conversations {
                if known.last_event_seq
                    >= state.conversation(chat_id).map_or(0, |c| c.last_event_seq)
                {
                    state.conversations.insert(chat_id.clone(), known.clone());
                }
            }
            inner.state = state;
            inner.clock_offset_ms = offset;
            if let Some(session) = inner.session.as_mut() {
                session.agent = Some(me.agent.clone());
                session.org = Some(me.org.clone());
            }
        }
        if let Some(session) = core.inner.borrow().session.clone() {
            core.save("session", &session);
        }
        core.send_snapshot(None);
        let weak = Rc::downgrade(core);
        let socket = Socket::open(&api.events_url(&ticket.ticket, since), move |event| {
            if let Some(core) = weak.upgrade() {
                Core::on_socket(&core, generation, event);
            }
        })
        .map_err(|e| e.to_string())?;
        let weak = Rc::downgrade(core);
        let keepalive = Interval::new(KEEPALIVE_MS, move || {
            if let Some(core) = weak.upgrade() {
                let inner = core.inner.borrow();
                if let (Some(socket), Ok(ping)) = (&inner.socket, to_json(&ClientMessage::Ping)) {
                    let _ = socket.send(&ping);
                }
            }
        });
        let mut inner = core.inner.borrow_mut();
        inner.socket = Some(socket);
        inner.keepalive = Some(keepalive);
        Ok(())
    }

    fn on_socket(core: &Rc<Core>, generation: u32, event: SocketEvent) {
        if core.inner.borrow().generation != generation {
            return;
        }
        match event {
            SocketEvent::Text(text) => match decode::server_message(&text) {
                Ok(message) => Core::on_server_message(core, message),
                Err(err) => warn(&format!("unreadable message from the server: {err}")),
            },
            SocketEvent::Closed { code, reason } => {
                if code == 4001 {
                    let core = core.clone();
                    spawn_local(async move {
                        Core::logout(
                            &core,
                            Some("Your session was ended by an admin; log in again.".to_owned()),
                        )
                        .await;
                    });
                } else {
                    let why = if reason.is_empty() {
                        format!("connection to the server lost (code {code})")
                    } else {
                        format!("connection to the server lost: {reason}")
                    };
                    Core::connection_lost(core, generation, why);
                }
            }
        }
    }

    fn on_server_message(core: &Rc<Core>, message: ServerMessage) {
        match message {
            ServerMessage::Ready { server_time, .. } => {
                {
                    let mut inner = core.inner.borrow_mut();
                    inner.attempts = 0;
                    inner.clock_offset_ms = server_time - now_ms();
                }
                core.set_connection(Connection::Online);
                log("connected to the Baton server");
                Core::flush_queue(core.clone());
                Core::load_my_reminders(core.clone());
            }
            ServerMessage::Resync { .. } => {
                // Too far behind to replay: load everything again.
                Core::connect(core.clone());
            }
            ServerMessage::Pong { server_time } => {
                core.inner.borrow_mut().clock_offset_ms = server_time - now_ms();
            }
            ServerMessage::Event(event) => {
                let applied = {
                    let mut inner = core.inner.borrow_mut();
                    inner.last_seq = inner.last_seq.max(event.seq);
                    inner.state.apply(&event)
                };
                core.save("seq", &event.seq);
                if applied {
                    core.relay(&event);
                    core.announce(&event);
                    if matches!(
                        event.body,
                        EventBody::AgentDeactivated(_) | EventBody::AgentReactivated(_)
                    ) {
                        Core::reload_agents(core.clone());
                    }
                }
            }
        }
    }

    /// The team changed (someone was deactivated or is back): reload who can be handed chats or
    /// mentioned, and give the tabs the new state.
    fn reload_agents(core: Rc<Core>) {
        spawn_local(async move {
            let Some(api) = core.api() else {
                return;
            };
            match load_agents(&api).await {
                Ok(agents) => {
                    core.inner.borrow_mut().state.agents = agents;
                    core.send_snapshot(None);
                }
                Err(err) => warn(&format!("cannot reload the team: {err}")),
            }
        });
    }

    /// Loads my open reminders (the snapshot has none) so due ones show on their chats, and
    /// announces any that fell due while this worker was not listening.
    fn load_my_reminders(core: Rc<Core>) {
        spawn_local(async move {
            let Some(api) = core.api() else {
                return;
            };
            let reply = match api.call("GET", "/reminders", None, None).await {
                Ok(reply) => reply,
                Err(err) => return warn(&format!("cannot load reminders: {err}")),
            };
            let Ok(reminders) = parse_ok::<Vec<protocol::api::Reminder>>(&reply) else {
                return;
            };
            let mut changed = Vec::new();
            {
                let mut inner = core.inner.borrow_mut();
                for reminder in &reminders {
                    if let Some(conversation) = inner.state.conversations.get_mut(&reminder.chat_id)
                    {
                        conversation.reminders.retain(|r| r.id != reminder.id);
                        conversation.reminders.push(reminder.clone());
                        conversation
                            .reminders
                            .sort_by_key(|r| (r.due_at, r.id.clone()));
                        changed.push(conversation.clone());
                    }
                }
            }
            for conversation in changed {
                core.broadcast(&ToTab::Conversation { conversation });
            }
            for reminder in reminders.into_iter().filter(|r| r.fired_at.is_some()) {
                core.announce_reminder(&reminder);
            }
        });
    }

    /// Tells the tabs what an applied event changed, digested so they need not decode events.
    fn relay(&self, event: &protocol::events::Event) {
        let (conversation, pipelines, me) = {
            let inner = self.inner.borrow();
            (
                event
                    .chat_id
                    .as_ref()
                    .and_then(|c| inner.state.conversation(c).cloned()),
                inner.state.pipelines.clone(),
                inner.state.my_id().map(str::to_owned),
            )
        };
        match &event.body {
            EventBody::PipelineCreated(_) => self.broadcast(&ToTab::Pipelines { pipelines }),
            EventBody::NoteCreated(note) => self.broadcast(&ToTab::Note { note: note.clone() }),
            _ => {}
        }
        if let Some(conversation) = conversation {
            self.broadcast(&ToTab::Conversation { conversation });
        }
        if let (Some(chat_id), Some(me)) = (&event.chat_id, me) {
            if let Some(change) = crate::views::guard_change(event, &me) {
                self.broadcast(&ToTab::Change {
                    chat_id: chat_id.clone(),
                    change,
                });
            }
        }
    }

    /// Raises a Chrome notification for what needs the agent's attention even in another chat.
    fn announce(&self, event: &protocol::events::Event) {
        let me = self.inner.borrow().state.my_id().map(str::to_owned);
        let Some(me) = me else {
            return;
        };
        match &event.body {
            EventBody::ReminderDue(reminder) if reminder.for_agent.id == me => {
                self.announce_reminder(reminder)
            }
            EventBody::HandoffCreated(handoff) if handoff.to.id == me => {
                let key = format!("handoff:{}", handoff.id);
                if !self.first_time(&key) {
                    return;
                }
                let title = self.chat_title(&handoff.chat_id);
                self.host.notify(
                    &format!("baton-handoff-{}", handoff.id),
                    &format!("{} handed you {title}", handoff.by.name),
                    &format!("Next step: {}", handoff.next_step),
                );
                self.broadcast(&ToTab::HandoffForMe {
                    handoff: handoff.clone(),
                });
            }
            _ => {}
        }
    }

    /// A Chrome notification for a reminder of mine that fell due, once per firing.
    fn announce_reminder(&self, reminder: &protocol::api::Reminder) {
        let key = format!(
            "reminder:{}:{}",
            reminder.id,
            reminder.fired_at.unwrap_or(0)
        );
        if !self.first_time(&key) {
            return;
        }
        let title = self.chat_title(&reminder.chat_id);
        self.host.notify(
            &format!("baton-reminder-{}", reminder.id),
            &format!("Reminder: {title}"),
            &reminder.text,
        );
        self.broadcast(&ToTab::ReminderDue {
            reminder: reminder.clone(),
        });
    }

    fn chat_title(&self, chat_id: &protocol::ChatId) -> String {
        self.inner
            .borrow()
            .state
            .conversation(chat_id)
            .map(|c| c.title.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| chat_id.to_string())
    }

    /// Remembers (persistently) that something was announced; true the first time.
    fn first_time(&self, key: &str) -> bool {
        let fresh = self.inner.borrow_mut().notified.insert(key.to_owned());
        if fresh {
            let mut keys: Vec<String> = self.inner.borrow().notified.iter().cloned().collect();
            // Keep the record bounded; old announcements will not be replayed anyway.
            let excess = keys.len().saturating_sub(500);
            keys.drain(..excess);
            self.save("notified", &keys);
        }
        fresh
    }

    fn connection_lost(core: &Rc<Core>, generation: u32, error: String) {
        let delay = {
            let mut inner = core.inner.borrow_mut();
            if inner.generation != generation {
                return;
            }
            inner.socket = None;
            inner.keepalive = None;
            inner.attempts += 1;
            let exponential = 1_000u64.saturating_mul(1 << inner.attempts.min(5));
            exponential.min(MAX_RETRY_MS) + (js_sys::Math::random() * 500.0) as u64
        };
        warn(&format!("{error}; retrying in {delay} ms"));
        core.set_connection(Connection::Offline {
            error,
            retry_in_ms: delay,
        });
        let weak = Rc::downgrade(core);
        let retry = Timeout::new(delay as u32, move || {
            if let Some(core) = weak.upgrade() {
                if core.inner.borrow().generation == generation {
                    Core::connect(core);
                }
            }
        });
        core.inner.borrow_mut().retry = Some(retry);
    }

    /// Makes a call for a tab, or queues it when offline and it can wait.
    async fn perform(core: &Rc<Core>, call: Call, key: Option<String>) -> Outcome {
        let Some(api) = core.api() else {
            return failed(
                0,
                "logged_out",
                "Log in to Baton from the toolbar popup first.",
            );
        };
        let online = matches!(core.inner.borrow().connection, Connection::Online);
        let key = key.or_else(|| call.queueable().then(|| core.host.random_id()));
        if !online && call.queueable() {
            return core.enqueue(call, key);
        }
        match Core::send_call(core, &api, &call, key.as_deref()).await {
            Ok(reply) if reply.ok() => Outcome::Ok {
                status: reply.status,
                body: reply.body,
            },
            Ok(reply) => {
                if reply.status == 401 {
                    let core = core.clone();
                    spawn_local(async move {
                        Core::logout(
                            &core,
                            Some("Your session has ended; log in again.".to_owned()),
                        )
                        .await;
                    });
                }
                let (error, message) = reply.error();
                Outcome::Failed {
                    status: reply.status,
                    error,
                    message,
                    body: reply.body,
                }
            }
            Err(err) if call.queueable() => {
                warn(&format!(
                    "queued a write while the server is unreachable: {err}"
                ));
                core.enqueue(call, key)
            }
            Err(err) => failed(0, "offline", &err.to_string()),
        }
    }

    fn enqueue(&self, call: Call, key: Option<String>) -> Outcome {
        let key = key.unwrap_or_else(|| self.host.random_id());
        {
            let mut inner = self.inner.borrow_mut();
            inner.queue.push(PendingWrite { key, call });
            crate::messages::trim_queued_reports(&mut inner.queue, |q| &q.call);
        }
        self.save_queue();
        Outcome::Queued
    }

    /// Sends queued writes in order, each with the idempotency key it was queued with.
    fn flush_queue(core: Rc<Core>) {
        if core.inner.borrow().flushing {
            return;
        }
        core.inner.borrow_mut().flushing = true;
        spawn_local(async move {
            loop {
                let next = core.inner.borrow().queue.first().cloned();
                let (Some(queued), Some(api)) = (next, core.api()) else {
                    break;
                };
                match Core::send_call(&core, &api, &queued.call, Some(&queued.key)).await {
                    Err(err) => {
                        // Unreachable again: the next connection flushes.
                        warn(&format!("queued write not sent yet: {err}"));
                        break;
                    }
                    Ok(reply) if !reply.ok() => {
                        let (code, reason) = reply.error();
                        if refusal(reply.status, &code) == Refusal::TryLater {
                            warn(&format!(
                                "queued write not taken yet ({reason}); will retry"
                            ));
                            Core::retry_flush_later(&core);
                            break;
                        }
                        core.forget_queued(&queued.key);
                        core.refused(&queued.call, reason);
                    }
                    Ok(_) => {
                        core.inner.borrow_mut().flush_attempts = 0;
                        core.forget_queued(&queued.key);
                    }
                }
            }
            // Saved once per pass, not per write (a thousand queued reports would be saved a
            // thousand times over); a write sent but still saved when the worker stops is sent
            // again under the same idempotency key, which the server answers as before.
            core.save_queue();
            core.inner.borrow_mut().flushing = false;
        });
    }

    /// Takes a queued write off the queue (sent, or refused for good).
    fn forget_queued(&self, key: &str) {
        let mut shown = false;
        self.inner.borrow_mut().queue.retain(|q| {
            let gone = q.key == key;
            shown |= gone && !matches!(q.call, Call::Message { .. });
            !gone
        });
        if shown {
            self.broadcast(&self.pending_message());
        }
    }

    fn save_queue(&self) {
        {
            let inner = self.inner.borrow();
            self.save("queue", &inner.queue);
        }
        self.broadcast(&self.pending_message());
    }

    /// Tries the queue again after a growing pause (1 s, doubling, at most a minute).
    fn retry_flush_later(core: &Rc<Core>) {
        let delay = {
            let mut inner = core.inner.borrow_mut();
            inner.flush_attempts = inner.flush_attempts.saturating_add(1);
            1_000u32
                .saturating_mul(1 << inner.flush_attempts.min(6))
                .min(60_000)
        };
        let weak = Rc::downgrade(core);
        let retry = Timeout::new(delay, move || {
            if let Some(core) = weak.upgrade() {
                if matches!(core.inner.borrow().connection, Connection::Online) {
                    Core::flush_queue(core);
                }
            }
        });
        core.inner.borrow_mut().flush_retry = Some(retry);
    }

    /// A queued write the server will never take: the agent is told (a toast in every WhatsApp
    /// tab, and the popup until dismissed), never left to think it was saved.
    fn refused(&self, call: &Call, reason: String) {
        let Some(what) = self.describe_write(call) else {
            // A message report refused (say, under a stale fence) is nobody's to act on.
            warn(&format!(
                "the server refused a queued message report: {reason}"
            ));
            return;
        };
        let refused = RefusedWrite { what, reason };
        let all = {
            let mut inner = self.inner.borrow_mut();
            inner.refused.push(refused.clone());
            inner.refused.clone()
        };
        self.save("refused", &all);
        self.broadcast(&ToTab::WriteRefused { refused });
    }

    /// A queued write in words, or `None` for background reports.
    fn describe_write(&self, call: &Call) -> Option<String> {
        let on = |chat_id: &protocol::ChatId| self.chat_title(chat_id);
        Some(match call {
            Call::AddNote { chat_id, .. } => format!("A note on {}", on(chat_id)),
            Call::Handoff { chat_id, .. } => format!("The handoff of {}", on(chat_id)),
            Call::Remind { chat_id, .. } => format!("A reminder on {}", on(chat_id)),
            Call::ReminderDone { .. } => "Completing a reminder".to_owned(),
            Call::Snooze { .. } => "Snoozing a reminder".to_owned(),
            Call::SetStage { chat_id, .. } => format!("The stage of {}", on(chat_id)),
            _ => return None,
        })
    }

    /// The HTTP request behind a call. Full conversation reads also refresh the worker's state.
    async fn send_call(
        core: &Rc<Core>,
        api: &Api,
        call: &Call,
        key: Option<&str>,
    ) -> Result<Reply, CoreError> {
        let (method, path, body): (&str, String, Option<String>) = match call {
            Call::OpenChat { chat_id, seen } => (
                "PUT",
                format!("/conversations/{}", path_chat(chat_id)),
                Some(to_json(seen)?),
            ),
            Call::Lock { chat_id, force } => (
                "POST",
                format!(
                    "/conversations/{}/lock{}",
                    path_chat(chat_id),
                    if *force { "?force=true" } else { "" }
                ),
                None,
            ),
            Call::Release { chat_id, fence } => (
                "DELETE",
                format!("/conversations/{}/lock?fence={fence}", path_chat(chat_id)),
                None,
            ),
            Call::Notes { chat_id } => (
                "GET",
                format!("/conversations/{}/notes", path_chat(chat_id)),
                None,
            ),
            Call::Timeline { chat_id } => (
                "GET",
                format!("/conversations/{}/timeline", path_chat(chat_id)),
                None,
            ),
            Call::AddNote {
                chat_id,
                body,
                mentions,
            } => (
                "POST",
                format!("/conversations/{}/notes", path_chat(chat_id)),
                Some(to_json(&protocol::api::NoteRequest {
                    body: body.clone(),
                    mentions: mentions.clone(),
                })?),
            ),
            Call::Handoff {
                chat_id,
                to_agent_id,
                done,
                promised,
                next_step,
                fence,
            } => (
                "POST",
                format!("/conversations/{}/handoff", path_chat(chat_id)),
                Some(to_json(&protocol::api::HandoffRequest {
                    to_agent_id: to_agent_id.clone(),
                    done: done.clone(),
                    promised: promised.clone(),
                    next_step: next_step.clone(),
                    fence: *fence,
                })?),
            ),
            Call::AcceptHandoff { chat_id } => (
                "POST",
                format!("/conversations/{}/handoff/accept", path_chat(chat_id)),
                None,
            ),
            Call::DeclineHandoff { chat_id, reason } => (
                "POST",
                format!("/conversations/{}/handoff/decline", path_chat(chat_id)),
                Some(to_json(&protocol::api::DeclineRequest {
                    reason: reason.clone(),
                })?),
            ),
            Call::Remind {
                chat_id,
                due_at,
                text,
            } => (
                "POST",
                format!("/conversations/{}/reminders", path_chat(chat_id)),
                Some(to_json(&protocol::api::ReminderRequest {
                    due_at: *due_at,
                    text: text.clone(),
                    for_agent_id: None,
                })?),
            ),
            Call::ReminderDone { id } => ("POST", format!("/reminders/{id}/done"), None),
            Call::Snooze { id, minutes } => (
                "POST",
                format!("/reminders/{id}/snooze"),
                Some(to_json(&protocol::api::SnoozeRequest {
                    until: None,
                    minutes: Some(*minutes),
                })?),
            ),
            Call::SetStage {
                chat_id,
                pipeline_id,
                stage,
            } => (
                "PUT",
                format!("/conversations/{}/stage", path_chat(chat_id)),
                Some(to_json(&protocol::api::StageRequest {
                    pipeline_id: pipeline_id.clone(),
                    stage: stage.clone(),
                })?),
            ),
            Call::Message { chat_id, report } => (
                "POST",
                format!("/conversations/{}/messages", path_chat(chat_id)),
                Some(to_json(report)?),
            ),
        };
        let mut reply = api.call(method, &path, body, key).await?;
        if reply.ok() && matches!(call, Call::Timeline { .. }) {
            // Tabs get the timeline described, not as raw events.
            let lines: Vec<crate::messages::TimelineLine> = decode::timeline_page(&reply.body)?
                .iter()
                .filter_map(|event| {
                    crate::views::describe_event(event).map(|text| crate::messages::TimelineLine {
                        seq: event.seq,
                        at: event.at,
                        actor: event.actor.as_ref().map(|a| a.name.clone()),
                        text,
                    })
                })
                .collect();
            reply.body = to_json(&lines)?;
        }
        if reply.ok() && matches!(call, Call::OpenChat { .. } | Call::SetStage { .. }) {
            if let Ok(conversation) = from_json::<protocol::api::Conversation>(&reply.body) {
                let fresh = ConversationState::from(&conversation);
                core.inner
                    .borrow_mut()
                    .state
                    .merge_conversation(fresh.clone());
                core.broadcast(&ToTab::Conversation {
                    conversation: fresh,
                });
            }
        }
        Ok(reply)
    }
}

fn failed(status: u16, error: &str, message: &str) -> Outcome {
    Outcome::Failed {
        status,
        error: error.to_owned(),
        message: message.to_owned(),
        body: String::new(),
    }
}

/// The org's active agents, by name.
async fn load_agents(api: &Api) -> Result<Vec<Agent>, String> {
    let mut agents: Vec<Agent> = every_page(api, "/agents", usize::MAX).await?;
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(agents)
}

/// The items of a paged list (`{items, next_cursor}`) at `path` (which may carry a query),
/// following the cursors until there are no more or at least `cap`.
async fn every_page<T: serde::de::DeserializeOwned>(
    api: &Api,
    path: &str,
    cap: usize,
) -> Result<Vec<T>, String> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(cursor) => format!(
                "{path}{separator}cursor={}",
                js_sys::encode_uri_component(cursor)
            ),
            None => path.to_owned(),
        };
        let page: Page<T> = parse_ok(
            &api.call("GET", &url, None, None)
                .await
                .map_err(|e| e.to_string())?,
        )?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if items.len() < cap => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

/// Reads a successful reply's body, or says why not.
fn parse_ok<T: serde::de::DeserializeOwned>(reply: &Reply) -> Result<T, String> {
    if !reply.ok() {
        return Err(format!(
            "the server answered {}: {}",
            reply.status,
            reply.error().1
        ));
    }
    from_json(&reply.body).map_err(|e| e.to_string())
}
