//! Who can be assigned chats: each agent's routing profile (skills, capacity, weekly shifts with
//! date exceptions, all on the org's clock) and teams.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// 0 for Monday … 6 for Sunday.
    pub fn index(self) -> u32 {
        self as u32
    }

    /// Its wire name: `"mon"` … `"sun"`.
    pub fn as_str(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self as usize]
    }
}

/// Working hours on a weekday, `"HH:MM"` on the org's clock. An `end` earlier than `start` runs
/// past midnight into the next day ("22:00"–"06:00"); `"00:00"` as the end means midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    pub weekday: Weekday,
    pub start: String,
    pub end: String,
}

/// Hours on one date, `"HH:MM"` as in [`Shift`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    pub start: String,
    pub end: String,
}

/// A date (`"YYYY-MM-DD"`, the org's calendar) that does not follow the weekly shifts: no hours
/// is a day off, hours replace that day's shifts (extra or different hours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftException {
    pub date: String,
    #[serde(default)]
    pub hours: Vec<Hours>,
}

/// `GET/PUT /agents/{id}/routing`: what routing needs to know about an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingProfile {
    /// Short lowercase tags (`hindi`, `home-loans`) a rule may require.
    #[serde(default)]
    pub skills: Vec<String>,
    /// The most open conversations (owned and not closed) the agent is given; `None`: no limit.
    #[serde(default)]
    pub capacity: Option<u32>,
    /// The weekly shifts; none at all means the agent is not limited by shifts.
    #[serde(default)]
    pub shifts: Vec<Shift>,
    #[serde(default)]
    pub exceptions: Vec<ShiftException>,
}

/// A team: the agents a rule can route to together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    /// Its members' ids, sorted.
    pub agent_ids: Vec<String>,
    pub created_at: Millis,
}

/// `POST /teams` and `PUT /teams/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    pub name: String,
    #[serde(default)]
    pub agent_ids: Vec<String>,
}

/// Which chats a routing rule applies to; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    /// The chat is in this pipeline…
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// …at this stage (needs `pipeline_id`).
    #[serde(default)]
    pub stage: Option<String>,
    /// On these days (the org's calendar).
    #[serde(default)]
    pub weekdays: Option<Vec<Weekday>>,
    /// Between these times of day, `"HH:MM"` on the org's clock (`to` before `from` runs past
    /// midnight); both or neither.
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    /// Only agents with this skill are eligible.
    #[serde(default)]
    pub skill: Option<String>,
    /// Only chats that are new (no owner yet, never routed).
    #[serde(default)]
    pub new_chat: Option<bool>,
}

/// Whom a rule sends chats to: one team, or a list of agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub agent_ids: Option<Vec<String>>,
}

/// How a rule picks among the eligible agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In turn, remembering whose turn it is (per rule).
    RoundRobin,
    /// The fewest open chats; ties to whoever waited longest.
    LeastLoaded,
}

/// `POST /routing/rules` and `PUT /routing/rules/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default, rename = "match")]
    pub matches: RuleMatch,
    pub target: RuleTarget,
    pub strategy: Strategy,
    /// Move the chat to the next eligible agent when its assignee has not answered an incoming
    /// message within this many seconds.
    #[serde(default)]
    pub reassign_after_secs: Option<u32>,
}

fn enabled_by_default() -> bool {
    true
}

/// A routing rule, in the org's ordered list (the first enabled rule that matches decides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    /// Its place in the list, from 1.
    pub position: u32,
    pub name: String,
    pub enabled: bool,
    #[serde(rename = "match")]
    pub matches: RuleMatch,
    pub target: RuleTarget,
    pub strategy: Strategy,
    pub reassign_after_secs: Option<u32>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// `PUT /routing/rules/order`: every rule's id, in the new order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOrder {
    pub ids: Vec<String>,
}

/// Whether an agent can be given chats now: connected and not away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// One of their browsers holds the event stream and they are not away.
    Available,
    /// Connected, but they said they are away.
    Away,
    /// None of their browsers is connected.
    Offline,
}

