//! DOM tests of the overlay's page reading, in headless Chromium (wasm-bindgen-test):
//! `CHROMEDRIVER=/usr/bin/chromedriver cargo test -p core-wasm --features overlay --target wasm32-unknown-unknown`
#![cfg(all(target_arch = "wasm32", feature = "overlay"))]
#![allow(clippy::unwrap_used)]

use baton_core::dom::{ui, whatsapp};
use baton_core::messages::LayoutState;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::Element;

wasm_bindgen_test_configure!(run_in_browser);

/// Replaces the page with `html` inside `<div id="app">`.
fn page(html: &str) -> Element {
    let document = ui::document();
    if let Some(old) = document.get_element_by_id("app") {
        old.remove();
    }
    let app = document.create_element("div").unwrap();
    app.set_id("app");
    app.set_inner_html(html);
    document.body().unwrap().append_child(&app).unwrap();
    app
}

fn row(title: &str) -> String {
    format!(
        r#"<div role="listitem" style="transform: translateY(0px)"><div role="row" aria-selected="false">
           <div role="gridcell"><span dir="auto" title="{title}" class="x1a2b">{title}</span><span dir="ltr">hi</span></div></div></div>"#
    )
}

const MAIN: &str = r#"<div id="main"><header><div role="button"><span dir="auto">Priya Sharma</span>
    <span title="click here for contact info">click here for contact info</span></div></header>
    <div role="application"><div role="row"><div>TODAY</div></div>
      <div role="row"><div data-id="false_919876500001@c.us_3EB0AA11"><div class="copyable-text"
        data-pre-plain-text="[10:42, 25/11/2026] Priya Sharma: "><span>Hello</span></div></div></div>
      <div role="row"><div data-id="true_919876500001@c.us_3EB0AA12"></div></div></div>
    <footer><div contenteditable="true" role="textbox" data-tab="10" data-lexical-editor="true"><p>draft</p></div>
      <button aria-label="Send"><span data-icon="wds-ic-send-filled"></span></button></footer></div>"#;

#[wasm_bindgen_test]
fn rows_are_read_by_their_titles() {
    page(&format!(
        r#"<div id="side"><div id="pane-side"><div role="grid" aria-rowcount="3">{}{}{}</div></div></div>"#,
        row("Priya Sharma"),
        row("+91 98765 00012"),
        row("Site visit — Block A")
    ));
    let read = whatsapp::read_page(false);
    assert_eq!(read.layout, LayoutState::Recognised);
    let titles: Vec<String> = read.rows.iter().map(|r| r.title.clone()).collect();
    assert_eq!(
        titles,
        ["Priya Sharma", "+91 98765 00012", "Site visit — Block A"]
    );
    assert!(read.open_chat.is_none());
}

#[wasm_bindgen_test]
fn our_own_badges_are_not_rows() {
    let app = page(&format!(
        r#"<div id="side"><div id="pane-side"><div role="grid">{}<span data-baton="stray"></span></div></div></div>"#,
        row("Priya Sharma")
    ));
    assert_eq!(whatsapp::read_page(false).rows.len(), 1);
    assert!(app.query_selector("[data-baton]").unwrap().is_some());
}

#[wasm_bindgen_test]
fn the_open_chat_is_identified_by_its_messages_not_the_subtitle_trap() {
    page(&format!(
        r#"<div id="side"><div id="pane-side"><div role="grid">{}</div></div></div>{MAIN}"#,
        row("Priya Sharma")
    ));
    let open = whatsapp::read_page(false).open_chat.unwrap();
    assert_eq!(
        open.title, "Priya Sharma",
        "the name span, not the subtitle with a title"
    );
    assert_eq!(
        open.chat_id_from_messages.unwrap().as_str(),
        "919876500001@c.us"
    );
    assert_eq!(open.messages.len(), 2);
    assert!(open.messages[1].from_me);
    let composer = open.composer.unwrap();
    assert_eq!(whatsapp::composer_text(&composer), "draft");
    assert!(whatsapp::in_composer(
        &composer.first_element_child().unwrap()
    ));
    let icon = ui::document()
        .query_selector("[data-icon=\"wds-ic-send-filled\"]")
        .unwrap()
        .unwrap();
    assert!(whatsapp::in_send_button(&icon));
    assert_eq!(
        whatsapp::send_button().unwrap().tag_name(),
        "BUTTON",
        "the icon's button is what gets pressed"
    );
}

#[wasm_bindgen_test]
fn todays_dom_names_no_chat_but_messages_and_places_are_read() {
    // Since April 2026: bare message ids, direction only from the semantic classes.
    let current = MAIN
        .replace(
            r#"<div data-id="false_919876500001@c.us_3EB0AA11">"#,
            r#"<div data-id="3EB0AA11" class="message-in focusable-list-item">"#,
        )
        .replace(
            r#"<div data-id="true_919876500001@c.us_3EB0AA12">"#,
            r#"<div class="message-out"><div data-id="3EB0AA12">"#,
        )
        .replace(
            "</div></div></div>\n    <footer",
            "</div></div></div></div>\n    <footer",
        );
    let rows = [(0, "Priya Sharma"), (5, "Priya Sharma"), (2, "Rahul Verma")]
        .iter()
        .map(|(place, title)| {
            format!(
                r#"<div role="listitem" style="z-index: 9; height: 72px; transform: translateY({}px)">
                   <div role="row"><span dir="auto" title="{title}">{title}</span></div></div>"#,
                place * 72
            )
        })
        .collect::<String>();
    page(&format!(
        r#"<div id="side"><div id="pane-side"><div role="grid">{rows}</div></div></div>{current}"#
    ));
    let read = whatsapp::read_page(false);
    let places: Vec<Option<u32>> = read.rows.iter().map(|r| r.position).collect();
    assert_eq!(places, [Some(0), Some(5), Some(2)]);
    let open = read.open_chat.unwrap();
    assert_eq!(
        open.chat_id_from_messages, None,
        "no chat id in today's DOM"
    );
    let messages: Vec<(String, bool)> = open
        .messages
        .iter()
        .map(|m| (m.message_id.clone(), m.from_me))
        .collect();
    assert_eq!(
        messages,
        [
            ("3EB0AA11".to_owned(), false),
            ("3EB0AA12".to_owned(), true)
        ]
    );
}

