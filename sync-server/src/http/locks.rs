//! The reply lock: at most one agent replies in a conversation at a time.
//!
//! The lock is a lease on the conversation row: holder, fencing token and expiry, all judged by the
//! database clock inside a write transaction that serialises per org. Taking the lock of an unowned
//! chat claims it; an owned chat can be locked only by its owner or a lead/admin, and a held lock
//! only taken over by a lead/admin with `?force=true` (recorded in the timeline). Every change of
//! holder increments the fence, so a write made under an older fence can be recognised and refused
//! ([`check_fence`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::api::LockGrant;
use protocol::codes;
use protocol::events::{AssignReason, EventBody};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{AppQuery, AuthAgent, ChatPath};
use super::{AppState, Routes};
use crate::db::conversations::{self, ConversationRow};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/lock", acquire_lock)
        .delete("/conversations/{chat_id}/lock", release_lock)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcquireQuery {
    #[serde(default)]
    force: bool,
}

/// Takes the lock, or renews it (same fence) when the caller already holds it.
async fn acquire_lock(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppQuery(query): AppQuery<AcquireQuery>,
) -> ApiResult<Json<LockGrant>> {
    if query.force {
        auth.require_supervisor("take over a reply lock")?;
    }
    let ttl_ms = i64::try_from(state.config.lock_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    let held = row.lock_is_held(now);
    let held_by_me = held && row.lock_holder_id.as_deref() == Some(auth.id.as_str());
    let expires_at = now + ttl_ms;
    let me = auth.agent_ref();

    if held_by_me {
        // Renewing is working the chat too: only while the holder may.
        row.ensure_may_work(&auth, "reply in it")?;
        sqlx::query("UPDATE conversations SET lock_expires_at = $1 WHERE id = $2")
            .bind(expires_at)
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        // Everyone watching must see the lease go on, or their countdown ends while it is held.
        tx.append(
            Some(&chat_id),
            Some(&me),
            EventBody::LockRenewed {
                holder: me.clone(),
                fence: row.lock_fence,
                expires_at,
                ttl_ms,
            },
        )
        .await?;
        tx.commit(&state.hub).await?;
        state.metrics.lock_granted();
        return Ok(Json(LockGrant {
            fence: row.lock_fence,
            holder: me,
            expires_at,
            expires_in_ms: ttl_ms,
            claimed: false,
        }));
    }
    if held && !query.force {
        state.metrics.lock_refused();
        return Err(locked(&row, now));
    }
    row.ensure_may_work(&auth, "reply in it")?;

    let fence = row.lock_fence + 1;
    let claimed = row.owner_id.is_none();
    let updated = sqlx::query(
        "UPDATE conversations
         SET lock_holder_id = $1, lock_fence = $2, lock_expires_at = $3,
             owner_id = COALESCE(owner_id, $1)
         WHERE id = $4 AND lock_fence = $5",
    )
    .bind(&auth.id)
    .bind(fence)
    .bind(expires_at)
    .bind(&row.id)
    .bind(row.lock_fence)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() != 1 {
        // Cannot happen while write transactions serialise per org; refuse rather than guess.
        return Err(
            anyhow::anyhow!("reply lock of {chat_id} changed under a write transaction").into(),
        );
    }
    if claimed {
        tx.append(
            Some(&chat_id),
            Some(&me),
            EventBody::Assigned {
                owner: Some(me.clone()),
                previous_owner: None,
                reason: AssignReason::Claim,
            },
        )
        .await?;
    }
    let body = if held {
        EventBody::LockForced {
            holder: me.clone(),
            previous_holder: row.lock_holder(),
            fence,
            expires_at,
            ttl_ms,
        }
    } else {
        EventBody::LockAcquired {
            holder: me.clone(),
            fence,
            expires_at,
            ttl_ms,
        }
    };
    tx.append(Some(&chat_id), Some(&me), body).await?;
    tx.commit(&state.hub).await?;
    state.metrics.lock_granted();
    Ok(Json(LockGrant {
        fence,
        holder: me,
        expires_at,
        expires_in_ms: ttl_ms,
        claimed,
    }))
}

/// The 409 for a lock someone else holds.
fn locked(row: &ConversationRow, now: i64) -> ApiError {
    match row.lock(now) {
        Some(lock) => ApiError::Locked {
            holder: lock.holder,
            expires_at: lock.expires_at,
            expires_in_ms: lock.expires_in_ms,
        },
        None => anyhow::anyhow!("lock reported held without a holder").into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseQuery {
    /// When given, release only if this is still the current fence.
    fence: Option<i64>,
}

/// Releases the caller's lock. Releasing a lock that already expired (and nobody took) is fine.
async fn release_lock(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppQuery(query): AppQuery<ReleaseQuery>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    let mine = row.lock_holder_id.as_deref() == Some(auth.id.as_str())
        && query.fence.is_none_or(|fence| fence == row.lock_fence);
    if !mine {
        if row.lock_is_held(now) {
            return Err(ApiError::conflict(
                codes::NOT_LOCK_HOLDER,
                format!(
                    "{} holds the reply lock now, not you",
                    row.lock_holder_name.as_deref().unwrap_or("another agent")
                ),
            ));
        }
        return Err(ApiError::conflict(
            codes::NOT_LOCK_HOLDER,
            "you do not hold the reply lock of this conversation",
        ));
    }
    if row.lock_is_held(now) {
        // The holder stays recorded: a write carrying this fence is still valid until someone
        // else takes the lock.
        sqlx::query("UPDATE conversations SET lock_expires_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        tx.append(
            Some(&chat_id),
            Some(&auth.agent_ref()),
            protocol::events::EventBody::LockReleased {
                holder: auth.agent_ref(),
                fence: row.lock_fence,
            },
        )
        .await?;
    }
    tx.commit(&state.hub).await?;
    Ok(StatusCode::NO_CONTENT)
}
