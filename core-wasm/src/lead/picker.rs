//! The template picker (`data-baton="template-picker"`), just above WhatsApp's composer: opened
//! by typing `/` at the composer's start or by the Templates button, filtered as you type,
//! navigable with the arrow keys. Choosing a template asks for its custom variables, fills it for
//! the chat ([`crate::template_view`]) and pastes it into the composer — the input path
//! WhatsApp's editor takes a person's paste from, so its editor state has the text, and so the
//! overlay sees typing: it takes the reply lock, or refuses the text while a colleague holds the
//! chat. Nothing is sent. A use is counted.

use gloo_events::{EventListener, EventListenerOptions};
use protocol::api::Agent;
use protocol::templates::{FillError, Template};
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, HtmlInputElement};

use super::{with_lead, with_picker};
use crate::js::from_json;
use crate::link::{request, send};
use crate::template_view::{filled, matching, Known, PickerContext};
use crate::ui::{button, clear, document, el, set_attr, set_text, show, text_el};

pub struct TemplatePicker {
    host: HtmlElement,
    search: HtmlInputElement,
    list: HtmlElement,
    variables: HtmlElement,
    preview: HtmlElement,
    status: HtmlElement,
    context: PickerContext,
    templates: Vec<Template>,
    me: String,
    business: String,
    /// The ids shown, in order, and the selected one's place.
    shown: Vec<String>,
    selected: usize,
    _listeners: Vec<EventListener>,
}

/// WhatsApp's composer.
fn composer() -> Option<HtmlElement> {
    let main = document().get_element_by_id("main")?;
    ["footer [contenteditable=\"true\"]", "[data-lexical-editor]"]
        .iter()
        .find_map(|s| main.query_selector(s).ok().flatten())
        .and_then(|e| e.dyn_into().ok())
}

