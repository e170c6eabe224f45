//! What the MAIN-world bridge (`extension/bridge.js`) reports, validated, and what it tells us.
//!
//! The bridge reads WhatsApp's own modules in the page's MAIN world, which the page and other
//! extensions share: anything there can be read or forged. So the bridge holds no token and makes
//! no server call, it hands its reports over on a `MessageChannel` set up at `document_start`
//! (before any page script runs, so no page script holds the other end), and every report is
//! checked here before it changes anything: the version, every id against WhatsApp's JID grammar,
//! lengths and counts. Even then its answers are hints that decide what is shown: a row or the
//! open chat is identified only when the bridge's title for the chat is the title WhatsApp shows.
//!
//! Reports are versioned JSON objects, `{"v": 1, "type": …}`:
//! - `status`: which of WhatsApp's modules were found (`modules: {chats, active, messages}`) and
//!   how (`via`: `name` or `scan`);
//! - `chats`: every chat in WhatsApp's list order, `[{id, title, alias?, archived?}]`;
//! - `active`: the open chat, `{id, title, alias?}` or `null`;
//! - `message`: a new message, `{id, chat, from_me, t}` (WhatsApp's id and time in seconds;
//!   never its text).

use std::collections::HashMap;

use protocol::{ChatId, Millis};
use serde::{Deserialize, Serialize};

use super::Claim;
use crate::adapter::normalize_title;

/// The report version this core understands.
pub const BRIDGE_VERSION: u32 = 1;
/// More chats than any real account shows; a longer list is refused as forged or broken.
const MAX_CHATS: usize = 20_000;
const MAX_TITLE_CHARS: usize = 200;
/// WhatsApp's timestamps are seconds; anything outside these years is not a real message time.
const EARLIEST_SECONDS: f64 = 1_230_768_000.0; // 2009-01-01
const LATEST_SECONDS: f64 = 4_102_444_800.0; // 2100-01-01

/// A report as it arrives, before validation. One flat shape for every type keeps the decoder
/// small (no tagged enums) and lets unknown types be refused by name.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawReport {
    #[serde(default)]
    pub v: u32,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub modules: Option<RawModules>,
    #[serde(default)]
    pub via: Option<String>,
    #[serde(default)]
    pub chats: Option<Vec<RawChat>>,
    #[serde(default)]
    pub chat: Option<RawChat>,
    #[serde(default)]
    pub message: Option<RawMessage>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawModules {
    #[serde(default)]
    pub chats: bool,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub messages: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawChat {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub chat: String,
    #[serde(default)]
    pub from_me: Option<bool>,
    #[serde(default)]
    pub t: Option<f64>,
}

/// Why a report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BridgeError {
    #[error("report version {0} is not {BRIDGE_VERSION}")]
    Version(u32),
    #[error("unknown report type {0:?}")]
    UnknownType(String),
    #[error("a {0} report without its {1}")]
    Missing(&'static str, &'static str),
    #[error("{0:?} is not a WhatsApp chat id")]
    ChatId(String),
    #[error("alias {0:?} is not the other id of the same person")]
    Alias(String),
    #[error("a chat title must be 1 to {MAX_TITLE_CHARS} characters of text")]
    Title,
    #[error("{0:?} is not a WhatsApp message id")]
    MessageId(String),
    #[error("a message time must be WhatsApp's, in seconds")]
    Time,
    #[error("a chat list of {0} chats is longer than any real one")]
    TooMany(usize),
    #[error("chat {0} appears twice in the list")]
    Duplicate(String),
}

/// Which of WhatsApp's modules the bridge found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStatus {
    pub chats: bool,
    pub active: bool,
    pub messages: bool,
    /// `name` (the documented module names) or `scan` (found by shape among all modules).
    pub via: String,
}

/// A chat as the bridge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeChat {
    pub id: ChatId,
    /// The other id of the same person (`@c.us` for an `@lid` chat, or the reverse), if known.
    pub alias: Option<ChatId>,
    /// Normalised as [`normalize_title`] does, for comparison with the DOM.
    pub title: String,
    pub archived: bool,
}

