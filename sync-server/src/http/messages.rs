//! Message metadata reported by the extension: id, direction and time, never the text. It keeps
//! the conversation's activity time current, feeds response-time metrics, and is where "I replied"
//! is fenced: an outgoing message reported with a reply-lock fence that is no longer current is
//! refused, so a reply made after losing the lock is caught. A new chat's first incoming message
//! is what routes it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{Direction, HistoryRecorded, HistoryReport, MessageRecord, MessageReport};
use protocol::events::EventBody;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, ChatPath};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::conversations::{self, Upsert, Upserted};
use crate::db::locks;
use crate::routing::run as routing;

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/messages", record_message)
        .post("/conversations/{chat_id}/messages/history", record_history)
}

/// 2009-01-01, before any WhatsApp message.
const EARLIEST_SENT_AT: i64 = 1_230_768_000_000;

fn valid_message_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@:".contains(&b))
}

/// Most messages one history report may carry.
const MAX_HISTORY: usize = 500;

/// A message's time (`field` names it): a day ahead of the server allows for a phone's clock.
fn check_sent_at(field: &str, sent_at: i64, now: i64) -> ApiResult<()> {
    // WhatsApp did not exist before 2009.
    if (EARLIEST_SENT_AT..=now + 24 * 3600 * 1000).contains(&sent_at) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{field} must be the message's time in milliseconds since the Unix epoch, not in the future"
        )))
    }
}

/// Records the messages a chat already held when it was opened, each once (any browser may
/// report the same history; a message already known, live or from history, is left as it is).
/// No events: history is not news, and it routes nothing.
async fn record_history(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(report): AppJson<HistoryReport>,
) -> ApiResult<Json<HistoryRecorded>> {
    if report.messages.len() > MAX_HISTORY {
        return Err(ApiError::validation(format!(
            "a history report carries at most {MAX_HISTORY} messages; send the rest in another"
        )));
    }
    if let Some((i, _)) = report
        .messages
        .iter()
        .enumerate()
        .find(|(_, m)| !valid_message_id(&m.message_id))
    {
        return Err(ApiError::validation(format!(
            "messages[{i}].message_id must be WhatsApp's message id (1 to 128 letters, digits or _-.@:)"
        )));
    }
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    for (i, message) in report.messages.iter().enumerate() {
        check_sent_at(&format!("messages[{i}].sent_at"), message.sent_at, now)?;
    }
    let row = conversations::require(tx.conn(), &auth.org_id, &chat_id).await?;
    let mut recorded = 0u32;
    for message in &report.messages {
        let done = sqlx::query(
            "INSERT INTO messages (conversation_id, message_id, org_id, direction, agent_id, sent_at, recorded_at)
             VALUES ($1, $2, $3, $4, NULL, $5, $6)
             ON CONFLICT (conversation_id, message_id) DO NOTHING",
        )
        .bind(&row.id)
        .bind(&message.message_id)
        .bind(&auth.org_id)
        .bind(message.direction.as_str())
        .bind(message.sent_at)
        .bind(now)
        .execute(tx.conn())
        .await?;
        recorded += u32::try_from(done.rows_affected()).unwrap_or(0);
    }
    if let Some(latest) = report.messages.iter().map(|m| m.sent_at.min(now)).max() {
        sqlx::query(
            "UPDATE conversations SET last_activity_at = $1 WHERE id = $2 AND last_activity_at < $1",
        )
        .bind(latest)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    }
    tx.commit(&state.hub).await?;
    Ok(Json(HistoryRecorded { recorded }))
}