fn without_spaces(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

impl TemplatePicker {
    pub fn new(context: PickerContext, on_close: impl Fn() + 'static) -> TemplatePicker {
        let (host, root) = super::dialog(
            "template-picker",
            "display: block; position: fixed; z-index: 2000",
            "picker-root",
            "Templates",
        );
        let search: HtmlInputElement = el("input", "template-search").unchecked_into();
        set_attr(&search, "type", "search");
        set_attr(&search, "placeholder", "Find a template");
        set_attr(&search, "aria-label", "Find a template");
        set_attr(&search, "role", "combobox");
        set_attr(&search, "aria-controls", "templates");
        let list = el("ul", "template-list");
        set_attr(&list, "role", "listbox");
        set_attr(&list, "id", "templates");
        let variables = el("div", "template-variables");
        let preview = el("p", "template-preview");
        let status = text_el("p", "picker-status", "Loading…");
        set_attr(&status, "role", "status");
        let actions = el("div", "picker-actions");
        let insert = button("Insert", "insert");
        set_attr(&insert, "data-primary", "");
        let _ = actions.append_child(&insert);
        let _ = actions.append_child(&button("Cancel", "close"));
        for part in [&search, &status, &list, &variables, &preview, &actions] {
            let _ = root.append_child(part.as_ref());
        }

        let on_close = std::rc::Rc::new(on_close);
        let closing = on_close.clone();
        let clicks = EventListener::new(&root, "click", move |event| {
            let target = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-action]").ok().flatten());
            let Some(target) = target else {
                return;
            };
            match target.get_attribute("data-action").as_deref() {
                Some("close") => closing(),
                Some("insert") => choose(),
                Some("template") => {
                    if let Some(id) = target.get_attribute("data-id") {
                        with_picker(|p| p.select_id(&id));
                        choose();
                    }
                }
                _ => {}
            }
        });
        let typing = EventListener::new(&root, "input", |event| {
            let origin = crate::ui::event_origin(event);
            match origin
                .and_then(|t| t.get_attribute("data-baton"))
                .as_deref()
            {
                Some("template-search") => with_picker(|p| {
                    p.selected = 0;
                    p.render();
                }),
                Some("template-variable") => with_picker(TemplatePicker::show_preview),
                _ => {}
            }
        });
        let keys = EventListener::new_with_options(
            &root,
            "keydown",
            EventListenerOptions::enable_prevent_default(),
            move |event| {
                let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>().map(|k| k.key()) else {
                    return;
                };
                // The page's own shortcuts must not see keys typed here.
                event.stop_propagation();
                match key.as_str() {
                    "ArrowDown" | "ArrowUp" => {
                        event.prevent_default();
                        with_picker(|p| p.step(key == "ArrowDown"));
                    }
                    "Enter" => {
                        event.prevent_default();
                        choose();
                    }
                    "Escape" => {
                        event.prevent_default();
                        on_close();
                    }
                    _ => {}
                }
            },
        );
        let picker = TemplatePicker {
            host,
            search,
            list,
            variables,
            preview,
            status,
            context,
            templates: Vec::new(),
            me: String::new(),
            business: String::new(),
            shown: Vec::new(),
            selected: 0,
            _listeners: vec![clicks, typing, keys],
        };
        picker.place();
        let _ = picker.search.focus();
        picker
    }

    /// Sits just above the composer, as wide as it (at most 520 px).
    fn place(&self) {
        let Some(composer) = composer() else {
            set_attr(&self.host, "style", "all: initial !important; display: block !important; position: fixed !important; z-index: 2000 !important; left: 40% !important; bottom: 80px !important;");
            return;
        };
        let r = composer.get_bounding_client_rect();
        let height = web_sys::window()
            .and_then(|w| w.inner_height().ok())
            .and_then(|h| h.as_f64())
            .unwrap_or(800.0);
        set_attr(
            &self.host,
            "style",
            &format!(
                "all: initial !important; display: block !important; position: fixed !important; z-index: 2000 !important; left: {}px !important; bottom: {}px !important; width: {}px !important;",
                r.left().round(),
                (height - r.top() + 8.0).round(),
                r.width().clamp(280.0, 520.0).round()
            ),
        );
    }

    /// A new opening: another chat's context, the search from the start.
    pub fn reopen(&mut self, context: PickerContext) {
        self.context = context;
        self.search.set_value("");
        self.selected = 0;
        self.place();
        let _ = self.search.focus();
        self.render();
    }

    fn say(&self, text: &str) {
        set_text(&self.status, text);
        show(&self.status, !text.is_empty());
    }

    fn loaded(&mut self, templates: Vec<Template>, me: String, business: String) {
        self.templates = templates;
        self.me = me;
        self.business = business;
        self.say(if self.templates.is_empty() {
            "No templates yet: a lead adds them in Baton's settings."
        } else {
            ""
        });
        self.render();
        set_attr(&self.host, "data-state", "ready");
    }

    fn render(&mut self) {
        let query = self.search.value();
        let found = matching(&self.templates, &query, &self.context);
        self.shown = found.iter().map(|t| t.id.clone()).collect();
        self.selected = self.selected.min(self.shown.len().saturating_sub(1));
        clear(&self.list);
        for (i, template) in found.iter().enumerate() {
            let item = el("li", "template-option");
            set_attr(&item, "role", "option");
            set_attr(&item, "data-action", "template");
            set_attr(&item, "data-id", &template.id);
            set_attr(
                &item,
                "aria-selected",
                if i == self.selected { "true" } else { "false" },
            );
            let _ = item.append_child(&text_el("strong", "", &template.name));
            let _ = item.append_child(&text_el("span", "", &template.body));
            let _ = self.list.append_child(&item);
        }
        if found.is_empty() && !self.templates.is_empty() {
            self.say("No template matches.");
        } else if !self.templates.is_empty() {
            self.say("");
        }
        self.show_variables();
    }

    fn selected_template(&self) -> Option<&Template> {
        let id = self.shown.get(self.selected)?;
        self.templates.iter().find(|t| &t.id == id)
    }

    fn select_id(&mut self, id: &str) {
        if let Some(i) = self.shown.iter().position(|s| s == id) {
            self.selected = i;
            self.render();
        }
    }

    fn step(&mut self, down: bool) {
        let n = self.shown.len();
        if n == 0 {
            return;
        }
        self.selected = if down {
            (self.selected + 1) % n
        } else {
            (self.selected + n - 1) % n
        };
        for (i, item) in crate::ui::all(&self.list, "[data-baton=\"template-option\"]")
            .iter()
            .enumerate()
        {
            set_attr(
                item,
                "aria-selected",
                if i == self.selected { "true" } else { "false" },
            );
            if i == self.selected {
                item.scroll_into_view_with_bool(false);
            }
        }
        self.show_variables();
    }

    /// One field per custom variable of the selected template.
    fn show_variables(&mut self) {
        clear(&self.variables);
        let custom = self
            .selected_template()
            .map(|t| t.custom_variables.clone())
            .unwrap_or_default();
        for name in custom {
            let label = el("label", "template-variable-field");
            let _ = label.append_child(&text_el("span", "", &name.replace('_', " ")));
            let input = el("input", "template-variable");
            set_attr(&input, "name", &name);
            set_attr(&input, "type", "text");
            let _ = label.append_child(&input);
            let _ = self.variables.append_child(&label);
        }
        self.show_preview();
    }

    fn custom_values(&self) -> Vec<(String, String)> {
        crate::ui::all(&self.variables, "[data-baton=\"template-variable\"]")
            .iter()
            .map(|input| {
                let input = input.unchecked_ref::<HtmlInputElement>();
                (input.name(), input.value())
            })
            .collect()
    }

    fn known(&self) -> Known<'_> {
        Known {
            title: &self.context.title,
            agent: &self.me,
            business: &self.business,
        }
    }

    fn show_preview(&mut self) {
        let text = match self.selected_template() {
            Some(template) => match filled(template, &self.known(), &self.custom_values()) {
                Ok(text) => text,
                Err(FillError::Missing(names)) => format!("Still needed: {}", names.join(", ")),
                Err(FillError::Invalid(why)) => why,
            },
            None => String::new(),
        };
        set_text(&self.preview, &text);
    }

    /// The selected template filled, or `None` after pointing at what is still needed.
    fn ready_text(&self) -> Option<(String, String)> {
        let template = self.selected_template()?;
        match filled(template, &self.known(), &self.custom_values()) {
            Ok(text) => Some((template.id.clone(), text)),
            Err(FillError::Missing(names)) => {
                let first = names.first()?;
                let missing = self
                    .variables
                    .query_selector(&format!("[name=\"{first}\"]"))
                    .ok()
                    .flatten();
                match missing {
                    Some(input) => {
                        let _ = input.unchecked_ref::<HtmlElement>().focus();
                        self.say(&format!("Fill in {} first.", first.replace('_', " ")));
                    }
                    None => self.say(&format!(
                        "This template needs {first}, which Baton does not know here."
                    )),
                }
                None
            }
            Err(FillError::Invalid(why)) => {
                self.say(&why);
                None
            }
        }
    }
}

