//! The first responder's seat at work (`/responder/…`): the server decides, the seat executes.
//! The seat (the extension in responder mode, logged in as a `responder` account) asks for its
//! work, reads each customer reply in the browser and reports only the answer's value, and sends
//! each message only after the server cleared it under the reply lock the seat holds — so a
//! person who took the chat meanwhile (the lock moved on) is never talked over. People read a
//! chat's qualification (its answers).

use axum::extract::State;
use axum::Json;
use protocol::api::Role;
use protocol::codes;
use protocol::responder::{
    Qualification, ReplyReport, SeatTask, SendClearance, SendRequest, SentReport,
};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, ChatPath};
use super::{AppState, Routes};
use crate::db::conversations::{self, ConversationRow};
use crate::db::{locks, WriteTx};
use crate::responder::store::{self, RunRow};

pub fn router() -> Routes {
    Routes::new()
        .get("/responder/work", work)
        .get("/responder/chats/{chat_id}", qualification)
        .post("/responder/chats/{chat_id}/reply", reply)
        .post("/responder/chats/{chat_id}/send", send)
        .post("/responder/chats/{chat_id}/sent", sent)
}

/// Most chats one work list names.
const WORK_LIMIT: usize = 20;

fn require_seat(auth: &AuthAgent) -> ApiResult<()> {
    if auth.role == Role::Responder {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the first responder's seat (a responder account) works the responder's chats",
        ))
    }
}

fn stopped(run: &RunRow) -> ApiError {
    let why = match run.ended.as_deref() {
        Some("human_took_over") => "a person took the chat",
        Some("person_asked") => "the customer asked for a person",
        Some("too_many_unanswered") => "the customer stopped replying",
        _ => "its flow is over",
    };
    ApiError::conflict(
        codes::RESPONDER_STOPPED,
        format!("the responder no longer works this chat: {why}"),
    )
}

/// The chat and its active run, for a seat's step; a chat a person took meanwhile ends the run
/// (that step is refused).
async fn active_run(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &protocol::ChatId,
) -> ApiResult<(WriteTx, ConversationRow, RunRow)> {
    require_seat(auth)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let row = conversations::require(tx.conn(), &auth.org_id, chat_id).await?;
    let run = store::load(tx.conn(), &row.id)
        .await?
        .ok_or(ApiError::NotFound("responder run"))?;
    if !run.active {
        return Err(stopped(&run));
    }
    if let Some(owner) = row.owner() {
        // Given to a person while the responder worked it: theirs from now on.
        store::human_took_over(&mut tx, &row, &owner).await?;
        tx.commit(&state.hub).await?;
        return Err(ApiError::conflict(
            codes::RESPONDER_STOPPED,
            format!(
                "the responder no longer works this chat: {} has it now",
                owner.name
            ),
        ));
    }
    Ok((tx, row, run))
}

/// Today on the org's calendar, at `now` (routing's clock).
async fn org_today(conn: &mut sqlx::AnyConnection, org_id: &str, now: i64) -> ApiResult<String> {
    use chrono::TimeZone;
    let (_, tz) = crate::db::routing::time_zone(conn, org_id).await?;
    Ok(tz
        .timestamp_millis_opt(now)
        .single()
        .map(|at| at.format("%Y-%m-%d").to_string())
        .unwrap_or_default())
}

/// The chats the seat has something to do in: messages to send, or a reply to read. Oldest
/// first; a chat a person took is not listed.
async fn work(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Vec<SeatTask>>> {
    require_seat(&auth)?;
    let mut conn = state.db.pool().acquire().await?;
    let runs = store::active(&mut conn, &auth.org_id, 200).await?;
    let now = state.routing.at(state.db.now_on(&mut conn).await?);
    let today = org_today(&mut conn, &auth.org_id, now).await?;
    let mut tasks = Vec::new();
    for run in runs {
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "{} WHERE c.id = $1",
            conversations::SELECT_CONVERSATION
        ))
        .bind(&run.conversation_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { continue };
        if row.owner_id.is_some() || row.closed_at.is_some() {
            continue;
        }
        let task = store::task(&row, &run, &today)?;
        if !task.sends.is_empty() || task.reply.is_some() {
            tasks.push(task);
            if tasks.len() == WORK_LIMIT {
                break;
            }
        }
    }
    Ok(Json(tasks))
}