/// A new message in any chat, open or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub chat_id: ChatId,
    pub from_me: bool,
    /// WhatsApp's own send time.
    pub sent_at: Millis,
}

/// A validated report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Status(BridgeStatus),
    Chats(Vec<BridgeChat>),
    Active(Option<BridgeChat>),
    Message(NewMessage),
}

fn chat_id(raw: &str) -> Result<ChatId, BridgeError> {
    ChatId::parse(raw).map_err(|_| BridgeError::ChatId(truncated(raw)))
}

fn truncated(raw: &str) -> String {
    raw.chars().take(40).collect()
}

fn chat(raw: RawChat) -> Result<BridgeChat, BridgeError> {
    let id = chat_id(&raw.id)?;
    let alias = match raw.alias.as_deref() {
        None | Some("") => None,
        Some(alias) => {
            let alias = chat_id(alias)?;
            if !id.can_alias(&alias) {
                return Err(BridgeError::Alias(truncated(alias.as_str())));
            }
            Some(alias)
        }
    };
    if raw.title.chars().any(|c| c.is_control()) {
        return Err(BridgeError::Title);
    }
    let title = normalize_title(&raw.title);
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(BridgeError::Title);
    }
    Ok(BridgeChat {
        id,
        alias,
        title,
        archived: raw.archived,
    })
}

fn message(raw: RawMessage) -> Result<NewMessage, BridgeError> {
    if !crate::adapter::is_bare_message_id(&raw.id) {
        return Err(BridgeError::MessageId(truncated(&raw.id)));
    }
    let chat_id = chat_id(&raw.chat)?;
    let from_me = raw
        .from_me
        .ok_or(BridgeError::Missing("message", "from_me"))?;
    let seconds = raw.t.ok_or(BridgeError::Time)?;
    if !(EARLIEST_SECONDS..LATEST_SECONDS).contains(&seconds) {
        return Err(BridgeError::Time);
    }
    Ok(NewMessage {
        id: raw.id,
        chat_id,
        from_me,
        sent_at: (seconds * 1000.0) as Millis,
    })
}

/// Checks a report and turns it into facts.
pub fn validate(raw: RawReport) -> Result<Report, BridgeError> {
    if raw.v != BRIDGE_VERSION {
        return Err(BridgeError::Version(raw.v));
    }
    match raw.kind.as_str() {
        "status" => {
            let modules = raw
                .modules
                .ok_or(BridgeError::Missing("status", "modules"))?;
            let via = match raw.via.as_deref() {
                Some("name") => "name",
                Some("scan") => "scan",
                _ => "none",
            };
            Ok(Report::Status(BridgeStatus {
                chats: modules.chats,
                active: modules.active,
                messages: modules.messages,
                via: via.to_owned(),
            }))
        }
        "chats" => {
            let raw_chats = raw.chats.ok_or(BridgeError::Missing("chats", "chats"))?;
            if raw_chats.len() > MAX_CHATS {
                return Err(BridgeError::TooMany(raw_chats.len()));
            }
            let chats = raw_chats
                .into_iter()
                .map(chat)
                .collect::<Result<Vec<_>, _>>()?;
            let mut seen = std::collections::HashSet::new();
            for chat in &chats {
                if !seen.insert(&chat.id) {
                    return Err(BridgeError::Duplicate(chat.id.to_string()));
                }
            }
            Ok(Report::Chats(chats))
        }
        "active" => Ok(Report::Active(raw.chat.map(chat).transpose()?)),
        "message" => Ok(Report::Message(message(
            raw.message
                .ok_or(BridgeError::Missing("message", "message"))?,
        )?)),
        other => Err(BridgeError::UnknownType(truncated(other))),
    }
}

