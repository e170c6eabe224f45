//! The filter strip over WhatsApp's chat list, in WhatsApp's own style of filter chips: Mine,
//! Unassigned, Handoffs and Reminders due, each with its count. A chosen filter shows its chats
//! in a list over WhatsApp's (which renders only the rows in view, so hiding its rows cannot
//! filter it); a click there opens the chat in WhatsApp, and the list stays for the next one.
//! Escape or the chosen chip again closes it.
//!
//! One component with its own elements, state and listeners: it draws from the team state and
//! hands each click (its action and the chip's filter or the item's chat) to the callback it was
//! made with, which turns it into a [`FilterIntent`] through [`FilterStrip::click`]; it knows
//! nothing of the overlay.

use gloo_events::EventListener;
use protocol::ChatId;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use super::ui::{button, clear, el, set_attr, set_text, show, text_el, Sheet, Times};
use crate::filters::{filter_chats, ChatFilter, FilteredChat};
use crate::state::TeamState;

/// What a click in the strip asks the overlay to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterIntent {
    /// Open this chat in WhatsApp.
    Open(ChatId),
    /// Open one of the lead module's tools (`stats`).
    Tool(String),
}

pub struct FilterStrip {
    /// On the page, just above WhatsApp's chat list (`data-baton="filter-strip"`).
    host: HtmlElement,
    /// Opens the pipeline board; shown to leads and admins.
    board_button: HtmlElement,
    chips: Vec<(ChatFilter, HtmlElement)>,
    /// The chosen filter's chats, over WhatsApp's list.
    panel: HtmlElement,
    heading: HtmlElement,
    list: HtmlElement,
    active: Option<ChatFilter>,
    /// What was last drawn: the state's fingerprint, the open chat and the filter.
    drawn: Option<(u64, Option<ChatId>, Option<ChatFilter>)>,
    shown: Vec<FilteredChat>,
    _listeners: Vec<EventListener>,
}

impl FilterStrip {
    /// `on_click(action, value)` receives every click and Escape (as `filter-close`).
    pub fn new(on_click: impl Fn(&str, Option<String>) + 'static) -> FilterStrip {
        let on_click = std::rc::Rc::new(on_click);
        let (host, shadow) = super::ui::shadow_host(
            "div",
            "filter-strip",
            "display: block; position: relative; flex: none",
            Sheet::Rows,
        );
        let root = el("div", "filter-root");
        let _ = shadow.append_child(&root);
        let strip = el("div", "filter-chips");
        set_attr(&strip, "role", "toolbar");
        set_attr(&strip, "aria-label", "Baton filters");
        let chips: Vec<(ChatFilter, HtmlElement)> = ChatFilter::ALL
            .into_iter()
            .map(|filter| {
                let chip = button(filter.label(), "filter");
                set_attr(&chip, "data-baton", "chat-filter");
                set_attr(&chip, "data-filter", filter.key());
                set_attr(&chip, "aria-pressed", "false");
                let _ = strip.append_child(&chip);
                (filter, chip)
            })
            .collect();
        // The stats panel and the board open from here, wherever the agent is (the lead module
        // draws them).
        let tool = |label: &str, role: &str, tool: &str, title: &str| {
            let b = button(label, "open-tool");
            set_attr(&b, "data-baton", role);
            set_attr(&b, "data-tool", tool);
            set_attr(&b, "title", title);
            let _ = strip.append_child(&b);
            b
        };
        let board_button = tool(
            "Pipeline",
            "pipeline-button",
            "board",
            "Every conversation by stage",
        );
        show(&board_button, false);
        tool(
            "Stats",
            "stats-button",
            "stats",
            "Response times and workload",
        );
        let panel = el("div", "filter-panel");
        set_attr(&panel, "role", "region");
        let heading = el("strong", "filter-heading");
        let close = button("Close", "filter-close");
        let top = el("div", "filter-top");
        let _ = top.append_child(&heading);
        let _ = top.append_child(&close);
        let list = el("ul", "filter-list");
        let _ = panel.append_child(&top);
        let _ = panel.append_child(&list);
        show(&panel, false);
        let _ = root.append_child(&strip);
        let _ = root.append_child(&panel);
        let clicked = on_click.clone();
        let clicks = EventListener::new(&root, "click", move |event| {
            let target = super::ui::event_origin(event)
                .and_then(|t| t.closest("[data-action]").ok().flatten());
            if let Some(target) = target {
                let action = target.get_attribute("data-action").unwrap_or_default();
                let value = target
                    .get_attribute("data-filter")
                    .or_else(|| target.get_attribute("data-chat-id"))
                    .or_else(|| target.get_attribute("data-tool"));
                clicked(&action, value);
            }
        });
        let keys = EventListener::new(&root, "keydown", move |event| {
            let escape = event
                .dyn_ref::<web_sys::KeyboardEvent>()
                .is_some_and(|k| k.key() == "Escape");
            if escape {
                event.stop_propagation();
                on_click("filter-close", None);
            }
        });
        FilterStrip {
            host,
            board_button,
            chips,
            panel,
            heading,
            list,
            active: None,
            drawn: None,
            shown: Vec::new(),
            _listeners: vec![clicks, keys],
        }
    }

    /// The intent of a click on `action` (with the control's filter key or chat id).
    pub fn click(&mut self, action: &str, value: Option<String>) -> Option<FilterIntent> {
        match action {
            "filter" => {
                let chosen = value.as_deref().and_then(ChatFilter::from_key);
                self.active = if self.active == chosen { None } else { chosen };
                None
            }
            "filter-close" => {
                self.active = None;
                None
            }
            "filter-open" => value
                .and_then(|id| ChatId::parse(&id).ok())
                .map(FilterIntent::Open),
            "open-tool" => value.map(FilterIntent::Tool),
            _ => None,
        }
    }

