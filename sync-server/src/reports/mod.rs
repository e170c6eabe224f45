//! Reports: response times and workload per agent, team, pipeline stage and day. [`load`] reads
//! what the figures need in one read transaction — message metadata, the owner and stage
//! history from the event log, handoffs, the org's calendar and targets — and [`calc`] does the
//! arithmetic; [`csv`] writes a report for a spreadsheet.

pub mod calc;
pub mod csv;

use std::collections::HashMap;

use chrono_tz::Tz;
use protocol::api::Pipeline;
use protocol::events::EventBody;
use protocol::routing::RoutingProfile;
use sqlx::AnyConnection;

use crate::db::pipelines::pipeline_from_row;
use crate::error::ApiResult;
use calc::{Chat, Fact, Frame, Handoff, Message, Stage, Targets};

/// Everything a report is made from.
pub struct Loaded {
    pub tz: Tz,
    pub hours: RoutingProfile,
    pub targets: Targets,
    pub chats: Vec<Chat>,
    /// Each chat's conversation id (as `chats`).
    pub conversation_ids: Vec<String>,
    pub handoffs: Vec<Handoff>,
    /// Every agent of the org, inactive ones included: `(id, name, active)`.
    pub agents: Vec<(String, String, bool)>,
    /// Teams `(id, name)` and their members' ids.
    pub teams: Vec<(String, String, Vec<String>)>,
    pub pipelines: Vec<Pipeline>,
}

/// The conversations a range can say anything about: open ones (they may be waiting now), ones
/// active since the range began, and ones handed over in it.
const IN_SCOPE: &str = "org_id = $1 AND (closed_at IS NULL OR last_activity_at >= $2 OR id IN
     (SELECT conversation_id FROM handoffs WHERE org_id = $1 AND created_at >= $2 AND created_at < $3))";

