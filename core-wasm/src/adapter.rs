//! What WhatsApp Web's DOM tells us, parsed without touching the DOM.
//!
//! The DOM layer ([`crate::dom`]) reads strings from stable hooks (`data-id`, `data-pre-plain-text`,
//! titles); this module turns them into facts. Everything here is pure and tested natively.

use protocol::ChatId;

/// A message's identity, from its `data-id`: `{fromMe}_{chatJid}_{messageId}[_{participantJid}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKey {
    /// `true_…`: sent from this account (by any of its devices, i.e. any agent).
    pub from_me: bool,
    pub chat_id: ChatId,
    pub message_id: String,
    /// In groups, who wrote an incoming message.
    pub participant: Option<String>,
}

/// Parses a message row's `data-id`; `None` for anything else (date separators have none).
pub fn parse_data_id(data_id: &str) -> Option<MessageKey> {
    let mut parts = data_id.split('_');
    let from_me = match parts.next()? {
        "true" => true,
        "false" => false,
        _ => return None,
    };
    let chat_id = ChatId::parse(parts.next()?).ok()?;
    let message_id = parts.next()?;
    if !is_bare_message_id(message_id) {
        return None;
    }
    let participant = parts.next().map(str::to_owned);
    if parts.next().is_some() {
        return None;
    }
    Some(MessageKey {
        from_me,
        chat_id,
        message_id: message_id.to_owned(),
        participant,
    })
}

/// WhatsApp's own id of a message (`3EB0C431C4B9A1F2E5D7`): 1 to 128 letters and digits, as
/// today's DOM, old `data-id`s and WhatsApp's modules all give it.
pub fn is_bare_message_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A message row of the open chat, as the DOM shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomMessage {
    pub message_id: String,
    pub from_me: bool,
    /// Only builds from before April 2026 put the chat's id in the `data-id`.
    pub chat_id: Option<ChatId>,
    /// When it was sent (to the minute, from its `data-pre-plain-text`); media and stickers
    /// usually have none.
    pub sent_at: Option<protocol::Millis>,
}

/// A message row from its `data-id` and, for today's bare ids, its direction class
/// (`message-out` → `Some(true)`, `message-in` → `Some(false)`), read only then. `None` for
/// anything else: date separators and system notices have no `data-id`, and a bare id without a
/// direction is not enough to report.
pub fn dom_message(data_id: &str, outgoing: impl FnOnce() -> Option<bool>) -> Option<DomMessage> {
    if let Some(key) = parse_data_id(data_id) {
        return Some(DomMessage {
            message_id: key.message_id,
            from_me: key.from_me,
            chat_id: Some(key.chat_id),
            sent_at: None,
        });
    }
    Some(DomMessage {
        message_id: is_bare_message_id(data_id).then(|| data_id.to_owned())?,
        from_me: outgoing()?,
        chat_id: None,
        sent_at: None,
    })
}

/// A virtualised chat-list row's place in the list, from its inline style
/// (`height: 72px; transform: translateY(648px)` → 9). `fallback_height` gives its rendered
/// height in pixels, asked only when the style does not say (measuring forces a layout).
/// Fractions of pixels are dropped.
pub fn row_position(style: &str, fallback_height: impl FnOnce() -> u32) -> Option<u32> {
    let lower = style.to_ascii_lowercase();
    let offset = px_after(&lower, "translatey(")?;
    let height = lower
        .split(';')
        .filter_map(|rule| rule.split_once(':'))
        .find(|(name, _)| name.trim() == "height")
        .and_then(|(_, value)| px_after(value, ""))
        .unwrap_or_else(fallback_height);
    (height > 0).then(|| (offset + height / 2) / height)
}

/// The whole pixels of the `Npx` value right after `prefix` (negative values are refused).
fn px_after(text: &str, prefix: &str) -> Option<u32> {
    let start = text.find(prefix)? + prefix.len();
    let value = text[start..].trim_start();
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let rest = value[digits..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if digits == 0 || !rest.trim_start().starts_with("px") {
        return None;
    }
    value[..digits].parse().ok()
}

/// A local date and time to the minute, as `data-pre-plain-text` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMinute {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

/// The bracketed prefix of a text message: `[10:42, 25/11/2026] Asha: ` (en-GB),
/// `[8:19 PM, 6/13/2026] Asha: ` (en-US) or `[10:42, 25.11.2026] Asha: ` (de and others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrePlainText {
    pub at: LocalMinute,
    pub author: String,
}

