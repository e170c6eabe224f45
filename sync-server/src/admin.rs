//! Provisioning: orgs, agents and tokens — creating, deactivating, reactivating, passwords,
//! logging out everywhere. Used by the `admin` CLI, the admin API, the demo seeder and tests.

use std::str::FromStr;

use protocol::api::{Agent, AgentRef, Org, Role};
use protocol::events::EventBody;
use sqlx::Row;

use crate::auth;
use crate::db::{self, Db, WriteTx};
use crate::db::{conversations, locks};
use crate::events::EventHub;

/// Why a provisioning command failed; each message is one clear line for the CLI.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A shared step of the API (ending a reply lock) failed; keeps its status (503 when busy).
    #[error(transparent)]
    Api(#[from] crate::error::ApiError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The fields of a new agent.
#[derive(Debug, Clone)]
pub struct NewAgent<'a> {
    pub org_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub password: &'a str,
}

/// Trims a display name and checks its length.
pub fn clean_name(what: &str, name: &str, max_chars: usize) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("the {what} must not be empty"));
    }
    if name.chars().count() > max_chars {
        return Err(format!("the {what} must be at most {max_chars} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("the {what} must not contain control characters"));
    }
    if let Some(c) = protocol::text::first_refused(name) {
        return Err(protocol::text::refusal(&format!("the {what}"), c));
    }
    Ok(name.to_owned())
}

/// Lower-cases an email and checks it looks like one.
pub fn clean_email(email: &str) -> Result<String, String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .map(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@')
            })
            .unwrap_or(false);
    if valid {
        Ok(email)
    } else {
        Err(format!("{email:?} is not an email address"))
    }
}

/// Creates an org and returns it.
/// `locale` says how its agents see dates and times (default [`protocol::api::DEFAULT_LOCALE`]).
pub async fn create_org(
    db: &Db,
    name: &str,
    timezone: &str,
    locale: Option<&str>,
) -> Result<Org, AdminError> {
    let name = clean_name("org name", name, 100).map_err(AdminError::Invalid)?;
    let tz = chrono_tz::Tz::from_str(timezone.trim()).map_err(|_| {
        AdminError::Invalid(format!(
            "{timezone:?} is not an IANA time zone (e.g. Asia/Kolkata, Europe/Berlin, UTC)"
        ))
    })?;
    let locale = locale
        .map(str::trim)
        .unwrap_or(protocol::api::DEFAULT_LOCALE);
    if !protocol::api::is_locale_tag(locale) {
        return Err(AdminError::Invalid(format!(
            "{locale:?} is not a locale; write a language tag such as en-GB, en-IN or hi-IN"
        )));
    }
    let org = Org {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        timezone: tz.name().to_owned(),
        locale: locale.to_owned(),
    };
    sqlx::query(&db.sql(
        "INSERT INTO orgs (id, name, timezone, locale, event_seq, created_at) VALUES ($1, $2, $3, $4, 0, now_ms())",
    ))
    .bind(&org.id)
    .bind(&org.name)
    .bind(&org.timezone)
    .bind(&org.locale)
    .execute(&mut *db.write_conn().await?)
    .await?;
    Ok(org)
}

/// Finds an org by id.
pub async fn find_org(db: &Db, org_id: &str) -> Result<Org, AdminError> {
    let row = sqlx::query("SELECT id, name, timezone, locale FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no org with id {org_id}")))?;
    Ok(Org {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        timezone: row.try_get("timezone")?,
        locale: row.try_get("locale")?,
    })
}

/// Checks a new password (long enough, and text a login can send) and hashes it off the async
/// threads.
async fn hash_new_password(password: &str) -> Result<String, AdminError> {
    if password.chars().count() < auth::MIN_PASSWORD_CHARS {
        return Err(AdminError::Invalid(format!(
            "the password must have at least {} characters",
            auth::MIN_PASSWORD_CHARS
        )));
    }
    if let Some(c) = protocol::text::first_refused(password) {
        return Err(AdminError::Invalid(protocol::text::refusal(
            "the password",
            c,
        )));
    }
    let password = password.to_owned();
    Ok(
        tokio::task::spawn_blocking(move || auth::hash_password(&password))
            .await
            .map_err(anyhow::Error::from)??,
    )
}

