//! The first responder's seat, the part that needs no browser: what the customer's latest
//! messages answer (read in the browser; only the value goes to the server), whether a message
//! the server cleared is already in the chat (so a seat that stopped after sending never sends it
//! twice), and what the seat's banner says.

use protocol::responder::{AnswerKind, AnswerValue, ReplyReport, SeatQuestion};

use crate::answers;

/// A message as the open chat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bubble {
    /// WhatsApp's message id, when the row carries one.
    pub id: Option<String>,
    pub from_me: bool,
    pub text: String,
}

/// Text compared as a person reads it: runs of white space (line breaks included) are one space.
pub fn normalized(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether two texts say the same, whatever white space (a composer may drop line breaks, the
/// chat may render them).
pub fn same_words(a: &str, b: &str) -> bool {
    let squeezed = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    squeezed(a) == squeezed(b)
}

/// Whether the chat already shows `text` as a message the team sent. Each message of a flow is
/// worded once in a chat (a question asked again starts "Sorry, I did not get that"), and a flow
/// runs once per chat, so an outgoing message with the same words is this one.
pub fn already_in_chat(bubbles: &[Bubble], text: &str) -> bool {
    !text.trim().is_empty()
        && bubbles
            .iter()
            .any(|b| b.from_me && same_words(&b.text, text))
}

/// The customer's reply up to the message `upto`: the incoming messages after the last one the
/// team sent before it, in order, one per line. `None` while that message is not shown yet.
pub fn reply_text(bubbles: &[Bubble], upto: &str) -> Option<String> {
    let end = bubbles
        .iter()
        .rposition(|b| !b.from_me && b.id.as_deref() == Some(upto))?;
    let start = bubbles[..end]
        .iter()
        .rposition(|b| b.from_me)
        .map_or(0, |i| i + 1);
    let lines: Vec<&str> = bubbles[start..=end]
        .iter()
        .filter(|b| !b.from_me)
        .map(|b| b.text.trim())
        .filter(|t| !t.is_empty())
        .collect();
    Some(lines.join("\n"))
}

/// The text of the customer's message `id`, once shown (the message that started a flow: only
/// its words count, not older history).
pub fn message_text(bubbles: &[Bubble], id: &str) -> Option<String> {
    bubbles
        .iter()
        .rfind(|b| !b.from_me && b.id.as_deref() == Some(id))
        .map(|b| b.text.clone())
}

/// Most characters of a free-text answer kept.
const MAX_TEXT_ANSWER: usize = 500;

/// What `text` answers to `question`, as the seat reports it: the value (`None`: not
/// understood) and whether the customer asked for a person.
pub fn read_reply(question: &SeatQuestion, text: &str) -> ReplyReport {
    let value = match question.kind {
        AnswerKind::Amount => answers::amount(text).map(AnswerValue::Amount),
        AnswerKind::YesNo => answers::yes_no(text).map(AnswerValue::YesNo),
        AnswerKind::Choice => answers::choice(text, &question.options)
            .and_then(|i| u32::try_from(i + 1).ok())
            .map(AnswerValue::Choice),
        AnswerKind::Date => day_of(&question.today)
            .and_then(|today| answers::date(text, today))
            .map(|(y, m, d)| AnswerValue::Date(format!("{y:04}-{m:02}-{d:02}"))),
        AnswerKind::Text => {
            let kept: String = normalized(&plain(text))
                .chars()
                .take(MAX_TEXT_ANSWER)
                .collect();
            (!kept.is_empty()).then_some(AnswerValue::Text(kept))
        }
    };
    ReplyReport {
        upto: question.upto.clone(),
        value,
        asks_person: asks_for_person(text, &question.person_words),
        // Only when the org's language model reads replies (the settings page says so).
        text: question.send_text.then(|| {
            plain(text)
                .chars()
                .take(protocol::responder::MAX_REPLY_TEXT)
                .collect()
        }),
    }
}

/// Whether `text` asks for a person in any of the flow's words (matched whatever their case).
pub fn asks_for_person(text: &str, person_words: &[String]) -> bool {
    let words: Vec<String> = person_words.iter().map(|w| w.to_lowercase()).collect();
    answers::asks_for_person(text, &words)
}

/// The text without the characters the server refuses in any text (control characters but line
/// breaks and tabs, bidi overrides): a customer's message may hold them.
fn plain(text: &str) -> String {
    text.chars()
        .filter(|c| protocol::text::allowed(*c))
        .collect()
}

/// `YYYY-MM-DD` as a calendar day.
fn day_of(text: &str) -> Option<answers::Day> {
    let mut parts = text.split('-');
    let year = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((year, month, day))
}

/// What the seat is doing, for its banner and the popup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatState {
    /// Checking that this browser is logged in as a responder account.
    Starting,
    /// Nothing to do: waiting for new chats.
    Idle,
    /// Working in the chat with this title.
    Working(String),
    /// Stopped for a reason it says; it tries again by itself.
    Stopped(String),
    /// This login is a person's: the responder never runs in a person's browser.
    NotASeat,
}

impl SeatState {
    /// The banner's second line.
    pub fn words(&self) -> String {
        match self {
            SeatState::Starting => "Starting…".to_owned(),
            SeatState::Idle => "Waiting for new chats.".to_owned(),
            SeatState::Working(title) => format!("Answering {title}."),
            SeatState::Stopped(why) => format!("Stopped: {why} Trying again shortly."),
            SeatState::NotASeat => {
                "This browser is logged in as a person, not as a responder account: responder mode is off."
                    .to_owned()
            }
        }
    }

    /// A word for tests and styles (`data-state`).
    pub fn key(&self) -> &'static str {
        match self {
            SeatState::Starting => "starting",
            SeatState::Idle => "idle",
            SeatState::Working(_) => "working",
            SeatState::Stopped(_) => "stopped",
            SeatState::NotASeat => "not-a-seat",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bubble(id: &str, from_me: bool, text: &str) -> Bubble {
        Bubble {
            id: Some(id.into()),
            from_me,
            text: text.into(),
        }
    }

    fn question(kind: AnswerKind, options: &[&str]) -> SeatQuestion {
        SeatQuestion {
            upto: "M9".into(),
            key: "q".into(),
            kind,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            person_words: protocol::responder::DEFAULT_PERSON_WORDS
                .iter()
                .map(|w| (*w).to_owned())
                .collect(),
            today: "2026-11-27".into(),
            send_text: false,
        }
    }

    #[test]
    fn a_message_already_sent_is_found_whatever_its_line_breaks() {
        let chat = vec![
            bubble("A", false, "Hi, is the 2BHK available?"),
            bubble("B", true, "Hi! Acme Realty here. What is your budget?"),
            bubble("C", false, "60 lakh"),
        ];
        assert!(already_in_chat(
            &chat,
            "Hi! Acme Realty here.\n\nWhat is your budget?"
        ));
        assert!(!already_in_chat(&chat, "Which home?"));
        // The customer's words are not the team's message.
        assert!(!already_in_chat(&chat, "60 lakh"));
        assert!(!already_in_chat(&chat, "  "));
        // A composer that dropped the line break sent the same words.
        let squeezed = vec![bubble(
            "B",
            true,
            "Hi! Acme Realty here.What is your budget?",
        )];
        assert!(already_in_chat(
            &squeezed,
            "Hi! Acme Realty here.\n\nWhat is your budget?"
        ));
    }

    #[test]
    fn the_reply_is_what_the_customer_wrote_since_the_last_question() {
        let chat = vec![
            bubble("A", false, "Hi"),
            bubble("B", true, "What is your budget?"),
            bubble("C", false, "around"),
            bubble("D", false, "60 lakh"),
            bubble("E", false, "later words"),
        ];
        assert_eq!(reply_text(&chat, "D").as_deref(), Some("around\n60 lakh"));
        assert_eq!(reply_text(&chat, "A").as_deref(), Some("Hi"));
        assert_eq!(reply_text(&chat, "Z"), None, "not shown yet");
        assert_eq!(
            reply_text(&chat, "B"),
            None,
            "our own message answers nothing"
        );
    }

    #[test]
    fn replies_are_read_as_the_question_asks() {
        let amount = question(AnswerKind::Amount, &[]);
        let report = read_reply(&amount, "around 60 lakh");
        assert_eq!(report.value, Some(AnswerValue::Amount(6_000_000)));
        assert_eq!(report.upto, "M9");
        assert!(!report.asks_person);
        assert_eq!(report.text, None, "the reply's text stays in the browser");
        let mut with_model = amount.clone();
        with_model.send_text = true;
        assert_eq!(
            read_reply(&with_model, "around 60 lakh").text.as_deref(),
            Some("around 60 lakh"),
            "only for the org's language model"
        );
        assert_eq!(read_reply(&amount, "not sure yet").value, None);

        let home = question(AnswerKind::Choice, &["2BHK", "3BHK", "Villa"]);
        assert_eq!(
            read_reply(&home, "2").value,
            Some(AnswerValue::Choice(2)),
            "as the customer counts"
        );
        assert_eq!(
            read_reply(&home, "the villa please").value,
            Some(AnswerValue::Choice(3))
        );

        let visit = question(AnswerKind::YesNo, &[]);
        assert_eq!(
            read_reply(&visit, "haan ji").value,
            Some(AnswerValue::YesNo(true))
        );
        let when = question(AnswerKind::Date, &[]);
        assert_eq!(
            read_reply(&when, "kal").value,
            Some(AnswerValue::Date("2026-11-28".into())),
            "tomorrow on the org's calendar"
        );
        let mut no_day = when.clone();
        no_day.today = "soon".into();
        assert_eq!(read_reply(&no_day, "kal").value, None);

        let notes = question(AnswerKind::Text, &[]);
        assert_eq!(
            read_reply(&notes, "  near the\nmetro ").value,
            Some(AnswerValue::Text("near the metro".into()))
        );
        assert_eq!(read_reply(&notes, " ").value, None);
        assert_eq!(
            read_reply(&notes, "near\u{202e} the\u{0} metro").value,
            Some(AnswerValue::Text("near the metro".into())),
            "what the server refuses is left out"
        );
        let long = "x".repeat(900);
        assert_eq!(
            read_reply(&notes, &long).value,
            Some(AnswerValue::Text("x".repeat(500)))
        );
    }

    #[test]
    fn asking_for_a_person_is_heard_in_any_answer() {
        let amount = question(AnswerKind::Amount, &[]);
        let report = read_reply(&amount, "Talk to a human please");
        assert!(report.asks_person);
        assert_eq!(report.value, None);
        let mut custom = amount.clone();
        custom.person_words = vec!["Manager".into()];
        assert!(read_reply(&custom, "get me the manager").asks_person);
        assert!(!read_reply(&custom, "a human").asks_person);
    }

    #[test]
    fn the_banner_says_what_the_seat_does() {
        assert_eq!(SeatState::Idle.words(), "Waiting for new chats.");
        assert_eq!(
            SeatState::Working("Priya".into()).words(),
            "Answering Priya."
        );
        assert!(SeatState::Stopped("the server cannot be reached.".into())
            .words()
            .starts_with("Stopped: the server cannot be reached."));
        assert_eq!(SeatState::NotASeat.key(), "not-a-seat");
    }
}
