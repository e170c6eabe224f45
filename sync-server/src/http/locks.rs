//! The reply lock: at most one agent replies in a conversation at a time.
//!
//! The lock is a lease on the conversation row: holder, fencing token and expiry, judged by the
//! database clock. Taking the lock of an unowned chat claims it; an owned chat can be locked only
//! by its owner or a lead/admin, and a held lock only taken over by a lead/admin with `?force=true`
//! (recorded in the timeline). Every change of holder increments the fence, so a write made under
//! an older fence can be recognised and refused ([`crate::db::locks::check_fence`]).
//!
//! Each request reads the conversation, decides, and writes the change only if the lock and owner
//! are still as read ([`crate::db::locks`]); if someone changed them meanwhile it reads and decides
//! again. (On PostgreSQL a renewal may decide from the row as this instance's last lock write left
//! it, without reading: [`crate::db::locks::LockRows`].) A refusal writes nothing. The rules
//! themselves ([`decide_acquire`], [`decide_release`]) are plain functions of the conversation and
//! the clock.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::api::{LockGrant, Role};
use protocol::codes;
use protocol::events::{AssignReason, EventBody};
use protocol::ChatId;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{AppQuery, AuthAgent, ChatPath};
use super::{AppState, Routes};
use crate::db::conversations::{self, ConversationRow};
use crate::db::locks::{self, Lease, LockChange, LockFields, LockWrite};
use crate::db::{direct, system_now_ms};

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

/// What a lock request decided, given the conversation as it stands and the clock.
enum Step<T> {
    /// Answer with this; nothing to write.
    Answer(T),
    /// Write this change, then answer with `then`.
    Write { write: LockWrite, then: T },
}

/// Reads the conversation, decides, and writes the decided change with its events; if the lock
/// changed between the read and the write, reads and decides again. On SQLite all of it runs on
/// the writer thread in one go.
async fn read_decide_write<T, Decide>(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &ChatId,
    decide: Decide,
) -> ApiResult<T>
where
    T: Send + 'static,
    Decide: Fn(&ConversationRow, i64) -> ApiResult<Step<T>> + Send + 'static,
{
    let actor = auth.agent_ref();
    if let Some(direct) = state.db.direct() {
        let (org_id, chat_id) = (auth.org_id.clone(), chat_id.clone());
        let (answer, wrote) = direct
            .run(move |conn| {
                for _ in 0..ATTEMPTS {
                    let now = system_now_ms();
                    let row = direct::find_conversation(conn, &org_id, chat_id.as_str())
                        .map_err(direct::api_error)?
                        .ok_or(ApiError::NotFound("chat"))?;
                    let (write, then) = match decide(&row, now)? {
                        Step::Answer(answer) => return Ok((answer, false)),
                        Step::Write { write, then } => (write, then),
                    };
                    // The path may name the chat by its alias; events use its own id.
                    let own_id = row.chat_id()?;
                    // Only the clock can have moved since the read (a lease ran out in between).
                    if locks::apply_direct(conn, &org_id, &row, &own_id, &actor, now, &write)
                        .map_err(direct::api_error)?
                    {
                        return Ok((then, true));
                    }
                }
                Err(ApiError::Busy)
            })
            .await?;
        if wrote {
            state.hub.events_committed(&auth.org_id);
        }
        return Ok(answer);
    }
    // A renewal (and the release after it) usually finds the chat as this instance's own last
    // lock write left it: decide from that and let the compare-and-set tell whether it still
    // holds. Anything else (a refusal, nothing to write, a row that changed) is decided again
    // from the row as the database has it.
    let rows = state.db.lock_rows();
    if let Some((read_at, row)) = rows.take(&auth.org_id, chat_id) {
        let now = state.db.now().await?;
        if let Ok(Step::Write { write, then }) = decide(&row, now) {
            if write_decided(state, auth, &actor, read_at, &row, now, write).await? {
                return Ok(then);
            }
        }
    }
    for _ in 0..ATTEMPTS {
        let mut conn = state.db.pool().acquire().await?;
        let read_at = std::time::Instant::now();
        let row = conversations::require(&mut conn, &auth.org_id, chat_id).await?;
        let now = state.db.now_on(&mut conn).await?;
        drop(conn);
        let (write, then) = match decide(&row, now)? {
            Step::Answer(answer) => return Ok(answer),
            Step::Write { write, then } => (write, then),
        };
        if write_decided(state, auth, &actor, read_at, &row, now, write).await? {
            return Ok(then);
        }
    }
    Err(ApiError::Busy)
}

/// PostgreSQL: writes a change decided from `row` (read at `read_at`) if the conversation is still
/// as it was, and then remembers the row as the change left it.
async fn write_decided(
    state: &AppState,
    auth: &AuthAgent,
    actor: &protocol::api::AgentRef,
    read_at: std::time::Instant,
    row: &ConversationRow,
    now: i64,
    write: LockWrite,
) -> ApiResult<bool> {
    let after = row.after_lock_write(&write, auth);
    let change = LockChange {
        org_id: &auth.org_id,
        row,
        chat_id: &row.chat_id()?,
        actor,
        at: now,
        write,
    };
    let applied = locks::change(&state.db, &state.hub, change).await?;
    if applied {
        state.db.lock_rows().remember(&auth.org_id, read_at, after);
    }
    Ok(applied)
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
    let who = auth.clone();
    let person = auth.role != Role::Responder;
    let granted = read_decide_write(&state, &auth, &chat_id, move |row, now| {
        // A person taking a chat the first responder works: see `take_from_responder`.
        if person && row.responder_active > 0 {
            return Ok(Step::Answer(None));
        }
        Ok(match decide_acquire(row, &who, now, ttl_ms, query.force)? {
            Step::Answer(grant) => Step::Answer(Some(grant)),
            Step::Write { write, then } => Step::Write {
                write,
                then: Some(then),
            },
        })
    })
    .await;
    let granted = match granted {
        Ok(None) => take_from_responder(&state, &auth, &chat_id, ttl_ms, query.force).await,
        Ok(Some(grant)) => Ok(grant),
        Err(err) => Err(err),
    };
    match &granted {
        Ok(_) => state.metrics.lock_granted(),
        Err(ApiError::Locked { .. }) => state.metrics.lock_refused(),
        Err(_) => {}
    }
    Ok(Json(granted?))
}

