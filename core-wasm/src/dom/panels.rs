//! The chat overlay's UI: header bar, banners, side panels and the send guard, all inside one
//! container that moves into `#main` whenever WhatsApp remounts it (so drafts in our forms
//! survive). Two delegated listeners (click and change) serve every control.

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};
use gloo_timers::callback::Timeout;
use protocol::api::{
    DeclineRequest, HandoffRequest, NoteRequest, ReminderRequest, RequestChat, SnoozeRequest,
    StageRequest,
};
use protocol::ChatId;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use super::overlay::{Overlay, Pending};
use super::requests::{self, RequestIntent, RequestsUi};
use super::ui::{button, document, el, remove_attr, set_attr, set_text, show, text_el};
use super::with_overlay;
use crate::calls::Call;
use crate::identity::Doubt;
use crate::messages::Connection;
use crate::views::{header_view, pending_view, Gate, OFFLINE_WARNING};

/// Every element of the chat overlay.
pub struct ChatUi {
    /// The element on the page (`data-baton="chat-overlay"`, with `data-chat`), whose open shadow
    /// root holds everything else.
    host: HtmlElement,
    /// The root of the overlay inside the shadow root; listeners hang here.
    container: HtmlElement,
    /// WhatsApp's header and composer heights last set on the host (the column fits between).
    measured: (i32, i32),
    owner: HtmlElement,
    identity: HtmlElement,
    lock_status: HtmlElement,
    connection: HtmlElement,
    stage: HtmlSelectElement,
    claim: HtmlElement,
    force: HtmlElement,
    lock_banner: HtmlElement,
    lock_text: HtmlElement,
    lock_force: HtmlElement,
    handoff_banner: HtmlElement,
    handoff_text: HtmlElement,
    decline_reason: HtmlInputElement,
    reminder_banner: HtmlElement,
    offline_warning: HtmlElement,
    pending_writes: HtmlElement,
    hold_notice: HtmlElement,
    notes_panel: HtmlElement,
    notes_list: HtmlElement,
    timeline_list: HtmlElement,
    note_input: HtmlTextAreaElement,
    handoff_form: HtmlElement,
    handoff_to: HtmlSelectElement,
    remind_form: HtmlElement,
    send_guard: HtmlElement,
    guard_list: HtmlElement,
    toast: HtmlElement,
    toast_timer: Option<Timeout>,
    flash_timer: Option<Timeout>,
    /// The header's Notes button (its name carries the count).
    notes_button: HtmlElement,
    /// The header's Hand off button (disabled, with the reason, when the agent may not).
    handoff_button: HtmlElement,
    /// "Waiting for Ravi Kumar to accept", after the owner's name.
    handoff_pending: HtmlElement,
    /// The latest accepted handoff, pinned at the top of the notes panel.
    pinned_handoff: HtmlElement,
    /// The remind form's "For" picker (leads and admins only) and its row.
    remind_for: HtmlSelectElement,
    remind_for_row: HtmlElement,
    /// The chat's upcoming reminders, in the remind form.
    upcoming: HtmlElement,
    /// The toast's words and its one optional action ("Undo").
    toast_text: HtmlElement,
    toast_button: HtmlElement,
    /// "Take over from Asha Rao?" with its two answers.
    force_confirm: HtmlElement,
    force_confirm_text: HtmlElement,
    /// The notes panel needs re-rendering.
    pub notes_dirty: bool,
    /// A panel just opened: its first field takes the focus once it is shown.
    focus_panel: Option<&'static str>,
    /// The send guard just opened: its "Edit" takes the focus once shown (Enter then goes back
    /// to the draft; sending anyway is a deliberate second choice).
    pub focus_guard: bool,
    /// Stage options and agent lists need re-rendering (pipelines, agents or login changed).
    lists_dirty: bool,
    /// "Request this chat", both sides.
    pub requests: RequestsUi,
}

fn input(kind: &str, name: &str, placeholder: &str) -> HtmlInputElement {
    let element: HtmlInputElement = el("input", "").unchecked_into();
    element.set_type(kind);
    element.set_name(name);
    element.set_placeholder(placeholder);
    element
}

fn textarea(name: &str, placeholder: &str) -> HtmlTextAreaElement {
    let element: HtmlTextAreaElement = el("textarea", "").unchecked_into();
    element.set_name(name);
    element.set_placeholder(placeholder);
    element.set_rows(2);
    element
}

/// A form field with its label above it and its own error line below it (`field-error`, shown by
/// [`ChatUi::field_error`]).
fn labelled(label: &str, field: &Element) -> HtmlElement {
    let wrapper = el("label", "field");
    let error = el("span", "field-error");
    let _ = error.set_attribute("role", "alert");
    show(&error, false);
    append(
        &wrapper,
        &[&text_el("span", "field-label", label), field, &error],
    );
    wrapper
}

/// The action a form is for, marked so it stands out from the others.
fn primary(button: HtmlElement) -> HtmlElement {
    let _ = button.set_attribute("data-primary", "");
    button
}

fn append(parent: &Element, children: &[&Element]) {
    for child in children {
        let _ = parent.append_child(child);
    }
}

