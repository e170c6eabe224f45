//! Live delivery of stored events.
//!
//! Events are written by [`crate::db::WriteTx`] in the same transaction as their change. Each
//! server instance keeps one feed per org that has connected agents: a task that reads the org's
//! events after the last one it delivered and broadcasts them to the org's WebSockets. The feed
//! wakes when this instance commits events, when PostgreSQL notifies that another instance did
//! ([`listener`]), and on a slow poll in case a notification was lost. Because it always reads from
//! the database by sequence number, a lost wake-up delays events but never loses or reorders them.
//!
//! Presence changes are live only (no sequence number) and go to fewer streams: each agent's own
//! (their browser shows their status) and the org's leads' and admins' (who watch the team).
//! Telling every stream of the org would cost a thousand-agent team a million frames each time
//! everyone reconnects (after a deploy, say); the others' statuses are in `GET /agents`.

pub mod listener;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::ws::ServerMessage;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tungstenite::Utf8Bytes;

pub use store::{latest_seq, read_after, read_timeline};

use crate::db::Db;

/// A presence change as the PostgreSQL notification carries it.
#[derive(serde::Serialize, serde::Deserialize)]
struct PresenceNotice {
    org_id: String,
    presence: protocol::routing::Presence,
}

/// The notification payload of a presence change.
pub fn presence_payload(org_id: &str, presence: &protocol::routing::Presence) -> String {
    serde_json::to_string(&PresenceNotice {
        org_id: org_id.to_owned(),
        presence: presence.clone(),
    })
    .unwrap_or_default()
}

/// Reads a presence notification and tells this instance's streams.
pub fn presence_notified(hub: &EventHub, payload: &str) {
    match serde_json::from_str::<PresenceNotice>(payload) {
        Ok(notice) => hub.publish_presence(&notice.org_id, &notice.presence),
        Err(err) => tracing::warn!(error = %err, "unreadable presence notification"),
    }
}

/// Events are read from the database in pages of this size.
pub const READ_PAGE: i64 = 500;

/// How many events a slow WebSocket may fall behind before it re-reads from the database.
const FEED_CAPACITY: usize = 1024;

/// How many presence frames a stream may fall behind on before it skips to newer ones (presence
/// is state: the newest frame is what matters). An agent's own streams hear one agent: a few
/// slots (a channel's slots are allocated up front, per agent connected); supervisors hear the
/// whole team, which may all reconnect at once.
const AGENT_PRESENCE_CAPACITY: usize = 4;
const SUPERVISORS_PRESENCE_CAPACITY: usize = 1024;

/// Who hears a presence change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PresenceAudience {
    /// An agent's (or seat's) own streams, by agent id: their own status only.
    Agent(String),
    /// The leads' and admins' streams of an org, by org id: everyone's.
    Supervisors(String),
}

/// A stream's presence frames; dropping it leaves the audience (and the last one out removes it).
#[derive(Debug)]
pub struct PresenceSubscription {
    hub: EventHub,
    audience: PresenceAudience,
    receiver: Option<broadcast::Receiver<Utf8Bytes>>,
}

impl PresenceSubscription {
    /// The next presence frame; a stream that fell behind skips to the newer ones.
    pub async fn next(&mut self) -> Utf8Bytes {
        loop {
            let Some(receiver) = self.receiver.as_mut() else {
                return std::future::pending().await;
            };
            match receiver.recv().await {
                Ok(frame) => return frame,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                // Cannot happen while this holds the hub (and so the sender's map); never busy-loop.
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            }
        }
    }
}

impl Drop for PresenceSubscription {
    fn drop(&mut self) {
        let mut audiences = self.hub.presence_audiences();
        // Dropped under the lock, so a stream joining now either finds the channel in use or
        // makes a new one.
        drop(self.receiver.take());
        if audiences
            .get(&self.audience)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            audiences.remove(&self.audience);
        }
    }
}

/// An event as the feed broadcasts it: serialised once as a WebSocket frame, shared by every
/// socket of the org.
#[derive(Debug)]
pub struct LiveEvent {
    pub seq: i64,
    /// When it was committed (database clock, ms).
    pub at: i64,
    pub frame: Utf8Bytes,
    /// The agent whose event streams this event ends (deactivated, or logged out everywhere).
    pub ends_sessions_of: Option<String>,
}

