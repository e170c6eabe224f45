//! Reading events back from the database.

use protocol::api::AgentRef;
use protocol::events::{Event, EventBody};
use protocol::ChatId;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Db;

/// The org's latest sequence number (0 before its first event).
pub async fn latest_seq(db: &Db, org_id: &str) -> Result<i64, sqlx::Error> {
    Ok(
        sqlx::query_scalar("SELECT event_seq FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(db.pool())
            .await?
            .unwrap_or(0),
    )
}

/// Up to `limit` events of the org after `after_seq`, in order.
pub async fn read_after(
    db: &Db,
    org_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query(
        "SELECT seq, chat_id, actor_id, actor_name, at, body FROM events
         WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(org_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(event_from_row)
    .collect()
}

/// Up to `limit` timeline events of one conversation after `after_seq`, in order.
pub async fn read_timeline(
    db: &Db,
    org_id: &str,
    chat_id: &ChatId,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query(
        "SELECT seq, chat_id, actor_id, actor_name, at, body FROM events
         WHERE org_id = $1 AND chat_id = $2 AND in_timeline = 1 AND seq > $3
         ORDER BY seq LIMIT $4",
    )
    .bind(org_id)
    .bind(chat_id.as_str())
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(event_from_row)
    .collect()
}

fn event_from_row(row: &AnyRow) -> Result<Event, sqlx::Error> {
    let decode = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
    let chat_id: Option<String> = row.try_get("chat_id")?;
    let actor_id: Option<String> = row.try_get("actor_id")?;
    let actor_name: Option<String> = row.try_get("actor_name")?;
    let body: String = row.try_get("body")?;
    Ok(Event {
        seq: row.try_get("seq")?,
        chat_id: chat_id
            .map(|id| ChatId::parse(&id))
            .transpose()
            .map_err(|e| decode(Box::new(e)))?,
        actor: actor_id.map(|id| AgentRef {
            id,
            name: actor_name.unwrap_or_default(),
        }),
        at: row.try_get("at")?,
        body: serde_json::from_str::<EventBody>(&body).map_err(|e| decode(Box::new(e)))?,
    })
}
