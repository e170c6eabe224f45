//! The routing queue and each chat's routing: `GET /queue` (the chats waiting for someone,
//! oldest first), `POST /queue/take` ("Take next": the oldest is yours), and
//! `GET /conversations/{chat_id}/routing` (where a chat would go now and why, changing nothing:
//! a dry run for leads setting up rules).

use axum::extract::State;
use axum::Json;
use protocol::api::Conversation;
use protocol::routing::{QueuedChat, RoutingPreview};

use super::error::{ApiError, ApiResult};
use super::extract::{AuthAgent, ChatPath};
use super::{AppState, Routes};
use crate::db::conversations::{require, view_in};
use crate::routing::run;

pub fn router() -> Routes {
    Routes::new()
        .get("/queue", list_queue)
        .post("/queue/take", take_next)
        .get("/conversations/{chat_id}/routing", preview)
}

async fn list_queue(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<Vec<QueuedChat>>> {
    let mut conn = state.db.pool().acquire().await?;
    let now = state.db.now_on(&mut conn).await?;
    let rows = run::queue(&mut conn, &auth.org_id).await?;
    let items = rows
        .iter()
        .filter_map(|row| row.queued_at().map(|queued_at| (row, queued_at)))
        .map(|(row, queued_at)| {
            Ok(QueuedChat {
                chat_id: row.chat_id()?,
                title: row.title.clone(),
                stage: row.stage(),
                queued_at,
                waited_ms: (now - queued_at).max(0),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(items))
}

/// Gives the caller the oldest queued chat (they must be available and under capacity).
async fn take_next(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<Conversation>> {
    if auth.role == protocol::api::Role::Responder {
        return Err(ApiError::forbidden(
            "the first responder's seat takes no chats from the queue; people do",
        ));
    }
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let chat_id = run::take_next(&mut tx, &state.routing, &auth.agent_ref()).await?;
    let conversation = view_in(&mut tx, &chat_id).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(conversation))
}

async fn preview(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<RoutingPreview>> {
    auth.require_supervisor("see where routing would send a chat")?;
    let mut conn = state.db.pool().acquire().await?;
    let now = state.db.now_on(&mut conn).await?;
    let row = require(&mut conn, &auth.org_id, &chat_id).await?;
    Ok(Json(
        run::preview(&mut conn, &state.routing, &auth.org_id, now, &row).await?,
    ))
}
