//! Reading agents as colleagues see them.

use protocol::api::{Agent, Role};
use sqlx::AnyConnection;

use crate::admin;
use crate::error::{ApiError, ApiResult};

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

/// An active person of the org — not the first responder's seat — who may own chats, receive
/// handoffs, be in a team and be routed to; otherwise a 422 saying why, its message starting
/// with `field` (`"agent_ids: "`, or empty).
pub async fn find_person(
    conn: &mut AnyConnection,
    org_id: &str,
    agent_id: &str,
    field: &str,
) -> ApiResult<Agent> {
    let agent = find_active(conn, org_id, agent_id).await?.ok_or_else(|| {
        ApiError::validation(format!(
            "{field}there is no active agent with id {agent_id} in your org"
        ))
    })?;
    if agent.role == Role::Responder {
        return Err(ApiError::validation(format!(
            "{field}{} is the first responder's seat, not a person",
            agent.name
        )));
    }
    Ok(agent)
}
