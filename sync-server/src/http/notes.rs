//! Internal notes on a conversation, with @mentions. Notes are plain text: the server stores what
//! was typed and clients render it as text.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use protocol::api::{AgentRef, Note, NoteRequest, Page};
use protocol::events::EventBody;
use protocol::ChatId;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent, ChatPath};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::page::{self, PageQuery};
use super::{AppState, Routes};
use crate::db::{agents, conversations, direct, system_now_ms};

pub fn router() -> Routes {
    Routes::new()
        .post("/conversations/{chat_id}/notes", create_note)
        .get("/conversations/{chat_id}/notes", list_notes)
}

const INSERT_NOTE: &str =
    "INSERT INTO notes (id, org_id, conversation_id, author_id, body, mentions, created_at, event_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const MAX_BODY_CHARS: usize = 4000;
const MAX_MENTIONS: usize = 20;

fn note_from_row(row: &AnyRow, chat_id: &ChatId) -> ApiResult<Note> {
    let mentions: String = row.try_get("mentions")?;
    Ok(Note {
        id: row.try_get("id")?,
        chat_id: chat_id.clone(),
        author: AgentRef {
            id: row.try_get("author_id")?,
            name: row.try_get("author_name")?,
        },
        body: row.try_get("body")?,
        mentions: serde_json::from_str(&mentions).map_err(anyhow::Error::from)?,
        created_at: row.try_get("created_at")?,
    })
}

/// An active agent of the org, to mention, on SQLite's writer thread (as
/// [`agents::find_active`]); a 422 if there is none.
fn active_agent_direct(
    conn: &rusqlite::Connection,
    org_id: &str,
    agent_id: &str,
) -> ApiResult<AgentRef> {
    let found = direct::prepare_numbered(
        conn,
        "SELECT id, name FROM agents WHERE id = $1 AND org_id = $2 AND active = 1",
        &[&agent_id, &org_id],
    )
    .and_then(|statement| {
        direct::first_row(statement, |row| {
            Ok(AgentRef {
                id: row.get(0)?,
                name: row.get(1)?,
            })
        })
    })
    .map_err(direct::api_error)?;
    found.ok_or_else(|| cannot_mention(agent_id))
}

fn cannot_mention(agent_id: &str) -> ApiError {
    ApiError::validation(format!(
        "cannot mention {agent_id}: no active agent with that id in your org"
    ))
}

/// A note written whole on SQLite's writer thread, inside its transaction: the response (the note,
/// or the replay of a request already made with the same idempotency key) and whether anything was
/// written.
#[allow(clippy::too_many_arguments)]
fn write_note_direct(
    conn: &rusqlite::Connection,
    org_id: &str,
    chat_id: &ChatId,
    author: AgentRef,
    body: String,
    mention_ids: &[String],
    idempotency: &IdempotencyKey,
    request_fingerprint: &str,
) -> ApiResult<(Response, bool)> {
    if let Some(replay) = idempotency.replay_direct(conn, &author.id, request_fingerprint)? {
        return Ok((replay, false));
    }
    let row = direct::find_conversation(conn, org_id, chat_id.as_str())
        .map_err(direct::api_error)?
        .ok_or(ApiError::NotFound("chat"))?;
    let chat_id = row.chat_id()?;
    let mut mentions: Vec<AgentRef> = Vec::new();
    for agent_id in mention_ids {
        if mentions.iter().any(|m| &m.id == agent_id) {
            continue;
        }
        mentions.push(active_agent_direct(conn, org_id, agent_id)?);
    }
    let note = Note {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: chat_id.clone(),
        author,
        body,
        mentions,
        created_at: system_now_ms(),
    };
    let seq = direct::record_event(
        conn,
        org_id,
        Some(chat_id.as_str()),
        Some(&note.author),
        note.created_at,
        &EventBody::NoteCreated(note.clone()),
    )
    .map_err(direct::api_error)?;
    let mentions_json = serde_json::to_string(&note.mentions).map_err(anyhow::Error::from)?;
    direct::prepare_numbered(
        conn,
        INSERT_NOTE,
        &[
            &note.id,
            &org_id,
            &row.id,
            &note.author.id,
            &note.body,
            &mentions_json,
            &note.created_at,
            &seq,
        ],
    )
    .and_then(|mut statement| statement.raw_execute())
    .map_err(direct::api_error)?;
    let response = idempotency.record_direct(
        conn,
        &note.author.id,
        request_fingerprint,
        note.created_at,
        StatusCode::CREATED,
        &note,
    )?;
    Ok((response, true))
}

