//! Pipelines: ordered stages a conversation moves through (one pipeline per product, say).
//! Leads and admins define them; everyone reads them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use protocol::api::{Page, Pipeline, PipelineRequest};
use protocol::codes;
use protocol::events::EventBody;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::page::{self, PageQuery};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::pipelines::pipeline_from_row;

pub fn router() -> Routes {
    Routes::new()
        .get("/pipelines", list_pipelines)
        .post("/pipelines", create_pipeline)
}

const MAX_STAGES: usize = 50;

/// The org's pipelines, a page at a time (by id; clients sort as they show them).
async fn list_pipelines(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<Pipeline>>> {
    let limit = page::limit(query.limit, 200, 1000)?;
    let items = sqlx::query(
        "SELECT id, name, stages, created_at FROM pipelines
         WHERE org_id = $1 AND ($2 IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(&auth.org_id)
    .bind(query.cursor)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(pipeline_from_row)
    .collect::<ApiResult<Vec<_>>>()?;
    let next_cursor = page::next_cursor(&items, limit, |p| p.id.clone());
    Ok(Json(Page { items, next_cursor }))
}

async fn create_pipeline(
    State(state): State<AppState>,
    auth: AuthAgent,
    idempotency: IdempotencyKey,
    AppJson(request): AppJson<PipelineRequest>,
) -> ApiResult<Response> {
    auth.require_supervisor("define pipelines")?;
    let name = clean_name("pipeline name", &request.name, 100).map_err(ApiError::validation)?;
    if request.stages.is_empty() || request.stages.len() > MAX_STAGES {
        return Err(ApiError::validation(format!(
            "a pipeline needs 1 to {MAX_STAGES} stages"
        )));
    }
    let mut stages: Vec<String> = Vec::with_capacity(request.stages.len());
    for stage in &request.stages {
        let stage = clean_name("stage name", stage, 60).map_err(ApiError::validation)?;
        if stages.contains(&stage) {
            return Err(ApiError::validation(format!(
                "stage {stage:?} appears twice"
            )));
        }
        stages.push(stage);
    }
    let request_fingerprint = fingerprint("pipeline", &request)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    if let Some(replay) = idempotency
        .replay(&mut tx, &auth.id, &request_fingerprint)
        .await?
    {
        return Ok(replay);
    }
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM pipelines WHERE org_id = $1 AND name = $2")
            .bind(&auth.org_id)
            .bind(&name)
            .fetch_optional(tx.conn())
            .await?;
    if exists.is_some() {
        return Err(ApiError::conflict(
            codes::PIPELINE_EXISTS,
            format!("a pipeline named {name:?} exists already"),
        ));
    }
    let pipeline = Pipeline {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        stages,
        created_at: tx.now(),
    };
    sqlx::query(
        "INSERT INTO pipelines (id, org_id, name, stages, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&pipeline.id)
    .bind(&auth.org_id)
    .bind(&pipeline.name)
    .bind(serde_json::to_string(&pipeline.stages).map_err(anyhow::Error::from)?)
    .bind(pipeline.created_at)
    .execute(tx.conn())
    .await?;
    tx.append(
        None,
        Some(&auth.agent_ref()),
        EventBody::PipelineCreated(pipeline.clone()),
    )
    .await?;
    idempotency
        .commit(
            tx,
            &state,
            &auth.id,
            &request_fingerprint,
            StatusCode::CREATED,
            &pipeline,
        )
        .await
}
