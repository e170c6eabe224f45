//! Which WhatsApp chat is which: one answer for every chat-list row and for the open chat, each
//! with the source it came from, arbitrated between the sources that can tell.
//!
//! Since April 2026 WhatsApp Web's DOM carries no chat id at all, so the sources are, in order of
//! trust:
//! 1. [`Source::Bridge`]: WhatsApp's own chat collection, read in the page's MAIN world by
//!    `extension/bridge.js` and handed over on a private message channel (see [`bridge`]);
//! 2. [`Source::MessageIds`]: the legacy message `data-id` (`false_<chat>_<id>`), present only on
//!    WhatsApp Web builds from before April 2026;
//! 3. [`Source::IndexedDb`]: WhatsApp's own `model-storage` database (ids and names, no change
//!    events), read by the overlay when the bridge is not answering;
//! 4. [`Source::PhoneTitle`]: an unsaved contact's title is its phone number;
//! 5. [`Source::KnownTitle`]: the title a chat had when someone on the team opened it.
//!
//! A name is not an identity: two contacts can share one, and a phone number names the `@c.us`
//! id while WhatsApp may key the chat by `@lid`. So the sources are cross-checked, and when they
//! disagree, or the most trusted one that answers cannot tell twins apart, the answer is
//! [`Verdict::Unsure`]: the overlay shows "?" rather than a confident wrong owner.

pub mod bridge;
pub mod names;

use protocol::{ChatId, ChatKind};
use serde::{Deserialize, Serialize};

use crate::adapter::{chat_from_phone_title, normalize_title};
pub use bridge::{BridgeView, NewMessage, RowFacts};
pub use names::NameIndex;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Bridge,
    MessageIds,
    IndexedDb,
    PhoneTitle,
    KnownTitle,
}

impl Source {
    /// The source's name on the wire and in `data-source` attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Bridge => "bridge",
            Source::MessageIds => "message_ids",
            Source::IndexedDb => "indexed_db",
            Source::PhoneTitle => "phone_title",
            Source::KnownTitle => "known_title",
        }
    }
}

/// What one source says about one chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This chat.
    One(ChatId),
    /// Several chats fit (twin names) and this source cannot tell which.
    Several,
    /// This source has nothing to say.
    Nothing,
    /// This source names a chat other than the one the page shows (the page may be mid-switch).
    Contradicted,
}

/// One source's claim, for [`arbitrate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub source: Source,
    pub claim: Claim,
}

impl Evidence {
    pub fn new(source: Source, claim: Claim) -> Evidence {
        Evidence { source, claim }
    }
}

/// Why a chat could not be identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubt {
    /// No source knows this chat.
    Unknown,
    /// Several chats carry this name and no source can tell them apart.
    SeveralNamed,
    /// Two sources name different chats.
    SourcesDisagree,
}

/// The outcome of arbitration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Known { chat_id: ChatId, source: Source },
    Unsure(Doubt),
}

impl Verdict {
    pub fn chat_id(&self) -> Option<&ChatId> {
        match self {
            Verdict::Known { chat_id, .. } => Some(chat_id),
            Verdict::Unsure(_) => None,
        }
    }
}

/// Decides between the sources' claims, given most trusted first. The most trusted source with
/// something to say leads: if it names one chat, every other source that names one must name the
/// same chat (`same_chat` knows `@lid`/`@c.us` aliases); if it can only say "one of several", a
/// weaker source's single name does not settle it (the weaker source may simply not know the twin).
pub fn arbitrate(evidence: &[Evidence], same_chat: impl Fn(&ChatId, &ChatId) -> bool) -> Verdict {
    let mut decided: Option<(Source, &ChatId)> = None;
    for item in evidence {
        match &item.claim {
            Claim::Nothing => {}
            Claim::Contradicted => return Verdict::Unsure(Doubt::SourcesDisagree),
            Claim::Several if decided.is_none() => return Verdict::Unsure(Doubt::SeveralNamed),
            Claim::Several => {}
            Claim::One(chat_id) => match decided {
                None => decided = Some((item.source, chat_id)),
                Some((_, first)) if same_chat(first, chat_id) => {}
                Some(_) => return Verdict::Unsure(Doubt::SourcesDisagree),
            },
        }
    }
    match decided {
        Some((source, chat_id)) => Verdict::Known {
            chat_id: chat_id.clone(),
            source,
        },
        None => Verdict::Unsure(Doubt::Unknown),
    }
}

