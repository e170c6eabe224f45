//! The pipeline board (`data-baton="pipeline-board"`), over the whole of WhatsApp Web: a
//! pipeline picker, filters (agent, team, waiting for us, past target, a title search), one
//! column per stage with its count and one card per open conversation. A card moves to another
//! stage by dragging it there or with its "Move to…" menu (keyboard), goes to another agent with
//! a handoff and its note ("Reassign"), and its title opens the chat in WhatsApp Web (the overlay
//! does that, without a reload) and closes the board. The board follows the team live: whatever
//! changes a conversation reloads it (debounced), and cards are updated in place, keyed by chat.
//! What it shows is [`crate::board_view`]; the data is `GET /pipelines/{id}/board`.

use std::collections::HashMap;

use gloo_events::{EventListener, EventListenerOptions};
use protocol::api::{Agent, HandoffRequest, Page, Pipeline, StageRequest};
use protocol::reports::Board;
use protocol::routing::Team;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use super::{with_board, with_lead};
use crate::board_view::{columns, BoardFilters, CardView};
use crate::js::{from_json, to_json};
use crate::link::{request, send};
use crate::ui::{button, clear, document, el, set_attr, set_text, show, text_el};

thread_local! {
    /// The pipeline the board showed last, opened first next time.
    static LAST_PIPELINE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// New cards drawn per task at most (a card is about a dozen elements).
const CARDS_PER_TASK: usize = 200;

/// A card's elements, kept while it is on the board.
struct CardEls {
    card: HtmlElement,
    title: HtmlElement,
    owner: HtmlElement,
    waiting: HtmlElement,
    target: HtmlElement,
    reminder: HtmlElement,
    handoff: HtmlElement,
}

struct ColumnEls {
    stage: String,
    column: HtmlElement,
    count: HtmlElement,
    list: HtmlElement,
}

pub struct BoardPanel {
    host: HtmlElement,
    pipeline_select: HtmlSelectElement,
    agent_select: HtmlSelectElement,
    team_select: HtmlSelectElement,
    waiting: HtmlInputElement,
    breached: HtmlInputElement,
    search: HtmlInputElement,
    status: HtmlElement,
    /// How the first responder's seats are (empty without seats).
    responder: HtmlElement,
    grid: HtmlElement,
    columns: Vec<ColumnEls>,
    cards: HashMap<String, CardEls>,
    reassign: HtmlElement,
    reassign_to: HtmlSelectElement,
    /// The chat whose reassign form is open.
    reassigning: Option<String>,
    /// One "Move to…" menu, moved into the card it is for.
    move_menu: HtmlElement,
    /// The chat whose menu is open.
    moving: Option<String>,
    /// More cards to draw in the next task (a big board is drawn a few hundred cards a task, so
    /// the page stays responsive between).
    more: Option<gloo_timers::callback::Timeout>,
    pipelines: Vec<Pipeline>,
    agents: Vec<Agent>,
    teams: Vec<Team>,
    data: Option<Board>,
    /// When the data was read (the page's clock): waits on cards grow from the server's `now`.
    read_at: f64,
    /// Redraws every minute, so waits keep counting between reloads.
    _ticker: gloo_timers::callback::Interval,
    reload: Option<gloo_timers::callback::Timeout>,
    _listeners: Vec<EventListener>,
}

fn select(role: &str, label: &str) -> HtmlSelectElement {
    let s: HtmlSelectElement = el("select", role).unchecked_into();
    set_attr(&s, "aria-label", label);
    s
}

fn option(select: &HtmlSelectElement, value: &str, text: &str) {
    let o = text_el("option", "", text);
    set_attr(&o, "value", value);
    let _ = select.append_child(&o);
}

fn checkbox(filter: &str, label: &str) -> (HtmlElement, HtmlInputElement) {
    let wrap = el("label", "board-filter-check");
    let input: HtmlInputElement = el("input", "board-filter").unchecked_into();
    set_attr(&input, "type", "checkbox");
    set_attr(&input, "data-filter", filter);
    let _ = wrap.append_child(&input);
    let _ = wrap.append_child(&text_el("span", "", label));
    (wrap, input)
}

fn textarea(name: &str, label: &str) -> HtmlElement {
    let wrap = el("label", "reassign-field");
    let _ = wrap.append_child(&text_el("span", "", label));
    let area = el("textarea", "");
    set_attr(&area, "name", name);
    set_attr(&area, "rows", "2");
    let _ = wrap.append_child(&area);
    wrap
}

/// The `data-action` of the control an event came from, and that control.
fn action_of(event: &web_sys::Event) -> Option<(String, Element)> {
    let target = crate::ui::event_origin(event)?
        .closest("[data-action]")
        .ok()
        .flatten()?;
    Some((target.get_attribute("data-action")?, target))
}

fn chat_of(element: &Element) -> Option<String> {
    element
        .closest("[data-baton=\"board-card\"]")
        .ok()
        .flatten()?
        .get_attribute("data-chat-id")
}

impl BoardPanel {
    /// Draws the board (empty until [`open`] loads it); `on_close` runs once it should go.
    pub fn new(on_close: impl Fn() + 'static) -> BoardPanel {
        let (host, root) = super::dialog(
            "pipeline-board",
            "display: block; position: fixed; inset: 0; z-index: 2000",
            "board-root",
            "Pipeline board",
        );
        let top = el("header", "board-top");
        let pipeline_select = select("board-pipeline", "Pipeline");
        let agent_select = select("board-filter", "Agent");
        set_attr(&agent_select, "data-filter", "agent");
        let team_select = select("board-filter", "Team");
        set_attr(&team_select, "data-filter", "team");
        let (waiting_label, waiting) = checkbox("waiting", "Waiting for us");
        let (breached_label, breached) = checkbox("breached", "Past target");
        let search: HtmlInputElement = el("input", "board-filter").unchecked_into();
        set_attr(&search, "type", "search");
        set_attr(&search, "data-filter", "search");
        set_attr(&search, "placeholder", "Search by name");
        set_attr(&search, "aria-label", "Search by name");
        let close = button("Close", "close");
        let heading = text_el("h2", "board-heading", "Pipeline");
        for part in [
            heading.as_ref(),
            pipeline_select.as_ref(),
            agent_select.as_ref(),
            team_select.as_ref(),
            waiting_label.as_ref(),
            breached_label.as_ref(),
            search.as_ref(),
            close.as_ref(),
        ] {
            let _ = top.append_child(part);
        }
        let status = text_el("p", "board-status", "Loading…");
        set_attr(&status, "role", "status");
        let responder = el("p", "board-responder");
        let grid = el("div", "board-columns");
        // One reassign form, moved into the card it is for.
        let reassign = el("form", "reassign-form");
        let reassign_to = select("", "Hand it to");
        set_attr(&reassign_to, "name", "to");
        let to_label = el("label", "reassign-field");
        let _ = to_label.append_child(&text_el("span", "", "Hand it to"));
        let _ = to_label.append_child(&reassign_to);
        let actions = el("div", "reassign-actions");
        let send = button("Hand over", "send-reassign");
        set_attr(&send, "data-primary", "");
        let _ = actions.append_child(&send);
        let _ = actions.append_child(&button("Cancel", "cancel-reassign"));
        for part in [
            to_label,
            textarea("done", "Done so far"),
            textarea("promised", "Promised to the customer"),
            textarea("next_step", "Next step"),
            actions,
        ] {
            let _ = reassign.append_child(&part);
        }
        show(&reassign, false);
        let move_menu = el("div", "move-menu");
        set_attr(&move_menu, "role", "menu");
        set_attr(&move_menu, "aria-label", "Move to");
        show(&move_menu, false);
        for part in [&top, &status, &responder, &grid] {
            let _ = root.append_child(part);
        }

        let on_close = std::rc::Rc::new(on_close);
        let closing = on_close.clone();
        let clicks = EventListener::new(&root, "click", move |event| {
            let Some((action, target)) = action_of(event) else {
                return;
            };
            match action.as_str() {
                "close" => closing(),
                "open" => {
                    if let Some(chat) = chat_of(&target) {
                        open_in_whatsapp(&chat);
                        closing();
                    }
                }
                "reassign" => with_board(|b| b.toggle_reassign(chat_of(&target))),
                "move-menu" => with_board(|b| b.toggle_move_menu(chat_of(&target))),
                "move-to" => {
                    let stage = target.get_attribute("data-stage");
                    let chat = chat_of(&target);
                    with_board(|b| b.toggle_move_menu(None));
                    if let (Some(chat), Some(stage)) = (chat, stage) {
                        wasm_bindgen_futures::spawn_local(move_card(chat, stage));
                    }
                }
                "cancel-reassign" => with_board(|b| b.toggle_reassign(None)),
                "send-reassign" => {
                    event.prevent_default();
                    send_reassign();
                }
                _ => {}
            }
        });
        let changes = EventListener::new(&root, "change", move |event| {
            let Some(target) = crate::ui::event_origin(event) else {
                return;
            };
            match target.get_attribute("data-baton").as_deref() {
                Some("board-pipeline") => {
                    let id = target.unchecked_ref::<HtmlSelectElement>().value();
                    wasm_bindgen_futures::spawn_local(load_board(Some(id)));
                }
                Some("board-filter") => with_board(BoardPanel::render),
                _ => {}
            }
        });
        let typing = EventListener::new(&root, "input", move |event| {
            let is_search = crate::ui::event_origin(event)
                .is_some_and(|t| t.get_attribute("data-filter").as_deref() == Some("search"));
            if is_search {
                with_board(BoardPanel::render);
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
                let (mut menu_open, mut form_open) = (false, false);
                with_board(|b| {
                    menu_open = b.moving.is_some();
                    form_open = b.reassigning.is_some();
                });
                match key.as_str() {
                    "ArrowDown" | "ArrowUp" if menu_open => {
                        event.prevent_default();
                        with_board(|b| b.step_menu(key == "ArrowDown"));
                    }
                    "Escape" if menu_open => with_board(|b| b.toggle_move_menu(None)),
                    "Escape" if form_open => with_board(|b| b.toggle_reassign(None)),
                    "Escape" => on_close(),
                    _ => {}
                }
            },
        );
        let drag_start = EventListener::new(&root, "dragstart", |event| {
            let chat = crate::ui::event_origin(event).and_then(|t| chat_of(&t));
            if let (Some(chat), Some(drag)) = (chat, event.dyn_ref::<web_sys::DragEvent>()) {
                if let Some(data) = drag.data_transfer() {
                    let _ = data.set_data("text/plain", &chat);
                    data.set_effect_allowed("move");
                }
            }
        });
        let passive = EventListenerOptions::enable_prevent_default();
        let drag_over = EventListener::new_with_options(&root, "dragover", passive, |event| {
            let over_column = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-baton=\"board-column\"]").ok().flatten())
                .is_some();
            if over_column {
                event.prevent_default();
            }
        });
        let drop = EventListener::new_with_options(&root, "drop", passive, |event| {
            let column = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-baton=\"board-column\"]").ok().flatten());
            let chat = event
                .dyn_ref::<web_sys::DragEvent>()
                .and_then(|d| d.data_transfer())
                .and_then(|d| d.get_data("text/plain").ok());
            if let (Some(column), Some(chat)) = (column, chat) {
                event.prevent_default();
                if let Some(stage) = column.get_attribute("data-stage") {
                    wasm_bindgen_futures::spawn_local(move_card(chat, stage));
                }
            }
        });
        let _ = close.focus();
        BoardPanel {
            host,
            pipeline_select,
            agent_select,
            team_select,
            waiting,
            breached,
            search,
            status,
            responder,
            grid,
            columns: Vec::new(),
            cards: HashMap::new(),
            reassign,
            reassign_to,
            reassigning: None,
            move_menu,
            moving: None,
            more: None,
            pipelines: Vec::new(),
            agents: Vec::new(),
            teams: Vec::new(),
            data: None,
            read_at: 0.0,
            _ticker: gloo_timers::callback::Interval::new(60_000, || {
                with_board(BoardPanel::render);
            }),
            reload: None,
            _listeners: vec![clicks, changes, typing, keys, drag_start, drag_over, drop],
        }
    }

    fn say(&self, text: &str) {
        set_text(&self.status, text);
        show(&self.status, !text.is_empty());
    }

    /// The filters as the controls say.
    fn filters(&self) -> BoardFilters {
        let agent = self.agent_select.value();
        let team = self.team_select.value();
        BoardFilters {
            agent: (agent != "*").then_some(agent),
            members: self
                .teams
                .iter()
                .find(|t| !team.is_empty() && t.id == team)
                .map(|t| t.agent_ids.clone()),
            waiting: self.waiting.checked(),
            breached: self.breached.checked(),
            search: self.search.value(),
        }
    }

    fn set_lists(&mut self, pipelines: Vec<Pipeline>, agents: Vec<Agent>, teams: Vec<Team>) {
        clear(&self.pipeline_select);
        for p in &pipelines {
            option(&self.pipeline_select, &p.id, &p.name);
        }
        clear(&self.agent_select);
        option(&self.agent_select, "*", "Everyone");
        option(&self.agent_select, "", "Unassigned");
        clear(&self.reassign_to);
        for a in &agents {
            option(&self.agent_select, &a.id, &a.name);
            // The first responder's seat takes no handoffs.
            if a.role != protocol::api::Role::Responder {
                option(&self.reassign_to, &a.id, &a.name);
            }
        }
        clear(&self.team_select);
        option(&self.team_select, "", "All teams");
        for t in &teams {
            option(&self.team_select, &t.id, &t.name);
        }
        self.pipelines = pipelines;
        self.agents = agents;
        self.teams = teams;
    }

    fn show_board(&mut self, board: Board) {
        self.pipeline_select.set_value(&board.pipeline.id);
        self.data = Some(board);
        self.read_at = performance_now();
        self.say("");
        self.render();
    }

    /// Brings the columns and cards in line with the data and the filters, reusing every element
    /// that is still wanted (a live update changes a few cards, not the board). New cards are
    /// drawn at most [`CARDS_PER_TASK`] at a time, each column's first ones first, so opening a
    /// big board never holds the page for long; the rest follow in the next tasks.
    fn render(&mut self) {
        self.more = None;
        let Some(board) = &self.data else {
            return;
        };
        let filters = self.filters();
        let now = board.now + (performance_now() - self.read_at).max(0.0) as i64;
        let wanted = columns(board, &filters, now);
        let stages: Vec<&str> = wanted.iter().map(|c| c.stage.as_str()).collect();
        let current: Vec<&str> = self.columns.iter().map(|c| c.stage.as_str()).collect();
        if stages != current {
            clear(&self.grid);
            self.columns = wanted.iter().map(|c| new_column(&c.stage)).collect();
            for c in &self.columns {
                let _ = self.grid.append_child(&c.column);
            }
        }
        let wanted_keys: std::collections::HashSet<&str> = wanted
            .iter()
            .flat_map(|c| c.cards.iter().map(|v| v.chat_id.as_str()))
            .collect();
        self.cards.retain(|chat, els| {
            let keep = wanted_keys.contains(chat.as_str());
            if !keep {
                els.card.remove();
            }
            keep
        });
        let per_column = CARDS_PER_TASK / wanted.len().max(1);
        let mut unfinished = false;
        for (column, els) in wanted.iter().zip(&self.columns) {
            set_text(&els.count, &column.cards.len().to_string());
            let children = els.list.children();
            let mut created = 0;
            let mut placed = 0;
            for view in &column.cards {
                let key = view.chat_id.as_str();
                if !self.cards.contains_key(key) {
                    if created == per_column {
                        unfinished = true;
                        break;
                    }
                    created += 1;
                    self.cards.insert(key.to_owned(), new_card(key));
                }
                let Some(card) = self.cards.get(key) else {
                    continue;
                };
                update_card(card, view);
                let here = children.item(placed);
                if here.as_ref() != Some(card.card.unchecked_ref::<Element>()) {
                    let _ = els
                        .list
                        .insert_before(&card.card, here.as_ref().map(|e| e.as_ref()));
                }
                placed += 1;
            }
            if placed as usize == column.cards.len() {
                while els.list.children().length() > placed {
                    if let Some(last) = els.list.last_element_child() {
                        last.remove();
                    }
                }
            }
        }
        if unfinished {
            set_attr(&self.host, "data-state", "drawing");
            self.more = Some(gloo_timers::callback::Timeout::new(0, || {
                with_board(BoardPanel::render);
            }));
        } else {
            set_attr(&self.host, "data-state", "ready");
        }
        if self
            .reassigning
            .as_ref()
            .is_some_and(|c| !self.cards.contains_key(c))
        {
            self.toggle_reassign(None);
        }
        if self
            .moving
            .as_ref()
            .is_some_and(|c| !self.cards.contains_key(c))
        {
            self.toggle_move_menu(None);
        }
    }

    /// Opens the "Move to…" menu in a card, one item per other stage, the first focused (or closes
    /// it: `None`, or the same card again).
    fn toggle_move_menu(&mut self, chat: Option<String>) {
        let chat = chat.filter(|c| self.moving.as_ref() != Some(c));
        let (Some(chat), Some(board)) = (chat, &self.data) else {
            show(&self.move_menu, false);
            self.moving = None;
            return;
        };
        let current = board
            .cards
            .iter()
            .find(|c| c.chat_id.as_str() == chat)
            .map(|c| c.stage.clone());
        let Some(card) = self.cards.get(&chat) else {
            return;
        };
        clear(&self.move_menu);
        for stage in board
            .pipeline
            .stages
            .iter()
            .filter(|s| Some(*s) != current.as_ref())
        {
            let item = button(stage, "move-to");
            set_attr(&item, "role", "menuitem");
            set_attr(&item, "data-stage", stage);
            let _ = self.move_menu.append_child(&item);
        }
        let _ = card.card.append_child(&self.move_menu);
        show(&self.move_menu, true);
        if let Some(first) = self.move_menu.first_element_child() {
            let _ = first.unchecked_ref::<HtmlElement>().focus();
        }
        self.moving = Some(chat);
    }

    /// Moves the focus to the menu's next (or previous) item, round the end.
    fn step_menu(&self, down: bool) {
        let items = crate::ui::all(&self.move_menu, "[data-action=\"move-to\"]");
        if items.is_empty() {
            return;
        }
        let focused = self
            .host
            .shadow_root()
            .and_then(|root| root.active_element());
        let at = items.iter().position(|i| Some(i) == focused.as_ref());
        let next = match (at, down) {
            (Some(i), true) => (i + 1) % items.len(),
            (Some(i), false) => (i + items.len() - 1) % items.len(),
            (None, _) => 0,
        };
        let _ = items[next].unchecked_ref::<HtmlElement>().focus();
    }

    /// Opens the reassign form in a card (or closes it: `None`, or the same card again).
    fn toggle_reassign(&mut self, chat: Option<String>) {
        let chat = chat.filter(|c| self.reassigning.as_ref() != Some(c));
        match chat.as_ref().and_then(|c| self.cards.get(c)) {
            Some(card) => {
                let _ = card.card.append_child(&self.reassign);
                for area in crate::ui::all(&self.reassign, "textarea") {
                    area.unchecked_ref::<HtmlTextAreaElement>().set_value("");
                }
                show(&self.reassign, true);
                let _ = self.reassign_to.focus();
                self.reassigning = chat;
            }
            None => {
                show(&self.reassign, false);
                self.reassigning = None;
            }
        }
    }

    /// Reloads the board soon: changes come in bursts.
    pub fn reload_soon(&mut self) {
        if self.reload.is_some() || self.data.is_none() {
            return;
        }
        self.reload = Some(gloo_timers::callback::Timeout::new(150, || {
            with_board(|b| b.reload = None);
            wasm_bindgen_futures::spawn_local(load_board(None));
        }));
    }
}

