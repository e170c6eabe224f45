//! Reading reminders: one by id, a conversation's open ones.

use protocol::api::{AgentRef, Reminder};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::error::{ApiError, ApiResult};

pub const SELECT_REMINDER: &str = "SELECT r.id, c.chat_id, r.text, r.due_at, r.for_agent_id,
        fa.name AS for_agent_name, r.created_by, cb.name AS created_by_name, r.created_at,
        r.fired_at, r.done_at
    FROM reminders r
    JOIN conversations c ON c.id = r.conversation_id
    JOIN agents fa ON fa.id = r.for_agent_id
    JOIN agents cb ON cb.id = r.created_by";

pub fn reminder_from_row(row: &AnyRow) -> ApiResult<Reminder> {
    let chat_id: String = row.try_get("chat_id")?;
    Ok(Reminder {
        id: row.try_get("id")?,
        chat_id: protocol::ChatId::parse(&chat_id)
            .map_err(|e| anyhow::anyhow!("stored chat id {chat_id:?}: {e}"))?,
        text: row.try_get("text")?,
        due_at: row.try_get("due_at")?,
        for_agent: AgentRef {
            id: row.try_get("for_agent_id")?,
            name: row.try_get("for_agent_name")?,
        },
        created_by: AgentRef {
            id: row.try_get("created_by")?,
            name: row.try_get("created_by_name")?,
        },
        created_at: row.try_get("created_at")?,
        fired_at: row.try_get("fired_at")?,
        done_at: row.try_get("done_at")?,
    })
}

/// A conversation's reminders that are not done, soonest first.
pub async fn open_for_conversation(
    conn: &mut AnyConnection,
    conversation_id: &str,
) -> ApiResult<Vec<Reminder>> {
    sqlx::query(&format!(
        "{SELECT_REMINDER} WHERE r.conversation_id = $1 AND r.done_at IS NULL ORDER BY r.due_at, r.id"
    ))
    .bind(conversation_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(reminder_from_row)
    .collect()
}

/// A reminder of the org by id; another org's is not found.
pub async fn find(conn: &mut AnyConnection, org_id: &str, id: &str) -> ApiResult<Reminder> {
    let row = sqlx::query(&format!(
        "{SELECT_REMINDER} WHERE r.id = $1 AND r.org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?
    .ok_or(ApiError::NotFound("reminder"))?;
    reminder_from_row(&row)
}
