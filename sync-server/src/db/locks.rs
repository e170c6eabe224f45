//! The reply lock's rules that other writes share: ending a lock when its holder may no longer work
//! the chat, and refusing a write made under a stale fence.

use protocol::codes;
use protocol::events::EventBody;

use super::conversations::ConversationRow;
use super::WriteTx;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AuthAgent;

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
