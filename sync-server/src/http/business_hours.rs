//! The org's business hours: when it answers, in the same form as an agent's shifts (weekly hours
//! on the org's clock, date exceptions). Everyone reads them; leads and admins set them.

use axum::extract::State;
use axum::Json;
use protocol::routing::{BusinessHours, RoutingProfile};

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent};
use super::{AppState, Routes};
use crate::routing::schedule::check_profile;

pub fn router() -> Routes {
    Routes::new()
        .get("/org/business-hours", get_hours)
        .put("/org/business-hours", put_hours)
}

async fn get_hours(
    State(state): State<AppState>,
    auth: AuthAgent,
) -> ApiResult<Json<BusinessHours>> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(Json(
        crate::db::routing::business_hours(&mut conn, &auth.org_id).await?,
    ))
}

async fn put_hours(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppJson(hours): AppJson<BusinessHours>,
) -> ApiResult<Json<BusinessHours>> {
    auth.require_supervisor("set the business hours")?;
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let hours = save_hours(&mut tx, &auth.org_id, hours).await?;
    tx.commit(&state.hub).await?;
    state.routing.wake();
    Ok(Json(hours))
}

/// Checks and stores the org's business hours in the caller's transaction (the admin command
/// line's `routing apply` uses it too).
pub(crate) async fn save_hours(
    tx: &mut crate::db::WriteTx,
    org_id: &str,
    hours: BusinessHours,
) -> ApiResult<BusinessHours> {
    // The same rules as an agent's shifts, and the same messages naming the field.
    let checked = check_profile(RoutingProfile {
        shifts: hours.shifts,
        exceptions: hours.exceptions,
        ..RoutingProfile::default()
    })
    .map_err(ApiError::validation)?;
    let hours = BusinessHours {
        shifts: checked.shifts,
        exceptions: checked.exceptions,
    };
    let text = serde_json::to_string(&hours).map_err(anyhow::Error::from)?;
    sqlx::query("UPDATE orgs SET business_hours = $1 WHERE id = $2")
        .bind(text)
        .bind(org_id)
        .execute(tx.conn())
        .await?;
    Ok(hours)
}
