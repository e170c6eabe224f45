//! Handoffs: passing a conversation to another agent with a structured note.
//!
//! The receiver owns the chat at once (so nobody else picks it up meanwhile) and sees the handoff
//! as pending until they accept it; declining returns the chat to the sender, or to the queue when
//! it came from there. A new handoff of the same chat supersedes an unanswered one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use protocol::api::{AgentRef, DeclineRequest, Handoff, HandoffRequest};
use protocol::codes;
use protocol::events::{AssignReason, EventBody};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, ChatPath};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::{AppState, Routes};
use crate::db::handoffs::{by_id as handoff_by_id, pending_for_conversation};
use crate::db::{agents, chat_requests, conversations, locks};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/handoff", create_handoff)
        .post("/conversations/{chat_id}/handoff/accept", accept_handoff)
        .post("/conversations/{chat_id}/handoff/decline", decline_handoff)
}

/// Longest text of each handoff field.
const MAX_FIELD_CHARS: usize = 2000;

fn required_text(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::validation(format!(
            "{field} is required: the receiver needs it to carry on"
        )));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(ApiError::validation(format!(
            "{field} must be at most {MAX_FIELD_CHARS} characters"
        )));
    }
    Ok(value.to_owned())
}

async fn create_handoff(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    idempotency: IdempotencyKey,
    AppJson(request): AppJson<HandoffRequest>,
) -> ApiResult<Response> {
    let done = required_text("done", &request.done)?;
    let promised = required_text("promised", &request.promised)?;
    let next_step = required_text("next_step", &request.next_step)?;
    let request_fingerprint = fingerprint(&format!("handoff {chat_id}"), &request)?;

    let mut tx = state.db.begin_write(&auth.org_id).await?;
    if let Some(replay) = idempotency
        .replay(tx.conn(), &auth.id, &request_fingerprint)
        .await?
    {
        return Ok(replay);
    }
    let now = tx.now();
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    match &row.owner_id {
        Some(_) => row.ensure_may_work(&auth, "hand it off")?,
        None => auth.require_supervisor("assign a chat from the queue; claim it instead")?,
    }
    if let Some(fence) = request.fence {
        locks::check_fence(&row, &auth, fence)?;
    }
    let receiver = agents::find_person(tx.conn(), &auth.org_id, &request.to_agent_id, "").await?;
    if row.owner_id.as_deref() == Some(receiver.id.as_str()) {
        return Err(ApiError::validation(format!(
            "{} already owns this conversation",
            receiver.name
        )));
    }

    let handoff_id = crate::db::handoffs::insert(
        tx.conn(),
        crate::db::handoffs::NewHandoff {
            org_id: &auth.org_id,
            conversation_id: &row.id,
            from_agent_id: row.owner_id.as_deref(),
            to_agent_id: &receiver.id,
            by_agent_id: &auth.id,
            done: &done,
            promised: &promised,
            next_step: &next_step,
            at: now,
        },
    )
    .await?;
    let me = auth.agent_ref();
    let receiver_ref = AgentRef {
        id: receiver.id.clone(),
        name: receiver.name.clone(),
    };
    // The receiver must be able to reply at once, and nothing sent under the old lock counts.
    sqlx::query("UPDATE conversations SET owner_id = $1 WHERE id = $2")
        .bind(&receiver.id)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    crate::db::routing::moved_by_hand(tx.conn(), &row.id).await?;
    locks::end_lock(&mut tx, &row, Some(&me)).await?;
    if row.responder_active > 0 {
        // A person gave it to a person: the first responder stops there.
        crate::responder::store::human_took_over(&mut tx, &row, &me).await?;
    }
    // Handing the chat to a colleague who asked for it (with a note) answers their request.
    if let Some(asked) = chat_requests::pending_by(tx.conn(), &row.id, &receiver.id).await? {
        chat_requests::answer(&mut tx, asked, &me, true).await?;
    }
    let handoff = handoff_by_id(tx.conn(), &handoff_id).await?;
    tx.append(
        Some(&chat_id),
        Some(&me),
        EventBody::HandoffCreated(handoff.clone()),
    )
    .await?;
    tx.append(
        Some(&chat_id),
        Some(&me),
        EventBody::Assigned {
            owner: Some(receiver_ref),
            previous_owner: row.owner(),
            reason: AssignReason::Handoff,
        },
    )
    .await?;
    let response = idempotency
        .commit(
            tx,
            &state,
            &auth.id,
            &request_fingerprint,
            StatusCode::CREATED,
            &handoff,
        )
        .await?;
    // The sender has one chat fewer: they may take a queued one.
    state.routing.wake();
    Ok(response)
}

