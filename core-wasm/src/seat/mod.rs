//! The first responder's seat in WhatsApp Web (feature `seat`, issue 11): a browser left running,
//! logged in as a `responder` account, with responder mode turned on in the popup. The server
//! decides and the seat executes: it asks for its work, opens each chat through the overlay
//! running in the same tab (which finds the row, scrolling WhatsApp's list or using its search
//! box), takes the reply lock like a person, pastes each message into the composer through the
//! input path a person's paste takes (the overlay's reply guard sees it), sends it only once the
//! server cleared it under that lock, and reports it sent once the chat shows it. It reads the
//! customer's replies here and sends the server only the answer's value. A banner says the window
//! is working and must not be used; it says why whenever the seat is stopped, and the seat tries
//! again by itself. It never runs in a person's browser: it checks the login's role first.
//!
//! Everything it holds (the link to the worker, the banner, the ticker) is owned by [`Seat`] and
//! goes with it ([`stop_seat`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::callback::Interval;
use gloo_timers::future::TimeoutFuture;
use protocol::api::LockGrant;
use protocol::responder::{ReplyReport, SeatMessage, SeatTask, SendClearance};
use protocol::ChatId;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use crate::link::{request, Answer, Link};
use crate::responder::{
    already_in_chat, asks_for_person, message_text, read_reply, reply_text, same_words, SeatState,
};
use crate::ui::{document, el, set_attr, set_sheet, set_text, shadow_host, text_el, Sheet};
use crate::whatsapp;

/// How often the seat looks for work when nothing told it to (the worker's news wakes it sooner).
const TICK_MS: u32 = 3_000;
/// How long a chat it could not work is left alone before it is tried again.
const SKIP_MS: f64 = 30_000.0;

struct Seat {
    link: Rc<RefCell<Link>>,
    host: HtmlElement,
    status: HtmlElement,
    _ticker: Interval,
}

thread_local! {
    static SEAT: RefCell<Option<Seat>> = const { RefCell::new(None) };
    /// A pass over the work is running; another was asked for meanwhile.
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    static AGAIN: Cell<bool> = const { Cell::new(false) };
    /// The login's role was checked (`Some(true)`: a responder account).
    static IS_SEAT: Cell<Option<bool>> = const { Cell::new(None) };
    /// Chats left alone for a while (they could not be worked), and until when.
    static SKIPPED: RefCell<Vec<(ChatId, f64)>> = const { RefCell::new(Vec::new()) };
    /// What the server last heard from the seat: working, or stopped and why.
    static REPORTED: RefCell<Option<(bool, String)>> = const { RefCell::new(None) };
}

/// Starts the seat with its stylesheet (`core-wasm/src/seat/seat.css`); `mode` says how it runs
/// (`wasm` or `wasm2js`).
#[wasm_bindgen]
pub fn start_seat(mode: String, css: String) {
    if SEAT.with(|seat| seat.borrow().is_some()) {
        return;
    }
    set_sheet(Sheet::Lead, css);
    let (host, shadow) = shadow_host(
        "div",
        "seat-banner",
        "display: block; position: fixed; top: 0; left: 0; right: 0; z-index: 3000",
        Sheet::Lead,
    );
    let root = el("section", "seat-root");
    set_attr(&root, "role", "status");
    set_attr(&root, "aria-live", "polite");
    let title = text_el(
        "strong",
        "seat-title",
        "Baton responder is working — do not use this window",
    );
    let status = el("span", "seat-status");
    let _ = root.append_child(&title);
    let _ = root.append_child(&status);
    let _ = shadow.append_child(&root);
    let _ = document().body().map(|body| body.append_child(&host));
    if let Some(page) = document().document_element() {
        set_attr(&page, "data-baton-seat", &mode);
    }
    let seat = Seat {
        link: Rc::new(RefCell::new(Link::new(wake))),
        host,
        status,
        _ticker: Interval::new(TICK_MS, wake),
    };
    SEAT.with(|slot| *slot.borrow_mut() = Some(seat));
    IS_SEAT.with(|c| c.set(None));
    REPORTED.with(|r| *r.borrow_mut() = None);
    show(&SeatState::Starting);
    wake();
}

/// Stops the seat (responder mode turned off): the banner goes, nothing more is sent, and the
/// server hears it (the team sees the seat away; no new chat starts a flow on it).
#[wasm_bindgen]
pub fn stop_seat() {
    let seat = SEAT.with(|slot| slot.borrow_mut().take());
    if let Some(seat) = seat {
        seat.host.remove();
        if IS_SEAT.with(Cell::get) == Some(true) {
            let link = seat.link.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let body = "{\"working\":false,\"reason\":\"Responder mode is off.\"}";
                let _ = request(&link, "PUT", "/responder/status", Some(body)).await;
            });
        }
    }
    if let Some(page) = document().document_element() {
        let _ = page.remove_attribute("data-baton-seat");
    }
}