/// Every source the overlay can ask, for one refresh.
pub struct Sources<'a> {
    pub bridge: &'a BridgeView,
    /// WhatsApp's IndexedDB, if it could be read.
    pub indexed_db: Option<&'a NameIndex>,
    /// The team's known titles (and aliases), from the server.
    pub known: &'a NameIndex,
}

impl Sources<'_> {
    /// Whether two ids name the same chat according to any source.
    pub fn same_chat(&self, a: &ChatId, b: &ChatId) -> bool {
        a == b
            || self.bridge.same_chat(a, b)
            || self.bridge.same_chat(b, a)
            || self.indexed_db.is_some_and(|idb| idb.same_chat(a, b))
            || self.known.same_chat(a, b)
    }

    /// A title that is a phone number names that number's `@c.us` id — unless a source knows the
    /// person's chat is keyed by `@lid`, which is then the chat.
    fn phone_claim(&self, title: &str) -> Claim {
        let Some(phone) = chat_from_phone_title(title) else {
            return Claim::Nothing;
        };
        let lid = self
            .bridge
            .chat(&phone)
            .map(|chat| chat.id.clone())
            .filter(|id| id.kind() == ChatKind::Lid)
            .or_else(|| {
                [self.indexed_db, Some(self.known)]
                    .into_iter()
                    .flatten()
                    .find_map(|index| index.alias(&phone).cloned())
                    .filter(|id| id.kind() == ChatKind::Lid)
            });
        Claim::One(lid.unwrap_or(phone))
    }

    /// The name sources' claims about `title`, most trusted first.
    fn by_name(&self, title: &str) -> [Evidence; 3] {
        [
            Evidence::new(
                Source::IndexedDb,
                self.indexed_db
                    .map_or(Claim::Nothing, |idb| idb.claim(title)),
            ),
            Evidence::new(Source::PhoneTitle, self.phone_claim(title)),
            Evidence::new(Source::KnownTitle, self.known.claim(title)),
        ]
    }

    /// Identifies the rendered chat-list rows. A row the bridge names is settled by it (it named
    /// the chat because its title is the row's); otherwise the name sources decide, and a twin
    /// the bridge could not place is not settled by a weaker source.
    pub fn identify_rows(&self, rows: &[RowFacts]) -> Vec<Verdict> {
        let bridge = self.bridge.claims_for_rows(rows);
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                let from_bridge = bridge
                    .as_ref()
                    .map_or(Claim::Nothing, |claims| claims[i].clone());
                if let Claim::One(chat_id) = from_bridge {
                    return Verdict::Known {
                        chat_id,
                        source: Source::Bridge,
                    };
                }
                let [idb, phone, known] = self.by_name(&row.title);
                arbitrate(
                    &[
                        Evidence::new(Source::Bridge, from_bridge),
                        idb,
                        phone,
                        known,
                    ],
                    |a, b| self.same_chat(a, b),
                )
            })
            .collect()
    }

    /// Identifies the open chat from its header title and, on builds before April 2026, the chat
    /// id in its messages' `data-id`s. The bridge's active chat counts only under the title it has
    /// in WhatsApp's list, and must agree with the message ids when there are any.
    pub fn identify_open(&self, header_title: &str, from_message_ids: Option<&ChatId>) -> Verdict {
        let title = normalize_title(header_title);
        let message_ids = Evidence::new(
            Source::MessageIds,
            from_message_ids.map_or(Claim::Nothing, |id| Claim::One(id.clone())),
        );
        let same = |a: &ChatId, b: &ChatId| self.same_chat(a, b);
        match self.bridge.claim_for_open(&title) {
            Some(claim @ Claim::One(_)) => {
                arbitrate(&[Evidence::new(Source::Bridge, claim), message_ids], same)
            }
            bridge => {
                let [idb, phone, known] = self.by_name(&title);
                arbitrate(
                    &[
                        Evidence::new(Source::Bridge, bridge.unwrap_or(Claim::Nothing)),
                        message_ids,
                        idb,
                        phone,
                        known,
                    ],
                    same,
                )
            }
        }
    }
}

