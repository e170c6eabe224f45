//! The content script's overlay on WhatsApp Web: the only module that touches the page's DOM.
//!
//! [`start_overlay`] is called by `extension/content.js` once the core has loaded (as WebAssembly,
//! or as its wasm2js twin when the page's CSP forbids WebAssembly). The overlay lives as long as
//! the page; every listener, observer and timer is owned by it and detached when it is dropped.
//!
//! The layout: [`overlay`] is the one stateful root (the team state, the open chat, the calls in
//! flight) and the only module that acts — `overlay::{render, actions, reply, identity}` draw the
//! chat overlay, act on its controls, guard the agent's reply and feed chat identity. Everything
//! else is used by it and never calls it: components that own their elements and state
//! (`panels` composing `notes`, `forms` and `requests`; the chat list's `filters`), the open
//! chat's state (`chat`) and identity sources (`chat_identity`), and the page readers (`whatsapp`,
//! `indexed_db`, `whatsapp_bridge`, `ui`). A component's listeners reach the overlay only through
//! a callback it was made with, or the delegated listeners the overlay hangs on its root.

mod chat;
mod chat_identity;
mod filters;
mod forms;
mod indexed_db;
mod notes;
mod overlay;
mod panels;
mod requests;
pub use crate::ui;
pub use crate::whatsapp;
mod whatsapp_bridge;
mod worker_link;

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;

use crate::messages::CoreMode;
use overlay::Overlay;

thread_local! {
    /// The page's one overlay. Held here (not leaked) so callbacks can reach it through
    /// [`with_overlay`] and so [`stop_overlay`] can drop it, detaching everything.
    static OVERLAY: RefCell<Option<Rc<RefCell<Overlay>>>> = const { RefCell::new(None) };
}

/// Runs `f` on the overlay, unless it is gone or already busy (a DOM event fired synchronously by
/// the overlay's own action, which must then pass untouched).
pub(crate) fn with_overlay(f: impl FnOnce(&mut Overlay)) {
    let shared = OVERLAY.with(|slot| slot.borrow().clone());
    if let Some(shared) = shared {
        if let Ok(mut overlay) = shared.try_borrow_mut() {
            // Every callback enters here, so this measures all the main-thread time the overlay
            // takes (reported by the benchmark).
            let performance = web_sys::window().and_then(|w| w.performance());
            let started = performance.as_ref().map(|p| p.now());
            f(&mut overlay);
            if let (Some(performance), Some(started)) = (performance, started) {
                overlay.record_busy(performance.now() - started);
            }
        }
    }
}

/// Starts the overlay; `mode` is `"wasm"` or `"wasm2js"`, as the loader managed, `bridge_port` the
/// MAIN-world bridge's private port that `bridge-port.js` kept (or nothing), and `chat_css` and
/// `rows_css` the overlay's stylesheets (`core-wasm/src/dom/css/`), read by the loader.
#[wasm_bindgen]
pub fn start_overlay(mode: &str, bridge_port: JsValue, chat_css: String, rows_css: String) {
    ui::set_stylesheets(chat_css, rows_css);
    let mode = if mode == "wasm2js" {
        CoreMode::Wasm2js
    } else {
        CoreMode::Wasm
    };
    let overlay = Rc::new(RefCell::new(Overlay::new(mode, bridge_port)));
    OVERLAY.with(|slot| *slot.borrow_mut() = Some(overlay));
    with_overlay(Overlay::start);
}

/// Stops the overlay and removes everything it added (used by tests and on extension reload).
#[wasm_bindgen]
pub fn stop_overlay() {
    let overlay = OVERLAY.with(|slot| slot.borrow_mut().take());
    if let Some(overlay) = overlay {
        overlay.borrow_mut().remove_from_page();
    }
}

/// The overlay's state as JSON, for end-to-end tests and the benchmark to observe it.
#[wasm_bindgen]
pub fn overlay_debug() -> JsValue {
    let mut out = JsValue::NULL;
    with_overlay(|o| out = o.debug_state());
    out
}
