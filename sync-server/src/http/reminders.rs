//! Reminders: "call her back tomorrow at 10". Each is for one agent about one conversation; at the
//! due time the scheduler ([`run_scheduler`]) records a `reminder.due` event, which the event feed
//! pushes to every connected client of the org (the extension notifies the agent it is for).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use protocol::api::{Reminder, ReminderRequest, SnoozeRequest};
use protocol::codes;
use protocol::events::EventBody;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent, ChatPath, IdPath};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::{AppState, Routes};
use crate::db::reminders::{find, reminder_from_row, SELECT_REMINDER};
use crate::db::WriteTx;
use crate::db::{agents, conversations};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/reminders", create_reminder)
        .get("/reminders", list_reminders)
        .post("/reminders/{id}/done", complete_reminder)
        .post("/reminders/{id}/snooze", snooze_reminder)
}

const MAX_TEXT_CHARS: usize = 1000;
/// Reminders further ahead than this are almost certainly a unit mistake (seconds vs ms).
const MAX_AHEAD_MS: i64 = 5 * 366 * 24 * 3600 * 1000;
const MAX_SNOOZE_MINUTES: i64 = 60 * 24 * 60;

async fn create_reminder(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    idempotency: IdempotencyKey,
    AppJson(request): AppJson<ReminderRequest>,
) -> ApiResult<Response> {
    let text = request.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::validation(format!(
            "a reminder needs a text of 1 to {MAX_TEXT_CHARS} characters"
        )));
    }
    let request_fingerprint = fingerprint(&format!("reminder {chat_id}"), &request)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    if let Some(replay) = idempotency
        .replay(tx.conn(), &auth.id, &request_fingerprint)
        .await?
    {
        return Ok(replay);
    }
    let now = tx.now();
    if request.due_at <= 0 || request.due_at > now + MAX_AHEAD_MS {
        return Err(ApiError::validation(
            "due_at must be a time in milliseconds since the Unix epoch, at most 5 years ahead",
        ));
    }
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    let for_agent_id = match &request.for_agent_id {
        None => auth.id.clone(),
        Some(id) => {
            agents::find_active(tx.conn(), &auth.org_id, id)
                .await?
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "there is no active agent with id {id} in your org"
                    ))
                })?
                .id
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO reminders (id, org_id, conversation_id, created_by, for_agent_id, text, due_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(&auth.org_id)
    .bind(&row.id)
    .bind(&auth.id)
    .bind(&for_agent_id)
    .bind(&text)
    .bind(request.due_at)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let reminder = find(tx.conn(), &auth.org_id, &id).await?;
    tx.append(
        Some(&chat_id),
        Some(&auth.agent_ref()),
        EventBody::ReminderCreated(reminder.clone()),
    )
    .await?;
    let response = idempotency
        .commit(
            tx,
            &state,
            &auth.id,
            &request_fingerprint,
            StatusCode::CREATED,
            &reminder,
        )
        .await?;
    state.reminder_wake.notify_one();
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only reminders due before this time.
    due_before: Option<i64>,
    /// Whose reminders; the caller's by default.
    for_agent_id: Option<String>,
}

/// Open (not done) reminders, soonest first.
async fn list_reminders(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<ListQuery>,
) -> ApiResult<Json<Vec<Reminder>>> {
    let for_agent = query.for_agent_id.unwrap_or_else(|| auth.id.clone());
    sqlx::query(&format!(
        "{SELECT_REMINDER} WHERE r.org_id = $1 AND r.for_agent_id = $2 AND r.done_at IS NULL
           AND ($3 IS NULL OR r.due_at < $3)
         ORDER BY r.due_at, r.id LIMIT 1000"
    ))
    .bind(&auth.org_id)
    .bind(&for_agent)
    .bind(query.due_before)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(reminder_from_row)
    .collect::<ApiResult<Vec<_>>>()
    .map(Json)
}

/// Loads a reminder for a change by its agent, its creator or a lead/admin.
async fn reminder_to_change(tx: &mut WriteTx, auth: &AuthAgent, id: &str) -> ApiResult<Reminder> {
    let org_id = tx.org_id().to_owned();
    let reminder = find(tx.conn(), &org_id, id).await?;
    if reminder.for_agent.id != auth.id && reminder.created_by.id != auth.id && !auth.supervises() {
        return Err(ApiError::forbidden(format!(
            "this reminder is {}'s; only they, its creator or a lead may change it",
            reminder.for_agent.name
        )));
    }
    Ok(reminder)
}

