//! Write transactions that serialise per org and record events with the change they describe.

use std::borrow::Cow;

use protocol::api::AgentRef;
use protocol::events::{Event, EventBody};
use protocol::ChatId;
use sqlx::{Any, AnyConnection, Transaction};

use super::{Backend, Db};
use crate::events::EventHub;
use crate::sessions::{Ended, SESSIONS_CHANNEL};

/// The PostgreSQL NOTIFY channel that tells every server instance an org has new events.
pub const EVENTS_CHANNEL: &str = "baton_events";
/// The PostgreSQL NOTIFY channel that carries presence changes (live only: no stored event) to
/// every server instance, this one included.
pub const PRESENCE_CHANNEL: &str = "baton_presence";

/// An open write transaction for one org. Dropping it without [`WriteTx::commit`] rolls back.
#[derive(Debug)]
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    db: Db,
    org_id: String,
    now: i64,
    /// Whether the org's row is locked (every write transaction but presence's): only then may
    /// it record events, whose numbers must follow commit order.
    holds_org: bool,
    appended_events: bool,
    /// Logins this transaction ends, forgotten by this instance's cache once it commits.
    ended: Vec<Ended>,
    /// Presence changes to tell once it commits.
    presence: Vec<protocol::routing::Presence>,
    /// SQLite: the write gate, held until the transaction has ended (declared after `tx`, so it
    /// is dropped after it).
    turn: Turn,
}

/// A [`WriteTx`]'s turn to write on SQLite (nothing on PostgreSQL). Released at once after a
/// commit; after a transaction dropped without one, only once sqlx has rolled it back.
#[derive(Debug)]
struct Turn {
    gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    writer: sqlx::AnyPool,
    committed: bool,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(gate) = self.gate.take() else {
            return;
        };
        if self.committed {
            return;
        }
        // sqlx rolls a dropped transaction back later, on its connection's worker thread. The next
        // statement on that connection (the writer pool's only one) runs after the rollback: wait
        // for it before giving up the turn, or the writer thread would meet the write lock.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = self.writer.clone();
            runtime.spawn(async move {
                if let Ok(mut conn) = writer.acquire().await {
                    let _ = sqlx::Executor::execute(&mut *conn, "SELECT 1").await;
                }
                drop(gate);
            });
        }
    }
}

impl WriteTx {
    pub(super) async fn begin(db: &Db, org_id: &str) -> Result<WriteTx, sqlx::Error> {
        WriteTx::begin_locking(db, org_id, None).await
    }

    /// Like [`WriteTx::begin`], but on PostgreSQL it locks the rows of `agent_ids` instead of the
    /// org's row: for presence, which records no event and is decided agent by agent, so that
    /// instances writing different agents' presence (a team reconnecting through several
    /// instances after a deploy) do not wait for each other. Transactions that decide an agent's
    /// presence under the org's lock lock the agent's row too ([`WriteTx::lock_agents`]).
    pub(super) async fn begin_for_agents(
        db: &Db,
        org_id: &str,
        agent_ids: &[&str],
    ) -> Result<WriteTx, sqlx::Error> {
        WriteTx::begin_locking(db, org_id, Some(agent_ids)).await
    }

    async fn begin_locking(
        db: &Db,
        org_id: &str,
        agent_ids: Option<&[&str]>,
    ) -> Result<WriteTx, sqlx::Error> {
        // The clock is read with the lock, not by a statement of its own: on SQLite the database
        // clock is this process's clock (SQLite asks the same OS clock); on PostgreSQL it comes
        // back with the row lock.
        let turn = Turn {
            gate: db.take_turn().await,
            writer: db.writer.clone(),
            committed: false,
        };
        let (tx, now) = match db.backend {
            Backend::Sqlite => {
                let tx = db.writer.begin_with("BEGIN IMMEDIATE").await?;
                (tx, super::system_now_ms())
            }
            Backend::Postgres => {
                let mut tx = db.pool.begin().await?;
                let locked: Option<i64> = match agent_ids {
                    None => {
                        sqlx::query_scalar("SELECT now_ms() FROM orgs WHERE id = $1 FOR UPDATE")
                            .bind(org_id)
                            .fetch_optional(&mut *tx)
                            .await?
                    }
                    Some(ids) => lock_agent_rows(&mut tx, ids).await?,
                };
                let now = match locked {
                    Some(now) => now,
                    None => {
                        sqlx::query_scalar("SELECT now_ms()")
                            .fetch_one(&mut *tx)
                            .await?
                    }
                };
                (tx, now)
            }
        };
        Ok(WriteTx {
            tx,
            db: db.clone(),
            org_id: org_id.to_owned(),
            now,
            holds_org: agent_ids.is_none(),
            appended_events: false,
            ended: Vec::new(),
            presence: Vec::new(),
            turn,
        })
    }

