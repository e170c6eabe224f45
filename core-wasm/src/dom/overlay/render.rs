//! Drawing the open chat's overlay from the state: the header bar, the banners, the open panel
//! and the notices above the composer. The elements are [`ChatUi`]'s and its components'; what
//! they show is decided by the pure views (`crate::views`) and the overlay's state here.

use protocol::ChatId;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use super::Overlay;
use crate::dom::panels::{append, handoff_rows};
use crate::dom::ui::{button, document, el, remove_attr, set_attr, set_text, show, text_el};
use crate::identity::Doubt;
use crate::messages::Connection;
use crate::views::{header_view, pending_view, Gate};

/// What the header says while the open chat is not identified.
fn unidentified_text(doubt: Option<Doubt>) -> &'static str {
    match doubt {
        None => "Baton: identifying this chat…",
        Some(Doubt::SeveralNamed) => {
            "Baton can't tell which chat this is: several chats have this name"
        }
        Some(Doubt::SourcesDisagree) => "Baton can't tell which chat this is yet",
        Some(Doubt::Unknown) => "Baton doesn't know this chat (chat identity is limited)",
    }
}

impl Overlay {
    /// Brings the chat overlay up to date with the open chat and the state.
    pub(in crate::dom) fn render_chat(&mut self) {
        let main = document().get_element_by_id("main");
        let (Some(main), Some(chat_id)) = (main, self.chat.as_ref().map(|c| c.chat_id.clone()))
        else {
            self.ui.host.remove();
            return;
        };
        if self.ui.host.parent_element().as_ref() != Some(&main) {
            // Right after WhatsApp's chat header, so Tab reaches Baton's controls before the
            // messages and the composer (the host is positioned: where it sits in the DOM does
            // not move it on screen).
            let header = main.query_selector(":scope > header").ok().flatten();
            let before = header.and_then(|h| h.next_sibling());
            let _ = main.insert_before(&self.ui.host, before.as_ref());
        }
        self.ui.fit_to(&main);
        let ui = &self.ui;
        let health = &self.identity.health;
        set_text(&ui.identity, health.level.label());
        set_attr(&ui.identity, "data-level", health.level.as_str());
        let what = if health.missing.is_empty() {
            "Baton knows every chat by WhatsApp's own id".to_owned()
        } else {
            format!("Missing: {}", health.missing.join("; "))
        };
        set_attr(&ui.identity, "title", &what);
        let Some(chat_id) = chat_id else {
            remove_attr(&ui.host, "data-chat");
            let doubt = self.chat.as_ref().and_then(|c| c.doubt);
            set_text(&ui.owner, unidentified_text(doubt));
            for part in [
                &ui.lock_status,
                &ui.claim,
                &ui.force,
                &ui.lock_banner,
                &ui.take_next,
            ] {
                show(part, false);
            }
            return;
        };
        if !self.logged_in() {
            // Nothing of the last session stays: no stage, no actions, no banners or panels.
            set_attr(&ui.container, "data-logged-out", "");
            set_text(&ui.owner, "Baton: log in from the toolbar button");
            for part in [
                &ui.lock_status,
                &ui.claim,
                &ui.force,
                &ui.lock_banner,
                &ui.take_next,
                &ui.routing_reason,
                &ui.queue_count,
            ] {
                show(part, false);
            }
            return;
        }
        remove_attr(&ui.container, "data-logged-out");
        set_attr(&ui.host, "data-chat", chat_id.as_str());
        self.notes_follow_chat();
        let ui = &self.ui;
        let now = self.now();
        let header = header_view(&self.state, &chat_id, now);
        set_text(&ui.owner, &header.owner_label);
        set_text(
            &ui.routing_reason,
            header.routing_reason.as_deref().unwrap_or(""),
        );
        show(&ui.routing_reason, header.routing_reason.is_some());
        set_text(&ui.queue_count, header.queue_count.as_deref().unwrap_or(""));
        show(&ui.queue_count, header.queue_count.is_some());
        show(&ui.take_next, header.take_next);
        set_text(&ui.lock_status, header.lock_text.as_deref().unwrap_or(""));
        show(&ui.lock_status, header.lock_text.is_some());
        show(&ui.claim, header.can_claim);
        show(&ui.force, header.can_force);
        set_text(
            &ui.handoff_pending,
            header.waiting_for.as_deref().unwrap_or(""),
        );
        show(&ui.handoff_pending, header.waiting_for.is_some());
        // What will be refused is not offered as if it would work: disabled, saying why.
        let refused = header.work_refused.as_deref();
        for (control, name) in [
            (&ui.handoff_button, "Hand off"),
            (ui.stage.unchecked_ref::<HtmlElement>(), "Stage"),
        ] {
            match refused {
                Some(why) => {
                    set_attr(control, "disabled", "");
                    set_attr(control, "title", why);
                }
                None => {
                    remove_attr(control, "disabled");
                    set_attr(control, "title", name);
                }
            }
        }
        let confirming = self.chat.as_ref().is_some_and(|c| c.confirming_force) && header.can_force;
        if confirming {
            let holder = self
                .state
                .conversation(&chat_id)
                .and_then(|c| c.active_lock(now))
                .map_or_else(|| "them".to_owned(), |l| l.holder.name.clone());
            set_text(
                &ui.force_confirm_text,
                &format!("Take over the reply from {holder}? They are blocked at once; what they wrote stays in their composer, unsent."),
            );
        }
        show(&ui.force_confirm, confirming);
        let out_of_touch = self.out_of_touch();
        let connection = match &self.connection {
            Connection::Online => "",
            _ if out_of_touch => "Offline",
            Connection::Connecting => "Connecting…",
            Connection::Offline { .. } => "Offline",
            Connection::LoggedOut => "Logged out",
        };
        set_text(&ui.connection, connection);
        show(&ui.connection, !connection.is_empty());
        show(&ui.offline_warning, out_of_touch);
        let pending = pending_view(&chat_id, &self.pending_writes);
        let shown: Vec<String> = super::ui::all(&ui.pending_writes, "li")
            .iter()
            .filter_map(|li| li.text_content())
            .collect();
        if shown != pending.lines {
            super::ui::clear(&ui.pending_writes);
            for line in &pending.lines {
                let _ = ui
                    .pending_writes
                    .append_child(&text_el("li", "pending-write", line));
            }
        }
        show(&ui.pending_writes, !pending.lines.is_empty());

        if self.ui.lists_dirty {
            self.render_lists();
        }
        let ui = &self.ui;
        // A stage move waiting in the queue is what the agent chose: show it, not the old one.
        let stage_value = pending
            .stage
            .unwrap_or(header.stage.clone())
            .map(|(pipeline, stage)| format!("{pipeline}|{stage}"))
            .unwrap_or_default();
        if ui.stage.value() != stage_value {
            ui.stage.set_value(&stage_value);
        }

        let holding = self.chat.as_ref().is_some_and(|c| !c.held_input.is_empty());
        match self.turn().hold_notice(holding) {
            Some(notice) => {
                set_text(&self.ui.hold_notice, notice);
                show(&self.ui.hold_notice, true);
            }
            None => show(&self.ui.hold_notice, false),
        }
        let gate = self.gate();
        let ui = &mut self.ui;
        match &gate {
            Gate::Blocked(blocked) => {
                set_text(&ui.lock_text, &blocked.text);
                show(&ui.lock_force, blocked.can_force);
                show(&ui.lock_banner, true);
            }
            Gate::Open => show(&ui.lock_banner, false),
        }
        ui.requests.render(
            &header.ask,
            &header.requests,
            matches!(gate, Gate::Blocked(_)),
        );
        let ui = &self.ui;

        match &header.handoff_for_me {
            Some(handoff) => {
                // Rebuilt only when another handoff arrives: the rows are text, never HTML.
                if ui.handoff_text.get_attribute("data-handoff").as_deref() != Some(&handoff.id) {
                    super::ui::clear(&ui.handoff_text);
                    let title = format!("{} handed this chat to you", handoff.by.name);
                    let rows = handoff_rows(handoff);
                    append(&ui.handoff_text, &[&text_el("strong", "", &title), &rows]);
                    let _ = ui.handoff_text.set_attribute("data-handoff", &handoff.id);
                    set_attr(&ui.handoff_banner, "aria-label", &title);
                }
                let declining = self.chat.as_ref().is_some_and(|c| c.declining);
                if let Ok(Some(row)) = ui
                    .handoff_banner
                    .query_selector("[data-baton=\"decline-row\"]")
                {
                    show(&row, declining);
                }
                show(&ui.handoff_banner, true);
            }
            None => show(&ui.handoff_banner, false),
        }

        self.render_reminders(&chat_id);
        let ui = &self.ui;
        let chat = self.chat.as_ref();
        let panel = chat.and_then(|c| c.panel);
        let name = ui.notes.label();
        if let Ok(Some(label)) = ui.notes_button.query_selector("[data-baton=\"label\"]") {
            set_text(&label, &name);
        }
        set_attr(&ui.notes_button, "aria-label", &name);
        set_attr(&ui.notes_button, "title", &name);
        show(ui.notes.element(), panel == Some("notes"));
        show(ui.handoff_form.element(), panel == Some("handoff"));
        show(ui.remind_form.element(), panel == Some("remind"));
        if let Some(opened) = self.ui.focus_panel.take().filter(|p| panel == Some(*p)) {
            let element = match opened {
                "notes" => self.ui.notes.element(),
                "handoff" => self.ui.handoff_form.element(),
                _ => self.ui.remind_form.element(),
            };
            // The field the agent fills first: the note, the recipient, what to be reminded of.
            if let Ok(Some(field)) = element.query_selector("textarea, select, input") {
                if let Ok(field) = field.dyn_into::<HtmlElement>() {
                    let _ = field.focus();
                }
            }
        }
        let ui = &self.ui;
        let guard_open = chat.is_some_and(|c| c.guard_open);
        if guard_open {
            super::ui::clear(&ui.guard_list);
            for change in chat.map(|c| c.changes.as_slice()).unwrap_or_default() {
                let _ = ui.guard_list.append_child(&text_el("li", "", &change.text));
            }
        }
        show(&ui.send_guard, guard_open);
        if guard_open && std::mem::take(&mut self.ui.focus_guard) {
            if let Ok(Some(edit)) = self.ui.send_guard.query_selector("[data-action=\"edit\"]") {
                if let Ok(edit) = edit.dyn_into::<HtmlElement>() {
                    let _ = edit.focus();
                }
            }
        }
        if panel == Some("remind") {
            self.render_upcoming(&chat_id);
        }
        if panel == Some("notes") {
            let times = super::ui::times(self.state.org.as_ref());
            let now = self.now();
            let queued = pending_view(&chat_id, &self.pending_writes).notes;
            let accepted = self
                .state
                .conversation(&chat_id)
                .and_then(|c| c.accepted_handoff.as_ref());
            self.ui.notes.render(accepted, &queued, &times, now);
        }
    }

