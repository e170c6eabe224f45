//! Conversations: upsert as seen in WhatsApp, read with everything an agent needs, list, move
//! between pipeline stages, and the timeline.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{
    Conversation, ConversationSummary, Page, StageRef, StageRequest, UpsertConversation,
};
use protocol::codes;
use protocol::events::{AssignReason, Event, EventBody};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent, ChatPath};
use super::{page, AppState, Routes};
use crate::admin::clean_name;
use crate::db::conversations::{
    check_alias, require, upsert, view, view_in, ConversationRow, Seen, Upsert, Upserted,
    SELECT_CONVERSATION,
};
use crate::db::{handoffs, pipelines};
use crate::events;
use crate::routing::run as routing;

pub fn router() -> Routes {
    Routes::new()
        .get("/conversations", list_conversations)
        .put("/conversations/{chat_id}", upsert_conversation)
        .get("/conversations/{chat_id}", get_conversation)
        .put("/conversations/{chat_id}/stage", set_stage)
        .delete("/conversations/{chat_id}/owner", release_owner)
        .post("/conversations/{chat_id}/close", close_conversation)
        .post("/conversations/{chat_id}/reopen", reopen_conversation)
        .get("/conversations/{chat_id}/timeline", timeline)
}

fn clean_phone(phone: &str) -> ApiResult<Option<String>> {
    let phone = phone.trim();
    if phone.is_empty() {
        return Ok(None);
    }
    let valid = phone.len() <= 32
        && phone.chars().any(|c| c.is_ascii_digit())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if valid {
        Ok(Some(phone.to_owned()))
    } else {
        Err(ApiError::validation(format!(
            "{phone:?} is not a phone number (digits, spaces and + - ( ) . only)"
        )))
    }
}

async fn upsert_conversation(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(request): AppJson<UpsertConversation>,
) -> ApiResult<Response> {
    let title = clean_name("title", &request.title, 200).map_err(ApiError::validation)?;
    let phone = match request.phone.as_deref() {
        Some(phone) => clean_phone(phone)?,
        None => None,
    };
    if let Some(alias) = &request.alias {
        check_alias(&chat_id, alias)?;
    }
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let Upserted { created, row } = upsert(
        &mut tx,
        &auth,
        &chat_id,
        Seen {
            title,
            phone,
            alias: request.alias,
        },
        Upsert::CreateOrUpdate,
    )
    .await?;
    let now = tx.now();
    let conversation = view(tx.conn(), &row, now).await?;
    tx.commit(&state.hub).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(conversation)).into_response())
}

