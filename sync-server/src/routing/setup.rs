//! An org's routing as one JSON document people can write: business hours, agents' routing
//! profiles by email, teams by name with members by email, and the ordered rules naming teams,
//! pipelines and agents by name and email. `sync-server admin routing show` prints it;
//! `… apply` makes the org's routing what it says, in one transaction, through the same checks as
//! the HTTP API (a mistake anywhere changes nothing).
//!
//! What `apply` changes: the business hours if given; each listed profile; each listed team
//! (found by its name, created if new, given these members); and, if `rules` is given, the whole ordered list —
//! rules are matched by name, listed ones created or changed, unlisted ones deleted. Teams and
//! profiles it does not list are left as they are.

use std::collections::{BTreeMap, HashMap};

use protocol::routing::{
    BusinessHours, RoutingProfile, RuleMatch, RuleRequest, RuleTarget, Strategy, TeamRequest,
    Weekday,
};
use serde::{Deserialize, Serialize};

use crate::db::{routing as stored, Db, WriteTx};
use crate::error::{ApiError, ApiResult};
use crate::events::EventHub;
use crate::http::{business_hours, routing_rules, teams};

/// The document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSetup {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<BusinessHours>,
    /// Routing profiles by the agent's email.
    #[serde(default)]
    pub profiles: BTreeMap<String, RoutingProfile>,
    #[serde(default)]
    pub teams: Vec<SetupTeam>,
    /// The org's rules in order; absent: the rules are left as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<SetupRule>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupTeam {
    pub name: String,
    /// The members' emails.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRule {
    pub name: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub matches: SetupMatch,
    pub target: SetupTarget,
    pub strategy: Strategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_after_secs: Option<u32>,
}

fn enabled() -> bool {
    true
}

/// A rule's conditions, with the pipeline by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupMatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<Weekday>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_chat: Option<bool>,
}

/// A rule's target: a team by name, or agents by email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<String>>,
}

/// The org's names for its agents, teams and pipelines, both ways.
struct Names {
    agent_by_email: HashMap<String, String>,
    email_by_agent: HashMap<String, String>,
    pipeline_by_name: HashMap<String, String>,
    name_by_pipeline: HashMap<String, String>,
}

impl Names {
    async fn read(conn: &mut sqlx::AnyConnection, org_id: &str) -> ApiResult<Names> {
        let agents: Vec<(String, String)> =
            sqlx::query_as("SELECT id, email FROM agents WHERE org_id = $1 AND active = 1")
                .bind(org_id)
                .fetch_all(&mut *conn)
                .await?;
        let pipelines: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM pipelines WHERE org_id = $1")
                .bind(org_id)
                .fetch_all(&mut *conn)
                .await?;
        Ok(Names {
            agent_by_email: agents
                .iter()
                .map(|(id, email)| (email.to_lowercase(), id.clone()))
                .collect(),
            email_by_agent: agents.into_iter().collect(),
            pipeline_by_name: pipelines
                .iter()
                .map(|(id, name)| (name.to_lowercase(), id.clone()))
                .collect(),
            name_by_pipeline: pipelines.into_iter().collect(),
        })
    }

    fn agent(&self, field: &str, email: &str) -> ApiResult<String> {
        self.agent_by_email
            .get(&email.trim().to_lowercase())
            .cloned()
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "{field}: there is no active agent with email {email:?} in the org"
                ))
            })
    }

    fn email(&self, id: &str) -> String {
        self.email_by_agent.get(id).cloned().unwrap_or_default()
    }
}

