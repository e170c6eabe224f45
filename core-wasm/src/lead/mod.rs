//! Two builds share this module. The **lead** build (feature `lead`): tools loaded into WhatsApp
//! Web only when first opened, so they cost the overlay nothing — the stats panel, the pipeline
//! board and the template picker, each drawn over WhatsApp Web in its own shadow root; the loader
//! (`extension/content.js`) starts it once and hands it each tool the overlay asks for. The
//! **settings** build (feature `settings`): the team's settings on the extension's options page
//! (`extension/settings.js`). Both talk to the server only through the worker's relay ([`link`]).

#[cfg(feature = "lead")]
mod board;
#[cfg(feature = "lead")]
mod picker;
#[cfg(feature = "settings")]
mod settings;
#[cfg(feature = "lead")]
mod stats;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::link::Link;
#[cfg(feature = "lead")]
use crate::ui::{set_sheet, Sheet};
#[cfg(feature = "lead")]
use board::BoardPanel;
#[cfg(feature = "lead")]
use picker::TemplatePicker;
#[cfg(feature = "settings")]
use settings::Settings;
#[cfg(feature = "lead")]
use stats::StatsPanel;

struct Lead {
    link: Rc<RefCell<Link>>,
    #[cfg(feature = "lead")]
    stats: Option<StatsPanel>,
    #[cfg(feature = "lead")]
    board: Option<BoardPanel>,
    #[cfg(feature = "lead")]
    picker: Option<TemplatePicker>,
    #[cfg(feature = "settings")]
    settings: Option<Settings>,
}

thread_local! {
    static LEAD: RefCell<Option<Lead>> = const { RefCell::new(None) };
}

/// A panel over WhatsApp Web: a page element (`data-baton` = `role`) placed by `placement`,
/// holding in its shadow root a dialog (`data-baton` = `root_role`) labelled `label`, which the
/// caller fills. The host is on the page already.
#[cfg(feature = "lead")]
fn dialog(
    role: &str,
    placement: &str,
    root_role: &str,
    label: &str,
) -> (web_sys::HtmlElement, web_sys::HtmlElement) {
    let (host, shadow) = crate::ui::shadow_host("div", role, placement, Sheet::Lead);
    let root = crate::ui::el("section", root_role);
    crate::ui::set_attr(&root, "role", "dialog");
    crate::ui::set_attr(&root, "aria-label", label);
    let _ = shadow.append_child(&root);
    let _ = crate::ui::document().body().map(|b| b.append_child(&host));
    (host, root)
}

/// Runs `f` on the module's state, if started (never re-entered: callbacks come one at a time).
fn with_lead<R>(f: impl FnOnce(&mut Lead) -> R) -> Option<R> {
    LEAD.with(|lead| lead.try_borrow_mut().ok()?.as_mut().map(f))
}

impl Lead {
    fn new(on_push: impl Fn() + 'static) -> Lead {
        Lead {
            link: Rc::new(RefCell::new(Link::new(on_push))),
            #[cfg(feature = "lead")]
            stats: None,
            #[cfg(feature = "lead")]
            board: None,
            #[cfg(feature = "lead")]
            picker: None,
            #[cfg(feature = "settings")]
            settings: None,
        }
    }
}

/// Starts the lead tools with their stylesheet (`core-wasm/src/lead/lead.css`). `mode` says how
/// they run (`wasm` or `wasm2js`), for diagnostics.
#[cfg(feature = "lead")]
#[wasm_bindgen]
pub fn start_lead(mode: String, css: String) {
    set_sheet(Sheet::Lead, css);
    LEAD.with(|lead| {
        // The team changed: an open board reloads (deferred: this runs inside a callback).
        *lead.borrow_mut() = Some(Lead::new(|| {
            wasm_bindgen_futures::spawn_local(async { with_board(BoardPanel::reload_soon) });
        }));
    });
    let _ = crate::ui::document()
        .document_element()
        .map(|root| root.set_attribute("data-baton-lead", &mode));
}

/// Opens a tool (`stats`, `board`, `templates`); opening it again brings it up to date.
/// `context` is the tool's JSON context from the overlay (the template picker's chat).
#[cfg(feature = "lead")]
#[wasm_bindgen]
pub fn open_tool(name: String, context: Option<String>) {
    // Each panel is closed after the click or key that closes it has been handled: its listeners
    // go with it.
    let closer = |close: fn(&mut Lead)| {
        move || {
            wasm_bindgen_futures::spawn_local(async move {
                with_lead(close);
            });
        }
    };
    let link = with_lead(|lead| {
        match name.as_str() {
            "stats" if lead.stats.is_none() => {
                lead.stats = Some(StatsPanel::new(closer(|lead| lead.stats = None)));
            }
            "board" if lead.board.is_none() => {
                lead.board = Some(BoardPanel::new(closer(|lead| lead.board = None)));
            }
            "templates" => {
                let context = context
                    .as_deref()
                    .and_then(|c| crate::js::from_json(c).ok())
                    .unwrap_or_default();
                match lead.picker.as_mut() {
                    Some(picker) => picker.reopen(context),
                    None => {
                        lead.picker = Some(TemplatePicker::new(
                            context,
                            closer(|lead| lead.picker = None),
                        ));
                    }
                }
            }
            _ => {}
        }
        lead.link.clone()
    });
    match (name.as_str(), link) {
        ("stats", Some(link)) => wasm_bindgen_futures::spawn_local(stats::load(link)),
        ("board", Some(_)) => wasm_bindgen_futures::spawn_local(board::open()),
        ("templates", Some(_)) => wasm_bindgen_futures::spawn_local(picker::load()),
        _ => crate::js::warn(&format!("no tool called {name:?}")),
    }
}

/// Draws the team's settings on the extension's options page.
#[cfg(feature = "settings")]
#[wasm_bindgen]
pub fn start_settings() {
    LEAD.with(|lead| {
        let mut lead = lead.borrow_mut();
        let lead = lead.get_or_insert_with(|| Lead::new(|| {}));
        if lead.settings.is_none() {
            lead.settings = Some(Settings::new());
        }
    });
    wasm_bindgen_futures::spawn_local(settings::load());
}

/// Runs `f` on the settings page, if it is one.
#[cfg(feature = "settings")]
fn with_settings(f: impl FnOnce(&mut Settings)) {
    with_lead(|lead| lead.settings.as_mut().map(f));
}

/// Runs `f` on the open template picker, if any.
#[cfg(feature = "lead")]
fn with_picker(f: impl FnOnce(&mut TemplatePicker)) {
    with_lead(|lead| lead.picker.as_mut().map(f));
}

/// Runs `f` on the open board, if any.
#[cfg(feature = "lead")]
fn with_board(f: impl FnOnce(&mut BoardPanel)) {
    with_lead(|lead| lead.board.as_mut().map(f));
}

/// Runs `f` on the open stats panel, if any.
#[cfg(feature = "lead")]
fn with_stats(f: impl FnOnce(&mut StatsPanel)) {
    with_lead(|lead| lead.stats.as_mut().map(f));
}
