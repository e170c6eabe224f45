//! Reading agents as colleagues see them.

use protocol::api::Agent;
use sqlx::AnyConnection;

use crate::admin;
use crate::error::ApiResult;

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
