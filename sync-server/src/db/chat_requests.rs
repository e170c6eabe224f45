//! Reading requests for a chat: one by id, and a conversation's unanswered ones.

use protocol::api::{AgentRef, ChatRequest, ChatRequestStatus};
use protocol::events::EventBody;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::WriteTx;
use crate::error::ApiResult;

const SELECT_CHAT_REQUEST: &str = "SELECT r.id, r.org_id, r.conversation_id, c.chat_id,
        r.by_agent_id, ba.name AS by_name, r.message, r.status, r.created_at,
        r.answered_by_id, aa.name AS answered_by_name, r.answered_at
    FROM chat_requests r
    JOIN conversations c ON c.id = r.conversation_id
    JOIN agents ba ON ba.id = r.by_agent_id
    LEFT JOIN agents aa ON aa.id = r.answered_by_id";

/// A stored request and the conversation it is about.
pub struct ChatRequestRow {
    pub conversation_id: String,
    pub request: ChatRequest,
}

fn from_row(row: &AnyRow) -> ApiResult<ChatRequestRow> {
    let status: String = row.try_get("status")?;
    let chat_id: String = row.try_get("chat_id")?;
    let answered_by_id: Option<String> = row.try_get("answered_by_id")?;
    let request = ChatRequest {
        id: row.try_get("id")?,
        chat_id: protocol::ChatId::parse(&chat_id)
            .map_err(|e| anyhow::anyhow!("stored chat id {chat_id:?}: {e}"))?,
        by: AgentRef {
            id: row.try_get("by_agent_id")?,
            name: row.try_get("by_name")?,
        },
        message: row.try_get("message")?,
        status: match status.as_str() {
            "pending" => ChatRequestStatus::Pending,
            "granted" => ChatRequestStatus::Granted,
            "declined" => ChatRequestStatus::Declined,
            other => return Err(anyhow::anyhow!("unknown chat request status {other:?}").into()),
        },
        created_at: row.try_get("created_at")?,
        answered_by: match answered_by_id {
            Some(id) => Some(AgentRef {
                id,
                name: row
                    .try_get::<Option<String>, _>("answered_by_name")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
        answered_at: row.try_get("answered_at")?,
    };
    Ok(ChatRequestRow {
        conversation_id: row.try_get("conversation_id")?,
        request,
    })
}

/// The org's request with this id, if there is one.
pub async fn find(
    conn: &mut AnyConnection,
    org_id: &str,
    id: &str,
) -> ApiResult<Option<ChatRequestRow>> {
    let row = sqlx::query(&format!(
        "{SELECT_CHAT_REQUEST} WHERE r.id = $1 AND r.org_id = $2"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The conversation's unanswered requests from anyone but `owner_id`, oldest first.
pub async fn pending_for_conversation(
    conn: &mut AnyConnection,
    conversation_id: &str,
    owner_id: &str,
) -> ApiResult<Vec<ChatRequest>> {
    let rows = sqlx::query(&format!(
        "{SELECT_CHAT_REQUEST} WHERE r.conversation_id = $1 AND r.status = 'pending'
             AND r.by_agent_id <> $2
         ORDER BY r.created_at, r.id"
    ))
    .bind(conversation_id)
    .bind(owner_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| from_row(row).map(|r| r.request))
        .collect()
}

/// The requester's unanswered request for the conversation, if any.
pub async fn pending_by(
    conn: &mut AnyConnection,
    conversation_id: &str,
    by_agent_id: &str,
) -> ApiResult<Option<ChatRequest>> {
    let row = sqlx::query(&format!(
        "{SELECT_CHAT_REQUEST} WHERE r.conversation_id = $1 AND r.status = 'pending'
             AND r.by_agent_id = $2"
    ))
    .bind(conversation_id)
    .bind(by_agent_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref()
        .map(|r| from_row(r).map(|r| r.request))
        .transpose()
}

/// Records `by`'s answer to a pending request (granted or declined) with its
/// `chat.request_answered` event, and returns the request as it now stands. The caller moves the
/// chat when it is granted.
pub async fn answer(
    tx: &mut WriteTx,
    request: ChatRequest,
    by: &AgentRef,
    granted: bool,
) -> ApiResult<ChatRequest> {
    let now = tx.now();
    let status = if granted {
        ChatRequestStatus::Granted
    } else {
        ChatRequestStatus::Declined
    };
    sqlx::query(
        "UPDATE chat_requests SET status = $1, answered_by_id = $2, answered_at = $3 WHERE id = $4",
    )
    .bind(if granted { "granted" } else { "declined" })
    .bind(&by.id)
    .bind(now)
    .bind(&request.id)
    .execute(tx.conn())
    .await?;
    let answered = ChatRequest {
        status,
        answered_by: Some(by.clone()),
        answered_at: Some(now),
        ..request
    };
    tx.append(
        Some(&answered.chat_id),
        Some(by),
        EventBody::ChatRequestAnswered(answered.clone()),
    )
    .await?;
    Ok(answered)
}