async fn create_note(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    idempotency: IdempotencyKey,
    AppJson(request): AppJson<NoteRequest>,
) -> ApiResult<Response> {
    let body = request.body.trim();
    if body.is_empty() {
        return Err(ApiError::validation("a note needs some text"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(ApiError::validation(format!(
            "a note may have at most {MAX_BODY_CHARS} characters"
        )));
    }
    if request.mentions.len() > MAX_MENTIONS {
        return Err(ApiError::validation(format!(
            "a note may mention at most {MAX_MENTIONS} agents"
        )));
    }
    let request_fingerprint = fingerprint(&format!("note {chat_id}"), &request)?;
    if let Some(direct) = state.db.direct() {
        // SQLite: the whole write in one trip to the writer thread (and in its group commit),
        // not a round trip per statement.
        let (org_id, author) = (auth.org_id.clone(), auth.agent_ref());
        let body = body.to_owned();
        let (response, wrote) = direct
            .run(move |conn| {
                write_note_direct(
                    conn,
                    &org_id,
                    &chat_id,
                    author,
                    body,
                    &request.mentions,
                    &idempotency,
                    &request_fingerprint,
                )
            })
            .await?;
        if wrote {
            state.hub.events_committed(&auth.org_id);
        }
        return Ok(response);
    }

    // Read before the org's lock is taken: every other writer of the org waits while it is held,
    // and the note needs only the conversation's own id and chat id, which never change (nor is
    // a conversation ever deleted).
    let row = {
        let mut conn = state.db.pool().acquire().await?;
        conversations::require(&mut conn, &auth.org_id, &chat_id).await?
    };
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    if let Some(replay) = idempotency
        .replay(&mut tx, &auth.id, &request_fingerprint)
        .await?
    {
        return Ok(replay);
    }
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = row.chat_id()?;
    let mut mentions: Vec<AgentRef> = Vec::new();
    for agent_id in &request.mentions {
        if mentions.iter().any(|m| &m.id == agent_id) {
            continue;
        }
        let agent = agents::find_active(tx.conn(), &auth.org_id, agent_id)
            .await?
            .ok_or_else(|| cannot_mention(agent_id))?;
        mentions.push(AgentRef {
            id: agent.id,
            name: agent.name,
        });
    }
    let note = Note {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: chat_id.clone(),
        author: auth.agent_ref(),
        body: body.to_owned(),
        mentions,
        created_at: tx.now(),
    };
    let event = tx
        .append(
            Some(&chat_id),
            Some(&note.author),
            EventBody::NoteCreated(note.clone()),
        )
        .await?;
    sqlx::query(INSERT_NOTE)
        .bind(&note.id)
        .bind(&auth.org_id)
        .bind(&row.id)
        .bind(&auth.id)
        .bind(&note.body)
        .bind(serde_json::to_string(&note.mentions).map_err(anyhow::Error::from)?)
        .bind(note.created_at)
        .bind(event.seq)
        .execute(tx.conn())
        .await?;
    idempotency
        .commit(
            tx,
            &state,
            &auth.id,
            &request_fingerprint,
            StatusCode::CREATED,
            &note,
        )
        .await
}

/// The conversation's notes, oldest first, a page at a time.
async fn list_notes(
    State(state): State<AppState>,
    auth: AuthAgent,
    ChatPath(chat_id): ChatPath,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<Note>>> {
    let limit = page::limit(query.limit, 500, 1000)?;
    let after: Option<i64> = match &query.cursor {
        Some(cursor) => Some(cursor.parse().map_err(|_| page::bad_cursor())?),
        None => None,
    };
    let mut conn = state.db.pool().acquire().await?;
    let conversation = conversations::require(&mut conn, &auth.org_id, &chat_id).await?;
    // The path may name the chat by its alias; events and replies use its own id.
    let chat_id = conversation.chat_id()?;
    let rows = sqlx::query(
        "SELECT n.id, n.author_id, a.name AS author_name, n.body, n.mentions, n.created_at,
                n.event_seq
         FROM notes n JOIN agents a ON a.id = n.author_id
         WHERE n.conversation_id = $1 AND ($2 IS NULL OR n.event_seq > $2)
         ORDER BY n.event_seq LIMIT $3",
    )
    .bind(&conversation.id)
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let next_cursor = match rows.last() {
        Some(last) if rows.len() as i64 == limit => {
            Some(last.try_get::<i64, _>("event_seq")?.to_string())
        }
        _ => None,
    };
    let items = rows
        .iter()
        .map(|row| note_from_row(row, &chat_id))
        .collect::<ApiResult<_>>()?;
    Ok(Json(Page { items, next_cursor }))
}
