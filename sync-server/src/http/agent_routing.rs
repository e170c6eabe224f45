//! Agents' routing profiles: skills, capacity, weekly shifts and date exceptions. Leads and
//! admins read and set anyone's; an agent may read their own.

use axum::extract::State;
use axum::Json;
use protocol::routing::RoutingProfile;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::db::routing;
use crate::routing::schedule::check_profile;

pub fn router() -> Routes {
    Routes::new()
        .get("/agents/{id}/routing", get_profile)
        .put("/agents/{id}/routing", put_profile)
}

/// Refuses an id that is not an agent of the caller's org (active or not), as not found.
async fn require_colleague(
    conn: &mut sqlx::AnyConnection,
    auth: &AuthAgent,
    id: &str,
) -> ApiResult<()> {
    let known: Option<String> =
        sqlx::query_scalar("SELECT id FROM agents WHERE id = $1 AND org_id = $2")
            .bind(id)
            .bind(&auth.org_id)
            .fetch_optional(conn)
            .await?;
    known.map(|_| ()).ok_or(ApiError::NotFound("agent"))
}

async fn get_profile(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
) -> ApiResult<Json<RoutingProfile>> {
    let mut conn = state.db.pool().acquire().await?;
    require_colleague(&mut conn, &auth, &id).await?;
    if id != auth.id {
        auth.require_supervisor("read a colleague's routing profile")?;
    }
    Ok(Json(routing::profile(&mut conn, &id).await?))
}

async fn put_profile(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(id): IdPath,
    AppJson(profile): AppJson<RoutingProfile>,
) -> ApiResult<Json<RoutingProfile>> {
    let profile = check_profile(profile).map_err(ApiError::validation)?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    require_colleague(tx.conn(), &auth, &id).await?;
    auth.require_supervisor("set routing profiles")?;
    let now = tx.now();
    routing::store_profile(tx.conn(), &auth.org_id, &id, &profile, now).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(profile))
}
