//! `GET /reports/agents`, `/reports/stages`, `/reports/daily`: response times and workload over
//! a range of the org's calendar days, as JSON or (`?format=csv`) as CSV. Leads and admins see
//! everyone; an agent sees their own figures only. What each figure means is in the README.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use protocol::api::AgentRef;
use protocol::reports::{
    AgentRow, AgentsReport, DailyReport, DayRow, Figures, ReportRange, StageRow, StagesReport,
    TeamRow,
};
use protocol::{codes, ChatId};
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::extract::{AppQuery, AuthAgent};
use super::{AppState, Routes};
use crate::db::conversations;
use crate::reports::calc::{self, Fact, Stage};
use crate::reports::{csv, load, Loaded};

pub fn router() -> Routes {
    Routes::new()
        .get("/reports/agents", agents_report)
        .get("/reports/stages", stages_report)
        .get("/reports/daily", daily_report)
}

/// The longest range a report covers, in days.
const MAX_DAYS: i64 = 366;
/// The range when none is asked for: the last two weeks, today included.
const DEFAULT_DAYS: i64 = 14;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First day, `YYYY-MM-DD` on the org's calendar.
    from: Option<String>,
    /// Last day, included.
    to: Option<String>,
    /// Only what this agent is credited with.
    agent: Option<String>,
    /// Only what this team's members are credited with.
    team: Option<String>,
    /// Only what happened in this pipeline's stages.
    pipeline: Option<String>,
    /// Only what happened in this conversation (its WhatsApp chat id or alias).
    chat_id: Option<String>,
    /// `json` (the default) or `csv`.
    format: Option<String>,
    /// `/reports/agents` only: each day's figures as well (JSON).
    daily: Option<bool>,
}

fn bad_parameter(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: message.into(),
    }
}

fn date(name: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| d.format("%Y-%m-%d").to_string() == text)
        .ok_or_else(|| bad_parameter(format!("{name} must be a date as YYYY-MM-DD, not {text:?}")))
}

/// A report's facts, filtered as asked, and what it needs to name its rows.
struct Prepared {
    loaded: Loaded,
    facts: Vec<Fact>,
    range: ReportRange,
    days: Vec<NaiveDate>,
    csv: bool,
}

async fn prepare(state: &AppState, auth: &AuthAgent, query: ReportQuery) -> ApiResult<Prepared> {
    if query.daily.is_some() {
        return Err(bad_parameter("daily is a choice of /reports/agents only"));
    }
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(bad_parameter(format!(
                "format must be json or csv, not {other:?}"
            )))
        }
    };
    if !auth.supervises() && query.agent.as_ref().is_some_and(|a| *a != auth.id) {
        return Err(ApiError::forbidden(
            "an agent sees their own figures; only a lead or an admin may see a colleague's",
        ));
    }
    let agent = if auth.supervises() {
        query.agent
    } else {
        Some(auth.id.clone())
    };
    let mut tx = state.db.pool().begin().await?;
    let db_now = state.db.now_on(&mut tx).await?;
    // Routing's clock: "waiting now" and "today" agree with the no-reply limits (and tests set it).
    let now = state.routing.at(db_now);
    let (zone, tz) = crate::db::routing::time_zone(&mut tx, &auth.org_id).await?;
    let today = calc::local_date(tz, now).ok_or_else(|| anyhow::anyhow!("now is unreadable"))?;
    let to = match &query.to {
        Some(text) => date("to", text)?,
        None => today,
    };
    let from = match &query.from {
        Some(text) => date("from", text)?,
        None => to - chrono::Duration::days(DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err(bad_parameter("from must not be after to"));
    }
    let span = (to - from).num_days() + 1;
    if span > MAX_DAYS {
        return Err(bad_parameter(format!(
            "a report covers at most {MAX_DAYS} days; this range has {span}"
        )));
    }
    let start =
        |d: NaiveDate| calc::day_start(tz, d).ok_or_else(|| bad_parameter("date out of range"));
    let (from_ms, to_ms) = (start(from)?, start(to + chrono::Duration::days(1))?);
    let conversation = match &query.chat_id {
        Some(text) => {
            let chat_id = ChatId::parse(text)
                .map_err(|e| bad_parameter(format!("chat_id is not a WhatsApp chat id: {e}")))?;
            Some(
                conversations::require(&mut tx, &auth.org_id, &chat_id)
                    .await?
                    .id,
            )
        }
        None => None,
    };
    let loaded = load(&mut tx, &auth.org_id, tz, from_ms, to_ms).await?;
    drop(tx);

    if let Some(id) = &agent {
        if !loaded.agents.iter().any(|(a, _, _)| a == id) {
            return Err(ApiError::NotFound("agent"));
        }
    }
    let team_members = match &query.team {
        Some(id) => Some(
            loaded
                .teams
                .iter()
                .find(|(t, _, _)| t == id)
                .map(|(_, _, members)| members.clone())
                .ok_or(ApiError::NotFound("team"))?,
        ),
        None => None,
    };
    if let Some(id) = &query.pipeline {
        if !loaded.pipelines.iter().any(|p| p.id == *id) {
            return Err(ApiError::NotFound("pipeline"));
        }
    }
    let facts = loaded
        .facts(from_ms, to_ms, now)
        .into_iter()
        .filter(|f| agent.is_none() || f.agent == agent)
        .filter(|f| {
            conversation
                .as_ref()
                .is_none_or(|id| loaded.conversation_ids.get(f.chat) == Some(id))
        })
        .filter(|f| {
            team_members
                .as_ref()
                .is_none_or(|members| f.agent.as_ref().is_some_and(|a| members.contains(a)))
        })
        .filter(|f| {
            query
                .pipeline
                .as_ref()
                .is_none_or(|p| f.stage.as_ref().is_some_and(|(pipeline, _)| pipeline == p))
        })
        .collect();
    let days = (0..span)
        .map(|n| from + chrono::Duration::days(n))
        .collect();
    Ok(Prepared {
        facts,
        range: ReportRange {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            time_zone: zone,
        },
        days,
        csv,
        loaded,
    })
}