/// Where a chat-list row sits and what it shows, as read from the DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFacts {
    /// Normalised title.
    pub title: String,
    /// Its place in the list (0 = top), from its offset in the virtualised list.
    pub position: Option<u32>,
}

/// What the bridge has told this tab so far.
#[derive(Debug, Clone, Default)]
pub struct BridgeView {
    /// The private channel to the bridge exists.
    pub connected: bool,
    pub status: Option<BridgeStatus>,
    /// Every chat, in WhatsApp's list order.
    chats: Vec<BridgeChat>,
    /// Indices into `chats` of those in the main list (not archived), in order.
    listed: Vec<usize>,
    /// For each chat (same index as `chats`), its place in `listed`.
    place: Vec<Option<usize>>,
    by_title: HashMap<String, Vec<usize>>,
    /// Chat ids and aliases → index into `chats`.
    by_id: HashMap<ChatId, usize>,
    /// The open chat, as last reported.
    pub active: Option<BridgeChat>,
    /// Reports refused.
    pub rejected: u32,
}

impl BridgeView {
    /// A view of a bridge whose private channel exists (`connected`) or not.
    pub fn new(connected: bool) -> BridgeView {
        BridgeView {
            connected,
            ..BridgeView::default()
        }
    }

    /// Applies a report; a new message is handed back for reporting to the server.
    pub fn receive(&mut self, raw: RawReport) -> Result<Option<NewMessage>, BridgeError> {
        let report = match validate(raw) {
            Ok(report) => report,
            Err(err) => {
                self.rejected += 1;
                return Err(err);
            }
        };
        match report {
            Report::Status(status) => self.status = Some(status),
            Report::Chats(chats) => self.set_chats(chats),
            Report::Active(active) => self.active = active,
            Report::Message(message) => return Ok(Some(message)),
        }
        Ok(None)
    }

    fn set_chats(&mut self, chats: Vec<BridgeChat>) {
        self.by_title.clear();
        self.by_id.clear();
        self.listed.clear();
        self.place.clear();
        for (index, chat) in chats.iter().enumerate() {
            self.by_title
                .entry(chat.title.clone())
                .or_default()
                .push(index);
            self.by_id.insert(chat.id.clone(), index);
            if let Some(alias) = &chat.alias {
                self.by_id.entry(alias.clone()).or_insert(index);
            }
            if chat.archived {
                self.place.push(None);
            } else {
                self.place.push(Some(self.listed.len()));
                self.listed.push(index);
            }
        }
        self.chats = chats;
    }

    /// WhatsApp's chat list is readable: rows can be identified.
    pub fn answers_rows(&self) -> bool {
        self.connected && self.status.as_ref().is_some_and(|s| s.chats)
    }

    /// WhatsApp's active chat is readable: the open chat can be identified.
    pub fn answers_open_chat(&self) -> bool {
        self.connected && self.status.as_ref().is_some_and(|s| s.active)
    }

    /// WhatsApp's new messages are reported, in every chat.
    pub fn answers_messages(&self) -> bool {
        self.connected && self.status.as_ref().is_some_and(|s| s.messages)
    }

    pub fn chat_count(&self) -> usize {
        self.chats.len()
    }

    /// The chat with this id or alias.
    pub fn chat(&self, chat_id: &ChatId) -> Option<&BridgeChat> {
        self.by_id.get(chat_id).map(|&i| &self.chats[i])
    }

    /// Whether two ids name the same chat (equal, or one the other's alias).
    pub fn same_chat(&self, a: &ChatId, b: &ChatId) -> bool {
        a == b
            || self
                .chat(a)
                .is_some_and(|c| &c.id == b || c.alias.as_ref() == Some(b))
    }

