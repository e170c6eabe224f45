//! The first responder's runs in the database, always inside the org's write transaction: a run
//! starts when a new chat's first message arrives and a flow answers such chats (and a seat is
//! connected to work it); each customer message marks it as waiting to be read; the engine's
//! actions become messages the seat sends in order, each cleared by the server just before it
//! goes; when the last one is sent, a finished flow moves the chat to its stage, writes its note
//! and hands it to routing with the answers. A person taking the chat's reply lock ends the run.
//! A run is never deleted: a flow never restarts on a chat that finished it.

use protocol::api::AgentRef;
use protocol::events::EventBody;
use protocol::responder::{
    FlowRequest, Qualification, QualificationField, ResponderNote, SeatMessage, SeatQuestion,
    SeatTask, DEFAULT_PERSON_WORDS,
};
use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::flow::{self, Action, Ended, HandoffDraft, Input, Position, Run};
use crate::db::conversations::{self, ConversationRow};
use crate::db::WriteTx;
use crate::error::ApiResult;
use crate::routing::clock::RoutingClock;
use crate::routing::run::OrgView;

/// A run's state as stored (the `run` column, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRun {
    pub flow_name: String,
    /// The flow as it was when the run began.
    pub flow: FlowRequest,
    pub run: Run,
    /// Messages the seat has yet to send, in order.
    pub pending: Vec<Pending>,
    /// The last message key given out.
    pub next_key: u32,
    /// What happens once `pending` is sent: the flow is over.
    pub finish: Option<Finishing>,
    /// The customer's message that started the run (its id).
    #[serde(default)]
    pub first_message: Option<String>,
    /// The person who owned the chat when the run began (a flow that answers chats whose owner
    /// is off shift); anyone else owning it ends the run.
    #[serde(default)]
    pub owner_at_start: Option<String>,
}

impl RunRow {
    /// Whether `row`'s owner is someone the run does not work for: a person took the chat.
    pub fn taken_by_another(&self, row: &ConversationRow) -> bool {
        row.owner_id.is_some() && row.owner_id != self.stored.owner_at_start
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub key: String,
    pub text: String,
    /// When the server let the seat send it.
    pub cleared_at: Option<i64>,
}

/// The end of a flow, carried out once its last message is sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finishing {
    pub ended: Ended,
    pub stage: Option<String>,
    pub note: String,
    pub handoff: HandoffDraft,
}

/// The handoff a finished run leaves for routing (the `handoff_draft` column, JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Draft {
    seat: AgentRef,
    handoff: HandoffDraft,
}

/// One `responder_runs` row.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub conversation_id: String,
    pub flow_id: String,
    pub active: bool,
    pub ended: Option<String>,
    pub stored: StoredRun,
    pub reply_message_id: Option<String>,
    pub reply_recorded_at: Option<i64>,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

