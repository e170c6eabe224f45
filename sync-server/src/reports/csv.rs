//! Reports as CSV for a spreadsheet: RFC 4180 (CRLF line ends, a header row, fields with a
//! comma, quote or line break quoted and their quotes doubled), UTF-8 with a byte-order mark so
//! spreadsheet programs read names in any script correctly. A cell that a spreadsheet would take
//! for a formula (starting `=`, `+`, `-`, `@`, tab or carriage return) is prefixed with `'`, so a
//! name an agent typed can never run as one.

use protocol::reports::{Durations, Figures};

/// The figures' column names, in the order [`figure_cells`] writes them.
pub fn figure_columns() -> Vec<String> {
    let mut columns = vec!["conversations".to_owned()];
    for what in ["first_response", "response"] {
        columns.push(format!("{what}_count"));
        for stat in [
            "median_secs",
            "p90_secs",
            "mean_secs",
            "business_median_secs",
            "business_p90_secs",
            "business_mean_secs",
        ] {
            columns.push(format!("{what}_{stat}"));
        }
    }
    for name in [
        "messages_in",
        "messages_out",
        "handoffs_given",
        "handoffs_received",
        "handoffs_declined",
        "sla_breaches",
        "waiting_now",
        "waiting_breached",
    ] {
        columns.push(name.to_owned());
    }
    columns
}

fn duration_cells(d: &Durations, cells: &mut Vec<String>) {
    cells.push(d.count.to_string());
    for value in [
        d.median_secs,
        d.p90_secs,
        d.mean_secs,
        d.business_median_secs,
        d.business_p90_secs,
        d.business_mean_secs,
    ] {
        cells.push(value.map(|v| v.to_string()).unwrap_or_default());
    }
}

/// A row's figures as cells (an unmeasured duration is an empty cell).
pub fn figure_cells(f: &Figures) -> Vec<String> {
    let mut cells = vec![f.conversations.to_string()];
    duration_cells(&f.first_response, &mut cells);
    duration_cells(&f.response, &mut cells);
    for n in [
        f.messages_in,
        f.messages_out,
        f.handoffs_given,
        f.handoffs_received,
        f.handoffs_declined,
        f.sla_breaches,
        f.waiting_now,
        f.waiting_breached,
    ] {
        cells.push(n.to_string());
    }
    cells
}

/// One field, quoted when it must be and defused when a spreadsheet would evaluate it.
fn field(text: &str) -> String {
    let defused = match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if text.parse::<f64>().is_err() => {
            format!("'{text}")
        }
        _ => text.to_owned(),
    };
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// The whole document: a byte-order mark, the header, then the rows, each line ended by CRLF.
pub fn document(header: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::from("\u{feff}");
    for line in std::iter::once(header).chain(rows.iter().map(Vec::as_slice)) {
        let cells: Vec<String> = line.iter().map(|c| field(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(field("Asha"), "Asha");
        assert_eq!(field("Sharma, Asha"), "\"Sharma, Asha\"");
        assert_eq!(field("the \"best\""), "\"the \"\"best\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("प्रिया 🙂"), "प्रिया 🙂");
    }

    #[test]
    fn formulas_are_defused_but_numbers_are_not() {
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("-5"), "-5");
        assert_eq!(field("+91 98"), "'+91 98");
    }

    #[test]
    fn a_document_has_a_bom_a_header_and_crlf_lines() {
        let header = vec!["agent".to_owned(), "n".to_owned()];
        let doc = document(&header, &[vec!["A, B".into(), "1".into()]]);
        assert_eq!(doc, "\u{feff}agent,n\r\n\"A, B\",1\r\n");
        let f = Figures::default();
        assert_eq!(figure_cells(&f).len(), figure_columns().len());
    }
}
