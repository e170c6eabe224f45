//! The org's routing rules: an ordered list, the first enabled rule that matches a chat decides
//! where it goes. Everyone reads them; leads and admins write them. Every write is one
//! transaction; the ids a rule names are checked against the org in it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::codes;
use protocol::routing::{Rule, RuleOrder, RuleRequest};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::db::{agents, pipelines, routing, WriteTx};
use crate::routing::rules::check_rule;

pub fn router() -> Routes {
    Routes::new()
        .get("/routing/rules", list_rules)
        .post("/routing/rules", create_rule)
        .put("/routing/rules/order", reorder_rules)
        .put("/routing/rules/{id}", update_rule)
        .delete("/routing/rules/{id}", delete_rule)
}

/// Most rules an org may have.
const MAX_RULES: usize = 200;

async fn list_rules(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Vec<Rule>>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(routing::rules(&mut conn, &auth.org_id).await?))
}

/// Checks the rule and the ids it names against the org; `except` is the rule being changed
/// (its own name is not a clash).
async fn checked(
    tx: &mut WriteTx,
    org_id: &str,
    request: RuleRequest,
    except: Option<&str>,
) -> ApiResult<RuleRequest> {
    let rule = check_rule(request).map_err(ApiError::validation)?;
    if let Some(pipeline_id) = &rule.matches.pipeline_id {
        let pipeline = pipelines::find(tx.conn(), org_id, pipeline_id)
            .await?
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "match.pipeline_id: there is no pipeline {pipeline_id} in your org"
                ))
            })?;
        if let Some(stage) = &rule.matches.stage {
            if !pipeline.stages.contains(stage) {
                return Err(ApiError::validation(format!(
                    "match.stage: {stage:?} is not a stage of {}; its stages are {}",
                    pipeline.name,
                    pipeline.stages.join(", ")
                )));
            }
        }
    }
    if let Some(team_id) = &rule.target.team_id {
        if routing::team(tx.conn(), org_id, team_id).await?.is_none() {
            return Err(ApiError::validation(format!(
                "target.team_id: there is no team {team_id} in your org"
            )));
        }
    }
    for agent_id in rule.target.agent_ids.iter().flatten() {
        agents::find_person(tx.conn(), org_id, agent_id, "target.agent_ids: ").await?;
    }
    let clash = routing::rules(tx.conn(), org_id)
        .await?
        .into_iter()
        .any(|r| {
            r.name.to_lowercase() == rule.name.to_lowercase() && Some(r.id.as_str()) != except
        });
    if clash {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            format!("a rule named {:?} exists already", rule.name),
        ));
    }
    Ok(rule)
}

async fn create_rule(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<RuleRequest>,
) -> ApiResult<Response> {
    auth.require_supervisor("write routing rules")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let rule = save_rule(&mut tx, &auth.org_id, None, request).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

/// Checks and stores a rule in the caller's transaction: a new one (`id` `None`, added last) or
/// over the org's rule `id`, in its place. The admin command line's `routing apply` uses it too.
pub(crate) async fn save_rule(
    tx: &mut WriteTx,
    org_id: &str,
    id: Option<&str>,
    request: RuleRequest,
) -> ApiResult<Rule> {
    let request = checked(tx, org_id, request, id).await?;
    let now = tx.now();
    let existing = routing::rules(tx.conn(), org_id).await?;
    let rule = match id {
        Some(id) => {
            let known = existing
                .into_iter()
                .find(|r| r.id == id)
                .ok_or(ApiError::NotFound("routing rule"))?;
            Rule {
                name: request.name,
                enabled: request.enabled,
                matches: request.matches,
                target: request.target,
                strategy: request.strategy,
                reassign_after_secs: request.reassign_after_secs,
                updated_at: now,
                ..known
            }
        }
        None => {
            if existing.len() >= MAX_RULES {
                return Err(ApiError::validation(format!(
                    "an org may have at most {MAX_RULES} rules"
                )));
            }
            Rule {
                id: uuid::Uuid::new_v4().to_string(),
                position: existing.last().map_or(1, |r| r.position + 1),
                name: request.name,
                enabled: request.enabled,
                matches: request.matches,
                target: request.target,
                strategy: request.strategy,
                reassign_after_secs: request.reassign_after_secs,
                created_at: now,
                updated_at: now,
            }
        }
    };
    routing::store_rule(tx.conn(), org_id, &rule, id.is_none()).await?;
    Ok(rule)
}

async fn update_rule(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<RuleRequest>,
) -> ApiResult<Json<Rule>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    routing::rule(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("routing rule"))?;
    auth.require_supervisor("write routing rules")?;
    let rule = save_rule(&mut tx, &auth.org_id, Some(&id), request).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(rule))
}

async fn delete_rule(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    routing::rule(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("routing rule"))?;
    auth.require_supervisor("write routing rules")?;
    remove_rule(&mut tx, &auth.org_id, &id).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the org's rule `id`.
pub(crate) async fn remove_rule(tx: &mut WriteTx, org_id: &str, id: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM routing_rules WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Puts the rules in the given order: the ids must be every rule of the org, once each.
async fn reorder_rules(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(order): AppJson<RuleOrder>,
) -> ApiResult<Json<Vec<Rule>>> {
    auth.require_supervisor("reorder routing rules")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let rules = put_in_order(&mut tx, &auth.org_id, &order.ids).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(rules))
}

/// [`reorder_rules`] in the caller's transaction.
pub(crate) async fn put_in_order(
    tx: &mut WriteTx,
    org_id: &str,
    ids: &[String],
) -> ApiResult<Vec<Rule>> {
    let existing = routing::rules(tx.conn(), org_id).await?;
    let mut given = ids.to_vec();
    given.sort();
    let mut known: Vec<String> = existing.iter().map(|r| r.id.clone()).collect();
    known.sort();
    if given != known {
        return Err(ApiError::validation(format!(
            "ids must list every rule of your org once, in the new order ({} rules; {} ids given)",
            known.len(),
            ids.len()
        )));
    }
    for (place, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE routing_rules SET position = $1 WHERE id = $2 AND org_id = $3")
            .bind(i64::try_from(place + 1).map_err(anyhow::Error::from)?)
            .bind(id)
            .bind(org_id)
            .execute(tx.conn())
            .await?;
    }
    routing::rules(tx.conn(), org_id).await
}