/// The overlay's panels (the notes panel and the two forms).
const PANELS: &str =
    "[data-baton=\"notes-panel\"], [data-baton=\"handoff-form\"], [data-baton=\"remind-form\"]";

/// A handoff's note as three labelled rows (Done / Promised / Next step), as text.
fn handoff_rows(handoff: &protocol::api::Handoff) -> HtmlElement {
    let rows = el("dl", "handoff-rows");
    for (label, value) in [
        ("Done", &handoff.done),
        ("Promised", &handoff.promised),
        ("Next step", &handoff.next_step),
    ] {
        append(
            &rows,
            &[&text_el("dt", "", label), &text_el("dd", "", value)],
        );
    }
    rows
}

/// The accepted handoff at the top of the notes panel: who handed it to whom, the three rows,
/// and "Remind me about this promise". Rebuilt only when another handoff is accepted.
fn render_pinned_handoff(card: &HtmlElement, accepted: Option<&protocol::api::Handoff>) {
    let Some(handoff) = accepted else {
        remove_attr(card, "data-handoff");
        super::ui::clear(card);
        show(card, false);
        return;
    };
    show(card, true);
    if card.get_attribute("data-handoff").as_deref() == Some(&handoff.id) {
        return;
    }
    super::ui::clear(card);
    let title = match &handoff.from {
        Some(from) => format!("Handed over by {} to {}", from.name, handoff.to.name),
        None => format!("Taken from the queue by {}", handoff.to.name),
    };
    let rows = handoff_rows(handoff);
    append(
        card,
        &[
            &text_el("strong", "", &title),
            &rows,
            &button("Remind me about this promise", "remind-promise"),
        ],
    );
    let _ = card.set_attribute("data-handoff", &handoff.id);
}

/// A header action: an icon (named by `icon`, drawn by the stylesheet) and its name, the name hidden when the chat is narrow (the icon then
/// speaks through `aria-label` and the tooltip).
fn icon_button(icon: &str, label: &str, action: &str) -> HtmlElement {
    let element = el("button", "");
    let _ = element.set_attribute("type", "button");
    let _ = element.set_attribute("data-action", action);
    let _ = element.set_attribute("aria-label", label);
    let _ = element.set_attribute("title", label);
    let glyph = el("span", "icon");
    let _ = glyph.set_attribute("data-icon", icon);
    let _ = glyph.set_attribute("aria-hidden", "true");
    append(&element, &[&glyph, &text_el("span", "label", label)]);
    element
}

fn form_error() -> HtmlElement {
    let error = el("div", "form-error");
    show(&error, false);
    error
}

