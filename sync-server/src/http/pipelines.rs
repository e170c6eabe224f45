//! Pipelines: ordered stages a conversation moves through (one pipeline per product, say), with
//! response-time targets per stage. Leads and admins define and change them; everyone reads them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use protocol::api::{
    Page, Pipeline, PipelineRequest, PipelineUpdate, StageMove, StageRef, StageSla,
};
use protocol::codes;
use protocol::events::EventBody;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent, IdPath};
use super::idempotency::{fingerprint, IdempotencyKey};
use super::page::{self, PageQuery};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::pipelines::{self, pipeline_from_row};
use crate::db::routing;

pub fn router() -> Routes {
    Routes::new()
        .get("/pipelines", list_pipelines)
        .post("/pipelines", create_pipeline)
        .put("/pipelines/{id}", update_pipeline)
}

const MAX_STAGES: usize = 50;
/// Longest response-time target: a week.
const MAX_SLA_MINS: u32 = 7 * 24 * 60;

/// Stage names tidied, once each, 1 to [`MAX_STAGES`] of them.
fn clean_stages(given: &[String]) -> ApiResult<Vec<String>> {
    if given.is_empty() || given.len() > MAX_STAGES {
        return Err(ApiError::validation(format!(
            "a pipeline needs 1 to {MAX_STAGES} stages"
        )));
    }
    let mut stages: Vec<String> = Vec::with_capacity(given.len());
    for stage in given {
        let stage = clean_name("stage name", stage, 60).map_err(ApiError::validation)?;
        if stages.contains(&stage) {
            return Err(ApiError::validation(format!(
                "stage {stage:?} appears twice"
            )));
        }
        stages.push(stage);
    }
    Ok(stages)
}

/// Refuses a name another pipeline of the org has (`except`: the one being renamed).
async fn name_free(
    tx: &mut crate::db::WriteTx,
    org_id: &str,
    name: &str,
    except: Option<&str>,
) -> ApiResult<()> {
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM pipelines WHERE org_id = $1 AND name = $2 AND id <> $3")
            .bind(org_id)
            .bind(name)
            .bind(except.unwrap_or(""))
            .fetch_optional(tx.conn())
            .await?;
    match taken {
        Some(_) => Err(ApiError::conflict(
            codes::PIPELINE_EXISTS,
            format!("a pipeline named {name:?} exists already"),
        )),
        None => Ok(()),
    }
}