    /// Brings the strip up to date: placed over the list, counts, and the chosen filter's chats.
    /// Redrawn only when the state, the open chat or the filter changed.
    pub fn render(&mut self, state: &TeamState, open: Option<&ChatId>, times: &Times) {
        show(
            &self.board_button,
            state.my_role().is_some_and(|r| r.supervises()),
        );
        if !self.place() {
            return;
        }
        if state.me.is_none() {
            self.active = None;
        }
        show(&self.host, state.me.is_some());
        if self.active.is_some() {
            self.fit_over_list();
        }
        let key = (fingerprint(state), open.cloned(), self.active);
        if self.drawn.as_ref() == Some(&key) {
            return;
        }
        self.drawn = Some(key);
        let lists = ChatFilter::ALL.map(|filter| filter_chats(state, filter));
        for ((filter, chip), list) in self.chips.iter().zip(&lists) {
            let count = list.len();
            let label = format!("{} {count}", filter.label());
            set_text(chip, &label);
            set_attr(chip, "data-count", &count.to_string());
            set_attr(
                chip,
                "aria-pressed",
                if self.active == Some(*filter) {
                    "true"
                } else {
                    "false"
                },
            );
        }
        let Some(active) = self.active else {
            show(&self.panel, false);
            self.shown.clear();
            return;
        };
        set_attr(&self.panel, "data-filter", active.key());
        set_attr(&self.panel, "aria-label", active.label());
        set_text(&self.heading, active.label());
        let Some(items) = ChatFilter::ALL
            .iter()
            .zip(lists)
            .find_map(|(filter, list)| (*filter == active).then_some(list))
        else {
            return;
        };
        if items != self.shown {
            clear(&self.list);
            if items.is_empty() {
                let _ = self
                    .list
                    .append_child(&text_el("li", "filter-empty", active.empty_text()));
            }
            for item in &items {
                let _ = self
                    .list
                    .append_child(&item_row(item, state.my_id(), times));
            }
            self.shown = items;
        }
        for row in super::ui::all(&self.list, "[data-baton=\"filter-item\"]") {
            let current = open
                .is_some_and(|c| row.get_attribute("data-chat-id").as_deref() == Some(c.as_str()));
            if current {
                set_attr(&row, "aria-current", "true");
            } else {
                let _ = row.remove_attribute("aria-current");
            }
        }
        show(&self.panel, true);
    }

    /// Keeps the host just above WhatsApp's chat list (WhatsApp may re-render around it). False
    /// when there is no list to sit on.
    fn place(&self) -> bool {
        let Some(pane) = super::ui::document().get_element_by_id("pane-side") else {
            self.host.remove();
            return false;
        };
        let Some(parent) = pane.parent_element() else {
            return false;
        };
        let placed = self.host.parent_element().as_ref() == Some(&parent)
            && self.host.next_element_sibling().as_ref() == Some(&pane);
        if !placed {
            let _ = parent.insert_before(&self.host, Some(&pane));
        }
        true
    }

    /// The chosen filter's list covers WhatsApp's list exactly.
    fn fit_over_list(&self) {
        let Some(pane) = super::ui::document().get_element_by_id("pane-side") else {
            return;
        };
        let r = pane.get_bounding_client_rect();
        let style = format!(
            "top: {}px; left: {}px; width: {}px; height: {}px;",
            r.top().round() as i32,
            r.left().round() as i32,
            r.width().round() as i32,
            r.height().round() as i32
        );
        if self.panel.get_attribute("style").as_deref() != Some(style.as_str()) {
            set_attr(&self.panel, "style", &style);
        }
    }

    pub fn remove(&mut self) {
        self.host.remove();
    }
}

/// A cheap digest of what the filters read, to redraw only on change.
fn fingerprint(state: &TeamState) -> u64 {
    let mut sum = state.seq as u64;
    for c in state.conversations.values() {
        sum = sum
            .wrapping_mul(31)
            .wrapping_add(c.last_event_seq as u64)
            .wrapping_add(c.reminders.len() as u64);
    }
    sum.wrapping_add(state.conversations.len() as u64)
        .wrapping_add(state.me.as_ref().map_or(0, |m| m.id.len() as u64 + 1))
}

/// One chat of a filter: its name, its owner's chip (a colleague's: mine go without), why it is
/// listed, and when (reminders).
fn item_row(item: &FilteredChat, me: Option<&str>, times: &Times) -> HtmlElement {
    let li = el("li", "");
    let row = button("", "filter-open");
    set_attr(&row, "data-baton", "filter-item");
    set_attr(&row, "data-chat-id", item.chat_id.as_str());
    let top = el("span", "filter-item-top");
    let _ = top.append_child(&text_el("span", "filter-item-title", &item.title));
    if let Some(owner) = item.owner.as_ref().filter(|o| Some(o.id.as_str()) != me) {
        let chip = text_el("span", "filter-owner", &crate::views::initials(&owner.name));
        set_attr(
            &chip,
            "data-colour",
            &crate::views::chip_colour(&owner.id).to_string(),
        );
        set_attr(&chip, "title", &owner.name);
        set_attr(&chip, "aria-label", &format!("Owner: {}", owner.name));
        let _ = top.append_child(&chip);
    }
    let _ = row.append_child(&top);
    let detail = match item.at {
        Some(at) => format!("{} · {}", times.absolute(at), item.detail),
        None => item.detail.clone(),
    };
    if !detail.is_empty() {
        let _ = row.append_child(&text_el("span", "filter-item-detail", &detail));
    }
    set_attr(&row, "aria-label", &format!("{} — {detail}", item.title));
    let _ = li.append_child(&row);
    li
}