/// The chat's run, if a flow ever answered it.
pub async fn load(conn: &mut AnyConnection, conversation_id: &str) -> ApiResult<Option<RunRow>> {
    let row = sqlx::query(
        "SELECT conversation_id, flow_id, status, ended, run, reply_message_id, reply_recorded_at,
                started_at, ended_at
         FROM responder_runs WHERE conversation_id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(run_from_row).transpose()
}

fn run_from_row(row: &sqlx::any::AnyRow) -> ApiResult<RunRow> {
    let status: String = row.try_get("status")?;
    let text: String = row.try_get("run")?;
    let stored: StoredRun = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("a stored responder run is unreadable: {e}"))?;
    Ok(RunRow {
        conversation_id: row.try_get("conversation_id")?,
        flow_id: row.try_get("flow_id")?,
        active: status == "active",
        ended: row.try_get("ended")?,
        stored,
        reply_message_id: row.try_get("reply_message_id")?,
        reply_recorded_at: row.try_get("reply_recorded_at")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// The org's active runs with something for the seat to do, least recently changed first.
pub async fn with_work(
    conn: &mut AnyConnection,
    org_id: &str,
    limit: i64,
) -> ApiResult<Vec<RunRow>> {
    let rows = sqlx::query(
        "SELECT conversation_id, flow_id, status, ended, run, reply_message_id, reply_recorded_at,
                started_at, ended_at
         FROM responder_runs WHERE org_id = $1 AND status = 'active' AND has_work = 1
         ORDER BY updated_at, conversation_id LIMIT $2",
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(run_from_row).collect()
}

async fn save(tx: &mut WriteTx, run: &RunRow) -> ApiResult<()> {
    let now = tx.now();
    let text = serde_json::to_string(&run.stored).map_err(anyhow::Error::from)?;
    sqlx::query(
        "UPDATE responder_runs SET status = $1, ended = $2, run = $3, reply_message_id = $4,
             reply_recorded_at = $5, updated_at = $6, ended_at = $7, has_work = $9
         WHERE conversation_id = $8",
    )
    .bind(if run.active { "active" } else { "over" })
    .bind(run.ended.as_deref())
    .bind(text)
    .bind(run.reply_message_id.as_deref())
    .bind(run.reply_recorded_at)
    .bind(now)
    .bind(run.ended_at)
    .bind(&run.conversation_id)
    .bind(i64::from(
        run.active && (!run.stored.pending.is_empty() || run.reply_message_id.is_some()),
    ))
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn note_event(
    tx: &mut WriteTx,
    row: &ConversationRow,
    actor: Option<&AgentRef>,
    body: fn(ResponderNote) -> EventBody,
    text: String,
) -> ApiResult<()> {
    tx.append(Some(&row.chat_id()?), actor, body(ResponderNote { text }))
        .await?;
    Ok(())
}

/// The flow that answers this chat's first message: its pipeline's, or (a chat in no pipeline)
/// the org's flow for brand-new chats. Enabled flows only.
async fn flow_for(
    tx: &mut WriteTx,
    row: &ConversationRow,
) -> ApiResult<Option<(String, FlowRequest)>> {
    let org_id = tx.org_id().to_owned();
    let rows = sqlx::query(
        "SELECT id, pipeline_id, definition FROM flows WHERE org_id = $1 AND enabled = 1
         ORDER BY created_at, id",
    )
    .bind(&org_id)
    .fetch_all(tx.conn())
    .await?;
    for flow_row in rows {
        let pipeline_id: String = flow_row.try_get("pipeline_id")?;
        let text: String = flow_row.try_get("definition")?;
        let flow: FlowRequest = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("a stored flow is unreadable: {e}"))?;
        let answers = match &row.pipeline_id {
            Some(pipeline) => *pipeline == pipeline_id,
            None => flow.new_chats,
        };
        if answers {
            return Ok(Some((flow_row.try_get("id")?, flow)));
        }
    }
    Ok(None)
}

/// How recently a person must have replied or held the lock for an owned chat to be theirs still.
const PERSON_RECENT_MS: i64 = 30 * 60 * 1000;

/// Whether a person is at the chat: holding its lock now, or having sent a message or held the
/// lock within [`PERSON_RECENT_MS`].
async fn person_active(tx: &mut WriteTx, row: &ConversationRow) -> ApiResult<bool> {
    let now = tx.now();
    if row.lock_holder_id.is_some()
        && row.lock_holder_role.as_deref() != Some("responder")
        && row.lock_expires_at > now - PERSON_RECENT_MS
    {
        return Ok(true);
    }
    let last_out: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(sent_at) FROM messages WHERE conversation_id = $1 AND direction = 'out'",
    )
    .bind(&row.id)
    .fetch_one(tx.conn())
    .await?;
    Ok(last_out.is_some_and(|at| at > now - PERSON_RECENT_MS))
}

/// Whether a responder seat is working now: connected (its event stream is open) and not stopped
/// (a stopped seat is away).
async fn seat_connected(tx: &mut WriteTx) -> ApiResult<bool> {
    let (org_id, now) = (tx.org_id().to_owned(), tx.now());
    let seat: Option<String> = sqlx::query_scalar(
        "SELECT a.id FROM agents a JOIN presence p ON p.agent_id = a.id
         WHERE a.org_id = $1 AND a.role = 'responder' AND a.active = 1 AND a.away = 0
           AND p.expires_at > $2
         LIMIT 1",
    )
    .bind(&org_id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    Ok(seat.is_some())
}

/// An incoming message was recorded on the chat (`row` as read before it). Returns whether the
/// first responder has the chat — routing then leaves it alone: a run under way now has a reply
/// to read, or a new chat a flow answers starts one (when a seat is connected to work it; with
/// none, the chat is routed as usual rather than left waiting).
pub async fn incoming(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    message_id: &str,
) -> ApiResult<bool> {
    if let Some(mut run) = load(tx.conn(), &row.id).await? {
        if !run.active {
            return Ok(false);
        }
        run.reply_message_id = Some(message_id.to_owned());
        run.reply_recorded_at = Some(tx.now());
        save(tx, &run).await?;
        return Ok(true);
    }
    if row.closed_at.is_some() {
        return Ok(false);
    }
    // A chat the team owns: only a flow that answers while its owner is off shift.
    let owned = row.owner();
    let new_to_team = owned.is_none()
        && row.queued_at.is_none()
        && crate::routing::run::is_new(tx.conn(), row).await?;
    if !new_to_team && owned.is_none() {
        return Ok(false);
    }
    let Some((flow_id, flow)) = flow_for(tx, row).await? else {
        return Ok(false);
    };
    if owned.is_some() && !flow.owned_off_shift {
        return Ok(false);
    }
    if owned.is_some() && person_active(tx, row).await? {
        return Ok(false);
    }
    if !seat_connected(tx).await? {
        return Ok(false);
    }
    let view = OrgView::load_in(tx, clock).await?;
    let after_hours = match &owned {
        // The owner is on shift: theirs to answer.
        Some(owner) => match view.back_when(std::slice::from_ref(&owner.id)) {
            Some(when) => Some(format!(
                "{} is away now and will reply {when}.",
                first_name(&owner.name)
            )),
            None => return Ok(false),
        },
        // Out of hours: nobody the rules give chats to (or, without rules, nobody at all) is
        // on shift; the greeting says when a person will reply.
        None => {
            let people = match view.rule_targets() {
                Some(targets) => targets,
                None => {
                    let org_id = tx.org_id().to_owned();
                    sqlx::query_scalar(
                        "SELECT id FROM agents WHERE org_id = $1 AND active = 1 AND role <> 'responder'",
                    )
                    .bind(&org_id)
                    .fetch_all(tx.conn())
                    .await?
                }
            };
            view.after_hours(&people)
        }
    };
    let chat_id = row.chat_id()?;
    let org_id = tx.org_id().to_owned();
    if row.pipeline_id.is_none() {
        // A brand-new chat joins the flow's pipeline at its first stage.
        if let Some(pipeline) =
            crate::db::pipelines::find(tx.conn(), &org_id, &flow.pipeline_id).await?
        {
            if let Some(first) = pipeline.stages.first() {
                sqlx::query("UPDATE conversations SET pipeline_id = $1, stage = $2 WHERE id = $3")
                    .bind(&pipeline.id)
                    .bind(first)
                    .bind(&row.id)
                    .execute(tx.conn())
                    .await?;
                tx.append(
                    Some(&chat_id),
                    None,
                    EventBody::StageChanged {
                        stage: Some(protocol::api::StageRef {
                            pipeline_id: pipeline.id.clone(),
                            pipeline_name: pipeline.name.clone(),
                            stage: first.clone(),
                        }),
                        previous: None,
                    },
                )
                .await?;
            }
        }
    }
    let (next, actions) = flow::step(&flow, &Run::default(), Input::Start { after_hours });
    let now = tx.now();
    let mut run = RunRow {
        conversation_id: row.id.clone(),
        flow_id,
        active: true,
        ended: None,
        stored: StoredRun {
            flow_name: flow.name.clone(),
            flow,
            run: next,
            pending: Vec::new(),
            next_key: 0,
            finish: None,
            first_message: Some(message_id.to_owned()),
            owner_at_start: owned.map(|o| o.id),
        },
        // The first message is what the greeting answers, not an answer to read.
        reply_message_id: None,
        reply_recorded_at: None,
        started_at: now,
        ended_at: None,
    };
    queue_actions(&mut run, actions);
    sqlx::query(
        "INSERT INTO responder_runs (conversation_id, org_id, flow_id, status, run, started_at, updated_at)
         VALUES ($1, $2, $3, 'active', '{}', $4, $4)",
    )
    .bind(&row.id)
    .bind(&org_id)
    .bind(&run.flow_id)
    .bind(now)
    .execute(tx.conn())
    .await?;
    save(tx, &run).await?;
    Ok(true)
}

/// Takes in the engine's actions: messages to send, and the end to carry out once they are sent.
fn queue_actions(run: &mut RunRow, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Send(text) => {
                run.stored.next_key += 1;
                run.stored.pending.push(Pending {
                    key: run.stored.next_key.to_string(),
                    text,
                    cleared_at: None,
                });
            }
            Action::Finish {
                stage,
                note,
                handoff,
            } => {
                let ended = match run.stored.run.position {
                    Position::Over(ended) => ended,
                    _ => Ended::Finished,
                };
                run.stored.finish = Some(Finishing {
                    ended,
                    stage,
                    note,
                    handoff,
                });
            }
            Action::Stop(Ended::HumanTookOver) => {
                // Handled where a person takes the chat (see [`human_took_over`]).
            }
            Action::Stop(ended) => {
                // Stopped short (too many messages without a reply): people take it from here.
                run.stored.finish = Some(silent_customer(run, ended));
            }
        }
    }
}

/// The end of a run whose customer went quiet: people take it with what answers there are.
fn silent_customer(run: &RunRow, ended: Ended) -> Finishing {
    let answers = flow::summary(&run.stored.flow, &run.stored.run.answers);
    let done = if answers.is_empty() {
        "No qualification answers yet.".to_owned()
    } else {
        format!("Qualification answers so far: {answers}")
    };
    Finishing {
        ended,
        stage: None,
        note: format!("Responder: stopped, the customer did not reply. {done}"),
        handoff: HandoffDraft {
            done,
            promised: "Nothing: the customer stopped replying.".to_owned(),
            next_step: "Follow up with the customer.".to_owned(),
        },
    }
}

/// How long a run waits for a customer who stopped replying before people take the chat.
pub const IDLE_HANDOVER_MS: i64 = 30 * 60 * 1000;

/// The earliest instant (routing's clock) at which a run waiting on its customer is handed over.
pub async fn next_idle_handover(conn: &mut AnyConnection) -> ApiResult<Option<i64>> {
    let earliest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(updated_at) FROM responder_runs WHERE status = 'active' AND has_work = 0",
    )
    .fetch_one(conn)
    .await?;
    Ok(earliest.map(|at| at + IDLE_HANDOVER_MS))
}

/// Hands to people every run of the org whose customer has not written for
/// [`IDLE_HANDOVER_MS`] (nothing for the seat to do meanwhile): routing takes the chat with the
/// answers so far, or its owner gets them. Returns how many. Routing's timer calls it.
pub async fn hand_over_idle(tx: &mut WriteTx, clock: &RoutingClock) -> ApiResult<usize> {
    let org_id = tx.org_id().to_owned();
    let cutoff = clock.at(tx.now()) - IDLE_HANDOVER_MS;
    let idle: Vec<String> = sqlx::query_scalar(
        "SELECT conversation_id FROM responder_runs
         WHERE org_id = $1 AND status = 'active' AND has_work = 0 AND updated_at <= $2
         ORDER BY updated_at",
    )
    .bind(&org_id)
    .bind(cutoff)
    .fetch_all(tx.conn())
    .await?;
    if idle.is_empty() {
        return Ok(0);
    }
    // The seat that runs the org's flows signs the note and the handoff.
    let seat: Option<(String, String)> = sqlx::query_as(
        "SELECT id, name FROM agents WHERE org_id = $1 AND role = 'responder'
         ORDER BY active DESC, created_at, id LIMIT 1",
    )
    .bind(&org_id)
    .fetch_optional(tx.conn())
    .await?;
    let Some((id, name)) = seat else {
        return Ok(0);
    };
    let seat = AgentRef { id, name };
    let mut handed = 0;
    for conversation_id in idle {
        let row: Option<ConversationRow> = sqlx::query_as(&format!(
            "{} WHERE c.id = $1",
            conversations::SELECT_CONVERSATION
        ))
        .bind(&conversation_id)
        .fetch_optional(tx.conn())
        .await?;
        let (Some(row), Some(mut run)) = (row, load(tx.conn(), &conversation_id).await?) else {
            continue;
        };
        if !run.active {
            continue;
        }
        run.stored.finish = Some(silent_customer(&run, Ended::NoReply));
        conclude_and_route(tx, clock, &row, &mut run, &seat).await?;
        handed += 1;
    }
    Ok(handed)
}

/// Whether the flow is over and everything it had to say is sent: time to carry out its end.
fn ready_to_conclude(run: &RunRow) -> bool {
    run.stored.pending.is_empty() && run.stored.finish.is_some()
}

/// Carries out the end of the flow ([`conclude`]), saves the run, and hands the chat to
/// routing. Returns whether routing's timer should look again.
async fn conclude_and_route(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    run: &mut RunRow,
    seat: &AgentRef,
) -> ApiResult<bool> {
    conclude(tx, row, run, seat).await?;
    save(tx, run).await?;
    let org_id = tx.org_id().to_owned();
    let now_row = conversations::require(tx.conn(), &org_id, &row.chat_id()?).await?;
    crate::routing::run::responder_done(tx, clock, &now_row).await
}

/// Carries out the end of the flow: the stage, the note, and the chat to people with the
/// answers (the handoff waits with the run until routing gives the chat to someone).
async fn conclude(
    tx: &mut WriteTx,
    row: &ConversationRow,
    run: &mut RunRow,
    seat: &AgentRef,
) -> ApiResult<()> {
    let Some(finish) = run.stored.finish.take() else {
        return Ok(());
    };
    let now = tx.now();
    let chat_id = row.chat_id()?;
    run.active = false;
    run.ended = Some(finish.ended.as_str().to_owned());
    run.ended_at = Some(now);
    run.reply_message_id = None;
    run.reply_recorded_at = None;
    let mut went = String::new();
    // Only a stage of the flow's pipeline, as the pipeline stands now (the chat may have moved,
    // or a lead changed the stages since the run began).
    let org_id = tx.org_id().to_owned();
    let stage_now = match (&finish.stage, &row.pipeline_id) {
        (Some(stage), Some(pipeline_id)) if *pipeline_id == run.stored.flow.pipeline_id => {
            crate::db::pipelines::find(tx.conn(), &org_id, pipeline_id)
                .await?
                .filter(|p| p.stages.contains(stage))
                .map(|_| stage.clone())
        }
        _ => None,
    };
    if let (Some(stage), Some(pipeline_id)) = (&stage_now, &row.pipeline_id) {
        if row.stage.as_deref() != Some(stage.as_str()) {
            sqlx::query("UPDATE conversations SET stage = $1 WHERE id = $2")
                .bind(stage)
                .bind(&row.id)
                .execute(tx.conn())
                .await?;
            let pipeline_name = row.pipeline_name.clone().unwrap_or_default();
            tx.append(
                Some(&chat_id),
                Some(seat),
                EventBody::StageChanged {
                    stage: Some(protocol::api::StageRef {
                        pipeline_id: pipeline_id.clone(),
                        pipeline_name,
                        stage: stage.clone(),
                    }),
                    previous: row.stage(),
                },
            )
            .await?;
        }
        went = format!(" at {stage}");
    }
    add_note(tx, row, seat, &finish.note).await?;
    let draft = Draft {
        seat: seat.clone(),
        handoff: finish.handoff,
    };
    match row.owner() {
        // A chat the owner was away from: the answers reach them now.
        Some(owner) => {
            crate::routing::run::responder_handoff(tx, row, &chat_id, &owner, seat, &draft.handoff)
                .await?;
        }
        // Routing attaches it when it gives the chat to someone.
        None => {
            sqlx::query("UPDATE responder_runs SET handoff_draft = $1 WHERE conversation_id = $2")
                .bind(serde_json::to_string(&draft).map_err(anyhow::Error::from)?)
                .bind(&row.id)
                .execute(tx.conn())
                .await?;
        }
    }
    let to = match row.owner() {
        Some(owner) => format!("handed to {}", owner.name),
        None => "handed to the team".to_owned(),
    };
    let why = match finish.ended {
        Ended::PersonAsked => format!("The customer asked for a person: {to}"),
        Ended::TooManyUnanswered | Ended::NoReply => {
            format!("The customer stopped replying: {to}")
        }
        _ => format!("Qualified: {to}"),
    };
    note_event(
        tx,
        row,
        Some(seat),
        EventBody::ResponderHandoff,
        format!("{why}{went}."),
    )
    .await
}

async fn add_note(
    tx: &mut WriteTx,
    row: &ConversationRow,
    author: &AgentRef,
    body: &str,
) -> ApiResult<()> {
    let note = protocol::api::Note {
        id: uuid::Uuid::new_v4().to_string(),
        chat_id: row.chat_id()?,
        author: author.clone(),
        body: body.chars().take(4000).collect(),
        mentions: Vec::new(),
        created_at: tx.now(),
    };
    let event = tx
        .append(
            Some(&note.chat_id),
            Some(author),
            EventBody::NoteCreated(note.clone()),
        )
        .await?;
    let org_id = tx.org_id().to_owned();
    sqlx::query(
        "INSERT INTO notes (id, org_id, conversation_id, author_id, body, mentions, created_at, event_seq)
         VALUES ($1, $2, $3, $4, $5, '[]', $6, $7)",
    )
    .bind(&note.id)
    .bind(&org_id)
    .bind(&row.id)
    .bind(&author.id)
    .bind(&note.body)
    .bind(note.created_at)
    .bind(event.seq)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// The handoff a finished run left for whoever routing gives the chat to, taken (once).
pub async fn take_draft(
    tx: &mut WriteTx,
    row: &ConversationRow,
) -> ApiResult<Option<(AgentRef, HandoffDraft)>> {
    let text: Option<Option<String>> =
        sqlx::query_scalar("SELECT handoff_draft FROM responder_runs WHERE conversation_id = $1")
            .bind(&row.id)
            .fetch_optional(tx.conn())
            .await?;
    let Some(text) = text.flatten() else {
        return Ok(None);
    };
    sqlx::query("UPDATE responder_runs SET handoff_draft = NULL WHERE conversation_id = $1")
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    let draft: Draft = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("a stored responder handoff is unreadable: {e}"))?;
    Ok(Some((draft.seat, draft.handoff)))
}

/// A person took the chat (its reply lock, or its ownership): the responder stops there for
/// good, whatever it had left to send.
pub async fn human_took_over(
    tx: &mut WriteTx,
    row: &ConversationRow,
    person: &AgentRef,
) -> ApiResult<bool> {
    let words = format!("{} took over: the responder stopped.", person.name);
    end_for_person(tx, row, person, words).await
}

/// A person closed the chat: the responder stops there.
pub async fn chat_closed(
    tx: &mut WriteTx,
    row: &ConversationRow,
    person: &AgentRef,
) -> ApiResult<bool> {
    let words = format!("{} closed the chat: the responder stopped.", person.name);
    end_for_person(tx, row, person, words).await
}

async fn end_for_person(
    tx: &mut WriteTx,
    row: &ConversationRow,
    person: &AgentRef,
    words: String,
) -> ApiResult<bool> {
    let Some(mut run) = load(tx.conn(), &row.id).await? else {
        return Ok(false);
    };
    if !run.active {
        return Ok(false);
    }
    let (next, _) = flow::step(&run.stored.flow, &run.stored.run, Input::HumanTyped);
    run.stored.run = next;
    run.stored.pending.clear();
    run.stored.finish = None;
    run.active = false;
    run.ended = Some(Ended::HumanTookOver.as_str().to_owned());
    run.ended_at = Some(tx.now());
    run.reply_message_id = None;
    run.reply_recorded_at = None;
    save(tx, &run).await?;
    // Whatever the run left for routing is void: a person has the chat.
    sqlx::query("UPDATE responder_runs SET handoff_draft = NULL WHERE conversation_id = $1")
        .bind(&row.id)
        .execute(tx.conn())
        .await?;
    note_event(tx, row, Some(person), EventBody::ResponderStopped, words).await?;
    Ok(true)
}

/// The first word of a name with a letter in it ("Asha" of "Asha Rao").
fn first_name(name: &str) -> &str {
    name.split_whitespace()
        .find(|w| w.chars().any(char::is_alphabetic))
        .unwrap_or(name)
}

/// What the seat has to do in the chat now; `today`: the org's calendar day; `send_text`: the
/// org's language model reads replies (the seat sends their text too).
pub fn task(
    row: &ConversationRow,
    run: &RunRow,
    today: &str,
    send_text: bool,
) -> ApiResult<SeatTask> {
    let stored = &run.stored;
    let reply = match (&run.reply_message_id, &stored.run.position) {
        (Some(upto), Position::Asking(at)) if run.active && stored.pending.is_empty() => {
            let question = stored.flow.questions.get(*at).ok_or_else(|| {
                anyhow::anyhow!("a responder run asks question {at}, which its flow lacks")
            })?;
            Some(SeatQuestion {
                upto: upto.clone(),
                key: question.key.clone(),
                kind: question.kind,
                options: question.options.clone(),
                person_words: person_words(&stored.flow),
                today: today.to_owned(),
                send_text,
            })
        }
        _ => None,
    };
    Ok(SeatTask {
        chat_id: row.chat_id()?,
        title: row.title.clone(),
        first_message: stored
            .first_message
            .clone()
            .filter(|_| run.active && greeting_waits(run)),
        person_words: person_words(&stored.flow),
        sends: if run.active {
            stored
                .pending
                .iter()
                .map(|p| SeatMessage {
                    key: p.key.clone(),
                    text: p.text.clone(),
                    cleared: p.cleared_at.is_some(),
                })
                .collect()
        } else {
            Vec::new()
        },
        reply,
        over: !run.active,
    })
}

/// Nothing was sent yet: the greeting still waits, not even cleared.
pub fn greeting_waits(run: &RunRow) -> bool {
    let stored = &run.stored;
    stored.pending.len() == stored.next_key as usize
        && stored.pending.iter().all(|p| p.cleared_at.is_none())
        && !stored.pending.is_empty()
}

fn person_words(flow: &FlowRequest) -> Vec<String> {
    if flow.person_words.is_empty() {
        DEFAULT_PERSON_WORDS
            .iter()
            .map(|w| (*w).to_owned())
            .collect()
    } else {
        flow.person_words.clone()
    }
}

/// What a customer's reply was read to say.
#[derive(Debug, Clone)]
pub struct Reading {
    /// The answer (`None`: not understood).
    pub value: Option<protocol::responder::AnswerValue>,
    pub asks_person: bool,
    /// The org's language model read it (else the seat's parser).
    pub by_model: bool,
}

/// The seat read the customer's reply to the current question: the engine's next step, the
/// answer in the timeline. The caller has checked the run is active, nothing waits to be sent,
/// and the reply is the latest.
/// Returns whether routing's timer should look again.
pub async fn reply(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    run: &mut RunRow,
    reading: Reading,
    seat: &AgentRef,
) -> ApiResult<bool> {
    let Reading {
        value,
        asks_person,
        by_model,
    } = reading;
    let asked = match run.stored.run.position {
        Position::Asking(at) => run.stored.flow.questions.get(at).cloned(),
        _ => None,
    };
    if asks_person && greeting_waits(run) {
        // The first message already asked for a person: no greeting, straight to people.
        run.stored.pending.clear();
        run.stored.run.unanswered = 0;
    }
    let before = run.stored.run.answers.len();
    let (next, actions) = flow::step(
        &run.stored.flow,
        &run.stored.run,
        Input::Reply { value, asks_person },
    );
    let understood = next.answers.get(before).cloned();
    run.stored.run = next;
    run.reply_message_id = None;
    run.reply_recorded_at = None;
    let label = asked.as_ref().map_or("the question", |q| q.label.trim());
    let text = match (asks_person, understood) {
        (true, _) => "The customer asked for a person.".to_owned(),
        (false, Some((key, value))) => {
            let said = flow::summary(&run.stored.flow, &[(key, value)]);
            let said = if said.is_empty() {
                format!("Answered {label}.")
            } else {
                said
            };
            if by_model {
                format!("{said} (read by the language model)")
            } else {
                said
            }
        }
        (false, None) => format!("Did not understand the answer to “{label}”."),
    };
    note_event(tx, row, Some(seat), EventBody::ResponderAnswer, text).await?;
    queue_actions(run, actions);
    if ready_to_conclude(run) {
        return conclude_and_route(tx, clock, row, run, seat).await;
    }
    save(tx, run).await?;
    Ok(false)
}

/// The seat may send the message with this key now (the caller checked its reply lock): the
/// first time, it goes in the timeline. Returns whether it was cleared before.
pub async fn clear(
    tx: &mut WriteTx,
    row: &ConversationRow,
    run: &mut RunRow,
    key: &str,
    seat: &AgentRef,
) -> ApiResult<bool> {
    let now = tx.now();
    let Some(pending) = run.stored.pending.iter_mut().find(|p| p.key == key) else {
        return Err(anyhow::anyhow!("clear: key {key} is not pending").into());
    };
    if pending.cleared_at.is_some() {
        return Ok(true);
    }
    pending.cleared_at = Some(now);
    let text = pending.text.clone();
    save(tx, run).await?;
    note_event(tx, row, Some(seat), EventBody::ResponderSent, text).await?;
    Ok(false)
}

/// The message with this key is in the chat. A customer message recorded before it was cleared
/// came before the question it would answer, so there is nothing to read; the last message sent
/// carries out the end of a finished flow. Returns whether routing should look again.
pub async fn delivered(
    tx: &mut WriteTx,
    clock: &RoutingClock,
    row: &ConversationRow,
    run: &mut RunRow,
    key: &str,
    seat: &AgentRef,
) -> ApiResult<bool> {
    let Some(at) = run.stored.pending.iter().position(|p| p.key == key) else {
        return Ok(false);
    };
    let sent = run.stored.pending.remove(at);
    if let (Some(recorded), Some(cleared)) = (run.reply_recorded_at, sent.cleared_at) {
        if recorded <= cleared {
            run.reply_message_id = None;
            run.reply_recorded_at = None;
        }
    }
    if ready_to_conclude(run) {
        return conclude_and_route(tx, clock, row, run, seat).await;
    }
    save(tx, run).await?;
    Ok(false)
}

/// The chat's qualification: its run's answers, for people.
pub fn qualification(row: &ConversationRow, run: &RunRow) -> ApiResult<Qualification> {
    let flow = &run.stored.flow;
    let answers = run
        .stored
        .run
        .answers
        .iter()
        .map(|(key, value)| {
            let label = flow
                .questions
                .iter()
                .find(|q| q.key == *key)
                .map_or_else(|| key.clone(), |q| q.label.clone());
            let said = flow::summary(flow, &[(key.clone(), value.clone())]);
            let said = said
                .split_once(": ")
                .map_or(said.clone(), |(_, v)| v.to_owned());
            QualificationField {
                key: key.clone(),
                label,
                value: value.clone(),
                said,
            }
        })
        .collect();
    Ok(Qualification {
        chat_id: row.chat_id()?,
        flow_id: run.flow_id.clone(),
        flow_name: run.stored.flow_name.clone(),
        status: if run.active { "active" } else { "over" }.to_owned(),
        ended: run.ended.clone(),
        answers,
        started_at: run.started_at,
        ended_at: run.ended_at,
    })
}