/// This instance's event feeds, one per org with listeners, and its cache of live logins (which
/// ended sessions invalidate, as events wake feeds). Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventHub {
    inner: Arc<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    db: Db,
    tokens: crate::sessions::TokenCache,
    feeds: Mutex<HashMap<String, Feed>>,
    /// Presence frames, by who hears them: [`PresenceAudience`].
    presence: Mutex<HashMap<PresenceAudience, broadcast::Sender<Utf8Bytes>>>,
    poll_interval: Duration,
    shutdown: CancellationToken,
}

#[derive(Debug)]
struct Feed {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    wake: Arc<Notify>,
    /// The sequence number of the last event broadcast (set before it is sent).
    broadcast_seq: Arc<AtomicI64>,
}

/// A subscription to an org's live events.
#[derive(Debug)]
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<LiveEvent>>,
    /// Every event up to this one was broadcast before the subscription began; every later one
    /// will reach it. A client that has seen this far needs nothing from the database.
    pub broadcast_seq: i64,
}

impl EventHub {
    pub fn new(db: Db, poll_interval: Duration, shutdown: CancellationToken) -> EventHub {
        EventHub {
            inner: Arc::new(HubInner {
                db,
                tokens: crate::sessions::TokenCache::default(),
                feeds: Mutex::new(HashMap::new()),
                presence: Mutex::new(HashMap::new()),
                poll_interval,
                shutdown,
            }),
        }
    }

