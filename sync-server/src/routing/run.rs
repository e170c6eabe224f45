//! Routing acting on the database, always inside the org's write transaction: that transaction
//! serialises everything the org writes (SQLite's single writer; the org row's lock on
//! PostgreSQL), so two instances, or a timer and a stage change at once, each see what the other
//! did and never give the same chat twice.
//!
//! When it runs: a chat nobody owns gets its first incoming message ([`incoming_message`]); a
//! chat's stage changes and a rule names the new stage ([`stage_changed`]); the queue drains when
//! someone may have become eligible ([`drain`]); an assignee leaves an incoming message
//! unanswered past the rule's limit ([`reassign_overdue`]). A chat a person assigned or claimed is
//! moved by no rule except that no-reply fallback. Every decision is a timeline event that says
//! which rule, which strategy, who was eligible and why the others were not.

use std::collections::HashMap;

use chrono_tz::Tz;
use protocol::api::AgentRef;
use protocol::events::{AssignReason, EventBody};
use protocol::routing::{
    PresenceStatus, Refusal, RoutingDecision, RoutingPreview, RoutingTrigger, Rule, RuleRef,
    SkippedRule, Strategy,
};
use protocol::{codes, ChatId};
use sqlx::AnyConnection;

use super::clock::RoutingClock;
use super::engine::{self, Candidate, ChatFacts};
use crate::db::conversations::{self, ConversationRow};
use crate::db::{locks, routing as stored, WriteTx};
use crate::error::{ApiError, ApiResult};

/// Longest text a system handoff's field holds (as a person's handoff).
const HANDOFF_FIELD_CHARS: usize = 2000;

/// The org as routing sees it at one moment: its clock, rules, agents and teams.
#[derive(Debug)]
pub struct OrgView {
    tz: Tz,
    /// Routing's clock (shifts, rule hours, no-reply limits).
    now: i64,
    /// The database's clock (presence leases, timestamps written).
    db_now: i64,
    rules: Vec<Rule>,
    last_picks: HashMap<String, String>,
    agents: Vec<Candidate>,
    teams: HashMap<String, Vec<String>>,
}

