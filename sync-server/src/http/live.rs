//! The live event WebSocket (`GET /api/v1/events`) and the tickets that open it.
//!
//! A browser cannot set an `Authorization` header on a WebSocket, so the extension first asks for a
//! short-lived, single-use ticket over authenticated HTTP (`POST /events/ticket`) and passes it in
//! the URL. Non-browser clients may send their bearer token instead. A present `Origin` header must
//! be an allowed origin (browsers always send one, so a web page elsewhere cannot connect).
//!
//! A session sends the backlog after the client's cursor, then `ready`, then live events from the
//! org's feed. It tracks the last sequence number it sent, so every event goes out once and in
//! order; if the feed skips ahead or this socket lagged, the gap is read from the database.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Json;
use futures_util::{SinkExt, StreamExt};
use protocol::api::EventTicket;
use protocol::codes;
use protocol::ws::{ClientMessage, ServerMessage};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, Utf8Bytes};

use super::error::{ApiError, ApiResult};
use super::extract::{auth_agent_from_row, authenticate_token, AppQuery, AuthAgent};
use super::socket::{self, NotAnUpgrade, Socket, Upgrade};
use super::{AppState, Routes};
use crate::auth;
use crate::events::{self, LiveEvent, READ_PAGE};
use crate::sessions::Ended;

pub fn router() -> Routes {
    Routes::new()
        .post("/events/ticket", create_ticket)
        .get("/events", connect)
}

/// Close code sent when the client's token was revoked or expired.
const CLOSE_UNAUTHORIZED: u16 = 4001;
/// Close code for "server restarting; reconnect".
const CLOSE_RESTART: u16 = 1012;
/// Close code when the client stopped answering pings.
const CLOSE_TIMEOUT: u16 = 4008;
/// Close code for a client message over [`MAX_CLIENT_MESSAGE`].
const CLOSE_TOO_BIG: u16 = 1009;
/// Clients only ever send `{"type":"ping"}`; anything much larger is refused.
pub const MAX_CLIENT_MESSAGE: usize = 4 * 1024;
/// How much a socket reads at a time (see the upgrade in [`connect`]).
const READ_BUFFER: usize = 256;
/// What a socket may hold for a client that stopped reading before its sends fail.
const MAX_WRITE_BUFFER: usize = 256 * 1024;
/// Event sockets one login may hold open at once (one per browser is the norm; a few tabs or a
/// reconnect overlapping its predecessor are fine).
pub const MAX_SOCKETS_PER_TOKEN: usize = 8;

/// Open event sockets per login token, on this instance.
#[derive(Debug, Default)]
pub struct SocketCounts(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl SocketCounts {
    /// A place for one more socket of `token_id`, or `None` when it has its fill.
    fn enter(self: &std::sync::Arc<Self>, token_id: &str) -> Option<SocketSlot> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(token_id.to_owned()).or_insert(0);
        if *count >= MAX_SOCKETS_PER_TOKEN {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            counts: self.clone(),
            token_id: token_id.to_owned(),
        })
    }
}

/// One open socket's place; given back when the session ends.
struct SocketSlot {
    counts: std::sync::Arc<SocketCounts>,
    token_id: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.token_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.token_id);
            }
        }
    }
}

