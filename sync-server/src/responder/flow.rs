//! A qualification flow, pure: checking one when a lead saves it (it must be able to finish), and
//! running one — given where a chat stands and what just happened, what the responder does next.
//! The server keeps each chat's [`Run`] and the seat carries out the [`Action`]s; no clock and no
//! database here, so every path is tested natively against a scripted customer.

use protocol::responder::{
    rupees, AnswerKind, AnswerValue, Condition, FlowRequest, Question, Then, MAX_OPTIONS,
    MAX_QUESTIONS, MAX_TEXT_CHARS,
};
use serde::{Deserialize, Serialize};

/// What is wrong with a flow, naming the field as the request spells it.
pub fn check(flow: &FlowRequest, stages: &[String]) -> Result<(), String> {
    let text = |field: &str, value: &str, required: bool| -> Result<(), String> {
        if required && value.trim().is_empty() {
            return Err(format!("{field} must not be empty"));
        }
        if value.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("{field}: at most {MAX_TEXT_CHARS} characters"));
        }
        Ok(())
    };
    let stage = |field: &str, name: &str| -> Result<(), String> {
        if stages.iter().any(|s| s == name) {
            Ok(())
        } else {
            Err(format!("{field}: {name:?} is not a stage of this pipeline"))
        }
    };
    text("name", &flow.name, true)?;
    if flow.name.chars().count() > 100 {
        return Err("name: at most 100 characters".into());
    }
    text("greeting", &flow.greeting, true)?;
    text("closing", &flow.closing, false)?;
    stage("done_stage", &flow.done_stage)?;
    if flow.questions.is_empty() || flow.questions.len() > MAX_QUESTIONS {
        return Err(format!("questions: 1 to {MAX_QUESTIONS} questions"));
    }
    if !(1..=10).contains(&flow.max_unanswered) {
        return Err("max_unanswered must be between 1 and 10".into());
    }
    if flow.person_words.len() > 50 {
        return Err("person_words: at most 50".into());
    }
    for (i, word) in flow.person_words.iter().enumerate() {
        if word.trim().is_empty() || word.chars().count() > 60 {
            return Err(format!("person_words[{i}] must be 1 to 60 characters"));
        }
    }
    for (i, q) in flow.questions.iter().enumerate() {
        let field = format!("questions[{i}]");
        let key_ok = q.key.len() <= 32
            && q.key.starts_with(|c: char| c.is_ascii_lowercase())
            && q.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            return Err(format!(
                "{field}.key must be lowercase letters, digits and _, starting with a letter (at most 32), not {:?}",
                q.key
            ));
        }
        if flow.questions[..i].iter().any(|o| o.key == q.key) {
            return Err(format!("{field}.key {:?} is used twice", q.key));
        }
        text(&format!("{field}.text"), &q.text, true)?;
        text(&format!("{field}.label"), &q.label, true)?;
        match q.kind {
            AnswerKind::Choice => {
                if !(2..=MAX_OPTIONS).contains(&q.options.len()) {
                    return Err(format!(
                        "{field}.options: a choice needs 2 to {MAX_OPTIONS} options"
                    ));
                }
                for (k, option) in q.options.iter().enumerate() {
                    if option.trim().is_empty() || option.chars().count() > 100 {
                        return Err(format!("{field}.options[{k}] must be 1 to 100 characters"));
                    }
                }
            }
            _ if !q.options.is_empty() => {
                return Err(format!(
                    "{field}.options: only a choice question has options"
                ));
            }
            _ => {}
        }
        for (b, branch) in q.branches.iter().enumerate() {
            let field = format!("{field}.branches[{b}]");
            let fits = match (&branch.when, q.kind) {
                (Condition::Below(_) | Condition::AtLeast(_), AnswerKind::Amount) => true,
                (Condition::Yes | Condition::No, AnswerKind::YesNo) => true,
                (Condition::Option(n), AnswerKind::Choice) => {
                    if *n == 0 || *n as usize > q.options.len() {
                        return Err(format!(
                            "{field}.when: option {n} is not one of the {} options",
                            q.options.len()
                        ));
                    }
                    true
                }
                _ => false,
            };
            if !fits {
                return Err(format!(
                    "{field}.when does not apply to {} questions",
                    q.kind.as_str()
                ));
            }
            match &branch.then {
                Then::Exit(name) => stage(&format!("{field}.then.exit"), name)?,
                // Only forward: a flow that could loop could never finish.
                Then::Ask(key) => {
                    if !flow.questions[i + 1..]
                        .iter()
                        .any(|later| &later.key == key)
                    {
                        return Err(format!("{field}.then.ask: {key:?} is not a later question"));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Where a chat stands in its flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub position: Position,
    /// The answers so far, in the order given: question key and value.
    pub answers: Vec<(String, AnswerValue)>,
    /// Responder messages since the customer last wrote.
    pub unanswered: u32,
    /// The current question was already asked again once.
    pub reasked: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Nothing sent yet.
    #[default]
    New,
    /// Waiting for the answer to this question (its index).
    Asking(usize),
    /// Over, for good: a flow never restarts on a chat that finished it.
    Over(Ended),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Every question answered (or a branch ended it).
    Finished,
    /// The customer asked for a person.
    PersonAsked,
    /// A person took the chat (took its reply lock).
    HumanTookOver,
    /// It would have sent more messages without a reply than the flow allows.
    TooManyUnanswered,
    /// The customer stopped replying: people took the chat after a while.
    NoReply,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Finished => "finished",
            Ended::PersonAsked => "person_asked",
            Ended::HumanTookOver => "human_took_over",
            Ended::TooManyUnanswered => "too_many_unanswered",
            Ended::NoReply => "no_reply",
        }
    }
}

/// What just happened in the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A new chat for the flow. `after_hours`: what to say when no person is on shift ("A person
    /// will reply from 09:00 tomorrow"), sent with the greeting.
    Start { after_hours: Option<String> },
    /// The customer wrote: the value the seat read for the current question (`None`: not
    /// understood), and whether they asked for a person.
    Reply {
        value: Option<AnswerValue>,
        asks_person: bool,
    },
    /// A person took the chat's reply lock.
    HumanTyped,
}

