//! Response-time and workload reports (`GET /reports/agents|stages|daily`): the figures a lead
//! reads per agent, team, pipeline stage and day. Every figure is defined in the README
//! ("Reports: what each figure means"); the server computes them from message metadata (never
//! text) and the event log.

use serde::{Deserialize, Serialize};

use crate::api::{AgentRef, Pipeline};
use crate::{ChatId, Millis};

/// How long something took, over a set of responses: nearest-rank median and 90th percentile
/// and the mean, in whole seconds, both on the wall clock and counting only the org's business
/// hours. `None` when there was nothing to measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Durations {
    pub count: u32,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
    pub mean_secs: Option<i64>,
    pub business_median_secs: Option<i64>,
    pub business_p90_secs: Option<i64>,
    pub business_mean_secs: Option<i64>,
}

/// The figures of one row of a report (or its total).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    /// Conversations with at least one outgoing message in the range.
    pub conversations: u32,
    pub first_response: Durations,
    pub response: Durations,
    pub messages_in: u32,
    pub messages_out: u32,
    pub handoffs_given: u32,
    pub handoffs_received: u32,
    pub handoffs_declined: u32,
    /// Responses in the range slower than their stage's target (business hours).
    pub sla_breaches: u32,
    /// Open conversations whose last message is an unanswered incoming one.
    pub waiting_now: u32,
    /// Of those, the ones already past their stage's target.
    pub waiting_breached: u32,
}

/// The range and zone a report covers: `from` to `to` inclusive, dates on the org's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRange {
    pub from: String,
    pub to: String,
    pub time_zone: String,
}

/// One agent's row; `agent: None` collects what no agent can be credited with (messages sent
/// before Baton knew who owned the chat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRow {
    pub agent: Option<AgentRef>,
    pub figures: Figures,
}

/// A team's row: its members' figures together (each response once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRow {
    pub team: AgentRef,
    pub figures: Figures,
}

/// `GET /reports/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentsReport {
    pub range: ReportRange,
    pub agents: Vec<AgentRow>,
    pub teams: Vec<TeamRow>,
    pub total: Figures,
    /// Each day's figures too, when asked for (`?daily=true`): what `/reports/daily` would say
    /// of the same facts, so a panel showing both reads them once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<DayRow>>,
}

/// A pipeline stage's row; no pipeline: conversations in no stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRow {
    pub pipeline: Option<AgentRef>,
    pub stage: Option<String>,
    pub figures: Figures,
}

/// `GET /reports/stages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagesReport {
    pub range: ReportRange,
    pub stages: Vec<StageRow>,
    pub total: Figures,
}

/// A day's row (`YYYY-MM-DD` on the org's calendar); every day of the range has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRow {
    pub date: String,
    pub figures: Figures,
}

/// `GET /reports/daily`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyReport {
    pub range: ReportRange,
    pub days: Vec<DayRow>,
    pub total: Figures,
}

/// `GET /pipelines/{id}/board`: the pipeline's open conversations as cards, for the lead's board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Board {
    pub pipeline: Pipeline,
    /// The server's clock when the board was read: waits are measured to it.
    pub now: Millis,
    /// By stage (the pipeline's order), then longest waiting first, then title.
    pub cards: Vec<BoardCard>,
}

/// One open conversation on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardCard {
    pub chat_id: ChatId,
    pub title: String,
    pub owner: Option<AgentRef>,
    pub stage: String,
    /// The first incoming message not answered yet (a wait runs since): `None` when the team
    /// spoke last.
    pub waiting_since: Option<Millis>,
    /// The stage's target for this wait (first response or response), in minutes of business
    /// hours, when the stage has one.
    pub sla_target_mins: Option<u32>,
    /// The wait is already longer than the target (in business hours).
    pub sla_breached: bool,
    /// The instant after which this wait is past its target (business hours on the org's clock
    /// turned back into the wall clock), so a board can tell "due soon" and see a breach come
    /// without asking again. `None` without a wait or a target, or beyond a year of closures.
    #[serde(default)]
    pub sla_due_at: Option<Millis>,
    /// The earliest open reminder's due time.
    pub reminder_due_at: Option<Millis>,
    /// A handoff waits for its receiver to accept it.
    pub handoff_waiting: bool,
    /// The first responder is working the chat (its flow is under way): no person has it yet.
    #[serde(default)]
    pub with_responder: bool,
    pub last_activity_at: Millis,
}