/// The org's pipelines, a page at a time (by id; clients sort as they show them).
async fn list_pipelines(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<Pipeline>>> {
    let limit = page::limit(query.limit, 200, 1000)?;
    let items = sqlx::query(
        "SELECT id, name, stages, sla, created_at FROM pipelines
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
    let stages = clean_stages(&request.stages)?;
    let request_fingerprint = fingerprint("pipeline", &request)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    if let Some(replay) = idempotency
        .replay(tx.conn(), &auth.id, &request_fingerprint)
        .await?
    {
        return Ok(replay);
    }
    name_free(&mut tx, &auth.org_id, &name, None).await?;
    let pipeline = Pipeline {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        stages,
        sla: Default::default(),
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

/// Changes a pipeline in one transaction: its name, its stages (renamed ones keep their
/// conversations; removed ones that hold conversations move them as `moved` says, each move a
/// `stage.changed` in the chat's timeline) and its response-time targets. Routing rules follow a
/// renamed stage; a removed stage a rule matches is refused (change the rule first); templates
/// scoped to a removed stage keep only the pipeline.
async fn update_pipeline(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(update): AppJson<PipelineUpdate>,
) -> ApiResult<Json<Pipeline>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let old = pipelines::find(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("pipeline"))?;
    auth.require_supervisor("change pipelines")?;
    let name = clean_name("pipeline name", &update.name, 100).map_err(ApiError::validation)?;
    let stages = clean_stages(&update.stages)?;
    // Old name → new name, each old stage once.
    let mut renamed: Vec<(String, String)> = Vec::new();
    for rename in &update.renamed {
        if renamed.iter().any(|(from, _)| *from == rename.from) {
            return Err(ApiError::validation(format!(
                "renamed: {:?} is renamed twice",
                rename.from
            )));
        }
        renamed.push((rename.from.clone(), rename.to.clone()));
    }
    let renamed_from = |stage: &str| renamed.iter().any(|(from, _)| from == stage);
    let renamed_to = |stage: &str| {
        renamed
            .iter()
            .find(|(from, _)| from == stage)
            .map(|(_, to)| to.clone())
    };
    for (from, to) in &renamed {
        if !old.stages.contains(from) {
            return Err(ApiError::validation(format!(
                "renamed: {from:?} is not a stage of {}",
                old.name
            )));
        }
        if !stages.contains(to) {
            return Err(ApiError::validation(format!(
                "renamed: {from:?} becomes {to:?}, which is not in stages"
            )));
        }
        // Two old stages under one name would merge their chats unasked.
        let kept_elsewhere = old.stages.iter().any(|s| s == to && !renamed_from(s));
        if kept_elsewhere || renamed.iter().filter(|(_, v)| v == to).count() > 1 {
            return Err(ApiError::validation(format!(
                "renamed: {to:?} would be two stages; to merge stages, remove one and move its conversations (moved)"
            )));
        }
    }
    let removed: Vec<&String> = old
        .stages
        .iter()
        .filter(|s| !renamed_from(s) && !stages.contains(s))
        .collect();
    let mut moved: Vec<(String, Option<String>)> = Vec::new();
    for StageMove { from, to } in &update.moved {
        if !removed.contains(&from) || moved.iter().any(|(f, _)| f == from) {
            return Err(ApiError::validation(format!(
                "moved: {from:?} is not a stage this change removes"
            )));
        }
        if let Some(to) = to {
            if !stages.contains(to) {
                return Err(ApiError::validation(format!(
                    "moved: {from:?} goes to {to:?}, which is not in stages"
                )));
            }
        }
        moved.push((from.clone(), to.clone()));
    }
    let mut sla: Vec<StageSla> = Vec::new();
    for target in &update.sla {
        let stage = &target.stage;
        if !stages.contains(stage) || sla.iter().any(|t| t.stage == *stage) {
            return Err(ApiError::validation(format!(
                "sla: {stage:?} is not in stages, or is there twice"
            )));
        }
        for (field, mins) in [
            ("first_response_mins", target.first_response_mins),
            ("response_mins", target.response_mins),
        ] {
            if mins.is_some_and(|m| m == 0 || m > MAX_SLA_MINS) {
                return Err(ApiError::validation(format!(
                    "sla.{stage}.{field}: 1 to {MAX_SLA_MINS} minutes"
                )));
            }
        }
        if target.first_response_mins.is_some() || target.response_mins.is_some() {
            sla.push(target.clone());
        }
    }
    name_free(&mut tx, &auth.org_id, &name, Some(&id)).await?;
    // A removed stage that holds conversations needs a destination.
    for stage in &removed {
        let held: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversations WHERE org_id = $1 AND pipeline_id = $2 AND stage = $3",
        )
        .bind(&auth.org_id)
        .bind(&id)
        .bind(stage.as_str())
        .fetch_one(tx.conn())
        .await?;
        if held > 0 && !moved.iter().any(|(from, _)| from == *stage) {
            return Err(ApiError::conflict(
                codes::STAGE_NOT_EMPTY,
                format!(
                    "{stage:?} holds {held} conversation{}: say where they go (moved: [{{\"from\": {stage:?}, \"to\": \"another stage\"}}], or \"to\": null to take them out of the pipeline)",
                    if held == 1 { "" } else { "s" }
                ),
            ));
        }
    }
    // The responder's flow follows a renamed stage; one exiting to a removed stage must change
    // first.
    super::flows::stages_changed(&mut tx, &auth.org_id, &id, &stages, &renamed).await?;
    // Routing rules follow a renamed stage; one matching a removed stage must change first.
    let mut rules = routing::rules(tx.conn(), &auth.org_id).await?;
    for rule in &mut rules {
        if rule.matches.pipeline_id.as_deref() != Some(id.as_str()) {
            continue;
        }
        let Some(stage) = rule.matches.stage.clone() else {
            continue;
        };
        if removed.contains(&&stage) {
            return Err(ApiError::conflict(
                codes::CONFLICT,
                format!(
                    "routing rule {:?} matches stage {stage:?}; change the rule first",
                    rule.name
                ),
            ));
        }
        if let Some(to) = renamed_to(&stage) {
            rule.matches.stage = Some(to);
            routing::store_rule(tx.conn(), &auth.org_id, rule, false).await?;
        }
    }
    // Renames go through names nobody uses, so swapping two stages' names works.
    for (step, (from, _)) in renamed.iter().enumerate() {
        rename_stage(
            &mut tx,
            &auth.org_id,
            &id,
            from,
            &format!("baton-renaming-{step}"),
        )
        .await?;
    }
    for (step, (_, to)) in renamed.iter().enumerate() {
        rename_stage(
            &mut tx,
            &auth.org_id,
            &id,
            &format!("baton-renaming-{step}"),
            to,
        )
        .await?;
    }
    let pipeline = Pipeline {
        id: id.clone(),
        name,
        stages,
        sla,
        created_at: old.created_at,
    };
    sqlx::query("UPDATE pipelines SET name = $1, stages = $2, sla = $3 WHERE id = $4")
        .bind(&pipeline.name)
        .bind(serde_json::to_string(&pipeline.stages).map_err(anyhow::Error::from)?)
        .bind(serde_json::to_string(&pipeline.sla).map_err(anyhow::Error::from)?)
        .bind(&id)
        .execute(tx.conn())
        .await?;
    // Conversations leave removed stages as the lead said, each told in its timeline.
    let me = auth.agent_ref();
    for (from, to) in &moved {
        let chats: Vec<String> = sqlx::query_scalar(
            "SELECT chat_id FROM conversations WHERE org_id = $1 AND pipeline_id = $2 AND stage = $3",
        )
        .bind(&auth.org_id)
        .bind(&id)
        .bind(from)
        .fetch_all(tx.conn())
        .await?;
        sqlx::query(
            "UPDATE conversations SET pipeline_id = $1, stage = $2
             WHERE org_id = $3 AND pipeline_id = $4 AND stage = $5",
        )
        .bind(to.as_ref().map(|_| id.clone()))
        .bind(to)
        .bind(&auth.org_id)
        .bind(&id)
        .bind(from)
        .execute(tx.conn())
        .await?;
        let stage_ref = |stage: &str| StageRef {
            pipeline_id: id.clone(),
            pipeline_name: pipeline.name.clone(),
            stage: stage.to_owned(),
        };
        for chat in chats {
            let chat_id = protocol::ChatId::parse(&chat)
                .map_err(|e| anyhow::anyhow!("stored chat id {chat:?} is invalid: {e}"))?;
            tx.append(
                Some(&chat_id),
                Some(&me),
                EventBody::StageChanged {
                    stage: to.as_deref().map(stage_ref),
                    previous: Some(StageRef {
                        pipeline_name: old.name.clone(),
                        ..stage_ref(from)
                    }),
                },
            )
            .await?;
        }
    }
    // Templates scoped to a removed stage keep the pipeline; renamed ones follow.
    for stage in &removed {
        sqlx::query("UPDATE templates SET stage = NULL WHERE org_id = $1 AND pipeline_id = $2 AND stage = $3")
            .bind(&auth.org_id)
            .bind(&id)
            .bind(stage.as_str())
            .execute(tx.conn())
            .await?;
    }
    for (from, to) in &renamed {
        sqlx::query(
            "UPDATE templates SET stage = $1 WHERE org_id = $2 AND pipeline_id = $3 AND stage = $4",
        )
        .bind(to)
        .bind(&auth.org_id)
        .bind(&id)
        .bind(from)
        .execute(tx.conn())
        .await?;
    }
    tx.append(
        None,
        Some(&me),
        EventBody::PipelineUpdated {
            pipeline: pipeline.clone(),
            renamed: update.renamed,
        },
    )
    .await?;
    tx.commit(&state.hub).await?;
    Ok(Json(pipeline))
}

async fn rename_stage(
    tx: &mut crate::db::WriteTx,
    org_id: &str,
    pipeline_id: &str,
    from: &str,
    to: &str,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE conversations SET stage = $1 WHERE org_id = $2 AND pipeline_id = $3 AND stage = $4",
    )
    .bind(to)
    .bind(org_id)
    .bind(pipeline_id)
    .bind(from)
    .execute(tx.conn())
    .await?;
    Ok(())
}