fn link() -> Option<Rc<RefCell<Link>>> {
    SEAT.with(|seat| seat.borrow().as_ref().map(|s| s.link.clone()))
}

/// Says how the seat is: on its banner, to the popup (through the extension's storage), and to
/// the server when it stops or works again (the team sees a stopped seat as away, with why).
fn show(state: &SeatState) {
    let changed = SEAT.with(|seat| {
        let seat = seat.borrow();
        let Some(seat) = seat.as_ref() else {
            return false;
        };
        let words = state.words();
        let was = seat.status.text_content().unwrap_or_default();
        set_text(&seat.status, &words);
        set_attr(&seat.host, "data-state", state.key());
        was != words
    });
    if changed {
        let status = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&status, &"state".into(), &state.key().into());
        let _ = js_sys::Reflect::set(&status, &"words".into(), &state.words().into());
        let items = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&items, &"responderStatus".into(), &status);
        let _ = crate::chrome::storage_local_set(&items);
    }
    let said = match state {
        SeatState::Idle | SeatState::Working(_) => Some((true, String::new())),
        SeatState::Stopped(why) => Some((false, why.clone())),
        SeatState::Starting | SeatState::NotASeat => None,
    };
    let Some(said) = said else {
        return;
    };
    if REPORTED.with(|r| r.borrow().as_ref() == Some(&said)) {
        return;
    }
    let Some(link) = link() else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let body = format!(
            "{{\"working\":{},\"reason\":{}}}",
            said.0,
            json_string(&said.1)
        );
        let answer = request(&link, "PUT", "/responder/status", Some(&body)).await;
        if answer.ok() {
            REPORTED.with(|r| *r.borrow_mut() = Some(said));
        }
    });
}

/// Looks at the work now, or once the pass under way is over.
fn wake() {
    if RUNNING.with(Cell::get) {
        AGAIN.with(|a| a.set(true));
        return;
    }
    RUNNING.with(|r| r.set(true));
    wasm_bindgen_futures::spawn_local(async {
        loop {
            AGAIN.with(|a| a.set(false));
            let more = pass().await;
            if !(more || AGAIN.with(Cell::get)) || link().is_none() {
                break;
            }
        }
        RUNNING.with(|r| r.set(false));
    });
}

fn now() -> f64 {
    js_sys::Date::now()
}

/// The API error's code (`locked`, `responder_stopped`, …).
fn code(answer: &Answer) -> String {
    #[derive(serde::Deserialize)]
    struct Error {
        error: String,
    }
    crate::js::from_json::<Error>(&answer.body)
        .map(|e| e.error)
        .unwrap_or_default()
}

/// Why a request failed, as the banner says it.
fn failed(answer: &Answer) -> String {
    if answer.status == 0 || answer.status >= 500 {
        "the Baton server cannot be reached.".to_owned()
    } else {
        answer.message()
    }
}

/// `/conversations/{chat}{rest}`.
fn conversation_path(chat: &ChatId, rest: &str) -> String {
    format!("/conversations/{}{rest}", chat.as_str().replace('@', "%40"))
}

/// `/responder/chats/{chat}{rest}`.
fn responder_path(chat: &ChatId, rest: &str) -> String {
    format!(
        "/responder/chats/{}{rest}",
        chat.as_str().replace('@', "%40")
    )
}

