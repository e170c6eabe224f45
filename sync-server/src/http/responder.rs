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
    ModelSettings, ModelSettingsRequest, Qualification, ReplyReport, SeatStatus, SeatStatusReport,
    SeatTask, SendClearance, SendRequest, SentReport, MAX_REPLY_TEXT,
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
        .put("/responder/status", put_status)
        .get("/responder/seats", seats)
        .get("/org/responder-model", get_model)
        .put("/org/responder-model", put_model)
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
        Some("too_many_unanswered" | "no_reply") => "the customer stopped replying",
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
    if row.closed_at.is_some() {
        return Err(ApiError::conflict(
            codes::RESPONDER_STOPPED,
            "the responder no longer works this chat: it is closed",
        ));
    }
    if let (true, Some(owner)) = (run.taken_by_another(&row), row.owner()) {
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

/// Whether the org's language model reads replies (the seat then sends their text).
async fn model_on(conn: &mut sqlx::AnyConnection, org_id: &str) -> ApiResult<bool> {
    Ok(crate::responder::model::config(conn, org_id)
        .await?
        .is_some())
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
    let runs = store::with_work(&mut conn, &auth.org_id, 200).await?;
    let now = state.routing.at(state.db.now_on(&mut conn).await?);
    let today = org_today(&mut conn, &auth.org_id, now).await?;
    let send_text = model_on(&mut conn, &auth.org_id).await?;
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
        if run.taken_by_another(&row) || row.closed_at.is_some() {
            continue;
        }
        let task = store::task(&row, &run, &today, send_text)?;
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
    require_seat(&auth)?;
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
    if let Some(text) = &report.text {
        if text.chars().count() > MAX_REPLY_TEXT {
            return Err(ApiError::validation(format!(
                "text: at most {MAX_REPLY_TEXT} characters"
            )));
        }
    }
    require_seat(&auth)?;
    let mut report = report;
    // The language model reads the reply before anything is written (it may take seconds).
    let model_read = match report.text.take() {
        Some(text) if !text.trim().is_empty() => ask_model(&state, &auth, &chat_id, &text).await?,
        _ => None,
    };
    let by_model = match model_read {
        Some((Some(value), asks_person)) => {
            report.value = Some(value);
            report.asks_person |= asks_person;
            true
        }
        Some((None, asks_person)) => {
            report.asks_person |= asks_person;
            false
        }
        None => false,
    };
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
    let wake = store::reply(
        &mut tx,
        &state.routing,
        &row,
        &mut run,
        store::Reading {
            value: report.value,
            asks_person: report.asks_person,
            by_model,
        },
        &auth.agent_ref(),
    )
    .await?;
    answer_step(&state, tx, &auth, &row, &run, wake).await
}

/// Ends a seat's step: the chat's task as it now stands, committed (and routing's timer woken
/// when the step handed the chat on).
async fn answer_step(
    state: &AppState,
    mut tx: WriteTx,
    auth: &AuthAgent,
    row: &ConversationRow,
    run: &RunRow,
    wake: bool,
) -> ApiResult<Json<SeatTask>> {
    let now = state.routing.at(tx.now());
    let today = org_today(tx.conn(), &auth.org_id, now).await?;
    let send_text = model_on(tx.conn(), &auth.org_id).await?;
    let task = store::task(row, run, &today, send_text)?;
    tx.commit(&state.hub).await?;
    if wake {
        state.routing.wake();
    }
    Ok(Json(task))
}

/// What the org's language model makes of the reply to the chat's current question, when the
/// model is on and answered something usable; `None` otherwise (the seat's own reading stands).
async fn ask_model(
    state: &AppState,
    auth: &AuthAgent,
    chat_id: &protocol::ChatId,
    text: &str,
) -> ApiResult<Option<(Option<protocol::responder::AnswerValue>, bool)>> {
    let mut conn = state.db.pool().acquire().await?;
    let Some(config) = crate::responder::model::config(&mut conn, &auth.org_id).await? else {
        return Ok(None);
    };
    let Some(row) = conversations::find(&mut conn, &auth.org_id, chat_id).await? else {
        return Ok(None);
    };
    let Some(run) = store::load(&mut conn, &row.id).await? else {
        return Ok(None);
    };
    let question = match run.stored.run.position {
        crate::responder::flow::Position::Asking(at) if run.active => {
            run.stored.flow.questions.get(at).cloned()
        }
        _ => None,
    };
    let Some(question) = question else {
        return Ok(None);
    };
    let now = state.routing.at(state.db.now_on(&mut conn).await?);
    let today = org_today(&mut conn, &auth.org_id, now).await?;
    // Not held while the model thinks.
    drop(conn);
    match crate::responder::model::understand(&config, &question, &today, text).await {
        Ok(read) => Ok(Some(read)),
        Err(why) => {
            tracing::warn!(org = %auth.org_id, error = %why, "the language model's reading was not used");
            Ok(None)
        }
    }
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
    let wake = store::delivered(
        &mut tx,
        &state.routing,
        &row,
        &mut run,
        &report.key,
        &auth.agent_ref(),
    )
    .await?;
    answer_step(&state, tx, &auth, &row, &run, wake).await
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

/// The org's language model settings (admins): the key is never shown.
async fn get_model(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<ModelSettings>> {
    auth.require_admin("see the language model settings")?;
    let mut conn = state.db.pool().acquire().await?;
    let (settings, _) = crate::responder::model::settings(&mut conn, &auth.org_id).await?;
    Ok(Json(settings))
}

/// Turns the language model on or off, and says where it is.
async fn put_model(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<ModelSettingsRequest>,
) -> ApiResult<Json<ModelSettings>> {
    auth.require_admin("set the language model")?;
    let url = request.url.trim().to_owned();
    let model = request.model.trim().to_owned();
    let web = url.starts_with("https://") || url.starts_with("http://");
    if (request.enabled || !url.is_empty())
        && (!web || url.len() > 500 || url.contains(char::is_whitespace))
    {
        return Err(ApiError::validation(
            "url must be the endpoint's http:// or https:// address (at most 500 characters)",
        ));
    }
    if request.enabled && (model.is_empty() || model.chars().count() > 100) {
        return Err(ApiError::validation(
            "model must name the model (1 to 100 characters)",
        ));
    }
    if !(100..=30_000).contains(&request.timeout_ms) {
        return Err(ApiError::validation(
            "timeout_ms must be between 100 and 30000",
        ));
    }
    if let Some(key) = &request.api_key {
        if key.chars().count() > 500 || protocol::text::first_refused(key).is_some() {
            return Err(ApiError::validation(
                "api_key: at most 500 plain characters",
            ));
        }
    }
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let (_, kept_key) = crate::responder::model::settings(tx.conn(), &auth.org_id).await?;
    let api_key = match request.api_key {
        None => kept_key,
        Some(key) if key.trim().is_empty() => None,
        Some(key) => Some(key.trim().to_owned()),
    };
    let now = tx.now();
    sqlx::query(
        "INSERT INTO responder_models (org_id, enabled, url, model, api_key, timeout_ms, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org_id) DO UPDATE SET enabled = $2, url = $3, model = $4, api_key = $5,
             timeout_ms = $6, updated_at = $7",
    )
    .bind(&auth.org_id)
    .bind(i64::from(request.enabled))
    .bind(&url)
    .bind(&model)
    .bind(api_key.as_deref())
    .bind(i64::from(request.timeout_ms))
    .bind(now)
    .execute(tx.conn())
    .await?;
    let (settings, _) = crate::responder::model::settings(tx.conn(), &auth.org_id).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(settings))
}

/// A seat says it works, or stopped and why. A stopped seat is marked away (everyone's presence
/// shows it at once, and no new chat is given to it); working again, it is available.
async fn put_status(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(report): AppJson<SeatStatusReport>,
) -> ApiResult<Json<SeatStatus>> {
    require_seat(&auth)?;
    let reason = report.reason.trim().to_owned();
    if reason.chars().count() > 300 {
        return Err(ApiError::validation("reason: at most 300 characters"));
    }
    if let Some(c) = protocol::text::first_refused(&reason) {
        return Err(ApiError::validation(protocol::text::refusal("reason", c)));
    }
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    sqlx::query(
        "INSERT INTO responder_seats (agent_id, org_id, working, reason, since)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (agent_id) DO UPDATE SET working = $3, reason = $4,
             since = CASE WHEN responder_seats.working = $3 THEN responder_seats.since ELSE $5 END",
    )
    .bind(&auth.id)
    .bind(&auth.org_id)
    .bind(i64::from(report.working))
    .bind(&reason)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit(&state.hub).await?;
    crate::presence::set_away(
        &state.db,
        &state.hub,
        &auth.org_id,
        &auth.agent_ref(),
        !report.working,
    )
    .await?;
    let mut conn = state.db.pool().acquire().await?;
    let mine = seat_statuses(&state, &mut conn, &auth.org_id)
        .await?
        .into_iter()
        .find(|s| s.agent.id == auth.id)
        .ok_or_else(|| anyhow::anyhow!("the seat's status just saved is missing"))?;
    Ok(Json(mine))
}

/// The org's responder seats and how each is.
async fn seats(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Vec<SeatStatus>>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(seat_statuses(&state, &mut conn, &auth.org_id).await?))
}

/// A seat: id, name, open event streams, and what it last said (working, reason, since).
type SeatRow = (
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

async fn seat_statuses(
    state: &AppState,
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
) -> ApiResult<Vec<SeatStatus>> {
    let now = state.db.now_on(conn).await?;
    let rows: Vec<SeatRow> = sqlx::query_as(
        "SELECT a.id, a.name,
                (SELECT COUNT(*) FROM presence p WHERE p.agent_id = a.id AND p.expires_at > $2),
                s.working, s.reason, s.since
         FROM agents a LEFT JOIN responder_seats s ON s.agent_id = a.id
         WHERE a.org_id = $1 AND a.role = 'responder' AND a.active = 1
         ORDER BY a.name, a.id",
    )
    .bind(org_id)
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, connected, working, reason, since)| SeatStatus {
            agent: protocol::api::AgentRef { id, name },
            connected: connected > 0,
            working: working.is_none_or(|w| w != 0),
            reason: reason.unwrap_or_default(),
            since,
        })
        .collect())
}
