//! Write transactions that serialise per org and record events with the change they describe.

use std::borrow::Cow;

use protocol::api::AgentRef;
use protocol::events::{Event, EventBody};
use protocol::ChatId;
use sqlx::{Any, AnyConnection, Transaction};

use super::{Backend, Db};
use crate::events::EventHub;

/// The PostgreSQL NOTIFY channel that tells every server instance an org has new events.
pub const EVENTS_CHANNEL: &str = "baton_events";

/// An open write transaction for one org. Dropping it without [`WriteTx::commit`] rolls back.
#[derive(Debug)]
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    db: Db,
    org_id: String,
    now: i64,
    appended_events: bool,
}

impl WriteTx {
    pub(super) async fn begin(db: &Db, org_id: &str) -> Result<WriteTx, sqlx::Error> {
        let mut tx = match db.backend {
            Backend::Sqlite => db.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = db.pool.begin().await?;
                sqlx::query("SELECT id FROM orgs WHERE id = $1 FOR UPDATE")
                    .bind(org_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx
            }
        };
        let now: i64 = sqlx::query_scalar(&db.sql("SELECT now_ms()"))
            .fetch_one(&mut *tx)
            .await?;
        Ok(WriteTx {
            tx,
            db: db.clone(),
            org_id: org_id.to_owned(),
            now,
            appended_events: false,
        })
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
        let seq: i64 = sqlx::query_scalar(
            "UPDATE orgs SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
        )
        .bind(&self.org_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let body_json =
            serde_json::to_string(&body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&self.org_id)
        .bind(seq)
        .bind(chat_id.map(ChatId::as_str))
        .bind(actor.map(|a| a.id.as_str()))
        .bind(actor.map(|a| a.name.as_str()))
        .bind(body.kind())
        .bind(i64::from(body.in_timeline()))
        .bind(self.now)
        .bind(body_json)
        .execute(&mut *self.tx)
        .await?;
        if self.db.backend == Backend::Postgres {
            // Delivered to every instance's listener when (and only if) the transaction commits.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS_CHANNEL)
                .bind(&self.org_id)
                .execute(&mut *self.tx)
                .await?;
        }
        self.appended_events = true;
        Ok(Event {
            seq,
            chat_id: chat_id.cloned(),
            actor: actor.cloned(),
            at: self.now,
            body,
        })
    }

    /// Commits, then wakes this instance's event feed for the org if events were recorded.
    pub async fn commit(self, hub: &EventHub) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        if self.appended_events {
            hub.notify(&self.org_id);
        }
        Ok(())
    }
}