/// One look at the work: the first chat that needs the seat, worked as far as it can be now.
/// Returns whether to look again at once (something was done).
async fn pass() -> bool {
    let Some(link) = link() else {
        return false;
    };
    match IS_SEAT.with(Cell::get) {
        Some(false) => return false,
        Some(true) => {}
        None => {
            let me = request(&link, "GET", "/me", None).await;
            if !me.ok() {
                show(&SeatState::Stopped(failed(&me)));
                return false;
            }
            #[derive(serde::Deserialize)]
            struct Agent {
                role: String,
            }
            #[derive(serde::Deserialize)]
            struct Me {
                agent: Agent,
            }
            let is_seat = crate::js::from_json::<Me>(&me.body)
                .map(|me| me.agent.role == "responder")
                .unwrap_or(false);
            IS_SEAT.with(|c| c.set(Some(is_seat)));
            if !is_seat {
                show(&SeatState::NotASeat);
                return false;
            }
        }
    }
    let work = request(&link, "GET", "/responder/work", None).await;
    if !work.ok() {
        show(&SeatState::Stopped(failed(&work)));
        return false;
    }
    let Ok(tasks) = crate::js::from_json::<Vec<SeatTask>>(&work.body) else {
        show(&SeatState::Stopped(
            "the Baton server's answer was not understood.".to_owned(),
        ));
        return false;
    };
    let at = now();
    SKIPPED.with(|s| s.borrow_mut().retain(|(_, until)| *until > at));
    let skipped = |chat: &ChatId| SKIPPED.with(|s| s.borrow().iter().any(|(c, _)| c == chat));
    let Some(task) = tasks.into_iter().find(|t| !skipped(&t.chat_id)) else {
        show(&SeatState::Idle);
        return false;
    };
    show(&SeatState::Working(task.title.clone()));
    match work_chat(&link, &task).await {
        Ok(true) => true,
        Ok(false) => {
            // Nothing to do there yet (the reply is not shown): the others come first meanwhile.
            SKIPPED.with(|s| s.borrow_mut().push((task.chat_id.clone(), now() + 2_000.0)));
            false
        }
        Err(why) => {
            crate::js::log(&format!(
                "responder: stopped in {}: {why}",
                task.chat_id.as_str()
            ));
            SKIPPED.with(|s| s.borrow_mut().push((task.chat_id.clone(), now() + SKIP_MS)));
            show(&SeatState::Stopped(why));
            false
        }
    }
}

/// Waits (up to `ms`) until `check` gives something.
async fn wait_for<T>(ms: u32, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    const STEP: u32 = 100;
    let mut waited = 0;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if waited >= ms {
            return None;
        }
        TimeoutFuture::new(STEP).await;
        waited += STEP;
    }
}

/// The chat the overlay shows open now (identified), if any.
fn open_chat_id() -> Option<String> {
    document()
        .query_selector("[data-baton=\"chat-overlay\"]")
        .ok()
        .flatten()?
        .get_attribute("data-chat")
}

/// Opens the chat in WhatsApp Web through the overlay, and waits for its composer.
async fn open(chat: &ChatId) -> Result<(), String> {
    if open_chat_id().as_deref() != Some(chat.as_str()) {
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&JsValue::from_str(chat.as_str()));
        if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("baton:open-chat", &init)
        {
            let _ = document().dispatch_event(&event);
        }
        wait_for(15_000, || {
            (open_chat_id().as_deref() == Some(chat.as_str())).then_some(())
        })
        .await
        .ok_or("the chat could not be found in WhatsApp Web.")?;
    }
    wait_for(5_000, whatsapp::composer)
        .await
        .ok_or_else(|| "WhatsApp Web's layout is not recognised (no composer).".to_owned())?;
    // WhatsApp renders a chat's messages a moment after the chat opens: a chat the responder
    // works has at least the customer's first message.
    wait_for(5_000, || {
        (!whatsapp::open_chat_bubbles().is_empty()).then_some(())
    })
    .await;
    Ok(())
}

/// Works one chat as far as it can be now. `Ok(true)`: something was done (or the server
/// moved on without the seat); `Ok(false)`: nothing to do there yet.
async fn work_chat(link: &RefCell<Link>, task: &SeatTask) -> Result<bool, String> {
    open(&task.chat_id).await?;
    if let Some(first) = &task.first_message {
        // Before greeting: did the first message already ask for a person?
        let text = wait_for(5_000, || {
            message_text(&whatsapp::open_chat_bubbles(), first)
        })
        .await
        .unwrap_or_default();
        if asks_for_person(&text, &task.person_words) {
            let report = ReplyReport {
                upto: first.clone(),
                value: None,
                asks_person: true,
                text: None,
            };
            return report_reply(link, &task.chat_id, &report).await;
        }
    }
    if !task.sends.is_empty() {
        let mut sent_any = false;
        for message in &task.sends {
            if !send_one(link, &task.chat_id, message).await? {
                break;
            }
            sent_any = true;
        }
        let _ = request(
            link,
            "DELETE",
            &conversation_path(&task.chat_id, "/lock"),
            None,
        )
        .await;
        // Nothing sent: someone else has the chat's lock (a person, or another seat working it),
        // or the server moved on; the chat waits a moment rather than being asked for at once.
        return Ok(sent_any);
    }
    let Some(question) = &task.reply else {
        return Ok(false);
    };
    let Some(text) = wait_for(5_000, || {
        reply_text(&whatsapp::open_chat_bubbles(), &question.upto)
    })
    .await
    else {
        return Ok(false);
    };
    report_reply(link, &task.chat_id, &read_reply(question, &text)).await
}

