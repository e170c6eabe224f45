//! What the agent's clicks and keys in the open chat's overlay do: each control's action
//! becomes a call on the server (through the worker), a panel opening or closing, or a change of
//! the composer's guard.

use protocol::api::{
    DeclineRequest, NoteRequest, ReminderRequest, RequestChat, SnoozeRequest, StageRequest,
};
use protocol::ChatId;
use wasm_bindgen::JsCast;

use gloo_events::{EventListener, EventListenerOptions, EventListenerPhase};

use super::{Overlay, Pending};
use crate::calls::Call;
use crate::dom::panels::{ChatUi, PANELS};
use crate::dom::requests::{self, RequestIntent};
use crate::dom::ui::show;
use crate::dom::with_overlay;
use crate::views::header_view;

impl Overlay {
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
            "take-next" => {
                self.request(Call::TakeNext, Pending::TakeNext);
            }
            "templates" => self.open_templates(false),
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
                let body = self.ui.notes.draft();
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
                let fence = self
                    .chat
                    .as_ref()
                    .and_then(|c| c.held.as_ref())
                    .map(|h| h.fence);
                let handoff = self.ui.handoff_form.request(fence);
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
                if let Some(promised) = promised {
                    self.ui
                        .remind_form
                        .prefill(&format!("Promised: {promised}"));
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
                self.ui.handoff_form.address_to(&to_agent_id);
                return;
            }
        };
        self.request(call, Pending::Form { chat_id, form });
    }

    fn set_reminder(&mut self, action: &str, chat_id: ChatId) {
        let text = self.ui.remind_form.text();
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
            _ => crate::clock::parse_local(&self.ui.remind_form.when())
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
                    for_agent_id: self.ui.remind_form.for_agent(),
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

/// One listener for every button of the overlay.
pub(super) fn click_listener(ui: &ChatUi) -> EventListener {
    EventListener::new(&ui.container, "click", |event| {
        let action = crate::dom::ui::event_origin(event)
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
pub(super) fn key_listener() -> EventListener {
    let options = EventListenerOptions {
        phase: EventListenerPhase::Capture,
        passive: false,
    };
    // On the window, in the capture phase: before any listener of WhatsApp's can act on it.
    let target: web_sys::EventTarget = match web_sys::window() {
        Some(window) => window.into(),
        None => crate::dom::ui::document().into(),
    };
    EventListener::new_with_options(&target, "keydown", options, |event| {
        let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
            return;
        };
        let Some(target) = crate::dom::ui::event_origin(event) else {
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
pub(super) fn change_listener(ui: &ChatUi) -> EventListener {
    EventListener::new(&ui.stage, "change", |_| {
        with_overlay(Overlay::on_stage_picked)
    })
}