impl ChatUi {
    pub fn new() -> ChatUi {
        let (host, shadow) = super::ui::shadow_host(
            "div",
            "chat-overlay",
            "display: block; position: absolute; inset: 0; z-index: 1000; pointer-events: none;",
            super::ui::Sheet::Chat,
        );
        let container = el("div", "chat-root");
        let _ = shadow.append_child(&container);
        let requests = RequestsUi::new();

        let header = el("div", "header-bar");
        let owner = el("span", "owner");
        let identity = el("span", "identity");
        let lock_status = el("span", "lock-status");
        let connection = el("span", "connection");
        let stage: HtmlSelectElement = el("select", "stage").unchecked_into();
        let notes_button = icon_button("notes", "Notes", "notes");
        let handoff_button = icon_button("handoff", "Hand off", "handoff");
        let handoff_pending = el("span", "handoff-pending");
        let force_confirm = el("div", "force-confirm");
        let _ = force_confirm.set_attribute("role", "alertdialog");
        let force_confirm_text = el("span", "");
        let force_actions = el("div", "actions");
        append(
            &force_actions,
            &[
                &primary(button("Take over", "force-confirm")),
                &button("Cancel", "force-cancel"),
            ],
        );
        append(&force_confirm, &[&force_confirm_text, &force_actions]);
        let claim = icon_button("claim", "Claim", "claim");
        let _ = claim.set_attribute("data-baton", "claim");
        let force = icon_button("force", "Take over", "force");
        append(
            &header,
            &[
                &owner,
                &handoff_pending,
                &lock_status,
                &stage,
                &claim,
                &force,
                &handoff_button,
                &notes_button,
                &icon_button("remind", "Remind me", "remind"),
                &connection,
                &identity,
            ],
        );

        // A card: who handed it over, then three labelled rows, then the answer (Accept first and
        // marked; a decline asks for its reason below, never in front of Accept).
        let handoff_banner = el("div", "handoff-banner");
        let _ = handoff_banner.set_attribute("role", "region");
        let handoff_text = el("div", "handoff-card");
        let decline_reason = input("text", "reason", "");
        let decline_row = labelled(
            "Why are you declining? Your teammate will see this.",
            &decline_reason,
        );
        let _ = decline_row.set_attribute("data-baton", "decline-row");
        let actions = el("div", "actions");
        append(
            &actions,
            &[
                &primary(button("Accept", "accept")),
                &button("Decline", "decline"),
            ],
        );
        append(
            &handoff_banner,
            &[&handoff_text, &actions, &decline_row, &form_error()],
        );

        let reminder_banner = el("div", "reminder-banner");
        let offline_warning = text_el("div", "offline-warning", OFFLINE_WARNING);
        let _ = offline_warning.set_attribute("role", "alert");
        let pending_writes = el("ul", "pending-writes");
        // One column under the header, in normal flow, so banners stack instead of overlapping.
        let banners = el("div", "banners");
        append(
            &banners,
            &[
                &offline_warning,
                &force_confirm,
                &pending_writes,
                &handoff_banner,
                requests.card(),
                &reminder_banner,
            ],
        );

        let notes_panel = el("div", "notes-panel");
        let pinned_handoff = el("div", "pinned-handoff");
        let notes_list = el("div", "notes");
        let timeline_list = el("ul", "timeline");
        let note_input = textarea("note", "Internal note (@name to mention)");
        append(
            &notes_panel,
            &[
                &pinned_handoff,
                &text_el("h3", "", "Internal notes"),
                &notes_list,
                &note_input,
                &button("Add note", "add-note"),
                &form_error(),
                &text_el("h3", "", "Timeline"),
                &timeline_list,
                &button("Close", "close-panel"),
            ],
        );

        let handoff_form = el("div", "handoff-form");
        let handoff_to: HtmlSelectElement = el("select", "").unchecked_into();
        handoff_to.set_name("to");
        let handoff_actions = el("div", "actions");
        append(
            &handoff_actions,
            &[
                &primary(button("Hand off", "send-handoff")),
                &button("Cancel", "close-panel"),
            ],
        );
        append(
            &handoff_form,
            &[
                &text_el("h3", "", "Hand off this chat"),
                &labelled("To", &handoff_to),
                &labelled("What you have done", &textarea("done", "")),
                &labelled("What the customer was promised", &textarea("promised", "")),
                &labelled("Next step", &textarea("next_step", "")),
                &form_error(),
                &handoff_actions,
            ],
        );

        let remind_form = el("div", "remind-form");
        let remind_for: HtmlSelectElement = el("select", "").unchecked_into();
        remind_for.set_name("for");
        let remind_for_row = labelled("For", &remind_for);
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
            &remind_form,
            &[
                &text_el("h3", "", "Remind me"),
                &labelled("What about?", &input("text", "text", "")),
                &remind_for_row,
                &quick,
                &labelled("Or at", &custom),
                &form_error(),
                &button("Cancel", "close-panel"),
                &text_el("h3", "", "Upcoming on this chat"),
                &upcoming,
            ],
        );

        let hold_notice = el("div", "input-held");
        let _ = hold_notice.set_attribute("role", "status");
        let lock_banner = el("div", "lock-banner");
        let lock_text = el("span", "");
        let lock_force = button("Take over", "force");
        let [ask, asked] = requests.banner_parts();
        append(&lock_banner, &[&lock_text, ask, asked, &lock_force]);

        let send_guard = el("div", "send-guard");
        let guard_list = el("ul", "");
        append(
            &send_guard,
            &[
                &text_el("strong", "", "This chat changed while you were writing:"),
                &guard_list,
                &button("Send anyway", "send-anyway"),
                &button("Edit", "edit"),
                &button("Discard", "discard"),
            ],
        );

