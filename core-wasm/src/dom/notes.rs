//! The notes panel as a component that owns its elements and its state: the open chat's notes
//! (the first page, and whether there are more), its timeline, the accepted handoff pinned on
//! top, and the note being written. The overlay tells it which chat is open and hands it what
//! the server answers; it draws itself when shown.

use protocol::api::{Handoff, Note, Page};
use protocol::ChatId;
use web_sys::{HtmlElement, HtmlTextAreaElement};

use super::panels::{append, form_error, render_pinned_handoff, textarea};
use super::ui::{button, clear, el, text_el, Times};
use crate::calls::TimelineLine;

pub struct NotesPanel {
    /// `data-baton="notes-panel"`.
    root: HtmlElement,
    /// The latest accepted handoff, pinned at the top.
    pinned: HtmlElement,
    list: HtmlElement,
    timeline: HtmlElement,
    input: HtmlTextAreaElement,
    /// Whose notes these are: the chat and the visit (a chat opened again reads them afresh).
    showing: Option<(u64, ChatId)>,
    notes: Vec<Note>,
    /// The server has more notes than the first page.
    more: bool,
    /// The notes were read for this visit (so their count can be shown).
    loaded: bool,
    lines: Vec<TimelineLine>,
    /// What is drawn is out of date.
    dirty: bool,
}

impl NotesPanel {
    pub fn new() -> NotesPanel {
        let root = el("div", "notes-panel");
        let pinned = el("div", "pinned-handoff");
        let list = el("div", "notes");
        let timeline = el("ul", "timeline");
        let input = textarea("note", "Internal note (@name to mention)");
        append(
            &root,
            &[
                &pinned,
                &text_el("h3", "", "Internal notes"),
                &list,
                &input,
                &button("Add note", "add-note"),
                &form_error(),
                &text_el("h3", "", "Timeline"),
                &timeline,
                &button("Close", "close-panel"),
            ],
        );
        NotesPanel {
            root,
            pinned,
            list,
            timeline,
            input,
            showing: None,
            notes: Vec::new(),
            more: false,
            loaded: false,
            lines: Vec::new(),
            dirty: true,
        }
    }

    pub fn element(&self) -> &HtmlElement {
        &self.root
    }

    /// The chat on screen (`visit` tells one opening of it from the next). Another chat, or the
    /// same one opened again, starts with nothing known.
    pub fn show_chat(&mut self, visit: u64, chat_id: Option<&ChatId>) {
        let showing = chat_id.map(|c| (visit, c.clone()));
        if self.showing != showing {
            self.showing = showing;
            self.notes.clear();
            self.lines.clear();
            self.more = false;
            self.loaded = false;
            self.dirty = true;
        }
    }

    fn is_showing(&self, chat_id: &ChatId) -> bool {
        self.showing.as_ref().is_some_and(|(_, c)| c == chat_id)
    }

    /// The chat whose notes are still to be read, if any.
    pub fn to_load(&self) -> Option<&ChatId> {
        self.showing
            .as_ref()
            .filter(|_| !self.loaded)
            .map(|(_, chat_id)| chat_id)
    }

    /// The first page of the chat's notes, as the server answered.
    pub fn loaded(&mut self, chat_id: &ChatId, page: Page<Note>) {
        if self.is_showing(chat_id) {
            self.notes = page.items;
            self.more = page.next_cursor.is_some();
            self.loaded = true;
            self.dirty = true;
        }
    }

    /// The chat's timeline, as the server answered.
    pub fn timeline_read(&mut self, chat_id: &ChatId, lines: Vec<TimelineLine>) {
        if self.is_showing(chat_id) {
            self.lines = lines;
            self.dirty = true;
        }
    }

    /// A note written (here or by a colleague), live.
    pub fn add(&mut self, note: Note) {
        if self.is_showing(&note.chat_id) && !self.notes.iter().any(|n| n.id == note.id) {
            self.notes.push(note);
            self.dirty = true;
        }
    }

    /// Something drawn besides the notes changed (queued notes, agents, the org's clock).
    pub fn invalidate(&mut self) {
        self.dirty = true;
    }

    /// The Notes button's name: "Notes (4)" once read, plain "Notes" until then (never the last
    /// chat's count).
    pub fn label(&self) -> String {
        if self.loaded {
            crate::views::notes_label(self.notes.len(), self.more)
        } else {
            "Notes".to_owned()
        }
    }

    /// The note being written.
    pub fn draft(&self) -> String {
        self.input.value()
    }

    /// Brings the panel up to date while it is open: the pinned handoff, the notes (then those
    /// still queued, `(key, body)`), the timeline.
    pub fn render(
        &mut self,
        accepted: Option<&Handoff>,
        queued: &[(String, String)],
        times: &Times,
        now: i64,
    ) {
        render_pinned_handoff(&self.pinned, accepted);
        if !self.dirty {
            return;
        }
        clear(&self.list);
        for note in &self.notes {
            let _ = self.list.append_child(&note_item(note, times, now));
        }
        // Notes still in the worker's queue, in place after the saved ones until the server has
        // them.
        for (key, body) in queued {
            let item = el("div", "note");
            let _ = item.set_attribute("data-pending", key);
            let _ = item.append_child(&text_el("strong", "", "You"));
            let _ = item.append_child(&text_el("time", "", "Not sent yet"));
            let _ = item.append_child(&text_el("p", "note-body", body));
            let _ = self.list.append_child(&item);
        }
        clear(&self.timeline);
        for line in &self.lines {
            let item = text_el(
                "li",
                "",
                &format!("{} — {}", times.absolute(line.at), line.text),
            );
            let _ = self.timeline.append_child(&item);
        }
        self.dirty = false;
    }
}

/// One note: its author, when ("5 min ago", the org's date and time on hover) and its body, as
/// text with the @mentions marked — never HTML.
fn note_item(note: &Note, times: &Times, now: i64) -> HtmlElement {
    let item = el("div", "note");
    let _ = item.set_attribute("data-id", &note.id);
    let _ = item.append_child(&text_el("strong", "", &note.author.name));
    let when = text_el("time", "", &times.tell(now, note.created_at));
    let _ = when.set_attribute("title", &times.absolute(note.created_at));
    let _ = item.append_child(&when);
    let body = el("p", "note-body");
    for (piece, mention) in crate::views::note_segments(&note.body, &note.mentions) {
        if mention {
            let _ = body.append_child(&text_el("mark", "mention", piece));
        } else {
            let _ = body.append_with_str_1(piece);
        }
    }
    let _ = item.append_child(&body);
    item
}
