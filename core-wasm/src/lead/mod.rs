//! The lead module: tools loaded into WhatsApp Web only when first opened, so they cost the
//! overlay nothing — the stats panel now. Each tool is drawn over WhatsApp Web in its own shadow
//! root and talks to the server only through the worker's relay ([`link`]). The loader
//! (`extension/content.js`) starts it once and hands it each tool the overlay asks for.

mod link;
mod stats;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::ui::{set_sheet, Sheet};
use link::Link;
use stats::StatsPanel;

struct Lead {
    link: Rc<RefCell<Link>>,
    stats: Option<StatsPanel>,
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
            link: Rc::new(RefCell::new(Link::new())),
            stats: None,
        });
    });
    let _ = crate::ui::document()
        .document_element()
        .map(|root| root.set_attribute("data-baton-lead", &mode));
}

/// Opens a tool (`stats`); opening it again brings it up to date.
#[wasm_bindgen]
pub fn open_tool(name: String) {
    if name != "stats" {
        crate::js::warn(&format!("no tool called {name:?}"));
        return;
    }
    let link = with_lead(|lead| {
        if lead.stats.is_none() {
            // Closed after the click or key that closes it has been handled: its listeners go
            // with it.
            lead.stats = Some(StatsPanel::new(|| {
                wasm_bindgen_futures::spawn_local(async {
                    with_lead(|lead| lead.stats = None);
                });
            }));
        }
        lead.link.clone()
    });
    if let Some(link) = link {
        wasm_bindgen_futures::spawn_local(stats::load(link));
    }
}

/// Runs `f` on the open stats panel, if any.
fn with_stats(f: impl FnOnce(&mut StatsPanel)) {
    with_lead(|lead| lead.stats.as_mut().map(f));
}
