//! The first responder's optional language model: an OpenAI-compatible chat-completions endpoint
//! an admin configured (off by default) reads a customer's reply to one flow question and says
//! what it answers. It only ever improves on the seat's own reading: the deterministic parser's
//! value stays the answer whenever the endpoint fails, times out, or says something that is not a
//! valid answer of the question's kind. The reply's text is passed through, never stored.

use std::time::Duration;

use protocol::responder::{AnswerKind, AnswerValue, ModelSettings, Question};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use crate::error::ApiResult;

/// Where and how to ask.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
}

/// The org's model settings as stored (defaults when it never set any).
pub async fn settings(
    conn: &mut AnyConnection,
    org_id: &str,
) -> ApiResult<(ModelSettings, Option<String>)> {
    let row: Option<(i64, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT enabled, url, model, api_key, timeout_ms FROM responder_models WHERE org_id = $1",
    )
    .bind(org_id)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((enabled, url, model, api_key, timeout_ms)) => (
            ModelSettings {
                enabled: enabled != 0,
                url,
                model,
                timeout_ms: u32::try_from(timeout_ms).unwrap_or(5000),
                has_api_key: api_key.is_some(),
            },
            api_key,
        ),
        None => (
            ModelSettings {
                enabled: false,
                url: String::new(),
                model: String::new(),
                timeout_ms: 5000,
                has_api_key: false,
            },
            None,
        ),
    })
}

/// The org's model, if it is on.
pub async fn config(conn: &mut AnyConnection, org_id: &str) -> ApiResult<Option<ModelConfig>> {
    let (settings, api_key) = settings(conn, org_id).await?;
    Ok(settings.enabled.then(|| ModelConfig {
        url: settings.url,
        model: settings.model,
        api_key,
        timeout: Duration::from_millis(u64::from(settings.timeout_ms)),
    }))
}

/// The chat-completions address: a base (`…/v1`) gets `/chat/completions` added.
pub fn completions_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/chat/completions") {
        url.to_owned()
    } else {
        format!("{url}/chat/completions")
    }
}

/// The request: the question, what kind of answer it takes, and the reply.
pub fn request_body(model: &str, question: &Question, today: &str, reply: &str) -> Value {
    let expected = match question.kind {
        AnswerKind::Amount => {
            "a whole number of Indian rupees (60 lakh is 6000000, 1.2 crore is 12000000)"
        }
        AnswerKind::Choice => "the number of the option chosen, counting from 1",
        AnswerKind::YesNo => "true for yes, false for no",
        AnswerKind::Date => "the day meant, as \"YYYY-MM-DD\" (relative days count from today)",
        AnswerKind::Text => "the answer in a few words, as a string",
    };
    let options = question
        .options
        .iter()
        .enumerate()
        .map(|(i, o)| format!("{}. {o}", i + 1))
        .collect::<Vec<_>>()
        .join("\n");
    let mut asked = format!("Question: {}", question.text.trim());
    if !options.is_empty() {
        asked.push_str(&format!("\nOptions:\n{options}"));
    }
    json!({
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": format!(
                "You read a customer's WhatsApp reply to one question from a business and say what it answers. \
                 Today is {today}. Answer with one JSON object and nothing else: \
                 {{\"value\": V, \"asks_person\": B}} where V is {expected}, or null when the reply does not answer the question, \
                 and B is true when the customer asks to talk to a person."
            )},
            {"role": "user", "content": format!("{asked}\nReply: {reply}")}
        ]
    })
}

/// What the model's message says, if it is a valid answer of the question's kind: the value
/// (`None`: the reply does not answer) and whether the customer asked for a person. `None` for
/// anything unusable.
pub fn read_answer(question: &Question, content: &str) -> Option<(Option<AnswerValue>, bool)> {
    let trimmed = content.trim();
    // Models like to fence JSON.
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let answer: Value = serde_json::from_str(unfenced).ok()?;
    let object = answer.as_object()?;
    let asks_person = match object.get("asks_person") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return None,
    };
    let value = match object.get("value") {
        None | Some(Value::Null) => None,
        Some(v) => Some(value_of(question, v)?),
    };
    Some((value, asks_person))
}

fn value_of(question: &Question, value: &Value) -> Option<AnswerValue> {
    Some(match question.kind {
        AnswerKind::Amount => {
            let amount = value.as_u64().or_else(|| {
                value
                    .as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e15)
                    .map(|f| f.round() as u64)
            })?;
            AnswerValue::Amount(amount)
        }
        AnswerKind::Choice => {
            let n = u32::try_from(value.as_u64()?).ok()?;
            if n == 0 || n as usize > question.options.len() {
                return None;
            }
            AnswerValue::Choice(n)
        }
        AnswerKind::YesNo => AnswerValue::YesNo(value.as_bool()?),
        AnswerKind::Date => {
            let day = value.as_str()?;
            chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
            AnswerValue::Date(day.to_owned())
        }
        AnswerKind::Text => {
            let text = value.as_str()?.trim();
            if text.is_empty()
                || text.chars().count() > 500
                || protocol::text::first_refused(text).is_some()
            {
                return None;
            }
            AnswerValue::Text(text.to_owned())
        }
    })
}