impl Drop for BoardPanel {
    fn drop(&mut self) {
        self.host.remove();
    }
}

fn new_column(stage: &str) -> ColumnEls {
    let column = el("section", "board-column");
    set_attr(&column, "data-stage", stage);
    set_attr(&column, "aria-label", stage);
    let head = el("header", "column-head");
    let _ = head.append_child(&text_el("span", "column-name", stage));
    let count = text_el("span", "column-count", "0");
    let _ = head.append_child(&count);
    let list = el("div", "board-cards");
    let _ = column.append_child(&head);
    let _ = column.append_child(&list);
    ColumnEls {
        stage: stage.to_owned(),
        column,
        count,
        list,
    }
}

fn new_card(chat: &str) -> CardEls {
    let card = el("article", "board-card");
    set_attr(&card, "data-chat-id", chat);
    set_attr(&card, "draggable", "true");
    set_attr(&card, "tabindex", "0");
    let title = button("", "open");
    set_attr(&title, "data-baton", "card-title");
    set_attr(&title, "title", "Open in WhatsApp");
    let owner = el("div", "card-owner");
    let meta = el("div", "card-meta");
    let waiting = el("span", "card-waiting");
    let target = el("span", "card-target");
    let reminder = text_el("span", "card-reminder", "Reminder");
    let handoff = text_el("span", "card-handoff", "Handoff waiting");
    for part in [&waiting, &target, &reminder, &handoff] {
        let _ = meta.append_child(part);
    }
    let actions = el("div", "card-actions");
    let move_to = button("Move to…", "move-menu");
    set_attr(&move_to, "aria-haspopup", "menu");
    let _ = actions.append_child(&move_to);
    let _ = actions.append_child(&button("Reassign", "reassign"));
    for part in [&title, &owner, &meta, &actions] {
        let _ = card.append_child(part);
    }
    CardEls {
        card,
        title,
        owner,
        waiting,
        target,
        reminder,
        handoff,
    }
}

