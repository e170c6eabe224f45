//! The first responder's qualification flows (`/flows`): one per pipeline, read by everyone,
//! written by leads and admins. A flow is checked against its pipeline's stages when saved
//! ([`crate::responder::flow::check`]: it must be able to finish), and again whenever the
//! pipeline changes ([`stages_changed`]): renamed stages are followed, a removed stage a flow
//! still exits to is refused.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::codes;
use protocol::responder::{Flow, FlowRequest, Then};
use sqlx::Row;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::{pipelines, WriteTx};
use crate::responder::flow;

pub fn router() -> Routes {
    Routes::new()
        .get("/flows", list_flows)
        .post("/flows", create_flow)
        .put("/flows/{id}", update_flow)
        .delete("/flows/{id}", delete_flow)
}

const SELECT_FLOW: &str = "SELECT id, definition, created_at, updated_at FROM flows";

fn flow_from_row(row: &sqlx::any::AnyRow) -> ApiResult<Flow> {
    let definition: String = row.try_get("definition")?;
    let definition: FlowRequest = serde_json::from_str(&definition)
        .map_err(|e| anyhow::anyhow!("a stored flow is unreadable: {e}"))?;
    Ok(Flow::new(
        row.try_get("id")?,
        definition,
        row.try_get("created_at")?,
        row.try_get("updated_at")?,
    ))
}

