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

impl Turn {
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
    fn only_a_known_turn_or_no_coordination_lets_input_through() {
        assert!(Turn::Mine.lets_input_through());
        assert!(Turn::Uncoordinated.lets_input_through());
        assert!(!Turn::Asking.lets_input_through());
        assert!(!Turn::Identifying.lets_input_through());
        let mut long = HeldInput::default();
        long.add_text(&"a".repeat(50));
        assert_eq!(long.preview().chars().count(), 41);
    }
}
