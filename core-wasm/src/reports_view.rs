//! What the stats panel shows, pure: durations in words an agent reads at a glance, the table's
//! rows from a report, and the daily chart's geometry (drawn as SVG by the lead module). Tested
//! natively.

use protocol::reports::{AgentsReport, DailyReport, Durations, Figures};

/// A duration in whole seconds as people say it: `38 s`, `4 min`, `1 h 05 min`, `2 d 3 h`; `–`
/// when there was nothing to measure.
pub fn duration(secs: Option<i64>) -> String {
    let Some(secs) = secs else {
        return "–".to_owned();
    };
    let secs = secs.max(0);
    if secs < 60 {
        return format!("{secs} s");
    }
    let mins = (secs + 30) / 60;
    if mins < 60 {
        return format!("{mins} min");
    }
    let hours = mins / 60;
    if hours < 24 {
        return format!("{hours} h {:02} min", mins % 60);
    }
    format!("{} d {} h", hours / 24, hours % 24)
}

/// The ranges the stats panel offers, in days up to and including today.
pub const RANGES: [u32; 4] = [7, 14, 30, 90];

/// The first day of a range of `days` days ending on `to` (`YYYY-MM-DD`), in the same form.
pub fn range_start(to: &str, days: u32) -> Option<String> {
    let mut parts = to.splitn(3, '-').map(|p| p.parse::<u32>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let first =
        crate::clock::days_from_civil(i64::from(year), month, day) - i64::from(days.max(1)) + 1;
    let (y, m, d) = crate::clock::civil_from_days(first);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// One row of the stats table, as text, with the raw figures kept for tests and tooltips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// The agent's id; `None` for the total and for what nobody is credited with.
    pub agent_id: Option<String>,
    pub name: String,
    pub cells: Vec<(&'static str, String)>,
}

/// The table's columns: `(key, heading, tooltip)`.
pub const COLUMNS: [(&str, &str, &str); 7] = [
    (
        "conversations",
        "Chats",
        "Conversations with at least one reply",
    ),
    (
        "first_response",
        "First reply",
        "Median time to the first reply (90th percentile in the tooltip)",
    ),
    (
        "response",
        "Reply",
        "Median time to any reply (90th percentile in the tooltip)",
    ),
    ("messages", "In / out", "Messages received / sent"),
    ("handoffs", "Handoffs", "Given / received / declined"),
    (
        "sla_breaches",
        "Late",
        "Replies slower than their stage's target",
    ),
    ("waiting_now", "Waiting", "Chats waiting for a reply now"),
];

fn median(d: &Durations) -> String {
    duration(d.median_secs)
}

fn cells(f: &Figures) -> Vec<(&'static str, String)> {
    vec![
        ("conversations", f.conversations.to_string()),
        ("first_response", median(&f.first_response)),
        ("response", median(&f.response)),
        (
            "messages",
            format!("{} / {}", f.messages_in, f.messages_out),
        ),
        (
            "handoffs",
            format!(
                "{} / {} / {}",
                f.handoffs_given, f.handoffs_received, f.handoffs_declined
            ),
        ),
        ("sla_breaches", f.sla_breaches.to_string()),
        ("waiting_now", f.waiting_now.to_string()),
    ]
}

/// The table: each agent's row (what nobody is credited with as "Not credited"), then the total
/// when there is more than one row.
pub fn rows(report: &AgentsReport) -> Vec<StatsRow> {
    let mut rows: Vec<StatsRow> = report
        .agents
        .iter()
        .map(|row| StatsRow {
            agent_id: row.agent.as_ref().map(|a| a.id.clone()),
            name: row
                .agent
                .as_ref()
                .map_or_else(|| "Not credited".to_owned(), |a| a.name.clone()),
            cells: cells(&row.figures),
        })
        .collect();
    if rows.len() > 1 {
        rows.push(StatsRow {
            agent_id: None,
            name: "Everyone".to_owned(),
            cells: cells(&report.total),
        });
    }
    rows
}

/// The daily chart: a line through each day's median reply time that has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// `x,y` pairs for an SVG `polyline`, one per day with replies.
    pub points: Vec<(f64, f64)>,
    /// Each plotted day's label for its dot's tooltip: `2026-11-26: 4 min`.
    pub labels: Vec<String>,
    /// The top of the scale, in words (`10 min`).
    pub top: String,
    /// The first and last dates, under the axis.
    pub first: String,
    pub last: String,
}

/// Lays out the daily median reply time over `width` × `height` (a margin of 4 all round). Days
/// without a reply have no point; the scale's top is the largest median (at least a minute).
pub fn chart(daily: &DailyReport, width: f64, height: f64) -> Chart {
    let margin = 4.0;
    let days = &daily.days;
    let top = days
        .iter()
        .filter_map(|d| d.figures.response.median_secs)
        .max()
        .unwrap_or(0)
        .max(60);
    let step = if days.len() > 1 {
        (width - 2.0 * margin) / (days.len() - 1) as f64
    } else {
        0.0
    };
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for (i, day) in days.iter().enumerate() {
        if let Some(secs) = day.figures.response.median_secs {
            let x = margin + step * i as f64;
            let y = height - margin - (height - 2.0 * margin) * secs as f64 / top as f64;
            points.push(((x * 10.0).round() / 10.0, (y * 10.0).round() / 10.0));
            labels.push(format!("{}: {}", day.date, duration(Some(secs))));
        }
    }
    Chart {
        width,
        height,
        points,
        labels,
        top: duration(Some(top)),
        first: days.first().map(|d| d.date.clone()).unwrap_or_default(),
        last: days.last().map(|d| d.date.clone()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::AgentRef;
    use protocol::reports::{AgentRow, DayRow, ReportRange};

    fn range() -> ReportRange {
        ReportRange {
            from: "2026-11-13".into(),
            to: "2026-11-26".into(),
            time_zone: "Asia/Kolkata".into(),
        }
    }

    fn with_median(secs: Option<i64>) -> Figures {
        let mut f = Figures::default();
        f.response.median_secs = secs;
        f.response.count = u32::from(secs.is_some());
        f
    }

    #[test]
    fn a_range_ends_today_and_spans_its_days() {
        assert_eq!(range_start("2026-11-27", 14).as_deref(), Some("2026-11-14"));
        assert_eq!(range_start("2026-03-01", 7).as_deref(), Some("2026-02-23"));
        assert_eq!(range_start("2024-03-01", 2).as_deref(), Some("2024-02-29"));
        assert_eq!(range_start("2026-01-05", 90).as_deref(), Some("2025-10-08"));
        assert_eq!(range_start("2026-11-27", 1).as_deref(), Some("2026-11-27"));
        assert_eq!(range_start("27/11/2026", 7), None);
        assert_eq!(range_start("2026-13-01", 7), None);
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(None), "–");
        assert_eq!(duration(Some(0)), "0 s");
        assert_eq!(duration(Some(59)), "59 s");
        assert_eq!(duration(Some(60)), "1 min");
        assert_eq!(duration(Some(89)), "1 min");
        assert_eq!(duration(Some(90)), "2 min");
        assert_eq!(duration(Some(3600 + 5 * 60)), "1 h 05 min");
        assert_eq!(duration(Some(2 * 86400 + 3 * 3600)), "2 d 3 h");
        assert_eq!(duration(Some(-5)), "0 s");
    }

    #[test]
    fn the_table_has_a_row_per_agent_and_a_total() {
        let mut asha = Figures::default();
        asha.first_response.median_secs = Some(60);
        asha.messages_in = 3;
        asha.messages_out = 2;
        let report = AgentsReport {
            range: range(),
            agents: vec![
                AgentRow {
                    agent: Some(AgentRef {
                        id: "a1".into(),
                        name: "Asha".into(),
                    }),
                    figures: asha,
                },
                AgentRow {
                    agent: None,
                    figures: Figures::default(),
                },
            ],
            teams: vec![],
            total: Figures::default(),
            days: None,
        };
        let rows = rows(&report);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].agent_id.as_deref(), Some("a1"));
        assert_eq!(rows[0].cells[1], ("first_response", "1 min".to_owned()));
        assert_eq!(rows[0].cells[3], ("messages", "3 / 2".to_owned()));
        assert_eq!(rows[1].name, "Not credited");
        assert_eq!(rows[2].name, "Everyone");
        assert_eq!(rows[0].cells.len(), COLUMNS.len());
        // One agent alone (an agent's own view): no total.
        let own = AgentsReport {
            agents: report.agents[..1].to_vec(),
            ..report
        };
        assert_eq!(super::rows(&own).len(), 1);
    }

    #[test]
    fn the_chart_plots_days_with_replies_against_the_largest_median() {
        let daily = DailyReport {
            range: range(),
            days: vec![
                DayRow {
                    date: "2026-11-24".into(),
                    figures: with_median(Some(120)),
                },
                DayRow {
                    date: "2026-11-25".into(),
                    figures: with_median(None),
                },
                DayRow {
                    date: "2026-11-26".into(),
                    figures: with_median(Some(60)),
                },
            ],
            total: Figures::default(),
        };
        let c = chart(&daily, 208.0, 108.0);
        // The 120 s day is at the top, the 60 s day halfway; the empty day has no point.
        assert_eq!(c.points, vec![(4.0, 4.0), (204.0, 54.0)]);
        assert_eq!(c.labels, vec!["2026-11-24: 2 min", "2026-11-26: 1 min"]);
        assert_eq!(c.top, "2 min");
        assert_eq!(
            (c.first.as_str(), c.last.as_str()),
            ("2026-11-24", "2026-11-26")
        );
        // No replies at all: no points, a minute's scale.
        let quiet = DailyReport {
            days: vec![DayRow {
                date: "2026-11-26".into(),
                figures: with_median(None),
            }],
            ..daily
        };
        let c = chart(&quiet, 100.0, 50.0);
        assert!(c.points.is_empty());
        assert_eq!(c.top, "1 min");
    }
}