    /// For commands run beside a live server (the admin CLI, seeding): their events reach its
    /// streams through the database (PostgreSQL's notifications, or the server's next look at
    /// SQLite).
    pub fn for_commands(db: &Db) -> EventHub {
        EventHub::new(db.clone(), Duration::from_secs(2), CancellationToken::new())
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<String, Feed>> {
        // The map holds no invariant a panicking holder could break, so a poisoned lock is usable.
        self.inner
            .feeds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Subscribes to an org's live events: every event committed after this call returns is
    /// delivered, in sequence order (older ones come from [`read_after`]).
    pub async fn subscribe(&self, org_id: &str) -> Result<Subscription, sqlx::Error> {
        if let Some(feed) = self.feeds().get(org_id) {
            return Ok(feed.subscribe());
        }
        // Read the feed's starting point before it exists: anything committed from here on is
        // after it, so the new feed will broadcast it.
        let start = latest_seq(&self.inner.db, org_id).await?;
        let mut feeds = self.feeds();
        if let Some(feed) = feeds.get(org_id) {
            return Ok(feed.subscribe());
        }
        let feed = Feed {
            sender: broadcast::channel(FEED_CAPACITY).0,
            wake: Arc::new(Notify::new()),
            broadcast_seq: Arc::new(AtomicI64::new(start)),
        };
        let subscription = feed.subscribe();
        tokio::spawn(run_feed(
            self.clone(),
            org_id.to_owned(),
            feed.sender.clone(),
            feed.wake.clone(),
            feed.broadcast_seq.clone(),
        ));
        feeds.insert(org_id.to_owned(), feed);
        Ok(subscription)
    }

    /// This instance's cache of live logins (see [`crate::sessions`]).
    pub fn tokens(&self) -> &crate::sessions::TokenCache {
        &self.inner.tokens
    }

    /// Events of the org were committed through this instance: its feed reads them now, and
    /// every other instance hears of it (PostgreSQL, after the commit: see `db::notify`).
    pub fn events_committed(&self, org_id: &str) {
        self.notify(org_id);
        self.inner
            .db
            .announce(crate::db::EVENTS_CHANNEL, org_id.to_owned());
    }

    /// Tells the org's feed (if any) that new events were committed (by this instance or, as
    /// PostgreSQL says, another).
    pub fn notify(&self, org_id: &str) {
        if let Some(feed) = self.feeds().get(org_id) {
            feed.wake.notify_one();
        }
    }

    /// Wakes every feed, after notifications may have been missed.
    pub fn notify_all(&self) {
        for feed in self.feeds().values() {
            feed.wake.notify_one();
        }
    }

    /// Removes the org's feed if nobody listens any more; true if it was removed.
    fn retire_if_unused(&self, org_id: &str) -> bool {
        let mut feeds = self.feeds();
        let unused = feeds
            .get(org_id)
            .map(|feed| feed.sender.receiver_count() == 0)
            .unwrap_or(true);
        if unused {
            feeds.remove(org_id);
        }
        unused
    }

    fn presence_audiences(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PresenceAudience, broadcast::Sender<Utf8Bytes>>> {
        // Like `feeds`: nothing a panicking holder could leave half-done.
        self.inner
            .presence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Presence frames for a stream of `audience`, from now on, until the subscription is dropped.
    pub fn hear_presence(&self, audience: PresenceAudience) -> PresenceSubscription {
        let receiver = self
            .presence_audiences()
            .entry(audience.clone())
            .or_insert_with(|| {
                let capacity = match audience {
                    PresenceAudience::Agent(_) => AGENT_PRESENCE_CAPACITY,
                    PresenceAudience::Supervisors(_) => SUPERVISORS_PRESENCE_CAPACITY,
                };
                broadcast::channel(capacity).0
            })
            .subscribe();
        PresenceSubscription {
            hub: self.clone(),
            audience,
            receiver: Some(receiver),
        }
    }

    /// Tells a presence change to this instance's streams that hear it: the agent's own and the
    /// org's supervisors'.
    pub fn publish_presence(&self, org_id: &str, presence: &protocol::routing::Presence) {
        let senders: Vec<broadcast::Sender<Utf8Bytes>> = {
            let audiences = self.presence_audiences();
            [
                PresenceAudience::Agent(presence.agent.id.clone()),
                PresenceAudience::Supervisors(org_id.to_owned()),
            ]
            .iter()
            .filter_map(|audience| audiences.get(audience).cloned())
            .collect()
        };
        if senders.is_empty() {
            return;
        }
        let Ok(frame) = serde_json::to_string(&ServerMessage::Presence(presence.clone())) else {
            return;
        };
        let frame = Utf8Bytes::from(frame);
        for sender in senders {
            // An error only means the last listener left meanwhile.
            let _ = sender.send(frame.clone());
        }
    }

    /// Number of orgs with a live feed on this instance.
    pub fn active_feeds(&self) -> usize {
        self.feeds().len()
    }
}

impl Feed {
    fn subscribe(&self) -> Subscription {
        // Subscribed first, then read: the feed sets the number before it sends the event, so an
        // event not counted here is sent after the subscription began.
        let events = self.sender.subscribe();
        Subscription {
            events,
            broadcast_seq: self.broadcast_seq.load(Ordering::SeqCst),
        }
    }
}

async fn run_feed(
    hub: EventHub,
    org_id: String,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    wake: Arc<Notify>,
    broadcast_seq: Arc<AtomicI64>,
) {
    let db = hub.inner.db.clone();
    let mut last_seq = broadcast_seq.load(Ordering::SeqCst);
    loop {
        match read_after(&db, &org_id, last_seq, READ_PAGE).await {
            Ok(events) => {
                let full_page = events.len() as i64 == READ_PAGE;
                for event in events {
                    last_seq = event.seq;
                    // Before it is sent: see `Feed::subscribe`.
                    broadcast_seq.store(last_seq, Ordering::SeqCst);
                    let at = event.at;
                    let ends_sessions_of = event.body.ends_sessions_of().map(|a| a.id.clone());
                    if let Some(agent_id) = &ends_sessions_of {
                        // Before any stream can close on it: see `TokenCache::forget_logins_of`.
                        hub.tokens().forget_logins_of(agent_id);
                    }
                    match serde_json::to_string(&ServerMessage::Event(event)) {
                        // An error only means nobody is subscribed right now.
                        Ok(frame) => {
                            let _ = sender.send(Arc::new(LiveEvent {
                                seq: last_seq,
                                at,
                                frame: Utf8Bytes::from(frame),
                                ends_sessions_of,
                            }));
                        }
                        Err(err) => tracing::error!(org_id, error = %err, "cannot encode event"),
                    }
                }
                if full_page {
                    continue;
                }
            }
            Err(err) => tracing::warn!(org_id, error = %err, "cannot read new events; will retry"),
        }
        if hub.retire_if_unused(&org_id) {
            return;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(hub.inner.poll_interval) => {}
            () = hub.inner.shutdown.cancelled() => return,
        }
    }
}
