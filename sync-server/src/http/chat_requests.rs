//! "Request this chat": an agent asks the owner of a chat for it; the owner (or a lead) hands it
//! over in one click or keeps it.
//!
//! A request changes nothing by itself: the owner keeps working the chat until they answer. Each
//! colleague has at most one unanswered request per chat (asking again returns it). A request
//! shows on the chat only while someone other than the one who asked owns it; handing the chat
//! over ends the owner's reply lock like any change of hands, so nothing they typed afterwards
//! counts.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{AgentRef, ChatRequest, RequestChat};
use protocol::codes;
use protocol::events::{AssignReason, EventBody};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, ChatPath, IdPath};
use super::{AppState, Routes};
use crate::db::chat_requests::{self, ChatRequestRow};
use crate::db::conversations::{self, ConversationRow};
use crate::db::{agents, handoffs, locks, WriteTx};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/requests", request_chat)
        .post("/chat-requests/{id}/grant", grant_request)
        .post("/chat-requests/{id}/decline", decline_request)
}

/// Longest reason one may give when asking.
const MAX_MESSAGE_CHARS: usize = 500;

fn clean_message(message: Option<&str>) -> ApiResult<Option<String>> {
    let Some(message) = message.map(str::trim).filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::validation(format!(
            "message must be at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    Ok(Some(message.to_owned()))
}

async fn request_chat(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(request): AppJson<RequestChat>,
) -> ApiResult<Response> {
    let message = clean_message(request.message.as_deref())?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    let chat_id = row.chat_id()?;
    match row.owner_id.as_deref() {
        None => {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                "nobody owns this chat: start typing to take it",
            ))
        }
        Some(owner) if owner == auth.id => {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                "you already own this chat",
            ))
        }
        Some(_) => {}
    }
    if let Some(asked) = chat_requests::pending_by(tx.conn(), &row.id, &auth.id).await? {
        tx.commit(&state.hub).await?;
        return Ok((StatusCode::OK, Json(asked)).into_response());
    }
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO chat_requests (id, org_id, conversation_id, by_agent_id, message, status, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6)",
    )
    .bind(&id)
    .bind(&auth.org_id)
    .bind(&row.id)
    .bind(&auth.id)
    .bind(&message)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let asked = ChatRequest {
        id,
        chat_id: chat_id.clone(),
        by: auth.agent_ref(),
        message,
        status: protocol::api::ChatRequestStatus::Pending,
        created_at: now,
        answered_by: None,
        answered_at: None,
    };
    tx.append(
        Some(&chat_id),
        Some(&auth.agent_ref()),
        EventBody::ChatRequested(asked.clone()),
    )
    .await?;
    tx.commit(&state.hub).await?;
    Ok((StatusCode::CREATED, Json(asked)).into_response())
}

/// Loads an unanswered request and its chat, and checks the caller may answer it: the chat's
/// owner or a lead.
async fn answerable(
    tx: &mut WriteTx,
    auth: &AuthAgent,
    id: &str,
    action: &str,
) -> ApiResult<(ChatRequest, ConversationRow)> {
    let ChatRequestRow { request, .. } = chat_requests::find(tx.conn(), &auth.org_id, id)
        .await?
        .ok_or(ApiError::NotFound("chat request"))?;
    if request.status != protocol::api::ChatRequestStatus::Pending {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "this request was already answered",
        ));
    }
    let row = conversations::require(tx.conn(), &auth.org_id, &request.chat_id).await?;
    match row.owner_id.as_deref() {
        None => {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                format!(
                    "nobody owns this chat now: {} can take it by typing",
                    request.by.name
                ),
            ))
        }
        Some(owner) if owner == request.by.id => {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                format!("{} owns this chat already", request.by.name),
            ))
        }
        Some(_) => row.ensure_may_work(auth, action)?,
    }
    Ok((request, row))
}

async fn grant_request(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<Json<ChatRequest>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let (request, row) = answerable(&mut tx, &auth, &id, "hand it over").await?;
    if handoffs::pending_for_conversation(tx.conn(), &row.id)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "a handoff of this chat waits for an answer: accept or decline it first",
        ));
    }
    let receiver = agents::find_active(tx.conn(), &auth.org_id, &request.by.id)
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                codes::CONFLICT,
                format!("{} can no longer work chats", request.by.name),
            )
        })?;
    sqlx::query("UPDATE conversations SET owner_id = $1 WHERE id = $2")
        .bind(&receiver.id)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    crate::db::routing::moved_by_hand(tx.conn(), &row.id).await?;
    let me = auth.agent_ref();
    // The previous owner may no longer work the chat: their lock ends and its fence goes stale.
    locks::end_lock(&mut tx, &row, Some(&me)).await?;
    let answered = chat_requests::answer(&mut tx, request, &auth.agent_ref(), true).await?;
    tx.append(
        Some(&answered.chat_id),
        Some(&me),
        EventBody::Assigned {
            owner: Some(AgentRef {
                id: receiver.id,
                name: receiver.name,
            }),
            previous_owner: row.owner(),
            reason: AssignReason::Requested,
        },
    )
    .await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(answered))
}

async fn decline_request(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<Json<ChatRequest>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let (request, _) = answerable(&mut tx, &auth, &id, "answer a request for it").await?;
    let answered = chat_requests::answer(&mut tx, request, &auth.agent_ref(), false).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(answered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blank_message_is_no_message_and_a_long_one_is_refused() {
        assert_eq!(clean_message(None).unwrap(), None);
        assert_eq!(clean_message(Some("  \n ")).unwrap(), None);
        assert_eq!(
            clean_message(Some(" I quoted them yesterday ")).unwrap(),
            Some("I quoted them yesterday".to_owned())
        );
        assert!(clean_message(Some(&"x".repeat(MAX_MESSAGE_CHARS + 1))).is_err());
    }
}