async fn get_conversation(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Conversation>> {
    let mut conn = state.db.pool().acquire().await?;
    let row = require(&mut conn, &auth.org_id, &chat_id).await?;
    let now = state.db.now_on(&mut conn).await?;
    Ok(Json(view(&mut conn, &row, now).await?))
}

/// `GET /conversations` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `me`, `none` (unowned) or an agent id.
    owner: Option<String>,
    pipeline_id: Option<String>,
    stage: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

fn parse_cursor(cursor: &str) -> ApiResult<(i64, String)> {
    cursor
        .split_once('_')
        .and_then(|(at, chat)| Some((at.parse().ok()?, chat.to_owned())))
        .ok_or_else(page::bad_cursor)
}

async fn list_conversations(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<ListQuery>,
) -> ApiResult<Json<Page<ConversationSummary>>> {
    let limit = page::limit(query.limit, DEFAULT_PAGE, MAX_PAGE)?;
    // 0: any owner, 1: unowned, 2: this owner
    let (owner_mode, owner_id) = match query.owner.as_deref() {
        None | Some("") => (0_i64, None),
        Some("none") => (1, None),
        Some("me") => (2, Some(auth.id.clone())),
        Some(id) => (2, Some(id.to_owned())),
    };
    let (cursor_at, cursor_chat) = match query.cursor.as_deref() {
        Some(cursor) => {
            let (at, chat) = parse_cursor(cursor)?;
            (Some(at), Some(chat))
        }
        None => (None, None),
    };
    let rows: Vec<ConversationRow> = sqlx::query_as(&format!(
        "{SELECT_CONVERSATION}
         WHERE c.org_id = $1
           AND ($2 = 0 OR ($2 = 1 AND c.owner_id IS NULL) OR ($2 = 2 AND c.owner_id = $3))
           AND ($4 IS NULL OR c.pipeline_id = $4)
           AND ($5 IS NULL OR c.stage = $5)
           AND ($6 IS NULL OR c.last_activity_at < $6 OR (c.last_activity_at = $6 AND c.chat_id < $7))
         ORDER BY c.last_activity_at DESC, c.chat_id DESC
         LIMIT $8"
    ))
    .bind(&auth.org_id)
    .bind(owner_mode)
    .bind(owner_id)
    .bind(query.pipeline_id)
    .bind(query.stage)
    .bind(cursor_at)
    .bind(cursor_chat)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    let pending: Vec<String> = if rows.is_empty() {
        Vec::new()
    } else {
        handoffs::conversations_with_pending(state.db.pool(), &auth.org_id).await?
    };
    let now = state.db.now().await?;
    let items = rows
        .iter()
        .map(|row| row.summary(now, pending.contains(&row.id)))
        .collect::<ApiResult<Vec<_>>>()?;
    let next_cursor = page::next_cursor(&rows, limit, |r| {
        format!("{}_{}", r.last_activity_at, r.chat_id)
    });
    Ok(Json(Page { items, next_cursor }))
}

async fn set_stage(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(request): AppJson<StageRequest>,
) -> ApiResult<Json<Conversation>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let row = require(tx.conn(), &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    row.ensure_may_work(&auth, "move it between stages")?;
    let target =
        match (request.pipeline_id, request.stage) {
            (None, None) => None,
            (Some(pipeline_id), Some(stage)) => {
                let pipeline = pipelines::find(tx.conn(), &auth.org_id, &pipeline_id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::validation(format!("there is no pipeline with id {pipeline_id}"))
                    })?;
                if !pipeline.stages.contains(&stage) {
                    return Err(ApiError::validation(format!(
                        "{stage:?} is not a stage of pipeline {:?} (its stages: {})",
                        pipeline.name,
                        pipeline.stages.join(", ")
                    )));
                }
                Some(StageRef {
                    pipeline_id: pipeline.id,
                    pipeline_name: pipeline.name,
                    stage,
                })
            }
            _ => return Err(ApiError::validation(
                "give both pipeline_id and stage, or neither to take the chat out of its pipeline",
            )),
        };
    let previous = row.stage();
    let unchanged = match (&previous, &target) {
        (Some(a), Some(b)) => a.pipeline_id == b.pipeline_id && a.stage == b.stage,
        (None, None) => true,
        _ => false,
    };
    if !unchanged {
        sqlx::query("UPDATE conversations SET pipeline_id = $1, stage = $2 WHERE id = $3")
            .bind(target.as_ref().map(|t| t.pipeline_id.clone()))
            .bind(target.as_ref().map(|t| t.stage.clone()))
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        tx.append(
            Some(&chat_id),
            Some(&auth.agent_ref()),
            EventBody::StageChanged {
                stage: target,
                previous,
            },
        )
        .await?;
        // A rule naming the new stage may hand the chat to another team.
        let moved = require(tx.conn(), &auth.org_id, &chat_id).await?;
        routing::stage_changed(&mut tx, &state.routing, &moved, &auth.agent_ref()).await?;
    }
    let conversation = view_in(&mut tx, &chat_id).await?;
    tx.commit(&state.hub).await?;
    if !unchanged {
        state.routing.wake();
    }
    Ok(Json(conversation))
}

