//! The settings page's forms as data, pure: a pipeline's stage rows (each remembering the name it
//! was loaded with, so a renamed stage keeps its conversations) become the `PUT /pipelines/{id}`
//! request; minutes typed into a form become numbers or a message naming the field. Tested
//! natively; the lead module draws the page.

use protocol::api::{PipelineUpdate, StageMove, StageRename, StageSla};
use protocol::responder::{AnswerKind, Branch, Condition, Question, Then};
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

/// The weekly shifts as the hours picker shows them: one row per weekday, Monday first, each
/// with its spans `(start, end)` in order (none: closed that day).
pub fn week(shifts: &[Shift]) -> Vec<(Weekday, Vec<(String, String)>)> {
    Weekday::ALL
        .into_iter()
        .map(|day| {
            let mut spans: Vec<(String, String)> = shifts
                .iter()
                .filter(|s| s.weekday == day)
                .map(|s| (s.start.clone(), s.end.clone()))
                .collect();
            spans.sort();
            (day, spans)
        })
        .collect()
}

/// The weekday's name as the picker writes it.
pub fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// One span read from the picker, both times given (`row` names it in the error).
fn picked(row: &str, (start, end): &(String, String)) -> Result<Hours, String> {
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() || end.is_empty() {
        return Err(format!("{row}: give each span a start and an end"));
    }
    Ok(Hours {
        start: start.to_owned(),
        end: end.to_owned(),
    })
}

/// The picker's rows read back as the API's hours: the weekdays' spans, and each date's (no
/// spans: closed that day). Times themselves are the server's to check; a half-filled span or a
/// date row without its date is refused here, naming the row.
pub fn hours_from_rows(
    week: &[(Weekday, Vec<(String, String)>)],
    dates: &[(String, Vec<(String, String)>)],
) -> Result<(Vec<Shift>, Vec<ShiftException>), String> {
    let mut shifts = Vec::new();
    for (day, spans) in week {
        for span in spans {
            let h = picked(weekday_name(*day), span)?;
            shifts.push(Shift {
                weekday: *day,
                start: h.start,
                end: h.end,
            });
        }
    }
    let mut exceptions = Vec::new();
    for (n, (date, spans)) in dates.iter().enumerate() {
        let date = date.trim();
        if date.is_empty() {
            return Err(format!("date {}: pick its date", n + 1));
        }
        exceptions.push(ShiftException {
            date: date.to_owned(),
            hours: spans
                .iter()
                .map(|span| picked(date, span))
                .collect::<Result<_, _>>()?,
        });
    }
    Ok((shifts, exceptions))
}

/// The server names a bad span by its place in the request (`shifts[2]`, `exceptions[0]`); the
/// picker has no such numbers, so they are said as the page shows them (`Tuesday 09:00–18:00`,
/// `2026-12-24`).
pub fn explain_hours(message: &str, shifts: &[Shift], exceptions: &[ShiftException]) -> String {
    let mut said = message.to_owned();
    // Highest first, so `shifts[1]` is not taken for the start of `shifts[12]`'s name (the `]`
    // keeps them apart anyway; this also keeps the replacements from meeting each other).
    for (i, s) in shifts.iter().enumerate().rev() {
        said = said.replace(
            &format!("shifts[{i}]"),
            &format!("{} {}–{}", weekday_name(s.weekday), s.start, s.end),
        );
    }
    for (i, e) in exceptions.iter().enumerate().rev() {
        for (k, h) in e.hours.iter().enumerate().rev() {
            said = said.replace(
                &format!("exceptions[{i}].hours[{k}]"),
                &format!("{} {}–{}", e.date, h.start, h.end),
            );
        }
        said = said.replace(
            &format!("exceptions[{i}].date"),
            &format!("the date {}", e.date),
        );
        said = said.replace(&format!("exceptions[{i}]"), &e.date);
    }
    said
}

/// One question as the flow editor has it: every field as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuestionRow {
    pub key: String,
    pub label: String,
    pub text: String,
    /// `choice`, `amount`, `yes_no`, `date` or `text`.
    pub kind: String,
    /// A choice's options, one per line.
    pub options: String,
    pub branches: Vec<BranchRow>,
}

/// One branch as typed: `when` is `below`, `at_least`, `option`, `yes` or `no`, with its value
/// (rupees as a lead writes them — "50 lakh" —, or an option's number); `then` is `exit` (to the
/// stage `target`) or `ask` (the question whose key is `target`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchRow {
    pub when: String,
    pub value: String,
    pub then: String,
    pub target: String,
}