impl OrgView {
    /// Reads everything a decision needs, in the caller's transaction.
    pub async fn load(
        conn: &mut AnyConnection,
        org_id: &str,
        db_now: i64,
        clock: &RoutingClock,
    ) -> ApiResult<OrgView> {
        let (_, tz) = stored::time_zone(conn, org_id).await?;
        let rules = stored::rules(conn, org_id).await?;
        let last_picks: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT id, last_agent_id FROM routing_rules WHERE org_id = $1")
                .bind(org_id)
                .fetch_all(&mut *conn)
                .await?;
        let hours = stored::business_hours(conn, org_id).await?;
        let mut profiles = stored::profiles(conn, org_id).await?;
        let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT id, name, away, last_routed_at FROM agents
             WHERE org_id = $1 AND active = 1 ORDER BY id",
        )
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?;
        let connected: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT agent_id FROM presence WHERE org_id = $1 AND expires_at > $2",
        )
        .bind(org_id)
        .bind(db_now)
        .fetch_all(&mut *conn)
        .await?;
        let open: HashMap<String, i64> = sqlx::query_as(
            "SELECT owner_id, COUNT(*) FROM conversations
             WHERE org_id = $1 AND owner_id IS NOT NULL AND closed_at IS NULL GROUP BY owner_id",
        )
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        let teams = stored::teams(conn, org_id)
            .await?
            .into_iter()
            .map(|team| (team.id, team.agent_ids))
            .collect();
        let agents = rows
            .into_iter()
            .map(|(id, name, away, last_routed_at)| {
                let mut profile = profiles.remove(&id).unwrap_or_default();
                // An agent without hours of their own works the org's business hours.
                if profile.shifts.is_empty() && profile.exceptions.is_empty() {
                    profile.shifts.clone_from(&hours.shifts);
                    profile.exceptions.clone_from(&hours.exceptions);
                }
                let presence = if !connected.contains(&id) {
                    PresenceStatus::Offline
                } else if away != 0 {
                    PresenceStatus::Away
                } else {
                    PresenceStatus::Available
                };
                Candidate {
                    open_chats: open
                        .get(&id)
                        .map_or(0, |n| u32::try_from(*n).unwrap_or(u32::MAX)),
                    id,
                    name,
                    presence,
                    profile,
                    last_assigned_at: last_routed_at,
                }
            })
            .collect();
        Ok(OrgView {
            tz,
            now: clock.at(db_now),
            db_now,
            rules,
            last_picks: last_picks
                .into_iter()
                .filter_map(|(rule, agent)| agent.map(|agent| (rule, agent)))
                .collect(),
            agents,
            teams,
        })
    }

    /// [`OrgView::load`] in the org's write transaction, at its clock.
    pub async fn load_in(tx: &mut WriteTx, clock: &RoutingClock) -> ApiResult<OrgView> {
        let (org_id, now) = (tx.org_id().to_owned(), tx.now());
        OrgView::load(tx.conn(), &org_id, now, clock).await
    }

    /// Who the org's enabled rules give chats to (`None`: it has no rules, and works by hand).
    pub fn rule_targets(&self) -> Option<Vec<String>> {
        let enabled: Vec<&Rule> = self.rules.iter().filter(|r| r.enabled).collect();
        if enabled.is_empty() {
            return None;
        }
        let mut ids: Vec<String> = enabled
            .iter()
            .flat_map(|rule| self.target(rule))
            .map(|agent| agent.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        Some(ids)
    }

    /// When nobody of `people` (agent ids) is on shift now, when one will be, in words on the
    /// org's clock: "tomorrow from 09:00", "on Monday from 09:00", or "as soon as we are open"
    /// beyond a week. `None` while someone is on shift (or nobody is known).
    pub fn back_when(&self, people: &[String]) -> Option<String> {
        use chrono::TimeZone;
        let profiles: Vec<_> = self
            .agents
            .iter()
            .filter(|a| people.contains(&a.id))
            .map(|a| &a.profile)
            .collect();
        let on = |at: i64| {
            profiles
                .iter()
                .any(|p| super::schedule::on_shift(p, self.tz, at))
        };
        if profiles.is_empty() || on(self.now) {
            return None;
        }
        const STEP: i64 = 5 * 60 * 1000;
        // From the next whole five minutes, a week and a day ahead at most.
        let mut at = self.now - self.now.rem_euclid(STEP) + STEP;
        let until = self.now + 8 * 24 * 3600 * 1000;
        while at <= until && !on(at) {
            at += STEP;
        }
        let local = |ms: i64| self.tz.timestamp_millis_opt(ms).single();
        let (Some(now), Some(then)) = (local(self.now), local(at)) else {
            return Some("as soon as we are open".to_owned());
        };
        if at > until {
            return Some("as soon as we are open".to_owned());
        }
        let day = match (then.date_naive() - now.date_naive()).num_days() {
            0 => "today".to_owned(),
            1 => "tomorrow".to_owned(),
            _ => format!("on {}", then.format("%A")),
        };
        Some(format!("{day} from {}", then.format("%H:%M")))
    }

    /// [`OrgView::back_when`] as the greeting says it: "We are closed now: a person will reply
    /// tomorrow from 09:00."
    pub fn after_hours(&self, people: &[String]) -> Option<String> {
        self.back_when(people)
            .map(|when| format!("We are closed now: a person will reply {when}."))
    }

    fn agent_ref(&self, id: &str) -> AgentRef {
        AgentRef {
            id: id.to_owned(),
            name: self
                .agents
                .iter()
                .find(|a| a.id == id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
        }
    }

    /// The first enabled rule the chat meets, and the enabled rules before it with the condition
    /// each failed. `stage_rules_only`: only rules that name a stage count.
    fn first_rule(
        &self,
        chat: &ChatFacts,
        stage_rules_only: bool,
    ) -> (Option<&Rule>, Vec<SkippedRule>) {
        let mut skipped = Vec::new();
        for rule in self.rules.iter().filter(|rule| rule.enabled) {
            let failed = if stage_rules_only && rule.matches.stage.is_none() {
                Some("it names no stage".to_owned())
            } else {
                engine::mismatch(&rule.matches, chat, self.tz, self.now)
            };
            match failed {
                None => return (Some(rule), skipped),
                Some(reason) => skipped.push(SkippedRule {
                    rule: rule_ref(rule),
                    reason,
                }),
            }
        }
        (None, skipped)
    }

    /// The rule's target: its team's members or its agents, active ones only.
    fn target(&self, rule: &Rule) -> Vec<&Candidate> {
        let ids: &[String] = match (&rule.target.team_id, &rule.target.agent_ids) {
            (Some(team), _) => self.teams.get(team).map_or(&[], Vec::as_slice),
            (None, Some(ids)) => ids,
            (None, None) => &[],
        };
        self.agents
            .iter()
            .filter(|agent| ids.contains(&agent.id))
            .collect()
    }

    fn in_target(&self, rule: &Rule, agent_id: &str) -> bool {
        self.target(rule).iter().any(|agent| agent.id == agent_id)
    }

    /// The rule's decision for a chat now; `had_it`: someone never given the chat back (the
    /// assignee who did not answer, or who declined it), and why.
    fn decide(
        &self,
        rule: &Rule,
        trigger: RoutingTrigger,
        previous_owner: Option<AgentRef>,
        had_it: Option<(&str, &str)>,
    ) -> RoutingDecision {
        let (excluded, rest): (Vec<&Candidate>, Vec<&Candidate>) = self
            .target(rule)
            .into_iter()
            .partition(|agent| had_it.is_some_and(|(id, _)| agent.id == id));
        let rest: Vec<Candidate> = rest.into_iter().cloned().collect();
        let decision = engine::decide(
            &rest,
            rule.strategy,
            rule.matches.skill.as_deref(),
            self.last_picks.get(&rule.id).map(String::as_str),
            self.tz,
            self.now,
        );
        let mut refused: Vec<Refusal> = excluded
            .iter()
            .map(|agent| Refusal {
                agent: self.agent_ref(&agent.id),
                reason: had_it.map_or("", |(_, why)| why).to_owned(),
            })
            .collect();
        refused.extend(decision.refused.iter().map(|(id, why)| Refusal {
            agent: self.agent_ref(id),
            reason: why.to_string(),
        }));
        let mut decided = RoutingDecision {
            trigger,
            rule: Some(rule_ref(rule)),
            strategy: Some(rule.strategy),
            owner: decision.chosen.as_deref().map(|id| self.agent_ref(id)),
            previous_owner,
            eligible: decision
                .eligible
                .iter()
                .map(|id| self.agent_ref(id))
                .collect(),
            refused,
            explanation: String::new(),
        };
        decided.explanation = explain(&decided, rule.reassign_after_secs);
        decided
    }

    /// What no rule matching says.
    fn no_rule(trigger: RoutingTrigger, previous_owner: Option<AgentRef>) -> RoutingDecision {
        let mut decided = RoutingDecision {
            trigger,
            rule: None,
            strategy: None,
            owner: None,
            previous_owner,
            eligible: Vec::new(),
            refused: Vec::new(),
            explanation: String::new(),
        };
        decided.explanation = explain(&decided, None);
        decided
    }

    /// The agent was given a chat: their load and the rule's turn move on for the next decision
    /// in the same transaction.
    fn picked(&mut self, rule: &Rule, agent_id: &str, from: Option<&str>) {
        if let Some(agent) = self.agents.iter_mut().find(|a| a.id == agent_id) {
            agent.open_chats = agent.open_chats.saturating_add(1);
            agent.last_assigned_at = Some(self.db_now);
        }
        if let Some(previous) = self.agents.iter_mut().find(|a| Some(a.id.as_str()) == from) {
            previous.open_chats = previous.open_chats.saturating_sub(1);
        }
        if rule.strategy == Strategy::RoundRobin {
            self.last_picks.insert(rule.id.clone(), agent_id.to_owned());
        }
    }

    /// The rule that sets the chat's no-reply limit: the one that routed it to its owner while
    /// they have it from routing (and it is still enabled), else the first rule the chat meets.
    fn reply_rule(&self, row: &ConversationRow) -> Option<&Rule> {
        if let Some(routed) = row.routed_by() {
            return self
                .rules
                .iter()
                .find(|rule| rule.id == routed.rule.id && rule.enabled);
        }
        self.first_rule(&facts(row, false), false).0
    }
}

fn rule_ref(rule: &Rule) -> RuleRef {
    RuleRef {
        id: rule.id.clone(),
        name: rule.name.clone(),
    }
}

/// What rules see of the chat; `is_new`: nobody ever owned it (see [`is_new`]).
fn facts(row: &ConversationRow, is_new: bool) -> ChatFacts {
    ChatFacts {
        pipeline_id: row.pipeline_id.clone(),
        stage: row.stage.clone(),
        is_new,
    }
}

/// Whether the chat is new to the team: nobody owns it and nobody ever did (no one claimed it,
/// was handed it or was given it by routing). A chat someone gave back is not new.
pub(crate) async fn is_new(conn: &mut AnyConnection, row: &ConversationRow) -> ApiResult<bool> {
    if !row.is_new() {
        return Ok(false);
    }
    let owned_once: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM events
         WHERE org_id = (SELECT org_id FROM conversations WHERE id = $1) AND chat_id = $2
           AND kind = 'conversation.assigned'
         LIMIT 1",
    )
    .bind(&row.id)
    .bind(&row.chat_id)
    .fetch_optional(conn)
    .await?;
    Ok(owned_once.is_none())
}