async fn find(conn: &mut sqlx::AnyConnection, org_id: &str, id: &str) -> ApiResult<Option<Flow>> {
    let row = sqlx::query(&format!("{SELECT_FLOW} WHERE org_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(flow_from_row).transpose()
}

/// The flow as just written, in the same transaction.
async fn saved(tx: &mut WriteTx, org_id: &str, id: &str) -> ApiResult<Flow> {
    Ok(find(tx.conn(), org_id, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the flow just saved is missing"))?)
}

async fn list_flows(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Vec<Flow>>> {
    let mut conn = state.db.pool().acquire().await?;
    let rows = sqlx::query(&format!(
        "{SELECT_FLOW} WHERE org_id = $1 ORDER BY created_at, id"
    ))
    .bind(&auth.org_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Json(
        rows.iter().map(flow_from_row).collect::<ApiResult<_>>()?,
    ))
}

/// The request tidied and checked against its pipeline, or a 422 naming the field; a pipeline
/// that has a flow already is a 409 (`except`: the flow being changed).
async fn checked(
    tx: &mut WriteTx,
    org_id: &str,
    request: FlowRequest,
    except: Option<&str>,
) -> ApiResult<FlowRequest> {
    let name = clean_name("name", &request.name, 100).map_err(ApiError::validation)?;
    let pipeline = pipelines::find(tx.conn(), org_id, &request.pipeline_id)
        .await?
        .ok_or_else(|| {
            ApiError::validation(format!(
                "pipeline_id: there is no pipeline {} in your org",
                request.pipeline_id
            ))
        })?;
    let request = FlowRequest {
        name,
        greeting: request.greeting.trim().to_owned(),
        closing: request.closing.trim().to_owned(),
        person_words: request
            .person_words
            .iter()
            .map(|w| w.trim().to_lowercase())
            .collect(),
        ..request
    };
    for (field, text) in [
        ("greeting", &request.greeting),
        ("closing", &request.closing),
    ]
    .into_iter()
    .chain(request.questions.iter().map(|q| ("question text", &q.text)))
    {
        if let Some(c) = protocol::text::first_refused(text) {
            return Err(ApiError::validation(protocol::text::refusal(field, c)));
        }
    }
    flow::check(&request, &pipeline.stages).map_err(ApiError::validation)?;
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM flows WHERE org_id = $1 AND pipeline_id = $2")
            .bind(org_id)
            .bind(&request.pipeline_id)
            .fetch_optional(tx.conn())
            .await?;
    if taken.is_some_and(|id| Some(id.as_str()) != except) {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            format!(
                "the pipeline {} has a flow already; change that one",
                pipeline.name
            ),
        ));
    }
    // Brand-new chats are answered by one flow at most.
    if request.new_chats && request.enabled {
        let rows = sqlx::query(&format!("{SELECT_FLOW} WHERE org_id = $1"))
            .bind(org_id)
            .fetch_all(tx.conn())
            .await?;
        for row in &rows {
            let other = flow_from_row(row)?;
            if other.new_chats && other.enabled && Some(other.id.as_str()) != except {
                return Err(ApiError::conflict(
                    codes::CONFLICT,
                    format!(
                        "the flow {:?} answers brand-new chats already; only one may",
                        other.name
                    ),
                ));
            }
        }
    }
    Ok(request)
}

fn definition_json(request: &FlowRequest) -> ApiResult<String> {
    Ok(serde_json::to_string(request).map_err(anyhow::Error::from)?)
}

async fn create_flow(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<FlowRequest>,
) -> ApiResult<(StatusCode, Json<Flow>)> {
    auth.require_supervisor("write flows")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let request = checked(&mut tx, &auth.org_id, request, None).await?;
    let id = uuid::Uuid::new_v4().to_string();
    let now = tx.now();
    sqlx::query(
        "INSERT INTO flows (id, org_id, pipeline_id, name, enabled, definition, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(&auth.org_id)
    .bind(&request.pipeline_id)
    .bind(&request.name)
    .bind(i64::from(request.enabled))
    .bind(definition_json(&request)?)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let flow = saved(&mut tx, &auth.org_id, &id).await?;
    tx.commit(&state.hub).await?;
    Ok((StatusCode::CREATED, Json(flow)))
}

async fn update_flow(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<FlowRequest>,
) -> ApiResult<Json<Flow>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    find(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("flow"))?;
    auth.require_supervisor("write flows")?;
    let request = checked(&mut tx, &auth.org_id, request, Some(&id)).await?;
    store(&mut tx, &auth.org_id, &id, &request).await?;
    let flow = saved(&mut tx, &auth.org_id, &id).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(flow))
}

async fn store(tx: &mut WriteTx, org_id: &str, id: &str, request: &FlowRequest) -> ApiResult<()> {
    let now = tx.now();
    sqlx::query(
        "UPDATE flows SET pipeline_id = $1, name = $2, enabled = $3, definition = $4, updated_at = $5
         WHERE id = $6 AND org_id = $7",
    )
    .bind(&request.pipeline_id)
    .bind(&request.name)
    .bind(i64::from(request.enabled))
    .bind(definition_json(request)?)
    .bind(now)
    .bind(id)
    .bind(org_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn delete_flow(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    find(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("flow"))?;
    auth.require_supervisor("delete flows")?;
    sqlx::query("DELETE FROM flows WHERE id = $1 AND org_id = $2")
        .bind(&id)
        .bind(&auth.org_id)
        .execute(tx.conn())
        .await?;
    tx.commit(&state.hub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A pipeline's stages are changing to `stages`, `renamed` (from, to) among them: its flow
/// follows the renames, and is checked again; a flow the change would leave unable to finish (a
/// removed stage it still exits to) refuses the change with a 409 naming the flow and the stage.
pub async fn stages_changed(
    tx: &mut WriteTx,
    org_id: &str,
    pipeline_id: &str,
    stages: &[String],
    renamed: &[(String, String)],
) -> ApiResult<()> {
    let rows = sqlx::query(&format!(
        "{SELECT_FLOW} WHERE org_id = $1 AND pipeline_id = $2"
    ))
    .bind(org_id)
    .bind(pipeline_id)
    .fetch_all(tx.conn())
    .await?;
    let flows: Vec<Flow> = rows.iter().map(flow_from_row).collect::<ApiResult<_>>()?;
    for stored in flows {
        let before = stored.definition();
        let mut definition = before.clone();
        let follow = |stage: &mut String| {
            if let Some((_, to)) = renamed.iter().find(|(from, _)| from == stage) {
                *stage = to.clone();
            }
        };
        follow(&mut definition.done_stage);
        for question in &mut definition.questions {
            for branch in &mut question.branches {
                if let Then::Exit(stage) = &mut branch.then {
                    follow(stage);
                }
            }
        }
        if let Err(problem) = flow::check(&definition, stages) {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                format!(
                    "the responder's flow {:?} could no longer finish ({problem}); change the flow first",
                    definition.name
                ),
            ));
        }
        if definition != before {
            store(tx, org_id, &stored.id, &definition).await?;
        }
    }
    Ok(())
}
