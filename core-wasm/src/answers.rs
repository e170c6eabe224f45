//! The first responder's answer parsers (issue 11), pure: what a customer's reply means for a
//! question of a given type — an amount ("60 lakh", "1.2 cr", "80k", "₹45,00,000"), yes or no
//! (English, Hindi and Hinglish: "haan", "nahi", "ji"), or one of numbered options (by number or
//! by words). The responder seat runs them in the browser, so a reply's text never leaves it:
//! only the value found is sent. `None` means "not understood" (the flow asks again once).
//!
//! Lower-casing is ASCII only: Devanagari has no case, and Unicode case tables would cost the
//! WASM build kilobytes for nothing.

/// Rupees in a reply: the first number with a unit ("2BHK under 80 lakh" is 80 lakh; a range
/// "60-70 lakh" or "60 to 70 lakh" gives its lower end), else the first number alone. Units:
/// `k`/`thousand`/`hazar`, `l`/`lakh`/`lac`, `cr`/`crore`, `m`/`mn`/`million`; digits may carry
/// Indian or Western grouping commas and a decimal part; `₹`, `rs`, `inr` are skipped.
pub fn amount(reply: &str) -> Option<u64> {
    let text = reply.to_ascii_lowercase();
    let numbers = numbers_in(&text);
    let rupees = |(whole, fraction, scale): (u128, u128, u128), multiplier: u128| {
        u64::try_from((whole.checked_mul(scale)? + fraction).checked_mul(multiplier)? / scale).ok()
    };
    for (i, n) in numbers.iter().enumerate() {
        if let Some(multiplier) = n.unit {
            return rupees(n.value, multiplier);
        }
        if let Some(next) = numbers.get(i + 1).filter(|_| n.range_to_next) {
            if let Some(multiplier) = next.unit {
                return rupees(n.value, multiplier);
            }
        }
    }
    numbers.first().and_then(|n| rupees(n.value, 1))
}

/// A number found in a reply: `(whole, fraction, scale)` (1.25 is `(1, 25, 100)`), its unit's
/// multiplier if one follows, and whether a range runs from it to the next ("60-70", "60 to 70").
struct Number {
    value: (u128, u128, u128),
    unit: Option<u128>,
    range_to_next: bool,
}

fn numbers_in(text: &str) -> Vec<Number> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut whole: u128 = 0;
        let mut overflow = false;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_digit() {
                match whole
                    .checked_mul(10)
                    .and_then(|w| w.checked_add(u128::from(b - b'0')))
                {
                    Some(w) => whole = w,
                    None => overflow = true,
                }
                i += 1;
            } else if b == b',' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
            } else {
                break;
            }
        }
        let (mut fraction, mut scale): (u128, u128) = (0, 1);
        if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while let Some(b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
                if scale < 1_000_000 {
                    fraction = fraction * 10 + u128::from(b - b'0');
                    scale *= 10;
                }
                i += 1;
            }
        }
        let rest = text[i..].trim_start_matches(' ');
        let word: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
        let unit = match word.as_str() {
            "k" | "thousand" | "thousands" | "hazar" | "hazaar" => Some(1_000),
            "l" | "lakh" | "lakhs" | "lac" | "lacs" | "lk" => Some(100_000),
            "cr" | "crore" | "crores" | "crs" => Some(10_000_000),
            "m" | "mn" | "million" | "millions" => Some(1_000_000),
            _ => None,
        };
        let after = rest.trim_start_matches(|c: char| c.is_ascii_alphabetic() && unit.is_some());
        let after = after.trim_start_matches(' ');
        let range_to_next = unit.is_none()
            && (after.starts_with('-') || after.starts_with("to ") || after.starts_with('–'));
        if !overflow {
            found.push(Number {
                value: (whole, fraction, scale),
                unit,
                range_to_next,
            });
        }
    }
    found
}

/// A calendar day, `(year, month, day)`.
pub type Day = (i32, u32, u32);

