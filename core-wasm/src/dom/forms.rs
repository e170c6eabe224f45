//! The two side forms as components that own their elements: the handoff form (to whom, and the
//! three things the receiver needs) and the remind form (what about, for whom, when, and what is
//! already coming on this chat). Each reads its own fields and keeps its teammate list; the
//! overlay decides what a submission means and makes the call.

use protocol::api::{Agent, HandoffRequest};
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use super::panels::{append, form_error, input, labelled, primary, textarea};
use super::ui::{button, clear, el, show, text_el};

/// The value of the form's field named `name` (input, text area or picker), or empty.
fn field(form: &HtmlElement, name: &str) -> String {
    form.query_selector(&format!("[name=\"{name}\"]"))
        .ok()
        .flatten()
        .map(|f| {
            if let Some(input) = f.dyn_ref::<HtmlInputElement>() {
                input.value()
            } else if let Some(area) = f.dyn_ref::<HtmlTextAreaElement>() {
                area.value()
            } else if let Some(select) = f.dyn_ref::<HtmlSelectElement>() {
                select.value()
            } else {
                String::new()
            }
        })
        .unwrap_or_default()
}

/// Fills a teammate picker, `first` (value "") chosen, then every active teammate but me.
fn fill_teammates(picker: &HtmlSelectElement, first: &str, agents: &[Agent], me: Option<&str>) {
    clear(picker);
    let none = text_el("option", "", first);
    let _ = none.set_attribute("value", "");
    let _ = picker.append_child(&none);
    // People only: the first responder's seat takes no handoffs.
    let people = agents
        .iter()
        .filter(|a| Some(a.id.as_str()) != me && a.role != protocol::api::Role::Responder);
    for agent in people {
        let option = text_el("option", "", &agent.name);
        let _ = option.set_attribute("value", &agent.id);
        let _ = picker.append_child(&option);
    }
}

/// "Hand off this chat": to whom, what was done, what the customer was promised, the next step.
pub struct HandoffForm {
    root: HtmlElement,
    to: HtmlSelectElement,
}

impl HandoffForm {
    pub fn new() -> HandoffForm {
        let root = el("div", "handoff-form");
        let to: HtmlSelectElement = el("select", "").unchecked_into();
        to.set_name("to");
        let actions = el("div", "actions");
        append(
            &actions,
            &[
                &primary(button("Hand off", "send-handoff")),
                &button("Cancel", "close-panel"),
            ],
        );
        append(
            &root,
            &[
                &text_el("h3", "", "Hand off this chat"),
                &labelled("To", &to),
                &labelled("What you have done", &textarea("done", "")),
                &labelled("What the customer was promised", &textarea("promised", "")),
                &labelled("Next step", &textarea("next_step", "")),
                &form_error(),
                &actions,
            ],
        );
        HandoffForm { root, to }
    }

    pub fn element(&self) -> &HtmlElement {
        &self.root
    }

    /// The teammates one may hand the chat to, after "Choose teammate…".
    pub fn set_teammates(&self, agents: &[Agent], me: Option<&str>) {
        fill_teammates(&self.to, "Choose teammate…", agents, me);
    }

    /// Addresses the form to a teammate ("Hand over with a note" to whoever asked).
    pub fn address_to(&self, agent_id: &str) {
        self.to.set_value(agent_id);
    }

    /// The handoff as filled in, sent under `fence` (the lock this tab holds, if any).
    pub fn request(&self, fence: Option<i64>) -> HandoffRequest {
        HandoffRequest {
            to_agent_id: self.to.value(),
            done: field(&self.root, "done"),
            promised: field(&self.root, "promised"),
            next_step: field(&self.root, "next_step"),
            fence,
        }
    }
}

/// "Remind me": what about, for whom (leads and admins), when, and the chat's reminders to come.
pub struct RemindForm {
    root: HtmlElement,
    for_agent: HtmlSelectElement,
    for_row: HtmlElement,
    upcoming: HtmlElement,
}

impl RemindForm {
    pub fn new() -> RemindForm {
        let root = el("div", "remind-form");
        let for_agent: HtmlSelectElement = el("select", "").unchecked_into();
        for_agent.set_name("for");
        let for_row = labelled("For", &for_agent);
        let quick = el("div", "actions");
        append(
            &quick,
            &[
                &button("In 1 hour", "remind-1h"),
                &button("Tomorrow 10:00", "remind-tomorrow"),
            ],
        );
        let custom = el("div", "actions");
        append(
            &custom,
            &[
                &input("datetime-local", "when", ""),
                &button("Set", "remind-custom"),
            ],
        );
        let upcoming = el("ul", "upcoming");
        append(
            &root,
            &[
                &text_el("h3", "", "Remind me"),
                &labelled("What about?", &input("text", "text", "")),
                &for_row,
                &quick,
                &labelled("Or at", &custom),
                &form_error(),
                &button("Cancel", "close-panel"),
                &text_el("h3", "", "Upcoming on this chat"),
                &upcoming,
            ],
        );
        RemindForm {
            root,
            for_agent,
            for_row,
            upcoming,
        }
    }

    pub fn element(&self) -> &HtmlElement {
        &self.root
    }

    /// The teammates a lead may set a reminder for, after "Me".
    pub fn set_teammates(&self, agents: &[Agent], me: Option<&str>) {
        fill_teammates(&self.for_agent, "Me", agents, me);
    }

    /// What the reminder is about, as typed.
    pub fn text(&self) -> String {
        field(&self.root, "text")
    }

    /// Starts the reminder's text ("Promised: a call before 6 pm").
    pub fn prefill(&self, text: &str) {
        if let Ok(Some(field)) = self.root.query_selector("input[name=\"text\"]") {
            if let Ok(field) = field.dyn_into::<HtmlInputElement>() {
                field.set_value(text);
            }
        }
    }

    /// The picked date and time, as the picker gives it (`2026-11-27T10:00`), or empty.
    pub fn when(&self) -> String {
        field(&self.root, "when")
    }

    /// The teammate it is for, if a lead chose one (`None`: me).
    pub fn for_agent(&self) -> Option<String> {
        Some(self.for_agent.value()).filter(|id| !id.is_empty())
    }

    /// Shows the "For" picker (leads and admins) and the chat's reminders to come, in words.
    pub fn render(&self, may_choose_for: bool, upcoming: &[String]) {
        show(&self.for_row, may_choose_for);
        let shown: Vec<String> = super::ui::all(&self.upcoming, "li")
            .iter()
            .filter_map(|li| li.text_content())
            .collect();
        let wanted: Vec<String> = if upcoming.is_empty() {
            vec!["None yet".to_owned()]
        } else {
            upcoming.to_vec()
        };
        if shown != wanted {
            clear(&self.upcoming);
            for line in &wanted {
                let _ = self.upcoming.append_child(&text_el("li", "", line));
            }
        }
    }
}
