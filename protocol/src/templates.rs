//! Message templates: canned replies with `{{variables}}`, the same wording whoever answers. The
//! syntax is one rule both sides apply — the server checks a template when a lead saves it, the
//! extension fills it when an agent inserts it — so it lives here, beside the wire types.
//!
//! A variable is `{{name}}` with a name of lowercase letters, digits and `_` (starting with a
//! letter, at most 32). Four are known and filled by the extension: `first_name` (the first word
//! of the chat's title that has a letter), `name` (the chat's title), `agent` (the sending agent's
//! first name) and `business` (the org's name); any other is custom, and the agent is asked for
//! it when inserting. `{{` must open a variable; a lone `}}` is text.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// The variables the extension fills by itself.
pub const KNOWN_VARIABLES: [&str; 4] = ["first_name", "name", "agent", "business"];

/// Longest template body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;

/// A template as the API gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub body: String,
    /// Shown first in chats of this pipeline (and stage, if given).
    pub pipeline_id: Option<String>,
    pub stage: Option<String>,
    /// The custom variables the agent is asked for, in the order the body first uses them.
    pub custom_variables: Vec<String>,
    /// How many times agents inserted it.
    pub use_count: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// `POST /templates`, `PUT /templates/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub name: String,
    pub body: String,
    #[serde(default)]
    pub pipeline_id: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
}

/// A piece of a template body: text as written, or a variable to fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits a body into text and variables, or says (in words naming the place) why it is not a
/// template: an unclosed `{{`, an empty or malformed variable name.
pub fn parse(body: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = body;
    let mut offset = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!(
                "body: the {{{{ at character {} is not closed with }}}}",
                body[..offset + open].chars().count() + 1
            ));
        };
        let name = after[..close].trim();
        if !valid_name(name) {
            return Err(format!(
                "body: {{{{{}}}}} is not a variable: write a name of lowercase letters, digits and _ \
                 starting with a letter, such as {{{{first_name}}}}",
                &after[..close]
            ));
        }
        pieces.push(Piece::Variable(name));
        let consumed = open + 2 + close + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// The custom variables of a parsed body (not the known ones), once each, in first-use order.
pub fn custom_variables(pieces: &[Piece<'_>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in pieces {
        if let Piece::Variable(name) = piece {
            if !KNOWN_VARIABLES.contains(name) && !names.iter().any(|n| n == name) {
                names.push((*name).to_owned());
            }
        }
    }
    names
}

/// The first word of a chat title that has a letter in it ("Priya Sharma" → "Priya", "🌟 Ñandú
/// García" → "Ñandú"); `None` for a title without one (a phone number).
pub fn first_name(title: &str) -> Option<&str> {
    title
        .split_whitespace()
        .find(|word| word.chars().any(char::is_alphabetic))
}

/// Fills a body with `value(name)` for each variable. Every variable without a value (empty or
/// `None`) is reported, once each, in first-use order, and nothing is filled.
pub fn fill(body: &str, value: impl Fn(&str) -> Option<String>) -> Result<String, FillError> {
    let pieces = parse(body).map_err(FillError::Invalid)?;
    let mut text = String::with_capacity(body.len());
    let mut missing: Vec<String> = Vec::new();
    for piece in &pieces {
        match piece {
            Piece::Text(t) => text.push_str(t),
            Piece::Variable(name) => match value(name).filter(|v| !v.trim().is_empty()) {
                Some(v) => text.push_str(&v),
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push((*name).to_owned());
                    }
                }
            },
        }
    }
    if missing.is_empty() {
        Ok(text)
    } else {
        Err(FillError::Missing(missing))
    }
}

/// Why a template could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    /// The body is not a valid template (it was changed outside the server's checks).
    Invalid(String),
    /// These variables have no value yet: ask the agent.
    Missing(Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_splits_into_text_and_variables() {
        assert_eq!(
            parse("Hi {{first_name}}, this is {{ agent }}.").unwrap(),
            [
                Piece::Text("Hi "),
                Piece::Variable("first_name"),
                Piece::Text(", this is "),
                Piece::Variable("agent"),
                Piece::Text("."),
            ]
        );
        assert_eq!(parse("no variables }} at all").unwrap().len(), 1);
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn a_malformed_variable_is_refused_naming_where() {
        assert_eq!(
            parse("Hello {{name").unwrap_err(),
            "body: the {{ at character 7 is not closed with }}"
        );
        assert_eq!(
            parse("नमस्ते {{name").unwrap_err(),
            "body: the {{ at character 8 is not closed with }}",
            "counted in characters, not bytes"
        );
        for bad in ["{{}}", "{{First}}", "{{1st}}", "{{first name}}", "{{a-b}}"] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains("is not a variable"), "{bad}: {err}");
        }
        assert!(parse(&format!("{{{{{}}}}}", "a".repeat(33))).is_err());
    }

    #[test]
    fn custom_variables_are_the_unknown_ones_once_in_order() {
        let pieces =
            parse("{{name}}: {{plot_no}} in {{city}}; again {{plot_no}} by {{agent}}").unwrap();
        assert_eq!(custom_variables(&pieces), ["plot_no", "city"]);
    }

    #[test]
    fn first_names_come_from_the_first_word_with_a_letter() {
        assert_eq!(first_name("Priya Sharma"), Some("Priya"));
        assert_eq!(first_name("🌟 Ñandú García"), Some("Ñandú"));
        assert_eq!(first_name("  अनिल कुमार "), Some("अनिल"));
        assert_eq!(first_name("+91 98765 43210"), None);
        assert_eq!(first_name(""), None);
    }

    #[test]
    fn filling_uses_every_value_or_names_what_is_missing() {
        let body = "Hi {{first_name}} 🙂, {{agent}} here. Plot {{plot_no}} — {{plot_no}}!";
        let values = |name: &str| match name {
            "first_name" => Some("Ñandú".to_owned()),
            "agent" => Some("Asha".to_owned()),
            "plot_no" => Some("42B".to_owned()),
            _ => None,
        };
        assert_eq!(
            fill(body, values).unwrap(),
            "Hi Ñandú 🙂, Asha here. Plot 42B — 42B!"
        );
        let missing = fill(body, |name| (name == "agent").then(|| "Asha".to_owned()));
        assert_eq!(
            missing,
            Err(FillError::Missing(vec![
                "first_name".into(),
                "plot_no".into()
            ]))
        );
        assert_eq!(
            fill("{{x}}", |_| Some("  ".into())),
            Err(FillError::Missing(vec!["x".into()])),
            "blank is missing"
        );
        assert!(matches!(
            fill("{{oops", |_| None),
            Err(FillError::Invalid(_))
        ));
    }
}