/// Creates an agent in an existing org; the team sees the newcomer at once (`agent.created`),
/// so they can be handed chats and mentioned, and a seat's lock is known for a seat's.
pub async fn create_agent(
    db: &Db,
    hub: &EventHub,
    new: NewAgent<'_>,
    actor: Option<&AgentRef>,
) -> Result<Agent, AdminError> {
    let name = clean_name("agent name", new.name, 100).map_err(AdminError::Invalid)?;
    let email = clean_email(new.email).map_err(AdminError::Invalid)?;
    find_org(db, new.org_id).await?;
    let password_hash = hash_new_password(new.password).await?;
    let agent = Agent {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        email,
        role: new.role,
    };
    let mut tx = db.begin_write(new.org_id).await?;
    let now = tx.now();
    let inserted = sqlx::query(
        "INSERT INTO agents (id, org_id, name, email, role, password_hash, active, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7)",
    )
    .bind(&agent.id)
    .bind(new.org_id)
    .bind(&agent.name)
    .bind(&agent.email)
    .bind(agent.role.as_str())
    .bind(password_hash)
    .bind(now)
    .execute(tx.conn())
    .await;
    match inserted {
        Ok(_) => {}
        Err(err) if db::is_unique_violation(&err) => {
            return Err(AdminError::Conflict(format!(
                "an agent with email {} exists already",
                agent.email
            )))
        }
        Err(err) => return Err(err.into()),
    }
    tx.append(None, actor, EventBody::AgentCreated(agent_ref(&agent)))
        .await?;
    tx.commit(hub).await?;
    Ok(agent)
}

/// Lists an org's active agents by name.
pub async fn list_agents(db: &Db, org_id: &str) -> Result<Vec<Agent>, AdminError> {
    find_org(db, org_id).await?;
    let rows = sqlx::query(
        "SELECT id, name, email, role FROM agents WHERE org_id = $1 AND active = 1 ORDER BY name, email",
    )
    .bind(org_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(agent_from_row).collect()
}

pub fn agent_from_row(row: &sqlx::any::AnyRow) -> Result<Agent, AdminError> {
    let role: String = row.try_get("role")?;
    Ok(Agent {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| anyhow::anyhow!("unknown role {role:?} in the database"))?,
    })
}

/// An agent to act on: by id within an org (the API), or by email (the CLI).
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    Id { org_id: &'a str, id: &'a str },
    Email(&'a str),
}

/// The agent and their org.
async fn find_agent(db: &Db, who: Who<'_>) -> Result<(Agent, String), AdminError> {
    let missing = match who {
        Who::Id { .. } => "no such agent".to_owned(),
        Who::Email(email) => format!("no agent with email {}", email.trim().to_lowercase()),
    };
    let row =
        match who {
            Who::Id { org_id, id } => sqlx::query(
                "SELECT id, org_id, name, email, role FROM agents WHERE id = $1 AND org_id = $2",
            )
            .bind(id)
            .bind(org_id)
            .fetch_optional(db.pool())
            .await?,
            Who::Email(email) => {
                let email = clean_email(email).map_err(AdminError::Invalid)?;
                sqlx::query("SELECT id, org_id, name, email, role FROM agents WHERE email = $1")
                    .bind(email)
                    .fetch_optional(db.pool())
                    .await?
            }
        }
        .ok_or(AdminError::NotFound(missing))?;
    let org_id: String = row.try_get("org_id")?;
    Ok((agent_from_row(&row)?, org_id))
}

/// Marks the agent active or not inside `tx`; false when they already were (decided under the
/// write lock, so two admins acting at once see each other's change).
async fn set_active(tx: &mut WriteTx, agent_id: &str, active: bool) -> Result<bool, AdminError> {
    let done = sqlx::query("UPDATE agents SET active = $1 WHERE id = $2 AND active <> $1")
        .bind(i64::from(active))
        .bind(agent_id)
        .execute(tx.conn())
        .await?;
    Ok(done.rows_affected() > 0)
}