        let toast = el("div", "toast");
        let _ = toast.set_attribute("role", "status");
        let toast_text = el("span", "");
        let toast_button = button("", "toast-action");
        append(&toast, &[&toast_text, &toast_button]);
        // Notices just above the composer; the column runs from under WhatsApp's chat header to
        // above its composer, and everything in it stacks in normal flow.
        let bottom_stack = el("div", "bottom-stack");
        append(&bottom_stack, &[&send_guard, &hold_notice, &toast]);
        let column = el("div", "column");
        append(
            &column,
            &[
                &header,
                &banners,
                &notes_panel,
                &handoff_form,
                &remind_form,
                &bottom_stack,
            ],
        );
        append(&container, &[&column, &lock_banner]);
        for hidden in [
            &force_confirm,
            &handoff_pending,
            &offline_warning,
            &pending_writes,
            &handoff_banner,
            &reminder_banner,
            &notes_panel,
            &handoff_form,
            &remind_form,
            &send_guard,
            &lock_banner,
            &hold_notice,
            &toast,
        ] {
            show(hidden, false);
        }
        ChatUi {
            host,
            container,
            measured: (0, 0),
            owner,
            identity,
            lock_status,
            connection,
            stage,
            claim,
            force,
            lock_banner,
            lock_text,
            lock_force,
            handoff_banner,
            handoff_text,
            decline_reason,
            reminder_banner,
            offline_warning,
            pending_writes,
            hold_notice,
            notes_panel,
            notes_list,
            timeline_list,
            note_input,
            handoff_form,
            handoff_to,
            remind_form,
            send_guard,
            guard_list,
            toast,
            toast_timer: None,
            flash_timer: None,
            notes_button,
            pinned_handoff,
            remind_for,
            remind_for_row,
            upcoming,
            toast_text,
            toast_button,
            handoff_button,
            handoff_pending,
            force_confirm,
            force_confirm_text,
            notes_dirty: true,
            lists_dirty: true,
            focus_panel: None,
            focus_guard: false,
            requests,
        }
    }

    /// One listener for every button of the overlay.
    pub fn click_listener(&self) -> EventListener {
        EventListener::new(&self.container, "click", |event| {
            let action = super::ui::event_origin(event)
                .and_then(|t| t.closest("[data-action]").ok().flatten())
                .map(|b| {
                    (
                        b.get_attribute("data-action").unwrap_or_default(),
                        b.get_attribute("data-id"),
                    )
                });
            if let Some((action, id)) = action {
                with_overlay(|o| o.on_action(&action, id));
            }
        })
    }

    /// Keys inside the overlay's panels, caught before WhatsApp's own shortcuts see them: Escape
    /// closes the panel (not the chat, and the draft stays), Ctrl+Enter (⌘+Enter) saves a note.
    pub fn key_listener(&self) -> EventListener {
        let options = EventListenerOptions {
            phase: EventListenerPhase::Capture,
            passive: false,
        };
        // On the window, in the capture phase: before any listener of WhatsApp's can act on it.
        let target: web_sys::EventTarget = match web_sys::window() {
            Some(window) => window.into(),
            None => document().into(),
        };
        EventListener::new_with_options(&target, "keydown", options, |event| {
            let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            let Some(target) = super::ui::event_origin(event) else {
                return;
            };
            if key.is_composing() {
                return;
            }
            let inside = |selector: &str| target.closest(selector).ok().flatten().is_some();
            let in_panel = inside(PANELS);
            let in_guard = inside("[data-baton=\"send-guard\"]");
            // Alt+Shift+N / H / R anywhere on the page: notes, hand off, remind me (WhatsApp's own
            // shortcuts use Ctrl+Alt, so these do not collide). By key code, which Alt and Shift
            // do not change on any layout.
            let shortcut = key.alt_key() && key.shift_key() && !key.ctrl_key() && !key.meta_key();
            let action = match (key.key().as_str(), key.code().as_str()) {
                (_, "KeyN") if shortcut => "notes",
                (_, "KeyH") if shortcut => "handoff",
                (_, "KeyR") if shortcut => "remind",
                ("Escape", _) if in_panel => "close-panel",
                // Escape in the send guard: back to the draft, nothing sent.
                ("Escape", _) if in_guard => "edit",
                ("Enter", _)
                    if in_panel
                        && (key.ctrl_key() || key.meta_key())
                        && target.get_attribute("name").as_deref() == Some("note") =>
                {
                    "add-note"
                }
                _ => return,
            };
            event.prevent_default();
            event.stop_immediate_propagation();
            with_overlay(|o| o.on_action(action, None));
        })
    }

    /// The stage picker.
    pub fn change_listener(&self) -> EventListener {
        EventListener::new(&self.stage, "change", |_| {
            with_overlay(Overlay::on_stage_picked)
        })
    }

    /// Data behind the lists changed.
    pub fn invalidate(&mut self) {
        self.lists_dirty = true;
        self.notes_dirty = true;
    }

    /// A different chat opened: forms start empty.
    pub fn chat_changed(&mut self) {
        for field in super::ui::all(&self.container, "textarea, input") {
            if let Ok(input) = field.clone().dyn_into::<HtmlInputElement>() {
                input.set_value("");
            } else if let Ok(area) = field.dyn_into::<HtmlTextAreaElement>() {
                area.set_value("");
            }
        }
        for error in super::ui::all(&self.container, "[data-baton=\"form-error\"]") {
            show(&error, false);
        }
        self.notes_dirty = true;
        self.lists_dirty = true;
    }

    pub fn toast(&mut self, message: &str) {
        self.toast_with(message, None);
    }

    /// A toast with one action button (`(label, action, id)`), e.g. "Undo"; it stays a little
    /// longer, for the agent to reach the button.
    pub fn toast_with(&mut self, message: &str, action: Option<(&str, &str, &str)>) {
        set_text(&self.toast_text, message);
        match action {
            Some((label, name, id)) => {
                set_text(&self.toast_button, label);
                set_attr(&self.toast_button, "data-action", name);
                set_attr(&self.toast_button, "data-id", id);
                show(&self.toast_button, true);
            }
            None => {
                set_text(&self.toast_button, "");
                show(&self.toast_button, false);
            }
        }
        show(&self.toast, true);
        let toast = self.toast.clone();
        let ms = if action.is_some() { 10_000 } else { 5_000 };
        self.toast_timer = Some(Timeout::new(ms, move || show(&toast, false)));
    }

    /// Draws attention to the lock banner when a keystroke was refused.
    pub fn flash_lock_banner(&mut self) {
        set_attr(&self.lock_banner, "data-flash", "");
        let banner = self.lock_banner.clone();
        self.flash_timer = Some(Timeout::new(600, move || {
            let _ = banner.remove_attribute("data-flash");
        }));
    }

    /// The element a form's fields and errors live in; `None` for calls with no form (the stage
    /// picker, giving a chat back), whose outcome is told in a toast.
    fn form(&self, form: &str) -> Option<&HtmlElement> {
        match form {
            "handoff" => Some(&self.handoff_form),
            "remind" => Some(&self.remind_form),
            "note" => Some(&self.notes_panel),
            "accept" | "decline" => Some(&self.handoff_banner),
            _ => None,
        }
    }

    /// A form's request succeeded: clear it.
    pub fn form_done(&mut self, form: &str) {
        let Some(element) = self.form(form).cloned() else {
            return;
        };
        for field in super::ui::all(
            &element,
            "textarea, input[type=\"text\"], input[type=\"datetime-local\"]",
        ) {
            if let Ok(input) = field.clone().dyn_into::<HtmlInputElement>() {
                input.set_value("");
            } else if let Ok(area) = field.dyn_into::<HtmlTextAreaElement>() {
                area.set_value("");
            }
        }
        if let Ok(Some(error)) = element.query_selector("[data-baton=\"form-error\"]") {
            show(&error, false);
        }
        self.clear_field_errors(form);
    }

    /// Shows `message` beside `field` of `form` (and focuses the field), or under the form if it
    /// has no such field.
    pub fn field_error(&mut self, form: &str, field: &str, message: &str) {
        let Some(element) = self.form(form).cloned() else {
            return self.toast(message);
        };
        let input = element
            .query_selector(&format!("[name=\"{field}\"]"))
            .ok()
            .flatten();
        let line = input
            .as_ref()
            .and_then(|i| i.closest("[data-baton=\"field\"]").ok().flatten())
            .and_then(|w| {
                w.query_selector("[data-baton=\"field-error\"]")
                    .ok()
                    .flatten()
            });
        match (input, line) {
            (Some(input), Some(line)) => {
                set_text(&line, message);
                show(&line, true);
                let _ = input.set_attribute("aria-invalid", "true");
                if let Ok(input) = input.dyn_into::<HtmlElement>() {
                    let _ = input.focus();
                }
            }
            _ => self.form_error(form, message),
        }
    }

    /// Clears a form's field errors (before it is checked or sent again).
    pub fn clear_field_errors(&mut self, form: &str) {
        let Some(element) = self.form(form).cloned() else {
            return;
        };
        for line in super::ui::all(&element, "[data-baton=\"field-error\"]") {
            show(&line, false);
        }
        for input in super::ui::all(&element, "[aria-invalid]") {
            remove_attr(&input, "aria-invalid");
        }
        if let Ok(Some(error)) = element.query_selector("[data-baton=\"form-error\"]") {
            show(&error, false);
        }
    }

    /// Shows `message` under `form` (in a toast when the call has no form).
    pub fn form_error(&mut self, form: &str, message: &str) {
        let Some(element) = self.form(form).cloned() else {
            return self.toast(message);
        };
        if let Ok(Some(error)) = element.query_selector("[data-baton=\"form-error\"]") {
            set_text(&error, message);
            show(&error, true);
        }
    }

    fn field(&self, form: &HtmlElement, name: &str) -> String {
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

    pub fn remove(&mut self) {
        self.host.remove();
    }

    /// Fits the column between WhatsApp's chat header and its composer, as tall as they are now
    /// (the composer grows with a long draft; the header with a wrapped subtitle).
    fn fit_to(&mut self, main: &Element) {
        let height = |selector: &str| {
            main.query_selector(selector)
                .ok()
                .flatten()
                .and_then(|e| e.dyn_into::<HtmlElement>().ok())
                .map_or(0, |e| e.offset_height())
        };
        let measured = (height("header"), height("footer"));
        if measured != self.measured && measured.0 > 0 {
            let style = self.host.style();
            let _ = style.set_property("--baton-top", &format!("{}px", measured.0));
            let _ = style.set_property("--baton-bottom", &format!("{}px", measured.1));
            self.measured = measured;
        }
    }
}

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
    pub(super) fn render_chat(&mut self) {
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
            for part in [&ui.lock_status, &ui.claim, &ui.force, &ui.lock_banner] {
                show(part, false);
            }
            return;
        };
        if !self.logged_in() {
            // Nothing of the last session stays: no stage, no actions, no banners or panels.
            set_attr(&ui.container, "data-logged-out", "");
            set_text(&ui.owner, "Baton: log in from the toolbar button");
            for part in [&ui.lock_status, &ui.claim, &ui.force, &ui.lock_banner] {
                show(part, false);
            }
            return;
        }
        remove_attr(&ui.container, "data-logged-out");
        set_attr(&ui.host, "data-chat", chat_id.as_str());
        let now = self.now();
        let header = header_view(&self.state, &chat_id, now);
        set_text(&ui.owner, &header.owner_label);
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
        // Until this chat's notes are read, no count (not the last chat's).
        let name = chat.filter(|c| c.notes_loaded).map_or_else(
            || "Notes".to_owned(),
            |c| crate::views::notes_label(c.notes.len(), c.more_notes),
        );
        if let Ok(Some(label)) = ui.notes_button.query_selector("[data-baton=\"label\"]") {
            set_text(&label, &name);
        }
        set_attr(&ui.notes_button, "aria-label", &name);
        set_attr(&ui.notes_button, "title", &name);
        show(&ui.notes_panel, panel == Some("notes"));
        if panel == Some("notes") {
            let accepted = self
                .state
                .conversation(&chat_id)
                .and_then(|c| c.accepted_handoff.as_ref());
            render_pinned_handoff(&ui.pinned_handoff, accepted);
        }
        show(&ui.handoff_form, panel == Some("handoff"));
        show(&ui.remind_form, panel == Some("remind"));
        if let Some(opened) = self.ui.focus_panel.take().filter(|p| panel == Some(*p)) {
            let element = match opened {
                "notes" => &self.ui.notes_panel,
                "handoff" => &self.ui.handoff_form,
                _ => &self.ui.remind_form,
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
        if self.ui.notes_dirty && panel == Some("notes") {
            self.render_notes();
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
    fn render_lists(&mut self) {
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
        super::ui::clear(&ui.remind_for);
        let me_option = text_el("option", "", "Me");
        let _ = me_option.set_attribute("value", "");
        let _ = ui.remind_for.append_child(&me_option);
        for agent in self
            .state
            .agents
            .iter()
            .filter(|a| Some(a.id.as_str()) != self.state.my_id())
        {
            let option = text_el("option", "", &agent.name);
            let _ = option.set_attribute("value", &agent.id);
            let _ = ui.remind_for.append_child(&option);
        }
        super::ui::clear(&ui.handoff_to);
        let choose = text_el("option", "", "Choose teammate…");
        let _ = choose.set_attribute("value", "");
        let _ = ui.handoff_to.append_child(&choose);
        let me = self.state.my_id();
        for agent in self
            .state
            .agents
            .iter()
            .filter(|a| Some(a.id.as_str()) != me)
        {
            let option = text_el("option", "", &agent.name);
            let _ = option.set_attribute("value", &agent.id);
            let _ = ui.handoff_to.append_child(&option);
        }
        self.ui.lists_dirty = false;
    }

    /// The remind form's list of this chat's reminders still to come, soonest first, and the
    /// "For" picker for those who may set reminders for others.
    fn render_upcoming(&mut self, chat_id: &ChatId) {
        let supervisor = self.state.my_role().is_some_and(|r| r.supervises());
        show(&self.ui.remind_for_row, supervisor);
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
        let shown: Vec<String> = super::ui::all(&self.ui.upcoming, "li")
            .iter()
            .filter_map(|li| li.text_content())
            .collect();
        if shown != lines {
            super::ui::clear(&self.ui.upcoming);
            for line in &lines {
                let _ = self.ui.upcoming.append_child(&text_el("li", "", line));
            }
            if lines.is_empty() {
                let _ = self
                    .ui
                    .upcoming
                    .append_child(&text_el("li", "", "None yet"));
            }
        }
    }

    fn render_notes(&mut self) {
        let Some(chat) = self.chat.as_ref() else {
            return;
        };
        let ui = &self.ui;
        let times = super::ui::times(self.state.org.as_ref());
        let now = self.now();
        super::ui::clear(&ui.notes_list);
        for note in &chat.notes {
            let item = el("div", "note");
            let _ = item.set_attribute("data-id", &note.id);
            let _ = item.append_child(&text_el("strong", "", &note.author.name));
            // "5 min ago", with the date and time (the org's) on hover.
            let when = text_el("time", "", &times.tell(now, note.created_at));
            let _ = when.set_attribute("title", &times.absolute(note.created_at));
            let _ = item.append_child(&when);
            // The body is user text: text nodes, never HTML; @mentions in <mark>s of their own.
            let body = el("p", "note-body");
            for (piece, mention) in crate::views::note_segments(&note.body, &note.mentions) {
                if mention {
                    let _ = body.append_child(&text_el("mark", "mention", piece));
                } else {
                    let _ = body.append_with_str_1(piece);
                }
            }
            let _ = item.append_child(&body);
            let _ = ui.notes_list.append_child(&item);
        }
        // Notes still in the worker's queue, in place after the saved ones until the server has
        // them.
        if let Some(chat_id) = chat.chat_id.as_ref() {
            for (key, body) in pending_view(chat_id, &self.pending_writes).notes {
                let item = el("div", "note");
                let _ = item.set_attribute("data-pending", &key);
                let _ = item.append_child(&text_el("strong", "", "You"));
                let _ = item.append_child(&text_el("time", "", "Not sent yet"));
                let _ = item.append_child(&text_el("p", "note-body", &body));
                let _ = ui.notes_list.append_child(&item);
            }
        }
        super::ui::clear(&ui.timeline_list);
        for line in &chat.timeline {
            let item = text_el(
                "li",
                "",
                &format!("{} — {}", times.absolute(line.at), line.text),
            );
            let _ = ui.timeline_list.append_child(&item);
        }
        self.ui.notes_dirty = false;
    }

    fn current_chat(&self) -> Option<ChatId> {
        self.chat.as_ref().and_then(|c| c.chat_id.clone())
    }

    fn on_action(&mut self, action: &str, id: Option<String>) {
        let Some(chat_id) = self.current_chat() else {
            return;
        };
        if let Some(intent) = self.ui.requests.intent(action, id.clone()) {
            self.on_request_intent(chat_id, intent);
            self.schedule_refresh();
            return;
        }
        // Why a hand-off would be refused here (the Hand off button is disabled for it; a shortcut
        // reaches here all the same).
        let refused = header_view(&self.state, &chat_id, self.now()).work_refused;
        match action {
            "claim" => self.take_lock(false),
            // A take-over stops a colleague mid-reply: asked first, in the chat.
            "force" => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.confirming_force = true;
                }
            }
            "force-confirm" => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.confirming_force = false;
                }
                self.take_lock(true);
            }
            "force-cancel" => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.confirming_force = false;
                }
            }
            // A shortcut reaches here too: what the server would refuse is refused here, saying why.
            "handoff"
                if self.chat.as_ref().and_then(|c| c.panel) != Some("handoff")
                    && refused.is_some() =>
            {
                if let Some(why) = &refused {
                    self.ui.toast(why);
                }
            }
            "notes" | "handoff" | "remind" => {
                let panel: &'static str = match action {
                    "notes" => "notes",
                    "handoff" => "handoff",
                    _ => "remind",
                };
                let opening = self.chat.as_ref().and_then(|c| c.panel) != Some(panel);
                if let Some(chat) = self.chat.as_mut() {
                    chat.panel = opening.then_some(panel);
                }
                self.ui.focus_panel = opening.then_some(panel);
                if opening && panel == "notes" {
                    self.request(
                        Call::Notes {
                            chat_id: chat_id.clone(),
                        },
                        Pending::Notes {
                            chat_id: chat_id.clone(),
                        },
                    );
                    self.request(
                        Call::Timeline {
                            chat_id: chat_id.clone(),
                        },
                        Pending::Timeline { chat_id },
                    );
                }
            }
            "close-panel" => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.panel = None;
                }
            }
            "add-note" => {
                let body = self.ui.note_input.value();
                if body.trim().is_empty() {
                    self.ui.form_error("note", "Write something first");
                    return;
                }
                let mentions = self.mentions_in(&body);
                self.request(
                    Call::AddNote {
                        chat_id: chat_id.clone(),
                        note: NoteRequest { body, mentions },
                    },
                    Pending::Form {
                        chat_id,
                        form: "note",
                    },
                );
            }
            "send-handoff" => {
                let form = self.ui.handoff_form.clone();
                let fence = self
                    .chat
                    .as_ref()
                    .and_then(|c| c.held.as_ref())
                    .map(|h| h.fence);
                let handoff = HandoffRequest {
                    to_agent_id: self.ui.handoff_to.value(),
                    done: self.ui.field(&form, "done"),
                    promised: self.ui.field(&form, "promised"),
                    next_step: self.ui.field(&form, "next_step"),
                    fence,
                };
                self.ui.clear_field_errors("handoff");
                let gaps = crate::views::handoff_gaps(&handoff);
                // Each gap beside its field; the first one gets the focus.
                for (field, words) in gaps.iter().rev() {
                    self.ui.field_error("handoff", field, words);
                }
                if !gaps.is_empty() {
                    return;
                }
                let call = Call::Handoff {
                    chat_id: chat_id.clone(),
                    handoff,
                };
                if self.request(
                    call,
                    Pending::Form {
                        chat_id,
                        form: "handoff",
                    },
                ) {
                    // The receiver may reply at once: this tab's lock ends with the handoff.
                    if let Some(chat) = self.chat.as_mut() {
                        chat.held = None;
                    }
                }
            }
            "accept" => {
                self.request(
                    Call::AcceptHandoff {
                        chat_id: chat_id.clone(),
                    },
                    Pending::Form {
                        chat_id,
                        form: "accept",
                    },
                );
            }
            "decline" => {
                let declining = self.chat.as_ref().is_some_and(|c| c.declining);
                let reason = self.ui.decline_reason.value();
                if !declining || reason.trim().is_empty() {
                    if let Some(chat) = self.chat.as_mut() {
                        chat.declining = true;
                    }
                    // Shown now (not at the next refresh) so the reason field can take the focus.
                    if let Ok(Some(row)) = self
                        .ui
                        .decline_reason
                        .closest("[data-baton=\"decline-row\"]")
                    {
                        show(&row, true);
                    }
                    if declining {
                        self.ui.field_error(
                            "decline",
                            "reason",
                            "Say why, so your teammate knows what to do next.",
                        );
                    }
                    let _ = self.ui.decline_reason.focus();
                } else {
                    self.request(
                        Call::DeclineHandoff {
                            chat_id: chat_id.clone(),
                            decline: DeclineRequest { reason },
                        },
                        Pending::Form {
                            chat_id,
                            form: "decline",
                        },
                    );
                }
            }
            "remind-1h" | "remind-tomorrow" | "remind-custom" => self.set_reminder(action, chat_id),
            // From the pinned handoff: the reminder form, already saying what was promised.
            "remind-promise" => {
                let promised = self
                    .state
                    .conversation(&chat_id)
                    .and_then(|c| c.accepted_handoff.as_ref())
                    .map(|h| h.promised.clone());
                if let Some(chat) = self.chat.as_mut() {
                    chat.panel = Some("remind");
                }
                self.ui.focus_panel = Some("remind");
                if let (Some(promised), Ok(Some(field))) = (
                    promised,
                    self.ui.remind_form.query_selector("input[name=\"text\"]"),
                ) {
                    if let Ok(field) = field.dyn_into::<HtmlInputElement>() {
                        field.set_value(&format!("Promised: {promised}"));
                    }
                }
            }
            // "Undo" of a claim: the chat goes back to the team.
            "give-back" => {
                self.request(
                    Call::GiveBack {
                        chat_id: chat_id.clone(),
                    },
                    Pending::Form {
                        chat_id,
                        form: "give-back",
                    },
                );
            }
            // "Undo" on a reminder just set: it is completed before it ever fires.
            "reminder-undo" => {
                if let Some(id) = id {
                    self.request(Call::ReminderDone { id }, Pending::Report);
                    self.ui.toast("Reminder removed");
                }
            }
            "reminder-done" => {
                if let Some(id) = id {
                    self.request(Call::ReminderDone { id }, Pending::Report);
                }
            }
            "reminder-snooze" => {
                if let Some(id) = id {
                    let snooze = SnoozeRequest {
                        until: None,
                        minutes: Some(60),
                    };
                    self.request(Call::Snooze { id, snooze }, Pending::Report);
                }
            }
            "send-anyway" | "edit" | "discard" => self.guard_action(action),
            _ => {}
        }
        self.schedule_refresh();
    }

    /// Makes the call a click in the requests component asked for.
    fn on_request_intent(&mut self, chat_id: ChatId, intent: RequestIntent) {
        let (call, form) = match intent {
            RequestIntent::Ask => (
                Call::RequestChat {
                    chat_id: chat_id.clone(),
                    request: RequestChat::default(),
                },
                requests::ASK_FORM,
            ),
            RequestIntent::Grant { id } => (Call::GrantRequest { id }, requests::GRANT_FORM),
            RequestIntent::Keep { id } => (Call::DeclineRequest { id }, requests::KEEP_FORM),
            // The handoff form, addressed to whoever asked: the note carries the context over.
            RequestIntent::GrantWithNote { to_agent_id } => {
                if let Some(chat) = self.chat.as_mut() {
                    chat.panel = Some("handoff");
                }
                self.ui.focus_panel = Some("handoff");
                if self.ui.lists_dirty {
                    self.render_lists();
                }
                self.ui.handoff_to.set_value(&to_agent_id);
                return;
            }
        };
        self.request(call, Pending::Form { chat_id, form });
    }

    fn set_reminder(&mut self, action: &str, chat_id: ChatId) {
        let form = self.ui.remind_form.clone();
        let text = self.ui.field(&form, "text");
        let text = if text.trim().is_empty() {
            format!(
                "Follow up with {}",
                self.chat
                    .as_ref()
                    .map(|c| c.title.as_str())
                    .unwrap_or("this chat")
            )
        } else {
            text
        };
        // Due times are instants on the server's clock; "tomorrow 10:00" and a picked date and
        // time are read on the org's clock (its time zone), not the browser's.
        let times = super::ui::times(self.state.org.as_ref());
        let wall = |ms| times.wall(ms);
        let due_at = match action {
            "remind-1h" => Some(self.now() + 3_600_000),
            "remind-tomorrow" => crate::clock::tomorrow_at_ten(self.now(), wall),
            _ => crate::clock::parse_local(&self.ui.field(&form, "when"))
                .and_then(|picked| crate::clock::instant_of(picked, wall)),
        };
        let Some(due_at) = due_at else {
            self.ui.form_error("remind", "Pick a date and time");
            return;
        };
        self.request(
            Call::Remind {
                chat_id: chat_id.clone(),
                reminder: ReminderRequest {
                    due_at,
                    text,
                    // A lead may set it for a teammate; everyone else for themselves.
                    for_agent_id: Some(self.ui.remind_for.value()).filter(|id| !id.is_empty()),
                },
            },
            Pending::Form {
                chat_id,
                form: "remind",
            },
        );
    }

    fn on_stage_picked(&mut self) {
        let Some(chat_id) = self.current_chat() else {
            return;
        };
        let value = self.ui.stage.value();
        let (pipeline_id, stage) = match value.split_once('|') {
            Some((pipeline, stage)) => (Some(pipeline.to_owned()), Some(stage.to_owned())),
            None => (None, None),
        };
        self.request(
            Call::SetStage {
                chat_id: chat_id.clone(),
                stage: StageRequest { pipeline_id, stage },
            },
            Pending::Form {
                chat_id,
                form: "stage",
            },
        );
    }

    /// Agents @mentioned in a note: `@Asha` matches an agent whose name starts with that word.
    fn mentions_in(&self, body: &str) -> Vec<String> {
        crate::views::mentioned_agent_ids(body, &self.state.agents)
    }
}