/// Asks the model what `reply` answers to `question`. An error says why nothing usable came
/// back (the caller keeps the parser's reading).
pub async fn understand(
    config: &ModelConfig,
    question: &Question,
    today: &str,
    reply: &str,
) -> Result<(Option<AnswerValue>, bool), String> {
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let mut request = client
        .post(completions_url(&config.url))
        .json(&request_body(&config.model, question, today, reply));
    if let Some(key) = &config.api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "the language model did not answer in time".to_owned()
        } else {
            format!("the language model could not be reached: {e}")
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("the language model answered {}", response.status()));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("the language model's answer is not JSON: {e}"))?;
    let content = body
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or("the language model's answer has no message")?;
    read_answer(question, content)
        .ok_or_else(|| "the language model's answer was unusable".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(kind: AnswerKind, options: &[&str]) -> Question {
        Question {
            key: "q".into(),
            label: "Q".into(),
            text: "What is your budget?".into(),
            kind,
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            branches: Vec::new(),
        }
    }

    #[test]
    fn answers_are_taken_only_when_valid_for_the_question() {
        let amount = question(AnswerKind::Amount, &[]);
        assert_eq!(
            read_answer(&amount, r#"{"value": 6000000, "asks_person": false}"#),
            Some((Some(AnswerValue::Amount(6_000_000)), false))
        );
        assert_eq!(
            read_answer(&amount, "```json\n{\"value\": 7500000.4}\n```"),
            Some((Some(AnswerValue::Amount(7_500_000)), false))
        );
        assert_eq!(
            read_answer(&amount, r#"{"value": null, "asks_person": true}"#),
            Some((None, true))
        );
        for unusable in [
            "about sixty lakh",
            r#"{"value": "sixty"}"#,
            r#"{"value": -5}"#,
            r#"{"value": 5, "asks_person": "yes"}"#,
            "[6000000]",
        ] {
            assert_eq!(read_answer(&amount, unusable), None, "{unusable}");
        }
        let home = question(AnswerKind::Choice, &["2BHK", "3BHK"]);
        assert_eq!(
            read_answer(&home, r#"{"value": 2}"#),
            Some((Some(AnswerValue::Choice(2)), false))
        );
        assert_eq!(
            read_answer(&home, r#"{"value": 3}"#),
            None,
            "no third option"
        );
        assert_eq!(read_answer(&home, r#"{"value": 0}"#), None);
        let visit = question(AnswerKind::YesNo, &[]);
        assert_eq!(
            read_answer(&visit, r#"{"value": true}"#),
            Some((Some(AnswerValue::YesNo(true)), false))
        );
        let when = question(AnswerKind::Date, &[]);
        assert_eq!(
            read_answer(&when, r#"{"value": "2026-12-15"}"#),
            Some((Some(AnswerValue::Date("2026-12-15".into())), false))
        );
        assert_eq!(read_answer(&when, r#"{"value": "2026-02-31"}"#), None);
        let notes = question(AnswerKind::Text, &[]);
        assert_eq!(
            read_answer(&notes, r#"{"value": " near the metro "}"#),
            Some((Some(AnswerValue::Text("near the metro".into())), false))
        );
        assert_eq!(read_answer(&notes, r#"{"value": "a\u0000b"}"#), None);
    }

    #[test]
    fn the_request_names_the_question_its_options_and_the_reply() {
        let home = question(AnswerKind::Choice, &["2BHK", "3BHK"]);
        let body = request_body("small-model", &home, "2026-11-27", "the bigger one");
        assert_eq!(body["model"], "small-model");
        let user = body["messages"][1]["content"].as_str().unwrap();
        assert_eq!(
            user,
            "Question: What is your budget?\nOptions:\n1. 2BHK\n2. 3BHK\nReply: the bigger one"
        );
        let system = body["messages"][0]["content"].as_str().unwrap();
        assert!(system.contains("Today is 2026-11-27"), "{system}");
        assert!(system.contains("counting from 1"), "{system}");
        assert_eq!(
            completions_url("http://127.0.0.1:8000/v1/"),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            completions_url("https://x.test/v1/chat/completions"),
            "https://x.test/v1/chat/completions"
        );
    }
}
