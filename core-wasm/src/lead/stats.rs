//! The stats panel (`data-baton="agent-stats"`): response times and workload over the last two
//! weeks — an agent's own, a lead's whole team — with a chart of each day's median reply time
//! drawn as SVG by the core and the same figures as a CSV download. What each figure means is
//! the README's "Reports" section; the words and the chart's geometry are
//! [`crate::reports_view`].

use std::cell::RefCell;
use std::rc::Rc;

use gloo_events::EventListener;
use protocol::reports::{AgentsReport, DailyReport};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};

use super::with_stats;
use crate::link::{request, Link};
use crate::reports_view::{self, COLUMNS};
use crate::ui::{button, clear, document, el, set_attr, set_text, show, text_el};

const SVG: &str = "http://www.w3.org/2000/svg";
const CHART_WIDTH: f64 = 480.0;
const CHART_HEIGHT: f64 = 120.0;

pub struct StatsPanel {
    host: HtmlElement,
    range_text: HtmlElement,
    status: HtmlElement,
    chart: HtmlElement,
    table: HtmlElement,
    download: HtmlElement,
    /// The range of the figures shown, for the CSV's name.
    range: Option<(String, String)>,
    _listeners: Vec<EventListener>,
}

impl StatsPanel {
    /// Draws the panel (empty until [`load`] fills it); `on_close` runs once it should go.
    pub fn new(on_close: impl Fn() + 'static) -> StatsPanel {
        let (host, root) = super::dialog(
            "agent-stats",
            "display: block; position: fixed; top: 0; right: 0; bottom: 0; z-index: 2000",
            "stats-root",
            "Response times",
        );
        let top = el("header", "stats-top");
        let heading = text_el("h2", "stats-heading", "Response times");
        let range = el("span", "stats-range");
        // The range: days up to and including today (the server's today, in the org's zone).
        let days = el("select", "stats-days");
        set_attr(&days, "aria-label", "Range");
        for n in crate::reports_view::RANGES {
            let option = text_el("option", "", &format!("Last {n} days"));
            set_attr(&option, "value", &n.to_string());
            if n == 14 {
                set_attr(&option, "selected", "");
            }
            let _ = days.append_child(&option);
        }
        let download = button("Download CSV", "download");
        set_attr(&download, "data-baton", "stats-download");
        let close = button("Close", "close");
        let _ = top.append_child(&heading);
        let _ = top.append_child(&range);
        let _ = top.append_child(&days);
        let _ = top.append_child(&download);
        let _ = top.append_child(&close);
        let status = text_el("p", "stats-status", "Loading…");
        set_attr(&status, "role", "status");
        let chart = el("figure", "stats-chart");
        let table = el("table", "stats-table");
        for part in [&top, &status, &chart, &table] {
            let _ = root.append_child(part);
        }
        let on_close = Rc::new(on_close);
        let closing = on_close.clone();
        let clicks = EventListener::new(&root, "click", move |event| {
            let action = event
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|t| t.closest("[data-action]").ok().flatten())
                .and_then(|t| t.get_attribute("data-action"));
            match action.as_deref() {
                Some("close") => closing(),
                Some("download") => {
                    wasm_bindgen_futures::spawn_local(download_csv());
                }
                _ => {}
            }
        });
        let picked = EventListener::new(&root, "change", |event| {
            let days = crate::ui::event_origin(event)
                .filter(|t| t.get_attribute("data-baton").as_deref() == Some("stats-days"))
                .and_then(|t| {
                    t.unchecked_into::<web_sys::HtmlSelectElement>()
                        .value()
                        .parse()
                        .ok()
                });
            if let (Some(days), Some(link)) = (days, link()) {
                wasm_bindgen_futures::spawn_local(load_days(link, days));
            }
        });
        let keys = EventListener::new(&root, "keydown", move |event| {
            let escape = event
                .dyn_ref::<web_sys::KeyboardEvent>()
                .is_some_and(|k| k.key() == "Escape");
            if escape {
                on_close();
            }
        });
        let _ = close.focus();
        StatsPanel {
            host,
            range_text: range,
            status,
            chart,
            table,
            download,
            range: None,
            _listeners: vec![clicks, picked, keys],
        }
    }

    fn say(&self, text: &str) {
        set_text(&self.status, text);
        show(&self.status, !text.is_empty());
    }

    fn fill(&mut self, agents: &AgentsReport, daily: &DailyReport) {
        self.range = Some((agents.range.from.clone(), agents.range.to.clone()));
        set_text(
            &self.range_text,
            &format!("{} to {}", agents.range.from, agents.range.to),
        );
        self.say("");
        draw_chart(&self.chart, daily);
        draw_table(&self.table, agents);
        set_attr(&self.host, "data-state", "ready");
    }
}

impl Drop for StatsPanel {
    fn drop(&mut self) {
        self.host.remove();
    }
}

fn draw_table(table: &HtmlElement, report: &AgentsReport) {
    clear(table);
    let head = el("tr", "");
    let _ = head.append_child(&text_el("th", "", "Agent"));
    for (key, heading, tip) in COLUMNS {
        let th = text_el("th", "", heading);
        set_attr(&th, "title", tip);
        set_attr(&th, "data-field", key);
        let _ = head.append_child(&th);
    }
    let thead = el("thead", "");
    let _ = thead.append_child(&head);
    let tbody = el("tbody", "");
    for row in reports_view::rows(report) {
        let tr = el("tr", "stats-row");
        set_attr(&tr, "data-agent-id", row.agent_id.as_deref().unwrap_or(""));
        let _ = tr.append_child(&text_el("th", "", &row.name));
        for (key, text) in row.cells {
            let td = text_el("td", "", &text);
            set_attr(&td, "data-field", key);
            let _ = tr.append_child(&td);
        }
        let _ = tbody.append_child(&tr);
    }
    let _ = table.append_child(&thead);
    let _ = table.append_child(&tbody);
}