/// The org's routing as the document says it.
pub async fn show(db: &Db, org_id: &str) -> ApiResult<RoutingSetup> {
    let mut conn = db.pool().acquire().await?;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(ApiError::NotFound("org"));
    }
    let names = Names::read(&mut conn, org_id).await?;
    let hours = stored::business_hours(&mut conn, org_id).await?;
    let profiles = stored::profiles(&mut conn, org_id).await?;
    let teams = stored::teams(&mut conn, org_id).await?;
    let team_names: HashMap<String, String> = teams
        .iter()
        .map(|t| (t.id.clone(), t.name.clone()))
        .collect();
    let rules = stored::rules(&mut conn, org_id).await?;
    Ok(RoutingSetup {
        business_hours: Some(hours),
        profiles: profiles
            .into_iter()
            .filter(|(id, _)| names.email_by_agent.contains_key(id))
            .map(|(id, profile)| (names.email(&id), profile))
            .collect(),
        teams: teams
            .into_iter()
            .map(|team| SetupTeam {
                name: team.name,
                // Deactivated members stay in their teams but route nothing: not shown.
                members: team
                    .agent_ids
                    .iter()
                    .map(|id| names.email(id))
                    .filter(|email| !email.is_empty())
                    .collect(),
            })
            .collect(),
        rules: Some(
            rules
                .into_iter()
                .map(|rule| SetupRule {
                    name: rule.name,
                    enabled: rule.enabled,
                    matches: SetupMatch {
                        pipeline: rule
                            .matches
                            .pipeline_id
                            .map(|id| names.name_by_pipeline.get(&id).cloned().unwrap_or(id)),
                        stage: rule.matches.stage,
                        weekdays: rule.matches.weekdays,
                        from: rule.matches.from,
                        to: rule.matches.to,
                        skill: rule.matches.skill,
                        new_chat: rule.matches.new_chat,
                    },
                    target: SetupTarget {
                        team: rule
                            .target
                            .team_id
                            .map(|id| team_names.get(&id).cloned().unwrap_or(id)),
                        agents: rule.target.agent_ids.map(|ids| {
                            ids.iter()
                                .map(|id| names.email(id))
                                .filter(|email| !email.is_empty())
                                .collect()
                        }),
                    },
                    strategy: rule.strategy,
                    reassign_after_secs: rule.reassign_after_secs,
                })
                .collect(),
        ),
    })
}

/// Makes the org's routing what the document says, in one transaction; then the routing timer
/// looks again (through the database, on a running server: its next tick).
pub async fn apply(db: &Db, hub: &EventHub, org_id: &str, setup: RoutingSetup) -> ApiResult<()> {
    let mut tx = db.begin_write(org_id).await?;
    apply_in(&mut tx, org_id, setup).await?;
    tx.commit(hub).await?;
    Ok(())
}

async fn apply_in(tx: &mut WriteTx, org_id: &str, setup: RoutingSetup) -> ApiResult<()> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(tx.conn())
        .await?;
    if exists.is_none() {
        return Err(ApiError::NotFound("org"));
    }
    let names = Names::read(tx.conn(), org_id).await?;
    if let Some(hours) = setup.business_hours {
        business_hours::save_hours(tx, org_id, hours).await?;
    }
    for (email, profile) in setup.profiles {
        let agent_id = names.agent(&format!("profiles.{email}"), &email)?;
        let profile = super::schedule::check_profile(profile)
            .map_err(|e| ApiError::validation(format!("profiles.{email}.{e}")))?;
        let now = tx.now();
        stored::store_profile(tx.conn(), org_id, &agent_id, &profile, now).await?;
    }
    for (i, team) in setup.teams.into_iter().enumerate() {
        let agent_ids = team
            .members
            .iter()
            .map(|email| names.agent(&format!("teams[{i}].members"), email))
            .collect::<ApiResult<Vec<_>>>()?;
        let existing = stored::teams(tx.conn(), org_id)
            .await?
            .into_iter()
            .find(|t| t.name.to_lowercase() == team.name.trim().to_lowercase());
        let request = TeamRequest {
            name: team.name,
            agent_ids,
        };
        teams::save_team(
            tx,
            org_id,
            existing.as_ref().map(|t| t.id.as_str()),
            request,
        )
        .await
        .map_err(|e| in_field(&format!("teams[{i}]"), e))?;
    }
    let Some(rules) = setup.rules else {
        return Ok(());
    };
    let team_ids: HashMap<String, String> = stored::teams(tx.conn(), org_id)
        .await?
        .into_iter()
        .map(|t| (t.name.to_lowercase(), t.id))
        .collect();
    let existing = stored::rules(tx.conn(), org_id).await?;
    let listed: Vec<String> = rules.iter().map(|r| r.name.trim().to_lowercase()).collect();
    // Rules the document leaves out go first, so a listed rule may take an unlisted one's name.
    for rule in existing
        .iter()
        .filter(|r| !listed.contains(&r.name.to_lowercase()))
    {
        routing_rules::remove_rule(tx, org_id, &rule.id).await?;
    }
    let mut order = Vec::new();
    for (i, rule) in rules.into_iter().enumerate() {
        let field = format!("rules[{i}]");
        let request = rule_request(&names, &team_ids, &field, rule)?;
        let known = existing
            .iter()
            .find(|r| r.name.to_lowercase() == request.name.trim().to_lowercase())
            .map(|r| r.id.clone());
        let saved = routing_rules::save_rule(tx, org_id, known.as_deref(), request)
            .await
            .map_err(|e| in_field(&field, e))?;
        order.push(saved.id);
    }
    routing_rules::put_in_order(tx, org_id, &order).await?;
    Ok(())
}

