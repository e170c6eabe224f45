//! Handoffs: recording a new one (a person's or routing's), and reading one by id, a
//! conversation's unanswered one, the chats that have one.

use protocol::api::{AgentRef, Handoff, HandoffStatus};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::error::ApiResult;

pub const SELECT_HANDOFF: &str = "SELECT h.id, c.chat_id, h.from_agent_id, fa.name AS from_name,
        h.to_agent_id, ta.name AS to_name, h.by_agent_id, ba.name AS by_name, h.done, h.promised,
        h.next_step, h.status, h.decline_reason, h.created_at, h.resolved_at
    FROM handoffs h
    JOIN conversations c ON c.id = h.conversation_id
    LEFT JOIN agents fa ON fa.id = h.from_agent_id
    JOIN agents ta ON ta.id = h.to_agent_id
    JOIN agents ba ON ba.id = h.by_agent_id";

pub fn handoff_from_row(row: &AnyRow) -> ApiResult<Handoff> {
    let status: String = row.try_get("status")?;
    let chat_id: String = row.try_get("chat_id")?;
    let from_id: Option<String> = row.try_get("from_agent_id")?;
    Ok(Handoff {
        id: row.try_get("id")?,
        chat_id: protocol::ChatId::parse(&chat_id)
            .map_err(|e| anyhow::anyhow!("stored chat id {chat_id:?}: {e}"))?,
        from: match from_id {
            Some(id) => Some(AgentRef {
                id,
                name: row
                    .try_get::<Option<String>, _>("from_name")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
        to: AgentRef {
            id: row.try_get("to_agent_id")?,
            name: row.try_get("to_name")?,
        },
        by: AgentRef {
            id: row.try_get("by_agent_id")?,
            name: row.try_get("by_name")?,
        },
        done: row.try_get("done")?,
        promised: row.try_get("promised")?,
        next_step: row.try_get("next_step")?,
        status: match status.as_str() {
            "pending" => HandoffStatus::Pending,
            "accepted" => HandoffStatus::Accepted,
            "declined" => HandoffStatus::Declined,
            "superseded" => HandoffStatus::Superseded,
            other => return Err(anyhow::anyhow!("unknown handoff status {other:?}").into()),
        },
        decline_reason: row.try_get("decline_reason")?,
        created_at: row.try_get("created_at")?,
        resolved_at: row.try_get("resolved_at")?,
    })
}

/// The conversation's unanswered handoff, if any.
pub async fn pending_for_conversation(
    conn: &mut AnyConnection,
    conversation_id: &str,
) -> ApiResult<Option<Handoff>> {
    let row = sqlx::query(&format!(
        "{SELECT_HANDOFF} WHERE h.conversation_id = $1 AND h.status = 'pending'"
    ))
    .bind(conversation_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(handoff_from_row).transpose()
}

/// The conversation's latest accepted handoff, if any.
pub async fn latest_accepted_for_conversation(
    conn: &mut AnyConnection,
    conversation_id: &str,
) -> ApiResult<Option<Handoff>> {
    let row = sqlx::query(&format!(
        "{SELECT_HANDOFF} WHERE h.conversation_id = $1 AND h.status = 'accepted'
         ORDER BY h.resolved_at DESC, h.created_at DESC LIMIT 1"
    ))
    .bind(conversation_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(handoff_from_row).transpose()
}

/// Ids of the org's conversations that have an unanswered handoff.
pub async fn conversations_with_pending(pool: &AnyPool, org_id: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT conversation_id FROM handoffs WHERE org_id = $1 AND status = 'pending'",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await?)
}

pub async fn by_id(conn: &mut AnyConnection, id: &str) -> ApiResult<Handoff> {
    let row = sqlx::query(&format!("{SELECT_HANDOFF} WHERE h.id = $1"))
        .bind(id)
        .fetch_one(conn)
        .await?;
    handoff_from_row(&row)
}

/// A handoff to record: who hands the chat (`from`, `None` when nobody owned it), to whom, who
/// made it, and the three things the receiver needs.
pub struct NewHandoff<'a> {
    pub org_id: &'a str,
    pub conversation_id: &'a str,
    pub from_agent_id: Option<&'a str>,
    pub to_agent_id: &'a str,
    pub by_agent_id: &'a str,
    pub done: &'a str,
    pub promised: &'a str,
    pub next_step: &'a str,
    pub at: i64,
}

/// Records a pending handoff, overtaking any the chat still had waiting; returns its id.
pub async fn insert(conn: &mut AnyConnection, new: NewHandoff<'_>) -> ApiResult<String> {
    sqlx::query(
        "UPDATE handoffs SET status = 'superseded', resolved_at = $1
         WHERE conversation_id = $2 AND status = 'pending'",
    )
    .bind(new.at)
    .bind(new.conversation_id)
    .execute(&mut *conn)
    .await?;
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO handoffs (id, org_id, conversation_id, from_agent_id, to_agent_id, by_agent_id,
                               done, promised, next_step, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10)",
    )
    .bind(&id)
    .bind(new.org_id)
    .bind(new.conversation_id)
    .bind(new.from_agent_id)
    .bind(new.to_agent_id)
    .bind(new.by_agent_id)
    .bind(new.done)
    .bind(new.promised)
    .bind(new.next_step)
    .bind(new.at)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Marks the chat's waiting handoff (if any) overtaken: the chat changed hands another way.
pub async fn supersede_pending(
    conn: &mut AnyConnection,
    conversation_id: &str,
    at: i64,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE handoffs SET status = 'superseded', resolved_at = $1
         WHERE conversation_id = $2 AND status = 'pending'",
    )
    .bind(at)
    .bind(conversation_id)
    .execute(conn)
    .await?;
    Ok(())
}
