//! The one rule for text both sides enforce: no C0 control characters other than newline and
//! tab, and no bidirectional overrides or isolates (U+202A–U+202E, U+2066–U+2069), which can make
//! a note or a name read differently from what it says (and PostgreSQL refuses NUL outright).

/// Whether `c` may appear in text sent to the API.
pub fn allowed(c: char) -> bool {
    !matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The first character of `text` that the API refuses, if any.
pub fn first_refused(text: &str) -> Option<char> {
    text.chars().find(|c| !allowed(*c))
}

/// Why such text is refused, for error messages.
pub fn refusal(field: &str, c: char) -> String {
    format!(
        "{field} contains U+{:04X}: text may not hold control characters (other than newline and tab) or bidirectional overrides",
        u32::from(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_tabs_and_ordinary_text_pass_controls_and_overrides_do_not() {
        assert_eq!(first_refused("Hindi हिन्दी, emoji 🙂\n\tnext line"), None);
        for bad in [
            "\u{0}",
            "\u{7}",
            "\r",
            "\u{1b}[31m",
            "\u{202a}",
            "\u{202e}",
            "\u{2066}",
            "\u{2069}",
        ] {
            assert!(first_refused(&format!("a{bad}b")).is_some(), "{bad:?}");
        }
        // Marks that only hint at direction stay (WhatsApp uses them in names).
        assert_eq!(first_refused("\u{200e}Priya\u{200f}"), None);
        assert!(refusal("body", '\u{0}').contains("U+0000"));
    }
}
