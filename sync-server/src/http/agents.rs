//! The org's agents, as colleagues see them (for handoff pickers and @mentions).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use protocol::api::{Agent, Page};
use sqlx::AnyConnection;

use super::error::ApiResult;
use super::extract::{AppQuery, AuthAgent};
use super::page::{self, PageQuery};
use super::AppState;
use crate::admin;

pub fn router() -> Router<AppState> {
    Router::new().route("/agents", get(list_agents))
}

/// The org's active agents, a page at a time (by id; clients sort as they show them).
async fn list_agents(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<PageQuery>,
) -> ApiResult<Json<Page<Agent>>> {
    let limit = page::limit(query.limit, 500, 1000)?;
    let items = sqlx::query(
        "SELECT id, name, email, role FROM agents
         WHERE org_id = $1 AND active = 1 AND ($2 IS NULL OR id > $2)
         ORDER BY id LIMIT $3",
    )
    .bind(&auth.org_id)
    .bind(query.cursor)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?
    .iter()
    .map(admin::agent_from_row)
    .collect::<Result<Vec<_>, _>>()
    .map_err(anyhow::Error::from)?;
    let next_cursor = page::next_cursor(&items, limit, |a| a.id.clone());
    Ok(Json(Page { items, next_cursor }))
}

/// An active agent of the org, or `None` (also for another org's agent).
pub async fn find_active(
    conn: &mut AnyConnection,
    org_id: &str,
    agent_id: &str,
) -> ApiResult<Option<Agent>> {
    let row = sqlx::query(
        "SELECT id, name, email, role FROM agents WHERE id = $1 AND org_id = $2 AND active = 1",
    )
    .bind(agent_id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    Ok(row
        .as_ref()
        .map(admin::agent_from_row)
        .transpose()
        .map_err(anyhow::Error::from)?)
}
