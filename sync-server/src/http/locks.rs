//! The reply lock: at most one agent replies in a conversation at a time.
//!
//! The lock is a lease on the conversation row: holder, fencing token and expiry, judged by the
//! database clock. Taking the lock of an unowned chat claims it; an owned chat can be locked only
//! by its owner or a lead/admin, and a held lock only taken over by a lead/admin with `?force=true`
//! (recorded in the timeline). Every change of holder increments the fence, so a write made under
//! an older fence can be recognised and refused ([`crate::db::locks::check_fence`]).
//!
//! Each request reads the conversation, decides, and writes the change only if the lock and owner
//! are still as read ([`crate::db::locks::change`]); if someone changed them meanwhile it reads and
//! decides again. A refusal writes nothing.

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
use crate::db::locks::{self, Lease, LockChange, LockFields};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/lock", acquire_lock)
        .delete("/conversations/{chat_id}/lock", release_lock)
}

/// How many times a request reads and decides again when the lock changed under it before it
/// answers 503. Each retry means someone else's change landed, so this bounds only a storm.
const ATTEMPTS: usize = 32;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcquireQuery {
    #[serde(default)]
    force: bool,
}

/// The conversation as it stands and the database clock now.
async fn read(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &protocol::ChatId,
) -> ApiResult<(ConversationRow, i64)> {
    let mut conn = state.db.pool().acquire().await?;
    let row = conversations::require(&mut conn, &auth.org_id, chat_id).await?;
    let now = state.db.now_on(&mut conn).await?;
    Ok((row, now))
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
    let me = auth.agent_ref();
    for _ in 0..ATTEMPTS {
        let (row, now) = read(&state, &auth, &chat_id).await?;
        // The path may name the chat by its alias; events and replies use its own id.
        let chat_id = row.chat_id()?;
        let held = row.lock_is_held(now);
        let held_by_me = held && row.lock_holder_id.as_deref() == Some(auth.id.as_str());
        let expires_at = now + ttl_ms;
        if held && !held_by_me && !query.force {
            state.metrics.lock_refused();
            return Err(locked(&row, now));
        }
        // Renewing is working the chat too: only while the holder may.
        row.ensure_may_work(&auth, "reply in it")?;
        let (grant, lease, events) = if held_by_me {
            let grant = LockGrant {
                fence: row.lock_fence,
                holder: me.clone(),
                expires_at,
                expires_in_ms: ttl_ms,
                claimed: false,
            };
            // Everyone watching must see the lease go on, or their countdown ends while it is held.
            let renewed = EventBody::LockRenewed {
                holder: me.clone(),
                fence: row.lock_fence,
                expires_at,
                ttl_ms,
            };
            (grant, Lease::Live, vec![renewed])
        } else {
            let fence = row.lock_fence + 1;
            let claimed = row.owner_id.is_none();
            let mut events = Vec::new();
            if claimed {
                events.push(EventBody::Assigned {
                    owner: Some(me.clone()),
                    previous_owner: None,
                    reason: AssignReason::Claim,
                });
            }
            events.push(if held {
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
            });
            // A lapsed lock is taken only if it is still lapsed when written; a forced takeover
            // and a free lock need only be unchanged.
            let lease = if !held && row.lock_holder_id.is_some() {
                Lease::Expired
            } else {
                Lease::Any
            };
            let grant = LockGrant {
                fence,
                holder: me.clone(),
                expires_at,
                expires_in_ms: ttl_ms,
                claimed,
            };
            (grant, lease, events)
        };
        let to = LockFields {
            holder_id: Some(auth.id.clone()),
            fence: grant.fence,
            expires_at,
            owner_id: row.owner_id.clone().or_else(|| Some(auth.id.clone())),
        };
        let change = LockChange {
            org_id: &auth.org_id,
            row: &row,
            chat_id: &chat_id,
            actor: &me,
            at: now,
            to,
            lease,
            events,
        };
        if locks::change(&state.db, &state.hub, change).await? {
            state.metrics.lock_granted();
            return Ok(Json(grant));
        }
    }
    Err(ApiError::Busy)
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
    for _ in 0..ATTEMPTS {
        let (row, now) = read(&state, &auth, &chat_id).await?;
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
        if !row.lock_is_held(now) {
            return Ok(StatusCode::NO_CONTENT);
        }
        // The holder stays recorded: a write carrying this fence is still valid until someone
        // else takes the lock.
        let mut to = row.lock_fields();
        to.expires_at = now;
        let me = auth.agent_ref();
        let change = LockChange {
            org_id: &auth.org_id,
            row: &row,
            chat_id: &chat_id,
            actor: &me,
            at: now,
            to,
            lease: Lease::Live,
            events: vec![EventBody::LockReleased {
                holder: me.clone(),
                fence: row.lock_fence,
            }],
        };
        if locks::change(&state.db, &state.hub, change).await? {
            return Ok(StatusCode::NO_CONTENT);
        }
    }
    Err(ApiError::Busy)
}
