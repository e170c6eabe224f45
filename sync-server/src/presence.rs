//! Presence: who can be given chats now. An agent is *available* while at least one of their
//! browsers holds the event stream, through any server instance, and they have not set
//! themselves *away*; *offline* otherwise.
//!
//! Each instance counts its own streams per agent in memory and keeps one database row per agent
//! it serves, renewed by [`run_keeper`] while the streams last. A crashed instance stops renewing,
//! so its rows expire and the keeper of any instance declares those agents offline. Every change
//! of an agent's status is decided in a write transaction that holds the agent's row (so two
//! instances deciding at once agree: one says it, the other sees it already said), not the org's:
//! instances writing different agents do not wait for each other. It is told to the agent's own streams
//! and the org's supervisors' as a live-only `presence` frame (see [`crate::events`]): presence
//! is state, not history, so it takes no sequence number and is not replayed (`GET /agents` has
//! everyone's).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use protocol::api::AgentRef;
use protocol::routing::{Presence, PresenceStatus};
use sqlx::AnyConnection;

use crate::db::{placeholders, Db, WriteTx};
use crate::error::ApiResult;
use crate::events::EventHub;

/// This instance's streams per agent, and the presence rows waiting to follow them.
#[derive(Debug)]
pub struct Registry {
    instance_id: String,
    /// By agent id: `(org_id, agent, open streams)`.
    streams: Mutex<HashMap<String, (String, AgentRef, usize)>>,
    pending: Mutex<Pending>,
    /// Rings [`run_writer`].
    bell: Notify,
    /// Held while this instance writes its rows ([`Registry::write_pending`]) or renews them
    /// ([`Registry::keep`]): on PostgreSQL the two lock the same rows in different orders (the
    /// writer under its agents' locks, the renewal under the org's), so they take turns.
    writing: tokio::sync::Mutex<()>,
}

/// Agents whose row on this instance must be brought in line with their stream count.
#[derive(Debug, Default)]
struct Pending {
    /// By agent id: `(org_id, agent)`.
    agents: HashMap<String, (String, AgentRef)>,
    /// Told, once those rows are written, whether they were.
    waiters: Vec<oneshot::Sender<bool>>,
    /// The server is stopping: nothing more is written (the rows expire with their lease).
    stopped: bool,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            instance_id: uuid::Uuid::new_v4().to_string(),
            streams: Mutex::default(),
            pending: Mutex::default(),
            bell: Notify::new(),
            writing: tokio::sync::Mutex::new(()),
        }
    }
}

/// A stream opened or closed, and its agent's presence row was not written (it is tried again).
#[derive(Debug, thiserror::Error)]
#[error("the presence row could not be written now; it is retried")]
pub struct NotRecorded;

/// How long a presence row lives without renewal, and how often the keeper renews and sweeps.
pub fn lease(ping_interval: Duration) -> Duration {
    ping_interval * 3
}

