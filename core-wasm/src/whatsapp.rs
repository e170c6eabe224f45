//! Reading WhatsApp Web's DOM through its stable hooks: ids (`#app`, `#pane-side`, `#main`), ARIA
//! roles, `data-id`, titles and the editor's attributes — never obfuscated class names. Each hook
//! has an ordered list of fallbacks. Nothing is cached: WhatsApp recycles rows and remounts
//! `#main`, so every refresh reads afresh.
// The seat reads only part of what the overlay does.
#![cfg_attr(not(feature = "overlay"), allow(dead_code))]

use protocol::ChatId;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

use crate::adapter::{dom_message, row_position, DomMessage};
use crate::messages::LayoutState;
use crate::ui::{all, document, first_match};

const CHAT_LIST: &[&str] = &[
    "#pane-side [role=\"grid\"]",
    "#pane-side [role=\"list\"]",
    "#pane-side [aria-rowcount]",
];
const ROW_TITLE: &[&str] = &["span[dir=\"auto\"][title]", "[title]"];
/// A row's unread count is labelled in the UI language ("3 unread messages"; Italian "da leggere"
/// and "non lett…" are seen in the wild, see the DOM notes).
const UNREAD: &[&str] = &[
    "[aria-label*=\"unread\"]",
    "[aria-label*=\"da leggere\"]",
    "[aria-label*=\"non lett\"]",
];
const HEADER_TITLE: &[&str] = &[
    "header span[dir=\"auto\"]:not([title])",
    "header span[dir=\"auto\"]",
    "header [title]",
];
const COMPOSER: &[&str] = &[
    "footer [contenteditable=\"true\"][role=\"textbox\"]",
    "footer [data-lexical-editor=\"true\"]",
    "footer [contenteditable=\"true\"]",
];
/// The search box over the chat list (inside `#side`).
const SEARCH_BOX: &[&str] = &[
    "[contenteditable=\"true\"][data-tab=\"3\"]",
    "[contenteditable=\"true\"][role=\"textbox\"]",
];
const SEND_BUTTON: &[&str] = &[
    "footer button[aria-label=\"Send\"]",
    "footer [data-icon=\"wds-ic-send-filled\"]",
    "footer [data-icon=\"send\"]",
];

/// A chat-list row: the recycled node, the title it shows now and its place in the list.
pub struct Row {
    pub element: Element,
    pub title: String,
    pub position: Option<u32>,
    /// The row shows an unread-messages count.
    pub unread: bool,
}

/// The open conversation's panel, read now.
pub struct OpenChat {
    pub title: String,
    /// From the messages' `data-id`s, when they are rendered and agree (builds before April
    /// 2026 only).
    pub chat_id_from_messages: Option<ChatId>,
    pub messages: Vec<DomMessage>,
    pub composer: Option<HtmlElement>,
}

/// The whole page as the overlay sees it.
pub struct Page {
    pub layout: LayoutState,
    pub rows: Vec<Row>,
    pub open_chat: Option<OpenChat>,
}

fn app() -> Option<Element> {
    document().get_element_by_id("app")
}

/// Reads the page. `patience_over` says whether WhatsApp has had long enough to render, after
/// which missing hooks count as an unrecognised layout rather than "still loading".
pub fn read_page(patience_over: bool) -> Page {
    let Some(app) = app() else {
        return Page {
            layout: LayoutState::Waiting,
            rows: Vec::new(),
            open_chat: None,
        };
    };
    let side = document().get_element_by_id("side");
    let list = first_match(&app, CHAT_LIST).map(|(e, _)| e);
    let mut missing = Vec::new();
    let rows = match &list {
        Some(list) => rows_of(list),
        None => {
            missing.push(CHAT_LIST[0].to_owned());
            Vec::new()
        }
    };
    let open_chat = document().get_element_by_id("main").map(read_main);
    if let Some(open) = &open_chat {
        if open.title.is_empty() {
            missing.push("#main header title".to_owned());
        }
        if open.composer.is_none() {
            missing.push("#main footer composer".to_owned());
        }
    }
    let layout = if missing.is_empty() {
        LayoutState::Recognised
    } else if side.is_none() && open_chat.is_none() && !patience_over {
        // The loading screen or the QR code: nothing to recognise yet.
        LayoutState::Waiting
    } else if patience_over || side.is_some() {
        LayoutState::Unrecognised { missing }
    } else {
        LayoutState::Waiting
    };
    Page {
        layout,
        rows,
        open_chat,
    }
}