pub async fn load(
    conn: &mut AnyConnection,
    org_id: &str,
    tz: Tz,
    from_ms: i64,
    to_ms: i64,
) -> ApiResult<Loaded> {
    let hours = crate::db::routing::business_hours_profile(conn, org_id).await?;
    let pipelines = sqlx::query(
        "SELECT id, name, stages, sla, created_at FROM pipelines WHERE org_id = $1
         ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(pipeline_from_row)
    .collect::<ApiResult<Vec<_>>>()?;
    let targets: Targets = pipelines
        .iter()
        .flat_map(|p| {
            p.sla.iter().map(|s| {
                (
                    (p.id.clone(), s.stage.clone()),
                    (s.first_response_mins, s.response_mins),
                )
            })
        })
        .collect();
    let agents: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT id, name, active FROM agents WHERE org_id = $1 ORDER BY name, id")
            .bind(org_id)
            .fetch_all(&mut *conn)
            .await?;
    let team_rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, name FROM teams WHERE org_id = $1 ORDER BY name_key, id")
            .bind(org_id)
            .fetch_all(&mut *conn)
            .await?;
    let members: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.team_id, m.agent_id FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE t.org_id = $1",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    let teams = team_rows
        .into_iter()
        .map(|(id, name)| {
            let ids = members
                .iter()
                .filter(|(team, _)| *team == id)
                .map(|(_, agent)| agent.clone())
                .collect();
            (id, name, ids)
        })
        .collect();

    let conversations: Vec<(String, String, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT id, chat_id, closed_at FROM conversations WHERE {IN_SCOPE} ORDER BY id"
    ))
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&mut *conn)
    .await?;
    let by_id: HashMap<&str, usize> = conversations
        .iter()
        .enumerate()
        .map(|(i, (id, _, _))| (id.as_str(), i))
        .collect();
    let by_chat: HashMap<&str, usize> = conversations
        .iter()
        .enumerate()
        .map(|(i, (_, chat, _))| (chat.as_str(), i))
        .collect();
    let mut chats: Vec<Chat> = conversations
        .iter()
        .map(|(_, _, closed)| Chat {
            open: closed.is_none(),
            ..Chat::default()
        })
        .collect();

    let messages: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(&format!(
        "SELECT conversation_id, direction, agent_id, sent_at FROM messages
         WHERE org_id = $1 AND conversation_id IN (SELECT id FROM conversations WHERE {IN_SCOPE})
         ORDER BY conversation_id, sent_at, recorded_at"
    ))
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&mut *conn)
    .await?;
    for (conversation, direction, sender, sent_at) in messages {
        if let Some(&i) = by_id.get(conversation.as_str()) {
            chats[i].messages.push(Message {
                sent_at,
                outgoing: direction == "out",
                sender,
            });
        }
    }

    // Stage names as they are now: a stage renamed after a chat entered it is reported under its
    // new name (`pipeline.updated` events say which stages' conversations followed).
    let renames: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, body FROM events WHERE org_id = $1 AND kind = 'pipeline.updated' ORDER BY seq",
    )
    .bind(org_id)
    .fetch_all(&mut *conn)
    .await?;
    let renames: Vec<(i64, String, String, String)> = renames
        .into_iter()
        .filter_map(|(seq, body)| match serde_json::from_str(&body) {
            Ok(EventBody::PipelineUpdated { pipeline, renamed }) => Some(
                renamed
                    .into_iter()
                    .map(move |r| (seq, pipeline.id.clone(), r.from, r.to))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    let current_name = |seq: i64, pipeline: &str, stage: String| {
        renames
            .iter()
            .filter(|(s, p, _, _)| *s > seq && p == pipeline)
            .fold(
                stage,
                |name, (_, _, from, to)| {
                    if name == *from {
                        to.clone()
                    } else {
                        name
                    }
                },
            )
    };
    let history: Vec<(i64, String, i64, String)> = sqlx::query_as(&format!(
        "SELECT seq, chat_id, at, body FROM events
         WHERE org_id = $1 AND kind IN ('conversation.assigned', 'stage.changed')
           AND chat_id IN (SELECT chat_id FROM conversations WHERE {IN_SCOPE})
         ORDER BY seq"
    ))
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&mut *conn)
    .await?;
    for (seq, chat_id, at, body) in history {
        let Some(&i) = by_chat.get(chat_id.as_str()) else {
            continue;
        };
        match serde_json::from_str(&body) {
            Ok(EventBody::Assigned { owner, .. }) => {
                chats[i].owners.push((at, owner.map(|o| o.id)));
            }
            Ok(EventBody::StageChanged { stage, .. }) => {
                let stage: Stage = stage.map(|s| {
                    let name = current_name(seq, &s.pipeline_id, s.stage);
                    (s.pipeline_id, name)
                });
                chats[i].stages.push((at, stage));
            }
            _ => {}
        }
    }

    let handoff_rows: Vec<(String, Option<String>, String, String, i64)> = sqlx::query_as(
        "SELECT conversation_id, from_agent_id, to_agent_id, status, created_at FROM handoffs
         WHERE org_id = $1 AND created_at >= $2 AND created_at < $3",
    )
    .bind(org_id)
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&mut *conn)
    .await?;
    let handoffs = handoff_rows
        .into_iter()
        .filter_map(|(conversation, from, to, status, at)| {
            Some(Handoff {
                chat: *by_id.get(conversation.as_str())?,
                from,
                to,
                accepted: status == "accepted",
                declined: status == "declined",
                at,
            })
        })
        .collect();

    Ok(Loaded {
        tz,
        hours,
        targets,
        chats,
        conversation_ids: conversations.into_iter().map(|(id, _, _)| id).collect(),
        handoffs,
        agents: agents
            .into_iter()
            .map(|(id, name, active)| (id, name, active != 0))
            .collect(),
        teams,
        pipelines,
    })
}

impl Loaded {
    /// Every fact in `[from_ms, to_ms)`, and every chat waiting at `now`.
    pub fn facts(&self, from_ms: i64, to_ms: i64, now: i64) -> Vec<Fact> {
        let frame = Frame {
            tz: self.tz,
            hours: &self.hours,
            targets: &self.targets,
            from_ms,
            to_ms,
            now,
        };
        let mut facts = Vec::new();
        for (i, chat) in self.chats.iter().enumerate() {
            calc::chat_facts(i, chat, &frame, &mut facts);
        }
        for handoff in &self.handoffs {
            calc::handoff_facts(handoff, &self.chats, &frame, &mut facts);
        }
        facts
    }
}