    /// Locks the agents' rows (PostgreSQL; SQLite's one writer serialises everything already):
    /// a transaction that decides their presence under the org's lock takes them too, so it and
    /// [`WriteTx::begin_for_agents`] decide one after the other.
    pub async fn lock_agents(&mut self, agent_ids: &[&str]) -> Result<(), sqlx::Error> {
        if self.db.backend == Backend::Postgres {
            lock_agent_rows(&mut self.tx, agent_ids).await?;
        }
        Ok(())
    }

    /// The database clock when the transaction began; every timestamp it writes uses this.
    pub fn now(&self) -> i64 {
        self.now
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The connection, to run statements inside the transaction.
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// See [`Db::sql`].
    pub fn sql(&self, query: &'static str) -> Cow<'static, str> {
        self.db.sql(query)
    }

    /// Records an event of this org, numbered with the org's next sequence number.
    pub async fn append(
        &mut self,
        chat_id: Option<&ChatId>,
        actor: Option<&AgentRef>,
        body: EventBody,
    ) -> Result<Event, sqlx::Error> {
        if !self.holds_org {
            return Err(sqlx::Error::Protocol(
                "an event may be recorded only by a transaction that locked its org".to_owned(),
            ));
        }
        let body_json =
            serde_json::to_string(&body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // One statement: the event takes the org's next number and the counter moves on (by a
        // trigger on SQLite; in the same statement on PostgreSQL). Other instances hear of it
        // once the transaction has committed (see `commit`).
        let statement = match self.db.backend {
            Backend::Sqlite => {
                "INSERT INTO events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
                 VALUES ($1, (SELECT event_seq + 1 FROM orgs WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)
                 RETURNING seq"
            }
            Backend::Postgres => {
                "WITH next AS (
                     UPDATE orgs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq
                 )
                 INSERT INTO events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
                 SELECT $1, next.event_seq, $2, $3, $4, $5, $6, $7, $8 FROM next
                 RETURNING seq"
            }
        };
        let query = sqlx::query_scalar(statement)
            .bind(&self.org_id)
            .bind(chat_id.map(ChatId::as_str))
            .bind(actor.map(|a| a.id.as_str()))
            .bind(actor.map(|a| a.name.as_str()))
            .bind(body.kind())
            .bind(i64::from(body.in_timeline()))
            .bind(self.now)
            .bind(body_json);
        let seq: i64 = query.fetch_one(&mut *self.tx).await?;
        self.appended_events = true;
        Ok(Event {
            seq,
            chat_id: chat_id.cloned(),
            actor: actor.cloned(),
            at: self.now,
            body,
        })
    }

    /// Records that logins end with this transaction: every login of `agent_id`, or only the
    /// token `token_id`. Every instance's token cache forgets them (see [`crate::sessions`]).
    pub async fn sessions_ended(
        &mut self,
        agent_id: &str,
        token_id: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO auth_changes (agent_id, token_id, at) VALUES ($1, $2, $3)")
            .bind(agent_id)
            .bind(token_id)
            .bind(self.now)
            .execute(&mut *self.tx)
            .await?;
        let ended = match token_id {
            Some(token) => Ended::Token(token.to_owned()),
            None => Ended::Agent(agent_id.to_owned()),
        };
        if self.db.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(SESSIONS_CHANNEL)
                .bind(ended.payload())
                .execute(&mut *self.tx)
                .await?;
        }
        self.ended.push(ended);
        Ok(())
    }

    /// Tells the streams that hear it (see [`crate::events`]), once this transaction commits, that
    /// an agent's presence changed (live only: not an event, no sequence number).
    pub fn presence_changed(&mut self, presence: protocol::routing::Presence) {
        self.presence.push(presence);
    }

    /// Commits; then this instance forgets the logins that ended, and the streams hear of presence
    /// changes and new events: this instance's at once, on PostgreSQL every instance's through a
    /// notification sent after the commit (see [`super::notify`]).
    pub async fn commit(mut self, hub: &EventHub) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        self.turn.committed = true;
        for ended in &self.ended {
            hub.tokens().forget(ended);
        }
        for presence in &self.presence {
            match self.db.backend {
                // Every instance, this one included, hears it through PostgreSQL.
                Backend::Postgres => self.db.announce(
                    PRESENCE_CHANNEL,
                    crate::events::presence_payload(&self.org_id, presence),
                ),
                Backend::Sqlite => hub.publish_presence(&self.org_id, presence),
            }
        }
        if self.appended_events {
            hub.events_committed(&self.org_id);
        }
        Ok(())
    }
}

/// Locks the agents' rows in id order (so two transactions locking overlapping sets never wait
/// for each other the wrong way round), without blocking rows that merely refer to them
/// (`NO KEY`); the database clock, if any row exists.
async fn lock_agent_rows(
    tx: &mut Transaction<'static, Any>,
    agent_ids: &[&str],
) -> Result<Option<i64>, sqlx::Error> {
    if agent_ids.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT now_ms() FROM agents WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
        super::placeholders(1, agent_ids.len())
    );
    let mut query = sqlx::query_scalar(&sql);
    for id in agent_ids {
        query = query.bind(*id);
    }
    let clocks: Vec<i64> = query.fetch_all(&mut **tx).await?;
    Ok(clocks.first().copied())
}