async fn complete_reminder(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<Json<Reminder>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let reminder = reminder_to_change(&mut tx, &auth, &id).await?;
    if reminder.done_at.is_some() {
        return Ok(Json(reminder));
    }
    sqlx::query("UPDATE reminders SET done_at = $1 WHERE id = $2")
        .bind(tx.now())
        .bind(&id)
        .execute(tx.conn())
        .await?;
    let reminder = find(tx.conn(), &auth.org_id, &id).await?;
    tx.append(
        Some(&reminder.chat_id),
        Some(&auth.agent_ref()),
        EventBody::ReminderDone(reminder.clone()),
    )
    .await?;
    tx.commit(&state.hub).await?;
    Ok(Json(reminder))
}

async fn snooze_reminder(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<SnoozeRequest>,
) -> ApiResult<Json<Reminder>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let until = match (request.until, request.minutes) {
        (Some(until), None) if until > now && until <= now + MAX_AHEAD_MS => until,
        (Some(_), None) => {
            return Err(ApiError::validation(
                "until must be in the future (milliseconds since the Unix epoch)",
            ))
        }
        (None, Some(minutes)) if (1..=MAX_SNOOZE_MINUTES).contains(&minutes) => {
            now + minutes * 60_000
        }
        (None, Some(_)) => {
            return Err(ApiError::validation(format!(
                "minutes must be between 1 and {MAX_SNOOZE_MINUTES}"
            )))
        }
        _ => return Err(ApiError::validation("give exactly one of until or minutes")),
    };
    let reminder = reminder_to_change(&mut tx, &auth, &id).await?;
    if reminder.done_at.is_some() {
        return Err(ApiError::conflict(
            codes::REMINDER_DONE,
            "this reminder is done; create a new one instead",
        ));
    }
    sqlx::query("UPDATE reminders SET due_at = $1, fired_at = NULL WHERE id = $2")
        .bind(until)
        .bind(&id)
        .execute(tx.conn())
        .await?;
    let reminder = find(tx.conn(), &auth.org_id, &id).await?;
    tx.append(
        Some(&reminder.chat_id),
        Some(&auth.agent_ref()),
        EventBody::ReminderSnoozed(reminder.clone()),
    )
    .await?;
    tx.commit(&state.hub).await?;
    state.reminder_wake.notify_one();
    Ok(Json(reminder))
}

/// The scheduler looks at least this often, to see reminders other instances created.
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(5);

/// Fires reminders at their due time until shutdown. Safe with several instances: each reminder
/// is marked fired by a conditional update, so exactly one instance records its event.
pub async fn run_scheduler(state: AppState) {
    loop {
        let wait = match fire_due(&state).await {
            Ok(Some((now, next_due))) => {
                Duration::from_millis(u64::try_from(next_due.saturating_sub(now)).unwrap_or(0))
                    .min(SCHEDULER_MAX_SLEEP)
            }
            Ok(None) => SCHEDULER_MAX_SLEEP,
            Err(err) => {
                tracing::warn!(error = %err, "reminder scheduler failed; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.reminder_wake.notified() => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}

/// Fires every reminder that is due; returns the clock and the next due time, if any.
async fn fire_due(state: &AppState) -> ApiResult<Option<(i64, i64)>> {
    let due: Vec<(String, String)> = sqlx::query_as(&state.db.sql(
        "SELECT id, org_id FROM reminders
         WHERE fired_at IS NULL AND done_at IS NULL AND due_at <= now_ms()
         ORDER BY due_at LIMIT 200",
    ))
    .fetch_all(state.db.pool())
    .await?;
    for (id, org_id) in due {
        let mut tx = state.db.begin_write(&org_id).await?;
        let now = tx.now();
        let fired = sqlx::query(
            "UPDATE reminders SET fired_at = $1
             WHERE id = $2 AND fired_at IS NULL AND done_at IS NULL AND due_at <= $1",
        )
        .bind(now)
        .bind(&id)
        .execute(tx.conn())
        .await?;
        if fired.rows_affected() == 1 {
            let reminder = find(tx.conn(), &org_id, &id).await?;
            tx.append(
                Some(&reminder.chat_id),
                None,
                EventBody::ReminderDue(reminder.clone()),
            )
            .await?;
            tx.commit(&state.hub).await?;
        }
    }
    let next: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM reminders WHERE fired_at IS NULL AND done_at IS NULL",
    )
    .fetch_one(state.db.pool())
    .await?;
    let now = state.db.now().await?;
    Ok(next.map(|next| (now, next)))
}
