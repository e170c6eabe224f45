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
        if agents::find_active(tx.conn(), org_id, agent_id)
            .await?
            .is_none()
        {
            return Err(ApiError::validation(format!(
                "target.agent_ids: there is no active agent with id {agent_id} in your org"
            )));
        }
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
    let request = checked(&mut tx, &auth.org_id, request, None).await?;
    let existing = routing::rules(tx.conn(), &auth.org_id).await?;
    if existing.len() >= MAX_RULES {
        return Err(ApiError::validation(format!(
            "an org may have at most {MAX_RULES} rules"
        )));
    }
    let now = tx.now();
    let rule = Rule {
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
    };
    routing::store_rule(tx.conn(), &auth.org_id, &rule, true).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok((StatusCode::CREATED, Json(rule)).into_response())
}

async fn update_rule(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<RuleRequest>,
) -> ApiResult<Json<Rule>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let known = routing::rule(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("routing rule"))?;
    auth.require_supervisor("write routing rules")?;
    let request = checked(&mut tx, &auth.org_id, request, Some(&id)).await?;
    let rule = Rule {
        name: request.name,
        enabled: request.enabled,
        matches: request.matches,
        target: request.target,
        strategy: request.strategy,
        reassign_after_secs: request.reassign_after_secs,
        updated_at: tx.now(),
        ..known
    };
    routing::store_rule(tx.conn(), &auth.org_id, &rule, false).await?;
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
    sqlx::query("DELETE FROM routing_rules WHERE id = $1 AND org_id = $2")
        .bind(&id)
        .bind(&auth.org_id)
        .execute(tx.conn())
        .await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Puts the rules in the given order: the ids must be every rule of the org, once each.
async fn reorder_rules(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(order): AppJson<RuleOrder>,
) -> ApiResult<Json<Vec<Rule>>> {
    auth.require_supervisor("reorder routing rules")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let existing = routing::rules(tx.conn(), &auth.org_id).await?;
    let mut given = order.ids.clone();
    given.sort();
    let mut known: Vec<String> = existing.iter().map(|r| r.id.clone()).collect();
    known.sort();
    if given != known {
        return Err(ApiError::validation(format!(
            "ids must list every rule of your org once, in the new order ({} rules; {} ids given)",
            known.len(),
            order.ids.len()
        )));
    }
    for (place, id) in order.ids.iter().enumerate() {
        sqlx::query("UPDATE routing_rules SET position = $1 WHERE id = $2 AND org_id = $3")
            .bind(i64::try_from(place + 1).map_err(anyhow::Error::from)?)
            .bind(id)
            .bind(&auth.org_id)
            .execute(tx.conn())
            .await?;
    }
    let rules = routing::rules(tx.conn(), &auth.org_id).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(rules))
}
