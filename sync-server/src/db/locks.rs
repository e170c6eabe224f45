//! The reply lock's writes: changing it in one step when nobody changed it since it was read
//! ([`change`], what taking, renewing and releasing use), ending it when its holder may no longer
//! work the chat, and refusing a write made under a stale fence.
//!
//! Taking or renewing the lock is the most frequent write of all (an agent's browser renews it
//! every few seconds while they type), so it does not hold the org's write lock while it decides:
//! it reads the conversation, decides in Rust, and then applies the change with its events in one
//! step that succeeds only if the lock and owner are still as read (a compare-and-set). On SQLite
//! that step is one batch on the writer connection (`BEGIN IMMEDIATE` … `COMMIT`: one trip to
//! SQLite's thread instead of one per statement); on PostgreSQL one call of `baton_change_lock`
//! (migration 0005), which locks the org's row first, as every write transaction does. Whether the
//! lease has run out is judged again by the database clock when the change is written.

use protocol::api::AgentRef;
use protocol::codes;
use protocol::events::EventBody;
use protocol::ChatId;
use sqlx::{Executor, Row};

use super::conversations::ConversationRow;
use super::{Backend, Db, WriteTx, EVENTS_CHANNEL};
use crate::error::{ApiError, ApiResult};
use crate::events::EventHub;
use crate::http::extract::AuthAgent;

/// A conversation's reply lock and owner: what a [`LockChange`] compares and sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockFields {
    pub holder_id: Option<String>,
    pub fence: i64,
    pub expires_at: i64,
    pub owner_id: Option<String>,
}

impl ConversationRow {
    pub fn lock_fields(&self) -> LockFields {
        LockFields {
            holder_id: self.lock_holder_id.clone(),
            fence: self.lock_fence,
            expires_at: self.lock_expires_at,
            owner_id: self.owner_id.clone(),
        }
    }
}

/// What the lease must be, by the database clock when the change is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Anything (the row being unchanged is enough).
    Any,
    /// Run out: taking over a lock whose holder let it lapse.
    Expired,
    /// Still running: renewing or releasing one's own lock.
    Live,
}

impl Lease {
    fn code(self) -> i64 {
        match self {
            Lease::Any => 0,
            Lease::Expired => 1,
            Lease::Live => 2,
        }
    }
}

/// A change of a conversation's lock (and owner) from the state `row` was read in.
#[derive(Debug)]
pub struct LockChange<'a> {
    pub org_id: &'a str,
    pub row: &'a ConversationRow,
    pub chat_id: &'a ChatId,
    pub actor: &'a AgentRef,
    /// When it happens: the events' time.
    pub at: i64,
    pub to: LockFields,
    pub lease: Lease,
    pub events: Vec<EventBody>,
}

/// The compare-and-set, in the SQL both engines share: `$1`–`$4` the new fields, `$5` the
/// conversation, `$6`–`$9` the fields as read, `$10` the [`Lease`] code.
const CHANGE_LOCK: &str = "UPDATE conversations
    SET lock_holder_id = $1, lock_fence = $2, lock_expires_at = $3, owner_id = $4
    WHERE id = $5 AND lock_fence = $7 AND lock_expires_at = $8
      AND (lock_holder_id = $6 OR (lock_holder_id IS NULL AND $6 IS NULL))
      AND (owner_id = $9 OR (owner_id IS NULL AND $9 IS NULL))
      AND ($10 = 0 OR ($10 = 1 AND lock_expires_at <= now_ms()) OR ($10 = 2 AND lock_expires_at > now_ms()))";

/// Applies `change` if the conversation's lock and owner are still as its row was read, recording
/// its events in the same transaction; `false` when they changed meanwhile (read again, decide
/// again). Runs to the end even if the caller stops waiting, so a half-done batch never holds the
/// writer.
pub async fn change(db: &Db, hub: &EventHub, change: LockChange<'_>) -> Result<bool, sqlx::Error> {
    let bodies = change
        .events
        .iter()
        .map(|body| serde_json::to_string(body).map_err(|e| sqlx::Error::Encode(Box::new(e))))
        .collect::<Result<Vec<_>, _>>()?;
    let applied = match db.backend() {
        Backend::Sqlite => change_on_sqlite(db, &change, bodies).await?,
        Backend::Postgres => change_on_postgres(db, &change, bodies).await?,
    };
    if applied && !change.events.is_empty() {
        hub.notify(change.org_id);
    }
    Ok(applied)
}

