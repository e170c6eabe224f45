//! Names → chats, for the sources that know chats by name: the team's known titles (the
//! server's record) and WhatsApp's IndexedDB. A name that several chats share answers
//! [`Claim::Several`], never one of them.

use std::collections::HashMap;

use protocol::ChatId;

use super::Claim;
use crate::adapter::normalize_title;

/// Chats by normalised name, with the `@lid`/`@c.us` aliases the source knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameIndex {
    by_title: HashMap<String, Vec<ChatId>>,
    /// Both directions: id → its alias.
    aliases: HashMap<ChatId, ChatId>,
    chats: usize,
}

impl NameIndex {
    /// Adds a chat known by `title` (and by `alias`, if the person has a second id).
    pub fn insert(&mut self, title: &str, chat_id: ChatId, alias: Option<ChatId>) {
        let key = normalize_title(title);
        if let Some(alias) = alias {
            self.link(chat_id.clone(), alias);
        }
        self.chats += 1;
        if key.is_empty() {
            return;
        }
        let ids = self.by_title.entry(key).or_default();
        if !ids.contains(&chat_id) {
            ids.push(chat_id);
        }
    }

    /// Records that two ids are one person's, without a name.
    pub fn link(&mut self, a: ChatId, b: ChatId) {
        if a != b {
            self.aliases.insert(a.clone(), b.clone());
            self.aliases.insert(b, a);
        }
    }

    /// Chats this index knows.
    pub fn len(&self) -> usize {
        self.chats
    }

    pub fn is_empty(&self) -> bool {
        self.chats == 0
    }

    /// The other id of the same person, if known.
    pub fn alias(&self, chat_id: &ChatId) -> Option<&ChatId> {
        self.aliases.get(chat_id)
    }

    /// Whether two ids name the same chat here.
    pub fn same_chat(&self, a: &ChatId, b: &ChatId) -> bool {
        a == b || self.aliases.get(a) == Some(b)
    }

    /// Which chat `title` names.
    pub fn claim(&self, title: &str) -> Claim {
        let Some(ids) = self.by_title.get(&normalize_title(title)) else {
            return Claim::Nothing;
        };
        match ids.as_slice() {
            [] => Claim::Nothing,
            [one] => Claim::One(one.clone()),
            [first, rest @ ..] if rest.iter().all(|id| self.same_chat(first, id)) => {
                Claim::One(first.clone())
            }
            _ => Claim::Several,
        }
    }
}

/// A record of WhatsApp's IndexedDB `model-storage`, reduced to what identifies a chat: its id,
/// the name it carries (a chat's or saved contact's `name`, a group's `subject`) and the other id
/// of the same person (a contact's `phoneNumber` or `lid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbRecord {
    pub id: String,
    pub name: Option<String>,
    pub linked: Option<String>,
}

impl NameIndex {
    /// The names WhatsApp's chat list shows, from the `chat`, `contact` and `group-metadata`
    /// stores: each chat under its own name, else its group's subject, else its saved contact
    /// name (unsaved contacts are titled by their number, which [`Claim`]s answer by itself).
    /// Records whose id is not a chat id are skipped.
    pub fn from_model_storage(
        chats: &[DbRecord],
        contacts: &[DbRecord],
        groups: &[DbRecord],
    ) -> NameIndex {
        let by_id = |records: &[DbRecord]| -> HashMap<String, DbRecord> {
            records.iter().map(|r| (r.id.clone(), r.clone())).collect()
        };
        let contacts = by_id(contacts);
        let groups = by_id(groups);
        let mut index = NameIndex::default();
        for contact in contacts.values() {
            if let (Ok(id), Some(Ok(linked))) = (
                ChatId::parse(&contact.id),
                contact.linked.as_deref().map(ChatId::parse),
            ) {
                index.link(id, linked);
            }
        }
        for chat in chats {
            let Ok(id) = ChatId::parse(&chat.id) else {
                continue;
            };
            let name = chat
                .name
                .clone()
                .or_else(|| groups.get(&chat.id).and_then(|g| g.name.clone()))
                .or_else(|| contacts.get(&chat.id).and_then(|c| c.name.clone()))
                .unwrap_or_default();
            let alias = index.alias(&id).cloned();
            index.insert(&name, id, alias);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ChatId {
        ChatId::parse(raw).unwrap()
    }

    #[test]
    fn names_map_to_chats_unless_shared() {
        let mut index = NameIndex::default();
        index.insert("Priya Sharma", id("919876500001@c.us"), None);
        index.insert("Mom", id("919876500002@c.us"), None);
        index.insert("Mom", id("919876500003@c.us"), None);
        assert_eq!(
            index.claim("\u{202a}Priya  Sharma\u{202c}"),
            Claim::One(id("919876500001@c.us"))
        );
        assert_eq!(index.claim("Mom"), Claim::Several);
        assert_eq!(index.claim("Dad"), Claim::Nothing);
        assert_eq!(index.claim(""), Claim::Nothing);
        assert_eq!(index.len(), 3);
    }

    fn record(id: &str, name: Option<&str>, linked: Option<&str>) -> DbRecord {
        DbRecord {
            id: id.into(),
            name: name.map(Into::into),
            linked: linked.map(Into::into),
        }
    }

    #[test]
    fn whatsapps_database_names_chats_and_links_ids() {
        let chats = [
            record("919876500001@c.us", None, None),
            record("179950657200007@lid", None, None),
            record("120363041200000005@g.us", None, None),
            record("919876500060@c.us", None, None),
            record("919876500061@c.us", None, None),
            record("status@broadcast", Some("Status"), None),
        ];
        let contacts = [
            record("919876500001@c.us", Some("Rahul Verma"), None),
            record("179950657200007@lid", None, Some("919876500007@c.us")),
            record("919876500060@c.us", Some("Priya Sharma"), None),
            record("919876500061@c.us", Some("Priya Sharma"), None),
        ];
        let groups = [record(
            "120363041200000005@g.us",
            Some("Tower B buyers"),
            None,
        )];
        let index = NameIndex::from_model_storage(&chats, &contacts, &groups);
        assert_eq!(index.len(), 5, "the broadcast list is not a chat");
        assert_eq!(
            index.claim("Rahul Verma"),
            Claim::One(id("919876500001@c.us"))
        );
        assert_eq!(
            index.claim("Tower B buyers"),
            Claim::One(id("120363041200000005@g.us"))
        );
        assert_eq!(index.claim("Priya Sharma"), Claim::Several);
        assert_eq!(
            index.alias(&id("919876500007@c.us")),
            Some(&id("179950657200007@lid"))
        );
        assert_eq!(index.claim("Status"), Claim::Nothing);
    }

    #[test]
    fn one_person_under_both_ids_is_one_chat() {
        let mut index = NameIndex::default();
        let lid = id("179950657200007@lid");
        let phone = id("919876500007@c.us");
        index.insert("Kavya Nair", lid.clone(), Some(phone.clone()));
        index.insert("Kavya Nair", phone.clone(), None);
        assert_eq!(index.claim("Kavya Nair"), Claim::One(lid.clone()));
        assert!(index.same_chat(&phone, &lid));
        assert_eq!(index.alias(&lid), Some(&phone));
    }
}
