//! Baton's extension core, one crate for both halves of the extension:
//!
//! - the **overlay** in each WhatsApp Web tab (content script): finds chats in WhatsApp's DOM,
//!   shows owners, reply locks, notes, handoffs and reminders, and guards the composer;
//! - the **sync client** in the service worker: the only part that talks to the server (a content
//!   script on WhatsApp's public origin may not reach a local server), holding the WebSocket and
//!   the offline queue, and relaying state to the tabs.
//!
//! The two halves are built as two modules (cargo features `overlay` and `worker`), so the content
//! script loads only what it runs. A third, the **lead** module (feature `lead`: the stats panel,
//! the pipeline board, the template picker), is loaded into WhatsApp Web only when first opened,
//! so it costs the overlay nothing; a fourth, **settings**, draws the extension's options page.
//! The content script's modules have wasm2js twins.
//!
//! Pure logic (parsing WhatsApp's DOM facts, the state reducer, what to show, the messages between
//! the halves) compiles natively and is tested with plain `cargo test`. Browser code lives in
//! [`dom`] (the content script's only DOM access), [`chrome`] (extension APIs) and [`worker`], and
//! compiles only for `wasm32`.

pub mod adapter;
pub mod answers;
pub mod board_view;
pub mod calls;
pub mod clock;
pub mod event_kinds;
pub mod filters;
pub mod held;
pub mod identity;
pub mod messages;
pub mod reports_view;
pub mod responder;
pub mod settings_view;
pub mod state;
pub mod template_view;
pub mod views;

#[cfg(target_arch = "wasm32")]
mod chrome;
#[cfg(all(target_arch = "wasm32", feature = "overlay"))]
pub mod dom;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod js;
#[cfg(all(target_arch = "wasm32", any(feature = "lead", feature = "settings")))]
pub mod lead;
#[cfg(all(
    target_arch = "wasm32",
    any(feature = "lead", feature = "settings", feature = "seat")
))]
mod link;
#[cfg(all(target_arch = "wasm32", feature = "seat"))]
pub mod seat;
#[cfg(all(
    target_arch = "wasm32",
    any(
        feature = "overlay",
        feature = "lead",
        feature = "settings",
        feature = "seat"
    )
))]
pub mod ui;
#[cfg(all(target_arch = "wasm32", any(feature = "overlay", feature = "seat")))]
pub mod whatsapp;
#[cfg(all(target_arch = "wasm32", feature = "worker"))]
pub mod worker;

// Talc instead of the default dlmalloc: a few kilobytes smaller, which the overlay's size budget
// needs, and faster (see talc's WebAssembly benchmarks). Single-threaded, as both modules are.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