async fn create_ticket(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<EventTicket>> {
    let ticket = auth::new_secret("bwt_");
    let ttl_ms = i64::try_from(state.config.ticket_ttl.as_millis()).unwrap_or(30_000);
    sqlx::query(&state.db.sql(
        "INSERT INTO event_tickets (ticket_hash, agent_id, token_id, expires_at)
         VALUES ($1, $2, $3, now_ms() + $4)",
    ))
    .bind(auth::hash_secret(&ticket))
    .bind(&auth.id)
    .bind(&auth.token_id)
    .bind(ttl_ms)
    .execute(&mut *state.db.write_conn().await?)
    .await?;
    Ok(Json(EventTicket {
        ticket,
        expires_in_ms: ttl_ms,
    }))
}

fn invalid_ticket() -> ApiError {
    ApiError::Unauthorized("the event ticket is unknown, used or expired; request a new one")
}

/// Whom a ticket was issued to, if it, and its token, are still valid; the ticket stays unused.
async fn ticket_holder(state: &AppState, ticket: &str) -> ApiResult<AuthAgent> {
    let token_id: String = sqlx::query_scalar(&state.db.sql(
        "SELECT token_id FROM event_tickets
         WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > now_ms()",
    ))
    .bind(auth::hash_secret(ticket))
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(invalid_ticket)?;
    let row = token_row(state, &token_id)
        .await?
        .ok_or_else(invalid_ticket)?;
    auth_agent_from_row(&row)
}

/// Uses a ticket up (once the connection is sure to be accepted); false if it was used meanwhile.
async fn use_ticket(state: &AppState, ticket: &str) -> ApiResult<()> {
    let used = sqlx::query(&state.db.sql(
        "UPDATE event_tickets SET used_at = now_ms()
         WHERE ticket_hash = $1 AND used_at IS NULL AND expires_at > now_ms()",
    ))
    .bind(auth::hash_secret(ticket))
    .execute(&mut *state.db.write_conn().await?)
    .await?;
    if used.rows_affected() == 1 {
        Ok(())
    } else {
        Err(invalid_ticket())
    }
}

/// The token and its agent, if the token is still live.
async fn token_row(state: &AppState, token_id: &str) -> ApiResult<Option<sqlx::any::AnyRow>> {
    Ok(sqlx::query(&state.db.sql(
        "SELECT t.id AS token_id, t.expires_at, a.id, a.org_id, a.name, a.role
         FROM tokens t JOIN agents a ON a.id = t.agent_id
         WHERE t.id = $1 AND t.revoked_at IS NULL AND t.expires_at > now_ms() AND a.active = 1",
    ))
    .bind(token_id)
    .fetch_optional(state.db.pool())
    .await?)
}

/// Whether a login is still live, asked of the database.
async fn login_is_live(state: &AppState, token_id: &str) -> Result<bool, End> {
    Ok(token_row(state, token_id)
        .await
        .map_err(|e| End::Failed(e.to_string()))?
        .is_some())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectQuery {
    ticket: Option<String>,
    /// The last sequence number the client has seen; 0 (default) for none.
    since: Option<i64>,
}

async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppQuery(query): AppQuery<ConnectQuery>,
    hold: Option<axum::Extension<crate::serve::ConnectionHold>>,
    upgrade: Result<Upgrade, NotAnUpgrade>,
) -> ApiResult<Response> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .map(|o| state.config.allowed_origins.iter().any(|a| a == o))
            .unwrap_or(false);
        if !allowed {
            return Err(ApiError::Forbidden {
                code: codes::ORIGIN_NOT_ALLOWED,
                message: "this origin may not open the event stream; add it to the server's allowed origins".to_owned(),
                owner: None,
            });
        }
    }
    let since = query.since.unwrap_or(0);
    if since < 0 {
        return Err(ApiError::BadRequest {
            code: codes::INVALID_PARAMETER,
            message: "since must be a sequence number (0 or more)".to_owned(),
        });
    }
    // Everything that can refuse the connection comes before the ticket is used up.
    let upgrade = upgrade.map_err(|rejection| ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: format!("this endpoint is a WebSocket: {}", rejection.0),
    })?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let auth = match (&query.ticket, bearer) {
        (Some(ticket), _) => ticket_holder(&state, ticket).await?,
        (None, Some(token)) => authenticate_token(&state, token.trim()).await?,
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "open the event stream with ?ticket= (from POST /api/v1/events/ticket)",
            ))
        }
    };
    let slot = state
        .sockets
        .enter(&auth.token_id)
        .ok_or(ApiError::TooMany {
            message: format!(
            "this login has {MAX_SOCKETS_PER_TOKEN} event streams open already; close one first"
        ),
            retry_after_secs: 1,
        })?;
    if let Some(ticket) = &query.ticket {
        use_ticket(&state, ticket).await?;
    }
    // tungstenite's defaults are sized for bulk transfer: a 128 KiB read buffer, zero-filled on
    // every read attempt (each wake-up for an event), and a 128 KiB write buffer. An agent sends
    // pings of a few bytes and receives small frames: small buffers, frames written at once, and
    // a bound on what a client that stops reading can make us hold.
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_CLIENT_MESSAGE))
        .max_frame_size(Some(MAX_CLIENT_MESSAGE))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER);
    Ok(upgrade.accept(config, move |socket| async move {
        let open = state.metrics.socket_opened();
        // Heard before the stream counts as open, so the agent's browser hears itself come online.
        let audience = if auth.role.supervises() {
            events::PresenceAudience::Supervisors(auth.org_id.clone())
        } else {
            events::PresenceAudience::Agent(auth.id.clone())
        };
        let presence_frames = state.hub.hear_presence(audience);
        // Written before `ready` (and routing then looks for the newcomer): a client that is
        // ready is available.
        // Boxed, as every await the stream makes once: the task holding an idle stream is as
        // large as its largest await (a thousand idle agents, a thousand tasks).
        if let Err(err) = Box::pin(
            state
                .presence
                .stream_opened(&auth.org_id, &auth.agent_ref()),
        )
        .await
        {
            tracing::warn!(agent = %auth.id, error = %err, "presence not recorded");
        }
        let presence = (state.clone(), auth.id.clone());
        let mut session = Session {
            state,
            auth,
            socket,
            presence_frames,
            last_sent: since,
        };
        let end = session.run().await;
        // Boxed: it owns the session, which the stream's future would otherwise hold twice.
        let parting = Box::pin(session.finish(end)).await;
        let (state, agent_id) = presence;
        if let Err(err) = Box::pin(state.presence.stream_closed(&agent_id)).await {
            tracing::warn!(agent = %agent_id, error = %err, "presence not cleared");
        }
        // Presence is cleared first: a client slow to answer the close is no longer there.
        if let Some((mut socket, unreadable)) = parting {
            Box::pin(socket::linger(&mut socket, unreadable)).await;
        }
        drop(slot);
        drop(open);
        // The connection's place under the server's cap ends with the stream.
        drop(hold);
    }))
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    ClientLeft,
    Close(u16, &'static str),
    /// The client sent a message over [`MAX_CLIENT_MESSAGE`]: what follows it cannot be read.
    TooBig,
    Failed(String),
}

