//! The org's agents, as colleagues see them (for handoff pickers and @mentions) and as routing
//! sees them (presence, open chats, capacity); agents' own presence.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use protocol::api::{Agent, NewAgentRequest, Page, PasswordRequest, RoleRequest};
use protocol::routing::{AgentListed, Presence, PresenceChoice, PresenceRequest, PresenceStatus};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AppQuery, AuthAgent, IdPath};
use super::page::{self, PageQuery};
use super::{AppState, Routes};
use crate::admin;

pub fn router() -> Routes {
    Routes::new()
        .get("/agents", list_agents)
        .get("/agents/deactivated", list_deactivated)
        .post("/agents", create_agent)
        .put("/me/presence", set_presence)
        .post("/agents/{id}/deactivate", deactivate)
        .post("/agents/{id}/reactivate", reactivate)
        .put("/agents/{id}/password", set_password)
        .put("/agents/{id}/role", set_role)
}

/// The agent with this id in the caller's org (another org's id is simply not found).
fn colleague<'a>(auth: &'a AuthAgent, id: &'a str) -> admin::Who<'a> {
    admin::Who::Id {
        org_id: &auth.org_id,
        id,
    }
}

/// Adds an agent to the caller's org (admins), with the password they will log in with.
async fn create_agent(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<NewAgentRequest>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    auth.require_admin("add agents")?;
    let agent = admin::create_agent(
        &state.db,
        &state.hub,
        admin::NewAgent {
            org_id: &auth.org_id,
            name: &request.name,
            email: &request.email,
            role: request.role,
            password: &request.password,
        },
        Some(&auth.agent_ref()),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Stops an agent working (admins): their logins, event streams and reply locks end at once.
async fn deactivate(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    auth.require_admin("deactivate agents")?;
    if id == auth.id {
        return Err(ApiError::validation(
            "you cannot deactivate yourself; ask another admin",
        ));
    }
    admin::deactivate(
        &state.db,
        &state.hub,
        colleague(&auth, &id),
        Some(&auth.agent_ref()),
    )
    .await?;
    // Their chats wait for routing now.
    state.routing.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Lets a deactivated agent log in again (admins).
async fn reactivate(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<StatusCode> {
    auth.require_admin("reactivate agents")?;
    admin::reactivate(
        &state.db,
        &state.hub,
        colleague(&auth, &id),
        Some(&auth.agent_ref()),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives an agent another role (admins); their logins end so the new role holds at once.
async fn set_role(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<RoleRequest>,
) -> ApiResult<Json<Agent>> {
    auth.require_admin("change roles")?;
    let agent = admin::set_role(&state.db, &state.hub, colleague(&auth, &id), request.role).await?;
    Ok(Json(agent))
}

/// Sets an agent's password (admins); the agent's current logins end.
async fn set_password(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(request): AppJson<PasswordRequest>,
) -> ApiResult<StatusCode> {
    auth.require_admin("set passwords")?;
    admin::set_password(
        &state.db,
        &state.hub,
        colleague(&auth, &id),
        &request.password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A page of the org's active (or deactivated) agents by id, after `cursor`.
async fn page_of(
    conn: &mut sqlx::AnyConnection,
    org_id: &str,
    active: bool,
    cursor: Option<String>,
    limit: i64,
) -> ApiResult<Vec<Agent>> {
    Ok(sqlx::query(
        "SELECT id, name, email, role FROM agents
         WHERE org_id = $1 AND active = $2 AND ($3 IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
    )
    .bind(org_id)
    .bind(i64::from(active))
    .bind(cursor)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(admin::agent_from_row)
    .collect::<Result<Vec<_>, _>>()
    .map_err(anyhow::Error::from)?)
}

/// The org's active agents, a page at a time (by id; clients sort as they show them).
async fn list_agents(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<AgentListed>>> {
    let limit = page::limit(query.limit, 500, 1000)?;
    let mut conn = state.db.pool().acquire().await?;
    let now = state.db.now_on(&mut conn).await?;
    let agents = page_of(&mut conn, &auth.org_id, true, query.cursor, limit).await?;
    let open: Vec<(String, i64)> = sqlx::query_as(
        "SELECT owner_id, COUNT(*) FROM conversations
         WHERE org_id = $1 AND owner_id IS NOT NULL AND closed_at IS NULL GROUP BY owner_id",
    )
    .bind(&auth.org_id)
    .fetch_all(&mut *conn)
    .await?;
    // Presence, away flags and capacities of the whole org in three reads, not three per agent.
    let connected: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT agent_id FROM presence WHERE org_id = $1 AND expires_at > $2",
    )
    .bind(&auth.org_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let away: Vec<String> =
        sqlx::query_scalar("SELECT id FROM agents WHERE org_id = $1 AND away <> 0")
            .bind(&auth.org_id)
            .fetch_all(&mut *conn)
            .await?;
    let capacities: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT agent_id, capacity FROM agent_routing WHERE org_id = $1")
            .bind(&auth.org_id)
            .fetch_all(&mut *conn)
            .await?;
    let items: Vec<AgentListed> = agents
        .into_iter()
        .map(|agent| {
            let open_chats = open
                .iter()
                .find(|(owner, _)| *owner == agent.id)
                .map_or(0, |(_, n)| u32::try_from(*n).unwrap_or(u32::MAX));
            let presence = if !connected.contains(&agent.id) {
                PresenceStatus::Offline
            } else if away.contains(&agent.id) {
                PresenceStatus::Away
            } else {
                PresenceStatus::Available
            };
            let capacity = capacities
                .iter()
                .find(|(id, _)| *id == agent.id)
                .and_then(|(_, capacity)| capacity.and_then(|c| u32::try_from(c).ok()));
            AgentListed {
                agent,
                presence,
                open_chats,
                capacity,
            }
        })
        .collect();
    let next_cursor = page::next_cursor(&items, limit, |a| a.agent.id.clone());
    Ok(Json(Page { items, next_cursor }))
}

/// The org's deactivated agents (admins, who may reactivate them), a page at a time by id.
async fn list_deactivated(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<Agent>>> {
    auth.require_admin("see deactivated agents")?;
    let limit = page::limit(query.limit, 500, 1000)?;
    let mut conn = state.db.pool().acquire().await?;
    let items = page_of(&mut conn, &auth.org_id, false, query.cursor, limit).await?;
    let next_cursor = page::next_cursor(&items, limit, |a| a.id.clone());
    Ok(Json(Page { items, next_cursor }))
}

/// The agent says they are away or available; connected, they are then away or available at
/// once, for everyone; offline, they come online with that choice.
async fn set_presence(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(request): AppJson<PresenceRequest>,
) -> ApiResult<Json<Presence>> {
    let status: PresenceStatus = crate::presence::set_away(
        &state.db,
        &state.hub,
        &auth.org_id,
        &auth.agent_ref(),
        request.status == PresenceChoice::Away,
    )
    .await?;
    // Back from away: the queue may have a chat for them.
    state.routing.wake();
    Ok(Json(Presence {
        agent: auth.agent_ref(),
        status,
    }))
}
