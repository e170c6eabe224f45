//! The settings page's forms as data, pure: a pipeline's stage rows (each remembering the name it
//! was loaded with, so a renamed stage keeps its conversations) become the `PUT /pipelines/{id}`
//! request; minutes typed into a form become numbers or a message naming the field. Tested
//! natively; the lead module draws the page.

use protocol::api::{PipelineUpdate, StageMove, StageRename, StageSla};
use protocol::routing::{Hours, Shift, ShiftException, Weekday};

/// One stage as the editor shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageRow {
    /// The stage's name when the pipeline was loaded; `None` for a stage added here.
    pub original: Option<String>,
    pub name: String,
    /// Targets as typed, in minutes (empty: none).
    pub first_response: String,
    pub response: String,
}

/// Whole minutes as typed (empty: none); `field` names it in the message.
pub fn minutes(field: &str, text: &str) -> Result<Option<u32>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u32>()
        .ok()
        .filter(|m| *m > 0)
        .map(Some)
        .ok_or_else(|| format!("{field} must be a whole number of minutes, not {text:?}"))
}

/// The stages loaded that no row keeps: their conversations need somewhere to go.
pub fn removed(loaded: &[String], rows: &[StageRow]) -> Vec<String> {
    loaded
        .iter()
        .filter(|stage| !rows.iter().any(|r| r.original.as_ref() == Some(*stage)))
        .cloned()
        .collect()
}

/// The pipeline as the editor has it, for `PUT /pipelines/{id}`; `moved` says where the
/// conversations of removed stages go (`None`: out of the pipeline).
pub fn pipeline_update(
    name: &str,
    rows: &[StageRow],
    moved: &[(String, Option<String>)],
) -> Result<PipelineUpdate, String> {
    let mut stages = Vec::new();
    let mut renamed = Vec::new();
    let mut sla = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let stage = row.name.trim().to_owned();
        if stage.is_empty() {
            return Err(format!("stage {} needs a name", i + 1));
        }
        if let Some(original) = &row.original {
            if *original != stage {
                renamed.push(StageRename {
                    from: original.clone(),
                    to: stage.clone(),
                });
            }
        }
        let first_response_mins =
            minutes(&format!("{stage}: first response"), &row.first_response)?;
        let response_mins = minutes(&format!("{stage}: response"), &row.response)?;
        if first_response_mins.is_some() || response_mins.is_some() {
            sla.push(StageSla {
                stage: stage.clone(),
                first_response_mins,
                response_mins,
            });
        }
        stages.push(stage);
    }
    Ok(PipelineUpdate {
        name: name.trim().to_owned(),
        stages,
        renamed,
        moved: moved
            .iter()
            .map(|(from, to)| StageMove {
                from: from.clone(),
                to: to.clone(),
            })
            .collect(),
        sla,
    })
}

/// Stage names typed one per line, blank lines skipped.
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Weekly hours and date exceptions as written on the page, one per line: `mon 09:00-18:00`,
/// `2026-12-25 closed`, `2026-12-24 10:00-14:00, 16:00-18:00`.
pub fn format_hours(shifts: &[Shift], exceptions: &[ShiftException]) -> String {
    let mut lines: Vec<String> = shifts
        .iter()
        .map(|s| format!("{} {}-{}", weekday_key(s.weekday), s.start, s.end))
        .collect();
    for e in exceptions {
        if e.hours.is_empty() {
            lines.push(format!("{} closed", e.date));
        } else {
            let spans: Vec<String> = e
                .hours
                .iter()
                .map(|h| format!("{}-{}", h.start, h.end))
                .collect();
            lines.push(format!("{} {}", e.date, spans.join(", ")));
        }
    }
    lines.join("\n")
}

