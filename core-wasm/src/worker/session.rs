//! The worker's login and its line to the server: logging in and out, loading the snapshot,
//! the event WebSocket, reconnecting with back-off, and applying what the server pushes.

use std::rc::Rc;

use gloo_timers::callback::{Interval, Timeout};
use protocol::api::{
    Agent, ConversationSummary, EventTicket, LoginRequest, LoginResponse, Me, Page, Pipeline, Role,
};
use protocol::events::EventBody;
use protocol::routing::PresenceStatus;
use protocol::ws::{ClientMessage, ServerMessage};
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::api::{Api, Reply};
use super::socket::{Socket, SocketEvent};
use super::{decode, Core, Session, KEEPALIVE_MS, MAX_RETRY_MS, SNAPSHOT_LIMIT};
use crate::js::{from_json, log, now_ms, to_json, warn};
use crate::messages::{normalise_server, Connection, PendingWrite, ToTab};
use crate::state::TeamState;

impl Core {
    pub(super) async fn login(core: &Rc<Core>, server: &str, email: &str, password: &str) {
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
                .map_err(|e| e.to_string())?;
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
                    inner.last_server = Some(session.server.clone());
                    inner.session = Some(session.clone());
                    inner.state = TeamState::default();
                    inner.queue.clear();
                    inner.last_seq = 0;
                }
                core.save("session", &session);
                core.save("server", &session.server);
                core.save("seq", &0);
                core.save("queue", &Vec::<PendingWrite>::new());
                Core::connect(core.clone());
                // The popup shows the agent as soon as the snapshot has loaded.
                Core::wait_for_snapshot(core).await;
            }
            Err(error) => core.inner.borrow_mut().popup_error = Some(error),
        }
    }

    pub(super) async fn wait_for_snapshot(core: &Rc<Core>) {
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

    pub(super) async fn logout(core: &Rc<Core>, reason: Option<String>) {
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

    pub(super) fn disconnect(core: &Rc<Core>) {
        let mut inner = core.inner.borrow_mut();
        inner.generation += 1;
        inner.socket = None;
        inner.keepalive = None;
        inner.retry = None;
    }

    /// (Re)connects: loads a fresh snapshot, then opens the event stream after it.
    pub(super) fn connect(core: Rc<Core>) {
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

    pub(super) async fn load_and_listen(core: &Rc<Core>, generation: u32) -> Result<(), String> {
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
            let mut state = TeamState::from_snapshot(&me, Vec::new(), pipelines, &conversations);
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
            drop(inner);
            core.take_team(agents);
            let mut inner = core.inner.borrow_mut();
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

    pub(super) fn on_socket(core: &Rc<Core>, generation: u32, event: SocketEvent) {
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

    pub(super) fn on_server_message(core: &Rc<Core>, message: ServerMessage) {
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
            // My own shows in the popup; colleagues' are for the lead's views, which read them
            // from `GET /agents`.
            ServerMessage::Presence(presence) => {
                let mut inner = core.inner.borrow_mut();
                if inner.state.my_id() == Some(presence.agent.id.as_str()) {
                    inner.my_presence = Some(presence.status);
                }
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
                        EventBody::AgentCreated(_)
                            | EventBody::AgentDeactivated(_)
                            | EventBody::AgentReactivated(_)
                    ) {
                        Core::reload_agents(core.clone());
                    }
                }
            }
        }
    }

    /// The team changed (someone joined, was deactivated or is back): reload who can be handed chats or
    /// mentioned, and give the tabs the new state.
    pub(super) fn reload_agents(core: Rc<Core>) {
        spawn_local(async move {
            let Some(api) = core.api() else {
                return;
            };
            match load_agents(&api).await {
                Ok(agents) => {
                    core.take_team(agents);
                    core.send_snapshot(None);
                }
                Err(err) => warn(&format!("cannot reload the team: {err}")),
            }
        });
    }

    /// Loads my open reminders (the snapshot has none) so due ones show on their chats, and
    /// announces any that fell due while this worker was not listening.
    pub(super) fn load_my_reminders(core: Rc<Core>) {
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

    pub(super) fn connection_lost(core: &Rc<Core>, generation: u32, error: String) {
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
}

/// An agent as `GET /agents` lists them: [`protocol::routing::AgentListed`] read field by field
/// (serde's `flatten` would cost the worker kilobytes).
#[derive(serde::Deserialize)]
struct Listed {
    id: String,
    name: String,
    email: String,
    role: Role,
    presence: PresenceStatus,
    capacity: Option<u32>,
}

/// The org's active agents, by name, with their presence and capacity.
async fn load_agents(api: &Api) -> Result<Vec<Listed>, String> {
    let mut agents: Vec<Listed> = every_page(api, "/agents", usize::MAX).await?;
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(agents)
}

impl Core {
    /// Keeps the team, and my own presence and capacity (the popup shows them), from a listing.
    fn take_team(&self, listed: Vec<Listed>) {
        let mut inner = self.inner.borrow_mut();
        let me = inner.state.my_id().map(str::to_owned);
        if let Some(mine) = listed.iter().find(|a| Some(&a.id) == me.as_ref()) {
            inner.my_presence = Some(mine.presence);
            inner.my_capacity = mine.capacity;
        }
        inner.state.agents = listed
            .into_iter()
            .map(|a| Agent {
                id: a.id,
                name: a.name,
                email: a.email,
                role: a.role,
            })
            .collect();
    }
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