/// A flow's question rows as the API's questions, or a message naming the question.
pub fn flow_questions(rows: &[QuestionRow]) -> Result<Vec<Question>, String> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let name = format!("question {}", i + 1);
            let kind = match row.kind.as_str() {
                "choice" => AnswerKind::Choice,
                "amount" => AnswerKind::Amount,
                "yes_no" => AnswerKind::YesNo,
                "date" => AnswerKind::Date,
                _ => AnswerKind::Text,
            };
            let branches = row
                .branches
                .iter()
                .enumerate()
                .map(|(b, branch)| flow_branch(&format!("{name}, branch {}", b + 1), branch))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Question {
                key: row.key.trim().to_owned(),
                label: row.label.trim().to_owned(),
                text: row.text.trim().to_owned(),
                kind,
                options: if kind == AnswerKind::Choice {
                    lines(&row.options)
                } else {
                    Vec::new()
                },
                branches,
            })
        })
        .collect()
}

fn flow_branch(name: &str, row: &BranchRow) -> Result<Branch, String> {
    let value = row.value.trim();
    let rupees = || {
        crate::answers::amount(value)
            .ok_or_else(|| format!("{name}: write an amount, like 50 lakh, not {value:?}"))
    };
    let when = match row.when.as_str() {
        "below" => Condition::Below(rupees()?),
        "at_least" => Condition::AtLeast(rupees()?),
        "option" => Condition::Option(
            value
                .parse()
                .map_err(|_| format!("{name}: write the option's number, not {value:?}"))?,
        ),
        "yes" => Condition::Yes,
        _ => Condition::No,
    };
    let target = row.target.trim().to_owned();
    if target.is_empty() {
        return Err(format!("{name}: say where it goes"));
    }
    let then = if row.then == "ask" {
        Then::Ask(target)
    } else {
        Then::Exit(target)
    };
    Ok(Branch { when, then })
}

/// A stored question back as the editor's row (what [`flow_questions`] reads).
pub fn question_row(question: &Question) -> QuestionRow {
    QuestionRow {
        key: question.key.clone(),
        label: question.label.clone(),
        text: question.text.clone(),
        kind: question.kind.as_str().to_owned(),
        options: question.options.join("\n"),
        branches: question
            .branches
            .iter()
            .map(|b| {
                let (when, value) = match &b.when {
                    Condition::Below(n) => ("below", n.to_string()),
                    Condition::AtLeast(n) => ("at_least", n.to_string()),
                    Condition::Option(n) => ("option", n.to_string()),
                    Condition::Yes => ("yes", String::new()),
                    Condition::No => ("no", String::new()),
                };
                let (then, target) = match &b.then {
                    Then::Exit(stage) => ("exit", stage.clone()),
                    Then::Ask(key) => ("ask", key.clone()),
                };
                BranchRow {
                    when: when.to_owned(),
                    value,
                    then: then.to_owned(),
                    target,
                }
            })
            .collect(),
    }
}