/// The answer the seat read from the customer's reply to the current question.
async fn reply(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(report): AppJson<ReplyReport>,
) -> ApiResult<Json<SeatTask>> {
    if let Some(protocol::responder::AnswerValue::Text(text)) = &report.value {
        if let Some(c) = protocol::text::first_refused(text) {
            return Err(ApiError::validation(protocol::text::refusal(
                "value.text",
                c,
            )));
        }
        if text.chars().count() > 500 {
            return Err(ApiError::validation("value.text: at most 500 characters"));
        }
    }
    if report.upto.is_empty() || report.upto.len() > 128 {
        return Err(ApiError::validation(
            "upto must be the message id the work named",
        ));
    }
    let (mut tx, row, mut run) = active_run(&state, &auth, &chat_id).await?;
    // Before the greeting, only the first message asking for a person is a reply.
    let opening = report.asks_person
        && store::greeting_waits(&run)
        && run.stored.first_message.as_deref() == Some(report.upto.as_str());
    if !run.stored.pending.is_empty() && !opening {
        return Err(ApiError::conflict(
            codes::RESPONDER_BEHIND,
            "messages wait to be sent in this chat: send them before reading a reply",
        ));
    }
    if !opening && run.reply_message_id.as_deref() != Some(report.upto.as_str()) {
        return Err(ApiError::conflict(
            codes::RESPONDER_BEHIND,
            "the customer's latest message is another one: fetch the work again and read it",
        ));
    }
    let now = state.routing.at(tx.now());
    let today = org_today(tx.conn(), &auth.org_id, now).await?;
    let wake = store::reply(
        &mut tx,
        &state.routing,
        &row,
        &mut run,
        report.value,
        report.asks_person,
        &auth.agent_ref(),
    )
    .await?;
    let task = store::task(&row, &run, &today)?;
    tx.commit(&state.hub).await?;
    if wake {
        state.routing.wake();
    }
    Ok(Json(task))
}

/// Leave to send the next message now, under the reply lock the seat holds (`fence`).
async fn send(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(request): AppJson<SendRequest>,
) -> ApiResult<Json<SendClearance>> {
    let (mut tx, row, mut run) = active_run(&state, &auth, &chat_id).await?;
    match run.stored.pending.first() {
        Some(next) if next.key == request.key => {}
        Some(next) => {
            return Err(ApiError::conflict(
                codes::RESPONDER_BEHIND,
                format!(
                    "message {} is not the next one to send: {} is",
                    request.key, next.key
                ),
            ))
        }
        None => {
            return Err(ApiError::conflict(
                codes::RESPONDER_BEHIND,
                format!("message {} is not waiting to be sent", request.key),
            ))
        }
    }
    locks::check_fence(&row, &auth, request.fence)?;
    if !row.lock_is_held(tx.now()) {
        return Err(ApiError::conflict(
            codes::STALE_FENCE,
            "the seat's reply lock on this chat ran out: take it again",
        ));
    }
    let already = store::clear(&mut tx, &row, &mut run, &request.key, &auth.agent_ref()).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(SendClearance { already }))
}

/// A cleared message is in the chat now.
async fn sent(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(report): AppJson<SentReport>,
) -> ApiResult<Json<SeatTask>> {
    let (mut tx, row, mut run) = active_run(&state, &auth, &chat_id).await?;
    let cleared = run
        .stored
        .pending
        .iter()
        .any(|p| p.key == report.key && p.cleared_at.is_some());
    let issued = report
        .key
        .parse::<u32>()
        .is_ok_and(|n| n >= 1 && n <= run.stored.next_key);
    if !cleared && (!issued || run.stored.pending.iter().any(|p| p.key == report.key)) {
        return Err(ApiError::conflict(
            codes::RESPONDER_BEHIND,
            format!(
                "message {} was not cleared to send: ask to send it first",
                report.key
            ),
        ));
    }
    let now = state.routing.at(tx.now());
    let today = org_today(tx.conn(), &auth.org_id, now).await?;
    let wake = store::delivered(
        &mut tx,
        &state.routing,
        &row,
        &mut run,
        &report.key,
        &auth.agent_ref(),
    )
    .await?;
    let task = store::task(&row, &run, &today)?;
    tx.commit(&state.hub).await?;
    if wake {
        state.routing.wake();
    }
    Ok(Json(task))
}

/// The chat's qualification fields: what the responder's flow collected, and how it ended.
async fn qualification(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
) -> ApiResult<Json<Qualification>> {
    let mut conn = state.db.pool().acquire().await?;
    let row = conversations::require(&mut conn, &auth.org_id, &chat_id).await?;
    let run = store::load(&mut conn, &row.id)
        .await?
        .ok_or(ApiError::NotFound("responder run"))?;
    Ok(Json(store::qualification(&row, &run)?))
}