fn strategy_words(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RoundRobin => "round robin",
        Strategy::LeastLoaded => "least loaded",
    }
}

/// "5 min", "90 s", "2 h".
fn duration_words(secs: u32) -> String {
    if secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

fn names(agents: &[AgentRef]) -> String {
    agents
        .iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The decision in one sentence or three, for the timeline.
fn explain(decision: &RoutingDecision, reassign_after_secs: Option<u32>) -> String {
    let Some(rule) = &decision.rule else {
        return "No routing rule matches this chat: it waits in the queue.".into();
    };
    let strategy = decision.strategy.map_or("", strategy_words);
    let mut text = String::new();
    let no_reply = decision.trigger == RoutingTrigger::NoReply;
    if let (true, Some(previous)) = (no_reply, &decision.previous_owner) {
        let limit = reassign_after_secs.map_or_else(|| "the time set".to_owned(), duration_words);
        text.push_str(&format!("{} did not answer within {limit}", previous.name));
        text.push_str(if decision.owner.is_some() {
            ": "
        } else {
            ", but "
        });
    }
    match (&decision.owner, &decision.previous_owner) {
        (Some(owner), _) => {
            let rule_words = format!(
                "rule “{}” ({strategy}) gave the chat to {}.",
                rule.name, owner.name
            );
            text.push_str(&capitalised(&rule_words, text.is_empty()));
            let others: Vec<AgentRef> = decision
                .eligible
                .iter()
                .filter(|a| a.id != owner.id)
                .cloned()
                .collect();
            if !others.is_empty() {
                text.push_str(&format!(" Also eligible: {}.", names(&others)));
            }
        }
        (None, Some(previous)) if no_reply => {
            text.push_str(&format!(
                "nobody else was eligible under rule “{}”: the chat stays with {}.",
                rule.name, previous.name
            ));
        }
        (None, _) => {
            let found = if decision.refused.is_empty() {
                "has nobody in its target"
            } else {
                "found nobody eligible"
            };
            text.push_str(&format!(
                "Rule “{}” ({strategy}) {found}: the chat waits in the queue.",
                rule.name
            ));
        }
    }
    if !decision.refused.is_empty() {
        let refused: Vec<String> = decision
            .refused
            .iter()
            .map(|r| format!("{} ({})", r.agent.name, r.reason))
            .collect();
        text.push_str(&format!(" Not eligible: {}.", refused.join(", ")));
    }
    text
}

fn capitalised(text: &str, first: bool) -> String {
    let mut chars = text.chars();
    match (first, chars.next()) {
        (true, Some(c)) => c.to_uppercase().chain(chars).collect(),
        _ => text.to_owned(),
    }
}

/// A conversation by the chat id stored with it.
async fn find_stored(tx: &mut WriteTx, chat_id: &str) -> ApiResult<Option<ConversationRow>> {
    let chat_id = ChatId::parse(chat_id)
        .map_err(|e| anyhow::anyhow!("stored chat id {chat_id:?} is invalid: {e}"))?;
    let org_id = tx.org_id().to_owned();
    Ok(conversations::find(tx.conn(), &org_id, &chat_id).await?)
}

/// Makes sure the chat has its routing row.
async fn ensure_row(tx: &mut WriteTx, row: &ConversationRow) -> ApiResult<()> {
    let org_id = tx.org_id().to_owned();
    sqlx::query(
        "INSERT INTO chat_routing (conversation_id, org_id) VALUES ($1, $2)
         ON CONFLICT (conversation_id) DO NOTHING",
    )
    .bind(&row.id)
    .bind(org_id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Whoever held the chat's reply lock may no longer work it, and any handoff waiting on it is
/// overtaken.
async fn chat_changes_hands(tx: &mut WriteTx, row: &ConversationRow) -> ApiResult<()> {
    let now = tx.now();
    if row.owner_id.is_some() || row.lock_holder_id.is_some() {
        locks::end_lock(tx, row, None).await?;
    }
    crate::db::handoffs::supersede_pending(tx.conn(), &row.id, now).await?;
    Ok(())
}

/// A handoff routing makes when a stage rule moves a chat: the stage, and the notes so far.
struct SystemHandoff {
    from: Option<AgentRef>,
    by: AgentRef,
}

/// Gives the chat to the decision's owner.
async fn give(
    tx: &mut WriteTx,
    view: &mut OrgView,
    row: &ConversationRow,
    rule: &Rule,
    decision: RoutingDecision,
    handoff: Option<SystemHandoff>,
    reassigned_for: Option<&str>,
) -> ApiResult<()> {
    let Some(owner) = decision.owner.clone() else {
        return Err(anyhow::anyhow!("routing gave a chat to nobody").into());
    };
    let chat_id = row.chat_id()?;
    let now = tx.now();
    chat_changes_hands(tx, row).await?;
    sqlx::query("UPDATE conversations SET owner_id = $1 WHERE id = $2")
        .bind(&owner.id)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    ensure_row(tx, row).await?;
    sqlx::query(
        "UPDATE chat_routing SET rule_id = $1, rule_name = $2, routed_owner_id = $3,
             routed_at = $4, queued_at = NULL, queued_from_id = NULL, queued_by_id = NULL,
             reply_due_at = NULL, reply_due_message_id = NULL,
             reassigned_message_id = COALESCE($5, reassigned_message_id)
         WHERE conversation_id = $6",
    )
    .bind(&rule.id)
    .bind(&rule.name)
    .bind(&owner.id)
    .bind(now)
    .bind(reassigned_for)
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    sqlx::query("UPDATE agents SET last_routed_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&owner.id)
        .execute(tx.conn())
        .await?;
    if rule.strategy == Strategy::RoundRobin {
        sqlx::query("UPDATE routing_rules SET last_agent_id = $1 WHERE id = $2")
            .bind(&owner.id)
            .bind(&rule.id)
            .execute(tx.conn())
            .await?;
    }
    view.picked(rule, &owner.id, row.owner_id.as_deref());
    // The new owner answers what waits: the latest message, if the customer wrote it. A chat
    // that moved on because nobody answered starts no new limit: the customer's next message
    // does (so it never comes back to the one who did not answer).
    if let (Some(secs), None) = (rule.reassign_after_secs, reassigned_for) {
        let latest: Option<(String, String)> = sqlx::query_as(
            "SELECT message_id, direction FROM messages WHERE conversation_id = $1
             ORDER BY sent_at DESC, recorded_at DESC LIMIT 1",
        )
        .bind(&row.id)
        .fetch_optional(tx.conn())
        .await?;
        if let Some((message_id, direction)) = latest {
            if direction == "in" {
                sqlx::query(
                    "UPDATE chat_routing SET reply_due_at = $1, reply_due_message_id = $2
                     WHERE conversation_id = $3",
                )
                .bind(view.now + i64::from(secs) * 1000)
                .bind(&message_id)
                .bind(&row.id)
                .execute(tx.conn())
                .await?;
            }
        }
    }
    let previous_owner = row.owner();
    tx.append(
        Some(&chat_id),
        None,
        if reassigned_for.is_some() {
            EventBody::RoutingReassigned(decision)
        } else {
            EventBody::RoutingAssigned(decision)
        },
    )
    .await?;
    if let Some(handoff) = handoff {
        system_handoff(tx, row, &chat_id, rule, &owner, handoff).await?;
    } else if let Some((seat, draft)) = crate::responder::store::take_draft(tx, row).await? {
        // A chat the first responder qualified arrives with its answers (only from nobody: a
        // chat someone had since is past them).
        if row.owner_id.is_none() {
            responder_handoff(tx, row, &chat_id, &owner, &seat, &draft).await?;
        }
    }
    tx.append(
        Some(&chat_id),
        None,
        EventBody::Assigned {
            owner: Some(owner),
            previous_owner,
            reason: AssignReason::Routed,
        },
    )
    .await?;
    Ok(())
}

/// Records a handoff from routing: its receiver finds the stage and the notes so far, as a
/// colleague's handoff would give them.
async fn system_handoff(
    tx: &mut WriteTx,
    row: &ConversationRow,
    chat_id: &ChatId,
    rule: &Rule,
    to: &AgentRef,
    handoff: SystemHandoff,
) -> ApiResult<()> {
    let now = tx.now();
    let notes: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.name, n.body FROM notes n JOIN agents a ON a.id = n.author_id
         WHERE n.conversation_id = $1 ORDER BY n.event_seq",
    )
    .bind(&row.id)
    .fetch_all(tx.conn())
    .await?;
    let stage = row.stage.clone().unwrap_or_else(|| "no stage".into());
    let heading = format!("Moved to {stage} by {}.", handoff.by.name);
    let done = notes_digest(&heading, &notes);
    let promised = format!("Not recorded: rule “{}” handed this chat over.", rule.name);
    let next_step = format!(
        "Take it on at {stage}: rule “{}” gives such chats to you.",
        rule.name
    );
    let org_id = tx.org_id().to_owned();
    let id = crate::db::handoffs::insert(
        tx.conn(),
        crate::db::handoffs::NewHandoff {
            org_id: &org_id,
            conversation_id: &row.id,
            from_agent_id: handoff.from.as_ref().map(|a| a.id.as_str()),
            to_agent_id: &to.id,
            by_agent_id: &handoff.by.id,
            done: &done,
            promised: &promised,
            next_step: &next_step,
            at: now,
        },
    )
    .await?;
    let created = crate::db::handoffs::by_id(tx.conn(), &id).await?;
    tx.append(
        Some(chat_id),
        Some(&handoff.by),
        EventBody::HandoffCreated(created),
    )
    .await?;
    Ok(())
}

/// Records the first responder's handoff of the chat to `to`, as its flow filled it.
pub(crate) async fn responder_handoff(
    tx: &mut WriteTx,
    row: &ConversationRow,
    chat_id: &ChatId,
    to: &AgentRef,
    seat: &AgentRef,
    draft: &crate::responder::flow::HandoffDraft,
) -> ApiResult<()> {
    let now = tx.now();
    let org_id = tx.org_id().to_owned();
    let clip = |text: &str| text.chars().take(HANDOFF_FIELD_CHARS).collect::<String>();
    let id = crate::db::handoffs::insert(
        tx.conn(),
        crate::db::handoffs::NewHandoff {
            org_id: &org_id,
            conversation_id: &row.id,
            from_agent_id: None,
            to_agent_id: &to.id,
            by_agent_id: &seat.id,
            done: &clip(&draft.done),
            promised: &clip(&draft.promised),
            next_step: &clip(&draft.next_step),
            at: now,
        },
    )
    .await?;
    let created = crate::db::handoffs::by_id(tx.conn(), &id).await?;
    tx.append(
        Some(chat_id),
        Some(seat),
        EventBody::HandoffCreated(created),
    )
    .await?;
    Ok(())
}

/// The first responder finished with a chat nobody owns (`row` as it is now): routing takes it
/// as the new chat it is, by the first rule it meets, or the queue. An org without rules works
/// by hand: the chat waits to be claimed. Returns whether the timer should look again.
pub async fn responder_done(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
) -> ApiResult<bool> {
    if row.owner_id.is_some() || row.closed_at.is_some() {
        return Ok(false);
    }
    let mut view = OrgView::load_in(tx, clock).await?;
    if !view.rules.iter().any(|rule| rule.enabled) {
        return Ok(false);
    }
    route_unowned(tx, &mut view, row, RoutingTrigger::NewChat).await?;
    Ok(true)
}

/// The heading and the chat's notes, the latest kept when they do not all fit.
fn notes_digest(heading: &str, notes: &[(String, String)]) -> String {
    if notes.is_empty() {
        return format!("{heading} No notes yet.");
    }
    let mut lines: Vec<String> = Vec::new();
    let mut room = HANDOFF_FIELD_CHARS.saturating_sub(heading.chars().count() + 40);
    for (author, body) in notes.iter().rev() {
        let line = format!("• {author}: {body}");
        let size = line.chars().count() + 1;
        if size > room {
            break;
        }
        room -= size;
        lines.push(line);
    }
    let left_out = notes.len() - lines.len();
    lines.reverse();
    let mut text = format!("{heading} Notes so far:\n{}", lines.join("\n"));
    if left_out > 0 {
        text.push_str(&format!("\n(and {left_out} earlier notes)"));
    }
    text
}

/// Puts the chat in the queue, taking it from its owner when a stage rule found nobody.
async fn enqueue(
    tx: &mut WriteTx,
    row: &ConversationRow,
    decision: RoutingDecision,
    moved_by: Option<&AgentRef>,
) -> ApiResult<()> {
    let chat_id = row.chat_id()?;
    let now = tx.now();
    let previous_owner = row.owner();
    if previous_owner.is_some() {
        chat_changes_hands(tx, row).await?;
        sqlx::query("UPDATE conversations SET owner_id = NULL WHERE id = $1")
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
    }
    ensure_row(tx, row).await?;
    // A chat already waiting keeps its place in line.
    let waiting = row.queued_at().is_some();
    sqlx::query(
        "UPDATE chat_routing SET queued_from_id = $1, queued_by_id = $2, routed_owner_id = NULL,
             reply_due_at = NULL, reply_due_message_id = NULL
         WHERE conversation_id = $3",
    )
    .bind(previous_owner.as_ref().map(|a| a.id.clone()))
    .bind(moved_by.map(|a| a.id.clone()))
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    let queued = tx
        .append(Some(&chat_id), None, EventBody::RoutingQueued(decision))
        .await?;
    if !waiting {
        place_in_queue(tx, row, now, queued.seq).await?;
    }
    if previous_owner.is_some() {
        tx.append(
            Some(&chat_id),
            None,
            EventBody::Assigned {
                owner: None,
                previous_owner,
                reason: AssignReason::Routed,
            },
        )
        .await?;
    }
    Ok(())
}

/// Puts the chat at the end of the queue (its place: the sequence number of the event that
/// queued it).
async fn place_in_queue(
    tx: &mut WriteTx,
    row: &ConversationRow,
    now: i64,
    seq: i64,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE chat_routing SET queued_at = $1, queue_seq = $2 WHERE conversation_id = $3",
    )
    .bind(now)
    .bind(seq)
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The receiver (`row`'s owner) declined a handoff nobody can take back (the chat came from the
/// queue, or its sender left): it waits in the queue again, placed by the decline's event `seq`.
pub async fn requeue(tx: &mut WriteTx, row: &ConversationRow, seq: i64) -> ApiResult<()> {
    // Remembered as the one it came from: the queue does not give it back to them.
    queue_again(tx, row, row.owner_id.as_deref(), seq).await
}

/// Puts a chat nobody owns at the end of the queue, by no stage move (`from`: someone the queue
/// must not give it back to).
async fn queue_again(
    tx: &mut WriteTx,
    row: &ConversationRow,
    from: Option<&str>,
    seq: i64,
) -> ApiResult<()> {
    ensure_row(tx, row).await?;
    sqlx::query(
        "UPDATE chat_routing SET queued_from_id = $1, queued_by_id = NULL WHERE conversation_id = $2",
    )
    .bind(from)
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    let now = tx.now();
    place_in_queue(tx, row, now, seq).await
}

/// The chat's owner left the team (deactivated): nobody owns it now, and it waits in the queue
/// when the org has rules (the queue then gives it to someone eligible, never as a new chat).
pub async fn return_to_team(
    tx: &mut WriteTx,
    row: &ConversationRow,
    actor: Option<&AgentRef>,
) -> ApiResult<()> {
    let chat_id = row.chat_id()?;
    sqlx::query("UPDATE conversations SET owner_id = NULL WHERE id = $1")
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    stored::moved_by_hand(tx.conn(), &row.id).await?;
    let assigned = tx
        .append(
            Some(&chat_id),
            actor,
            EventBody::Assigned {
                owner: None,
                previous_owner: row.owner(),
                reason: AssignReason::Released,
            },
        )
        .await?;
    let routes: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM routing_rules WHERE org_id = $1 AND enabled = 1")
            .bind(tx.org_id().to_owned())
            .fetch_one(tx.conn())
            .await?;
    if routes > 0 {
        queue_again(tx, row, None, assigned.seq).await?;
    }
    Ok(())
}

/// Routing after an incoming message was recorded on the chat (in the same transaction): a new
/// chat nobody owns is routed; an owned chat starts its no-reply limit, if a rule sets one and
/// none runs yet. Returns whether the timer should look again (a limit started).
pub async fn incoming_message(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    message_id: &str,
) -> ApiResult<bool> {
    if row.closed_at.is_some() {
        return Ok(false);
    }
    if row.owner_id.is_none() {
        // Only a chat new to the team is routed by its message; one given back is the team's.
        if row.queued_at.is_none() && is_new(tx.conn(), row).await? {
            let mut view = OrgView::load_in(tx, clock).await?;
            // An org without rules works by hand: new chats wait for someone to claim them,
            // with no queue and nothing in the timeline.
            if view.rules.iter().any(|rule| rule.enabled) {
                route_unowned(tx, &mut view, row, RoutingTrigger::NewChat).await?;
                return Ok(true);
            }
        }
        return Ok(false);
    }
    let org_id = tx.org_id().to_owned();
    let limited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM routing_rules
         WHERE org_id = $1 AND enabled = 1 AND reassign_after_secs IS NOT NULL",
    )
    .bind(&org_id)
    .fetch_one(tx.conn())
    .await?;
    if limited == 0 {
        return Ok(false);
    }
    let running: Option<Option<i64>> =
        sqlx::query_scalar("SELECT reply_due_at FROM chat_routing WHERE conversation_id = $1")
            .bind(&row.id)
            .fetch_optional(tx.conn())
            .await?;
    if running.flatten().is_some() {
        return Ok(false);
    }
    let view = OrgView::load_in(tx, clock).await?;
    let Some(secs) = view
        .reply_rule(row)
        .and_then(|rule| rule.reassign_after_secs)
    else {
        return Ok(false);
    };
    ensure_row(tx, row).await?;
    sqlx::query(
        "UPDATE chat_routing SET reply_due_at = $1, reply_due_message_id = $2
         WHERE conversation_id = $3",
    )
    .bind(view.now + i64::from(secs) * 1000)
    .bind(message_id)
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    Ok(true)
}

/// An outgoing message was recorded: the chat is answered, its no-reply limit stops.
pub async fn outgoing_message(tx: &mut WriteTx, row: &ConversationRow) -> ApiResult<()> {
    sqlx::query(
        "UPDATE chat_routing SET reply_due_at = NULL, reply_due_message_id = NULL
         WHERE conversation_id = $1 AND reply_due_at IS NOT NULL",
    )
    .bind(&row.id)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Routes a chat nobody owns by the first rule it meets: to an eligible agent, or into the
/// queue. Returns whether it was given to someone.
async fn route_unowned(
    tx: &mut WriteTx,
    view: &mut OrgView,
    row: &ConversationRow,
    trigger: RoutingTrigger,
) -> ApiResult<bool> {
    let decided = match view.first_rule(&facts(row, true), false).0 {
        Some(rule) => {
            let rule = rule.clone();
            let decision = view.decide(&rule, trigger, None, None);
            if decision.owner.is_some() {
                give(tx, view, row, &rule, decision, None, None).await?;
                return Ok(true);
            }
            decision
        }
        None => OrgView::no_rule(trigger, None),
    };
    enqueue(tx, row, decided, None).await?;
    Ok(false)
}

/// Routing after `by` moved the chat to another stage (`row` as it is now): the first enabled
/// rule naming the new stage hands it to its target — with a system handoff carrying the stage
/// and the notes — unless its owner is already in that target, or a person gave it to them.
/// Nobody eligible: it waits in the queue, and goes to the target when someone is.
pub async fn stage_changed(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    by: &AgentRef,
) -> ApiResult<bool> {
    if row.closed_at.is_some() || (row.owner_id.is_some() && row.routed_by().is_none()) {
        return Ok(false);
    }
    let new = is_new(tx.conn(), row).await?;
    let mut view = OrgView::load_in(tx, clock).await?;
    let Some(rule) = view.first_rule(&facts(row, new), true).0.cloned() else {
        return Ok(false);
    };
    if let Some(owner) = &row.owner_id {
        if view.in_target(&rule, owner) {
            return Ok(false);
        }
    }
    let decision = view.decide(&rule, RoutingTrigger::StageChanged, row.owner(), None);
    if decision.owner.is_some() {
        let handoff = SystemHandoff {
            from: row.owner(),
            by: by.clone(),
        };
        give(tx, &mut view, row, &rule, decision, Some(handoff), None).await?;
        Ok(false)
    } else {
        enqueue(tx, row, decision, Some(by)).await?;
        Ok(true)
    }
}

/// Gives every queued chat a rule can place now to an eligible agent, oldest first (each
/// decision sees the loads and turns the previous ones left). Returns how many were placed.
pub async fn drain(tx: &mut WriteTx, clock: &RoutingClock) -> ApiResult<usize> {
    let org_id = tx.org_id().to_owned();
    let queued: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.chat_id, r.queued_from_id, r.queued_by_id
         FROM chat_routing r JOIN conversations c ON c.id = r.conversation_id
         WHERE r.org_id = $1 AND r.queued_at IS NOT NULL
           AND c.owner_id IS NULL AND c.closed_at IS NULL
         ORDER BY r.queue_seq",
    )
    .bind(&org_id)
    .fetch_all(tx.conn())
    .await?;
    if queued.is_empty() {
        return Ok(0);
    }
    let mut view = OrgView::load_in(tx, clock).await?;
    let mut placed = 0;
    for (chat_id, from_id, by_id) in queued {
        let Some(row) = find_stored(tx, &chat_id).await? else {
            continue;
        };
        // A chat a stage rule queued goes where the stage rules say, as it would have then.
        let new = is_new(tx.conn(), &row).await?;
        let stage_only = by_id.is_some();
        let Some(rule) = view.first_rule(&facts(&row, new), stage_only).0.cloned() else {
            continue;
        };
        // Not back to whoever declined it.
        let declined_by = match (&by_id, &from_id) {
            (None, Some(from)) => Some((from.as_str(), "declined it")),
            _ => None,
        };
        let decision = view.decide(&rule, RoutingTrigger::Queue, None, declined_by);
        if decision.owner.is_none() {
            continue;
        }
        // A chat a stage rule took from its owner arrives with the handoff it would have had.
        let handoff = by_id.map(|by| SystemHandoff {
            from: from_id.as_ref().map(|id| view.agent_ref(id)),
            by: view.agent_ref(&by),
        });
        give(tx, &mut view, &row, &rule, decision, handoff, None).await?;
        placed += 1;
    }
    Ok(placed)
}

/// Moves on every chat whose assignee let an incoming message wait past the rule's limit: to
/// the next eligible agent (never back to them), once per message. Nobody else eligible: it
/// stays, and the timeline says so. Returns how many chats it looked at.
pub async fn reassign_overdue(tx: &mut WriteTx, clock: &RoutingClock) -> ApiResult<usize> {
    let org_id = tx.org_id().to_owned();
    let now = clock.at(tx.now());
    let due: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT c.chat_id, r.reply_due_message_id
         FROM chat_routing r JOIN conversations c ON c.id = r.conversation_id
         WHERE r.org_id = $1 AND r.reply_due_at IS NOT NULL AND r.reply_due_at <= $2
         ORDER BY r.reply_due_at, c.id",
    )
    .bind(&org_id)
    .bind(now)
    .fetch_all(tx.conn())
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut view = OrgView::load_in(tx, clock).await?;
    for (chat_id, message_id) in &due {
        let Some(row) = find_stored(tx, chat_id).await? else {
            // Not to be found (it cannot be, but a deadline left set would wake the timer for
            // ever): forget it.
            sqlx::query(
                "UPDATE chat_routing SET reply_due_at = NULL WHERE org_id = $1 AND conversation_id IN
                     (SELECT id FROM conversations WHERE org_id = $1 AND chat_id = $2)",
            )
            .bind(&org_id)
            .bind(chat_id)
            .execute(tx.conn())
            .await?;
            continue;
        };
        let rule = view.reply_rule(&row).cloned();
        let (Some(owner), None, Some(rule)) = (row.owner(), row.closed_at, rule) else {
            // Nobody to move it from, or no rule to move it by any more.
            outgoing_message(tx, &row).await?;
            continue;
        };
        let decision = view.decide(
            &rule,
            RoutingTrigger::NoReply,
            Some(owner.clone()),
            Some((&owner.id, "did not answer in time")),
        );
        let message_id = message_id.clone().unwrap_or_default();
        if decision.owner.is_some() {
            give(
                tx,
                &mut view,
                &row,
                &rule,
                decision,
                None,
                Some(&message_id),
            )
            .await?;
        } else {
            sqlx::query(
                "UPDATE chat_routing SET reply_due_at = NULL, reply_due_message_id = NULL,
                     reassigned_message_id = $1
                 WHERE conversation_id = $2",
            )
            .bind(&message_id)
            .bind(&row.id)
            .execute(tx.conn())
            .await?;
            tx.append(
                Some(&row.chat_id()?),
                None,
                EventBody::RoutingReassigned(decision),
            )
            .await?;
        }
    }
    Ok(due.len())
}

/// Where the chat would go now and why, changing nothing.
pub async fn preview(
    conn: &mut AnyConnection,
    clock: &RoutingClock,
    org_id: &str,
    db_now: i64,
    row: &ConversationRow,
) -> ApiResult<RoutingPreview> {
    let view = OrgView::load(conn, org_id, db_now, clock).await?;
    let routed_by = row.routed_by();
    let would_route = row.closed_at.is_none() && (row.owner_id.is_none() || routed_by.is_some());
    let new = is_new(conn, row).await?;
    let trigger = match (&row.owner_id, new) {
        (None, true) => RoutingTrigger::NewChat,
        (None, false) => RoutingTrigger::Queue,
        (Some(_), _) => RoutingTrigger::StageChanged,
    };
    let queued_by_stage: Option<Option<String>> =
        sqlx::query_scalar("SELECT queued_by_id FROM chat_routing WHERE conversation_id = $1")
            .bind(&row.id)
            .fetch_optional(&mut *conn)
            .await?;
    let stage_only = row.queued_at().is_some() && queued_by_stage.flatten().is_some();
    let (rule, skipped) = view.first_rule(&facts(row, new), stage_only);
    let decision = match rule {
        Some(rule) => view.decide(rule, trigger, row.owner(), None),
        None => OrgView::no_rule(trigger, row.owner()),
    };
    let reply_due_at: Option<Option<i64>> =
        sqlx::query_scalar("SELECT reply_due_at FROM chat_routing WHERE conversation_id = $1")
            .bind(&row.id)
            .fetch_optional(conn)
            .await?;
    Ok(RoutingPreview {
        routed_by,
        would_route,
        decision,
        skipped,
        reply_due_at: reply_due_at.flatten(),
    })
}

/// "Take next": gives the oldest queued chat to `agent`, who must be available and under
/// capacity. Returns the chat's id.
pub async fn take_next(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    agent: &AgentRef,
) -> ApiResult<ChatId> {
    let org_id = tx.org_id().to_owned();
    let view = OrgView::load_in(tx, clock).await?;
    let me = view
        .agents
        .iter()
        .find(|a| a.id == agent.id)
        .ok_or_else(|| ApiError::forbidden("only an active agent can take chats"))?;
    match me.presence {
        PresenceStatus::Available => {}
        PresenceStatus::Away => {
            return Err(ApiError::conflict(
                codes::NOT_ELIGIBLE,
                "you are away: set yourself available to take chats",
            ))
        }
        PresenceStatus::Offline => {
            return Err(ApiError::conflict(
                codes::NOT_ELIGIBLE,
                "you are offline: open WhatsApp Web with Baton connected to take chats",
            ))
        }
    }
    if let Some(capacity) = me.profile.capacity {
        if me.open_chats >= capacity {
            return Err(ApiError::conflict(
                codes::NOT_ELIGIBLE,
                format!(
                    "you are at capacity ({} of {capacity} chats open): close one to take another",
                    me.open_chats
                ),
            ));
        }
    }
    let Some(row) = queue(tx.conn(), &org_id).await?.into_iter().next() else {
        return Err(ApiError::conflict(
            codes::QUEUE_EMPTY,
            "no chat waits in the queue",
        ));
    };
    chat_changes_hands(tx, &row).await?;
    sqlx::query("UPDATE conversations SET owner_id = $1 WHERE id = $2")
        .bind(&agent.id)
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE chat_routing SET queued_at = NULL WHERE conversation_id = $1")
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    stored::moved_by_hand(tx.conn(), &row.id).await?;
    let chat_id = row.chat_id()?;
    tx.append(
        Some(&chat_id),
        Some(agent),
        EventBody::Assigned {
            owner: Some(agent.clone()),
            previous_owner: None,
            reason: AssignReason::Claim,
        },
    )
    .await?;
    // A chat the first responder qualified: its answers, as routing would have handed them.
    if let Some((seat, draft)) = crate::responder::store::take_draft(tx, &row).await? {
        responder_handoff(tx, &row, &chat_id, agent, &seat, &draft).await?;
    }
    Ok(chat_id)
}

/// What the queue holds: `(chat_id, title, pipeline stage, queued_at)`, oldest first.
pub async fn queue(conn: &mut AnyConnection, org_id: &str) -> ApiResult<Vec<ConversationRow>> {
    let rows = sqlx::query_as::<_, ConversationRow>(&format!(
        "{} WHERE c.org_id = $1 AND r.queued_at IS NOT NULL
           AND c.owner_id IS NULL AND c.closed_at IS NULL
         ORDER BY r.queue_seq",
        conversations::SELECT_CONVERSATION
    ))
    .bind(org_id)
    .fetch_all(conn)
    .await?;
    Ok(rows)
}

/// Runs the timer: drains queues (someone may have started a shift) and moves on overdue chats,
/// whenever woken and at least every `tick`, and at the earliest no-reply limit.
pub async fn run_timer(state: crate::http::AppState, tick: std::time::Duration) {
    // A sweep that failed (a busy database, say) is tried again soon, not a whole tick later: a
    // chat waiting in the queue must not wait for the next tick because of a moment's contention.
    let mut retry_soon = false;
    loop {
        let wait = match next_wait(&state, tick).await {
            // Never a busy loop, whatever stays due.
            Ok(wait) => wait.max(MIN_WAIT),
            Err(err) => {
                tracing::warn!(error = %err, "routing timer could not read its schedule");
                tick
            }
        };
        let wait = if retry_soon {
            wait.min(RETRY_WAIT)
        } else {
            wait
        };
        tokio::select! {
            () = state.routing.woken() => {}
            () = tokio::time::sleep(wait) => {}
            () = state.shutdown.cancelled() => return,
        }
        retry_soon = match sweep(&state).await {
            Ok(failed) => failed > 0,
            Err(err) => {
                tracing::warn!(error = %err, "routing sweep failed; retrying");
                true
            }
        };
    }
}

/// How soon a failed sweep is tried again.
const RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The shortest pause between two sweeps the timer wakes itself for.
const MIN_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// How long until the earliest no-reply limit (at most `tick`).
async fn next_wait(
    state: &crate::http::AppState,
    tick: std::time::Duration,
) -> ApiResult<std::time::Duration> {
    let earliest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(reply_due_at) FROM chat_routing WHERE reply_due_at IS NOT NULL",
    )
    .fetch_one(state.db.pool())
    .await?;
    // A first responder's run whose customer went quiet is handed to people in time too.
    let mut conn = state.db.pool().acquire().await?;
    let idle = crate::responder::store::next_idle_handover(&mut conn).await?;
    drop(conn);
    let earliest = match (earliest, idle) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let Some(earliest) = earliest else {
        return Ok(tick);
    };
    let now = state.routing.at(state.db.now().await?);
    let ms = u64::try_from((earliest - now).max(0)).unwrap_or(0);
    Ok(tick.min(std::time::Duration::from_millis(ms)))
}

/// One pass over every org with a queue or a running no-reply limit, each in its own write
/// transaction.
/// Returns how many orgs it could not look at (each is logged), to be tried again soon.
pub async fn sweep(state: &crate::http::AppState) -> ApiResult<usize> {
    let cutoff =
        state.routing.at(state.db.now().await?) - crate::responder::store::IDLE_HANDOVER_MS;
    let orgs: Vec<String> = sqlx::query_scalar(
        "SELECT org_id FROM chat_routing WHERE queued_at IS NOT NULL OR reply_due_at IS NOT NULL
         UNION
         SELECT org_id FROM responder_runs
         WHERE status = 'active' AND has_work = 0 AND updated_at <= $1",
    )
    .bind(cutoff)
    .fetch_all(state.db.pool())
    .await?;
    let mut failed = 0;
    for org_id in orgs {
        // One org's trouble does not hold up the others.
        if let Err(err) = sweep_org(state, &org_id).await {
            tracing::warn!(org = %org_id, error = %err, "routing could not look at an org");
            failed += 1;
        }
    }
    Ok(failed)
}

/// Drains the org's queue and moves on its overdue chats, in one write transaction.
async fn sweep_org(state: &crate::http::AppState, org_id: &str) -> ApiResult<()> {
    let mut tx = state.db.begin_write(org_id).await?;
    // Queued chats someone claimed by typing, or closed, left the queue: forget they were in
    // it, so the org is not looked at again for them.
    sqlx::query(
        "UPDATE chat_routing SET queued_at = NULL
             WHERE org_id = $1 AND queued_at IS NOT NULL AND conversation_id IN (
                 SELECT id FROM conversations
                 WHERE org_id = $1 AND (owner_id IS NOT NULL OR closed_at IS NOT NULL))",
    )
    .bind(org_id)
    .execute(tx.conn())
    .await?;
    crate::responder::store::hand_over_idle(&mut tx, &state.routing).await?;
    drain(&mut tx, &state.routing).await?;
    reassign_overdue(&mut tx, &state.routing).await?;
    tx.commit(&state.hub).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> AgentRef {
        AgentRef {
            id: name.to_lowercase(),
            name: name.into(),
        }
    }

    fn decision(owner: Option<&str>, trigger: RoutingTrigger) -> RoutingDecision {
        RoutingDecision {
            trigger,
            rule: Some(RuleRef {
                id: "r".into(),
                name: "Qualification by day".into(),
            }),
            strategy: Some(Strategy::RoundRobin),
            owner: owner.map(agent),
            previous_owner: None,
            eligible: owner
                .map(agent)
                .into_iter()
                .chain([agent("Meena")])
                .collect(),
            refused: vec![Refusal {
                agent: agent("Asha"),
                reason: "away".into(),
            }],
            explanation: String::new(),
        }
    }

    #[test]
    fn every_decision_reads_as_a_sentence() {
        assert_eq!(
            explain(&decision(Some("Ravi"), RoutingTrigger::NewChat), None),
            "Rule “Qualification by day” (round robin) gave the chat to Ravi. \
             Also eligible: Meena. Not eligible: Asha (away)."
        );
        let mut queued = decision(None, RoutingTrigger::NewChat);
        queued.eligible.clear();
        assert_eq!(
            explain(&queued, None),
            "Rule “Qualification by day” (round robin) found nobody eligible: the chat waits \
             in the queue. Not eligible: Asha (away)."
        );
        let mut moved = decision(Some("Meena"), RoutingTrigger::NoReply);
        moved.previous_owner = Some(agent("Ravi"));
        moved.eligible = vec![agent("Meena")];
        assert_eq!(
            explain(&moved, Some(300)),
            "Ravi did not answer within 5 min: rule “Qualification by day” (round robin) gave \
             the chat to Meena. Not eligible: Asha (away)."
        );
        let mut kept = decision(None, RoutingTrigger::NoReply);
        kept.previous_owner = Some(agent("Ravi"));
        assert_eq!(
            explain(&kept, Some(90)),
            "Ravi did not answer within 90 s, but nobody else was eligible under rule \
             “Qualification by day”: the chat stays with Ravi. Not eligible: Asha (away)."
        );
        assert_eq!(
            explain(&OrgView::no_rule(RoutingTrigger::NewChat, None), None),
            "No routing rule matches this chat: it waits in the queue."
        );
    }

    #[test]
    fn a_system_handoff_keeps_the_latest_notes_that_fit() {
        assert_eq!(notes_digest("Moved.", &[]), "Moved. No notes yet.");
        let notes: Vec<(String, String)> = (0..100)
            .map(|n| ("Asha".to_owned(), format!("note {n} {}", "x".repeat(40))))
            .collect();
        let digest = notes_digest("Moved to Qualified by Asha.", &notes);
        assert!(
            digest.chars().count() <= HANDOFF_FIELD_CHARS,
            "{}",
            digest.len()
        );
        assert!(digest.contains("note 99 "), "the latest note is kept");
        assert!(!digest.contains("note 0 "), "the oldest is left out");
        assert!(digest.ends_with("earlier notes)"));
    }
}
