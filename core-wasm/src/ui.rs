//! Small DOM building blocks for the overlay and the lead module. Text always goes in as text
//! (`textContent`), never as HTML: notes and names are user input.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
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
    /// The lead module's panels (stats).
    Lead,
}

thread_local! {
    /// The stylesheets' text, as the loader read it from the extension's files.
    static CSS: RefCell<[String; 3]> =
        const { RefCell::new([String::new(), String::new(), String::new()]) };
    /// Parsed once per page and adopted by every shadow root that uses them.
    static SHEETS: RefCell<[Option<CssStyleSheet>; 3]> = const { RefCell::new([None, None, None]) };
}

impl Sheet {
    fn slot(self) -> usize {
        match self {
            Sheet::Chat => 0,
            Sheet::Rows => 1,
            Sheet::Lead => 2,
        }
    }

    fn css(self) -> String {
        CSS.with(|css| css.borrow()[self.slot()].clone())
    }
}

/// Gives the overlay its stylesheets (`core-wasm/src/dom/css/chat.css` and `rows.css`): the
/// loader reads them from the extension, so they are not carried inside the WASM.
pub fn set_stylesheets(chat: String, rows: String) {
    set_sheet(Sheet::Chat, chat);
    set_sheet(Sheet::Rows, rows);
}

/// Gives one stylesheet its text (the lead module's, `core-wasm/src/lead/lead.css`).
pub fn set_sheet(sheet: Sheet, text: String) {
    CSS.with(|css| css.borrow_mut()[sheet.slot()] = text);
    SHEETS.with(|sheets| sheets.borrow_mut()[sheet.slot()] = None);
}

