//! Presence: who can be given chats now. An agent is *available* while at least one of their
//! browsers holds the event stream, through any server instance, and they have not set
//! themselves *away*; *offline* otherwise.
//!
//! Each instance counts its own streams per agent in memory and keeps one database row per agent
//! it serves, renewed by [`run_keeper`] while the streams last. A crashed instance stops renewing,
//! so its rows expire and the keeper of any instance declares those agents offline. Every change
//! of an agent's status is decided in the org's write transaction (so two instances deciding at
//! once agree: one says it, the other sees it already said) and told to the agent's own streams
//! and the org's supervisors' as a live-only `presence` frame (see [`crate::events`]): presence
//! is state, not history, so it takes no sequence number and is not replayed (`GET /agents` has
//! everyone's).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use protocol::api::AgentRef;
use protocol::routing::{Presence, PresenceStatus};
use sqlx::AnyConnection;

use crate::db::{Db, WriteTx};
use crate::error::ApiResult;
use crate::events::EventHub;

/// This instance's streams per agent: `(org_id, agent, open streams)`.
#[derive(Debug)]
pub struct Registry {
    instance_id: String,
    streams: Mutex<HashMap<String, (String, AgentRef, usize)>>,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            instance_id: uuid::Uuid::new_v4().to_string(),
            streams: Mutex::default(),
        }
    }
}

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

/// Says the agent's new status live, once the transaction commits.
async fn announce(tx: &mut WriteTx, agent: &AgentRef, status: PresenceStatus) -> ApiResult<()> {
    tx.presence_changed(Presence {
        agent: agent.clone(),
        status,
    })
    .await?;
    Ok(())
}

impl Registry {
    /// A stream of `agent` opened on this instance. The first one writes this instance's row; if
    /// the agent was offline everywhere, their status is said.
    pub async fn stream_opened(
        &self,
        db: &Db,
        hub: &EventHub,
        org_id: &str,
        agent: &AgentRef,
        lease: Duration,
    ) -> ApiResult<()> {
        let first = {
            let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
            let entry = streams
                .entry(agent.id.clone())
                .or_insert_with(|| (org_id.to_owned(), agent.clone(), 0));
            entry.2 += 1;
            entry.2 == 1
        };
        if !first {
            return Ok(());
        }
        let mut tx = db.begin_write(org_id).await?;
        let now = tx.now();
        let was_connected = connected(tx.conn(), &agent.id, now).await?;
        sqlx::query("DELETE FROM presence WHERE instance_id = $1 AND agent_id = $2")
            .bind(&self.instance_id)
            .bind(&agent.id)
            .execute(tx.conn())
            .await?;
        sqlx::query(
            "INSERT INTO presence (instance_id, agent_id, org_id, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&self.instance_id)
        .bind(&agent.id)
        .bind(org_id)
        .bind(now + lease_ms(lease))
        .execute(tx.conn())
        .await?;
        if !was_connected {
            let status = status_of(tx.conn(), &agent.id, now).await?;
            announce(&mut tx, agent, status).await?;
        }
        tx.commit(hub).await?;
        Ok(())
    }

    /// A stream of `agent` on this instance ended. The last one removes this instance's row; if
    /// no other instance serves the agent, they are offline.
    pub async fn stream_closed(&self, db: &Db, hub: &EventHub, agent_id: &str) -> ApiResult<()> {
        let last = {
            let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut tx = db.begin_write(&org_id).await?;
        let now = tx.now();
        let was_connected = connected(tx.conn(), &agent.id, now).await?;
        sqlx::query("DELETE FROM presence WHERE instance_id = $1 AND agent_id = $2")
            .bind(&self.instance_id)
            .bind(&agent.id)
            .execute(tx.conn())
            .await?;
        if was_connected && !connected(tx.conn(), &agent.id, now).await? {
            announce(&mut tx, &agent, PresenceStatus::Offline).await?;
        }
        tx.commit(hub).await?;
        Ok(())
    }

    /// Renews this instance's rows, then ends the rows that expired anywhere (an instance that
    /// died), saying offline for agents no instance serves any more.
    pub async fn keep(&self, db: &Db, hub: &EventHub, lease: Duration) -> ApiResult<()> {
        let orgs: Vec<String> = {
            let streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
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
                announce(&mut tx, &agent, PresenceStatus::Offline).await?;
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
    let now = tx.now();
    let before = status_of(tx.conn(), &agent.id, now).await?;
    sqlx::query("UPDATE agents SET away = $1 WHERE id = $2")
        .bind(i64::from(is_away))
        .bind(&agent.id)
        .execute(tx.conn())
        .await?;
    let after = status_of(tx.conn(), &agent.id, now).await?;
    if after != before {
        announce(&mut tx, agent, after).await?;
    }
    tx.commit(hub).await?;
    Ok(after)
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// Renews and sweeps every third of a lease until shutdown.
pub async fn run_keeper(state: crate::http::AppState) {
    let lease = lease(state.config.ws_ping_interval);
    let mut tick = tokio::time::interval(lease / 3);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = state.presence.keep(&state.db, &state.hub, lease).await {
                    tracing::warn!(error = %err, "presence upkeep failed; retrying");
                }
            }
            () = state.shutdown.cancelled() => return,
        }
    }
}