/// The day a reply names, on the org's calendar, given `today` there: "today"/"aaj",
/// "tomorrow"/"kal" (in a reply about when, *kal* is tomorrow), "day after tomorrow"/"parson",
/// a weekday ("monday", "next friday", "somvar": the next one after today), "in 3 days"/"3 din
/// mein", or a date — "15 Dec", "Dec 15", "15 December 2026", "15/12", "15/12/2026", "15-12-26"
/// (day first, as India writes it). A date without a year is the next one from today.
/// Impossible dates ("31 Feb") and garbage are not understood.
pub fn date(reply: &str, today: Day) -> Option<Day> {
    let text = reply.to_ascii_lowercase();
    let words = words_of(&text);
    let has = |w: &str| words.iter().any(|x| x == w);
    let has_phrase = |phrase: &[&str]| {
        words
            .windows(phrase.len())
            .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
    };
    let later = |n: i64| from_days(to_days(today) + n);
    if has_phrase(&["day", "after", "tomorrow"]) || has("parson") || has("parso") || has("parsoon")
    {
        return Some(later(2));
    }
    if has("tomorrow") || has("tmrw") || has("kal") || has("कल") {
        return Some(later(1));
    }
    if has("today") || has("aaj") || has("आज") || has("tonight") {
        return Some(today);
    }
    // "in 3 days", "3 din mein", "3 days later".
    for (i, w) in words.iter().enumerate() {
        if let Ok(n) = w.parse::<i64>() {
            if matches!(
                words.get(i + 1).map(String::as_str),
                Some("days" | "day" | "din")
            ) && n <= 366
            {
                return Some(later(n));
            }
        }
    }
    // A weekday: the next one after today.
    let weekdays: [&[&str]; 7] = [
        &["monday", "mon", "somvar", "somwar"],
        &["tuesday", "tue", "tues", "mangalvar", "mangalwar"],
        &["wednesday", "wed", "budhvar", "budhwar"],
        &[
            "thursday",
            "thu",
            "thurs",
            "guruvar",
            "guruwar",
            "brihaspativar",
        ],
        &["friday", "fri", "shukravar", "shukrawar"],
        &["saturday", "sat", "shanivar", "shaniwar"],
        &["sunday", "sun", "ravivar", "raviwar", "itvar"],
    ];
    if let Some(target) = weekdays
        .iter()
        .position(|names| names.iter().any(|n| has(n)))
    {
        let now = weekday(today);
        let ahead = (target as i64 - now as i64).rem_euclid(7);
        return Some(later(if ahead == 0 { 7 } else { ahead }));
    }
    numeric_or_named_date(&text, &words, today)
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let head = word.get(..3)?;
    let index = MONTHS.iter().position(|m| *m == head)?;
    // "march", "mar", but not "marriage".
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ][index];
    (full.starts_with(word) || word == "sept").then_some(index as u32 + 1)
}

fn numeric_or_named_date(text: &str, words: &[String], today: Day) -> Option<Day> {
    // 15/12, 15/12/2026, 15-12-26, 15.12.2026
    for token in text.split(|c: char| c.is_whitespace() || c == ',') {
        let parts: Vec<&str> = token
            .trim_matches(|c: char| !c.is_ascii_digit())
            .split(['/', '-', '.'])
            .collect();
        if parts.len() < 2
            || parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let day: u32 = parts[0].parse().ok()?;
        let month: u32 = parts[1].parse().ok()?;
        let year = match parts.get(2) {
            Some(y) if y.len() == 2 => Some(2000 + y.parse::<i32>().ok()?),
            Some(y) if y.len() == 4 => Some(y.parse::<i32>().ok()?),
            Some(_) => return None,
            None => None,
        };
        return resolve(day, month, year, today);
    }
    // 15 Dec, Dec 15, 15th December 2026
    let number = |w: &str| -> Option<u32> {
        let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let suffix = &w[digits.len()..];
        (!digits.is_empty() && matches!(suffix, "" | "st" | "nd" | "rd" | "th"))
            .then(|| digits.parse().ok())
            .flatten()
    };
    let month_at = words.iter().position(|w| month_of(w).is_some())?;
    let month = month_of(&words[month_at])?;
    // The day before the month ("15 Dec", "3rd of March") or after it ("Dec 15", "March the 3rd").
    let filler = |w: &String| matches!(w.as_str(), "of" | "the");
    let before = words[..month_at].iter().rev().find(|w| !filler(w));
    let after = words[month_at + 1..].iter().find(|w| !filler(w));
    let day = before
        .and_then(|w| number(w))
        .filter(|d| *d <= 31)
        .or_else(|| after.and_then(|w| number(w)).filter(|d| *d <= 31))?;
    let year = words
        .iter()
        .skip(month_at)
        .filter_map(|w| w.parse::<i32>().ok())
        .find(|y| (2000..=2100).contains(y));
    resolve(day, month, year, today)
}