/// Reports what the customer's reply said. A 409 (the customer wrote again, or the responder no
/// longer works the chat) is the server moving on: the next pass sees where.
async fn report_reply(
    link: &RefCell<Link>,
    chat: &ChatId,
    report: &ReplyReport,
) -> Result<bool, String> {
    let body = crate::js::to_json(report).map_err(|e| e.to_string())?;
    let answer = request(link, "POST", &responder_path(chat, "/reply"), Some(&body)).await;
    if answer.ok() || answer.status == 409 {
        Ok(true)
    } else if (400..500).contains(&answer.status) {
        // This chat's reply was refused: it waits (and says why in the console); the seat goes
        // on with the others.
        crate::js::log(&format!(
            "responder: the reply in {} was refused: {}",
            chat.as_str(),
            answer.message()
        ));
        Ok(false)
    } else {
        Err(failed(&answer))
    }
}

/// Sends one message: under the reply lock, once the server cleared it, unless the chat shows
/// it already. `Ok(false)`: the server moved on (a person took the chat, the flow ended, a newer
/// message came): stop sending in this chat.
async fn send_one(
    link: &RefCell<Link>,
    chat: &ChatId,
    message: &SeatMessage,
) -> Result<bool, String> {
    let sent = |key: &str| {
        let body = format!("{{\"key\":{}}}", json_string(key));
        async move {
            request(link, "POST", &responder_path(chat, "/sent"), Some(&body))
                .await
                .ok()
        }
    };
    let in_chat = || already_in_chat(&whatsapp::open_chat_bubbles(), &message.text);
    // Cleared before (the seat stopped after that): give the chat's messages a moment to show
    // before deciding it was never sent.
    if message.cleared && wait_for(3_000, || in_chat().then_some(())).await.is_some() {
        return Ok(sent(&message.key).await);
    }
    // Each message under the lock as it stands now: the overlay lets the lock go after a send.
    let lock = request(link, "POST", &conversation_path(chat, "/lock"), None).await;
    if matches!(lock.status, 403 | 409) {
        return Ok(false);
    }
    if !lock.ok() {
        return Err(failed(&lock));
    }
    let fence = crate::js::from_json::<LockGrant>(&lock.body)
        .map_err(|_| "the Baton server's answer was not understood.".to_owned())?
        .fence;
    let composer = whatsapp::composer()
        .ok_or_else(|| "WhatsApp Web's layout is not recognised (no composer).".to_owned())?;
    if !running() {
        return Ok(false);
    }
    if !crate::ui::paste_into(&composer, &message.text, true) {
        return Err("WhatsApp Web's composer did not take the message.".to_owned());
    }
    // The overlay's reply guard lets it in once the lock is ours (it is).
    let taken = wait_for(5_000, || {
        whatsapp::composer()
            .filter(|c| same_words(&whatsapp::composer_text(c), &message.text))
            .map(|_| ())
    })
    .await;
    if taken.is_none() {
        whatsapp::clear_composer();
        return Err("WhatsApp Web's composer did not take the message.".to_owned());
    }
    // Cleared last and sent at once: nothing a person does in between goes unnoticed (their
    // lock makes the seat's fence stale, and the clearance is refused).
    let body = format!(
        "{{\"key\":{},\"fence\":{fence}}}",
        json_string(&message.key)
    );
    let clearance = request(link, "POST", &responder_path(chat, "/send"), Some(&body)).await;
    if !clearance.ok() || !running() {
        whatsapp::clear_composer();
        if clearance.status == 409 || clearance.ok() {
            // A person took the lock (stale_fence), the server moved on (responder_stopped,
            // responder_behind), or responder mode went off: the next pass sees what is so.
            crate::js::log(&format!(
                "responder: not sending in {}: {}",
                chat.as_str(),
                code(&clearance)
            ));
            return Ok(false);
        }
        return Err(failed(&clearance));
    }
    let already = crate::js::from_json::<SendClearance>(&clearance.body)
        .map(|c| c.already)
        .unwrap_or(false);
    if already && in_chat() {
        whatsapp::clear_composer();
        return Ok(sent(&message.key).await);
    }
    whatsapp::send();
    wait_for(10_000, || in_chat().then_some(()))
        .await
        .ok_or("WhatsApp Web did not send the message.")?;
    Ok(sent(&message.key).await)
}

/// Whether the seat still runs (responder mode was not turned off meanwhile).
fn running() -> bool {
    link().is_some()
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    crate::js::to_json(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The seat as JSON, for end-to-end tests: its state and what it shows.
#[wasm_bindgen]
pub fn seat_debug() -> JsValue {
    SEAT.with(|seat| {
        seat.borrow()
            .as_ref()
            .and_then(|s| s.host.get_attribute("data-state"))
            .map_or(JsValue::NULL, |state| JsValue::from_str(&state))
    })
}
