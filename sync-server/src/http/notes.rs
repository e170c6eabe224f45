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
use super::idempotency::{fingerprint, in_flight, json_response, replayed, IdempotencyKey};
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

    // PostgreSQL: everything the note needs is read first, outside the org's lock (the
    // conversation's own id and chat id never change, nor is a conversation ever deleted; the
    // mentions' names), then the write is one call that holds the org's lock only while it runs.
    let mut conn = state.db.pool().acquire().await?;
    let row = conversations::require(&mut conn, &auth.org_id, &chat_id).await?;
    let mut mentions: Vec<AgentRef> = Vec::new();
    for agent_id in &request.mentions {
        if mentions.iter().any(|m| &m.id == agent_id) {
            continue;
        }
        let Some(agent) = agents::find_active(&mut conn, &auth.org_id, agent_id).await? else {
            // A request already answered stays answered, whoever has left since.
            if let Some(replay) = idempotency
                .replay(&mut conn, &auth.id, &request_fingerprint)
                .await?
            {
                return Ok(replay);
            }
            return Err(cannot_mention(agent_id));
        };
        mentions.push(AgentRef {
            id: agent.id,
            name: agent.name,
        });
    }
    drop(conn);
    let note = Note {
        id: uuid::Uuid::new_v4().to_string(),
        // The path may name the chat by its alias; events and replies use its own id.
        chat_id: row.chat_id()?,
        author: auth.agent_ref(),
        body: body.to_owned(),
        mentions,
        created_at: 0,
    };
    write_note_on_postgres(
        &state,
        &auth.org_id,
        &row.id,
        note,
        &idempotency,
        &request_fingerprint,
    )
    .await
}

/// The JSON of `value` cut just before the value of its last field, `created_at`, which the
/// database fills in (`value` has it 0): `None` if the JSON does not end that way.
fn head_before_created_at(json: &str, closing: &str) -> Option<String> {
    let head = json.strip_suffix(closing)?.strip_suffix('0')?;
    head.ends_with("\"created_at\":").then(|| head.to_owned())
}

/// Writes `note` (its `created_at` left 0) on PostgreSQL in one call of `baton_write_note`
/// (migration 0022), which takes the org's lock, replays the request if its idempotency key was
/// used before, checks the mentions are still active agents, and records the note, its event and
/// the key at the database's clock.
async fn write_note_on_postgres(
    state: &AppState,
    org_id: &str,
    conversation_id: &str,
    note: Note,
    idempotency: &IdempotencyKey,
    request_fingerprint: &str,
) -> ApiResult<Response> {
    let body = EventBody::NoteCreated(note.clone());
    let cut = |json: serde_json::Result<String>, closing: &str| -> ApiResult<String> {
        let json = json.map_err(anyhow::Error::from)?;
        head_before_created_at(&json, closing)
            .ok_or_else(|| anyhow::anyhow!("a note's JSON does not end with created_at").into())
    };
    let note_head = cut(serde_json::to_string(&note), "}")?;
    let event_head = cut(serde_json::to_string(&body), "}}")?;
    let mentions = serde_json::to_string(&note.mentions).map_err(anyhow::Error::from)?;
    let outcome = sqlx::query(
        "SELECT o_outcome, o_request_hash, o_status, o_response
         FROM baton_write_note($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(org_id)
    .bind(conversation_id)
    .bind(note.chat_id.as_str())
    .bind(&note.id)
    .bind(&note.author.id)
    .bind(&note.author.name)
    .bind(&note.body)
    .bind(&mentions)
    .bind(body.kind())
    .bind(i64::from(body.in_timeline()))
    .bind(&note_head)
    .bind(&event_head)
    .bind(idempotency.key())
    .bind(request_fingerprint)
    .fetch_one(state.db.pool())
    .await;
    let row = match outcome {
        Ok(row) => row,
        Err(err) if crate::db::is_unique_violation(&err) => return Err(in_flight()),
        Err(err) => return Err(err.into()),
    };
    let outcome: String = row.try_get(0)?;
    match outcome.as_str() {
        "written" => {
            state.hub.events_committed(org_id);
            Ok(json_response(StatusCode::CREATED, row.try_get(3)?))
        }
        "replay" => replayed(
            &row.try_get::<String, _>(1)?,
            request_fingerprint,
            row.try_get(2)?,
            row.try_get(3)?,
        ),
        "mention_inactive" => Err(ApiError::validation(
            "cannot mention an agent who is no longer active in your org",
        )),
        other => Err(anyhow::anyhow!("baton_write_note answered {other:?}").into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> Note {
        Note {
            id: "n1".into(),
            chat_id: ChatId::parse("919876543210@c.us").expect("a valid chat id"),
            author: AgentRef {
                id: "a1".into(),
                name: "Asha \"A\" Rao".into(),
            },
            body: "call back at 5, \"created_at\":0}".into(),
            mentions: vec![],
            created_at: 0,
        }
    }

    /// PostgreSQL's note is written by completing these heads with its clock; completed, they
    /// must be exactly the JSON of the note and of its event at that time.
    #[test]
    fn the_heads_complete_to_the_note_and_its_event() {
        let mut note = note();
        let note_head =
            head_before_created_at(&serde_json::to_string(&note).unwrap(), "}").unwrap();
        let event_head = head_before_created_at(
            &serde_json::to_string(&EventBody::NoteCreated(note.clone())).unwrap(),
            "}}",
        )
        .unwrap();
        note.created_at = 1_795_815_461_259;
        assert_eq!(
            format!("{note_head}1795815461259}}"),
            serde_json::to_string(&note).unwrap()
        );
        assert_eq!(
            format!("{event_head}1795815461259}}}}"),
            serde_json::to_string(&EventBody::NoteCreated(note)).unwrap()
        );
        assert_eq!(head_before_created_at("{\"a\":1}", "}"), None);
    }
}