    /// What the bridge says about the open chat, whose header shows `header_title`
    /// (normalised). Its active chat counts only if its title is the one shown; if it names
    /// another chat, the page and the bridge disagree and nothing is settled.
    pub fn claim_for_open(&self, header_title: &str) -> Option<Claim> {
        if !self.answers_open_chat() {
            return None;
        }
        Some(match &self.active {
            Some(active) if active.title == header_title => Claim::One(active.id.clone()),
            // Another chat, or none while the page shows one: the bridge has not caught up with
            // the page yet (or the page is mid-switch). Not a reason to fall back on names.
            Some(_) | None => Claim::Contradicted,
        })
    }

    /// What the bridge says about each rendered row. A title that names one chat settles the
    /// row. Twins are told apart by position: the rows whose titles are unique fix how the
    /// rendered list lines up with WhatsApp's list, and a twin is the chat at its own position
    /// — but only if every rendered row lines up the same way (a list caught mid re-order, or
    /// filtered, leaves twins unsettled).
    pub fn claims_for_rows(&self, rows: &[RowFacts]) -> Option<Vec<Claim>> {
        if !self.answers_rows() {
            return None;
        }
        let offset = self.alignment(rows);
        Some(
            rows.iter()
                .map(|row| {
                    let candidates = self.by_title.get(&row.title).map_or(&[][..], Vec::as_slice);
                    match candidates {
                        [] => Claim::Nothing,
                        [one] => Claim::One(self.chats[*one].id.clone()),
                        _ => offset
                            .zip(row.position)
                            .and_then(|(offset, position)| {
                                let at = usize::try_from(i64::from(position) + offset).ok()?;
                                let chat = &self.chats[*self.listed.get(at)?];
                                (chat.title == row.title).then(|| Claim::One(chat.id.clone()))
                            })
                            .unwrap_or(Claim::Several),
                    }
                })
                .collect(),
        )
    }

    /// How far WhatsApp's list index is from the rendered position, if every row agrees. Rows
    /// whose title the bridge does not know (a header item, a chat not listed yet) are left out.
    fn alignment(&self, rows: &[RowFacts]) -> Option<i64> {
        let mut offset = None;
        for row in rows {
            let (Some(position), Some([only])) = (
                row.position,
                self.by_title.get(&row.title).map(Vec::as_slice),
            ) else {
                continue;
            };
            let place = i64::try_from(self.place[*only]?).ok()?;
            let this = place - i64::from(position);
            match offset {
                None => offset = Some(this),
                Some(known) if known == this => {}
                Some(_) => return None,
            }
        }
        let offset = offset?;
        // Every rendered row of a known title must show the chat at its aligned place.
        let lined_up = rows.iter().all(|row| {
            let Some(position) = row
                .position
                .filter(|_| self.by_title.contains_key(&row.title))
            else {
                return true;
            };
            usize::try_from(i64::from(position) + offset)
                .ok()
                .and_then(|at| self.listed.get(at))
                .is_some_and(|&index| self.chats[index].title == row.title)
        });
        lined_up.then_some(offset)
    }
}

/// How many conversations one tab may ask the server to create from messages in chats nobody
/// opened: a burst as large as a phone's backlog after a night offline, then a few per second. A
/// bridge gone wrong (or a page feeding it) cannot fill the team's list with thousands of chats;
/// messages beyond it are still reported, for conversations that exist.
#[derive(Debug, Clone, PartialEq)]
pub struct CreationBudget {
    tokens: f64,
    at_ms: i64,
}

impl CreationBudget {
    pub const BURST: f64 = 300.0;
    pub const PER_SECOND: f64 = 2.0;

    pub fn new(now_ms: i64) -> CreationBudget {
        CreationBudget {
            tokens: Self::BURST,
            at_ms: now_ms,
        }
    }