/// Records a message once; every agent's browser may report the same message, and only the first
/// report counts (201), later ones get the record back (200).
async fn record_message(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppJson(report): AppJson<MessageReport>,
) -> ApiResult<Response> {
    if !valid_message_id(&report.message_id) {
        return Err(ApiError::validation(
            "message_id must be WhatsApp's message id (1 to 128 letters, digits or _-.@:)",
        ));
    }
    if report.fence.is_some() && report.direction == Direction::In {
        return Err(ApiError::validation(
            "only outgoing messages carry a reply-lock fence",
        ));
    }
    let create = match report.if_missing {
        Some(new) => {
            let title = clean_name("title", &new.title, 200).map_err(ApiError::validation)?;
            if let Some(alias) = &new.alias {
                conversations::check_alias(&chat_id, alias)?;
            }
            Some(conversations::Seen {
                title,
                phone: None,
                alias: new.alias,
            })
        }
        None => None,
    };
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    let Upserted { created, row } = match create {
        Some(seen) => {
            conversations::upsert(&mut tx, &auth, &chat_id, seen, Upsert::CreateOnly).await?
        }
        None => Upserted {
            created: false,
            row: conversations::require(tx.conn(), &auth.org_id, &chat_id).await?,
        },
    };
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    if let Some(fence) = report.fence {
        locks::check_fence(&row, &auth, fence)?;
    }
    let sent_at = report.sent_at.unwrap_or(now);
    check_sent_at("sent_at", sent_at, now)?;
    let existing: Option<(String, i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT m.direction, m.sent_at, m.agent_id, a.name FROM messages m
         LEFT JOIN agents a ON a.id = m.agent_id
         WHERE m.conversation_id = $1 AND m.message_id = $2",
    )
    .bind(&row.id)
    .bind(&report.message_id)
    .fetch_optional(tx.conn())
    .await?;
    if let Some((direction, sent_at, agent_id, agent_name)) = existing {
        let mut record = MessageRecord {
            chat_id: chat_id.clone(),
            message_id: report.message_id,
            direction: Direction::from_me(direction == "out"),
            sent_at,
            agent: agent_id.map(|id| protocol::api::AgentRef {
                id,
                name: agent_name.unwrap_or_default(),
            }),
        };
        // Every linked browser reports each message; the sender's report, the one with a valid
        // fence, may come after a colleague's: it still says who replied, and colleagues' send
        // guards hear it now.
        if let (Some(_), None, Direction::Out) = (report.fence, &record.agent, record.direction) {
            sqlx::query(
                "UPDATE messages SET agent_id = $1 WHERE conversation_id = $2 AND message_id = $3",
            )
            .bind(&auth.id)
            .bind(&row.id)
            .bind(&record.message_id)
            .execute(tx.conn())
            .await?;
            record.agent = Some(auth.agent_ref());
            tx.append(
                Some(&chat_id),
                Some(&auth.agent_ref()),
                EventBody::MessageRecorded(record.clone()),
            )
            .await?;
            tx.commit(&state.hub).await?;
        }
        return Ok((StatusCode::OK, Json(record)).into_response());
    }
    let agent = report.fence.map(|_| auth.agent_ref());
    sqlx::query(
        "INSERT INTO messages (conversation_id, message_id, org_id, direction, agent_id, sent_at, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&row.id)
    .bind(&report.message_id)
    .bind(&auth.org_id)
    .bind(report.direction.as_str())
    .bind(agent.as_ref().map(|a| a.id.clone()))
    .bind(sent_at)
    .bind(now)
    .execute(tx.conn())
    .await?;
    // A conversation created by this very message was last active when the message was sent.
    let update = if created {
        "UPDATE conversations SET last_activity_at = $1 WHERE id = $2"
    } else {
        "UPDATE conversations SET last_activity_at = $1 WHERE id = $2 AND last_activity_at < $1"
    };
    sqlx::query(update)
        .bind(sent_at.min(now))
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    let record = MessageRecord {
        chat_id: chat_id.clone(),
        message_id: report.message_id,
        direction: report.direction,
        sent_at,
        agent,
    };
    tx.append(
        Some(&chat_id),
        Some(&auth.agent_ref()),
        EventBody::MessageRecorded(record.clone()),
    )
    .await?;
    // A new chat's first incoming message routes it; an owned chat's starts the no-reply limit,
    // and an answer stops it.
    let limit_started = match record.direction {
        Direction::In => {
            // The first responder answers a chat before routing sees it.
            if crate::responder::store::incoming(&mut tx, &state.routing, &row, &record.message_id)
                .await?
            {
                false
            } else {
                routing::incoming_message(&mut tx, &state.routing, &row, &record.message_id).await?
            }
        }
        Direction::Out => {
            routing::outgoing_message(&mut tx, &row).await?;
            false
        }
    };
    tx.commit(&state.hub).await?;
    if limit_started {
        state.routing.wake();
    }
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_look_like_whatsapps() {
        assert!(valid_message_id("3EB0C431C4B9A1F2E5D7"));
        assert!(valid_message_id("ACCFD0B5_972503235812@c.us"));
        assert!(!valid_message_id(""));
        assert!(!valid_message_id("hello world"));
        assert!(!valid_message_id(&"A".repeat(129)));
    }
}