/// A person takes the lock of a chat the first responder works: the lock and the end of the
/// flow commit together, so the flow can never outlive the takeover (and the seat's fence is
/// stale from that instant: whatever it was about to send is refused).
async fn take_from_responder(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &ChatId,
    ttl_ms: i64,
    force: bool,
) -> ApiResult<LockGrant> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let row = conversations::require(tx.conn(), &auth.org_id, chat_id).await?;
    let now = tx.now();
    let grant = match decide_acquire(&row, auth, now, ttl_ms, force)? {
        Step::Answer(grant) => grant,
        Step::Write { write, then } => {
            locks::write_in(&mut tx, &row, &auth.agent_ref(), &write).await?;
            then
        }
    };
    crate::responder::store::human_took_over(&mut tx, &row, &auth.agent_ref()).await?;
    tx.commit(&state.hub).await?;
    Ok(grant)
}

/// Whether and how `auth` may take or renew the lock of `row` at `now`.
fn decide_acquire(
    row: &ConversationRow,
    auth: &AuthAgent,
    now: i64,
    ttl_ms: i64,
    force: bool,
) -> ApiResult<Step<LockGrant>> {
    let held = row.lock_is_held(now);
    let held_by_me = held && row.lock_holder_id.as_deref() == Some(auth.id.as_str());
    let seat = auth.role == Role::Responder;
    // Humans first: a person takes the lock from the first responder's seat at once.
    let held_by_seat = held && row.lock_holder_role.as_deref() == Some(Role::Responder.as_str());
    if held && !held_by_me && !force && (seat || !held_by_seat) {
        return Err(locked(row, now));
    }
    // Renewing is working the chat too: only while the holder may.
    // The seat works a chat its flow answers, owned or not (humans first: a person's lock ends
    // that flow).
    if !(seat && row.responder_active > 0) {
        row.ensure_may_work(auth, "reply in it")?;
    }
    if seat && row.responder_active == 0 {
        return Err(ApiError::conflict(
            codes::RESPONDER_STOPPED,
            "the responder does not work this chat (no flow is under way in it)",
        ));
    }
    let me = auth.agent_ref();
    let expires_at = now + ttl_ms;
    let to = |fence, owner_id| LockFields {
        holder_id: Some(auth.id.clone()),
        fence,
        expires_at,
        owner_id,
    };
    if held_by_me {
        let grant = LockGrant {
            fence: row.lock_fence,
            holder: me.clone(),
            expires_at,
            expires_in_ms: ttl_ms,
            claimed: false,
        };
        // Everyone watching must see the lease go on, or their countdown ends while it is held.
        let renewed = EventBody::LockRenewed {
            holder: me,
            fence: row.lock_fence,
            expires_at,
            ttl_ms,
        };
        return Ok(Step::Write {
            write: LockWrite {
                // A renewal changes nothing but the lease.
                to: to(row.lock_fence, row.owner_id.clone()),
                lease: Lease::Live,
                events: vec![renewed],
            },
            then: grant,
        });
    }
    let fence = row.lock_fence + 1;
    // The first responder's seat works unowned chats without owning them.
    let claimed = row.owner_id.is_none() && auth.role != Role::Responder;
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
    // A lapsed lock is taken only if it is still lapsed when written; a forced takeover and a free
    // lock need only be unchanged.
    let lease = if !held && row.lock_holder_id.is_some() {
        Lease::Expired
    } else {
        Lease::Any
    };
    Ok(Step::Write {
        write: LockWrite {
            // Taking the lock of an unowned chat claims it.
            to: to(
                fence,
                row.owner_id
                    .clone()
                    .or_else(|| claimed.then(|| auth.id.clone())),
            ),
            lease,
            events,
        },
        then: LockGrant {
            fence,
            holder: me,
            expires_at,
            expires_in_ms: ttl_ms,
            claimed,
        },
    })
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
    let who = auth.clone();
    read_decide_write(&state, &auth, &chat_id, move |row, now| {
        decide_release(row, &who, now, query.fence)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `auth` may release the lock of `row` at `now`, and what that writes.
fn decide_release(
    row: &ConversationRow,
    auth: &AuthAgent,
    now: i64,
    fence: Option<i64>,
) -> ApiResult<Step<()>> {
    let mine = row.lock_holder_id.as_deref() == Some(auth.id.as_str())
        && fence.is_none_or(|fence| fence == row.lock_fence);
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
            "you do not hold the reply lock of this chat",
        ));
    }
    if !row.lock_is_held(now) {
        return Ok(Step::Answer(()));
    }
    // The holder stays recorded: a write carrying this fence is still valid until someone else
    // takes the lock.
    let mut to = row.lock_fields();
    to.expires_at = now;
    Ok(Step::Write {
        write: LockWrite {
            to,
            lease: Lease::Live,
            events: vec![EventBody::LockReleased {
                holder: auth.agent_ref(),
                fence: row.lock_fence,
            }],
        },
        then: (),
    })
}