#[wasm_bindgen_test]
fn messages_of_two_chats_identify_nothing() {
    page(&MAIN.replace(
        "true_919876500001@c.us_3EB0AA12",
        "true_919876500002@c.us_3EB0AA12",
    ));
    let open = whatsapp::read_page(false).open_chat.unwrap();
    assert_eq!(open.chat_id_from_messages, None, "mid-switch: no guess");
}

#[wasm_bindgen_test]
fn the_composer_is_found_through_its_fallbacks() {
    page(
        &MAIN
            .replace(r#" role="textbox""#, "")
            .replace(r#"contenteditable="true""#, r#"contenteditable="true" "#),
    );
    let open = whatsapp::read_page(false).open_chat.unwrap();
    assert!(open.composer.is_some(), "found by data-lexical-editor");
}

#[wasm_bindgen_test]
fn an_unknown_layout_is_waited_for_then_reported() {
    page(r#"<div class="new-layout"><div id="chatlist-v2"></div></div>"#);
    assert_eq!(whatsapp::read_page(false).layout, LayoutState::Waiting);
    match whatsapp::read_page(true).layout {
        LayoutState::Unrecognised { missing } => {
            assert!(
                missing.iter().any(|m| m.contains("#pane-side")),
                "{missing:?}"
            )
        }
        other => panic!("expected unrecognised, got {other:?}"),
    }
    // A chat panel without a composer is not acted on either.
    page(&format!(
        r#"<div id="side"><div id="pane-side"><div role="grid">{}</div></div></div>{}"#,
        row("Priya"),
        MAIN.replace("contenteditable=\"true\"", "")
            .replace("data-lexical-editor=\"true\"", "")
    ));
    assert!(matches!(
        whatsapp::read_page(false).layout,
        LayoutState::Unrecognised { .. }
    ));
}

#[wasm_bindgen_test]
fn user_text_stays_text_and_unchanged_text_is_not_rewritten() {
    let element = ui::text_el("p", "note-body", "<b>bold</b> <img src=x onerror=alert(1)>");
    assert_eq!(element.child_element_count(), 0);
    assert!(element.inner_html().contains("&lt;b&gt;"));
    let node = element.first_child().unwrap();
    ui::set_text(&element, "<b>bold</b> <img src=x onerror=alert(1)>");
    assert!(
        node.is_same_node(element.first_child().as_ref()),
        "same text: no DOM write"
    );
    ui::set_text(&element, "new");
    assert_eq!(element.text_content().unwrap(), "new");
    let parent: Element = ui::el("div", "").unchecked_into();
    let first = ui::child_with_role(&parent, "owner-badge", || ui::el("span", "owner-badge"));
    let again = ui::child_with_role(&parent, "owner-badge", || ui::el("span", "owner-badge"));
    assert!(
        first.is_same_node(Some(&again)),
        "a role's element is reused, not duplicated"
    );
    assert_eq!(parent.child_element_count(), 1);
}

#[wasm_bindgen_test]
fn a_shadow_host_keeps_the_pages_styles_out_and_its_place_in() {
    let app = page("");
    ui::set_stylesheets(
        include_str!("../src/dom/css/chat.css").to_owned(),
        include_str!("../src/dom/css/rows.css").to_owned(),
    );
    let document = ui::document();
    // Greedy page rules, important ones included, of the kind that used to squeeze note cards.
    let hostile = document.create_element("style").unwrap();
    hostile.set_text_content(Some(
        "div { width: 60% !important; position: static !important; }
         span { font-size: 40px !important; display: block !important; }
         [data-id] { width: 10px !important; }",
    ));
    document.body().unwrap().append_child(&hostile).unwrap();
    let (host, root) = ui::shadow_host(
        "div",
        "probe",
        "display: block; position: absolute; width: 200px; height: 50px",
        ui::Sheet::Chat,
    );
    app.append_child(&host).unwrap();
    let note = ui::text_el("span", "note-body", "Prefers calls after 5");
    note.set_attribute("data-id", "n1").unwrap();
    root.append_child(&note).unwrap();
    let window = web_sys::window().unwrap();
    let host_style = window.get_computed_style(&host).unwrap().unwrap();
    assert_eq!(
        host_style.get_property_value("position").unwrap(),
        "absolute"
    );
    assert_eq!(host_style.get_property_value("width").unwrap(), "200px");
    let note_style = window.get_computed_style(&note).unwrap().unwrap();
    assert_ne!(note_style.get_property_value("font-size").unwrap(), "40px");
    assert_ne!(note_style.get_property_value("width").unwrap(), "10px");
    // The overlay's own rules apply inside (note bodies keep their line breaks).
    assert_eq!(
        note_style.get_property_value("white-space").unwrap(),
        "pre-wrap"
    );
    // And they do not leak out: the same role outside the shadow root is unstyled by them.
    let outside = ui::text_el("span", "note-body", "outside");
    app.append_child(&outside).unwrap();
    let outside_style = window.get_computed_style(&outside).unwrap().unwrap();
    assert_ne!(
        outside_style.get_property_value("white-space").unwrap(),
        "pre-wrap"
    );
    hostile.remove();
}