    /// Whether one more conversation may be created now; spends it if so.
    pub fn spend(&mut self, now_ms: i64) -> bool {
        let elapsed = (now_ms - self.at_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * Self::PER_SECOND).min(Self::BURST);
        self.at_ms = now_ms.max(self.at_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> RawReport {
        serde_json::from_value(json).unwrap()
    }

    fn chats_report(chats: &[(&str, &str)]) -> RawReport {
        raw(serde_json::json!({
            "v": 1,
            "type": "chats",
            "chats": chats.iter().map(|(id, title)| serde_json::json!({"id": id, "title": title})).collect::<Vec<_>>(),
        }))
    }

    fn ready() -> BridgeView {
        let mut view = BridgeView::new(true);
        view.receive(raw(serde_json::json!({
            "v": 1, "type": "status", "via": "name",
            "modules": {"chats": true, "active": true, "messages": true},
        })))
        .unwrap();
        view
    }

    fn row(title: &str, position: u32) -> RowFacts {
        RowFacts {
            title: title.into(),
            position: Some(position),
        }
    }

    fn one(raw: &str) -> Claim {
        Claim::One(ChatId::parse(raw).unwrap())
    }

    #[test]
    fn status_chats_active_and_messages_are_read() {
        let mut view = ready();
        assert!(view.answers_rows() && view.answers_open_chat());
        view.receive(raw(serde_json::json!({"v": 1, "type": "chats", "chats": [
            {"id": "179950657200007@lid", "title": "+91 98765 00007", "alias": "919876500007@c.us"},
            {"id": "120363041200000005@g.us", "title": "Tower B buyers", "archived": true},
        ]})))
        .unwrap();
        assert_eq!(view.chat_count(), 2);
        let lid = ChatId::parse("179950657200007@lid").unwrap();
        let phone = ChatId::parse("919876500007@c.us").unwrap();
        assert_eq!(view.chat(&phone).unwrap().id, lid, "found by its alias");
        assert!(view.same_chat(&lid, &phone) && view.same_chat(&phone, &lid));

        view.receive(raw(serde_json::json!({"v": 1, "type": "active",
            "chat": {"id": "179950657200007@lid", "title": "\u{202a}+91 98765 00007\u{202c}"}})))
            .unwrap();
        assert_eq!(
            view.claim_for_open("+91 98765 00007"),
            Some(Claim::One(lid.clone()))
        );
        assert_eq!(
            view.claim_for_open("Priya Sharma"),
            Some(Claim::Contradicted)
        );
        view.receive(raw(
            serde_json::json!({"v": 1, "type": "active", "chat": null}),
        ))
        .unwrap();
        assert_eq!(
            view.claim_for_open("+91 98765 00007"),
            Some(Claim::Contradicted),
            "no chat open by the bridge's account while the page shows one: not caught up yet"
        );

        let message = view
            .receive(raw(serde_json::json!({"v": 1, "type": "message", "message":
                {"id": "3EB0C431C4B9A1F2E5D7", "chat": "179950657200007@lid", "from_me": false, "t": 1_795_000_000}})))
            .unwrap()
            .unwrap();
        assert_eq!(message.chat_id, lid);
        assert_eq!(message.sent_at, 1_795_000_000_000);
        assert!(!message.from_me);
    }

    #[test]
    fn forged_and_malformed_reports_are_refused_and_change_nothing() {
        let mut view = ready();
        view.receive(chats_report(&[("919876500001@c.us", "Priya Sharma")]))
            .unwrap();
        let bad = [
            (
                serde_json::json!({"v": 2, "type": "chats", "chats": []}),
                BridgeError::Version(2),
            ),
            (
                serde_json::json!({"type": "chats", "chats": []}),
                BridgeError::Version(0),
            ),
            (
                serde_json::json!({"v": 1, "type": "owner", "chat": {"id": "919876500001@c.us", "title": "x"}}),
                BridgeError::UnknownType("owner".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [{"id": "919876500001@c.us\"><img>", "title": "x"}]}),
                BridgeError::ChatId("919876500001@c.us\"><img>".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [{"id": "status@broadcast", "title": "x"}]}),
                BridgeError::ChatId("status@broadcast".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [{"id": "919876500001@c.us", "title": ""}]}),
                BridgeError::Title,
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [{"id": "919876500001@c.us", "title": "a\u{0}b"}]}),
                BridgeError::Title,
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [{"id": "919876500001@c.us", "title": "x".repeat(201)}]}),
                BridgeError::Title,
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [
                {"id": "919876500001@c.us", "title": "A"}, {"id": "919876500001@c.us", "title": "B"}]}),
                BridgeError::Duplicate("919876500001@c.us".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [
                {"id": "919876500001@c.us", "title": "A", "alias": "919876500002@c.us"}]}),
                BridgeError::Alias("919876500002@c.us".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "chats", "chats": [
                {"id": "120363041200000005@g.us", "title": "A", "alias": "179950657200007@lid"}]}),
                BridgeError::Alias("179950657200007@lid".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "active", "chat": {"id": "1@c.us", "title": "A"}}),
                BridgeError::ChatId("1@c.us".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "message", "message":
                {"id": "3EB0 <b>", "chat": "919876500001@c.us", "from_me": true, "t": 1_795_000_000}}),
                BridgeError::MessageId("3EB0 <b>".into()),
            ),
            (
                serde_json::json!({"v": 1, "type": "message", "message":
                {"id": "3EB0", "chat": "919876500001@c.us", "from_me": true, "t": 1_795_000_000_000_i64}}),
                BridgeError::Time,
            ),
            (
                serde_json::json!({"v": 1, "type": "message", "message":
                {"id": "3EB0", "chat": "919876500001@c.us", "t": 1_795_000_000}}),
                BridgeError::Missing("message", "from_me"),
            ),
            (
                serde_json::json!({"v": 1, "type": "status"}),
                BridgeError::Missing("status", "modules"),
            ),
        ];
        for (report, why) in bad.clone() {
            assert_eq!(view.receive(raw(report)), Err(why));
        }
        assert_eq!(view.rejected, u32::try_from(bad.len()).unwrap());
        let priya = ChatId::parse("919876500001@c.us").unwrap();
        assert_eq!(
            view.chat(&priya).unwrap().title,
            "Priya Sharma",
            "unchanged"
        );
    }

    #[test]
    fn too_long_a_list_is_refused() {
        let chats: Vec<serde_json::Value> = (0..=MAX_CHATS)
            .map(|n| serde_json::json!({"id": format!("91987{n:07}@c.us"), "title": "x"}))
            .collect();
        let mut view = ready();
        let error = view
            .receive(raw(
                serde_json::json!({"v": 1, "type": "chats", "chats": chats}),
            ))
            .unwrap_err();
        assert_eq!(error, BridgeError::TooMany(MAX_CHATS + 1));
    }

    #[test]
    fn nothing_is_claimed_before_the_modules_answer() {
        let mut view = BridgeView::new(true);
        view.receive(chats_report(&[("919876500001@c.us", "Priya Sharma")]))
            .unwrap();
        assert_eq!(view.claims_for_rows(&[row("Priya Sharma", 0)]), None);
        assert_eq!(view.claim_for_open("Priya Sharma"), None);
        // A status without the private channel does not count either.
        let mut unconnected = ready();
        unconnected.connected = false;
        assert!(!unconnected.answers_rows());
    }

    #[test]
    fn twins_are_told_apart_by_their_place_in_the_list() {
        let mut view = ready();
        view.receive(chats_report(&[
            ("919876500001@c.us", "Rahul Verma"),
            ("919876500060@c.us", "Priya Sharma"),
            ("919876500002@c.us", "Anita Iyer"),
            ("919876500061@c.us", "Priya Sharma"),
            ("919876500003@c.us", "Vikram Nair"),
        ]))
        .unwrap();
        // The rendered window starts at list position 1.
        let rows = [
            row("Priya Sharma", 1),
            row("Anita Iyer", 2),
            row("Priya Sharma", 3),
            row("Vikram Nair", 4),
        ];
        assert_eq!(
            view.claims_for_rows(&rows).unwrap(),
            vec![
                one("919876500060@c.us"),
                one("919876500002@c.us"),
                one("919876500061@c.us"),
                one("919876500003@c.us"),
            ]
        );
        // A header item above the list shifts every row by one: still consistent.
        let shifted: Vec<RowFacts> = rows
            .iter()
            .map(|r| row(&r.title, r.position.unwrap() + 1))
            .collect();
        assert_eq!(
            view.claims_for_rows(&shifted).unwrap()[2],
            one("919876500061@c.us")
        );
    }

    #[test]
    fn twins_stay_unsettled_when_the_list_does_not_line_up() {
        let mut view = ready();
        view.receive(chats_report(&[
            ("919876500001@c.us", "Rahul Verma"),
            ("919876500060@c.us", "Priya Sharma"),
            ("919876500002@c.us", "Anita Iyer"),
            ("919876500061@c.us", "Priya Sharma"),
        ]))
        .unwrap();
        // The page re-ordered before the bridge's next list: Anita moved to the top.
        let rows = [
            row("Anita Iyer", 0),
            row("Rahul Verma", 1),
            row("Priya Sharma", 2),
            row("Priya Sharma", 3),
        ];
        let claims = view.claims_for_rows(&rows).unwrap();
        assert_eq!(
            claims[0],
            one("919876500002@c.us"),
            "unique titles still settle"
        );
        assert_eq!(claims[2], Claim::Several);
        assert_eq!(claims[3], Claim::Several);
        // A row WhatsApp's list does not have (a header item) does not spoil the alignment.
        let with_header = [
            row("Archived", 0),
            row("Rahul Verma", 1),
            row("Priya Sharma", 2),
            row("Anita Iyer", 3),
            row("Priya Sharma", 4),
        ];
        assert_eq!(
            view.claims_for_rows(&with_header).unwrap()[4],
            one("919876500061@c.us")
        );
        // Without positions or unique neighbours nothing lines up either.
        let alone = [RowFacts {
            title: "Priya Sharma".into(),
            position: None,
        }];
        assert_eq!(view.claims_for_rows(&alone).unwrap(), vec![Claim::Several]);
        // An unknown title is not a claim.
        assert_eq!(
            view.claims_for_rows(&[row("Someone New", 0)]).unwrap(),
            vec![Claim::Nothing]
        );
    }

    #[test]
    fn archived_chats_are_not_in_the_rendered_list() {
        let mut view = ready();
        view.receive(raw(serde_json::json!({"v": 1, "type": "chats", "chats": [
            {"id": "919876500001@c.us", "title": "Rahul Verma"},
            {"id": "919876500009@c.us", "title": "Old lead", "archived": true},
            {"id": "919876500060@c.us", "title": "Priya Sharma"},
            {"id": "919876500061@c.us", "title": "Priya Sharma"},
        ]})))
        .unwrap();
        let rows = [
            row("Rahul Verma", 0),
            row("Priya Sharma", 1),
            row("Priya Sharma", 2),
        ];
        assert_eq!(
            view.claims_for_rows(&rows).unwrap(),
            vec![
                one("919876500001@c.us"),
                one("919876500060@c.us"),
                one("919876500061@c.us")
            ]
        );
    }

    #[test]
    fn a_tab_creates_a_burst_of_conversations_then_a_few_per_second() {
        let mut budget = CreationBudget::new(1_000);
        let burst = (0..1_000).filter(|_| budget.spend(1_000)).count();
        assert_eq!(burst, CreationBudget::BURST as usize);
        assert!(!budget.spend(1_000));
        // Half a second buys one more; a clock going backwards buys nothing.
        assert!(budget.spend(1_500));
        assert!(!budget.spend(1_400));
        // A long quiet refills to the burst, not beyond.
        let mut later = (0..1_000).filter(|_| budget.spend(10_000_000)).count();
        assert_eq!(later, CreationBudget::BURST as usize);
        later = (0..10).filter(|_| budget.spend(10_000_000)).count();
        assert_eq!(later, 0);
    }
}
