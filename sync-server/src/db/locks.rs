//! The reply lock's writes: changing it in one step ([`change`], what taking, renewing and
//! releasing use), ending it when its holder may no longer work the chat, and refusing a write made
//! under a stale fence.
//!
//! Taking or renewing the lock is the most frequent write of all (an agent's browser renews it
//! every few seconds while they type), so it is as short as a write can be. On SQLite the whole of
//! it (read, decide, write) runs on the writer thread ([`super::direct`]), where nothing can change
//! the row meanwhile. On PostgreSQL it reads the conversation, decides, and applies the change with
//! its events in one call of `baton_change_lock` (migrations 0005, 0021), which succeeds only if the lock
//! and owner are still as read (a compare-and-set) and locks the org's row first, as every write
//! transaction does. On both, whether the lease has run out is judged again by the database clock
//! as the change is written.
//!
//! On PostgreSQL the read is a round trip of its own, as long as the write. A renewal, and a
//! release after it, decide instead from the conversation as this instance's last lock write on it
//! left it ([`LockRows`]): the compare-and-set checks everything such a decision rests on (the lock,
//! the owner, the chat's id, whether the first responder's flow is under way), so a row that went
//! stale meanwhile writes nothing and the request reads the row and decides again.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use protocol::api::AgentRef;
use protocol::codes;
use protocol::events::EventBody;
use protocol::ChatId;
use sqlx::Row;

use super::conversations::ConversationRow;
use super::{direct, Backend, Db, WriteTx, SQLITE_NOW_MS};
use crate::error::{ApiError, ApiResult};
use crate::events::EventHub;
use crate::http::extract::AuthAgent;

/// A conversation's reply lock and owner: what a lock write compares and sets.
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

/// How long a conversation is decided from as this instance last wrote its lock before it is read
/// again. The compare-and-set guards every decision; only the names a refusal or an event quotes
/// (the owner's, the holder's) come from the last read, and this bounds how old they can be.
const REMEMBERED_FOR: Duration = Duration::from_secs(60);

/// How many conversations are remembered at most; past that all are forgotten (each then costs
/// one read to learn again).
const REMEMBERED_AT_MOST: usize = 10_000;

/// PostgreSQL: conversations as this instance's own lock writes left them, keyed by org and chat
/// id, with when each was last read from the database. Each is taken out while a request decides
/// from it, so two requests for one chat never both start from it.
#[derive(Debug, Default)]
pub struct LockRows {
    rows: Mutex<HashMap<(String, String), (Instant, ConversationRow)>>,
}

impl LockRows {
    /// The conversation `chat_id` names, if this instance wrote its lock last less than
    /// [`REMEMBERED_FOR`] after reading it; forgotten until [`LockRows::remember`]ed again.
    pub fn take(&self, org_id: &str, chat_id: &ChatId) -> Option<(Instant, ConversationRow)> {
        let key = (org_id.to_owned(), chat_id.as_str().to_owned());
        self.lock()
            .remove(&key)
            .filter(|(read_at, _)| read_at.elapsed() < REMEMBERED_FOR)
    }