impl From<tungstenite::Error> for End {
    fn from(err: tungstenite::Error) -> End {
        match err {
            tungstenite::Error::Capacity(_) => End::TooBig,
            // The socket is gone; there is nobody to tell.
            _ => End::ClientLeft,
        }
    }
}

impl From<sqlx::Error> for End {
    fn from(err: sqlx::Error) -> End {
        End::Failed(err.to_string())
    }
}

struct Session {
    state: AppState,
    auth: AuthAgent,
    socket: Socket,
    /// Presence changes this stream tells (live only, outside the sequence).
    presence_frames: events::PresenceSubscription,
    /// The last sequence number sent (or skipped by a resync).
    last_sent: i64,
}

impl Session {
    async fn run(&mut self) -> End {
        match self.serve().await {
            Ok(end) | Err(end) => end,
        }
    }

    async fn serve(&mut self) -> Result<End, End> {
        // Logins that end on any instance reach this instance's cache, which tells every stream:
        // no database read per stream to notice its own. Heard from before `ready`, so no word
        // that arrives once the client is ready is missed.
        let mut endings = self.state.hub.tokens().endings();
        // What a stream does rarely (catching up, checking a login, reading the database clock)
        // is boxed where it is awaited: an idle stream's future is then only as big as its waiting
        // state, not as its largest database query (a thousand idle agents, a thousand futures).
        let mut feed = Box::pin(self.start()).await?;

        // Made once: a fresh `cancelled()` per loop would register with the server-wide token
        // (under its lock) for every event delivered to every socket.
        let shutdown = self.state.shutdown.clone();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let mut ping = tokio::time::interval(self.state.config.ws_ping_interval);
        ping.tick().await;
        let mut heard_since_ping = true;
        loop {
            // Biased, the feed first: it is what wakes a stream fifty times a second, and polling
            // the other branches before it on every event was a measurable share of a fan-out to
            // a thousand streams. The rest cannot starve: the feed's receive spends the task's
            // cooperative budget, so a long backlog still yields to the socket and the timers.
            tokio::select! {
                biased;
                received = feed.recv() => match received {
                    Ok(event) => self.deliver(&event).await?,
                    Err(RecvError::Lagged(_)) => Box::pin(self.send_backlog()).await?,
                    Err(RecvError::Closed) => return Ok(End::Close(CLOSE_RESTART, "server restarting")),
                },
                frame = self.presence_frames.next() => self.socket.send(Message::Text(frame)).await?,
                message = self.socket.next() => {
                    heard_since_ping = true;
                    match message {
                        Some(Err(err)) => return Ok(End::from(err)),
                        None | Some(Ok(Message::Close(_))) => return Ok(End::ClientLeft),
                        Some(Ok(Message::Text(text))) => Box::pin(self.answer(&text)).await?,
                        Some(Ok(_)) => {}
                    }
                },
                ended = endings.recv() => {
                    // A token's ending names this login or not. An agent's logins ending (a new
                    // role, deactivation, logging out everywhere) ends the logins made before it,
                    // not one made since, and word of it may arrive late (this instance's
                    // follower reads it from the database; another instance's notification): the
                    // login's own row says. Word missed: look once.
                    let look = match &ended {
                        Ok(Ended::Token(id)) => {
                            if *id == self.auth.token_id {
                                return Ok(End::Close(CLOSE_UNAUTHORIZED, "your session was ended"));
                            }
                            false
                        }
                        Ok(Ended::Agent(id)) => *id == self.auth.id,
                        Ok(Ended::Unknown) | Err(_) => true,
                    };
                    if look && !Box::pin(login_is_live(&self.state, &self.auth.token_id)).await? {
                        return Ok(End::Close(CLOSE_UNAUTHORIZED, "your session was ended"));
                    }
                },
                _ = ping.tick() => {
                    if !heard_since_ping {
                        return Ok(End::Close(CLOSE_TIMEOUT, "no answer to pings"));
                    }
                    if Box::pin(self.state.db.now()).await? >= self.auth.token_expires_at {
                        return Ok(End::Close(CLOSE_UNAUTHORIZED, "token expired or revoked"));
                    }
                    heard_since_ping = false;
                    self.socket.send(Message::Ping(Default::default())).await?;
                },
                () = &mut cancelled => return Ok(End::Close(CLOSE_RESTART, "server restarting")),
            }
        }
    }