fn rows_of(list: &Element) -> Vec<Row> {
    let mut rows = Vec::new();
    let children = list.children();
    for i in 0..children.length() {
        let Some(row) = children.item(i) else {
            continue;
        };
        if row.get_attribute("data-baton").is_some() {
            continue;
        }
        let title = first_match(&row, ROW_TITLE)
            .and_then(|(t, _)| t.get_attribute("title").or_else(|| t.text_content()))
            .unwrap_or_default();
        let measured_height = || {
            row.dyn_ref::<HtmlElement>()
                .map_or(0, |r| u32::try_from(r.offset_height()).unwrap_or(0))
        };
        let position = row
            .get_attribute("style")
            .and_then(|style| row_position(&style, measured_height));
        let unread = UNREAD
            .iter()
            .any(|selector| row.query_selector(selector).ok().flatten().is_some());
        rows.push(Row {
            element: row,
            title,
            position,
            unread,
        });
    }
    rows
}

/// The open chat's title as the header shows it, if a chat is open.
pub fn open_chat_title() -> Option<String> {
    document()
        .get_element_by_id("main")
        .map(|main| header_title(&main))
}

fn header_title(main: &Element) -> String {
    first_match(main, HEADER_TITLE)
        .and_then(|(t, _)| t.text_content())
        .map(|t| crate::adapter::normalize_title(&t))
        .unwrap_or_default()
}

fn read_main(main: Element) -> OpenChat {
    let title = header_title(&main);
    let messages: Vec<DomMessage> = all(&main, "[data-id]")
        .iter()
        .filter_map(|m| {
            let mut message = dom_message(&m.get_attribute("data-id")?, || direction_of(m))?;
            message.sent_at = sent_at(m);
            Some(message)
        })
        .collect();
    let chat_id_from_messages = match messages.first().and_then(|m| m.chat_id.as_ref()) {
        Some(first) if messages.iter().all(|m| m.chat_id.as_ref() == Some(first)) => {
            Some(first.clone())
        }
        _ => None,
    };
    let composer = first_match(&main, COMPOSER).and_then(|(e, _)| e.dyn_into().ok());
    OpenChat {
        title,
        chat_id_from_messages,
        messages,
        composer,
    }
}

/// The open chat's rendered messages in order, with their text (the seat reads replies and looks
/// for what it sent; the overlay never reads message text).
#[cfg(feature = "seat")]
pub fn open_chat_bubbles() -> Vec<crate::responder::Bubble> {
    let Some(main) = document().get_element_by_id("main") else {
        return Vec::new();
    };
    all(&main, "[data-id]")
        .iter()
        .filter_map(|m| {
            let message = dom_message(&m.get_attribute("data-id")?, || direction_of(m))?;
            let text = m
                .query_selector(".selectable-text")
                .ok()
                .flatten()
                .and_then(|t| t.text_content())
                .unwrap_or_default();
            Some(crate::responder::Bubble {
                id: Some(message.message_id),
                from_me: message.from_me,
                text,
            })
        })
        .collect()
}

/// Empties the open chat's composer (a message the seat pasted but must not send).
#[cfg(feature = "seat")]
pub fn clear_composer() {
    let Some(composer) = composer() else {
        return;
    };
    let _ = composer.focus();
    if let Some(selection) = web_sys::window().and_then(|w| w.get_selection().ok().flatten()) {
        let _ = selection.select_all_children(&composer);
    }
    if let Ok(page) = document().dyn_into::<web_sys::HtmlDocument>() {
        let _ = page.exec_command("delete");
    }
}

/// When a message row's message was sent, from its `data-pre-plain-text` stamp (the browser's
/// clock, to the minute); media rows usually have none.
fn sent_at(message: &Element) -> Option<protocol::Millis> {
    let stamp = message
        .query_selector("[data-pre-plain-text]")
        .ok()
        .flatten()?
        .get_attribute("data-pre-plain-text")?;
    let at = crate::adapter::parse_pre_plain_text(&stamp)?.at;
    let date = js_sys::Date::new_with_year_month_day_hr_min(
        u32::try_from(at.year).ok()?,
        at.month as i32 - 1,
        at.day as i32,
        at.hour as i32,
        at.minute as i32,
    );
    let ms = date.get_time();
    ms.is_finite().then_some(ms as protocol::Millis)
}

/// A message row's direction from the semantic classes WhatsApp puts on it or around it.
fn direction_of(message: &Element) -> Option<bool> {
    // `closest` includes the row itself.
    let has = |class: &str| {
        message
            .closest(&format!(".{class}"))
            .ok()
            .flatten()
            .is_some()
            || message
                .query_selector(&format!(".{class}"))
                .ok()
                .flatten()
                .is_some()
    };
    if has("message-out") {
        Some(true)
    } else if has("message-in") {
        Some(false)
    } else {
        None
    }
}