async fn change_on_sqlite(
    db: &Db,
    change: &LockChange<'_>,
    bodies: Vec<String>,
) -> Result<bool, sqlx::Error> {
    // Each event takes the org's next number (the events trigger moves the counter on) and is
    // recorded only if the statement before it changed a row: the compare-and-set, then each
    // event in turn.
    let mut sql = format!(
        "BEGIN IMMEDIATE; {} RETURNING lock_fence;",
        db.sql(CHANGE_LOCK)
    );
    for event in 0..bodies.len() {
        let kind = 16 + 3 * event;
        sql.push_str(&format!(
            " INSERT INTO events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
              SELECT $11, (SELECT event_seq + 1 FROM orgs WHERE id = $11), $12, $13, $14, ${kind}, ${}, $15, ${}
              WHERE changes() = 1;",
            kind + 1,
            kind + 2
        ));
    }
    sql.push_str(" COMMIT;");
    let compared = Compared::of(change);
    let shared = (
        change.org_id.to_owned(),
        change.chat_id.as_str().to_owned(),
        change.actor.id.clone(),
        change.actor.name.clone(),
        change.at,
    );
    let events: Vec<(&'static str, i64, String)> = change
        .events
        .iter()
        .zip(bodies)
        .map(|(body, text)| (body.kind(), i64::from(body.in_timeline()), text))
        .collect();
    let mut conn = db.writer().acquire().await?;
    // A task of its own: if the request is dropped mid-way, sqlx stops a batch between statements,
    // which would leave the writer inside the transaction.
    let outcome = tokio::spawn(async move {
        let (org_id, chat_id, actor_id, actor_name, at) = shared;
        let mut query = compared
            .bind(sqlx::query(&sql))
            .bind(org_id)
            .bind(chat_id)
            .bind(actor_id)
            .bind(actor_name)
            .bind(at);
        for (kind, in_timeline, body) in events {
            query = query.bind(kind).bind(in_timeline).bind(body);
        }
        match query.fetch_all(&mut *conn).await {
            Ok(rows) => Ok(!rows.is_empty()),
            Err(err) => {
                // The batch stopped part-way, inside its transaction: end it before the writer
                // serves anyone else. (No transaction open is fine too.)
                let _ = conn.execute("ROLLBACK").await;
                Err(err)
            }
        }
    })
    .await;
    outcome.map_err(|e| sqlx::Error::Protocol(format!("the lock write task failed: {e}")))?
}

async fn change_on_postgres(
    db: &Db,
    change: &LockChange<'_>,
    bodies: Vec<String>,
) -> Result<bool, sqlx::Error> {
    // The events as one JSON array; each body goes in as the JSON text it is stored as.
    let mut events = String::from("[");
    for (i, (body, text)) in change.events.iter().zip(&bodies).enumerate() {
        if i > 0 {
            events.push(',');
        }
        events.push_str(&format!(
            "{{\"kind\":\"{}\",\"in_timeline\":{},\"body\":{text}}}",
            body.kind(),
            i64::from(body.in_timeline())
        ));
    }
    events.push(']');
    let row = Compared::of(change)
        .bind(sqlx::query(
            "SELECT baton_change_lock($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        ))
        .bind(change.org_id)
        .bind(change.chat_id.as_str())
        .bind(change.actor.id.as_str())
        .bind(change.actor.name.as_str())
        .bind(change.at)
        .bind(events)
        .bind(EVENTS_CHANNEL)
        .fetch_one(db.pool())
        .await?;
    row.try_get(0)
}

/// The compare-and-set's ten arguments, owned.
struct Compared {
    to: LockFields,
    conversation_id: String,
    from: LockFields,
    lease: i64,
}

impl Compared {
    fn of(change: &LockChange<'_>) -> Compared {
        Compared {
            to: change.to.clone(),
            conversation_id: change.row.id.clone(),
            from: change.row.lock_fields(),
            lease: change.lease.code(),
        }
    }

    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        query
            .bind(self.to.holder_id)
            .bind(self.to.fence)
            .bind(self.to.expires_at)
            .bind(self.to.owner_id)
            .bind(self.conversation_id)
            .bind(self.from.holder_id)
            .bind(self.from.fence)
            .bind(self.from.expires_at)
            .bind(self.from.owner_id)
            .bind(self.lease)
    }
}

/// Ends the reply lock for good, because whoever holds or last held it may no longer work the
/// chat (it changed hands): the lease ends and the fence advances with no holder, so no write made
/// under an earlier fence counts any more. Records the release if the lock was held.
pub async fn end_lock(
    tx: &mut WriteTx,
    row: &ConversationRow,
    actor: &protocol::api::AgentRef,
) -> ApiResult<()> {
    let now = tx.now();
    sqlx::query(
        "UPDATE conversations SET lock_holder_id = NULL, lock_fence = lock_fence + 1,
             lock_expires_at = CASE WHEN lock_expires_at > $1 THEN $1 ELSE lock_expires_at END
         WHERE id = $2",
    )
    .bind(now)
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    if let (true, Some(holder)) = (row.lock_is_held(now), row.lock_holder()) {
        tx.append(
            Some(&row.chat_id()?),
            Some(actor),
            EventBody::LockReleased {
                holder,
                fence: row.lock_fence,
            },
        )
        .await?;
    }
    Ok(())
}

/// Refuses a write that carries a fence which is no longer the caller's current one.
pub fn check_fence(row: &ConversationRow, auth: &AuthAgent, fence: i64) -> ApiResult<()> {
    if row.lock_fence == fence && row.lock_holder_id.as_deref() == Some(auth.id.as_str()) {
        return Ok(());
    }
    let taken_by = match &row.lock_holder_name {
        Some(name) if row.lock_holder_id.as_deref() != Some(auth.id.as_str()) => {
            format!(" ({name} took the lock since)")
        }
        _ => String::new(),
    };
    Err(ApiError::conflict(
        codes::STALE_FENCE,
        format!(
            "fence {fence} is stale: the conversation's reply lock is at fence {}{taken_by}",
            row.lock_fence
        ),
    ))
}
