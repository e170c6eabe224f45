//! Liveness and readiness probes for load balancers and orchestrators.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::{AppState, Routes};

pub fn router() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
}

/// The process is up.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve requests: its database answers.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.db.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check: database unreachable");
        ApiError::Busy
    })?;
    Ok(Json(json!({"status": "ready"})))
}