impl Drop for TemplatePicker {
    fn drop(&mut self) {
        self.host.remove();
    }
}

/// Pastes `text` into the composer as a person's paste arrives (see [`crate::ui::paste_into`]):
/// the overlay sees it as typing — it takes the reply lock, holds the text until the lock is
/// granted, or refuses it while a colleague holds the chat.
fn paste(text: &str, replace: bool) -> bool {
    composer().is_some_and(|composer| crate::ui::paste_into(&composer, text, replace))
}

fn in_composer(text: &str) -> bool {
    composer()
        .and_then(|c| c.text_content())
        .is_some_and(|now| without_spaces(&now).contains(&without_spaces(text)))
}

/// Inserts the selected template (once its variables are filled) and closes the picker; says
/// so when the composer did not take it (a colleague holds the chat).
fn choose() {
    let mut chosen = None;
    with_picker(|p| chosen = p.ready_text().map(|(id, text)| (id, text, p.context.slash)));
    let Some((id, text, slash)) = chosen else {
        return;
    };
    if !paste(&text, slash) {
        with_picker(|p| p.say("WhatsApp's composer is not open."));
        return;
    }
    wasm_bindgen_futures::spawn_local(async move {
        // At once when the lock is ours; held input goes in once it is granted.
        let mut taken = in_composer(&text);
        for _ in 0..30 {
            if taken {
                break;
            }
            gloo_timers::future::TimeoutFuture::new(100).await;
            taken = in_composer(&text);
        }
        if !taken {
            with_picker(|p| {
                p.say("Not inserted: a colleague is replying in this chat.");
                set_attr(&p.host, "data-refused", "");
                // Back to the picker: another choice, or Escape.
                let _ = p.search.focus();
            });
            return;
        }
        with_lead(|lead| lead.picker = None);
        let Some(link) = with_lead(|lead| lead.link.clone()) else {
            return;
        };
        let answer = request(&link, "POST", &format!("/templates/{id}/used"), None).await;
        if !answer.ok() {
            crate::js::warn(&format!(
                "the template's use was not counted: {}",
                answer.message()
            ));
        }
    });
}

/// Reads the templates and who is writing, and shows them.
pub async fn load() {
    let Some(link) = with_lead(|lead| lead.link.clone()) else {
        return;
    };
    let templates = send(&link, "GET", "/templates", None);
    let me = send(&link, "GET", "/me", None);
    let templates = templates.answer(&link).await;
    let me = me.answer(&link).await;
    for answer in [&templates, &me] {
        if !answer.ok() {
            let message = answer.message();
            with_picker(|p| p.say(&message));
            return;
        }
    }
    #[derive(serde::Deserialize)]
    struct Org {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Me {
        agent: Agent,
        org: Org,
    }
    match (
        from_json::<Vec<Template>>(&templates.body),
        from_json::<Me>(&me.body),
    ) {
        (Ok(templates), Ok(me)) => {
            with_picker(|p| p.loaded(templates, me.agent.name, me.org.name));
        }
        (Err(err), _) | (_, Err(err)) => {
            with_picker(|p| p.say(&format!("Unreadable answer: {err}")))
        }
    }
}
