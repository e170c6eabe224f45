//! Property tests (bounded fuzzing, run with every `cargo test`) of what the server and the
//! extension decode from untrusted input: chat ids, text, and every wire message. Nothing may
//! panic; what is accepted must be what the grammar allows, and must survive a round trip.

// Test code: a panic with the failing value is exactly what a failed case should produce.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use protocol::api::{
    HandoffRequest, MessageReport, NoteRequest, ReminderRequest, SnoozeRequest, UpsertConversation,
};
use protocol::events::Event;
use protocol::ws::{ClientMessage, ServerMessage};
use protocol::ChatId;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings that look like chat ids often enough to reach the deep branches of the parser.
fn chat_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,20}@(c\\.us|g\\.us|lid|s\\.whatsapp\\.net|broadcast|x)",
        "[0-9]{5,16}-[0-9]{0,12}@g\\.us",
        "[0-9@.a-z\\-_ ]{0,40}",
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Template bodies: parsing never panics; a body that parses fills back to itself when each
    /// variable is given as `{{name}}`, and every variable it reports is in the body.
    #[test]
    fn templates_parse_without_panicking_and_fill_back(raw in prop_oneof![
        any::<String>(),
        "([a-z ]{0,5}(\\{\\{ ?[a-z_0-9]{0,6} ?\\}\\}|\\{|\\}|é|🙂)){0,6}",
    ]) {
        use protocol::templates::{custom_variables, fill, parse};
        if let Ok(pieces) = parse(&raw) {
            for name in custom_variables(&pieces) {
                prop_assert!(raw.contains(&name));
            }
            let canonical = fill(&raw, |name| Some(format!("{{{{{name}}}}}"))).unwrap();
            prop_assert_eq!(fill(&canonical, |name| Some(format!("{{{{{name}}}}}"))).unwrap(), canonical.clone());
            if !raw.contains("{{") {
                prop_assert_eq!(canonical, raw);
            }
        }
    }

    #[test]
    fn chat_ids_parse_without_panicking_and_round_trip(raw in chat_like()) {
        if let Ok(id) = ChatId::parse(&raw) {
            let again = ChatId::parse(id.as_str()).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert!(id.as_str().contains('@'));
            prop_assert!(!id.as_str().chars().any(char::is_whitespace));
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<ChatId>(&json).unwrap(), id);
        } else {
            // A refused id is refused through serde as well: no second door.
            let json = serde_json::to_string(&raw).unwrap();
            prop_assert!(serde_json::from_str::<ChatId>(&json).is_err());
        }
    }

    #[test]
    fn accepted_text_has_no_control_or_direction_characters(text in any::<String>()) {
        match protocol::text::first_refused(&text) {
            None => prop_assert!(text.chars().all(protocol::text::allowed)),
            Some(c) => {
                prop_assert!(!protocol::text::allowed(c));
                prop_assert!(text.contains(c));
            }
        }
    }

    #[test]
    fn wire_messages_decode_without_panicking(raw in any::<String>()) {
        let _ = serde_json::from_str::<ServerMessage>(&raw);
        let _ = serde_json::from_str::<ClientMessage>(&raw);
        let _ = serde_json::from_str::<Event>(&raw);
        let _ = serde_json::from_str::<UpsertConversation>(&raw);
        let _ = serde_json::from_str::<MessageReport>(&raw);
        let _ = serde_json::from_str::<HandoffRequest>(&raw);
        let _ = serde_json::from_str::<NoteRequest>(&raw);
        let _ = serde_json::from_str::<ReminderRequest>(&raw);
        let _ = serde_json::from_str::<SnoozeRequest>(&raw);
    }

    /// JSON-shaped input: objects with the fields the bodies use, values of every kind.
    #[test]
    fn json_bodies_decode_without_panicking(
        fields in proptest::collection::vec(
            (
                prop_oneof![
                    Just("chat_id"), Just("body"), Just("message_id"), Just("direction"),
                    Just("fence"), Just("sent_at"), Just("title"), Just("type"), Just("seq"),
                    Just("kind"), Just("data"), Just("due_at"), Just("minutes"), Just("until"),
                    Just("to_agent_id"), Just("if_missing"),
                ],
                prop_oneof![
                    any::<i64>().prop_map(|n| n.to_string()),
                    any::<f64>().prop_map(|n| if n.is_finite() { n.to_string() } else { "0".into() }),
                    any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
                    Just("null".to_owned()),
                    Just("[]".to_owned()),
                    Just("{}".to_owned()),
                    Just("\"919876543210@c.us\"".to_owned()),
                    Just("\"out\"".to_owned()),
                ],
            ),
            0..8,
        )
    ) {
        let raw = format!(
            "{{{}}}",
            fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")
        );
        let _ = serde_json::from_str::<ServerMessage>(&raw);
        let _ = serde_json::from_str::<Event>(&raw);
        if let Ok(report) = serde_json::from_str::<MessageReport>(&raw) {
            // What decodes re-encodes and decodes to the same.
            let again: MessageReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
            prop_assert_eq!(again, report);
        }
        let _ = serde_json::from_str::<HandoffRequest>(&raw);
        let _ = serde_json::from_str::<NoteRequest>(&raw);
        let _ = serde_json::from_str::<ReminderRequest>(&raw);
    }

    /// Deeply nested input must not overflow the stack.
    #[test]
    fn deep_nesting_is_refused_not_a_crash(depth in 1usize..100_000) {
        let raw = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let _ = serde_json::from_str::<ServerMessage>(&raw);
        let _ = serde_json::from_str::<Event>(&raw);
    }
}
