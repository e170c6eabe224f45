//! The lead module: tools loaded into WhatsApp Web only when first opened, so they cost the
//! overlay nothing — the stats panel, the pipeline board and the template picker — and the
//! team's settings on the extension's options page. Each tool is drawn over WhatsApp Web in its own shadow
//! root and talks to the server only through the worker's relay ([`link`]). The loader
//! (`extension/content.js`) starts it once and hands it each tool the overlay asks for.

mod board;
mod link;
mod picker;
mod settings;
mod stats;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::ui::{set_sheet, Sheet};
use board::BoardPanel;
use link::Link;
use picker::TemplatePicker;
use settings::Settings;
use stats::StatsPanel;

struct Lead {
    link: Rc<RefCell<Link>>,
    stats: Option<StatsPanel>,
    board: Option<BoardPanel>,
    picker: Option<TemplatePicker>,
    settings: Option<Settings>,
}

thread_local! {
    static LEAD: RefCell<Option<Lead>> = const { RefCell::new(None) };
}

/// Runs `f` on the module's state, if started (never re-entered: callbacks come one at a time).
fn with_lead<R>(f: impl FnOnce(&mut Lead) -> R) -> Option<R> {
    LEAD.with(|lead| lead.try_borrow_mut().ok()?.as_mut().map(f))
}

/// Starts the module with its stylesheet (`core-wasm/src/lead/lead.css`). `mode` says how it
/// runs (`wasm` or `wasm2js`), for diagnostics.
#[wasm_bindgen]
pub fn start_lead(mode: String, css: String) {
    set_sheet(Sheet::Lead, css);
    LEAD.with(|lead| {
        *lead.borrow_mut() = Some(Lead {
            // The team changed: an open board reloads (deferred: this runs inside a callback).
            link: Rc::new(RefCell::new(Link::new(|| {
                wasm_bindgen_futures::spawn_local(async { with_board(BoardPanel::reload_soon) });
            }))),
            stats: None,
            board: None,
            picker: None,
            settings: None,
        });
    });
    let _ = crate::ui::document()
        .document_element()
        .map(|root| root.set_attribute("data-baton-lead", &mode));
}

/// Opens a tool (`stats`, `board`, `templates`); opening it again brings it up to date.
/// `context` is the tool's JSON context from the overlay (the template picker's chat).
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

/// Draws the team's settings on the extension's options page (started there with
/// [`start_lead`]).
#[wasm_bindgen]
pub fn start_settings() {
    with_lead(|lead| {
        if lead.settings.is_none() {
            lead.settings = Some(Settings::new());
        }
    });
    wasm_bindgen_futures::spawn_local(settings::load());
}

/// Runs `f` on the settings page, if it is one.
fn with_settings(f: impl FnOnce(&mut Settings)) {
    with_lead(|lead| lead.settings.as_mut().map(f));
}

/// Runs `f` on the open template picker, if any.
fn with_picker(f: impl FnOnce(&mut TemplatePicker)) {
    with_lead(|lead| lead.picker.as_mut().map(f));
}

/// Runs `f` on the open board, if any.
fn with_board(f: impl FnOnce(&mut BoardPanel)) {
    with_lead(|lead| lead.board.as_mut().map(f));
}

/// Runs `f` on the open stats panel, if any.
fn with_stats(f: impl FnOnce(&mut StatsPanel)) {
    with_lead(|lead| lead.stats.as_mut().map(f));
}