/// A document rule as the API's request, its names resolved to the org's ids.
fn rule_request(
    names: &Names,
    team_ids: &HashMap<String, String>,
    field: &str,
    rule: SetupRule,
) -> ApiResult<RuleRequest> {
    let pipeline_id = rule
        .matches
        .pipeline
        .map(|name| {
            names
                .pipeline_by_name
                .get(&name.trim().to_lowercase())
                .cloned()
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "{field}.match.pipeline: there is no pipeline named {name:?} in the org"
                    ))
                })
        })
        .transpose()?;
    let team_id = rule
        .target
        .team
        .map(|name| {
            team_ids
                .get(&name.trim().to_lowercase())
                .cloned()
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "{field}.target.team: there is no team named {name:?} (list it under teams)"
                    ))
                })
        })
        .transpose()?;
    let agent_ids = rule
        .target
        .agents
        .map(|emails| {
            emails
                .iter()
                .map(|email| names.agent(&format!("{field}.target.agents"), email))
                .collect::<ApiResult<Vec<_>>>()
        })
        .transpose()?;
    Ok(RuleRequest {
        name: rule.name,
        enabled: rule.enabled,
        matches: RuleMatch {
            pipeline_id,
            stage: rule.matches.stage,
            weekdays: rule.matches.weekdays,
            from: rule.matches.from,
            to: rule.matches.to,
            skill: rule.matches.skill,
            new_chat: rule.matches.new_chat,
        },
        target: RuleTarget { team_id, agent_ids },
        strategy: rule.strategy,
        reassign_after_secs: rule.reassign_after_secs,
    })
}

/// The API's refusal, saying which part of the document it is about.
fn in_field(field: &str, err: ApiError) -> ApiError {
    match err {
        ApiError::Unprocessable { code, message } => ApiError::Unprocessable {
            code,
            message: format!("{field}: {message}"),
        },
        ApiError::Conflict { code, message } => {
            ApiError::conflict(code, format!("{field}: {message}"))
        }
        other => other,
    }
}

/// Applies the document in `text` (the command line's job).
pub async fn apply_text(db: &Db, hub: &EventHub, org_id: &str, text: &str) -> anyhow::Result<()> {
    let setup: RoutingSetup = serde_json::from_str(text)
        .map_err(|e| anyhow::anyhow!("the routing document is not valid: {e}"))?;
    apply(db, hub, org_id, setup)
        .await
        .map_err(|e| anyhow::anyhow!("{}", api_message(&e)))
}

/// The words of an API error, as the command line prints them.
pub fn api_message(err: &ApiError) -> String {
    match err {
        ApiError::NotFound(what) => format!("there is no such {what}"),
        other => other.to_string(),
    }
}