/// A CSV download named after the report and its range.
fn csv_response(
    name: &str,
    range: &ReportRange,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
) -> Response {
    let mut columns = header;
    columns.extend(csv::figure_columns());
    let filename = format!("baton-{name}-{}-to-{}.csv", range.from, range.to);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        csv::document(&columns, &rows),
    )
        .into_response()
}

fn row(mut cells: Vec<String>, figures: &Figures) -> Vec<String> {
    cells.extend(csv::figure_cells(figures));
    cells
}

async fn agents_report(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<ReportQuery>,
) -> ApiResult<Response> {
    let only_agent = if auth.supervises() {
        query.agent.clone()
    } else {
        Some(auth.id.clone())
    };
    let with_days = query.daily == Some(true);
    let p = prepare(
        &state,
        &auth,
        ReportQuery {
            daily: None,
            ..query
        },
    )
    .await?;
    let mut by_agent = calc::group(&p.facts, |f| vec![f.agent.clone()]);
    let mut agents = Vec::new();
    // Every active agent has a row (a quiet day is a figure too), a former agent one with
    // figures, and what nobody can be credited with its own row last; asked for one agent, theirs.
    for (id, name, active) in &p.loaded.agents {
        let figures = by_agent.remove(&Some(id.clone()));
        let wanted = match &only_agent {
            Some(only) => only == id,
            None => *active || figures.is_some(),
        };
        if wanted {
            agents.push(AgentRow {
                agent: Some(AgentRef {
                    id: id.clone(),
                    name: name.clone(),
                }),
                figures: figures.unwrap_or_default(),
            });
        }
    }
    if let Some(figures) = by_agent.remove(&None) {
        agents.push(AgentRow {
            agent: None,
            figures,
        });
    }
    let teams_of = |agent: &Option<String>| -> Vec<String> {
        p.loaded
            .teams
            .iter()
            .filter(|(_, _, members)| agent.as_ref().is_some_and(|a| members.contains(a)))
            .map(|(id, _, _)| id.clone())
            .collect()
    };
    let mut by_team = calc::group(&p.facts, |f| teams_of(&f.agent));
    let teams: Vec<TeamRow> = if !auth.supervises() {
        Vec::new()
    } else {
        p.loaded
            .teams
            .iter()
            .map(|(id, name, _)| TeamRow {
                team: AgentRef {
                    id: id.clone(),
                    name: name.clone(),
                },
                figures: by_team.remove(id).unwrap_or_default(),
            })
            .collect()
    };
    let total = calc::figures(&p.facts);
    if p.csv {
        let mut rows = Vec::new();
        for a in &agents {
            let (id, name) = a
                .agent
                .as_ref()
                .map(|r| (r.id.clone(), r.name.clone()))
                .unwrap_or_default();
            rows.push(row(vec!["agent".into(), id, name], &a.figures));
        }
        for t in &teams {
            rows.push(row(
                vec!["team".into(), t.team.id.clone(), t.team.name.clone()],
                &t.figures,
            ));
        }
        rows.push(row(
            vec!["total".into(), String::new(), String::new()],
            &total,
        ));
        let header = vec!["row".into(), "id".into(), "name".into()];
        return Ok(csv_response("agents", &p.range, header, rows));
    }
    let days = with_days.then(|| day_rows(&p));
    Ok(Json(AgentsReport {
        range: p.range,
        agents,
        teams,
        total,
        days,
    })
    .into_response())
}