fn update_card(els: &CardEls, view: &CardView) {
    set_text(&els.title, &view.title);
    set_text(&els.owner, &view.owner);
    set_attr(
        &els.card,
        "data-owner",
        view.owner_id.as_deref().unwrap_or(""),
    );
    set_text(&els.waiting, &view.waiting);
    show(&els.waiting, !view.waiting.is_empty());
    set_text(&els.target, &view.target);
    show(&els.target, !view.target.is_empty());
    set_attr(&els.card, "data-sla", view.sla.key());
    set_attr(
        &els.card,
        "data-responder",
        if view.with_responder { "working" } else { "" },
    );
    show(&els.reminder, view.reminder);
    show(&els.handoff, view.handoff_waiting);
}

/// Asks the overlay to open the chat in WhatsApp Web.
fn open_in_whatsapp(chat: &str) {
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&JsValue::from_str(chat));
    if let Ok(event) = web_sys::CustomEvent::new_with_event_init_dict("baton:open-chat", &init) {
        let _ = document().dispatch_event(&event);
    }
}

fn chat_path(chat: &str, rest: &str) -> String {
    format!("/conversations/{}{rest}", chat.replace('@', "%40"))
}

fn say(text: &str) {
    with_board(|b| b.say(text));
}

fn performance_now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Loads the lists and the board (`pipeline`: which one; `None`: the one shown, or the first).
pub async fn open() {
    let Some(link) = with_lead(|lead| lead.link.clone()) else {
        return;
    };
    // All at once: the lists are small; the board shown last time is asked for with them, any
    // other waits only for the pipelines.
    let started = performance_now();
    let early = LAST_PIPELINE
        .with(|last| last.borrow().clone())
        .map(|id| send(&link, "GET", &format!("/pipelines/{id}/board"), None));
    let pipelines = send(&link, "GET", "/pipelines?limit=1000", None);
    let agents = send(&link, "GET", "/agents?limit=1000", None);
    let teams = send(&link, "GET", "/teams", None);
    let pipelines = pipelines.answer(&link).await;
    let agents = agents.answer(&link).await;
    let teams = teams.answer(&link).await;
    for answer in [&pipelines, &agents, &teams] {
        if !answer.ok() {
            say(&answer.message());
            return;
        }
    }
    let read = (|| {
        Ok::<_, crate::error::CoreError>((
            from_json::<Page<Pipeline>>(&pipelines.body)?.items,
            from_json::<Page<Agent>>(&agents.body)?.items,
            from_json::<Vec<Team>>(&teams.body)?,
        ))
    })();
    match read {
        Ok((mut pipelines, mut agents, teams)) => {
            if pipelines.is_empty() {
                say("No pipelines yet: create one in Baton's settings.");
                return;
            }
            pipelines.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
            agents.sort_by(|a, b| a.name.cmp(&b.name));
            with_board(|b| b.set_lists(pipelines, agents, teams));
            let early = match early {
                Some(sent) => Some(sent.answer(&link).await),
                None => None,
            };
            match early {
                // Gone since (deleted, or another login): the first pipeline instead.
                Some(answer) if answer.status == 404 => {
                    LAST_PIPELINE.with(|last| *last.borrow_mut() = None);
                    load_board(None).await;
                }
                Some(answer) => show_answer(answer, started),
                None => load_board(None).await,
            }
        }
        Err(err) => say(&format!("Unreadable answer: {err}")),
    }
}

