//! Storing who can be given chats: agents' routing profiles (their lists kept as JSON the server
//! has checked) and teams with their members.

use protocol::routing::{RoutingProfile, Team};
use sqlx::{AnyConnection, Row};

use crate::error::ApiResult;

/// The agent's routing profile; the empty profile (no skills, no limit, not limited by shifts)
/// when none was ever set.
pub async fn profile(conn: &mut AnyConnection, agent_id: &str) -> ApiResult<RoutingProfile> {
    let row = sqlx::query(
        "SELECT skills, capacity, shifts, exceptions FROM agent_routing WHERE agent_id = $1",
    )
    .bind(agent_id)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(RoutingProfile::default());
    };
    fn read<T: serde::de::DeserializeOwned>(row: &sqlx::any::AnyRow, column: &str) -> ApiResult<T> {
        let text: String = row.try_get(column)?;
        Ok(serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("stored {column} unreadable: {e}"))?)
    }
    let capacity: Option<i64> = row.try_get("capacity")?;
    Ok(RoutingProfile {
        skills: read(&row, "skills")?,
        capacity: capacity
            .map(u32::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("stored capacity out of range: {e}"))?,
        shifts: read(&row, "shifts")?,
        exceptions: read(&row, "exceptions")?,
    })
}

/// Replaces the agent's routing profile (already checked).
pub async fn store_profile(
    conn: &mut AnyConnection,
    org_id: &str,
    agent_id: &str,
    profile: &RoutingProfile,
    now: i64,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM agent_routing WHERE agent_id = $1")
        .bind(agent_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO agent_routing (agent_id, org_id, skills, capacity, shifts, exceptions, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(agent_id)
    .bind(org_id)
    .bind(json(&profile.skills)?)
    .bind(profile.capacity.map(i64::from))
    .bind(json(&profile.shifts)?)
    .bind(json(&profile.exceptions)?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A checked list as the JSON text it is stored as.
fn json<T: serde::Serialize>(value: &T) -> ApiResult<String> {
    Ok(serde_json::to_string(value).map_err(anyhow::Error::from)?)
}

/// The org's teams by name, each with its members' ids (sorted).
pub async fn teams(conn: &mut AnyConnection, org_id: &str) -> ApiResult<Vec<Team>> {
    let rows = sqlx::query(
        "SELECT t.id, t.name, t.created_at, m.agent_id
         FROM teams t LEFT JOIN team_members m ON m.team_id = t.id
         WHERE t.org_id = $1
         ORDER BY t.name_key, t.id, m.agent_id",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    let mut teams: Vec<Team> = Vec::new();
    for row in rows {
        let id: String = row.try_get("id")?;
        if teams.last().is_none_or(|t| t.id != id) {
            teams.push(Team {
                id,
                name: row.try_get("name")?,
                agent_ids: Vec::new(),
                created_at: row.try_get("created_at")?,
            });
        }
        if let (Some(team), Some(agent)) = (
            teams.last_mut(),
            row.try_get::<Option<String>, _>("agent_id")?,
        ) {
            team.agent_ids.push(agent);
        }
    }
    Ok(teams)
}

/// One of the org's teams.
pub async fn team(conn: &mut AnyConnection, org_id: &str, id: &str) -> ApiResult<Option<Team>> {
    Ok(teams(conn, org_id).await?.into_iter().find(|t| t.id == id))
}