/// How well this tab can tell chats apart, for the popup and the header bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityLevel {
    /// WhatsApp's own modules answer: every row and the open chat by their real id.
    Full,
    /// Names only (the bridge is not answering): twins and unknown names stay unidentified.
    Limited,
    /// Nothing can be identified (WhatsApp's layout is not recognised).
    Unavailable,
}

impl IdentityLevel {
    /// The level's name on the wire and in `data-level` attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityLevel::Full => "full",
            IdentityLevel::Limited => "limited",
            IdentityLevel::Unavailable => "unavailable",
        }
    }

    /// The words shown to people.
    pub fn label(self) -> &'static str {
        match self {
            IdentityLevel::Full => "Chat identity: full",
            IdentityLevel::Limited => "Chat identity: limited (names only)",
            IdentityLevel::Unavailable => "Chat identity: unavailable",
        }
    }
}

/// How one source is doing, for the diagnostics view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: Source,
    /// `answering`, `waiting`, `unavailable`, `not_needed` or `not_seen`, with detail in `note`.
    pub state: String,
    pub note: String,
    /// Chats this source knows of.
    pub chats_known: u32,
    /// Rendered rows (plus the open chat) this source identified in the last refresh.
    pub resolved: u32,
}

/// The tab's identity health: the level, what is missing, and each source's state. Holds counts
/// and module names only — never message text or chat names — so it can be copied into a bug
/// report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityHealth {
    pub level: IdentityLevel,
    /// The level in words ("Chat identity: full"), as shown.
    pub label: String,
    pub missing: Vec<String>,
    pub sources: Vec<SourceReport>,
    /// Rows rendered in the last refresh, and how many of them got a "?" (or nothing).
    pub rows: u32,
    pub rows_unsure: u32,
    /// Whether the open chat is identified (`None`: no chat open).
    pub open_chat_identified: Option<bool>,
    /// Bridge messages refused as malformed or forged.
    pub bridge_rejected: u32,
}

impl IdentityHealth {
    pub fn unknown() -> IdentityHealth {
        IdentityHealth {
            level: IdentityLevel::Limited,
            label: IdentityLevel::Limited.label().to_owned(),
            missing: Vec::new(),
            sources: Vec::new(),
            rows: 0,
            rows_unsure: 0,
            open_chat_identified: None,
            bridge_rejected: 0,
        }
    }
}

/// What the overlay saw in one refresh, for [`assess`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub rows: u32,
    pub rows_unsure: u32,
    /// Rows and open chat identified, per source.
    pub resolved: Vec<(Source, u32)>,
    /// `None`: no chat open.
    pub open_chat_identified: Option<bool>,
    /// Legacy `data-id`s with a chat id were on the page.
    pub legacy_message_ids: bool,
}

impl Tally {
    pub fn count(&mut self, source: Source) {
        match self.resolved.iter_mut().find(|(s, _)| *s == source) {
            Some((_, n)) => *n += 1,
            None => self.resolved.push((source, 1)),
        }
    }

    fn resolved_by(&self, source: Source) -> u32 {
        self.resolved
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(0, |(_, n)| *n)
    }
}

/// The state of the IndexedDB source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    NotRead,
    Read { chats: usize },
    Failed(String),
}