/// A day and month (and maybe a year) as a real date; without a year, the next one from today.
fn resolve(day: u32, month: u32, year: Option<i32>, today: Day) -> Option<Day> {
    let valid = |y: i32| (1..=12).contains(&month) && day >= 1 && day <= days_in_month(y, month);
    match year {
        Some(y) => valid(y).then_some((y, month, day)),
        // The next such day from today (a 29 February may be years away).
        None => (today.0..=today.0 + 4)
            .filter(|y| valid(*y))
            .map(|y| (y, month, day))
            .find(|d| *d >= today),
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's days-from-civil).
fn to_days((y, m, d): Day) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn from_days(days: i64) -> Day {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400) as i32 + i32::from(m <= 2);
    (y, m, d)
}

/// 0 for Monday … 6 for Sunday.
fn weekday(day: Day) -> u32 {
    // 1970-01-01 was a Thursday.
    (to_days(day) + 3).rem_euclid(7) as u32
}

/// Words that say yes or no, in English, Hinglish and Hindi.
const YES: &[&str] = &[
    "yes",
    "y",
    "yeah",
    "yea",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "correct",
    "right",
    "haan",
    "han",
    "haa",
    "ha",
    "haanji",
    "hanji",
    "ji",
    "jee",
    "bilkul",
    "zaroor",
    "jaroor",
    "theek",
    "thik",
    "हाँ",
    "हां",
    "जी",
    "हाँजी",
    "बिल्कुल",
    "ज़रूर",
    "जरूर",
];
const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "not",
    "nahi",
    "nahin",
    "nai",
    "nhi",
    "na",
    "naa",
    "mat",
    "never",
    "नहीं",
    "नही",
    "ना",
    "मत",
];

/// Yes or no in a reply; a reply with a "no" word is no ("ji nahi", "not really"), one with only
/// "yes" words is yes; neither (or a question back) is not understood.
pub fn yes_no(reply: &str) -> Option<bool> {
    let text = reply.to_ascii_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || is_devanagari_mark(c)))
        .filter(|w| !w.is_empty())
        .collect();
    if words.iter().any(|w| NO.contains(w)) {
        return Some(false);
    }
    if words.iter().any(|w| YES.contains(w)) {
        return Some(true);
    }
    None
}

/// Devanagari vowel signs and the nukta are not "alphanumeric" to Rust but are part of a word.
fn is_devanagari_mark(c: char) -> bool {
    matches!(c, '\u{0900}'..='\u{0903}' | '\u{093A}'..='\u{094F}' | '\u{0951}'..='\u{0957}' | '\u{0962}'..='\u{0963}')
}