/// Loads the pending handoff and checks the caller is its receiver.
async fn pending_for_receiver(
    tx: &mut crate::db::WriteTx,
    auth: &AuthAgent,
    chat_id: &protocol::ChatId,
) -> ApiResult<(conversations::ConversationRow, Handoff)> {
    let row = conversations::require(tx.conn(), &auth.org_id, chat_id).await?;
    let handoff = pending_for_conversation(tx.conn(), &row.id)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                codes::NO_PENDING_HANDOFF,
                "this chat has no handoff waiting for an answer",
            )
        })?;
    if handoff.to.id != auth.id {
        return Err(ApiError::forbidden(format!(
            "this handoff is for {}; only they can answer it",
            handoff.to.name
        )));
    }
    Ok((row, handoff))
}

async fn accept_handoff(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Handoff>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let (row, handoff) = pending_for_receiver(&mut tx, &auth, &chat_id).await?;
    let chat_id = row.chat_id()?;
    sqlx::query("UPDATE handoffs SET status = 'accepted', resolved_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&handoff.id)
        .execute(tx.conn())
        .await?;
    let handoff = handoff_by_id(tx.conn(), &handoff.id).await?;
    tx.append(
        Some(&chat_id),
        Some(&auth.agent_ref()),
        EventBody::HandoffAccepted(handoff.clone()),
    )
    .await?;
    tx.commit(&state.hub).await?;
    Ok(Json(handoff))
}

async fn decline_handoff(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(request): AppJson<DeclineRequest>,
) -> ApiResult<Json<Handoff>> {
    let reason = required_text("reason", &request.reason)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let (row, handoff) = pending_for_receiver(&mut tx, &auth, &chat_id).await?;
    let chat_id = row.chat_id()?;
    // Back to the sender if they can still take it, otherwise to the queue.
    let returned_to = match &handoff.from {
        Some(from) => agents::find_active(tx.conn(), &auth.org_id, &from.id)
            .await?
            .map(|a| AgentRef {
                id: a.id,
                name: a.name,
            }),
        None => None,
    };
    sqlx::query(
        "UPDATE handoffs SET status = 'declined', decline_reason = $1, resolved_at = $2 WHERE id = $3",
    )
    .bind(&reason)
    .bind(now)
    .bind(&handoff.id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE conversations SET owner_id = $1 WHERE id = $2")
        .bind(returned_to.as_ref().map(|a| a.id.clone()))
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    crate::db::routing::moved_by_hand(tx.conn(), &row.id).await?;
    let me = auth.agent_ref();
    // The decliner no longer owns the chat: their lock ends, their fence is stale.
    locks::end_lock(&mut tx, &row, Some(&me)).await?;
    let handoff = handoff_by_id(tx.conn(), &handoff.id).await?;
    let declined = tx
        .append(
            Some(&chat_id),
            Some(&me),
            EventBody::HandoffDeclined(handoff.clone()),
        )
        .await?;
    // Nobody to return it to (it came from the queue, or its sender left): back to the queue.
    if returned_to.is_none() {
        crate::routing::run::requeue(&mut tx, &row, declined.seq).await?;
    }
    tx.append(
        Some(&chat_id),
        Some(&me),
        EventBody::Assigned {
            owner: returned_to,
            previous_owner: row.owner(),
            reason: AssignReason::Declined,
        },
    )
    .await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(handoff))
}
