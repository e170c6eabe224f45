//! The chat overlay's frame: the header bar, the banners, the lock banner over the composer, the
//! notices above it and the toast, inside one shadow root that moves into `#main` whenever
//! WhatsApp remounts it (so drafts in our forms survive). It composes the components that own
//! their elements and state — the notes panel (`dom::notes`), the handoff and remind forms
//! (`dom::forms`), "Request this chat" (`dom::requests`) — and the small builders they share.
//! The overlay (`dom::overlay`) draws it and acts on its clicks; nothing here calls the overlay.

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use super::forms::{HandoffForm, RemindForm};
use super::notes::NotesPanel;
use super::requests::RequestsUi;
use super::ui::{button, el, remove_attr, set_attr, set_text, show, text_el};
use crate::views::OFFLINE_WARNING;

/// Every element of the chat overlay.
pub struct ChatUi {
    /// The element on the page (`data-baton="chat-overlay"`, with `data-chat`), whose open shadow
    /// root holds everything else.
    pub(in crate::dom) host: HtmlElement,
    /// The root of the overlay inside the shadow root; listeners hang here.
    pub(in crate::dom) container: HtmlElement,
    /// WhatsApp's header and composer heights last set on the host (the column fits between).
    pub(in crate::dom) measured: (i32, i32),
    pub(in crate::dom) owner: HtmlElement,
    pub(in crate::dom) identity: HtmlElement,
    pub(in crate::dom) lock_status: HtmlElement,
    /// "Routed: Qualification by day" while the owner has the chat from routing.
    pub(in crate::dom) routing_reason: HtmlElement,
    /// "Queue: 3", for leads.
    pub(in crate::dom) queue_count: HtmlElement,
    /// "Take next", while chats wait in the queue.
    pub(in crate::dom) take_next: HtmlElement,
    pub(in crate::dom) connection: HtmlElement,
    pub(in crate::dom) stage: HtmlSelectElement,
    pub(in crate::dom) claim: HtmlElement,
    pub(in crate::dom) force: HtmlElement,
    pub(in crate::dom) lock_banner: HtmlElement,
    pub(in crate::dom) lock_text: HtmlElement,
    pub(in crate::dom) lock_force: HtmlElement,
    pub(in crate::dom) handoff_banner: HtmlElement,
    pub(in crate::dom) handoff_text: HtmlElement,
    pub(in crate::dom) decline_reason: HtmlInputElement,
    pub(in crate::dom) reminder_banner: HtmlElement,
    pub(in crate::dom) offline_warning: HtmlElement,
    pub(in crate::dom) pending_writes: HtmlElement,
    pub(in crate::dom) hold_notice: HtmlElement,
    /// The notes panel, with the open chat's notes.
    pub notes: NotesPanel,
    pub handoff_form: HandoffForm,
    pub remind_form: RemindForm,
    pub(in crate::dom) send_guard: HtmlElement,
    pub(in crate::dom) guard_list: HtmlElement,
    pub(in crate::dom) toast: HtmlElement,
    pub(in crate::dom) toast_timer: Option<Timeout>,
    pub(in crate::dom) flash_timer: Option<Timeout>,
    /// The header's Notes button (its name carries the count).
    pub(in crate::dom) notes_button: HtmlElement,
    /// The header's Hand off button (disabled, with the reason, when the agent may not).
    pub(in crate::dom) handoff_button: HtmlElement,
    /// "Waiting for Ravi Kumar to accept", after the owner's name.
    pub(in crate::dom) handoff_pending: HtmlElement,
    /// The latest accepted handoff, pinned at the top of the notes panel.
    /// The toast's words and its one optional action ("Undo").
    pub(in crate::dom) toast_text: HtmlElement,
    pub(in crate::dom) toast_button: HtmlElement,
    /// "Take over from Asha Rao?" with its two answers.
    pub(in crate::dom) force_confirm: HtmlElement,
    pub(in crate::dom) force_confirm_text: HtmlElement,
    /// A panel just opened: its first field takes the focus once it is shown.
    pub(in crate::dom) focus_panel: Option<&'static str>,
    /// The send guard just opened: its "Edit" takes the focus once shown (Enter then goes back
    /// to the draft; sending anyway is a deliberate second choice).
    pub focus_guard: bool,
    /// Stage options and agent lists need re-rendering (pipelines, agents or login changed).
    pub(in crate::dom) lists_dirty: bool,
    /// "Request this chat", both sides.
    pub requests: RequestsUi,
}