/// Reads one pipeline's board and shows it.
async fn load_board(pipeline: Option<String>) {
    let Some(link) = with_lead(|lead| lead.link.clone()) else {
        return;
    };
    let mut id = pipeline;
    if id.is_none() {
        with_board(|b| {
            id = b
                .data
                .as_ref()
                .map(|d| d.pipeline.id.clone())
                .or_else(|| b.pipelines.first().map(|p| p.id.clone()));
        });
    }
    let Some(id) = id else {
        return;
    };
    let started = performance_now();
    let seats = send(&link, "GET", "/responder/seats", None);
    let answer = request(&link, "GET", &format!("/pipelines/{id}/board"), None).await;
    show_answer(answer, started);
    let seats = seats.answer(&link).await;
    if let (true, Ok(seats)) = (
        seats.ok(),
        from_json::<Vec<protocol::responder::SeatStatus>>(&seats.body),
    ) {
        let (line, state) = crate::board_view::seats_line(&seats);
        with_board(|b| {
            set_text(&b.responder, &line);
            set_attr(&b.responder, "data-state", state);
            show(&b.responder, !line.is_empty());
        });
    }
}

/// Shows a board as read from the server (or says why it cannot).
fn show_answer(answer: crate::link::Answer, started: f64) {
    if !answer.ok() {
        say(&answer.message());
        return;
    }
    let fetched = performance_now();
    match from_json::<Board>(&answer.body) {
        Ok(board) => with_board(|b| {
            let decoded = performance_now();
            LAST_PIPELINE.with(|last| *last.borrow_mut() = Some(board.pipeline.id.clone()));
            b.show_board(board);
            // How long each part took, for the benchmark and for support.
            let timing = format!(
                "fetch {:.1} ms, decode {:.1} ms, render {:.1} ms",
                fetched - started,
                decoded - fetched,
                performance_now() - decoded
            );
            set_attr(&b.host, "data-timing", &timing);
        }),
        Err(err) => say(&format!("Unreadable board: {err}")),
    }
}