/// Gives the chat back to the team: nobody owns it afterwards (the owner's "Undo" of a claim made
/// by typing, or a lead freeing a chat). Whoever holds the reply lock keeps it: anyone may work an
/// unowned chat. Refused while a handoff waits for an answer (accept or decline it instead).
async fn release_owner(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Conversation>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let row = require(tx.conn(), &auth.org_id, &chat_id).await?;
    let chat_id = row.chat_id()?;
    if row.owner_id.is_some() {
        row.ensure_may_work(&auth, "give it back to the team")?;
        if handoffs::pending_for_conversation(tx.conn(), &row.id)
            .await?
            .is_some()
        {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                "a handoff of this chat waits for an answer: accept or decline it instead",
            ));
        }
        sqlx::query("UPDATE conversations SET owner_id = NULL WHERE id = $1")
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        // Given back to the team, not to routing: a chat claimed from the queue stays out of it.
        sqlx::query("UPDATE chat_routing SET queued_at = NULL WHERE conversation_id = $1")
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        crate::db::routing::moved_by_hand(tx.conn(), &row.id).await?;
        tx.append(
            Some(&chat_id),
            Some(&auth.agent_ref()),
            EventBody::Assigned {
                owner: None,
                previous_owner: row.owner(),
                reason: AssignReason::Released,
            },
        )
        .await?;
    }
    let conversation = view_in(&mut tx, &chat_id).await?;
    tx.commit(&state.hub).await?;
    // The owner has one chat fewer: they may take a queued one.
    state.routing.wake();
    Ok(Json(conversation))
}

/// Closes the chat (done for now: it no longer counts against its owner's capacity) or opens it
/// again; the owner, a lead, or anyone while nobody owns it. Closing a closed chat, or opening an
/// open one, changes nothing and says nothing.
async fn set_closed(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &protocol::ChatId,
    close: bool,
) -> ApiResult<Json<Conversation>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let row = require(tx.conn(), &auth.org_id, chat_id).await?;
    let chat_id = row.chat_id()?;
    row.ensure_may_work(auth, if close { "close it" } else { "reopen it" })?;
    if row.closed_at.is_some() != close {
        let now = tx.now();
        sqlx::query("UPDATE conversations SET closed_at = $1 WHERE id = $2")
            .bind(close.then_some(now))
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
        if close && row.responder_active > 0 {
            crate::responder::store::chat_closed(&mut tx, &row, &auth.agent_ref()).await?;
        }
        let owner = row.owner();
        tx.append(
            Some(&chat_id),
            Some(&auth.agent_ref()),
            if close {
                EventBody::ConversationClosed { owner }
            } else {
                EventBody::ConversationReopened { owner }
            },
        )
        .await?;
    }
    let conversation = view_in(&mut tx, &chat_id).await?;
    tx.commit(&state.hub).await?;
    // Closing frees a place under the owner's capacity.
    state.routing.wake();
    Ok(Json(conversation))
}

async fn close_conversation(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Conversation>> {
    set_closed(&state, &auth, &chat_id, true).await
}

async fn reopen_conversation(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Conversation>> {
    set_closed(&state, &auth, &chat_id, false).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineQuery {
    /// Only events after this sequence number.
    after: Option<i64>,
    limit: Option<i64>,
}

async fn timeline(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppQuery(query): AppQuery<TimelineQuery>,
) -> ApiResult<Json<Page<Event>>> {
    let limit = page::limit(query.limit, events::READ_PAGE, 1000)?;
    let mut conn = state.db.pool().acquire().await?;
    // The path may name the chat by its alias; the timeline is filed under its own id.
    let chat_id = require(&mut conn, &auth.org_id, &chat_id)
        .await?
        .chat_id()?;
    drop(conn);
    let items = events::read_timeline(
        &state.db,
        &auth.org_id,
        &chat_id,
        query.after.unwrap_or(0),
        limit,
    )
    .await?;
    let next_cursor = page::next_cursor(&items, limit, |e| e.seq.to_string());
    Ok(Json(Page { items, next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_their_formatting_but_must_be_phones() {
        assert_eq!(
            clean_phone(" +91 98765 43210 ").unwrap().as_deref(),
            Some("+91 98765 43210")
        );
        assert_eq!(clean_phone("").unwrap(), None);
        assert!(clean_phone("call me").is_err());
        assert!(clean_phone("+").is_err());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            parse_cursor("1700000000000_919876543210@c.us").unwrap(),
            (1_700_000_000_000, "919876543210@c.us".to_owned())
        );
        assert!(parse_cursor("nonsense").is_err());
        assert!(parse_cursor("x_y").is_err());
    }
}
