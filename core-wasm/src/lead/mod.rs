//! The lead module: tools loaded into WhatsApp Web only when first opened, so they cost the
//! overlay nothing — the stats panel and the pipeline board. Each tool is drawn over WhatsApp Web in its own shadow
//! root and talks to the server only through the worker's relay ([`link`]). The loader
//! (`extension/content.js`) starts it once and hands it each tool the overlay asks for.

mod board;
mod link;
mod stats;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::ui::{set_sheet, Sheet};
use board::BoardPanel;
use link::Link;
use stats::StatsPanel;

struct Lead {
    link: Rc<RefCell<Link>>,
    stats: Option<StatsPanel>,
    board: Option<BoardPanel>,
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
        });
    });
    let _ = crate::ui::document()
        .document_element()
        .map(|root| root.set_attribute("data-baton-lead", &mode));
}

/// Opens a tool (`stats`, `board`); opening it again brings it up to date.
#[wasm_bindgen]
pub fn open_tool(name: String) {
    // Each panel is closed after the click or key that closes it has been handled: its listeners
    // go with it.
    let link = with_lead(|lead| {
        match name.as_str() {
            "stats" if lead.stats.is_none() => {
                lead.stats = Some(StatsPanel::new(|| {
                    wasm_bindgen_futures::spawn_local(async {
                        with_lead(|lead| lead.stats = None);
                    });
                }));
            }
            "board" if lead.board.is_none() => {
                lead.board = Some(BoardPanel::new(|| {
                    wasm_bindgen_futures::spawn_local(async {
                        with_lead(|lead| lead.board = None);
                    });
                }));
            }
            _ => {}
        }
        lead.link.clone()
    });
    match (name.as_str(), link) {
        ("stats", Some(link)) => wasm_bindgen_futures::spawn_local(stats::load(link)),
        ("board", Some(_)) => wasm_bindgen_futures::spawn_local(board::open()),
        _ => crate::js::warn(&format!("no tool called {name:?}")),
    }
}

/// Runs `f` on the open board, if any.
fn with_board(f: impl FnOnce(&mut BoardPanel)) {
    with_lead(|lead| lead.board.as_mut().map(f));
}

/// Runs `f` on the open stats panel, if any.
fn with_stats(f: impl FnOnce(&mut StatsPanel)) {
    with_lead(|lead| lead.stats.as_mut().map(f));
}