/// What the responder does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this message in the chat.
    Send(String),
    /// The flow is over: move the chat to `stage` (if any), keep the answers as its
    /// qualification fields, write `note` to its notes, and hand it to routing with this
    /// handoff.
    Finish {
        stage: Option<String>,
        note: String,
        handoff: HandoffDraft,
    },
    /// The flow stopped without finishing (the chat is a person's from now on).
    Stop(Ended),
}

/// A system handoff's note, filled from the answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffDraft {
    pub done: String,
    pub promised: String,
    pub next_step: String,
}

/// The next step of `run` in `flow` on `input`: the run after it and what to do. A run that is
/// over stays over and does nothing.
pub fn step(flow: &FlowRequest, run: &Run, input: Input) -> (Run, Vec<Action>) {
    let mut next = run.clone();
    if matches!(run.position, Position::Over(_)) {
        return (next, Vec::new());
    }
    let mut actions = Vec::new();
    match input {
        Input::HumanTyped => {
            next.position = Position::Over(Ended::HumanTookOver);
            actions.push(Action::Stop(Ended::HumanTookOver));
        }
        Input::Start { after_hours } => {
            if run.position != Position::New {
                return (next, actions);
            }
            let mut message = flow.greeting.trim().to_owned();
            if let Some(when) = after_hours.filter(|w| !w.trim().is_empty()) {
                message = format!("{message}\n{}", when.trim());
            }
            message = format!("{message}\n\n{}", ask(&flow.questions[0]));
            send(flow, &mut next, &mut actions, message);
            if !matches!(next.position, Position::Over(_)) {
                next.position = Position::Asking(0);
            }
        }
        Input::Reply { value, asks_person } => {
            next.unanswered = 0;
            if asks_person {
                finish(flow, &mut next, &mut actions, None, Ended::PersonAsked);
                return (next, actions);
            }
            let Position::Asking(at) = run.position else {
                return (next, actions);
            };
            let question = &flow.questions[at];
            let value = value.filter(|v| fits(question, v));
            let Some(value) = value else {
                if run.reasked {
                    // Asked twice: move on without an answer.
                    go_on(flow, &mut next, &mut actions, at + 1);
                } else {
                    next.reasked = true;
                    let again = format!("Sorry, I did not get that.\n{}", ask(question));
                    send(flow, &mut next, &mut actions, again);
                }
                return (next, actions);
            };
            next.answers.push((question.key.clone(), value.clone()));
            let decided = question
                .branches
                .iter()
                .find(|b| holds(&b.when, &value))
                .map(|b| b.then.clone());
            match decided {
                Some(Then::Exit(stage)) => {
                    finish(flow, &mut next, &mut actions, Some(stage), Ended::Finished);
                }
                Some(Then::Ask(key)) => {
                    let to = flow
                        .questions
                        .iter()
                        .position(|q| q.key == key)
                        .unwrap_or(at + 1);
                    go_on(flow, &mut next, &mut actions, to);
                }
                None => go_on(flow, &mut next, &mut actions, at + 1),
            }
        }
    }
    (next, actions)
}