    /// Remembers `row` as a lock write left it, read from the database at `read_at`. Only under
    /// its own chat id: an alias may come to name another chat.
    pub fn remember(&self, org_id: &str, read_at: Instant, row: ConversationRow) {
        let mut rows = self.lock();
        if rows.len() >= REMEMBERED_AT_MOST {
            rows.clear();
        }
        rows.insert((org_id.to_owned(), row.chat_id.clone()), (read_at, row));
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), (Instant, ConversationRow)>> {
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ConversationRow {
    /// This row as `write`, made by `auth`, leaves it.
    pub fn after_lock_write(&self, write: &LockWrite, auth: &AuthAgent) -> ConversationRow {
        let mut row = self.clone();
        let to = &write.to;
        if to.holder_id != row.lock_holder_id {
            let mine = to.holder_id.as_deref() == Some(auth.id.as_str());
            row.lock_holder_name = mine.then(|| auth.name.clone());
            row.lock_holder_role = mine.then(|| auth.role.as_str().to_owned());
        }
        if to.owner_id != row.owner_id {
            let mine = to.owner_id.as_deref() == Some(auth.id.as_str());
            row.owner_name = mine.then(|| auth.name.clone());
        }
        row.lock_holder_id = to.holder_id.clone();
        row.lock_fence = to.fence;
        row.lock_expires_at = to.expires_at;
        row.owner_id = to.owner_id.clone();
        row
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

/// A decided change of the lock: the fields it sets, the lease it requires, the events it records.
#[derive(Debug, Clone)]
pub struct LockWrite {
    pub to: LockFields,
    pub lease: Lease,
    pub events: Vec<EventBody>,
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
    pub write: LockWrite,
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
/// again). Runs to the end even if the caller stops waiting.
pub async fn change(db: &Db, hub: &EventHub, change: LockChange<'_>) -> ApiResult<bool> {
    let applied = match db.direct() {
        Some(direct) => {
            let (org_id, row, chat_id, actor, at, write) = (
                change.org_id.to_owned(),
                change.row.clone(),
                change.chat_id.clone(),
                change.actor.clone(),
                change.at,
                change.write.clone(),
            );
            direct
                .run(move |conn| {
                    apply_direct(conn, &org_id, &row, &chat_id, &actor, at, &write)
                        .map_err(direct::api_error)
                })
                .await?
        }
        None => change_on_postgres(db, &change).await?,
    };
    if applied && !change.write.events.is_empty() {
        hub.events_committed(change.org_id);
    }
    Ok(applied)
}

/// [`change`] on the writer thread's connection (SQLite), inside its transaction.
pub fn apply_direct(
    conn: &rusqlite::Connection,
    org_id: &str,
    row: &ConversationRow,
    chat_id: &ChatId,
    actor: &AgentRef,
    at: i64,
    write: &LockWrite,
) -> rusqlite::Result<bool> {
    let from = row.lock_fields();
    let to = &write.to;
    // SQLite's spelling of the shared statement, made once.
    static CHANGE_LOCK_SQLITE: LazyLock<String> =
        LazyLock::new(|| CHANGE_LOCK.replace("now_ms()", SQLITE_NOW_MS));
    let changed = direct::prepare_numbered(
        conn,
        &CHANGE_LOCK_SQLITE,
        &[
            &to.holder_id,
            &to.fence,
            &to.expires_at,
            &to.owner_id,
            &row.id,
            &from.holder_id,
            &from.fence,
            &from.expires_at,
            &from.owner_id,
            &write.lease.code(),
        ],
    )?
    .raw_execute()?;
    if changed != 1 {
        return Ok(false);
    }
    for body in &write.events {
        direct::record_event(conn, org_id, Some(chat_id.as_str()), Some(actor), at, body)?;
    }
    Ok(true)
}

async fn change_on_postgres(db: &Db, change: &LockChange<'_>) -> Result<bool, sqlx::Error> {
    let write = &change.write;
    debug_assert_eq!(db.backend(), Backend::Postgres);
    // The events as one JSON array; each body goes in as the JSON text it is stored as.
    let mut events = String::from("[");
    for (i, body) in write.events.iter().enumerate() {
        let text = serde_json::to_string(body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
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
    let from = change.row.lock_fields();
    let to = &write.to;
    let row = sqlx::query(
        "SELECT baton_change_lock($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(to.holder_id.as_deref())
    .bind(to.fence)
    .bind(to.expires_at)
    .bind(to.owner_id.as_deref())
    .bind(change.row.id.as_str())
    .bind(from.holder_id)
    .bind(from.fence)
    .bind(from.expires_at)
    .bind(from.owner_id)
    .bind(write.lease.code())
    .bind(change.org_id)
    .bind(change.chat_id.as_str())
    .bind(change.actor.id.as_str())
    .bind(change.actor.name.as_str())
    .bind(change.at)
    .bind(events)
    .bind(change.row.responder_active)
    .fetch_one(db.pool())
    .await?;
    row.try_get(0)
}

/// Writes a decided lock change inside the org's write transaction (which serialises it with every
/// other write of the org, so the row is as read): for a takeover that must commit together with
/// other writes (a person ending the first responder's flow).
pub async fn write_in(
    tx: &mut WriteTx,
    row: &ConversationRow,
    actor: &AgentRef,
    write: &LockWrite,
) -> ApiResult<()> {
    let to = &write.to;
    sqlx::query(
        "UPDATE conversations SET lock_holder_id = $1, lock_fence = $2, lock_expires_at = $3,
             owner_id = $4
         WHERE id = $5",
    )
    .bind(to.holder_id.as_deref())
    .bind(to.fence)
    .bind(to.expires_at)
    .bind(to.owner_id.as_deref())
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    let chat_id = row.chat_id()?;
    for body in &write.events {
        tx.append(Some(&chat_id), Some(actor), body.clone()).await?;
    }
    Ok(())
}

/// Ends the reply lock for good, because whoever holds or last held it may no longer work the
/// chat (it changed hands; `actor` is `None` when routing moved it): the lease ends and the fence advances with no holder, so no write made
/// under an earlier fence counts any more. Records the release if the lock was held.
pub async fn end_lock(
    tx: &mut WriteTx,
    row: &ConversationRow,
    actor: Option<&protocol::api::AgentRef>,
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
            actor,
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
            "fence {fence} is stale: the chat's reply lock is at fence {}{taken_by}",
            row.lock_fence
        ),
    ))
}