/// Letters and digits only, ASCII lower-cased: "3 BHK" and "3bhk" are the same answer.
fn squeeze(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric() || is_devanagari_mark(*c))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Which of the options (0-based) a reply picks: an option named in full ("3 bhk" for "3BHK"),
/// else its number as the question listed it ("2", "option 2", "2."), else the one option whose
/// words the reply contains ("the villa please"). Nothing, or more than one: not understood.
pub fn choice(reply: &str, options: &[String]) -> Option<usize> {
    let said = squeeze(reply);
    if said.is_empty() {
        return None;
    }
    if let Some(i) = options.iter().position(|o| squeeze(o) == said) {
        return Some(i);
    }
    // A number alone, or with "option"/"no" around it.
    let digits: Vec<u32> = reply
        .split(|c: char| !c.is_ascii_digit())
        .filter(|d| !d.is_empty())
        .filter_map(|d| d.parse().ok())
        .collect();
    let other_words = reply
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| {
            !w.is_empty() && !matches!(*w, "option" | "no" | "number" | "st" | "nd" | "rd" | "th")
        })
        .count();
    if let ([n], 0) = (digits.as_slice(), other_words) {
        let n = usize::try_from(*n).ok()?;
        return (1..=options.len()).contains(&n).then(|| n - 1);
    }
    // Words: the options whose every word (of three letters or more, or any digit) the reply holds.
    let reply_words = words_of(reply);
    let matching: Vec<usize> = options
        .iter()
        .enumerate()
        .filter(|(_, o)| {
            let wanted: Vec<String> = words_of(o)
                .into_iter()
                .filter(|w| w.len() >= 3 || w.chars().any(|c| c.is_ascii_digit()))
                .collect();
            !wanted.is_empty() && wanted.iter().all(|w| reply_words.contains(w))
        })
        .map(|(i, _)| i)
        .collect();
    match matching.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || is_devanagari_mark(c)))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether a reply asks for a person ("agent", "human", "call me", "insaan se baat"): any of