/// A question as the customer reads it: a choice lists its options numbered from 1.
pub fn ask(question: &Question) -> String {
    let mut text = question.text.trim().to_owned();
    for (i, option) in question.options.iter().enumerate() {
        text.push_str(&format!("\n{}. {}", i + 1, option.trim()));
    }
    text
}

/// Sends `message` unless that would pass the flow's limit of messages without a reply, in which
/// case the run stops instead.
fn send(flow: &FlowRequest, run: &mut Run, actions: &mut Vec<Action>, message: String) {
    if run.unanswered >= flow.max_unanswered {
        run.position = Position::Over(Ended::TooManyUnanswered);
        actions.push(Action::Stop(Ended::TooManyUnanswered));
        return;
    }
    run.unanswered += 1;
    actions.push(Action::Send(message));
}

/// Asks question `to`, or finishes when there is none.
fn go_on(flow: &FlowRequest, run: &mut Run, actions: &mut Vec<Action>, to: usize) {
    run.reasked = false;
    match flow.questions.get(to) {
        Some(question) => {
            send(flow, run, actions, ask(question));
            if !matches!(run.position, Position::Over(_)) {
                run.position = Position::Asking(to);
            }
        }
        None => finish(
            flow,
            run,
            actions,
            Some(flow.done_stage.clone()),
            Ended::Finished,
        ),
    }
}

fn finish(
    flow: &FlowRequest,
    run: &mut Run,
    actions: &mut Vec<Action>,
    stage: Option<String>,
    ended: Ended,
) {
    if !flow.closing.trim().is_empty() && ended == Ended::Finished {
        send(flow, run, actions, flow.closing.trim().to_owned());
        if matches!(run.position, Position::Over(_)) {
            return;
        }
    }
    run.position = Position::Over(ended);
    let answers = summary(flow, &run.answers);
    let done = if answers.is_empty() {
        "No qualification answers yet.".to_owned()
    } else {
        format!("Qualification answers: {answers}")
    };
    let (promised, next_step) = match (ended, &stage) {
        (Ended::PersonAsked, _) => (
            "A person will reply (the customer asked for one).".to_owned(),
            "Reply to the customer: they asked to talk to a person.".to_owned(),
        ),
        (_, Some(stage)) => (
            if flow.closing.trim().is_empty() {
                "A person will reply.".to_owned()
            } else {
                flow.closing.trim().to_owned()
            },
            format!("Follow up: qualified as {stage}."),
        ),
        _ => (
            "A person will reply.".to_owned(),
            "Follow up with the customer.".to_owned(),
        ),
    };
    let note = match &stage {
        Some(stage) => format!("Responder: {done} → {stage}"),
        None => format!("Responder: {done} (asked for a person)"),
    };
    actions.push(Action::Finish {
        stage,
        note,
        handoff: HandoffDraft {
            done,
            promised,
            next_step,
        },
    });
}

