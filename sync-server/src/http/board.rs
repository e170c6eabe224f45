//! `GET /pipelines/{id}/board`: a pipeline's open conversations as the lead's board shows them —
//! owner, how long the customer has waited for a reply, whether that wait is past the stage's
//! target, the next reminder and a handoff waiting for its answer. Leads and admins only. Waits
//! follow the reports' definitions (README, "Reports"): a wait begins with the first incoming
//! message after the team's last reply; it is a first response's wait until the team has answered
//! anything.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use protocol::api::AgentRef;
use protocol::reports::{Board, BoardCard};
use protocol::ChatId;

use super::error::{ApiError, ApiResult};
use super::extract::{AuthAgent, IdPath};
use super::{AppState, Routes};
use crate::db::{pipelines, routing as stored};
use crate::routing::schedule::{deadline, within_hours};

/// How far ahead a target's deadline is looked for: a year of closures is no deadline.
const DEADLINE_HORIZON_DAYS: u32 = 366;

pub fn router() -> Routes {
    Routes::new().get("/pipelines/{id}/board", board)
}

type CardRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

async fn board(
    State(state): State<AppState>,
    auth: AuthAgent,
    IdPath(pipeline_id): IdPath,
) -> ApiResult<Json<Board>> {
    auth.require_supervisor("see the pipeline board")?;
    let mut tx = state.db.pool().begin().await?;
    let pipeline = pipelines::find(&mut tx, &auth.org_id, &pipeline_id)
        .await?
        .ok_or(ApiError::NotFound("pipeline"))?;
    let now = state.routing.at(state.db.now_on(&mut tx).await?);
    let (_, tz) = stored::time_zone(&mut tx, &auth.org_id).await?;
    let hours = stored::business_hours_profile(&mut tx, &auth.org_id).await?;
    let rows: Vec<CardRow> = sqlx::query_as(
        "SELECT c.chat_id, c.title, c.owner_id, a.name, c.stage, c.last_activity_at,
                (SELECT MAX(m.sent_at) FROM messages m
                  WHERE m.conversation_id = c.id AND m.direction = 'out') AS last_out,
                (SELECT MIN(m.sent_at) FROM messages m
                  WHERE m.conversation_id = c.id AND m.direction = 'in') AS first_in,
                (SELECT MIN(m.sent_at) FROM messages m
                  WHERE m.conversation_id = c.id AND m.direction = 'in'
                    AND m.sent_at > COALESCE((SELECT MAX(o.sent_at) FROM messages o
                      WHERE o.conversation_id = c.id AND o.direction = 'out'), 0)) AS waiting_since,
                (SELECT MIN(r.due_at) FROM reminders r
                  WHERE r.conversation_id = c.id AND r.done_at IS NULL) AS reminder_due_at,
                (SELECT COUNT(*) FROM handoffs h
                  WHERE h.conversation_id = c.id AND h.status = 'pending') AS pending,
                (SELECT COUNT(*) FROM responder_runs rr
                  WHERE rr.conversation_id = c.id AND rr.status = 'active') AS with_responder
         FROM conversations c LEFT JOIN agents a ON a.id = c.owner_id
         WHERE c.org_id = $1 AND c.pipeline_id = $2 AND c.closed_at IS NULL",
    )
    .bind(&auth.org_id)
    .bind(&pipeline.id)
    .fetch_all(&mut *tx)
    .await?;
    drop(tx);
    let targets: HashMap<&str, (Option<u32>, Option<u32>)> = pipeline
        .sla
        .iter()
        .map(|s| (s.stage.as_str(), (s.first_response_mins, s.response_mins)))
        .collect();
    let mut cards = Vec::with_capacity(rows.len());
    for (
        chat_id,
        title,
        owner_id,
        owner_name,
        stage,
        last_activity_at,
        last_out,
        first_in,
        waiting_since,
        reminder_due_at,
        pending,
        with_responder,
    ) in rows
    {
        let Some(stage) = stage else { continue };
        // The team has answered something: this wait is a response's, not the first response's.
        let answered_before =
            matches!((last_out, first_in), (Some(out), Some(first)) if out > first);
        let target =
            targets.get(stage.as_str()).and_then(
                |(first, later)| {
                    if answered_before {
                        *later
                    } else {
                        *first
                    }
                },
            );
        let target = waiting_since.and(target);
        let (sla_breached, sla_due_at) = match (waiting_since, target) {
            (Some(since), Some(mins)) => {
                let target_ms = i64::from(mins) * 60_000;
                // Past the deadline is past the target (`deadline` inverts `within_hours`), so
                // the hours are walked once; beyond the horizon, the wait is measured instead.
                match deadline(&hours, tz, since, target_ms, DEADLINE_HORIZON_DAYS) {
                    Some(due) => (now > due, Some(due)),
                    None => (within_hours(&hours, tz, since, now) > target_ms, None),
                }
            }
            _ => (false, None),
        };
        cards.push(BoardCard {
            chat_id: ChatId::parse(&chat_id)
                .map_err(|e| anyhow::anyhow!("stored chat id {chat_id:?} is invalid: {e}"))?,
            title,
            owner: owner_id.map(|id| AgentRef {
                id,
                name: owner_name.unwrap_or_default(),
            }),
            stage,
            waiting_since,
            sla_target_mins: target,
            sla_breached,
            sla_due_at,
            reminder_due_at,
            handoff_waiting: pending > 0,
            with_responder: with_responder > 0,
            last_activity_at,
        });
    }
    let order = |stage: &str| pipeline.stages.iter().position(|s| s == stage);
    cards.sort_by(|a, b| {
        order(&a.stage)
            .cmp(&order(&b.stage))
            .then(a.waiting_since.is_none().cmp(&b.waiting_since.is_none()))
            .then(a.waiting_since.cmp(&b.waiting_since))
            .then(a.title.cmp(&b.title))
    });
    Ok(Json(Board {
        pipeline,
        now,
        cards,
    }))
}