/// Parses `data-pre-plain-text`; `None` if the format is not one we know.
pub fn parse_pre_plain_text(text: &str) -> Option<PrePlainText> {
    let rest = text.trim_start().strip_prefix('[')?;
    let (stamp, rest) = rest.split_once(']')?;
    let author = rest.trim().strip_suffix(':')?.trim().to_owned();
    let (time, date) = stamp.split_once(',')?;
    // Chrome writes "8:19 PM" with a narrow no-break space.
    let time = time.trim().replace(['\u{202f}', '\u{a0}'], " ");
    let (clock, meridiem) = match time.rsplit_once(' ') {
        Some((clock, m)) if m.eq_ignore_ascii_case("am") || m.eq_ignore_ascii_case("pm") => {
            (clock.trim(), Some(m.eq_ignore_ascii_case("pm")))
        }
        _ => (time.as_str(), None),
    };
    let (hour, minute) = clock.split_once([':', '.'])?;
    let mut hour: u32 = hour.trim().parse().ok()?;
    let minute: u32 = minute.trim().parse().ok()?;
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour = match (pm, hour) {
            (false, 12) => 0,
            (true, 12) => 12,
            (true, h) => h + 12,
            (false, h) => h,
        };
    }
    let date = date.trim();
    let separator = if date.contains('/') { '/' } else { '.' };
    let fields: Vec<&str> = date.split(separator).map(str::trim).collect();
    let [a, b, year] = fields.as_slice() else {
        return None;
    };
    let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
    let year: i32 = year.parse().ok()?;
    // A day past 12 says the order; otherwise the 12-hour clock is the US locale, which writes
    // month first, and everyone else writes the day first.
    let month_first = match (a > 12, b > 12) {
        (true, _) => false,
        (_, true) => true,
        _ => meridiem.is_some(),
    };
    let (month, day) = if month_first { (a, b) } else { (b, a) };
    let at = LocalMinute {
        year: if year < 100 { 2000 + year } else { year },
        month,
        day,
        hour,
        minute,
    };
    let valid = (1..=12).contains(&at.month)
        && (1..=31).contains(&at.day)
        && at.hour < 24
        && at.minute < 60;
    valid.then_some(PrePlainText { at, author })
}