/// `phrases` (the org's words, lower-case) found as whole words in it.
pub fn asks_for_person(reply: &str, phrases: &[String]) -> bool {
    let words = words_of(reply);
    phrases.iter().any(|phrase| {
        let wanted = words_of(phrase);
        !wanted.is_empty() && words.windows(wanted.len()).any(|w| w == wanted.as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_lakh_crore_and_thousands_with_and_without_rupee_signs_and_commas() {
        let cases: &[(&str, u64)] = &[
            ("around 60 lakh", 6_000_000),
            ("60 Lakhs", 6_000_000),
            ("60L", 6_000_000),
            ("60 lac", 6_000_000),
            ("1.2 cr", 12_000_000),
            ("1.25 Crore", 12_500_000),
            ("₹1.2cr", 12_000_000),
            ("80k", 80_000),
            ("80 K per month", 80_000),
            ("₹45,00,000", 4_500_000),
            ("Rs. 45,00,000/-", 4_500_000),
            ("INR 4500000", 4_500_000),
            ("4,500,000", 4_500_000),
            ("budget is 60-70 lakh", 6_000_000),
            ("2 million", 2_000_000),
            ("0.5 cr", 5_000_000),
            ("50 hazar", 50_000),
        ];
        for (reply, rupees) in cases {
            assert_eq!(amount(reply), Some(*rupees), "{reply}");
        }
        for garbage in [
            "not sure",
            "",
            "lakh",
            "₹",
            "a lot",
            "99999999999999999999999999 cr",
        ] {
            assert_eq!(amount(garbage), None, "{garbage}");
        }
        // The first number with a unit, or the first number alone.
        assert_eq!(amount("60, maybe 70 lakh"), Some(7_000_000));
        assert_eq!(amount("2BHK under 80 lakh"), Some(8_000_000));
        assert_eq!(amount("60 to 70 lakh"), Some(6_000_000));
        assert_eq!(amount("4500000"), Some(4_500_000));
    }

    #[test]
    fn yes_and_no_in_english_hinglish_and_hindi() {
        for yes in [
            "Yes",
            "haan",
            "Haan ji",
            "ji",
            "hanji!",
            "sure, go ahead",
            "हाँ",
            "जी हां",
            "bilkul",
            "ok",
        ] {
            assert_eq!(yes_no(yes), Some(true), "{yes}");
        }
        for no in [
            "No",
            "nahi",
            "ji nahi",
            "nahin chahiye",
            "not really",
            "नहीं",
            "nope",
            "na",
        ] {
            assert_eq!(yes_no(no), Some(false), "{no}");
        }
        for neither in ["maybe", "what is the price?", "", "🙂", "kab tak?"] {
            assert_eq!(yes_no(neither), None, "{neither}");
        }
    }

    #[test]
    fn options_by_number_by_name_or_by_words() {
        let options: Vec<String> = ["2BHK", "3BHK", "Villa with garden"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(choice("1", &options), Some(0));
        assert_eq!(choice(" 2. ", &options), Some(1));
        assert_eq!(choice("option 3", &options), Some(2));
        assert_eq!(
            choice("3 bhk", &options),
            Some(1),
            "the name beats the number"
        );
        assert_eq!(choice("3BHK", &options), Some(1));
        assert_eq!(
            choice("I'd like the villa with a garden", &options),
            Some(2)
        );
        assert_eq!(choice("4", &options), None, "no fourth option");
        assert_eq!(choice("0", &options), None);
        assert_eq!(choice("1 or 2", &options), None, "two numbers: unclear");
        assert_eq!(choice("anything", &options), None);
        assert_eq!(choice("", &options), None);
        let hindi: Vec<String> = vec!["हाँ, अभी".into(), "बाद में".into()];
        assert_eq!(choice("बाद में", &hindi), Some(1));
    }

    #[test]
    fn days_named_relatively_or_as_dates_on_the_orgs_calendar() {
        // Friday 27 November 2026.
        let today = (2026, 11, 27);
        assert_eq!(weekday(today), 4);
        let cases: &[(&str, Day)] = &[
            ("today", today),
            ("aaj hi", today),
            ("tomorrow", (2026, 11, 28)),
            ("kal", (2026, 11, 28)),
            ("कल", (2026, 11, 28)),
            ("day after tomorrow", (2026, 11, 29)),
            ("parson", (2026, 11, 29)),
            ("in 3 days", (2026, 11, 30)),
            ("5 din mein", (2026, 12, 2)),
            ("monday", (2026, 11, 30)),
            ("next Friday", (2026, 12, 4)),
            ("somvar ko", (2026, 11, 30)),
            ("15 Dec", (2026, 12, 15)),
            ("Dec 15", (2026, 12, 15)),
            ("15th December 2026", (2026, 12, 15)),
            ("on the 3rd of march", (2027, 3, 3)),
            ("15/12", (2026, 12, 15)),
            ("15/12/2026", (2026, 12, 15)),
            ("15-12-26", (2026, 12, 15)),
            ("5.1.2027", (2027, 1, 5)),
            ("10 nov", (2027, 11, 10)),
            ("29 feb", (2028, 2, 29)),
            ("31/12/2026", (2026, 12, 31)),
        ];
        for (reply, day) in cases {
            assert_eq!(date(reply, today), Some(*day), "{reply}");
        }
        for garbage in [
            "31 Feb 2027",
            "32/1",
            "13/13",
            "soon",
            "",
            "marriage",
            "15",
            "dec",
        ] {
            assert_eq!(date(garbage, today), None, "{garbage}");
        }
        // Across a year's end and a leap day.
        assert_eq!(date("tomorrow", (2026, 12, 31)), Some((2027, 1, 1)));
        assert_eq!(date("kal", (2028, 2, 28)), Some((2028, 2, 29)));
        for n in [-800_000, -1, 0, 1, 20_000, 2_000_000] {
            assert_eq!(to_days(from_days(n)), n);
        }
    }

    #[test]
    fn a_customer_asking_for_a_person_is_heard() {
        let words: Vec<String> = protocol::responder::DEFAULT_PERSON_WORDS
            .iter()
            .map(|w| (*w).to_owned())
            .collect();
        for asks in [
            "talk to a HUMAN please",
            "Agent",
            "pls call me",
            "kisi se baat karni hai",
            "Call karo",
        ] {
            assert!(asks_for_person(asks, &words), "{asks}");
        }
        for not in ["60 lakh", "recall", "humane", "agency", "personal loan"] {
            assert!(!asks_for_person(not, &words), "{not}");
        }
    }
}