/// The parsed stylesheet, or `None` if the browser cannot construct stylesheets.
fn constructed(sheet: Sheet) -> Option<CssStyleSheet> {
    SHEETS.with(|sheets| {
        let mut sheets = sheets.borrow_mut();
        let slot = &mut sheets[sheet.slot()];
        if slot.is_none() {
            let made = CssStyleSheet::new().ok()?;
            made.replace_sync(&sheet.css()).ok()?;
            *slot = Some(made);
        }
        slot.clone()
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
            style.set_text_content(Some(&sheet.css()));
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

/// Dates and times for people, in the org's locale and time zone (the browser's own where it does
/// not know the org's): "26/11/2026, 15:43", "5 min ago", "in 2 hr", "now".
pub struct Times {
    key: (String, String),
    date_time: Option<(JsValue, js_sys::Function)>,
    /// Plain numeric parts (en-US digits, 24 h) in the org's zone, to read its wall clock.
    parts: Option<(JsValue, js_sys::Function)>,
    relative: Option<(JsValue, js_sys::Function)>,
}

thread_local! {
    static TIMES: RefCell<Option<std::rc::Rc<Times>>> = const { RefCell::new(None) };
}

/// The formatters for `org` (made once per locale and time zone).
pub fn times(org: Option<&protocol::api::Org>) -> std::rc::Rc<Times> {
    let key = org.map_or_else(
        || (String::new(), String::new()),
        |o| (o.locale.clone(), o.timezone.clone()),
    );
    TIMES.with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.as_ref() {
            Some(times) if times.key == key => times.clone(),
            _ => {
                let made = std::rc::Rc::new(Times::new(key));
                *slot = Some(made.clone());
                made
            }
        }
    })
}

/// `new Intl[name](locale, options)` and its `format` function, or `None` if this browser refuses
/// them (an unknown time zone throws; the caller then tries without it).
fn intl(name: &str, locale: &str, options: &[(&str, &str)]) -> Option<(JsValue, js_sys::Function)> {
    use js_sys::Reflect;
    let settings = js_sys::Object::new();
    for (key, value) in options {
        Reflect::set(&settings, &(*key).into(), &(*value).into()).ok()?;
    }
    let locales = if locale.is_empty() {
        JsValue::UNDEFINED
    } else {
        locale.into()
    };
    let namespace = Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
    let constructor: js_sys::Function = Reflect::get(&namespace, &name.into())
        .ok()?
        .dyn_into()
        .ok()?;
    let formatter =
        Reflect::construct(&constructor, &js_sys::Array::of2(&locales, &settings)).ok()?;
    let format: js_sys::Function = Reflect::get(&formatter, &"format".into())
        .ok()?
        .dyn_into()
        .ok()?;
    Some((formatter, format))
}

impl Times {
    fn new(key: (String, String)) -> Times {
        let (locale, zone) = (&key.0, &key.1);
        let date_time = intl(
            "DateTimeFormat",
            locale,
            &[
                ("dateStyle", "short"),
                ("timeStyle", "short"),
                ("timeZone", zone),
            ],
        )
        .filter(|_| !zone.is_empty())
        .or_else(|| {
            intl(
                "DateTimeFormat",
                locale,
                &[("dateStyle", "short"), ("timeStyle", "short")],
            )
        });
        let numeric = [
            ("year", "numeric"),
            ("month", "numeric"),
            ("day", "numeric"),
            ("hour", "numeric"),
            ("minute", "numeric"),
            ("hourCycle", "h23"),
        ];
        let mut zoned = numeric.to_vec();
        zoned.push(("timeZone", zone.as_str()));
        let parts = intl("DateTimeFormat", "en-US", &zoned)
            .filter(|_| !zone.is_empty())
            .or_else(|| intl("DateTimeFormat", "en-US", &numeric))
            .and_then(|(formatter, _)| {
                let parts = js_sys::Reflect::get(&formatter, &"formatToParts".into()).ok()?;
                Some((formatter, parts.dyn_into().ok()?))
            });
        let relative = intl(
            "RelativeTimeFormat",
            locale,
            &[("numeric", "auto"), ("style", "short")],
        );
        Times {
            key,
            date_time,
            parts,
            relative,
        }
    }

    /// The org's wall clock at `ms`: year, month, day, hour, minute.
    pub fn wall(&self, ms: i64) -> Option<crate::clock::Wall> {
        let (formatter, format_to_parts) = self.parts.as_ref()?;
        let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
        let parts: js_sys::Array = format_to_parts
            .call1(formatter, &date)
            .ok()?
            .dyn_into()
            .ok()?;
        let mut wall: crate::clock::Wall = (0, 0, 0, 0, 0);
        for part in parts.iter() {
            let kind = js_sys::Reflect::get(&part, &"type".into())
                .ok()?
                .as_string()?;
            let value = js_sys::Reflect::get(&part, &"value".into())
                .ok()?
                .as_string()?;
            match kind.as_str() {
                "year" => wall.0 = value.parse().ok()?,
                "month" => wall.1 = value.parse().ok()?,
                "day" => wall.2 = value.parse().ok()?,
                "hour" => wall.3 = value.parse().ok()?,
                "minute" => wall.4 = value.parse().ok()?,
                _ => {}
            }
        }
        (wall.1 > 0 && wall.2 > 0).then_some(wall)
    }

    /// The date and time: "26/11/2026, 15:43" for an en-GB org.
    pub fn absolute(&self, ms: i64) -> String {
        let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
        self.date_time
            .as_ref()
            .and_then(|(formatter, format)| format.call1(formatter, &date).ok())
            .and_then(|text| text.as_string())
            .unwrap_or_else(|| String::from(date.to_iso_string()))
    }

    /// Relatively within a day ("5 min ago", "in 2 hr", "now"), by date further off.
    pub fn tell(&self, now: i64, ms: i64) -> String {
        use crate::clock::{tell, Telling};
        let (value, unit) = match tell(now, ms) {
            Telling::Absolute => return self.absolute(ms),
            Telling::JustNow => (0, "second"),
            Telling::Relative { value, unit } => (value, unit.as_str()),
        };
        self.relative
            .as_ref()
            .and_then(|(formatter, format)| {
                format
                    .call2(formatter, &JsValue::from_f64(value as f64), &unit.into())
                    .ok()
            })
            .and_then(|text| text.as_string())
            .unwrap_or_else(|| self.absolute(ms))
    }
}

/// Pastes `text` into WhatsApp's composer as a person's paste arrives — a `paste` event carrying
/// the text, which WhatsApp's editor (Lexical) takes into its state itself — replacing everything
/// it holds, or at the end. The overlay's reply guard sees it as typing. (`insertText` would not
/// do: the browser gives scripts' commands no `beforeinput`, so nothing could refuse them.)
#[cfg(any(feature = "lead", feature = "seat"))]
pub fn paste_into(composer: &HtmlElement, text: &str, replace: bool) -> bool {
    let _ = composer.focus();
    if let Some(selection) = web_sys::window().and_then(|w| w.get_selection().ok().flatten()) {
        let _ = selection.select_all_children(composer);
        if !replace {
            let _ = selection.collapse_to_end();
        }
    }
    let Ok(data) = web_sys::DataTransfer::new() else {
        return false;
    };
    let _ = data.set_data("text/plain", text);
    let init = web_sys::ClipboardEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_clipboard_data(Some(&data));
    let Ok(event) = web_sys::ClipboardEvent::new_with_event_init_dict("paste", &init) else {
        return false;
    };
    let _ = composer.dispatch_event(&event);
    true
}