/// Strips the invisible direction marks WhatsApp wraps names in and collapses whitespace, so a
/// title compares equal to what the server stored.
pub fn normalize_title(title: &str) -> String {
    let cleaned: String = title
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An unsaved contact is titled by its formatted phone number (`+91 98765 43210`); its chat id
/// follows from the digits.
pub fn chat_from_phone_title(title: &str) -> Option<ChatId> {
    let title = normalize_title(title);
    let rest = title.strip_prefix('+')?;
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    ChatId::parse(&format!("{digits}@c.us")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_ids_of_every_chat_kind() {
        let direct = parse_data_id("false_919876543210@c.us_3EB0C431C4B9A1F2E5D7").unwrap();
        assert!(!direct.from_me);
        assert_eq!(direct.chat_id.as_str(), "919876543210@c.us");
        assert_eq!(direct.message_id, "3EB0C431C4B9A1F2E5D7");
        assert_eq!(direct.participant, None);

        let lid = parse_data_id("false_179950657237125@lid_ACCFD0B5").unwrap();
        assert_eq!(lid.chat_id.kind(), protocol::ChatKind::Lid);

        let group =
            parse_data_id("false_972503235812-1352922145@g.us_3F0A1B2C_972503235812@c.us").unwrap();
        assert_eq!(group.chat_id.as_str(), "972503235812-1352922145@g.us");
        assert_eq!(group.participant.as_deref(), Some("972503235812@c.us"));

        let mine = parse_data_id("true_120363041234567890@g.us_3EB0AA").unwrap();
        assert!(mine.from_me);
    }

    #[test]
    fn other_data_ids_are_not_messages() {
        for bad in [
            "",
            "maybe_919876543210@c.us_3EB0",
            "true_919876543210_3EB0",
            "true_919876543210@c.us_",
            "true_919876543210@c.us_3EB0_a_b",
            "true_status@broadcast_3EB0",
            "true_919876543210@c.us_3E-B0",
        ] {
            assert_eq!(parse_data_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn message_rows_of_today_and_of_old_builds() {
        assert_eq!(
            dom_message("3EB0C431C4B9A1F2E5D7", || Some(true)),
            Some(DomMessage {
                message_id: "3EB0C431C4B9A1F2E5D7".into(),
                from_me: true,
                chat_id: None,
                sent_at: None,
            })
        );
        let legacy = dom_message("false_179950657237125@lid_ACCFD0B5", || {
            unreachable!("an old data-id says its direction itself")
        })
        .unwrap();
        assert_eq!(legacy.message_id, "ACCFD0B5");
        assert!(!legacy.from_me);
        assert_eq!(legacy.chat_id.unwrap().as_str(), "179950657237125@lid");
        assert_eq!(dom_message("3EB0C431", || None), None, "no direction");
        assert_eq!(dom_message("not an id", || Some(false)), None);
        assert_eq!(dom_message("", || Some(false)), None);
    }

    #[test]
    fn rows_know_their_place_from_their_offset() {
        let style = "z-index: 291; transition: none 0s ease 0s; height: 72px; transform: translateY(648px);";
        assert_eq!(row_position(style, || 0), Some(9));
        assert_eq!(
            row_position("position:absolute;transform: translateY(144px)", || 72),
            Some(2)
        );
        assert_eq!(
            row_position("transform: translateY(143.6px); height: 71.9px", || 0),
            Some(2)
        );
        assert_eq!(
            row_position("transform: translateY(0px); height: 72px", || {
                unreachable!("the style gives the height: nothing is measured")
            }),
            Some(0)
        );
        assert_eq!(row_position("height: 72px", || 0), None, "no offset");
        assert_eq!(
            row_position("transform: translateY(144px)", || 0),
            None,
            "no height"
        );
        assert_eq!(
            row_position("transform: translateY(-72px); height: 72px", || 0),
            None
        );
        assert_eq!(
            row_position("transform: translateY(2em); height: 72px", || 0),
            None
        );
    }

    #[test]
    fn pre_plain_text_as_chrome_writes_it_and_dates_only_one_way_readable() {
        let us = parse_pre_plain_text("[8:19\u{202f}PM, 6/13/2026] Demo Team: ").unwrap();
        assert_eq!((us.at.hour, us.at.month, us.at.day), (20, 6, 13));
        // A 24-hour clock with a month-first date whose day is past 12.
        let odd = parse_pre_plain_text("[20:19, 6/13/2026] A: ").unwrap();
        assert_eq!((odd.at.month, odd.at.day), (6, 13));
        let gb = parse_pre_plain_text("[9:05\u{a0}am, 25/11/2026] A: ").unwrap();
        assert_eq!((gb.at.hour, gb.at.month, gb.at.day), (9, 11, 25));
    }

    #[test]
    fn pre_plain_text_in_three_locales() {
        let gb = parse_pre_plain_text("[10:42, 25/11/2026] Priya Sharma: ").unwrap();
        assert_eq!(gb.author, "Priya Sharma");
        assert_eq!(
            gb.at,
            LocalMinute {
                year: 2026,
                month: 11,
                day: 25,
                hour: 10,
                minute: 42
            }
        );
        let us = parse_pre_plain_text("[8:19 PM, 6/13/2026] Asha: ").unwrap();
        assert_eq!(
            us.at,
            LocalMinute {
                year: 2026,
                month: 6,
                day: 13,
                hour: 20,
                minute: 19
            }
        );
        let midnight = parse_pre_plain_text("[12:05 AM, 1/2/2026] A: ").unwrap();
        assert_eq!(
            (midnight.at.hour, midnight.at.month, midnight.at.day),
            (0, 1, 2)
        );
        let de = parse_pre_plain_text("[10:42, 25.11.2026] Jörg: ").unwrap();
        assert_eq!(
            (de.at.day, de.at.month, de.author.as_str()),
            (25, 11, "Jörg")
        );
    }

    #[test]
    fn unknown_timestamp_formats_are_refused() {
        for bad in [
            "10:42 Priya:",
            "[10:42] Priya: ",
            "[25:42, 25/11/2026] P: ",
            "[10:42, 25/13/2026] P: ",
            "[13:00 PM, 1/1/2026] P: ",
            "[10:42, 25/11/2026] no colon",
        ] {
            assert_eq!(parse_pre_plain_text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn titles_are_normalised_and_phones_become_chat_ids() {
        assert_eq!(
            normalize_title("\u{202a}  Priya \u{7}  Sharma\u{202c} "),
            "Priya Sharma"
        );
        assert_eq!(
            chat_from_phone_title("\u{202a}+91 98765 43210\u{202c}")
                .unwrap()
                .as_str(),
            "919876543210@c.us"
        );
        assert_eq!(
            chat_from_phone_title("+1 (555) 123-4567").unwrap().as_str(),
            "15551234567@c.us"
        );
        assert_eq!(chat_from_phone_title("Priya"), None);
        assert_eq!(chat_from_phone_title("+91 Priya"), None);
        assert_eq!(chat_from_phone_title("+12"), None);
    }
}