/// Whether `target` is (inside) the open chat's composer.
pub fn in_composer(target: &Element) -> bool {
    COMPOSER.iter().any(|selector| {
        target
            .closest(&format!("#main {selector}"))
            .ok()
            .flatten()
            .is_some()
    })
}

/// Whether `target` is (inside) the open chat's send button.
pub fn in_send_button(target: &Element) -> bool {
    SEND_BUTTON.iter().any(|selector| {
        target
            .closest(&format!("#main {selector}"))
            .ok()
            .flatten()
            .is_some()
    })
}

/// The send button, to press it on the agent's behalf after the send guard.
pub fn send_button() -> Option<HtmlElement> {
    let main = document().get_element_by_id("main")?;
    let (icon, _) = first_match(&main, SEND_BUTTON)?;
    icon.closest("button, [role=\"button\"]")
        .ok()
        .flatten()
        .or(Some(icon))
        .and_then(|e| e.dyn_into().ok())
}

/// The open chat's composer, if any.
pub fn composer() -> Option<HtmlElement> {
    let main = document().get_element_by_id("main")?;
    first_match(&main, COMPOSER).and_then(|(e, _)| e.dyn_into().ok())
}

/// Types `text` into the composer at its end, through the same input path as a person's typing
/// (the browser's `insertText`, which WhatsApp's editor handles like typed text).
pub fn type_into_composer(text: &str) -> bool {
    let Some(composer) = composer() else {
        return false;
    };
    let _ = composer.focus();
    if let Some(selection) = web_sys::window().and_then(|w| w.get_selection().ok().flatten()) {
        let _ = selection.select_all_children(&composer);
        let _ = selection.collapse_to_end();
    }
    document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()
        .and_then(|d| {
            d.exec_command_with_show_ui_and_value("insertText", false, text)
                .ok()
        })
        .unwrap_or(false)
}

/// WhatsApp's search box over the chat list.
fn search_box() -> Option<HtmlElement> {
    let side = document().get_element_by_id("side")?;
    first_match(&side, SEARCH_BOX).and_then(|(e, _)| e.dyn_into().ok())
}

/// Replaces what WhatsApp's search box holds with `text`, as typed (so WhatsApp lists the chats
/// it matches); an empty `text` clears the search and leaves the box. False when there is no
/// search box.
pub fn search_for(text: &str) -> bool {
    let Some(search) = search_box() else {
        return false;
    };
    let _ = search.focus();
    if let Some(selection) = web_sys::window().and_then(|w| w.get_selection().ok().flatten()) {
        let _ = selection.select_all_children(&search);
    }
    let Ok(page) = document().dyn_into::<web_sys::HtmlDocument>() else {
        return false;
    };
    let done = if text.is_empty() {
        page.exec_command("delete").unwrap_or(false)
    } else {
        page.exec_command_with_show_ui_and_value("insertText", false, text)
            .unwrap_or(false)
    };
    if text.is_empty() {
        let _ = search.blur();
    }
    done
}

/// Sends what is in the composer: clicks the send button, or presses Enter when there is none.
pub fn send() {
    if let Some(button) = send_button() {
        button.click();
    } else if let Some(composer) = composer() {
        press_enter(&composer);
    }
}

/// Presses Enter in the composer (when there is no send button to click).
fn press_enter(composer: &HtmlElement) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key("Enter");
    init.set_bubbles(true);
    init.set_cancelable(true);
    if let Ok(event) = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init) {
        let _ = composer.dispatch_event(&event);
    }
}

/// Whether the composer holds text.
pub fn composer_has_text() -> bool {
    composer().is_some_and(|c| !composer_text(&c).is_empty())
}

/// The composer's text (what would be sent).
pub fn composer_text(composer: &Element) -> String {
    composer
        .text_content()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Clicks a chat-list row as a person would (press, release, click), which opens its chat.
pub fn click_row(row: &Element) {
    let target = row
        .query_selector("[role=\"row\"]")
        .ok()
        .flatten()
        .unwrap_or_else(|| row.clone());
    for kind in ["mousedown", "mouseup", "click"] {
        let init = web_sys::MouseEventInit::new();
        init.set_bubbles(true);
        init.set_cancelable(true);
        init.set_button(0);
        if let Ok(event) = web_sys::MouseEvent::new_with_mouse_event_init_dict(kind, &init) {
            let _ = target.dispatch_event(&event);
        }
    }
}