/// Whether the agent has a live row (any instance) at `now`.
async fn connected(conn: &mut AnyConnection, agent_id: &str, now: i64) -> ApiResult<bool> {
    let live: Option<String> = sqlx::query_scalar(
        "SELECT agent_id FROM presence WHERE agent_id = $1 AND expires_at > $2 LIMIT 1",
    )
    .bind(agent_id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(live.is_some())
}

async fn away(conn: &mut AnyConnection, agent_id: &str) -> ApiResult<bool> {
    let away: Option<i64> = sqlx::query_scalar("SELECT away FROM agents WHERE id = $1")
        .bind(agent_id)
        .fetch_optional(conn)
        .await?;
    Ok(away.unwrap_or(0) != 0)
}

/// The agent's status as the database has it now.
pub async fn status_of(
    conn: &mut AnyConnection,
    agent_id: &str,
    now: i64,
) -> ApiResult<PresenceStatus> {
    Ok(if !connected(conn, agent_id, now).await? {
        PresenceStatus::Offline
    } else if away(conn, agent_id).await? {
        PresenceStatus::Away
    } else {
        PresenceStatus::Available
    })
}

/// Agents a presence statement names at most (well within either database's parameter limit).
const ROWS_PER_STATEMENT: usize = 400;

/// Which of `agent_ids` have a live row (any instance) at `now`.
async fn connected_among(
    conn: &mut AnyConnection,
    agent_ids: &[&str],
    now: i64,
) -> ApiResult<HashSet<String>> {
    let sql = format!(
        "SELECT DISTINCT agent_id FROM presence WHERE expires_at > $1 AND agent_id IN ({})",
        placeholders(2, agent_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql).bind(now);
    for id in agent_ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?.into_iter().collect())
}

/// Which of `agent_ids` said they are away.
async fn away_among(conn: &mut AnyConnection, agent_ids: &[&str]) -> ApiResult<HashSet<String>> {
    let sql = format!(
        "SELECT id FROM agents WHERE away <> 0 AND id IN ({})",
        placeholders(1, agent_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql);
    for id in agent_ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?.into_iter().collect())
}

/// Says the agent's new status live, once the transaction commits.
fn announce(tx: &mut WriteTx, agent: &AgentRef, status: PresenceStatus) {
    tx.presence_changed(Presence {
        agent: agent.clone(),
        status,
    });
}

impl Registry {
    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, AgentRef, usize)>> {
        // Counts and names only: nothing a panicking holder could leave half-done.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stream of `agent` opened on this instance. The first one has this instance's row written
    /// (and, if the agent was offline everywhere, their status said) before this returns.
    pub async fn stream_opened(&self, org_id: &str, agent: &AgentRef) -> Result<(), NotRecorded> {
        let first = {
            let mut streams = self.streams();
            let entry = streams
                .entry(agent.id.clone())
                .or_insert_with(|| (org_id.to_owned(), agent.clone(), 0));
            entry.2 += 1;
            entry.2 == 1
        };
        if !first {
            return Ok(());
        }
        self.written(org_id, agent).await
    }

    /// A stream of `agent` on this instance ended. The last one has this instance's row removed
    /// (and, if no other instance serves the agent, them said offline) before this returns.
    pub async fn stream_closed(&self, agent_id: &str) -> Result<(), NotRecorded> {
        let last = {
            let mut streams = self.streams();
            match streams.get_mut(agent_id) {
                Some(entry) if entry.2 > 1 => {
                    entry.2 -= 1;
                    None
                }
                Some(_) => streams.remove(agent_id),
                None => None,
            }
        };
        let Some((org_id, agent, _)) = last else {
            return Ok(());
        };
        self.written(&org_id, &agent).await
    }

    /// Queues the agent's row for [`run_writer`] and waits for it to be written. Streams that
    /// open or close together (a team reconnecting after a deploy) share one transaction: one
    /// commit, not one each.
    async fn written(&self, org_id: &str, agent: &AgentRef) -> Result<(), NotRecorded> {
        let (tell, told) = oneshot::channel();
        {
            let mut pending = self.pending();
            if pending.stopped {
                return Err(NotRecorded);
            }
            pending
                .agents
                .insert(agent.id.clone(), (org_id.to_owned(), agent.clone()));
            pending.waiters.push(tell);
        }
        self.bell.notify_one();
        match told.await {
            Ok(true) => Ok(()),
            // Not written (or the server is stopping): the row follows on a later try, or
            // expires with the lease.
            Ok(false) | Err(_) => Err(NotRecorded),
        }
    }

    /// Writes the queued rows, org by org; true if all were written (those that were not stay
    /// queued).
    async fn write_pending(&self, db: &Db, hub: &EventHub, lease: Duration) -> bool {
        let _turn = self.writing.lock().await;
        let (agents, waiters) = {
            let mut pending = self.pending();
            (
                std::mem::take(&mut pending.agents),
                std::mem::take(&mut pending.waiters),
            )
        };
        let mut by_org: HashMap<String, Vec<AgentRef>> = HashMap::new();
        for (org_id, agent) in agents.into_values() {
            by_org.entry(org_id).or_default().push(agent);
        }
        let mut all_written = true;
        for (org_id, agents) in by_org {
            if let Err(err) = self.write_org(db, hub, &org_id, &agents, lease).await {
                tracing::warn!(org = %org_id, error = %err, "presence not written; retrying");
                all_written = false;
                let mut pending = self.pending();
                for agent in agents {
                    // Anything queued meanwhile is as new.
                    pending
                        .agents
                        .entry(agent.id.clone())
                        .or_insert_with(|| (org_id.clone(), agent));
                }
            }
        }
        for waiter in waiters {
            let _ = waiter.send(all_written);
        }
        all_written
    }

    /// One org's rows in one transaction: each agent's row follows this instance's streams of
    /// them as they are now, and whoever's status changed is said. A few statements per batch of
    /// agents, not per agent: a team reconnecting at once is written in a moment.
    async fn write_org(
        &self,
        db: &Db,
        hub: &EventHub,
        org_id: &str,
        agents: &[AgentRef],
        lease: Duration,
    ) -> ApiResult<()> {
        let ids: Vec<&str> = agents.iter().map(|a| a.id.as_str()).collect();
        let mut tx = db.begin_presence_write(org_id, &ids).await?;
        let now = tx.now();
        let expires_at = now + lease_ms(lease);
        for batch in agents.chunks(ROWS_PER_STATEMENT) {
            let streaming: HashSet<&str> = {
                let streams = self.streams();
                batch
                    .iter()
                    .map(|a| a.id.as_str())
                    .filter(|id| streams.contains_key(*id))
                    .collect()
            };
            let ids: Vec<&str> = batch.iter().map(|a| a.id.as_str()).collect();
            let was_connected = connected_among(tx.conn(), &ids, now).await?;
            let sql = format!(
                "DELETE FROM presence WHERE instance_id = $1 AND agent_id IN ({})",
                placeholders(2, ids.len())
            );
            let mut delete = sqlx::query(&sql).bind(&self.instance_id);
            for id in &ids {
                delete = delete.bind(*id);
            }
            delete.execute(tx.conn()).await?;
            if !streaming.is_empty() {
                let rows: Vec<String> = (0..streaming.len())
                    .map(|i| format!("($1, ${}, $2, $3)", i + 4))
                    .collect();
                let sql = format!(
                    "INSERT INTO presence (instance_id, agent_id, org_id, expires_at) VALUES {}",
                    rows.join(", ")
                );
                let mut insert = sqlx::query(&sql)
                    .bind(&self.instance_id)
                    .bind(org_id)
                    .bind(expires_at);
                for id in &streaming {
                    insert = insert.bind(*id);
                }
                insert.execute(tx.conn()).await?;
            }
            let arrived: Vec<&AgentRef> = batch
                .iter()
                .filter(|a| streaming.contains(a.id.as_str()) && !was_connected.contains(&a.id))
                .collect();
            if !arrived.is_empty() {
                let ids: Vec<&str> = arrived.iter().map(|a| a.id.as_str()).collect();
                let away = away_among(tx.conn(), &ids).await?;
                for agent in arrived {
                    let status = if away.contains(&agent.id) {
                        PresenceStatus::Away
                    } else {
                        PresenceStatus::Available
                    };
                    announce(&mut tx, agent, status);
                }
            }
            let departed: Vec<&AgentRef> = batch
                .iter()
                .filter(|a| !streaming.contains(a.id.as_str()) && was_connected.contains(&a.id))
                .collect();
            if !departed.is_empty() {
                let ids: Vec<&str> = departed.iter().map(|a| a.id.as_str()).collect();
                // Still served by another instance: nothing to say.
                let elsewhere = connected_among(tx.conn(), &ids, now).await?;
                for agent in departed {
                    if !elsewhere.contains(&agent.id) {
                        announce(&mut tx, agent, PresenceStatus::Offline);
                    }
                }
            }
        }
        tx.commit(hub).await?;
        Ok(())
    }

    /// Renews this instance's rows, then ends the rows that expired anywhere (an instance that
    /// died), saying offline for agents no instance serves any more.
    pub async fn keep(&self, db: &Db, hub: &EventHub, lease: Duration) -> ApiResult<()> {
        let _turn = self.writing.lock().await;
        let orgs: Vec<String> = {
            let streams = self.streams();
            let mut orgs: Vec<String> = streams.values().map(|(org, _, _)| org.clone()).collect();
            orgs.sort();
            orgs.dedup();
            orgs
        };
        for org_id in orgs {
            let mut tx = db.begin_write(&org_id).await?;
            let now = tx.now();
            sqlx::query(
                "UPDATE presence SET expires_at = $1 WHERE instance_id = $2 AND org_id = $3",
            )
            .bind(now + lease_ms(lease))
            .bind(&self.instance_id)
            .bind(&org_id)
            .execute(tx.conn())
            .await?;
            tx.commit(hub).await?;
        }
        let now = db.now().await?;
        let expired: Vec<(String, String)> =
            sqlx::query_as("SELECT DISTINCT org_id, agent_id FROM presence WHERE expires_at <= $1")
                .bind(now)
                .fetch_all(db.pool())
                .await?;
        for (org_id, agent_id) in expired {
            let mut tx = db.begin_write(&org_id).await?;
            // Decided one after the other with the agent's arrival through another instance.
            tx.lock_agents(&[agent_id.as_str()]).await?;
            let now = tx.now();
            let deleted =
                sqlx::query("DELETE FROM presence WHERE agent_id = $1 AND expires_at <= $2")
                    .bind(&agent_id)
                    .bind(now)
                    .execute(tx.conn())
                    .await?
                    .rows_affected();
            if deleted > 0 && !connected(tx.conn(), &agent_id, now).await? {
                let name: Option<String> =
                    sqlx::query_scalar("SELECT name FROM agents WHERE id = $1")
                        .bind(&agent_id)
                        .fetch_optional(tx.conn())
                        .await?;
                let agent = AgentRef {
                    id: agent_id,
                    name: name.unwrap_or_default(),
                };
                announce(&mut tx, &agent, PresenceStatus::Offline);
            }
            tx.commit(hub).await?;
        }
        Ok(())
    }
}

/// The agent sets themselves away or available; the change is said if they are connected (an
/// offline agent stays offline, and comes online with their choice).
pub async fn set_away(
    db: &Db,
    hub: &EventHub,
    org_id: &str,
    agent: &AgentRef,
    is_away: bool,
) -> ApiResult<PresenceStatus> {
    let mut tx = db.begin_write(org_id).await?;
    // Decided one after the other with the agent's streams opening or closing.
    tx.lock_agents(&[agent.id.as_str()]).await?;
    let now = tx.now();
    let before = status_of(tx.conn(), &agent.id, now).await?;
    sqlx::query("UPDATE agents SET away = $1 WHERE id = $2")
        .bind(i64::from(is_away))
        .bind(&agent.id)
        .execute(tx.conn())
        .await?;
    let after = status_of(tx.conn(), &agent.id, now).await?;
    if after != before {
        announce(&mut tx, agent, after);
    }
    tx.commit(hub).await?;
    Ok(after)
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// Renews and sweeps every third of a lease until shutdown (and retries rows not yet written).
pub async fn run_keeper(state: crate::http::AppState) {
    let lease = lease(state.config.ws_ping_interval);
    let mut tick = tokio::time::interval(lease / 3);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = state.presence.keep(&state.db, &state.hub, lease).await {
                    tracing::warn!(error = %err, "presence upkeep failed; retrying");
                }
                if !state.presence.pending().agents.is_empty() {
                    state.presence.bell.notify_one();
                }
            }
            () = state.shutdown.cancelled() => return,
        }
    }
}

/// How soon rows that could not be written are tried again (not at the keeper's next round, a
/// third of a lease later: until then routing does not see the agent who came online).
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// Writes the rows of streams that opened and closed, as they queue up, until shutdown; after
/// each write, routing looks again (someone may have come online). Rows that could not be written
/// are tried again soon.
pub async fn run_writer(state: crate::http::AppState) {
    let lease = lease(state.config.ws_ping_interval);
    let mut retry_at: Option<tokio::time::Instant> = None;
    loop {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = state.presence.bell.notified() => {}
            () = retry => {}
            () = state.shutdown.cancelled() => break,
        }
        // Anything written counts: routing looks again even if some org's rows must wait.
        let all_written = state
            .presence
            .write_pending(&state.db, &state.hub, lease)
            .await;
        state.routing.wake();
        retry_at = (!all_written).then(|| tokio::time::Instant::now() + RETRY_WAIT);
    }
    let mut pending = state.presence.pending();
    pending.stopped = true;
    // Nobody waits for a writer that is gone.
    pending.waiters.clear();
}
