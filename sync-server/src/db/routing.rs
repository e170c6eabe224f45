//! Storing who can be given chats: agents' routing profiles (their lists kept as JSON the server
//! has checked) and teams with their members.

use std::collections::HashMap;

use protocol::routing::{BusinessHours, RoutingProfile, Rule, Strategy, Team};
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
    match row {
        Some(row) => profile_from_row(&row),
        None => Ok(RoutingProfile::default()),
    }
}

/// Every routing profile set in the org, by agent id.
pub async fn profiles(
    conn: &mut AnyConnection,
    org_id: &str,
) -> ApiResult<HashMap<String, RoutingProfile>> {
    let rows = sqlx::query(
        "SELECT agent_id, skills, capacity, shifts, exceptions FROM agent_routing WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("agent_id")?, profile_from_row(row)?)))
        .collect()
}

/// The org's time zone: its name as stored and as a zone (the org's clock for shifts and days).
pub async fn time_zone(
    conn: &mut AnyConnection,
    org_id: &str,
) -> ApiResult<(String, chrono_tz::Tz)> {
    let zone: String = sqlx::query_scalar("SELECT timezone FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_one(conn)
        .await?;
    let tz = zone
        .parse()
        .map_err(|_| anyhow::anyhow!("stored time zone {zone:?} is unknown"))?;
    Ok((zone, tz))
}

/// The org's business hours; none set: open at all times.
pub async fn business_hours(conn: &mut AnyConnection, org_id: &str) -> ApiResult<BusinessHours> {
    let stored: Option<Option<String>> =
        sqlx::query_scalar("SELECT business_hours FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(conn)
            .await?;
    match stored.flatten() {
        Some(text) => Ok(serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("stored business hours unreadable: {e}"))?),
        None => Ok(BusinessHours::default()),
    }
}

/// The org's business hours in the form of a routing profile (its shifts and exceptions), for
/// the shift arithmetic of [`crate::routing::schedule`] (business-time durations).
pub async fn business_hours_profile(
    conn: &mut AnyConnection,
    org_id: &str,
) -> ApiResult<RoutingProfile> {
    let hours = business_hours(conn, org_id).await?;
    Ok(RoutingProfile {
        shifts: hours.shifts,
        exceptions: hours.exceptions,
        ..RoutingProfile::default()
    })
}

fn profile_from_row(row: &sqlx::any::AnyRow) -> ApiResult<RoutingProfile> {
    let capacity: Option<i64> = row.try_get("capacity")?;
    Ok(RoutingProfile {
        skills: read(row, "skills")?,
        capacity: capacity
            .map(u32::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("stored capacity out of range: {e}"))?,
        shifts: read(row, "shifts")?,
        exceptions: read(row, "exceptions")?,
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

/// A JSON column the server checked before storing it, read back.
fn read<T: serde::de::DeserializeOwned>(row: &sqlx::any::AnyRow, column: &str) -> ApiResult<T> {
    let text: String = row.try_get(column)?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("stored {column} unreadable: {e}"))?)
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

const SELECT_RULE: &str = "SELECT id, position, name, enabled, conditions, target, strategy,
        reassign_after_secs, created_at, updated_at
    FROM routing_rules";

fn rule_from_row(row: &sqlx::any::AnyRow) -> ApiResult<Rule> {
    let strategy: String = row.try_get("strategy")?;
    let position: i64 = row.try_get("position")?;
    let enabled: i64 = row.try_get("enabled")?;
    let reassign: Option<i64> = row.try_get("reassign_after_secs")?;
    Ok(Rule {
        id: row.try_get("id")?,
        position: u32::try_from(position).map_err(anyhow::Error::from)?,
        name: row.try_get("name")?,
        enabled: enabled != 0,
        matches: read(row, "conditions")?,
        target: read(row, "target")?,
        strategy: match strategy.as_str() {
            "round_robin" => Strategy::RoundRobin,
            "least_loaded" => Strategy::LeastLoaded,
            other => return Err(anyhow::anyhow!("unknown strategy {other:?}").into()),
        },
        reassign_after_secs: reassign
            .map(u32::try_from)
            .transpose()
            .map_err(anyhow::Error::from)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// The org's rules in order.
pub async fn rules(conn: &mut AnyConnection, org_id: &str) -> ApiResult<Vec<Rule>> {
    let rows = sqlx::query(&format!(
        "{SELECT_RULE} WHERE org_id = $1 ORDER BY position, id"
    ))
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    rows.iter().map(rule_from_row).collect()
}

/// One of the org's rules.
pub async fn rule(conn: &mut AnyConnection, org_id: &str, id: &str) -> ApiResult<Option<Rule>> {
    let row = sqlx::query(&format!("{SELECT_RULE} WHERE org_id = $1 AND id = $2"))
        .bind(org_id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(rule_from_row).transpose()
}

/// The stored strategy's name.
pub fn strategy_name(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RoundRobin => "round_robin",
        Strategy::LeastLoaded => "least_loaded",
    }
}

/// Stores a checked rule: a new one at `position`, or over the one with its id.
pub async fn store_rule(
    conn: &mut AnyConnection,
    org_id: &str,
    rule: &Rule,
    create: bool,
) -> ApiResult<()> {
    let values = (
        rule.name.to_lowercase(),
        i64::from(rule.enabled),
        json(&rule.matches)?,
        json(&rule.target)?,
        rule.reassign_after_secs.map(i64::from),
    );
    if create {
        sqlx::query(
            "INSERT INTO routing_rules (id, org_id, position, name, name_key, enabled, conditions,
                target, strategy, reassign_after_secs, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&rule.id)
        .bind(org_id)
        .bind(i64::from(rule.position))
        .bind(&rule.name)
        .bind(values.0)
        .bind(values.1)
        .bind(values.2)
        .bind(values.3)
        .bind(strategy_name(rule.strategy))
        .bind(values.4)
        .bind(rule.created_at)
        .bind(rule.updated_at)
        .execute(conn)
        .await?;
    } else {
        sqlx::query(
            "UPDATE routing_rules SET name = $1, name_key = $2, enabled = $3, conditions = $4,
                target = $5, strategy = $6, reassign_after_secs = $7, updated_at = $8
             WHERE id = $9 AND org_id = $10",
        )
        .bind(&rule.name)
        .bind(values.0)
        .bind(values.1)
        .bind(values.2)
        .bind(values.3)
        .bind(strategy_name(rule.strategy))
        .bind(values.4)
        .bind(rule.updated_at)
        .bind(&rule.id)
        .bind(org_id)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// A person moved the chat (a handoff, a granted request, a give-back, "Take next"): routing's
/// reason no longer holds, and the no-reply limit, which ran for the previous owner, stops.
pub async fn moved_by_hand(conn: &mut AnyConnection, conversation_id: &str) -> ApiResult<()> {
    sqlx::query(
        "UPDATE chat_routing SET routed_owner_id = NULL, reply_due_at = NULL,
             reply_due_message_id = NULL
         WHERE conversation_id = $1",
    )
    .bind(conversation_id)
    .execute(conn)
    .await?;
    Ok(())
}
