//! The service worker's sync client: the only part of the extension that talks to the server.
//!
//! It logs in, loads a snapshot of the org's state, holds the event WebSocket (with a keepalive
//! that also keeps the MV3 service worker alive), applies events to its [`TeamState`] and relays
//! them to every WhatsApp Web tab over `chrome.runtime` ports. Tabs ask it to make calls; writes
//! made while offline wait in a persisted queue and are sent with idempotency keys once connected.
//! JavaScript (`extension/background.js`) only wires `chrome.*` events to the methods here and
//! provides the [`Host`] functions.

mod api;
mod calls;
mod decode;
mod notifications;
mod queue;
mod relay;
mod session;
mod socket;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use protocol::api::{Agent, Org};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

use crate::calls::{Call, Outcome};
use crate::error::CoreError;
use crate::js::{from_js, to_js, warn};
pub use crate::messages::normalise_server;
use crate::messages::{
    Availability, Connection, CoreMode, LayoutState, PendingWrite, PopupRequest, PopupState,
    RefusedWrite, TabStatus, ToTab, ToWorker,
};
use crate::state::TeamState;
use api::Api;
use protocol::routing::{PresenceChoice, PresenceRequest, PresenceStatus};
use socket::Socket;

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
    /// A Chrome notification; `buttons` are the titles of its buttons (at most two).
    fn notify(this: &Host, id: &str, title: &str, message: &str, buttons: Vec<String>);
    #[wasm_bindgen(method, js_name = clearNotification)]
    fn clear_notification(this: &Host, id: &str);
    #[wasm_bindgen(method, js_name = focusTab)]
    fn focus_tab(this: &Host, tab_id: i32);
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
    /// Notifications raised, with the chat each is about (newest last).
    notification_chats: Vec<(String, protocol::ChatId)>,
    /// The server address of the last login, kept after logout so the popup offers it again.
    last_server: Option<String>,
    /// The last event sequence number received, persisted so a restarted worker resumes from it.
    last_seq: i64,
    /// My presence as the server last said it, and my capacity (the popup shows them).
    my_presence: Option<protocol::routing::PresenceStatus>,
    my_capacity: Option<u32>,
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
                    last_server: None,
                    notification_chats: Vec::new(),
                    last_seq: 0,
                    my_presence: None,
                    my_capacity: None,
                }),
            }),
        }
    }

    /// Restores the login and the offline queue, and connects if logged in.
    pub async fn start(&self) -> Result<(), JsValue> {
        let core = &self.core;
        let session: Option<Session> = core.load("session").await;
        let queue = core.load_raw("queue").await.map(queue::restore);
        let notified: Option<Vec<String>> = core.load("notified").await;
        let refused: Option<Vec<RefusedWrite>> = core.load("refused").await;
        let last_seq: Option<i64> = core.load("seq").await;
        let last_server: Option<String> = core.load("server").await;
        let notification_chats: Option<Vec<(String, protocol::ChatId)>> =
            core.load("notification_chats").await;
        {
            let mut inner = core.inner.borrow_mut();
            inner.last_seq = last_seq.unwrap_or(0);
            inner.last_server = last_server;
            inner.notification_chats = notification_chats.unwrap_or_default();
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
        if let Some(id) = relay::request_id(&message) {
            Core::relay_request(&self.core, port, id, &message);
            return;
        }
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

    /// The agent clicked one of Baton's notifications.
    pub fn notification_clicked(&self, id: String) {
        self.core.notification_clicked(&id);
    }

    /// The agent clicked button `index` of one of Baton's notifications.
    pub fn notification_button_clicked(&self, id: String, index: u32) {
        Core::notification_button_clicked(&self.core, &id, index);
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
                PopupRequest::SetAvailability { away } => {
                    let choice = if away {
                        PresenceChoice::Away
                    } else {
                        PresenceChoice::Available
                    };
                    let call = Call::SetPresence {
                        presence: PresenceRequest { status: choice },
                    };
                    let error = match Core::perform(&core, call, None).await {
                        Outcome::Done(_) | Outcome::Queued => {
                            let mut inner = core.inner.borrow_mut();
                            // Offline agents stay offline; their choice shows when they connect.
                            if inner.my_presence != Some(PresenceStatus::Offline) {
                                inner.my_presence = Some(if away {
                                    PresenceStatus::Away
                                } else {
                                    PresenceStatus::Available
                                });
                            }
                            None
                        }
                        Outcome::Refused(refusal) => Some(refusal.message),
                        Outcome::NotSent { message } => Some(message),
                    };
                    core.inner.borrow_mut().popup_error = error;
                }
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
        from_js(self.load_raw(key).await?).ok()
    }

    /// A saved value as it was stored, or `None` if nothing is saved under `key`.
    async fn load_raw(&self, key: &str) -> Option<JsValue> {
        let value = JsFuture::from(self.host.storage_get(key)).await.ok()?;
        (!value.is_undefined() && !value.is_null()).then_some(value)
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
            server: inner
                .session
                .as_ref()
                .map(|s| s.server.clone())
                .or_else(|| inner.last_server.clone()),
            agent: inner.session.as_ref().and_then(|s| s.agent.clone()),
            org: inner.session.as_ref().and_then(|s| s.org.clone()),
            connection: inner.connection.clone(),
            tab: tab.and_then(|t| inner.tab_status.get(&t).cloned()),
            tabs: inner.tab_status.values().cloned().collect(),
            error: inner.popup_error.clone(),
            queued_writes: inner.queue.len(),
            refused_writes: inner.refused.clone(),
            availability: inner.session.as_ref().and(inner.my_presence).map(|status| {
                Availability {
                    status,
                    open_chats: inner.state.my_open_chats(),
                    capacity: inner.my_capacity,
                }
            }),
        }
    }

    fn api(&self) -> Option<Api> {
        self.inner.borrow().session.as_ref().map(|s| Api {
            server: s.server.clone(),
            token: Some(s.token.clone()),
        })
    }
}