fn agent_ref(agent: &Agent) -> AgentRef {
    AgentRef {
        id: agent.id.clone(),
        name: agent.name.clone(),
    }
}

/// Revokes the agent's live tokens in `tx`; returns how many.
async fn revoke_in(tx: &mut WriteTx, agent_id: &str) -> Result<u64, AdminError> {
    let now = tx.now();
    let done =
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE agent_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(agent_id)
            .execute(tx.conn())
            .await?;
    tx.sessions_ended(agent_id, None).await?;
    Ok(done.rows_affected())
}

/// Revokes the agent's tokens and records it, so every server closes their event streams at once
/// when `tx` commits. Returns how many tokens were live.
async fn end_sessions(tx: &mut WriteTx, agent: &Agent) -> Result<u64, AdminError> {
    let revoked = revoke_in(tx, &agent.id).await?;
    tx.append(None, None, EventBody::SessionsEnded(agent_ref(agent)))
        .await?;
    Ok(revoked)
}

/// Logs an agent out everywhere. Returns how many tokens were live.
pub async fn revoke_tokens(db: &Db, hub: &EventHub, email: &str) -> Result<u64, AdminError> {
    let (agent, org_id) = find_agent(db, Who::Email(email)).await?;
    let mut tx = db.begin_write(&org_id).await?;
    let revoked = end_sessions(&mut tx, &agent).await?;
    tx.commit(hub).await?;
    Ok(revoked)
}

/// Deactivates an agent: no more logins, every token revoked, the reply locks they hold or last
/// held ended with their fences advanced, and every server closes their event streams at once.
/// The org's last active admin cannot be deactivated (nobody could undo it).
pub async fn deactivate(
    db: &Db,
    hub: &EventHub,
    who: Who<'_>,
    actor: Option<&AgentRef>,
) -> Result<Agent, AdminError> {
    let (agent, org_id) = find_agent(db, who).await?;
    let mut tx = db.begin_write(&org_id).await?;
    if !set_active(&mut tx, &agent.id, false).await? {
        return Ok(agent);
    }
    if agent.role == Role::Admin {
        ensure_an_admin_left(&mut tx, &org_id, &agent).await?;
    }
    revoke_in(&mut tx, &agent.id).await?;
    let by = actor.cloned().unwrap_or_else(|| agent_ref(&agent));
    for row in conversations::lock_held_by(tx.conn(), &org_id, &agent.id).await? {
        locks::end_lock(&mut tx, &row, Some(&by)).await?;
    }
    // Their chats go back to the team: nobody's, and waiting for routing when the org routes.
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT chat_id FROM conversations WHERE org_id = $1 AND owner_id = $2 AND closed_at IS NULL",
    )
    .bind(&org_id)
    .bind(&agent.id)
    .fetch_all(tx.conn())
    .await?;
    for chat in owned {
        let chat_id = protocol::ChatId::parse(&chat)
            .map_err(|e| anyhow::anyhow!("stored chat id {chat:?} is invalid: {e}"))?;
        if let Some(row) = conversations::find(tx.conn(), &org_id, &chat_id).await? {
            crate::routing::run::return_to_team(&mut tx, &row, actor).await?;
        }
    }
    tx.append(None, actor, EventBody::AgentDeactivated(agent_ref(&agent)))
        .await?;
    tx.commit(hub).await?;
    Ok(agent)
}

/// Lets a deactivated agent log in again (with their old password).
pub async fn reactivate(
    db: &Db,
    hub: &EventHub,
    who: Who<'_>,
    actor: Option<&AgentRef>,
) -> Result<Agent, AdminError> {
    let (agent, org_id) = find_agent(db, who).await?;
    let mut tx = db.begin_write(&org_id).await?;
    if !set_active(&mut tx, &agent.id, true).await? {
        return Ok(agent);
    }
    tx.append(None, actor, EventBody::AgentReactivated(agent_ref(&agent)))
        .await?;
    tx.commit(hub).await?;
    Ok(agent)
}