/// `PUT /me/presence`: what the agent says of themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChoice {
    Available,
    Away,
}

/// `PUT /me/presence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    pub status: PresenceChoice,
}

/// An agent's presence as it now is (the answer to `PUT /me/presence`, and the
/// `agent.presence` event's body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub agent: crate::api::AgentRef,
    pub status: PresenceStatus,
}

/// An agent in `GET /agents`: who they are, and what routing sees of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentListed {
    #[serde(flatten)]
    pub agent: crate::api::Agent,
    pub presence: PresenceStatus,
    /// Conversations they own that are not closed.
    pub open_chats: u32,
    /// Their routing profile's capacity (`None`: no limit).
    pub capacity: Option<u32>,
}

/// `GET/PUT /org/business-hours`: when the org answers, in the same form as an agent's shifts
/// (on the org's clock; none at all: open at all times).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    #[serde(default)]
    pub shifts: Vec<Shift>,
    #[serde(default)]
    pub exceptions: Vec<ShiftException>,
}

/// A rule as an event or an answer names it: its id, and its name when it decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

/// An agent routing passed over, and why (in words: "away", "off shift", "at capacity (5 of 5
/// chats open)", "without the skill hindi", "had it already").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub agent: crate::api::AgentRef,
    pub reason: String,
}

/// What made routing decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingTrigger {
    /// A chat nobody owns received its first incoming message.
    NewChat,
    /// The chat's stage changed and a rule names the new stage.
    StageChanged,
    /// The chat waited in the queue and someone became eligible.
    Queue,
    /// The assignee did not answer an incoming message in the rule's time.
    NoReply,
}

/// One automatic routing decision, as the timeline records it (`routing.assigned`,
/// `routing.queued`, `routing.reassigned`) and as the dry run answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub trigger: RoutingTrigger,
    /// The rule that decided; `None` when no enabled rule matches the chat.
    pub rule: Option<RuleRef>,
    pub strategy: Option<Strategy>,
    /// Who gets the chat; `None`: it waits in the queue.
    pub owner: Option<crate::api::AgentRef>,
    pub previous_owner: Option<crate::api::AgentRef>,
    /// Everyone in the rule's target who could have been given it.
    pub eligible: Vec<crate::api::AgentRef>,
    /// Everyone else in the target, with the reason.
    pub refused: Vec<Refusal>,
    /// The whole decision in one sentence, for the timeline.
    pub explanation: String,
}

/// Why the chat's owner has it, while routing gave it to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutedBy {
    pub rule: RuleRef,
    pub at: Millis,
}

/// `GET /conversations/{chat_id}/routing`: where the chat would go now and why, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPreview {
    /// Why its owner has it now, if routing gave it to them.
    pub routed_by: Option<RoutedBy>,
    /// Whether a rule would move it now: `false` when a person assigned or claimed it (rules do
    /// not take such chats away; only a rule's no-reply fallback does), or it is closed.
    pub would_route: bool,
    /// The decision the rules give now (for a chat that would not be routed: what they would
    /// decide if it were).
    pub decision: RoutingDecision,
    /// The enabled rules before the deciding one, each with the first condition it failed.
    pub skipped: Vec<SkippedRule>,
    /// When the chat moves on if its owner leaves the waiting incoming message unanswered (on
    /// routing's clock); `None` while no limit runs.
    pub reply_due_at: Option<Millis>,
}

/// A rule the dry run passed over, and the condition the chat did not meet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRule {
    pub rule: RuleRef,
    pub reason: String,
}

/// One chat waiting in the queue (`GET /queue`, oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedChat {
    pub chat_id: crate::ChatId,
    pub title: String,
    pub stage: Option<crate::api::StageRef>,
    pub queued_at: Millis,
    /// How long it has waited, by the server's clock.
    pub waited_ms: i64,
}