    fn render_reminders(&mut self, chat_id: &ChatId) {
        let me = self.state.my_id().map(str::to_owned);
        let due: Vec<_> = self
            .state
            .conversation(chat_id)
            .map(|c| {
                c.reminders
                    .iter()
                    .filter(|r| {
                        r.fired_at.is_some() && Some(r.for_agent.id.as_str()) == me.as_deref()
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let banner = &self.ui.reminder_banner;
        let shown: Vec<String> = super::ui::all(banner, "[data-baton=\"reminder\"]")
            .iter()
            .filter_map(|r| r.get_attribute("data-id"))
            .collect();
        let wanted: Vec<String> = due.iter().map(|r| r.id.clone()).collect();
        if shown != wanted {
            super::ui::clear(banner);
            for reminder in &due {
                let item = el("div", "reminder");
                let _ = item.set_attribute("data-id", &reminder.id);
                let _ = item.append_child(&text_el("span", "", &format!("⏰ {}", reminder.text)));
                for (label, action) in
                    [("Done", "reminder-done"), ("Snooze 1 h", "reminder-snooze")]
                {
                    let control = button(label, action);
                    let _ = control.set_attribute("data-id", &reminder.id);
                    let _ = item.append_child(&control);
                }
                let _ = banner.append_child(&item);
            }
        }
        show(banner, !due.is_empty());
    }

    /// Stage options and the handoff receiver list.
    pub(super) fn render_lists(&mut self) {
        let ui = &self.ui;
        super::ui::clear(&ui.stage);
        let none = text_el("option", "", "No stage");
        let _ = none.set_attribute("value", "");
        let _ = ui.stage.append_child(&none);
        for pipeline in &self.state.pipelines {
            let group = el("optgroup", "");
            let _ = group.set_attribute("label", &pipeline.name);
            for stage in &pipeline.stages {
                let option = text_el("option", "", stage);
                let _ = option.set_attribute("value", &format!("{}|{stage}", pipeline.id));
                let _ = group.append_child(&option);
            }
            let _ = ui.stage.append_child(&group);
        }
        let me = self.state.my_id();
        ui.remind_form.set_teammates(&self.state.agents, me);
        ui.handoff_form.set_teammates(&self.state.agents, me);
        self.ui.lists_dirty = false;
    }

    /// The remind form's list of this chat's reminders still to come, soonest first, and the
    /// "For" picker for those who may set reminders for others.
    fn render_upcoming(&mut self, chat_id: &ChatId) {
        let supervisor = self.state.my_role().is_some_and(|r| r.supervises());
        let times = super::ui::times(self.state.org.as_ref());
        let now = self.now();
        let me = self.state.my_id();
        let lines: Vec<String> = self
            .state
            .conversation(chat_id)
            .map(|c| {
                c.reminders
                    .iter()
                    .filter(|r| r.done_at.is_none())
                    .map(|r| {
                        let whose = if Some(r.for_agent.id.as_str()) == me {
                            String::new()
                        } else {
                            format!(" · for {}", r.for_agent.name)
                        };
                        format!("{} — {}{whose}", times.tell(now, r.due_at), r.text)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.ui.remind_form.render(supervisor, &lines);
    }
}