/// Sets an agent's password; every login they had ends (a reset is often because of a leak).
pub async fn set_password(
    db: &Db,
    hub: &EventHub,
    who: Who<'_>,
    password: &str,
) -> Result<Agent, AdminError> {
    let password_hash = hash_new_password(password).await?;
    let (agent, org_id) = find_agent(db, who).await?;
    let mut tx = db.begin_write(&org_id).await?;
    sqlx::query("UPDATE agents SET password_hash = $1 WHERE id = $2")
        .bind(password_hash)
        .bind(&agent.id)
        .execute(tx.conn())
        .await?;
    end_sessions(&mut tx, &agent).await?;
    tx.commit(hub).await?;
    Ok(agent)
}

/// Refuses a change that leaves the org without an active admin. Counted after the change;
/// the error drops `tx`, which rolls the change back.
async fn ensure_an_admin_left(
    tx: &mut WriteTx,
    org_id: &str,
    agent: &Agent,
) -> Result<(), AdminError> {
    let admins_left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM agents WHERE org_id = $1 AND role = 'admin' AND active = 1",
    )
    .bind(org_id)
    .fetch_one(tx.conn())
    .await?;
    if admins_left == 0 {
        return Err(AdminError::Invalid(format!(
            "{} is the org's only admin; make someone else admin first",
            agent.name
        )));
    }
    Ok(())
}

/// Gives an agent another role. Their logins end, so every instance and their browser take the
/// new role at once (they log in again); an org keeps at least one active admin.
pub async fn set_role(
    db: &Db,
    hub: &EventHub,
    who: Who<'_>,
    role: Role,
) -> Result<Agent, AdminError> {
    let (agent, org_id) = find_agent(db, who).await?;
    if agent.role == role {
        return Ok(agent);
    }
    // A person's chats, teams and rules would not fit a seat, nor a seat's none a person.
    if role == Role::Responder || agent.role == Role::Responder {
        return Err(AdminError::Invalid(
            "role: the first responder's seat is an account of its own; create one with the role responder rather than changing a person's role to or from it".into(),
        ));
    }
    let mut tx = db.begin_write(&org_id).await?;
    sqlx::query("UPDATE agents SET role = $1 WHERE id = $2")
        .bind(role.as_str())
        .bind(&agent.id)
        .execute(tx.conn())
        .await?;
    ensure_an_admin_left(&mut tx, &org_id, &agent).await?;
    end_sessions(&mut tx, &agent).await?;
    tx.commit(hub).await?;
    Ok(Agent { role, ..agent })
}

/// The demo org's logins; the password is the same for all of them and printed by `demo`.
pub const DEMO_PASSWORD: &str = "baton-demo";
/// (name, email, role) of the demo team.
pub const DEMO_AGENTS: [(&str, &str, Role); 4] = [
    ("Asha Rao", "asha@demo.baton", Role::Lead),
    ("Ravi Kumar", "ravi@demo.baton", Role::Agent),
    ("Meera Iyer", "meera@demo.baton", Role::Agent),
    // The first responder's seat: a browser logged in as it, in Responder mode, answers new chats.
    ("Night Seat", "seat@demo.baton", Role::Responder),
];

/// The demo org and its people.
#[derive(Debug, Clone)]
pub struct Demo {
    pub org: Org,
    pub agents: Vec<Agent>,
    pub created: bool,
}

