//! Small DOM building blocks for the overlay. Text always goes in as text (`textContent`), never
//! as HTML: notes and names are user input.

use std::cell::RefCell;

use wasm_bindgen::JsCast;
use web_sys::{CssStyleSheet, Document, Element, HtmlElement, ShadowRoot};

pub fn document() -> Document {
    gloo_utils_document()
}

fn gloo_utils_document() -> Document {
    web_sys::window()
        .and_then(|w| w.document())
        .unwrap_or_else(|| {
            // A content script always runs in a window; reaching this is a bug worth a loud trap.
            wasm_bindgen::throw_str("Baton overlay started outside a window")
        })
}

/// The overlay's own stylesheets. Each lives in the shadow roots that use it, never on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sheet {
    /// The open chat's overlay: header bar, banners, panels, the lock banner.
    Chat,
    /// The marks on a chat-list row: owner chip, replying mark, reminder.
    Rows,
}

impl Sheet {
    fn css(self) -> &'static str {
        match self {
            Sheet::Chat => include_str!("css/chat.css"),
            Sheet::Rows => include_str!("css/rows.css"),
        }
    }
}

thread_local! {
    /// Parsed once per page and adopted by every shadow root that uses them.
    static SHEETS: RefCell<[Option<CssStyleSheet>; 2]> = const { RefCell::new([None, None]) };
}

/// The parsed stylesheet, or `None` if the browser cannot construct stylesheets.
fn constructed(sheet: Sheet) -> Option<CssStyleSheet> {
    let slot = match sheet {
        Sheet::Chat => 0,
        Sheet::Rows => 1,
    };
    SHEETS.with(|sheets| {
        let mut sheets = sheets.borrow_mut();
        if sheets[slot].is_none() {
            let made = CssStyleSheet::new().ok()?;
            made.replace_sync(sheet.css()).ok()?;
            sheets[slot] = Some(made);
        }
        sheets[slot].clone()
    })
}

/// A page element (`tag`, with its `data-baton` role, for tests and users' tools) holding an open
/// shadow root styled by `sheet`: WhatsApp's stylesheets do not reach inside, ours do not reach
/// out. The host's inline style resets whatever the page would make it inherit (`all: initial`;
/// custom properties, our theme variables among them, still inherit) and then places it with
/// `placement` (`"display: block; position: absolute"`, …), every declaration important.
pub fn shadow_host(
    tag: &str,
    role: &str,
    placement: &str,
    sheet: Sheet,
) -> (HtmlElement, ShadowRoot) {
    let host = el(tag, role);
    // Every declaration important: an inline important declaration outranks any page rule, even
    // an important one (`div { width: 60% !important }` must not resize the overlay).
    let mut style = String::from("all: initial !important;");
    for declaration in placement
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        style.push_str(&format!(" {declaration} !important;"));
    }
    let _ = host.set_attribute("style", &style);
    let root = host
        .attach_shadow(&web_sys::ShadowRootInit::new(web_sys::ShadowRootMode::Open))
        .unwrap_or_else(|_| wasm_bindgen::throw_str("cannot attach a shadow root"));
    match constructed(sheet) {
        Some(parsed) => root.set_adopted_style_sheets(&js_sys::Array::of1(&parsed)),
        None => {
            let style = el("style", "");
            style.set_text_content(Some(sheet.css()));
            let _ = root.append_child(&style);
        }
    }
    (host, root)
}

/// A new element with its `data-baton` role.
pub fn el(tag: &str, role: &str) -> HtmlElement {
    let element = document()
        .create_element(tag)
        .unwrap_or_else(|_| wasm_bindgen::throw_str("cannot create an element"));
    if !role.is_empty() {
        let _ = element.set_attribute("data-baton", role);
    }
    element.unchecked_into()
}

/// A new element with text content.
pub fn text_el(tag: &str, role: &str, text: &str) -> HtmlElement {
    let element = el(tag, role);
    element.set_text_content(Some(text));
    element
}

/// A button with a label and an action name (`data-action`), for tests and styling.
pub fn button(label: &str, action: &str) -> HtmlElement {
    let button = text_el("button", "", label);
    let _ = button.set_attribute("type", "button");
    let _ = button.set_attribute("data-action", action);
    button
}

/// Sets text only if it differs, so our own writes do not feed the mutation observer.
pub fn set_text(element: &Element, text: &str) {
    if element.text_content().as_deref() != Some(text) {
        element.set_text_content(Some(text));
    }
}

/// Removes all of an element's children.
pub fn clear(element: &Element) {
    while let Some(child) = element.first_child() {
        let _ = element.remove_child(&child);
    }
}

/// Sets an attribute only if it differs.
pub fn set_attr(element: &Element, name: &str, value: &str) {
    if element.get_attribute(name).as_deref() != Some(value) {
        let _ = element.set_attribute(name, value);
    }
}

pub fn remove_attr(element: &Element, name: &str) {
    if element.has_attribute(name) {
        let _ = element.remove_attribute(name);
    }
}

/// Shows or hides an element (`hidden` attribute).
pub fn show(element: &Element, visible: bool) {
    if visible {
        remove_attr(element, "hidden");
    } else {
        set_attr(element, "hidden", "");
    }
}

/// The first element matching the first selector that matches anything, with the index of the
/// selector that worked (so callers can tell which fallback is in use).
pub fn first_match(root: &Element, selectors: &[&str]) -> Option<(Element, usize)> {
    selectors
        .iter()
        .enumerate()
        .find_map(|(i, selector)| root.query_selector(selector).ok().flatten().map(|e| (e, i)))
}

/// All elements matching `selector` under `root`.
pub fn all(root: &Element, selector: &str) -> Vec<Element> {
    let Ok(list) = root.query_selector_all(selector) else {
        return Vec::new();
    };
    (0..list.length())
        .filter_map(|i| list.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .collect()
}

/// The element an event started on, even inside a shadow root (where `event.target()` seen from
/// outside is the shadow host).
pub fn event_origin(event: &web_sys::Event) -> Option<Element> {
    event
        .composed_path()
        .get(0)
        .dyn_into::<Element>()
        .ok()
        .or_else(|| event.target().and_then(|t| t.dyn_into::<Element>().ok()))
}

/// A child of `parent` with the given `data-baton` role, created by `make` if missing.
pub fn child_with_role(
    parent: &Element,
    role: &str,
    make: impl FnOnce() -> HtmlElement,
) -> Element {
    let selector = format!(":scope > [data-baton=\"{role}\"]");
    if let Ok(Some(existing)) = parent.query_selector(&selector) {
        return existing;
    }
    let created = make();
    let _ = parent.append_child(&created);
    created.into()
}

/// Formats a server time for people, in the browser's locale and time zone.
pub fn format_time(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}
