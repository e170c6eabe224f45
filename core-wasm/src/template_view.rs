//! The template picker's choices, pure: which templates match what the agent typed, in the order
//! shown (those for the chat's pipeline and stage first), and each one filled for the chat. The
//! lead module draws the picker; tested natively.

use protocol::templates::{fill, first_name, FillError, Template};

/// Where the picker was opened: the chat and who is writing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct PickerContext {
    /// The chat's title as WhatsApp shows it.
    pub title: String,
    #[serde(default)]
    pub pipeline_id: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    /// Opened by typing `/` at the start of the composer (the `/` is replaced on inserting).
    #[serde(default)]
    pub slash: bool,
}

/// How well a template fits the chat: its stage, its pipeline, any chat, another pipeline.
fn fit(template: &Template, context: &PickerContext) -> u8 {
    match (&template.pipeline_id, &template.stage) {
        (Some(p), Some(s))
            if Some(p) == context.pipeline_id.as_ref() && Some(s) == context.stage.as_ref() =>
        {
            0
        }
        (Some(p), None) if Some(p) == context.pipeline_id.as_ref() => 1,
        (None, _) => 2,
        _ => 3,
    }
}

/// The templates whose name or body holds every word of `query` (any case), those that fit the
/// chat best first, then by name.
pub fn matching<'a>(
    templates: &'a [Template],
    query: &str,
    context: &PickerContext,
) -> Vec<&'a Template> {
    let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let mut found: Vec<&Template> = templates
        .iter()
        .filter(|t| {
            let haystack = format!("{} {}", t.name, t.body).to_lowercase();
            words.iter().all(|w| haystack.contains(w.as_str()))
        })
        .collect();
    found.sort_by(|a, b| {
        fit(a, context)
            .cmp(&fit(b, context))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    found
}

/// The values of the variables Baton knows: the chat's title and its first name, the sending
/// agent's first name, the business's name.
pub struct Known<'a> {
    pub title: &'a str,
    pub agent: &'a str,
    pub business: &'a str,
}

/// The template filled for the chat: known variables from `known`, custom ones from `custom`
/// (`(name, value)` as the agent typed them). `Err` lists what is still missing.
pub fn filled(
    template: &Template,
    known: &Known<'_>,
    custom: &[(String, String)],
) -> Result<String, FillError> {
    fill(&template.body, |name| match name {
        "first_name" => first_name(known.title).map(str::to_owned),
        "name" => Some(known.title.to_owned()),
        "agent" => first_name(known.agent).map(str::to_owned),
        "business" => Some(known.business.to_owned()),
        other => custom
            .iter()
            .find(|(n, _)| n == other)
            .map(|(_, v)| v.trim().to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(name: &str, body: &str, pipeline: Option<&str>, stage: Option<&str>) -> Template {
        Template {
            id: name.to_lowercase(),
            name: name.into(),
            body: body.into(),
            pipeline_id: pipeline.map(Into::into),
            stage: stage.map(Into::into),
            custom_variables: vec![],
            use_count: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn context() -> PickerContext {
        PickerContext {
            title: "Priya Sharma".into(),
            pipeline_id: Some("loans".into()),
            stage: Some("Qualified".into()),
            slash: true,
        }
    }

    #[test]
    fn the_chats_own_templates_come_first_and_the_query_narrows() {
        let all = vec![
            template("Address", "We are at {{business}}.", None, None),
            template("Cards welcome", "Hi", Some("cards"), None),
            template("Loans welcome", "Hello {{first_name}}", Some("loans"), None),
            template(
                "Site visit",
                "Visit on {{day}}",
                Some("loans"),
                Some("Qualified"),
            ),
        ];
        let names = |q: &str| -> Vec<String> {
            matching(&all, q, &context())
                .iter()
                .map(|t| t.name.clone())
                .collect()
        };
        assert_eq!(
            names(""),
            ["Site visit", "Loans welcome", "Address", "Cards welcome"]
        );
        assert_eq!(names("WEL"), ["Loans welcome", "Cards welcome"]);
        // Words match anywhere, in the name or the body.
        assert_eq!(names("visit day"), ["Site visit"]);
        assert!(names("nothing like it").is_empty());
    }

    #[test]
    fn known_variables_fill_and_custom_ones_are_asked_for() {
        let known = Known {
            title: "🙂 Priya Sharma",
            agent: "Asha Rao",
            business: "Acme Realty",
        };
        let body = template(
            "Visit",
            "Hi {{first_name}} ({{name}}), {{agent}} from {{business}}: plot {{plot}} on {{day}}.",
            None,
            None,
        );
        assert_eq!(
            filled(&body, &known, &[]),
            Err(FillError::Missing(vec!["plot".into(), "day".into()]))
        );
        let custom = [
            ("plot".to_owned(), " 14B ".to_owned()),
            ("day".to_owned(), "शनिवार".to_owned()),
        ];
        assert_eq!(
            filled(&body, &known, &custom).unwrap(),
            "Hi Priya (🙂 Priya Sharma), Asha from Acme Realty: plot 14B on शनिवार."
        );
        // A blank answer is still missing.
        let blank = [
            ("plot".to_owned(), "  ".to_owned()),
            ("day".to_owned(), "Sat".to_owned()),
        ];
        assert_eq!(
            filled(&body, &known, &blank),
            Err(FillError::Missing(vec!["plot".into()]))
        );
    }
}