fn weekday_key(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

fn span(line: usize, text: &str) -> Result<Hours, String> {
    let (start, end) = text.trim().split_once('-').ok_or_else(|| {
        format!(
            "line {line}: hours are written 09:00-18:00, not {:?}",
            text.trim()
        )
    })?;
    Ok(Hours {
        start: start.trim().to_owned(),
        end: end.trim().to_owned(),
    })
}

/// Reads hours written as [`format_hours`] writes them (the server checks the times themselves).
pub fn parse_hours(text: &str) -> Result<(Vec<Shift>, Vec<ShiftException>), String> {
    let mut shifts = Vec::new();
    let mut exceptions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let n = i + 1;
        let (head, rest) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("line {n}: write a day and its hours, like mon 09:00-18:00"))?;
        let day = Weekday::ALL
            .into_iter()
            .find(|d| weekday_key(*d) == head.to_ascii_lowercase().get(..3).unwrap_or(""));
        match day {
            Some(weekday) if head.chars().all(char::is_alphabetic) => {
                for part in rest.split(',') {
                    let h = span(n, part)?;
                    shifts.push(Shift {
                        weekday,
                        start: h.start,
                        end: h.end,
                    });
                }
            }
            _ if head.len() == 10 && head.as_bytes()[4] == b'-' => {
                let hours = if rest.trim().eq_ignore_ascii_case("closed") {
                    Vec::new()
                } else {
                    rest.split(',')
                        .map(|p| span(n, p))
                        .collect::<Result<_, _>>()?
                };
                exceptions.push(ShiftException {
                    date: head.to_owned(),
                    hours,
                });
            }
            _ => {
                return Err(format!(
                    "line {n}: {head:?} is neither a weekday (mon…sun) nor a date (YYYY-MM-DD)"
                ))
            }
        }
    }
    Ok((shifts, exceptions))
}

/// Skills typed as a list (`hindi, home-loans`).
pub fn skills(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(original: Option<&str>, name: &str, first: &str, response: &str) -> StageRow {
        StageRow {
            original: original.map(Into::into),
            name: name.into(),
            first_response: first.into(),
            response: response.into(),
        }
    }

    #[test]
    fn renames_targets_and_moves_make_the_request() {
        let rows = vec![
            row(Some("New"), "New", "30", ""),
            row(Some("Qualified"), " Hot lead ", "", "60"),
            row(None, "Won", "", ""),
        ];
        let update = pipeline_update(" Loans ", &rows, &[("Lost".into(), None)]).unwrap();
        assert_eq!(update.name, "Loans");
        assert_eq!(update.stages, ["New", "Hot lead", "Won"]);
        assert_eq!(
            update.renamed,
            [StageRename {
                from: "Qualified".into(),
                to: "Hot lead".into()
            }]
        );
        assert_eq!(update.sla.len(), 2);
        assert_eq!(update.sla[0].first_response_mins, Some(30));
        assert_eq!(update.sla[1].stage, "Hot lead");
        assert_eq!(update.sla[1].response_mins, Some(60));
        assert_eq!(update.moved[0].from, "Lost");
        assert_eq!(update.moved[0].to, None);
        let loaded = vec!["New".to_owned(), "Qualified".to_owned(), "Lost".to_owned()];
        assert_eq!(removed(&loaded, &rows), ["Lost"]);
    }

    #[test]
    fn hours_are_written_and_read_one_per_line() {
        let text = "Mon 09:00-18:00\nsat 10:00-13:00, 14:00-16:00\n\n2026-12-25 closed\n2026-12-24 10:00-14:00";
        let (shifts, exceptions) = parse_hours(text).unwrap();
        assert_eq!(shifts.len(), 3);
        assert_eq!(shifts[1].weekday, Weekday::Sat);
        assert_eq!(
            (shifts[2].start.as_str(), shifts[2].end.as_str()),
            ("14:00", "16:00")
        );
        assert!(exceptions[0].hours.is_empty());
        assert_eq!(exceptions[1].hours[0].end, "14:00");
        let written = format_hours(&shifts, &exceptions);
        assert_eq!(parse_hours(&written).unwrap(), (shifts, exceptions));
        assert!(parse_hours("someday 09:00-10:00")
            .unwrap_err()
            .starts_with("line 1:"));
        assert!(parse_hours("mon\n").unwrap_err().starts_with("line 1:"));
        assert!(parse_hours("tue 0900").unwrap_err().contains("09:00-18:00"));
        assert_eq!(skills(" hindi, ,home-loans "), ["hindi", "home-loans"]);
    }

    #[test]
    fn bad_minutes_and_blank_names_are_refused_naming_the_field() {
        assert_eq!(minutes("x", " 15 "), Ok(Some(15)));
        assert_eq!(minutes("x", ""), Ok(None));
        for bad in ["0", "-5", "1.5", "soon"] {
            assert!(minutes("New: response", bad)
                .unwrap_err()
                .starts_with("New: response must be"));
        }
        let err = pipeline_update("P", &[row(None, "  ", "", "")], &[]).unwrap_err();
        assert_eq!(err, "stage 1 needs a name");
        let err = pipeline_update("P", &[row(None, "New", "x", "")], &[]).unwrap_err();
        assert!(err.starts_with("New: first response must be"));
        assert_eq!(lines("New\n\n  Won  \n"), ["New", "Won"]);
    }
}
