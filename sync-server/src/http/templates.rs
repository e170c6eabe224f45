//! Message templates: the team's canned replies with `{{variables}}` (the syntax is
//! [`protocol::templates`]). Everyone reads them and counts their use; leads and admins write
//! them. Every change is a live `template.saved` / `template.deleted` event, so open WhatsApp
//! tabs have the new wording at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::codes;
use protocol::events::EventBody;
use protocol::templates::{self, Template, TemplateRequest};
use sqlx::Row;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::{pipelines, WriteTx};

pub fn router() -> Routes {
    Routes::new()
        .get("/templates", list_templates)
        .post("/templates", create_template)
        .put("/templates/{id}", update_template)
        .delete("/templates/{id}", delete_template)
        .post("/templates/{id}/used", template_used)
}

/// Longest template name.
const MAX_NAME_CHARS: usize = 80;
/// Most templates an org may have.
const MAX_TEMPLATES: i64 = 500;

const SELECT_TEMPLATE: &str =
    "SELECT id, name, body, pipeline_id, stage, use_count, created_at, updated_at FROM templates";

fn template_from_row(row: &sqlx::any::AnyRow) -> ApiResult<Template> {
    let body: String = row.try_get("body")?;
    // Checked when saved; a body that no longer parses shows no variables rather than failing.
    let custom_variables = templates::parse(&body)
        .map(|pieces| templates::custom_variables(&pieces))
        .unwrap_or_default();
    Ok(Template {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        body,
        pipeline_id: row.try_get("pipeline_id")?,
        stage: row.try_get("stage")?,
        custom_variables,
        use_count: row.try_get("use_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn find(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    id: &str,
) -> ApiResult<Option<Template>> {
    let row = sqlx::query(&format!("{SELECT_TEMPLATE} WHERE org_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(template_from_row).transpose()
}

async fn list_templates(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<Vec<Template>>> {
    let mut conn = state.db.pool().acquire().await?;
    let rows = sqlx::query(&format!(
        "{SELECT_TEMPLATE} WHERE org_id = $1 ORDER BY name_key, id"
    ))
    .bind(&auth.org_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Json(
        rows.iter()
            .map(template_from_row)
            .collect::<ApiResult<_>>()?,
    ))
}

/// The request tidied and checked against the org (the pipeline and its stage), or a 422 naming
/// the field; `except`: the template being changed (its own name is no clash).
async fn checked(
    tx: &mut WriteTx,
    org_id: &str,
    request: TemplateRequest,
    except: Option<&str>,
) -> ApiResult<TemplateRequest> {
    let name = clean_name("name", &request.name, MAX_NAME_CHARS).map_err(ApiError::validation)?;
    let body = request.body.trim().to_owned();
    if body.is_empty() {
        return Err(ApiError::validation("body: write the message"));
    }
    if body.chars().count() > templates::MAX_BODY_CHARS {
        return Err(ApiError::validation(format!(
            "body: at most {} characters",
            templates::MAX_BODY_CHARS
        )));
    }
    if let Some(c) = protocol::text::first_refused(&body) {
        return Err(ApiError::validation(protocol::text::refusal("body", c)));
    }
    templates::parse(&body).map_err(ApiError::validation)?;
    match (&request.pipeline_id, &request.stage) {
        (None, Some(_)) => {
            return Err(ApiError::validation(
                "stage: give the pipeline_id the stage belongs to",
            ))
        }
        (Some(pipeline_id), stage) => {
            let pipeline = pipelines::find(tx.conn(), org_id, pipeline_id)
                .await?
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "pipeline_id: there is no pipeline {pipeline_id} in your org"
                    ))
                })?;
            if let Some(stage) = stage {
                if !pipeline.stages.contains(stage) {
                    return Err(ApiError::validation(format!(
                        "stage: {stage:?} is not a stage of {}; its stages are {}",
                        pipeline.name,
                        pipeline.stages.join(", ")
                    )));
                }
            }
        }
        (None, None) => {}
    }
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM templates WHERE org_id = $1 AND name_key = $2")
            .bind(org_id)
            .bind(name.to_lowercase())
            .fetch_optional(tx.conn())
            .await?;
    if taken.is_some_and(|id| Some(id.as_str()) != except) {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            format!("a template named {name:?} exists already"),
        ));
    }
    Ok(TemplateRequest {
        name,
        body,
        ..request
    })
}

async fn create_template(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<TemplateRequest>,
) -> ApiResult<Response> {
    auth.require_supervisor("write templates")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let request = checked(&mut tx, &auth.org_id, request, None).await?;
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM templates WHERE org_id = $1")
        .bind(&auth.org_id)
        .fetch_one(tx.conn())
        .await?;
    if count >= MAX_TEMPLATES {
        return Err(ApiError::validation(format!(
            "an org may have at most {MAX_TEMPLATES} templates"
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = tx.now();
    sqlx::query(
        "INSERT INTO templates (id, org_id, name, name_key, body, pipeline_id, stage, use_count,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $8)",
    )
    .bind(&id)
    .bind(&auth.org_id)
    .bind(&request.name)
    .bind(request.name.to_lowercase())
    .bind(&request.body)
    .bind(&request.pipeline_id)
    .bind(&request.stage)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let template = saved(&mut tx, &auth, &id).await?;
    tx.commit(&state.hub).await?;
    Ok((StatusCode::CREATED, Json(template)).into_response())
}

/// The template as stored now, told live to every tab of the org.
async fn saved(tx: &mut WriteTx, auth: &AuthAgent, id: &str) -> ApiResult<Template> {
    let template = find(tx.conn(), &auth.org_id, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the template just saved is missing"))?;
    tx.append(
        None,
        Some(&auth.agent_ref()),
        EventBody::TemplateSaved(template.clone()),
    )
    .await?;
    Ok(template)
}

async fn update_template(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<TemplateRequest>,
) -> ApiResult<Json<Template>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    find(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    auth.require_supervisor("write templates")?;
    let request = checked(&mut tx, &auth.org_id, request, Some(&id)).await?;
    let now = tx.now();
    sqlx::query(
        "UPDATE templates SET name = $1, name_key = $2, body = $3, pipeline_id = $4, stage = $5,
             updated_at = $6
         WHERE id = $7 AND org_id = $8",
    )
    .bind(&request.name)
    .bind(request.name.to_lowercase())
    .bind(&request.body)
    .bind(&request.pipeline_id)
    .bind(&request.stage)
    .bind(now)
    .bind(&id)
    .bind(&auth.org_id)
    .execute(tx.conn())
    .await?;
    let template = saved(&mut tx, &auth, &id).await?;
    tx.commit(&state.hub).await?;
    Ok(Json(template))
}

async fn delete_template(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    find(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("template"))?;
    auth.require_supervisor("delete templates")?;
    sqlx::query("DELETE FROM templates WHERE id = $1 AND org_id = $2")
        .bind(&id)
        .bind(&auth.org_id)
        .execute(tx.conn())
        .await?;
    tx.append(
        None,
        Some(&auth.agent_ref()),
        EventBody::TemplateDeleted { id },
    )
    .await?;
    tx.commit(&state.hub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agent inserted the template: counted (no event: a count is not news).
async fn template_used(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let counted =
        sqlx::query("UPDATE templates SET use_count = use_count + 1 WHERE id = $1 AND org_id = $2")
            .bind(&id)
            .bind(&auth.org_id)
            .execute(tx.conn())
            .await?
            .rows_affected();
    if counted == 0 {
        return Err(ApiError::NotFound("template"));
    }
    tx.commit(&state.hub).await?;
    Ok(StatusCode::NO_CONTENT)
}