/// The demo's first-responder flow on its Sales pipeline (stages New, Qualified, Proposal, Won,
/// Lost): budget (under 20 lakh: Lost), the home, a site visit; then Qualified.
pub fn demo_flow(pipeline_id: &str) -> protocol::responder::FlowRequest {
    use protocol::responder::{AnswerKind, Branch, Condition, FlowRequest, Question, Then};
    let question = |key: &str, label: &str, text: &str, kind, options: &[&str]| Question {
        key: key.into(),
        label: label.into(),
        text: text.into(),
        kind,
        options: options.iter().map(|o| (*o).to_owned()).collect(),
        branches: Vec::new(),
    };
    let mut budget = question(
        "budget",
        "Budget",
        "What is your budget?",
        AnswerKind::Amount,
        &[],
    );
    budget.branches.push(Branch {
        when: Condition::Below(2_000_000),
        then: Then::Exit("Lost".into()),
    });
    FlowRequest {
        name: "Sales first answer".into(),
        pipeline_id: pipeline_id.into(),
        enabled: true,
        new_chats: true,
        owned_off_shift: false,
        greeting: "Hi! Thanks for writing to Demo Team.".into(),
        questions: vec![
            budget,
            question(
                "home",
                "Home",
                "Which home are you looking for?",
                AnswerKind::Choice,
                &["2BHK", "3BHK", "Villa"],
            ),
            question(
                "visit",
                "Site visit",
                "Would you like to visit this week?",
                AnswerKind::YesNo,
                &[],
            ),
        ],
        done_stage: "Qualified".into(),
        closing: "Thank you! A colleague will call you shortly.".into(),
        person_words: Vec::new(),
        max_unanswered: 3,
    }
}

/// Seeds the demo org (a lead, two agents, the first responder's seat, a sales pipeline and its
/// flow) unless it exists.
pub async fn seed_demo(db: &Db) -> Result<Demo, AdminError> {
    let hub = EventHub::for_commands(db);
    let existing: Option<String> = sqlx::query_scalar("SELECT org_id FROM agents WHERE email = $1")
        .bind(DEMO_AGENTS[0].1)
        .fetch_optional(db.pool())
        .await?;
    if let Some(org_id) = existing {
        let org = find_org(db, &org_id).await?;
        let agents = list_agents(db, &org_id).await?;
        return Ok(Demo {
            org,
            agents,
            created: false,
        });
    }
    let org = create_org(db, "Demo Team", "Asia/Kolkata", None).await?;
    let mut agents = Vec::new();
    for (name, email, role) in DEMO_AGENTS {
        agents.push(
            create_agent(
                db,
                &hub,
                NewAgent {
                    org_id: &org.id,
                    name,
                    email,
                    role,
                    password: DEMO_PASSWORD,
                },
                None,
            )
            .await?,
        );
    }
    let stages = serde_json::to_string(&["New", "Qualified", "Proposal", "Won", "Lost"])
        .map_err(anyhow::Error::from)?;
    let pipeline_id = uuid::Uuid::new_v4().to_string();
    // The pipeline and its flow together or not at all: a second `demo` finds the org and adds
    // nothing, so a pipeline left without its flow would stay so.
    let mut conn = db.write_conn().await?;
    let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
    sqlx::query(&db.sql(
        "INSERT INTO pipelines (id, org_id, name, stages, created_at) VALUES ($1, $2, 'Sales', $3, now_ms())",
    ))
    .bind(&pipeline_id)
    .bind(&org.id)
    .bind(stages)
    .execute(&mut *tx)
    .await?;
    // The first responder's flow for new chats (it runs once the seat is on).
    let flow = demo_flow(&pipeline_id);
    let definition = serde_json::to_string(&flow).map_err(anyhow::Error::from)?;
    sqlx::query(&db.sql(
        "INSERT INTO flows (id, org_id, pipeline_id, name, enabled, definition, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, $5, now_ms(), now_ms())",
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&org.id)
    .bind(&pipeline_id)
    .bind(&flow.name)
    .bind(definition)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Demo {
        org,
        agents,
        created: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_flow_can_finish() {
        let stages: Vec<String> = ["New", "Qualified", "Proposal", "Won", "Lost"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            crate::responder::flow::check(&demo_flow("p"), &stages),
            Ok(())
        );
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            clean_email(" Asha@Example.COM ").unwrap(),
            "asha@example.com"
        );
        for bad in [
            "",
            "asha",
            "@x.com",
            "asha@localhost",
            "a b@x.com",
            "a@b@c.com",
        ] {
            assert!(clean_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("name", "  Asha ", 10).unwrap(), "Asha");
        assert!(clean_name("name", "   ", 10).is_err());
        assert!(clean_name("name", "a\u{7}b", 10).is_err());
        assert!(clean_name("name", &"x".repeat(11), 10).is_err());
    }
}