/// The answers in words, in the flow's order: `Budget: ₹60,00,000 · Type: 2BHK`.
pub fn summary(flow: &FlowRequest, answers: &[(String, AnswerValue)]) -> String {
    flow.questions
        .iter()
        .filter_map(|q| {
            let (_, value) = answers.iter().find(|(key, _)| *key == q.key)?;
            let said = match value {
                AnswerValue::Choice(n) => q
                    .options
                    .get((*n as usize).wrapping_sub(1))
                    .cloned()
                    .unwrap_or_else(|| format!("option {n}")),
                AnswerValue::Amount(amount) => rupees(*amount),
                AnswerValue::YesNo(true) => "Yes".to_owned(),
                AnswerValue::YesNo(false) => "No".to_owned(),
                AnswerValue::Date(day) => day.clone(),
                AnswerValue::Text(text) => text.clone(),
            };
            Some(format!("{}: {said}", q.label.trim()))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Whether a value answers this question (its kind, an option it has, a real date).
fn fits(question: &Question, value: &AnswerValue) -> bool {
    if value.kind() != question.kind {
        return false;
    }
    match value {
        AnswerValue::Choice(n) => *n >= 1 && (*n as usize) <= question.options.len(),
        AnswerValue::Date(day) => chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok(),
        AnswerValue::Text(text) => !text.trim().is_empty() && text.chars().count() <= 500,
        _ => true,
    }
}

fn holds(condition: &Condition, value: &AnswerValue) -> bool {
    match (condition, value) {
        (Condition::Below(limit), AnswerValue::Amount(a)) => a < limit,
        (Condition::AtLeast(limit), AnswerValue::Amount(a)) => a >= limit,
        (Condition::Option(n), AnswerValue::Choice(c)) => n == c,
        (Condition::Yes, AnswerValue::YesNo(yes)) => *yes,
        (Condition::No, AnswerValue::YesNo(yes)) => !*yes,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::responder::Branch;

    fn question(key: &str, kind: AnswerKind, options: &[&str], branches: Vec<Branch>) -> Question {
        Question {
            key: key.into(),
            label: key[..1].to_uppercase() + &key[1..],
            text: format!("Your {key}?"),
            kind,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            branches,
        }
    }

    fn branch(when: Condition, then: Then) -> Branch {
        Branch { when, then }
    }

    /// Budget (under 50 lakh → Nurture), type (a villa skips to the visit), move-in date, visit
    /// (no → Nurture); the rest goes to Qualified.
    fn homes() -> FlowRequest {
        FlowRequest {
            name: "Homes".into(),
            pipeline_id: "p".into(),
            enabled: true,
            new_chats: false,
            owned_off_shift: false,
            greeting: "Hi! Acme Realty here.".into(),
            questions: vec![
                question(
                    "budget",
                    AnswerKind::Amount,
                    &[],
                    vec![branch(
                        Condition::Below(5_000_000),
                        Then::Exit("Nurture".into()),
                    )],
                ),
                question(
                    "type",
                    AnswerKind::Choice,
                    &["2BHK", "3BHK", "Villa"],
                    vec![branch(Condition::Option(3), Then::Ask("visit".into()))],
                ),
                question("movein", AnswerKind::Date, &[], vec![]),
                question(
                    "visit",
                    AnswerKind::YesNo,
                    &[],
                    vec![branch(Condition::No, Then::Exit("Nurture".into()))],
                ),
            ],
            done_stage: "Qualified".into(),
            closing: "Thank you! A colleague will call you.".into(),
            person_words: vec![],
            max_unanswered: 3,
        }
    }

    fn stages() -> Vec<String> {
        ["New", "Nurture", "Qualified"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    }

    /// Plays `inputs` from a new run; every action in order, and the last run.
    fn play(flow: &FlowRequest, inputs: Vec<Input>) -> (Run, Vec<Action>) {
        let mut run = Run::default();
        let mut all = Vec::new();
        for input in inputs {
            let (next, actions) = step(flow, &run, input);
            run = next;
            all.extend(actions);
        }
        (run, all)
    }

    fn reply(value: AnswerValue) -> Input {
        Input::Reply {
            value: Some(value),
            asks_person: false,
        }
    }

    fn sent(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(text) => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn finished(actions: &[Action]) -> Option<(Option<String>, String, HandoffDraft)> {
        actions.iter().find_map(|a| match a {
            Action::Finish {
                stage,
                note,
                handoff,
            } => Some((stage.clone(), note.clone(), handoff.clone())),
            _ => None,
        })
    }

    #[test]
    fn a_good_lead_answers_everything_and_is_qualified() {
        let flow = homes();
        check(&flow, &stages()).unwrap();
        let (run, actions) = play(
            &flow,
            vec![
                Input::Start { after_hours: None },
                reply(AnswerValue::Amount(6_000_000)),
                reply(AnswerValue::Choice(1)),
                reply(AnswerValue::Date("2027-01-15".into())),
                reply(AnswerValue::YesNo(true)),
            ],
        );
        let messages = sent(&actions);
        assert_eq!(
            messages[0], "Hi! Acme Realty here.\n\nYour budget?",
            "the greeting with the first question"
        );
        assert_eq!(messages[1], "Your type?\n1. 2BHK\n2. 3BHK\n3. Villa");
        assert_eq!(messages[4], "Thank you! A colleague will call you.");
        let (stage, note, handoff) = finished(&actions).unwrap();
        assert_eq!(stage.as_deref(), Some("Qualified"));
        assert_eq!(
            handoff.done,
            "Qualification answers: Budget: ₹60,00,000 · Type: 2BHK · Movein: 2027-01-15 · Visit: Yes"
        );
        assert_eq!(handoff.promised, "Thank you! A colleague will call you.");
        assert_eq!(handoff.next_step, "Follow up: qualified as Qualified.");
        assert!(note.ends_with("→ Qualified"), "{note}");
        assert_eq!(run.position, Position::Over(Ended::Finished));
        assert_eq!(run.answers.len(), 4);
        // Over is over: nothing restarts it.
        let (again, more) = step(&flow, &run, Input::Start { after_hours: None });
        assert!(more.is_empty());
        assert_eq!(again, run);
    }

    #[test]
    fn branches_end_early_or_skip_ahead() {
        let flow = homes();
        let (_, actions) = play(
            &flow,
            vec![
                Input::Start { after_hours: None },
                reply(AnswerValue::Amount(3_000_000)),
            ],
        );
        let (stage, _, handoff) = finished(&actions).unwrap();
        assert_eq!(stage.as_deref(), Some("Nurture"), "under 50 lakh");
        assert_eq!(handoff.done, "Qualification answers: Budget: ₹30,00,000");
        // A villa skips the move-in date.
        let (run, actions) = play(
            &flow,
            vec![
                Input::Start { after_hours: None },
                reply(AnswerValue::Amount(90_000_000)),
                reply(AnswerValue::Choice(3)),
            ],
        );
        assert_eq!(sent(&actions).last().unwrap(), "Your visit?");
        assert_eq!(run.position, Position::Asking(3));
        let (_, actions) = step(&flow, &run, reply(AnswerValue::YesNo(false)));
        assert_eq!(finished(&actions).unwrap().0.as_deref(), Some("Nurture"));
    }

    #[test]
    fn an_answer_not_understood_is_asked_again_once_then_skipped() {
        let flow = homes();
        let not_understood = || Input::Reply {
            value: None,
            asks_person: false,
        };
        let (run, actions) = play(
            &flow,
            vec![
                Input::Start { after_hours: None },
                reply(AnswerValue::Amount(6_000_000)),
                not_understood(),
            ],
        );
        assert_eq!(
            sent(&actions).last().unwrap(),
            "Sorry, I did not get that.\nYour type?\n1. 2BHK\n2. 3BHK\n3. Villa"
        );
        assert_eq!(run.position, Position::Asking(1));
        // A value of the wrong kind, or an option there is not, is not understood either.
        let (run, actions) = step(&flow, &run, reply(AnswerValue::Choice(7)));
        assert_eq!(sent(&actions), ["Your movein?"], "asked twice: moved on");
        assert_eq!(run.answers.len(), 1, "nothing recorded for the type");
        let (run, actions) = step(&flow, &run, reply(AnswerValue::Date("2027-02-30".into())));
        assert_eq!(
            sent(&actions)[0],
            "Sorry, I did not get that.\nYour movein?"
        );
        assert!(run.reasked);
    }

    #[test]
    fn a_customer_asking_for_a_person_is_handed_over_at_once() {
        let flow = homes();
        let (run, actions) = play(
            &flow,
            vec![
                Input::Start { after_hours: None },
                reply(AnswerValue::Amount(6_000_000)),
                Input::Reply {
                    value: None,
                    asks_person: true,
                },
            ],
        );
        assert_eq!(run.position, Position::Over(Ended::PersonAsked));
        let (stage, note, handoff) = finished(&actions).unwrap();
        assert_eq!(stage, None, "the stage stays as it is");
        assert!(note.contains("asked for a person"), "{note}");
        assert_eq!(handoff.done, "Qualification answers: Budget: ₹60,00,000");
        assert!(handoff.next_step.contains("talk to a person"));
        assert_eq!(
            sent(&actions).len(),
            2,
            "no closing message to a customer who asked for a person"
        );
    }

    #[test]
    fn a_person_typing_stops_the_flow_for_good() {
        let flow = homes();
        let (run, actions) = play(
            &flow,
            vec![Input::Start { after_hours: None }, Input::HumanTyped],
        );
        assert_eq!(actions.last(), Some(&Action::Stop(Ended::HumanTookOver)));
        let (_, after) = step(&flow, &run, reply(AnswerValue::Amount(6_000_000)));
        assert!(after.is_empty(), "nothing more, whatever the customer says");
    }

    #[test]
    fn out_of_hours_the_greeting_says_when_a_person_replies() {
        let flow = homes();
        let (_, actions) = play(
            &flow,
            vec![Input::Start {
                after_hours: Some(
                    "We are closed now; a person will reply from 09:00 tomorrow.".into(),
                ),
            }],
        );
        assert_eq!(
            sent(&actions),
            ["Hi! Acme Realty here.\nWe are closed now; a person will reply from 09:00 tomorrow.\n\nYour budget?"]
        );
    }

    #[test]
    fn never_more_messages_without_a_reply_than_the_flow_allows() {
        let mut flow = homes();
        flow.max_unanswered = 1;
        let (run, actions) = step(&flow, &Run::default(), Input::Start { after_hours: None });
        assert_eq!(sent(&actions).len(), 1);
        assert_eq!(run.unanswered, 1);
        // A run that already spoke without a reply (a seat that sent and then lost the chat, say)
        // stops rather than speak again.
        let spoken = Run {
            position: Position::New,
            unanswered: 1,
            ..Run::default()
        };
        let (after, actions) = step(&flow, &spoken, Input::Start { after_hours: None });
        assert_eq!(actions, [Action::Stop(Ended::TooManyUnanswered)]);
        assert_eq!(after.position, Position::Over(Ended::TooManyUnanswered));
        // A reply resets the count.
        let (after, actions) = step(&flow, &run, reply(AnswerValue::Amount(9_000_000)));
        assert_eq!(sent(&actions), ["Your type?\n1. 2BHK\n2. 3BHK\n3. Villa"]);
        assert_eq!(after.unanswered, 1);
    }

    #[test]
    fn a_flow_that_could_not_finish_is_refused_naming_the_field() {
        let stages = stages();
        type BreakIt = Box<dyn Fn(&mut FlowRequest)>;
        let cases: Vec<(BreakIt, &str)> = vec![
            (
                Box::new(|f| f.greeting = " ".into()),
                "greeting must not be empty",
            ),
            (
                Box::new(|f| f.done_stage = "Won".into()),
                "done_stage: \"Won\" is not a stage",
            ),
            (Box::new(|f| f.questions.clear()), "questions: 1 to 20"),
            (
                Box::new(|f| f.questions[1].text = String::new()),
                "questions[1].text must not be empty",
            ),
            (
                Box::new(|f| f.questions[1].options.truncate(1)),
                "questions[1].options: a choice needs 2",
            ),
            (
                Box::new(|f| f.questions[0].options = vec!["a".into()]),
                "questions[0].options: only a choice",
            ),
            (
                Box::new(|f| f.questions[2].key = "budget".into()),
                "questions[2].key \"budget\" is used twice",
            ),
            (
                Box::new(|f| f.questions[2].key = "Move In".into()),
                "questions[2].key must be",
            ),
            (
                Box::new(|f| f.questions[0].branches[0].then = Then::Exit("Lost".into())),
                "questions[0].branches[0].then.exit: \"Lost\" is not a stage",
            ),
            (
                Box::new(|f| f.questions[3].branches[0].then = Then::Ask("budget".into())),
                "questions[3].branches[0].then.ask: \"budget\" is not a later question",
            ),
            (
                Box::new(|f| f.questions[1].branches[0].when = Condition::Option(4)),
                "questions[1].branches[0].when: option 4 is not one of the 3",
            ),
            (
                Box::new(|f| f.questions[0].branches[0].when = Condition::Yes),
                "questions[0].branches[0].when does not apply to amount questions",
            ),
            (
                Box::new(|f| f.max_unanswered = 0),
                "max_unanswered must be between 1 and 10",
            ),
        ];
        for (break_it, expected) in cases {
            let mut flow = homes();
            break_it(&mut flow);
            let err = check(&flow, &stages).unwrap_err();
            assert!(err.starts_with(expected), "{expected}: got {err}");
        }
    }
}
