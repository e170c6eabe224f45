//! WhatsApp chat ids, the key of every conversation.
//!
//! WhatsApp Web names a chat by a JID: `919876543210@c.us` for a phone contact, `179950657237125@lid`
//! for a contact known only by its linked-device id, and `120363041234567890@g.us` (or the older
//! `creatorphone-timestamp@g.us`) for a group. Anything else (status broadcasts, newsletters,
//! free text) is refused, because a wrong key would attach notes and locks to the wrong customer.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of chat a [`ChatId`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatKind {
    /// A contact addressed by phone number (`…@c.us`).
    Direct,
    /// A contact addressed by a linked-device id (`…@lid`); the phone number may be unknown.
    Lid,
    /// A group chat (`…@g.us`).
    Group,
}

/// A validated WhatsApp chat id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChatId(String);

/// Why a string is not a chat id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatIdError {
    /// The id has no `@server` part or an unsupported server.
    UnknownServer,
    /// The part before `@` is not the digits WhatsApp uses.
    BadUser,
}

impl fmt::Display for ChatIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatIdError::UnknownServer => {
                f.write_str("a chat id must end in @c.us, @lid or @g.us, e.g. 919876543210@c.us")
            }
            ChatIdError::BadUser => f.write_str(
                "the part of a chat id before @ must be 5 to 20 digits (groups: digits-digits)",
            ),
        }
    }
}

impl std::error::Error for ChatIdError {}

fn is_digits(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl ChatId {
    /// Validates `raw` as a chat id.
    pub fn parse(raw: &str) -> Result<ChatId, ChatIdError> {
        let (user, server) = raw.split_once('@').ok_or(ChatIdError::UnknownServer)?;
        let valid_user = match server {
            "c.us" | "lid" => is_digits(user, 5, 20),
            "g.us" => match user.split_once('-') {
                Some((creator, created_at)) => {
                    is_digits(creator, 5, 20) && is_digits(created_at, 5, 12)
                }
                None => is_digits(user, 5, 24),
            },
            _ => return Err(ChatIdError::UnknownServer),
        };
        if valid_user {
            Ok(ChatId(raw.to_owned()))
        } else {
            Err(ChatIdError::BadUser)
        }
    }

    /// The id as WhatsApp writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which kind of chat this is.
    pub fn kind(&self) -> ChatKind {
        if self.0.ends_with("@c.us") {
            ChatKind::Direct
        } else if self.0.ends_with("@lid") {
            ChatKind::Lid
        } else {
            ChatKind::Group
        }
    }

    /// The phone number in international format without `+`, when the id carries one.
    pub fn phone_digits(&self) -> Option<&str> {
        self.0.strip_suffix("@c.us")
    }

    /// Whether `other` can be this chat's alias: one person's two ids pair an `@lid` with an
    /// `@c.us` id (groups have one id).
    pub fn can_alias(&self, other: &ChatId) -> bool {
        matches!(
            (self.kind(), other.kind()),
            (ChatKind::Lid, ChatKind::Direct) | (ChatKind::Direct, ChatKind::Lid)
        )
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ChatId {
    type Error = ChatIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ChatId::parse(&value)
    }
}

impl From<ChatId> for String {
    fn from(id: ChatId) -> String {
        id.0
    }
}

impl std::str::FromStr for ChatId {
    type Err = ChatIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ChatId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_formats_whatsapp_uses() {
        let direct = ChatId::parse("919876543210@c.us").unwrap();
        assert_eq!(direct.kind(), ChatKind::Direct);
        assert_eq!(direct.phone_digits(), Some("919876543210"));

        let lid = ChatId::parse("179950657237125@lid").unwrap();
        assert_eq!(lid.kind(), ChatKind::Lid);
        assert_eq!(lid.phone_digits(), None);

        let group = ChatId::parse("120363041234567890@g.us").unwrap();
        assert_eq!(group.kind(), ChatKind::Group);
        let old_group = ChatId::parse("972503235812-1352922145@g.us").unwrap();
        assert_eq!(old_group.kind(), ChatKind::Group);
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "919876543210",
            "919876543210@s.whatsapp.net",
            "status@broadcast",
            "123@newsletter",
            "abc@c.us",
            "1234@c.us",
            "+919876543210@c.us",
            "91987 6543210@c.us",
            "919876543210@c.us ",
            "123456789012345678901@c.us",
            "972503235812-@g.us",
            "-1352922145@g.us",
            "9725-03235812-1352922145@g.us",
            "919876543210@c.us@c.us",
        ] {
            assert!(ChatId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn only_one_persons_lid_and_phone_id_alias_each_other() {
        let id = |s: &str| ChatId::parse(s).unwrap();
        let (lid, phone) = (id("179950657200007@lid"), id("919876500007@c.us"));
        assert!(lid.can_alias(&phone) && phone.can_alias(&lid));
        assert!(!lid.can_alias(&id("179950657200008@lid")));
        assert!(!phone.can_alias(&id("919876500008@c.us")));
        assert!(!phone.can_alias(&id("120363025246125486@g.us")));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(ChatId::parse("x@foo"), Err(ChatIdError::UnknownServer));
        assert_eq!(ChatId::parse("x@c.us"), Err(ChatIdError::BadUser));
        assert!(ChatIdError::UnknownServer.to_string().contains("@c.us"));
    }
}