/// The tab's identity health from what each source did.
/// `waited_ms` is how long the page has been open, for "not found after N s".
pub fn assess(
    bridge: &BridgeView,
    indexed_db: &DbState,
    known_chats: usize,
    layout_recognised: bool,
    tally: &Tally,
    waited_ms: i64,
) -> IdentityHealth {
    let mut missing = Vec::new();
    let waited = waited_ms.max(0) / 1000;
    let bridge_state = if !bridge.connected {
        missing.push(
            "WhatsApp's modules: Baton's page script did not start in this tab (reload WhatsApp Web)"
                .to_owned(),
        );
        ("unavailable", "the page script did not connect".to_owned())
    } else if bridge.answers_rows() && bridge.answers_open_chat() {
        let via = bridge.status.as_ref().map_or("", |s| s.via.as_str());
        ("answering", format!("found by {via}"))
    } else {
        // The wait's length goes in the note only: `missing` is compared to decide whether the
        // health changed in kind, and a count of seconds would change it every second.
        missing.push("WhatsApp's chat list module (not found yet)".to_owned());
        (
            "waiting",
            format!("looking for WhatsApp's modules for {waited} s"),
        )
    };
    if bridge.answers_rows() && !bridge.status.as_ref().is_some_and(|s| s.messages) {
        missing.push(
            "WhatsApp's message module: new messages in chats that are not open are not reported"
                .to_owned(),
        );
    }
    let full = bridge_state.0 == "answering";
    let (db_state, db_note, db_chats) = match indexed_db {
        _ if full => ("not_needed", String::new(), 0),
        DbState::NotRead => ("waiting", "not read yet".to_owned(), 0),
        DbState::Read { chats } => ("answering", String::new(), *chats),
        DbState::Failed(error) => {
            missing.push(format!("WhatsApp's database: {error}"));
            ("unavailable", error.clone(), 0)
        }
    };
    let level = if !layout_recognised {
        IdentityLevel::Unavailable
    } else if full {
        IdentityLevel::Full
    } else {
        IdentityLevel::Limited
    };
    let report = |source, state: &str, note: String, chats_known: usize| SourceReport {
        source,
        state: state.to_owned(),
        note,
        chats_known: u32::try_from(chats_known).unwrap_or(u32::MAX),
        resolved: tally.resolved_by(source),
    };
    IdentityHealth {
        level,
        label: level.label().to_owned(),
        missing,
        sources: vec![
            report(
                Source::Bridge,
                bridge_state.0,
                bridge_state.1,
                bridge.chat_count(),
            ),
            report(
                Source::MessageIds,
                if tally.legacy_message_ids {
                    "answering"
                } else {
                    "not_seen"
                },
                "message ids with a chat id (WhatsApp Web before April 2026)".to_owned(),
                0,
            ),
            report(Source::IndexedDb, db_state, db_note, db_chats),
            report(Source::PhoneTitle, "answering", String::new(), 0),
            report(Source::KnownTitle, "answering", String::new(), known_chats),
        ],
        rows: tally.rows,
        rows_unsure: tally.rows_unsure,
        open_chat_identified: tally.open_chat_identified,
        bridge_rejected: bridge.rejected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ChatId {
        ChatId::parse(raw).unwrap()
    }

    fn exact(a: &ChatId, b: &ChatId) -> bool {
        a == b
    }

    #[test]
    fn agreeing_sources_give_the_most_trusted_answer() {
        let lid = id("179950657200007@lid");
        let verdict = arbitrate(
            &[
                Evidence::new(Source::Bridge, Claim::One(lid.clone())),
                Evidence::new(Source::KnownTitle, Claim::One(lid.clone())),
            ],
            exact,
        );
        assert_eq!(
            verdict,
            Verdict::Known {
                chat_id: lid,
                source: Source::Bridge
            }
        );
    }

    #[test]
    fn disagreement_is_doubt_not_a_guess() {
        let verdict = arbitrate(
            &[
                Evidence::new(Source::Bridge, Claim::One(id("919876500001@c.us"))),
                Evidence::new(Source::KnownTitle, Claim::One(id("919876500002@c.us"))),
            ],
            exact,
        );
        assert_eq!(verdict, Verdict::Unsure(Doubt::SourcesDisagree));
    }

    #[test]
    fn aliases_of_one_person_agree() {
        let lid = id("179950657200007@lid");
        let phone = id("919876500007@c.us");
        let aliases = |a: &ChatId, b: &ChatId| {
            a == b || (a.as_str().ends_with("@lid") && b.as_str() == "919876500007@c.us")
        };
        let verdict = arbitrate(
            &[
                Evidence::new(Source::Bridge, Claim::One(lid.clone())),
                Evidence::new(Source::PhoneTitle, Claim::One(phone.clone())),
            ],
            aliases,
        );
        assert_eq!(verdict.chat_id(), Some(&lid));
        // Without the alias known, the same two ids are two chats.
        assert_eq!(
            arbitrate(
                &[
                    Evidence::new(Source::Bridge, Claim::One(lid)),
                    Evidence::new(Source::PhoneTitle, Claim::One(phone)),
                ],
                exact,
            ),
            Verdict::Unsure(Doubt::SourcesDisagree)
        );
    }

    #[test]
    fn twins_stay_unknown_unless_a_stronger_source_tells_them_apart() {
        let one = id("919876500060@c.us");
        // The server knows only one of the twins: that must not pick it for both rows.
        assert_eq!(
            arbitrate(
                &[
                    Evidence::new(Source::IndexedDb, Claim::Several),
                    Evidence::new(Source::KnownTitle, Claim::One(one.clone())),
                ],
                exact,
            ),
            Verdict::Unsure(Doubt::SeveralNamed)
        );
        // The bridge told them apart; weaker sources' doubt does not undo it.
        assert_eq!(
            arbitrate(
                &[
                    Evidence::new(Source::Bridge, Claim::One(one.clone())),
                    Evidence::new(Source::KnownTitle, Claim::Several),
                ],
                exact,
            ),
            Verdict::Known {
                chat_id: one,
                source: Source::Bridge
            }
        );
    }

    #[test]
    fn a_contradicted_source_settles_nothing() {
        assert_eq!(
            arbitrate(
                &[
                    Evidence::new(Source::Bridge, Claim::Contradicted),
                    Evidence::new(Source::KnownTitle, Claim::One(id("919876500001@c.us"))),
                ],
                exact,
            ),
            Verdict::Unsure(Doubt::SourcesDisagree)
        );
    }

    fn bridge_with(chats: serde_json::Value, active: serde_json::Value) -> BridgeView {
        let mut view = BridgeView::new(true);
        for report in [
            serde_json::json!({"v": 1, "type": "status", "via": "name",
                "modules": {"chats": true, "active": true, "messages": true}}),
            serde_json::json!({"v": 1, "type": "chats", "chats": chats}),
            serde_json::json!({"v": 1, "type": "active", "chat": active}),
        ] {
            view.receive(serde_json::from_value(report).unwrap())
                .unwrap();
        }
        view
    }

    fn fixture_chats() -> serde_json::Value {
        serde_json::json!([
            {"id": "919876500001@c.us", "title": "Rahul Verma"},
            {"id": "179950657200007@lid", "title": "+91 98765 00007", "alias": "919876500007@c.us"},
            {"id": "919876500060@c.us", "title": "Priya Sharma"},
            {"id": "919876500061@c.us", "title": "Priya Sharma"},
        ])
    }

    fn rows() -> Vec<RowFacts> {
        [
            "Rahul Verma",
            "+91 98765 00007",
            "Priya Sharma",
            "Priya Sharma",
        ]
        .iter()
        .enumerate()
        .map(|(n, title)| RowFacts {
            title: (*title).into(),
            position: Some(n as u32),
        })
        .collect()
    }

    #[test]
    fn with_the_bridge_every_row_is_its_real_chat() {
        let bridge = bridge_with(fixture_chats(), serde_json::Value::Null);
        // The server knows only one of the twins, and the phone number's @c.us id.
        let mut known = NameIndex::default();
        known.insert("Priya Sharma", id("919876500060@c.us"), None);
        let sources = Sources {
            bridge: &bridge,
            indexed_db: None,
            known: &known,
        };
        let ids: Vec<_> = sources
            .identify_rows(&rows())
            .into_iter()
            .map(|v| match v {
                Verdict::Known { chat_id, source } => (chat_id.to_string(), source),
                other => panic!("unsettled: {other:?}"),
            })
            .collect();
        assert_eq!(
            ids,
            vec![
                ("919876500001@c.us".to_owned(), Source::Bridge),
                ("179950657200007@lid".to_owned(), Source::Bridge),
                ("919876500060@c.us".to_owned(), Source::Bridge),
                ("919876500061@c.us".to_owned(), Source::Bridge),
            ]
        );
    }

    #[test]
    fn without_the_bridge_names_decide_and_twins_stay_unknown() {
        let bridge = BridgeView::default();
        let mut known = NameIndex::default();
        known.insert("Rahul Verma", id("919876500001@c.us"), None);
        known.insert("Priya Sharma", id("919876500060@c.us"), None);
        let sources = Sources {
            bridge: &bridge,
            indexed_db: None,
            known: &known,
        };
        let verdicts = sources.identify_rows(&rows());
        assert_eq!(
            verdicts[0],
            Verdict::Known {
                chat_id: id("919876500001@c.us"),
                source: Source::KnownTitle
            }
        );
        // Names only: the phone number names its @c.us id, which is not this chat's id…
        assert_eq!(verdicts[1].chat_id(), Some(&id("919876500007@c.us")));
        // …and the server's one known twin is not both rows' chat. With WhatsApp's IndexedDB,
        // both twins are known to share the name.
        let mut idb = NameIndex::default();
        idb.insert("Priya Sharma", id("919876500060@c.us"), None);
        idb.insert("Priya Sharma", id("919876500061@c.us"), None);
        idb.link(id("179950657200007@lid"), id("919876500007@c.us"));
        let with_idb = Sources {
            bridge: &bridge,
            indexed_db: Some(&idb),
            known: &known,
        };
        let verdicts = with_idb.identify_rows(&rows());
        assert_eq!(
            verdicts[1],
            Verdict::Known {
                chat_id: id("179950657200007@lid"),
                source: Source::PhoneTitle
            },
            "the database knows the number belongs to an @lid chat"
        );
        assert_eq!(verdicts[2], Verdict::Unsure(Doubt::SeveralNamed));
        assert_eq!(verdicts[3], Verdict::Unsure(Doubt::SeveralNamed));
    }

    #[test]
    fn the_open_chat_is_the_bridges_only_under_the_title_shown() {
        let bridge = bridge_with(
            fixture_chats(),
            serde_json::json!({"id": "179950657200007@lid", "title": "+91 98765 00007",
                "alias": "919876500007@c.us"}),
        );
        let known = NameIndex::default();
        let sources = Sources {
            bridge: &bridge,
            indexed_db: None,
            known: &known,
        };
        assert_eq!(
            sources.identify_open("\u{202a}+91 98765 00007\u{202c}", None),
            Verdict::Known {
                chat_id: id("179950657200007@lid"),
                source: Source::Bridge
            }
        );
        // The legacy message ids may name the alias: the same person.
        assert_eq!(
            sources
                .identify_open("+91 98765 00007", Some(&id("919876500007@c.us")))
                .chat_id(),
            Some(&id("179950657200007@lid"))
        );
        // The header shows another chat (a switch under way, or a forged report): no answer.
        assert_eq!(
            sources.identify_open("Rahul Verma", None),
            Verdict::Unsure(Doubt::SourcesDisagree)
        );
        // Message ids of another chat contradict the bridge.
        assert_eq!(
            sources.identify_open("+91 98765 00007", Some(&id("919876500001@c.us"))),
            Verdict::Unsure(Doubt::SourcesDisagree)
        );
    }

    #[test]
    fn without_the_bridge_the_open_chat_comes_from_message_ids_or_names() {
        let bridge = BridgeView::default();
        let mut known = NameIndex::default();
        known.insert("Mom", id("919876500002@c.us"), None);
        known.insert("Mom", id("919876500003@c.us"), None);
        let sources = Sources {
            bridge: &bridge,
            indexed_db: None,
            known: &known,
        };
        assert_eq!(
            sources.identify_open("Mom", Some(&id("919876500003@c.us"))),
            Verdict::Known {
                chat_id: id("919876500003@c.us"),
                source: Source::MessageIds
            }
        );
        assert_eq!(
            sources.identify_open("Mom", None),
            Verdict::Unsure(Doubt::SeveralNamed)
        );
        assert_eq!(
            sources.identify_open("Someone new", None),
            Verdict::Unsure(Doubt::Unknown)
        );
    }

    #[test]
    fn health_says_what_answers_and_what_is_missing() {
        let mut tally = Tally {
            rows: 12,
            rows_unsure: 1,
            ..Tally::default()
        };
        tally.count(Source::Bridge);
        tally.count(Source::Bridge);
        let full = assess(
            &bridge_with(fixture_chats(), serde_json::Value::Null),
            &DbState::NotRead,
            3,
            true,
            &tally,
            20_000,
        );
        assert_eq!(full.level, IdentityLevel::Full);
        assert!(full.missing.is_empty(), "{:?}", full.missing);
        assert_eq!(full.sources[0].resolved, 2);
        assert_eq!(full.sources[0].chats_known, 4);
        assert_eq!(full.sources[2].state, "not_needed");

        let no_bridge = assess(
            &BridgeView::new(false),
            &DbState::Failed("WhatsApp's model-storage database is not there".into()),
            3,
            true,
            &Tally::default(),
            20_000,
        );
        assert_eq!(no_bridge.level, IdentityLevel::Limited);
        assert_eq!(no_bridge.missing.len(), 2, "{:?}", no_bridge.missing);
        assert_eq!(no_bridge.label, "Chat identity: limited (names only)");

        let waiting = assess(
            &BridgeView::new(true),
            &DbState::Read { chats: 300 },
            0,
            true,
            &Tally::default(),
            20_000,
        );
        assert_eq!(waiting.level, IdentityLevel::Limited);
        assert_eq!(
            waiting.missing[0],
            "WhatsApp's chat list module (not found yet)"
        );
        assert_eq!(
            waiting.sources[0].note,
            "looking for WhatsApp's modules for 20 s"
        );
        assert_eq!(waiting.sources[2].chats_known, 300);
        let a_second_later = assess(
            &BridgeView::new(true),
            &DbState::Read { chats: 300 },
            0,
            true,
            &Tally::default(),
            21_000,
        );
        assert_eq!(
            a_second_later.missing, waiting.missing,
            "waiting longer is not a change in kind"
        );

        let unknown_layout = assess(
            &bridge_with(fixture_chats(), serde_json::Value::Null),
            &DbState::NotRead,
            0,
            false,
            &Tally::default(),
            20_000,
        );
        assert_eq!(unknown_layout.level, IdentityLevel::Unavailable);
    }

    #[test]
    fn silence_is_unknown() {
        assert_eq!(
            arbitrate(&[Evidence::new(Source::Bridge, Claim::Nothing)], exact),
            Verdict::Unsure(Doubt::Unknown)
        );
        assert_eq!(arbitrate(&[], exact), Verdict::Unsure(Doubt::Unknown));
    }
}