async fn stages_report(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<ReportQuery>,
) -> ApiResult<Response> {
    let only_pipeline = query.pipeline.clone();
    let p = prepare(&state, &auth, query).await?;
    let mut by_stage = calc::group(&p.facts, |f| vec![f.stage.clone()]);
    let mut stages = Vec::new();
    for pipeline in &p.loaded.pipelines {
        if only_pipeline.as_ref().is_some_and(|id| *id != pipeline.id) {
            continue;
        }
        let named = AgentRef {
            id: pipeline.id.clone(),
            name: pipeline.name.clone(),
        };
        // Its stages in order, then any stage it no longer has that the range still holds.
        let mut names: Vec<String> = pipeline.stages.clone();
        let known: BTreeSet<String> = names.iter().cloned().collect();
        names.extend(
            by_stage
                .keys()
                .filter_map(|k| k.as_ref())
                .filter(|(id, stage)| *id == pipeline.id && !known.contains(stage))
                .map(|(_, stage)| stage.clone()),
        );
        for name in names {
            let key: Stage = Some((pipeline.id.clone(), name.clone()));
            stages.push(StageRow {
                pipeline: Some(named.clone()),
                stage: Some(name),
                figures: by_stage.remove(&key).unwrap_or_default(),
            });
        }
    }
    if let Some(figures) = by_stage.remove(&None) {
        stages.push(StageRow {
            pipeline: None,
            stage: None,
            figures,
        });
    }
    let total = calc::figures(&p.facts);
    if p.csv {
        let mut rows: Vec<Vec<String>> = stages
            .iter()
            .map(|s| {
                let (id, name) = s
                    .pipeline
                    .as_ref()
                    .map(|r| (r.id.clone(), r.name.clone()))
                    .unwrap_or_default();
                row(
                    vec![id, name, s.stage.clone().unwrap_or_default()],
                    &s.figures,
                )
            })
            .collect();
        rows.push(row(
            vec![String::new(), "total".into(), String::new()],
            &total,
        ));
        let header = vec!["pipeline_id".into(), "pipeline".into(), "stage".into()];
        return Ok(csv_response("stages", &p.range, header, rows));
    }
    Ok(Json(StagesReport {
        range: p.range,
        stages,
        total,
    })
    .into_response())
}

/// Every day of the range with what happened on it (on the org's calendar).
fn day_rows(p: &Prepared) -> Vec<DayRow> {
    let tz = p.loaded.tz;
    let mut by_day = calc::group(&p.facts, |f| {
        calc::local_date(tz, f.at).into_iter().collect()
    });
    p.days
        .iter()
        .map(|d| DayRow {
            date: d.format("%Y-%m-%d").to_string(),
            figures: by_day.remove(d).unwrap_or_default(),
        })
        .collect()
}

async fn daily_report(
    State(state): State<AppState>,
    auth: AuthAgent,
    AppQuery(query): AppQuery<ReportQuery>,
) -> ApiResult<Response> {
    let p = prepare(&state, &auth, query).await?;
    let days = day_rows(&p);
    let total = calc::figures(&p.facts);
    if p.csv {
        let mut rows: Vec<Vec<String>> = days
            .iter()
            .map(|d| row(vec![d.date.clone()], &d.figures))
            .collect();
        rows.push(row(vec!["total".into()], &total));
        return Ok(csv_response("daily", &p.range, vec!["date".into()], rows));
    }
    Ok(Json(DailyReport {
        range: p.range,
        days,
        total,
    })
    .into_response())
}