/// Moves a card to a stage of the board's pipeline (routing's stage rules then run).
async fn move_card(chat: String, stage: String) {
    let Some(link) = with_lead(|lead| lead.link.clone()) else {
        return;
    };
    let mut pipeline = None;
    with_board(|b| {
        pipeline = b.data.as_ref().and_then(|d| {
            let card = d.cards.iter().find(|c| c.chat_id.as_str() == chat)?;
            (card.stage != stage).then(|| d.pipeline.id.clone())
        });
    });
    let Some(pipeline_id) = pipeline else {
        return;
    };
    let body = to_json(&StageRequest {
        pipeline_id: Some(pipeline_id),
        stage: Some(stage.clone()),
    });
    let Ok(body) = body else {
        return;
    };
    say(&format!("Moving to {stage}…"));
    let answer = request(&link, "PUT", &chat_path(&chat, "/stage"), Some(&body)).await;
    if answer.ok() {
        say("");
    } else {
        say(&answer.message());
    }
    load_board(None).await;
}

/// Sends the open reassign form: a handoff with its note.
fn send_reassign() {
    let mut form = None;
    with_board(|b| {
        let Some(chat) = b.reassigning.clone() else {
            return;
        };
        let field = |name: &str| {
            b.reassign
                .query_selector(&format!("textarea[name=\"{name}\"]"))
                .ok()
                .flatten()
                .map(|t| t.unchecked_into::<HtmlTextAreaElement>().value())
                .unwrap_or_default()
        };
        form = Some((
            chat,
            HandoffRequest {
                to_agent_id: b.reassign_to.value(),
                done: field("done"),
                promised: field("promised"),
                next_step: field("next_step"),
                fence: None,
            },
        ));
    });
    let Some((chat, handoff)) = form else {
        return;
    };
    wasm_bindgen_futures::spawn_local(async move {
        let Some(link) = with_lead(|lead| lead.link.clone()) else {
            return;
        };
        let Ok(body) = to_json(&handoff) else {
            return;
        };
        let answer = request(&link, "POST", &chat_path(&chat, "/handoff"), Some(&body)).await;
        if answer.ok() {
            with_board(|b| b.toggle_reassign(None));
            say("");
            load_board(None).await;
        } else {
            // The form stays open with what was typed, and says why.
            say(&answer.message());
        }
    });
}