/// The server names a question by its place (`questions[1].branches[0]`); the editor says it
/// as a person counts (`question 2, branch 1`).
pub fn explain_flow(message: &str, questions: usize) -> String {
    let mut said = message
        .replace(".then.exit", " (where it goes)")
        .replace(".then.ask", " (where it goes)")
        .replace(".when", " (its condition)");
    for q in (0..questions).rev() {
        for b in (0..20).rev() {
            said = said.replace(
                &format!("questions[{q}].branches[{b}]"),
                &format!("question {}, branch {}", q + 1, b + 1),
            );
        }
        said = said.replace(&format!("questions[{q}]."), &format!("question {} ", q + 1));
        said = said.replace(&format!("questions[{q}]"), &format!("question {}", q + 1));
    }
    said
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
    fn the_picker_shows_a_week_and_reads_it_back() {
        let shift = |weekday, start: &str, end: &str| Shift {
            weekday,
            start: start.into(),
            end: end.into(),
        };
        let shifts = vec![
            shift(Weekday::Sat, "14:00", "16:00"),
            shift(Weekday::Mon, "09:00", "18:00"),
            shift(Weekday::Sat, "10:00", "13:00"),
        ];
        let rows = week(&shifts);
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[0].0, Weekday::Mon);
        assert_eq!(rows[0].1, [("09:00".to_owned(), "18:00".to_owned())]);
        assert!(rows[1].1.is_empty(), "Tuesday closed");
        assert_eq!(
            rows[5].1,
            [
                ("10:00".to_owned(), "13:00".to_owned()),
                ("14:00".to_owned(), "16:00".to_owned())
            ],
            "in order of the day"
        );
        assert_eq!(weekday_name(rows[6].0), "Sunday");
        let dates = vec![
            ("2026-12-25".to_owned(), vec![]),
            (
                " 2026-12-24 ".to_owned(),
                vec![("10:00".to_owned(), "14:00".to_owned())],
            ),
        ];
        let (read, exceptions) = hours_from_rows(&rows, &dates).unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(week(&read), rows, "what is shown is what is read");
        assert_eq!(exceptions[0].date, "2026-12-25");
        assert!(
            exceptions[0].hours.is_empty(),
            "a date without hours: closed"
        );
        assert_eq!(exceptions[1].date, "2026-12-24");
        assert_eq!(exceptions[1].hours[0].end, "14:00");

        let mut half = rows.clone();
        half[1].1.push(("09:00".into(), " ".into()));
        assert_eq!(
            hours_from_rows(&half, &[]).unwrap_err(),
            "Tuesday: give each span a start and an end"
        );
        let undated = vec![(String::new(), vec![])];
        assert_eq!(
            hours_from_rows(&rows, &undated).unwrap_err(),
            "date 1: pick its date"
        );
        assert_eq!(skills(" hindi, ,home-loans "), ["hindi", "home-loans"]);
    }

    #[test]
    fn the_servers_word_for_a_span_is_the_pickers() {
        let shifts: Vec<Shift> = (0..12)
            .map(|i| Shift {
                weekday: Weekday::ALL[i % 7],
                start: format!("{:02}:00", i + 1),
                end: format!("{:02}:30", i + 1),
            })
            .collect();
        let exceptions = vec![ShiftException {
            date: "2026-12-24".into(),
            hours: vec![
                Hours {
                    start: "10:00".into(),
                    end: "14:00".into(),
                },
                Hours {
                    start: "12:00".into(),
                    end: "16:00".into(),
                },
            ],
        }];
        assert_eq!(
            explain_hours("shifts[11] overlaps shifts[1]", &shifts, &exceptions),
            "Friday 12:00–12:30 overlaps Tuesday 02:00–02:30"
        );
        assert_eq!(
            explain_hours(
                "exceptions[0].hours[1] overlaps exceptions[0].hours[0]",
                &shifts,
                &exceptions
            ),
            "2026-12-24 12:00–16:00 overlaps 2026-12-24 10:00–14:00"
        );
        assert_eq!(
            explain_hours("exceptions[0].date must be a date", &shifts, &exceptions),
            "the date 2026-12-24 must be a date"
        );
        assert_eq!(
            explain_hours("capacity too big", &[], &[]),
            "capacity too big"
        );
    }

    #[test]
    fn a_flow_is_edited_as_rows_and_read_back_the_same() {
        let rows = vec![
            QuestionRow {
                key: " budget ".into(),
                label: "Budget".into(),
                text: "What is your budget?".into(),
                kind: "amount".into(),
                options: "ignored".into(),
                branches: vec![BranchRow {
                    when: "below".into(),
                    value: "50 lakh".into(),
                    then: "exit".into(),
                    target: "Nurture".into(),
                }],
            },
            QuestionRow {
                key: "home".into(),
                label: "Home".into(),
                text: "Which home?".into(),
                kind: "choice".into(),
                options: "2BHK\n\n3BHK\nVilla".into(),
                branches: vec![BranchRow {
                    when: "option".into(),
                    value: "3".into(),
                    then: "ask".into(),
                    target: "visit".into(),
                }],
            },
        ];
        let questions = flow_questions(&rows).unwrap();
        assert_eq!(questions[0].key, "budget");
        assert!(questions[0].options.is_empty(), "only a choice has options");
        assert_eq!(questions[0].branches[0].when, Condition::Below(5_000_000));
        assert_eq!(questions[0].branches[0].then, Then::Exit("Nurture".into()));
        assert_eq!(questions[1].options, ["2BHK", "3BHK", "Villa"]);
        assert_eq!(questions[1].branches[0].when, Condition::Option(3));
        assert_eq!(questions[1].branches[0].then, Then::Ask("visit".into()));
        // Shown again, read again: the same questions.
        let shown: Vec<QuestionRow> = questions.iter().map(question_row).collect();
        assert_eq!(flow_questions(&shown).unwrap(), questions);

        let mut bad = rows.clone();
        bad[0].branches[0].value = "a lot".into();
        assert_eq!(
            flow_questions(&bad).unwrap_err(),
            "question 1, branch 1: write an amount, like 50 lakh, not \"a lot\""
        );
        bad[0].branches[0].value = "1 cr".into();
        bad[0].branches[0].target = " ".into();
        assert_eq!(
            flow_questions(&bad).unwrap_err(),
            "question 1, branch 1: say where it goes"
        );
        assert_eq!(
            explain_flow(
                "questions[1].branches[0].then.ask: \"budget\" is not a later question",
                2
            ),
            "question 2, branch 1 (where it goes): \"budget\" is not a later question"
        );
        assert_eq!(
            explain_flow("questions[0].text must not be empty", 2),
            "question 1 text must not be empty"
        );
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