pub(in crate::dom) fn input(kind: &str, name: &str, placeholder: &str) -> HtmlInputElement {
    let element: HtmlInputElement = el("input", "").unchecked_into();
    element.set_type(kind);
    element.set_name(name);
    element.set_placeholder(placeholder);
    element
}

pub(in crate::dom) fn textarea(name: &str, placeholder: &str) -> HtmlTextAreaElement {
    let element: HtmlTextAreaElement = el("textarea", "").unchecked_into();
    element.set_name(name);
    element.set_placeholder(placeholder);
    element.set_rows(2);
    element
}

/// A form field with its label above it and its own error line below it (`field-error`, shown by
/// [`ChatUi::field_error`]).
pub(in crate::dom) fn labelled(label: &str, field: &Element) -> HtmlElement {
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
pub(in crate::dom) fn primary(button: HtmlElement) -> HtmlElement {
    let _ = button.set_attribute("data-primary", "");
    button
}

pub(in crate::dom) fn append(parent: &Element, children: &[&Element]) {
    for child in children {
        let _ = parent.append_child(child);
    }
}

/// The overlay's panels (the notes panel and the two forms).
pub(in crate::dom) const PANELS: &str =
    "[data-baton=\"notes-panel\"], [data-baton=\"handoff-form\"], [data-baton=\"remind-form\"]";

/// A handoff's note as three labelled rows (Done / Promised / Next step), as text.
pub(in crate::dom) fn handoff_rows(handoff: &protocol::api::Handoff) -> HtmlElement {
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
pub(in crate::dom) fn render_pinned_handoff(
    card: &HtmlElement,
    accepted: Option<&protocol::api::Handoff>,
) {
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
pub(in crate::dom) fn icon_button(icon: &str, label: &str, action: &str) -> HtmlElement {
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

pub(in crate::dom) fn form_error() -> HtmlElement {
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
        let routing_reason = el("span", "routing-reason");
        let queue_count = el("span", "queue-count");
        let take_next = button("Take next", "take-next");
        let _ = take_next.set_attribute("data-baton", "take-next");
        let _ = take_next.set_attribute(
            "title",
            "Take the chat that has waited longest in the queue",
        );
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
                &routing_reason,
                &handoff_pending,
                &lock_status,
                &stage,
                &claim,
                &force,
                &handoff_button,
                &notes_button,
                &icon_button("remind", "Remind me", "remind"),
                &queue_count,
                &take_next,
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

        let notes = NotesPanel::new();

        let handoff_form = HandoffForm::new();
        let remind_form = RemindForm::new();

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
        // Templates, beside the composer (typing `/` at its start opens them too).
        let templates = button("/ Templates", "templates");
        let _ = templates.set_attribute("data-baton", "template-button");
        let _ = templates.set_attribute("title", "Insert one of the team's templates");
        append(
            &bottom_stack,
            &[&send_guard, &hold_notice, &toast, &templates],
        );
        let column = el("div", "column");
        append(
            &column,
            &[
                &header,
                &banners,
                notes.element(),
                handoff_form.element(),
                remind_form.element(),
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
            notes.element(),
            handoff_form.element(),
            remind_form.element(),
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
            routing_reason,
            queue_count,
            take_next,
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
            notes,
            handoff_form,
            remind_form,
            send_guard,
            guard_list,
            toast,
            toast_timer: None,
            flash_timer: None,
            notes_button,
            toast_text,
            toast_button,
            handoff_button,
            handoff_pending,
            force_confirm,
            force_confirm_text,
            lists_dirty: true,
            focus_panel: None,
            focus_guard: false,
            requests,
        }
    }

    /// Data behind the lists changed.
    pub fn invalidate(&mut self) {
        self.lists_dirty = true;
        self.notes.invalidate();
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
        self.notes.invalidate();
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
    pub(in crate::dom) fn form(&self, form: &str) -> Option<&HtmlElement> {
        match form {
            "handoff" => Some(self.handoff_form.element()),
            "remind" => Some(self.remind_form.element()),
            "note" => Some(self.notes.element()),
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

    pub fn remove(&mut self) {
        self.host.remove();
    }

    /// Fits the column between WhatsApp's chat header and its composer, as tall as they are now
    /// (the composer grows with a long draft; the header with a wrapped subtitle).
    pub(in crate::dom) fn fit_to(&mut self, main: &Element) {
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
