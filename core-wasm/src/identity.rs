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

use protocol::ChatId;
use serde::{Deserialize, Serialize};

pub use bridge::{BridgeView, NewMessage};
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
    /// Every source, most trusted first.
    pub const ALL: [Source; 5] = [
        Source::Bridge,
        Source::MessageIds,
        Source::IndexedDb,
        Source::PhoneTitle,
        Source::KnownTitle,
    ];

    /// Whether an answer from this source rests on WhatsApp's own id for the chat, rather than on
    /// a name.
    pub fn by_id(self) -> bool {
        matches!(self, Source::Bridge | Source::MessageIds)
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
            missing: Vec::new(),
            sources: Vec::new(),
            rows: 0,
            rows_unsure: 0,
            open_chat_identified: None,
            bridge_rejected: 0,
        }
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

    #[test]
    fn silence_is_unknown() {
        assert_eq!(
            arbitrate(&[Evidence::new(Source::Bridge, Claim::Nothing)], exact),
            Verdict::Unsure(Doubt::Unknown)
        );
        assert_eq!(arbitrate(&[], exact), Verdict::Unsure(Doubt::Unknown));
    }
}
