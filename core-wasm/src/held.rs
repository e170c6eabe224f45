//! Input held back while the composer is not known to be the agent's: before the reply lock is
//! granted (or while the open chat is still being identified), keystrokes, pastes and drops must
//! not reach WhatsApp's composer — a colleague may be replying — and must not be lost either.
//! They wait here; once the lock is granted they are typed in, in order, and a held send goes
//! out. If a colleague holds the lock, nothing reaches the composer and the agent is told.

/// What Baton knows about whose turn it is to type in the open chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The agent holds the reply lock and nothing held back is waiting to be typed first.
    Mine,
    /// The lock has to be asked for (or held input is being typed in): hold new input.
    Asking,
    /// The open chat is still being identified (WhatsApp's modules are a moment behind the page).
    Identifying,
    /// Nothing to coordinate with — offline, logged out, or a chat that cannot be identified —
    /// so input goes straight through (and the page says why).
    Uncoordinated,
}

/// How long input waits for the open chat to be identified before it goes through uncoordinated:
/// WhatsApp's modules are normally a moment behind the page, but a title they never match (the
/// self-chat, a business's verified name) must not hold the agent's typing for ever.
pub const IDENTIFY_PATIENCE_MS: i64 = 3_000;

/// What decides whose turn it is, as the overlay sees it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TurnFacts {
    /// Logged in and online: there is someone to coordinate with.
    pub coordinated: bool,
    /// Baton itself is typing held input in (its own events pass).
    pub typing_in: bool,
    /// The open chat is identified.
    pub identified: bool,
    /// Since when the page and WhatsApp's modules have named different chats for it (while the
    /// modules answer), if they do: a passing disagreement worth waiting for.
    pub disagreeing_since: Option<i64>,
    pub lock_held: bool,
    /// Held input waits to be typed in, or is being typed in.
    pub input_waiting: bool,
    pub now: i64,
}

impl Turn {
    /// What the composer says while the agent's typing is held back (so a pause of a few hundred
    /// milliseconds reads as Baton at work, not as a lost keystroke), or `None` when nothing is.
    pub fn hold_notice(self, holding: bool) -> Option<&'static str> {
        if !holding {
            return None;
        }
        match self {
            Turn::Asking => {
                Some("Taking the reply lock… what you type goes in as soon as it is yours.")
            }
            Turn::Identifying => {
                Some("Checking which chat this is… what you type goes in in a moment.")
            }
            Turn::Mine | Turn::Uncoordinated => None,
        }
    }

    /// Whose turn it is, given what the overlay knows.
    pub fn of(facts: TurnFacts) -> Turn {
        if !facts.coordinated {
            return Turn::Uncoordinated;
        }
        if facts.typing_in {
            return Turn::Mine;
        }
        if !facts.identified {
            // A chat no source can name cannot be coordinated; a disagreement is waited out for a
            // while.
            return match facts.disagreeing_since {
                Some(since) if facts.now - since < IDENTIFY_PATIENCE_MS => Turn::Identifying,
                _ => Turn::Uncoordinated,
            };
        }
        if facts.lock_held && !facts.input_waiting {
            Turn::Mine
        } else {
            Turn::Asking
        }
    }

    /// Whether input may reach the composer now.
    pub fn lets_input_through(self) -> bool {
        matches!(self, Turn::Mine | Turn::Uncoordinated)
    }
}

/// Input that arrived while it could not go through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldInput {
    text: String,
    send: bool,
}

impl HeldInput {
    /// Typed, pasted or dropped text, in the order it came.
    pub fn add_text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// A Backspace: takes back the last held character; false if there was none (it then does
    /// nothing, rather than reach text already in the composer).
    pub fn delete_back(&mut self) -> bool {
        self.text.pop().is_some()
    }

    /// The agent pressed send: it goes out after the held text.
    pub fn add_send(&mut self) {
        self.send = true;
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && !self.send
    }

    /// Everything held, to type in now: the text, and whether to send after it.
    pub fn take(&mut self) -> (String, bool) {
        let held = std::mem::take(self);
        (held.text, held.send)
    }

    /// What was held, shortened, to tell the agent what did not get typed.
    pub fn preview(&self) -> String {
        const MAX: usize = 40;
        let mut preview: String = self.text.chars().take(MAX).collect();
        if self.text.chars().count() > MAX {
            preview.push('…');
        }
        preview
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_input_keeps_order_backspaces_and_the_send() {
        let mut held = HeldInput::default();
        assert!(held.is_empty());
        held.add_text("Hel");
        held.add_text("lo!");
        assert!(held.delete_back());
        held.add_text(" वहाँ");
        held.add_send();
        assert_eq!(held.preview(), "Hello वहाँ");
        assert_eq!(held.take(), ("Hello वहाँ".to_owned(), true));
        assert!(held.is_empty());
        assert!(
            !held.delete_back(),
            "nothing held: the composer's own text is not touched"
        );
        held.add_send();
        assert!(!held.is_empty(), "a send alone is held too");
    }

    #[test]
    fn a_long_preview_is_cut_short() {
        let mut long = HeldInput::default();
        long.add_text(&"a".repeat(50));
        assert_eq!(long.preview(), format!("{}…", "a".repeat(40)));
    }

    fn facts() -> TurnFacts {
        TurnFacts {
            coordinated: true,
            typing_in: false,
            identified: true,
            disagreeing_since: None,
            lock_held: false,
            input_waiting: false,
            now: 100_000,
        }
    }

    #[test]
    fn input_waits_for_the_lock_and_for_what_was_held_before_it() {
        assert_eq!(Turn::of(facts()), Turn::Asking);
        let mine = TurnFacts {
            lock_held: true,
            ..facts()
        };
        assert_eq!(Turn::of(mine), Turn::Mine);
        assert_eq!(
            Turn::of(TurnFacts {
                input_waiting: true,
                ..mine
            }),
            Turn::Asking,
            "new input queues behind held input"
        );
        assert_eq!(
            Turn::of(TurnFacts {
                typing_in: true,
                input_waiting: true,
                ..mine
            }),
            Turn::Mine,
            "Baton's own typing passes"
        );
        assert_eq!(
            Turn::of(TurnFacts {
                coordinated: false,
                ..facts()
            }),
            Turn::Uncoordinated
        );
    }

    #[test]
    fn a_disagreement_about_the_chat_is_waited_out_only_for_a_while() {
        let unknown = TurnFacts {
            identified: false,
            ..facts()
        };
        assert_eq!(Turn::of(unknown), Turn::Uncoordinated);
        let since = unknown.now - IDENTIFY_PATIENCE_MS + 1;
        let disagreeing = TurnFacts {
            disagreeing_since: Some(since),
            ..unknown
        };
        assert_eq!(Turn::of(disagreeing), Turn::Identifying);
        assert!(!Turn::Identifying.lets_input_through());
        assert_eq!(
            Turn::of(TurnFacts {
                now: since + IDENTIFY_PATIENCE_MS,
                ..disagreeing
            }),
            Turn::Uncoordinated,
            "typing goes in rather than wait for ever"
        );
        assert!(Turn::Uncoordinated.lets_input_through());
    }

    #[test]
    fn held_typing_is_explained_only_while_it_waits() {
        assert_eq!(Turn::Asking.hold_notice(false), None);
        assert_eq!(Turn::Mine.hold_notice(true), None);
        assert_eq!(Turn::Uncoordinated.hold_notice(true), None);
        assert!(Turn::Asking
            .hold_notice(true)
            .unwrap()
            .contains("reply lock"));
        assert!(Turn::Identifying
            .hold_notice(true)
            .unwrap()
            .contains("which chat"));
    }
}
