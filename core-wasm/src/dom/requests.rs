//! "Request this chat", both sides, as one component that owns its elements and its state: the
//! asking agent's button (and then "Asked — waiting for …") in the lock banner, and the owner's
//! card of colleagues' requests with Hand over / Hand over with a note / Keep it.
//!
//! It draws from the pure [`HeaderView`](crate::views::HeaderView) parts and turns its own clicks
//! into [`RequestIntent`]s; the overlay makes the calls. It knows nothing of the overlay, so the
//! panels the next features add can follow the same shape.

use protocol::api::ChatRequest;
use web_sys::HtmlElement;

use super::ui::{button, clear, el, set_attr, set_text, show, text_el};
use crate::calls::{Answer, Outcome};
use crate::views::Ask;

/// What a click in the component asks the overlay to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestIntent {
    /// Ask the owner for the open chat.
    Ask,
    /// Hand the chat to the colleague who asked, at once.
    Grant { id: String },
    /// Hand it over through the handoff form, addressed to them.
    GrantWithNote { to_agent_id: String },
    /// Keep the chat.
    Keep { id: String },
}

/// The forms (in the overlay's reply bookkeeping) of this component's calls.
pub const ASK_FORM: &str = "ask";
pub const GRANT_FORM: &str = "grant";
pub const KEEP_FORM: &str = "keep";

pub struct RequestsUi {
    /// "Request this chat", in the lock banner.
    ask_button: HtmlElement,
    /// "Asked — waiting for Asha Rao", in its place once asked.
    asked: HtmlElement,
    /// The owner's card, in the banner column.
    card: HtmlElement,
    /// The requests the card shows (rebuilt only when they change: its buttons keep focus).
    shown: Vec<ChatRequest>,
    /// An answer on its way: its card's buttons are disabled until it is back.
    answering: Option<String>,
}

impl RequestsUi {
    pub fn new() -> RequestsUi {
        let ask_button = button("Request this chat", "request-chat");
        set_attr(
            &ask_button,
            "title",
            "Ask the owner to hand this chat to you; they are notified at once",
        );
        let asked = el("span", "request-asked");
        let card = el("div", "chat-requests");
        set_attr(&card, "role", "region");
        set_attr(&card, "aria-label", "Colleagues asking for this chat");
        for part in [&ask_button, &asked, &card] {
            show(part, false);
        }
        RequestsUi {
            ask_button,
            asked,
            card,
            shown: Vec::new(),
            answering: None,
        }
    }

    /// The parts that go in the lock banner, after its text.
    pub fn banner_parts(&self) -> [&HtmlElement; 2] {
        [&self.ask_button, &self.asked]
    }

    /// The owner's card, for the banner column.
    pub fn card(&self) -> &HtmlElement {
        &self.card
    }

    /// Brings both sides up to date. `blocked` says whether the lock banner is up (the ask lives
    /// there).
    pub fn render(&mut self, ask: &Ask, requests: &[ChatRequest], blocked: bool) {
        match ask {
            Ask::May { .. } if blocked => {
                show(&self.ask_button, true);
                show(&self.asked, false);
            }
            Ask::Asked { owner } if blocked => {
                set_text(&self.asked, &format!("Asked — waiting for {owner}"));
                show(&self.ask_button, false);
                show(&self.asked, true);
            }
            _ => {
                show(&self.ask_button, false);
                show(&self.asked, false);
            }
        }
        if self.shown != requests {
            self.shown = requests.to_vec();
            clear(&self.card);
            for request in requests {
                let _ = self.card.append_child(&request_row(request));
            }
        }
        for row in super::ui::all(&self.card, "[data-baton=\"chat-request\"]") {
            let busy = self.answering.is_some()
                && row.get_attribute("data-id").as_deref() == self.answering.as_deref();
            for control in super::ui::all(&row, "button") {
                if busy {
                    set_attr(&control, "disabled", "");
                } else {
                    let _ = control.remove_attribute("disabled");
                }
            }
        }
        show(&self.card, !requests.is_empty());
    }

    /// The intent of a click on `action` (with the clicked control's `data-id`), if it is one of
    /// this component's.
    pub fn intent(&mut self, action: &str, id: Option<String>) -> Option<RequestIntent> {
        let intent = match (action, id) {
            ("request-chat", _) => RequestIntent::Ask,
            ("grant-request", Some(id)) => RequestIntent::Grant { id },
            ("keep-request", Some(id)) => RequestIntent::Keep { id },
            ("grant-with-note", Some(id)) => RequestIntent::GrantWithNote {
                to_agent_id: self.shown.iter().find(|r| r.id == id)?.by.id.clone(),
            },
            _ => return None,
        };
        if let RequestIntent::Grant { id } | RequestIntent::Keep { id } = &intent {
            self.answering = Some(id.clone());
        }
        Some(intent)
    }

    /// What to tell the agent about the answer to one of this component's calls (`None` when
    /// `form` is not one of them).
    pub fn told(&mut self, form: &str, outcome: &Outcome) -> Option<String> {
        if ![ASK_FORM, GRANT_FORM, KEEP_FORM].contains(&form) {
            return None;
        }
        if form != ASK_FORM {
            self.answering = None;
        }
        let refused = match outcome {
            Outcome::Done(_) | Outcome::Queued => None,
            Outcome::Refused(refusal) => Some(refusal.message.as_str()),
            Outcome::NotSent { message } => Some(message.as_str()),
        };
        let answered = match outcome {
            Outcome::Done(Answer::ChatRequest(request)) => Some(request),
            _ => None,
        };
        Some(match (form, refused, answered) {
            (ASK_FORM, None, _) => "Asked. You will be told as soon as they answer.".to_owned(),
            (ASK_FORM, Some(why), _) => format!("The request was not sent: {why}"),
            (GRANT_FORM, None, Some(request)) => format!("Handed over to {}", request.by.name),
            (GRANT_FORM, None, None) => "Handed over".to_owned(),
            (GRANT_FORM, Some(why), _) => format!("The chat was not handed over: {why}"),
            (_, None, Some(request)) => {
                format!("You keep this chat; {} will be told", request.by.name)
            }
            (_, None, None) => "You keep this chat".to_owned(),
            (_, Some(why), _) => format!("Not answered: {why}"),
        })
    }
}

/// One colleague's request: who, why (if they said), and the owner's three answers.
fn request_row(request: &ChatRequest) -> HtmlElement {
    let row = el("div", "chat-request");
    set_attr(&row, "data-id", &request.id);
    let _ = row.append_child(&text_el(
        "strong",
        "",
        &format!("{} asks for this chat", request.by.name),
    ));
    if let Some(message) = &request.message {
        let _ = row.append_child(&text_el("q", "request-message", message));
    }
    let actions = el("div", "actions");
    let hand_over = button("Hand over", "grant-request");
    set_attr(&hand_over, "data-primary", "");
    let with_note = button("Hand over with a note", "grant-with-note");
    let keep = button("Keep it", "keep-request");
    for control in [&hand_over, &with_note, &keep] {
        set_attr(control, "data-id", &request.id);
        let _ = actions.append_child(control);
    }
    let _ = row.append_child(&actions);
    row
}
