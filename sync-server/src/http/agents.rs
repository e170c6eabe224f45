//! The org's agents, as colleagues see them (for handoff pickers and @mentions).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use protocol::api::Agent;
use sqlx::AnyConnection;

use super::error::ApiResult;
use super::extract::AuthAgent;
use super::AppState;
use crate::admin;

pub fn router() -> Router<AppState> {
    Router::new().route("/agents", get(list_agents))
}

async fn list_agents(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<Vec<Agent>>> {
    Ok(Json(
        admin::list_agents(&state.db, &auth.org_id)
            .await
            .map_err(anyhow::Error::from)?,
    ))
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
