//! Teams: the agents a routing rule can send chats to together. Everyone reads them; leads and
//! admins create, change and delete them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::codes;
use protocol::routing::{Team, TeamRequest};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::admin::clean_name;
use crate::db::{routing, WriteTx};

pub fn router() -> Routes {
    Routes::new()
        .get("/teams", list_teams)
        .post("/teams", create_team)
        .put("/teams/{id}", update_team)
        .delete("/teams/{id}", delete_team)
}

/// Longest team name.
const MAX_NAME_CHARS: usize = 80;
/// Most members in one team.
const MAX_MEMBERS: usize = 500;

async fn list_teams(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Vec<Team>>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(routing::teams(&mut conn, &auth.org_id).await?))
}

/// The request's name (tidied) and members (each an active agent of the org; duplicates
/// dropped), or a 422 naming what is wrong.
async fn checked(
    tx: &mut WriteTx,
    org_id: &str,
    request: TeamRequest,
) -> ApiResult<(String, Vec<String>)> {
    let name = clean_name("name", &request.name, MAX_NAME_CHARS).map_err(ApiError::validation)?;
    let mut members = request.agent_ids;
    members.sort();
    members.dedup();
    if members.len() > MAX_MEMBERS {
        return Err(ApiError::validation(format!(
            "agent_ids: at most {MAX_MEMBERS} members"
        )));
    }
    for id in &members {
        crate::db::agents::find_person(tx.conn(), org_id, id, "agent_ids: ").await?;
    }
    Ok((name, members))
}

/// Refuses a name another team of the org has (compared without case).
async fn ensure_name_free(
    tx: &mut WriteTx,
    org_id: &str,
    name: &str,
    except: Option<&str>,
) -> ApiResult<()> {
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM teams WHERE org_id = $1 AND name_key = $2")
            .bind(org_id)
            .bind(name.to_lowercase())
            .fetch_optional(tx.conn())
            .await?;
    match taken {
        Some(id) if Some(id.as_str()) != except => Err(ApiError::conflict(
            codes::CONFLICT,
            format!("a team named {name:?} exists already"),
        )),
        _ => Ok(()),
    }
}

async fn set_members(tx: &mut WriteTx, team_id: &str, members: &[String]) -> ApiResult<()> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team_id)
        .execute(tx.conn())
        .await?;
    for agent_id in members {
        sqlx::query("INSERT INTO team_members (team_id, agent_id) VALUES ($1, $2)")
            .bind(team_id)
            .bind(agent_id)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

async fn create_team(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<TeamRequest>,
) -> ApiResult<Response> {
    auth.require_supervisor("create teams")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let team = save_team(&mut tx, &auth.org_id, None, request).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok((StatusCode::CREATED, Json(team)).into_response())
}

async fn update_team(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<TeamRequest>,
) -> ApiResult<Json<Team>> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    routing::team(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    auth.require_supervisor("change teams")?;
    let team = save_team(&mut tx, &auth.org_id, Some(&id), request).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(team))
}

/// Checks and stores a team in the caller's transaction: a new one (`id` `None`) or the org's
/// team `id`, renamed and with these members. The admin command line's `routing apply` uses it
/// too.
pub(crate) async fn save_team(
    tx: &mut WriteTx,
    org_id: &str,
    id: Option<&str>,
    request: TeamRequest,
) -> ApiResult<Team> {
    let (name, members) = checked(tx, org_id, request).await?;
    ensure_name_free(tx, org_id, &name, id).await?;
    let id = match id {
        Some(id) => {
            sqlx::query("UPDATE teams SET name = $1, name_key = $2 WHERE id = $3 AND org_id = $4")
                .bind(&name)
                .bind(name.to_lowercase())
                .bind(id)
                .bind(org_id)
                .execute(tx.conn())
                .await?;
            id.to_owned()
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            let now = tx.now();
            sqlx::query(
                "INSERT INTO teams (id, org_id, name, name_key, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(org_id)
            .bind(&name)
            .bind(name.to_lowercase())
            .bind(now)
            .execute(tx.conn())
            .await?;
            id
        }
    };
    set_members(tx, &id, &members).await?;
    Ok(routing::team(tx.conn(), org_id, &id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the team just saved is missing"))?)
}

async fn delete_team(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    routing::team(tx.conn(), &auth.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound("team"))?;
    auth.require_supervisor("delete teams")?;
    let used_by: Vec<String> = routing::rules(tx.conn(), &auth.org_id)
        .await?
        .into_iter()
        .filter(|r| r.target.team_id.as_deref() == Some(id.as_str()))
        .map(|r| r.name)
        .collect();
    if !used_by.is_empty() {
        return Err(ApiError::conflict(
            codes::CONFLICT,
            format!(
                "routing rules send chats to this team ({}); change them first",
                used_by.join(", ")
            ),
        ));
    }
    set_members(&mut tx, &id, &[]).await?;
    sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(&id)
        .execute(tx.conn())
        .await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(StatusCode::NO_CONTENT)
}