fn svg(tag: &str) -> Element {
    document()
        .create_element_ns(Some(SVG), tag)
        .unwrap_or_else(|_| wasm_bindgen::throw_str("cannot create an SVG element"))
}

fn draw_chart(figure: &HtmlElement, daily: &DailyReport) {
    clear(figure);
    let chart = reports_view::chart(daily, CHART_WIDTH, CHART_HEIGHT);
    let caption = text_el("figcaption", "", "Median reply time per day");
    let canvas = svg("svg");
    set_attr(
        &canvas,
        "viewBox",
        &format!("0 0 {} {}", chart.width, chart.height),
    );
    set_attr(&canvas, "role", "img");
    set_attr(
        &canvas,
        "aria-label",
        &format!("Median reply time per day, up to {}", chart.top),
    );
    let axis = svg("line");
    for (name, value) in [
        ("x1", "0".to_owned()),
        ("x2", chart.width.to_string()),
        ("y1", (chart.height - 4.0).to_string()),
        ("y2", (chart.height - 4.0).to_string()),
        ("class", "axis".to_owned()),
    ] {
        set_attr(&axis, name, &value);
    }
    let _ = canvas.append_child(&axis);
    let line = svg("polyline");
    let points: Vec<String> = chart
        .points
        .iter()
        .map(|(x, y)| format!("{x},{y}"))
        .collect();
    set_attr(&line, "points", &points.join(" "));
    set_attr(&line, "class", "line");
    let _ = canvas.append_child(&line);
    for ((x, y), label) in chart.points.iter().zip(&chart.labels) {
        let dot = svg("circle");
        set_attr(&dot, "cx", &x.to_string());
        set_attr(&dot, "cy", &y.to_string());
        set_attr(&dot, "r", "3");
        set_attr(&dot, "data-baton", "chart-point");
        let title = svg("title");
        title.set_text_content(Some(label));
        let _ = dot.append_child(&title);
        let _ = canvas.append_child(&dot);
    }
    let scale = el("div", "chart-scale");
    for text in [
        chart.first.as_str(),
        &format!("top: {}", chart.top),
        &chart.last,
    ] {
        let _ = scale.append_child(&text_el("span", "", text));
    }
    let _ = figure.append_child(&caption);
    let _ = figure.append_child(&canvas);
    let _ = figure.append_child(&scale);
}

fn link() -> Option<Rc<RefCell<Link>>> {
    super::with_lead(|lead| lead.link.clone())
}

/// Reads the two reports for the server's default range and fills the panel.
pub async fn load(link: Rc<RefCell<Link>>) {
    load_range(link, String::new()).await;
}

/// Reads the reports for the last `days` days, ending on the last range's end (the server's
/// today).
async fn load_days(link: Rc<RefCell<Link>>, days: u32) {
    let mut to = None;
    with_stats(|panel| to = panel.range.as_ref().map(|(_, to)| to.clone()));
    let query = to
        .and_then(|to| {
            crate::reports_view::range_start(&to, days).map(|from| format!("?from={from}&to={to}"))
        })
        .unwrap_or_default();
    load_range(link, query).await;
}

/// Reads the report (`query`: its range, or empty for the default) and fills the panel
/// (or says what went wrong).
async fn load_range(link: Rc<RefCell<Link>>, query: String) {
    with_stats(|panel| panel.say("Loading…"));
    // One read for both: the agents' figures with each day's.
    let joiner = if query.is_empty() { '?' } else { '&' };
    let path = format!("/reports/agents{query}{joiner}daily=true");
    let agents = request(&link, "GET", &path, None).await;
    if !agents.ok() {
        let message = agents.message();
        with_stats(|panel| panel.say(&message));
        return;
    }
    let parsed = crate::js::from_json::<AgentsReport>(&agents.body).map(|mut agents| {
        let daily = DailyReport {
            range: agents.range.clone(),
            days: agents.days.take().unwrap_or_default(),
            total: agents.total.clone(),
        };
        (agents, daily)
    });
    match parsed {
        Ok((agents, daily)) => with_stats(|panel| panel.fill(&agents, &daily)),
        Err(err) => with_stats(|panel| panel.say(&format!("Unreadable report: {err}"))),
    }
}

/// The figures shown, as the server's CSV, saved as a download.
async fn download_csv() {
    let Some(link) = link() else {
        return;
    };
    let mut range = None;
    with_stats(|panel| range = panel.range.clone());
    let Some((from, to)) = range else {
        return;
    };
    let query = format!("/reports/agents?from={from}&to={to}&format=csv");
    let answer = request(&link, "GET", &query, None).await;
    if !answer.ok() {
        let message = answer.message();
        with_stats(|panel| panel.say(&message));
        return;
    }
    let name = format!("baton-agents-{from}-to-{to}.csv");
    if let Err(err) = save(&answer.body, &name) {
        with_stats(|panel| panel.say(&format!("Cannot save the file: {err}")));
    }
    with_stats(|panel| set_attr(&panel.download, "data-downloaded", &name));
}

/// Saves text as a file through a link to a blob, clicked and forgotten.
fn save(text: &str, name: &str) -> Result<(), crate::error::CoreError> {
    let parts = js_sys::Array::of1(&text.into());
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/csv;charset=utf-8");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let anchor: web_sys::HtmlAnchorElement = el("a", "").unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(name);
    let _ = document().body().map(|b| b.append_child(&anchor));
    anchor.click();
    anchor.remove();
    web_sys::Url::revoke_object_url(&url)?;
    Ok(())
}