    /// Sends a live event unless it was already sent; fills any gap before it from the database.
    async fn deliver(&mut self, event: &LiveEvent) -> Result<(), End> {
        if event.seq <= self.last_sent {
            return Ok(());
        }
        if event.seq > self.last_sent + 1 {
            return Box::pin(self.send_backlog()).await;
        }
        self.socket.send(Message::Text(event.frame.clone())).await?;
        self.last_sent = event.seq;
        // This process's clock, not the database's: no await and no shared lock per event per
        // stream; on PostgreSQL the lag is off by the clocks' offset (milliseconds at most).
        self.state
            .metrics
            .event_delivered(crate::db::system_now_ms() - event.at);
        // The agent was deactivated or logged out everywhere: end this stream now rather than at
        // the next ping, if its login is indeed gone.
        if event.ends_sessions_of.as_deref() == Some(self.auth.id.as_str())
            && Box::pin(token_row(&self.state, &self.auth.token_id))
                .await
                .map_err(|e| End::Failed(e.to_string()))?
                .is_none()
        {
            return Err(End::Close(CLOSE_UNAUTHORIZED, "your session was ended"));
        }
        Ok(())
    }

    /// Subscribes to the org's feed, then catches up (or tells the client to resync) and says ready.
    async fn start(&mut self) -> Result<broadcast::Receiver<Arc<LiveEvent>>, End> {
        let org_id = self.auth.org_id.clone();
        let feed = self.state.hub.subscribe(&org_id).await?;
        let server_time = self.state.db.now().await?;
        // The usual reconnection: the client has seen what the feed last broadcast, and the feed
        // brings the rest. Nothing to read.
        if self.last_sent == feed.broadcast_seq {
            self.send(&ServerMessage::Ready {
                latest_seq: self.last_sent,
                server_time,
            })
            .await?;
            return Ok(feed.events);
        }
        let latest = events::latest_seq(&self.state.db, &org_id).await?;
        let too_far_behind = latest - self.last_sent > self.state.config.max_replay_events;
        if self.last_sent > latest || too_far_behind {
            self.last_sent = latest;
            self.send(&ServerMessage::Resync {
                latest_seq: latest,
                server_time,
            })
            .await?;
        } else {
            self.send_backlog().await?;
            self.send(&ServerMessage::Ready {
                latest_seq: self.last_sent,
                server_time,
            })
            .await?;
        }
        Ok(feed.events)
    }

    /// Sends every stored event after `last_sent`, in order.
    async fn send_backlog(&mut self) -> Result<(), End> {
        loop {
            let batch =
                events::read_after(&self.state.db, &self.auth.org_id, self.last_sent, READ_PAGE)
                    .await?;
            let full_page = batch.len() as i64 == READ_PAGE;
            for event in batch {
                let seq = event.seq;
                self.send(&ServerMessage::Event(event)).await?;
                self.last_sent = seq;
            }
            if !full_page {
                return Ok(());
            }
        }
    }

    async fn answer(&mut self, text: &str) -> Result<(), End> {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Ping) => {
                let server_time = self.state.db.now().await?;
                self.send(&ServerMessage::Pong { server_time }).await
            }
            Err(_) => Err(End::Close(
                1003,
                "unknown message; send {\"type\":\"ping\"}",
            )),
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).map_err(|e| End::Failed(e.to_string()))?;
        self.socket
            .send(Message::Text(Utf8Bytes::from(text)))
            .await?;
        Ok(())
    }

    /// Says goodbye with the code `end` calls for; returns the socket to linger on and whether
    /// its input is unreadable (see [`socket::linger`]), unless the client has gone already.
    async fn finish(mut self, end: End) -> Option<(Socket, bool)> {
        let (code, reason, unreadable) = match end {
            End::ClientLeft => return None,
            End::Close(code, reason) => (code, reason, false),
            End::TooBig => (
                CLOSE_TOO_BIG,
                "messages to the server are pings, a few bytes long",
                true,
            ),
            End::Failed(error) => {
                tracing::warn!(agent = %self.auth.id, error, "event stream failed");
                (1011, "server error; reconnect", false)
            }
        };
        socket::send_close(&mut self.socket, code, reason)
            .await
            .then_some((self.socket, unreadable))
    }
}
