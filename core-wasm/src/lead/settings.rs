//! The team's settings (the extension's options page, `data-baton="settings"`): pipelines with
//! their stages and targets, templates, the routing rules with a "where would this chat go?"
//! tester, business hours, agents (admins: add, roles, passwords, deactivation; leads: skills,
//! capacity, hours) and teams. Leads and admins change them; agents read them. Every form is sent as the API's
//! request through the worker's relay, and a refusal shows the server's own message beside the
//! form; whatever is saved reaches open WhatsApp tabs live through the server's events. The
//! forms' data is [`crate::settings_view`].

use gloo_events::{EventListener, EventListenerOptions};
use protocol::api::{
    Agent, NewAgentRequest, Page, PasswordRequest, Pipeline, PipelineRequest, Role, RoleRequest,
};
use protocol::responder::{Flow, FlowRequest, ModelSettings, ModelSettingsRequest};
use protocol::routing::{
    BusinessHours, RoutingProfile, Rule, RuleMatch, RuleRequest, RuleTarget, Shift, ShiftException,
    Strategy, Team, TeamRequest, Weekday,
};
use protocol::templates::{Template, TemplateRequest};
use serde::Serialize;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};

use super::{with_lead, with_settings};
use crate::js::{from_json, to_json};
use crate::link::{request, send, Answer};
use crate::settings_view::{
    explain_flow, explain_hours, flow_questions, hours_from_rows, lines, minutes, pipeline_update,
    question_row, removed, skills, week, weekday_name, BranchRow, QuestionRow, StageRow,
};
use crate::ui::{button, clear, document, el, set_attr, set_text, show, text_el};

#[derive(Default)]
struct Data {
    me: Option<Agent>,
    pipelines: Vec<Pipeline>,
    templates: Vec<Template>,
    rules: Vec<Rule>,
    teams: Vec<Team>,
    agents: Vec<Agent>,
    /// Deactivated agents (read by admins, who may bring them back).
    deactivated: Vec<Agent>,
    /// The first responder's flows, one per pipeline at most.
    flows: Vec<Flow>,
    /// The first responder's optional language model (admins read it; `None` for anyone else).
    model: Option<ModelSettings>,
    hours: BusinessHours,
    /// Routing profiles by agent id (an agent reads only their own).
    profiles: Vec<(String, RoutingProfile)>,
}

pub struct Settings {
    notice: HtmlElement,
    /// "Saved." after a change the server took (the forms are drawn afresh).
    saved: HtmlElement,
    pipelines: HtmlElement,
    templates: HtmlElement,
    rules: HtmlElement,
    hours: HtmlElement,
    agents: HtmlElement,
    teams: HtmlElement,
    flows: HtmlElement,
    data: Data,
    /// The rule being dragged to a new place.
    dragging: Option<String>,
    _listeners: Vec<EventListener>,
}

fn section(root: &HtmlElement, key: &str, title: &str, about: &str) -> HtmlElement {
    let s = el("section", &format!("settings-{key}"));
    let _ = s.append_child(&text_el("h2", "", title));
    let _ = s.append_child(&text_el("p", "settings-about", about));
    let body = el("fieldset", "settings-body");
    let _ = s.append_child(&body);
    let _ = root.append_child(&s);
    body
}

fn input(field: &str, value: &str, label: &str) -> HtmlElement {
    let wrap = el("label", "field");
    let _ = wrap.append_child(&text_el("span", "", label));
    let i = el("input", "");
    set_attr(&i, "data-field", field);
    set_attr(&i, "value", value);
    let _ = wrap.append_child(&i);
    wrap
}

fn area(field: &str, value: &str, label: &str) -> HtmlElement {
    let wrap = el("label", "field");
    let _ = wrap.append_child(&text_el("span", "", label));
    let a = el("textarea", "");
    set_attr(&a, "data-field", field);
    set_attr(&a, "rows", "3");
    a.set_text_content(Some(value));
    let _ = wrap.append_child(&a);
    wrap
}

fn choice(field: &str, label: &str, options: &[(String, String)], selected: &str) -> HtmlElement {
    let wrap = el("label", "field");
    let _ = wrap.append_child(&text_el("span", "", label));
    let s = el("select", "");
    set_attr(&s, "data-field", field);
    for (value, text) in options {
        let o = text_el("option", "", text);
        set_attr(&o, "value", value);
        if value == selected {
            set_attr(&o, "selected", "");
        }
        let _ = s.append_child(&o);
    }
    let _ = wrap.append_child(&s);
    wrap
}

fn checkbox(field: &str, label: &str, checked: bool) -> HtmlElement {
    let wrap = el("label", "check");
    let i = el("input", "");
    set_attr(&i, "type", "checkbox");
    set_attr(&i, "data-field", field);
    if checked {
        set_attr(&i, "checked", "");
    }
    let _ = wrap.append_child(&i);
    let _ = wrap.append_child(&text_el("span", "", label));
    wrap
}

fn form(role: &str, id: &str) -> HtmlElement {
    let f = el("form", role);
    set_attr(&f, "data-id", id);
    f
}

fn status() -> HtmlElement {
    let s = el("p", "settings-status");
    set_attr(&s, "role", "status");
    s
}

/// A field's value in a form (text inputs, text areas and selects; checkboxes: "on" or "").
fn field(form: &Element, name: &str) -> String {
    let Some(found) = form
        .query_selector(&format!("[data-field=\"{name}\"]"))
        .ok()
        .flatten()
    else {
        return String::new();
    };
    if let Some(i) = found.dyn_ref::<HtmlInputElement>() {
        if i.type_() == "checkbox" {
            return if i.checked() {
                "on".into()
            } else {
                String::new()
            };
        }
        return i.value();
    }
    if let Some(a) = found.dyn_ref::<HtmlTextAreaElement>() {
        return a.value();
    }
    found
        .dyn_ref::<HtmlSelectElement>()
        .map(HtmlSelectElement::value)
        .unwrap_or_default()
}

fn say(form: &Element, text: &str) {
    if let Ok(Some(s)) = form.query_selector("[data-baton=\"settings-status\"]") {
        set_text(&s, text);
    }
}

fn some(text: String) -> Option<String> {
    let t = text.trim().to_owned();
    (!t.is_empty()).then_some(t)
}

fn pipeline_options(data: &Data, none: &str) -> Vec<(String, String)> {
    std::iter::once((String::new(), none.to_owned()))
        .chain(
            data.pipelines
                .iter()
                .map(|p| (p.id.clone(), p.name.clone())),
        )
        .collect()
}

impl Settings {
    pub fn new() -> Settings {
        let root = el("main", "settings");
        let _ = root.append_child(&text_el("h1", "", "Baton: team settings"));
        let notice = text_el("p", "settings-notice", "Loading…");
        let _ = root.append_child(&notice);
        let saved = el("p", "settings-saved");
        set_attr(&saved, "role", "status");
        let _ = root.append_child(&saved);
        let pipelines = section(
            &root,
            "pipelines",
            "Pipelines",
            "Each pipeline is a product's stages. A renamed stage keeps its conversations; a removed one asks where they go. Targets are minutes of business hours.",
        );
        let templates = section(
            &root,
            "templates",
            "Templates",
            "Replies agents insert with / in the composer. Variables: {{first_name}}, {{name}}, {{agent}}, {{business}}, and your own, asked for on inserting.",
        );
        let rules = section(
            &root,
            "rules",
            "Routing rules",
            "Tried in order; the first enabled rule that matches a chat gives it to an agent. Drag a rule, or use its arrows, to change the order.",
        );
        let hours = section(
            &root,
            "hours",
            "Business hours",
            "When the team answers: each weekday's hours (none: closed), and dates that differ (a date without hours: closed that day). Targets count only these hours; no hours on any day and no dates: always open. Times are the org's clock.",
        );
        let agents = section(
            &root,
            "agents",
            "Agents",
            "Admins add agents, change roles and passwords, and deactivate leavers (their chats go back to routing; Reactivate brings one back). Leads set each agent's skills, how many open chats they take, and their hours (same form as the business hours; none: the business hours).",
        );
        let teams = section(
            &root,
            "teams",
            "Teams",
            "The agents a routing rule can give chats to together.",
        );
        let flows = section(
            &root,
            "flows",
            "First responder",
            "What the first responder asks a pipeline's new chats before a person takes over: a greeting with the first question, then each question in turn (a choice is answered by number or words, an amount like 60 lakh, yes or no in English or Hindi, a day like kal or 15 Dec). A branch can end the flow early at a stage or skip to a later question; at the end the chat goes to the done stage and to routing with the answers in a handoff note. A responder seat runs them: a browser logged in as a responder account with Responder mode on (see the README).",
        );
        let _ = document().body().map(|b| b.append_child(&root));
        let clicks = EventListener::new_with_options(
            &root,
            "click",
            EventListenerOptions::enable_prevent_default(),
            |event| {
                let Some(target) = crate::ui::event_origin(event)
                    .and_then(|t| t.closest("[data-action]").ok().flatten())
                else {
                    return;
                };
                event.prevent_default();
                let action = target.get_attribute("data-action").unwrap_or_default();
                let form = target.closest("form").ok().flatten();
                act(&action, &target, form);
            },
        );
        let changes = EventListener::new(&root, "change", |event| {
            let Some(target) = crate::ui::event_origin(event) else {
                return;
            };
            if target.get_attribute("data-field").as_deref() == Some("enabled") {
                if let Some(id) = target
                    .closest("[data-rule-id]")
                    .ok()
                    .flatten()
                    .and_then(|r| r.get_attribute("data-rule-id"))
                {
                    with_settings(|s| set_text(&s.saved, ""));
                    wasm_bindgen_futures::spawn_local(toggle_rule(id));
                }
            }
        });
        let drag_start = EventListener::new(&root, "dragstart", |event| {
            let id = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-rule-id]").ok().flatten())
                .and_then(|r| r.get_attribute("data-rule-id"));
            if let (Some(id), Some(drag)) = (id, event.dyn_ref::<web_sys::DragEvent>()) {
                if let Some(data) = drag.data_transfer() {
                    let _ = data.set_data("text/plain", &id);
                }
                with_settings(|s| s.dragging = Some(id));
            }
        });
        let options = EventListenerOptions::enable_prevent_default();
        let drag_over = EventListener::new_with_options(&root, "dragover", options, |event| {
            let over_rule = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-rule-id]").ok().flatten())
                .is_some();
            if over_rule {
                event.prevent_default();
            }
        });
        let drop = EventListener::new_with_options(&root, "drop", options, |event| {
            let onto = crate::ui::event_origin(event)
                .and_then(|t| t.closest("[data-rule-id]").ok().flatten())
                .and_then(|r| r.get_attribute("data-rule-id"));
            let mut dragged = None;
            with_settings(|s| dragged = s.dragging.take());
            if let (Some(onto), Some(dragged)) = (onto, dragged) {
                event.prevent_default();
                wasm_bindgen_futures::spawn_local(reorder(dragged, onto));
            }
        });
        Settings {
            notice,
            saved,
            pipelines,
            templates,
            rules,
            hours,
            agents,
            teams,
            flows,
            data: Data::default(),
            dragging: None,
            _listeners: vec![clicks, changes, drag_start, drag_over, drop],
        }
    }

    fn supervises(&self) -> bool {
        self.data.me.as_ref().is_some_and(|m| m.role.supervises())
    }

    fn render(&mut self) {
        let me = self.data.me.as_ref();
        set_text(
            &self.notice,
            &match me {
                Some(m) if !m.role.supervises() => format!(
                    "Signed in as {}. These are your team's settings; only leads and admins change them.",
                    m.name
                ),
                Some(m) => format!("Signed in as {}. Changes reach every WhatsApp tab at once.", m.name),
                None => String::new(),
            },
        );
        let read_only = !self.supervises();
        for body in [
            &self.pipelines,
            &self.templates,
            &self.rules,
            &self.hours,
            &self.agents,
            &self.teams,
            &self.flows,
        ] {
            if read_only {
                set_attr(body, "disabled", "");
            } else {
                let _ = body.remove_attribute("disabled");
            }
        }
        self.render_pipelines();
        self.render_templates();
        self.render_rules();
        self.render_hours();
        self.render_agents();
        self.render_teams();
        self.render_flows();
    }

    /// One form per pipeline: its flow, or an empty one to create.
    fn render_flows(&self) {
        clear(&self.flows);
        for p in &self.data.pipelines {
            let flow = self.data.flows.iter().find(|f| f.pipeline_id == p.id);
            let d = flow;
            let f = form("flow-form", flow.map_or("", |f| f.id.as_str()));
            set_attr(&f, "data-pipeline", &p.id);
            let _ = f.append_child(&text_el("h3", "", &p.name));
            let _ = f.append_child(&checkbox(
                "enabled",
                "Answers this pipeline's new chats",
                d.is_none_or(|d| d.enabled),
            ));
            let _ = f.append_child(&checkbox(
                "new_chats",
                "Also brand-new chats (they join this pipeline's first stage)",
                d.is_some_and(|d| d.new_chats),
            ));
            let _ = f.append_child(&checkbox(
                "owned_off_shift",
                "Also a chat whose owner is off shift (the answers reach the owner)",
                d.is_some_and(|d| d.owned_off_shift),
            ));
            let default_name = format!("{} first answer", p.name);
            let _ = f.append_child(&input(
                "name",
                d.map_or(default_name.as_str(), |d| d.name.as_str()),
                "Name",
            ));
            let _ = f.append_child(&area(
                "greeting",
                d.map_or("", |d| d.greeting.as_str()),
                "Greeting (sent with the first question)",
            ));
            let questions = el("div", "flow-questions");
            for q in d.map(|d| d.questions.as_slice()).unwrap_or_default() {
                let _ = questions.append_child(&question_el(&question_row(q)));
            }
            if d.is_none() {
                let _ = questions.append_child(&question_el(&QuestionRow::default()));
            }
            let _ = f.append_child(&questions);
            let _ = f.append_child(&button("+ Question", "add-question"));
            let stages: Vec<(String, String)> =
                p.stages.iter().map(|s| (s.clone(), s.clone())).collect();
            let _ = f.append_child(&choice(
                "done_stage",
                "When every question is answered, the chat goes to",
                &stages,
                d.map_or_else(
                    || {
                        p.stages
                            .get(1)
                            .or(p.stages.first())
                            .map_or("", String::as_str)
                    },
                    |d| d.done_stage.as_str(),
                ),
            ));
            let _ = f.append_child(&area(
                "closing",
                d.map_or("", |d| d.closing.as_str()),
                "Closing message (optional)",
            ));
            let _ = f.append_child(&input(
                "max_unanswered",
                &d.map_or(3, |d| d.max_unanswered).to_string(),
                "At most this many messages without a reply",
            ));
            let actions = el("div", "actions");
            let _ = actions.append_child(&primary(button(
                if flow.is_some() {
                    "Save flow"
                } else {
                    "Create flow"
                },
                "save-flow",
            )));
            if flow.is_some() {
                let _ = actions.append_child(&button("Delete flow", "delete-flow"));
            }
            let _ = f.append_child(&actions);
            let _ = f.append_child(&status());
            let _ = self.flows.append_child(&f);
        }
        if let Some(model) = &self.data.model {
            let _ = self.flows.append_child(&model_form(model));
        }
    }

    fn is_admin(&self) -> bool {
        self.data.me.as_ref().is_some_and(|m| m.role == Role::Admin)
    }

    fn render_hours(&self) {
        clear(&self.hours);
        let f = form("hours-form", "");
        let _ = f.append_child(&hours_picker(
            &self.data.hours.shifts,
            &self.data.hours.exceptions,
        ));
        let _ = f.append_child(&primary(button("Save hours", "save-hours")));
        let _ = f.append_child(&status());
        let _ = self.hours.append_child(&f);
    }

    fn render_agents(&self) {
        clear(&self.agents);
        let admin = self.is_admin();
        let me = self.data.me.as_ref().map(|m| m.id.as_str());
        let roles = [
            ("agent".to_owned(), "Agent".to_owned()),
            ("lead".to_owned(), "Lead".to_owned()),
            ("admin".to_owned(), "Admin".to_owned()),
            (
                "responder".to_owned(),
                "First responder (a seat, not a person)".to_owned(),
            ),
        ];
        for a in &self.data.agents {
            let profile = self
                .data
                .profiles
                .iter()
                .find(|(id, _)| *id == a.id)
                .map(|(_, p)| p);
            // An agent sees their own profile only; a lead everyone's.
            if profile.is_none() && !self.supervises() {
                continue;
            }
            let f = form("agent-form", &a.id);
            let _ = f.append_child(&text_el("h3", "", &format!("{} · {}", a.name, a.email)));
            let admin_part = el("fieldset", "agent-admin");
            if !admin {
                set_attr(&admin_part, "disabled", "");
            }
            let role_key = a.role.as_str();
            let _ = admin_part.append_child(&choice("role", "Role", &roles, role_key));
            let _ = admin_part.append_child(&button("Change role", "save-role"));
            let _ = admin_part.append_child(&input("password", "", "New password (8+ characters)"));
            let _ = admin_part.append_child(&button("Set password", "save-password"));
            if Some(a.id.as_str()) != me {
                let _ = admin_part.append_child(&button("Deactivate", "deactivate"));
            }
            let _ = f.append_child(&admin_part);
            let profile_part = el("fieldset", "agent-profile");
            // Never a blank form over a profile that could not be read.
            if !self.supervises() || profile.is_none() {
                set_attr(&profile_part, "disabled", "");
            }
            let p = profile.cloned().unwrap_or_default();
            let _ = profile_part.append_child(&input(
                "skills",
                &p.skills.join(", "),
                "Skills (hindi, home-loans)",
            ));
            let _ = profile_part.append_child(&input(
                "capacity",
                &p.capacity.map(|c| c.to_string()).unwrap_or_default(),
                "Open chats at most (empty: no limit)",
            ));
            let _ = profile_part.append_child(&text_el(
                "span",
                "field",
                "Hours (none on any day: the business hours)",
            ));
            let _ = profile_part.append_child(&hours_picker(&p.shifts, &p.exceptions));
            let _ = profile_part.append_child(&button("Save profile", "save-profile"));
            let _ = f.append_child(&profile_part);
            let _ = f.append_child(&status());
            let _ = self.agents.append_child(&f);
        }
        if admin && !self.data.deactivated.is_empty() {
            let _ = self
                .agents
                .append_child(&text_el("h3", "", "Deactivated (cannot log in)"));
            for a in &self.data.deactivated {
                let f = form("agent-deactivated", &a.id);
                let _ = f.append_child(&text_el("span", "", &format!("{} · {}", a.name, a.email)));
                let _ = f.append_child(&button("Reactivate", "reactivate"));
                let _ = f.append_child(&status());
                let _ = self.agents.append_child(&f);
            }
        }
        if admin {
            let f = form("agent-new", "");
            let _ = f.append_child(&text_el("h3", "", "New agent"));
            let _ = f.append_child(&input("name", "", "Name"));
            let _ = f.append_child(&input("email", "", "Email"));
            let _ = f.append_child(&choice("role", "Role", &roles, "agent"));
            let _ = f.append_child(&input("password", "", "First password (8+ characters)"));
            let _ = f.append_child(&primary(button("Add agent", "create-agent")));
            let _ = f.append_child(&status());
            let _ = self.agents.append_child(&f);
        }
    }

    fn render_teams(&self) {
        clear(&self.teams);
        let members = |f: &HtmlElement, chosen: &[String]| {
            let box_ = el("div", "team-members");
            for a in &self.data.agents {
                let c = checkbox(&format!("member:{}", a.id), &a.name, chosen.contains(&a.id));
                if let Ok(Some(i)) = c.query_selector("input") {
                    set_attr(&i, "value", &a.id);
                }
                let _ = box_.append_child(&c);
            }
            let _ = f.append_child(&box_);
        };
        for t in &self.data.teams {
            let f = form("team-form", &t.id);
            let _ = f.append_child(&input("name", &t.name, "Name"));
            members(&f, &t.agent_ids);
            let actions = el("div", "actions");
            let _ = actions.append_child(&primary(button("Save team", "save-team")));
            let _ = actions.append_child(&button("Delete", "delete-team"));
            let _ = f.append_child(&actions);
            let _ = f.append_child(&status());
            let _ = self.teams.append_child(&f);
        }
        let f = form("team-form", "");
        let _ = f.append_child(&text_el("h3", "", "New team"));
        let _ = f.append_child(&input("name", "", "Name"));
        members(&f, &[]);
        let _ = f.append_child(&primary(button("Create team", "save-team")));
        let _ = f.append_child(&status());
        let _ = self.teams.append_child(&f);
    }

    fn render_pipelines(&self) {
        let body = &self.pipelines;
        clear(body);
        for p in &self.data.pipelines {
            let f = form("pipeline-form", &p.id);
            let _ = f.append_child(&input("name", &p.name, "Name"));
            let rows = el("div", "stage-rows");
            for stage in &p.stages {
                let sla = p.sla.iter().find(|s| &s.stage == stage);
                let mins = |m: Option<u32>| m.map(|m| m.to_string()).unwrap_or_default();
                let _ = rows.append_child(&stage_row(
                    Some(stage),
                    stage,
                    &mins(sla.and_then(|s| s.first_response_mins)),
                    &mins(sla.and_then(|s| s.response_mins)),
                ));
            }
            let _ = f.append_child(&rows);
            let moves = el("div", "move-prompt");
            show(&moves, false);
            let _ = f.append_child(&moves);
            let actions = el("div", "actions");
            let _ = actions.append_child(&button("Add a stage", "add-stage"));
            let _ = actions.append_child(&primary(button("Save", "save-pipeline")));
            let _ = f.append_child(&actions);
            let _ = f.append_child(&status());
            let _ = body.append_child(&f);
        }
        let f = form("pipeline-new", "");
        let _ = f.append_child(&text_el("h3", "", "New pipeline"));
        let _ = f.append_child(&input("name", "", "Name"));
        let _ = f.append_child(&area("stages", "", "Stages, one per line"));
        let _ = f.append_child(&primary(button("Create pipeline", "create-pipeline")));
        let _ = f.append_child(&status());
        let _ = body.append_child(&f);
    }

    fn render_templates(&self) {
        let body = &self.templates;
        clear(body);
        let list = el("ul", "template-rows");
        for t in &self.data.templates {
            let li = el("li", "template-row");
            set_attr(&li, "data-id", &t.id);
            let _ = li.append_child(&text_el("strong", "", &t.name));
            let scope = match (&t.pipeline_id, &t.stage) {
                (Some(p), stage) => {
                    let name = self
                        .data
                        .pipelines
                        .iter()
                        .find(|x| &x.id == p)
                        .map_or("a pipeline", |x| x.name.as_str());
                    match stage {
                        Some(s) => format!("{name} · {s}"),
                        None => name.to_owned(),
                    }
                }
                (None, _) => "every chat".to_owned(),
            };
            let _ = li.append_child(&text_el(
                "span",
                "",
                &format!("{scope} · used {} times", t.use_count),
            ));
            let _ = li.append_child(&text_el("p", "", &t.body));
            let _ = li.append_child(&button("Edit", "edit-template"));
            let _ = li.append_child(&button("Delete", "delete-template"));
            let _ = list.append_child(&li);
        }
        let _ = body.append_child(&list);
        let _ = body.append_child(&self.template_form(None));
    }

    fn template_form(&self, editing: Option<&Template>) -> HtmlElement {
        let f = form("template-form", editing.map_or("", |t| t.id.as_str()));
        let _ = f.append_child(&text_el(
            "h3",
            "",
            if editing.is_some() {
                "Edit template"
            } else {
                "New template"
            },
        ));
        let _ = f.append_child(&input(
            "name",
            editing.map_or("", |t| t.name.as_str()),
            "Name",
        ));
        let _ = f.append_child(&area(
            "body",
            editing.map_or("", |t| t.body.as_str()),
            "Text",
        ));
        let _ = f.append_child(&choice(
            "pipeline_id",
            "Shown first in",
            &pipeline_options(&self.data, "every chat"),
            editing.and_then(|t| t.pipeline_id.as_deref()).unwrap_or(""),
        ));
        let _ = f.append_child(&input(
            "stage",
            editing.and_then(|t| t.stage.as_deref()).unwrap_or(""),
            "…at stage (optional)",
        ));
        let _ = f.append_child(&primary(button(
            if editing.is_some() {
                "Save template"
            } else {
                "Create template"
            },
            "save-template",
        )));
        let _ = f.append_child(&status());
        f
    }

    fn render_rules(&self) {
        let body = &self.rules;
        clear(body);
        let list = el("ol", "rule-rows");
        let n = self.data.rules.len();
        for (i, r) in self.data.rules.iter().enumerate() {
            let li = el("li", "rule-row");
            set_attr(&li, "data-rule-id", &r.id);
            set_attr(&li, "draggable", "true");
            let _ = li.append_child(&checkbox("enabled", "", r.enabled));
            let _ = li.append_child(&text_el("strong", "", &r.name));
            let _ = li.append_child(&text_el("span", "", &self.rule_summary(r)));
            let up = button("↑", "rule-up");
            set_attr(&up, "aria-label", &format!("Move {} up", r.name));
            if i == 0 {
                set_attr(&up, "disabled", "");
            }
            let down = button("↓", "rule-down");
            set_attr(&down, "aria-label", &format!("Move {} down", r.name));
            if i + 1 == n {
                set_attr(&down, "disabled", "");
            }
            let _ = li.append_child(&up);
            let _ = li.append_child(&down);
            let _ = li.append_child(&button("Delete", "delete-rule"));
            let _ = list.append_child(&li);
        }
        let _ = body.append_child(&list);
        let f = form("rule-form", "");
        let _ = f.append_child(&text_el("h3", "", "New rule"));
        let _ = f.append_child(&input("name", "", "Name"));
        let _ = f.append_child(&choice(
            "pipeline_id",
            "For chats in",
            &pipeline_options(&self.data, "any pipeline"),
            "",
        ));
        let _ = f.append_child(&input("stage", "", "…at stage (optional)"));
        let _ = f.append_child(&checkbox("new_chat", "Only new chats", false));
        let teams: Vec<(String, String)> =
            std::iter::once((String::new(), "agents ticked below".to_owned()))
                .chain(
                    self.data
                        .teams
                        .iter()
                        .map(|t| (t.id.clone(), t.name.clone())),
                )
                .collect();
        let _ = f.append_child(&choice("team_id", "Give them to the team", &teams, ""));
        let agents = el("div", "rule-agents");
        for a in &self.data.agents {
            let c = checkbox("agent", &a.name, false);
            if let Ok(Some(i)) = c.query_selector("input") {
                set_attr(&i, "value", &a.id);
                set_attr(&i, "data-field", &format!("agent:{}", a.id));
            }
            let _ = agents.append_child(&c);
        }
        let _ = f.append_child(&agents);
        let _ = f.append_child(&choice(
            "strategy",
            "Picking",
            &[
                ("round_robin".to_owned(), "in turn".to_owned()),
                ("least_loaded".to_owned(), "the least busy".to_owned()),
            ],
            "round_robin",
        ));
        let _ = f.append_child(&input(
            "reassign_mins",
            "",
            "Move it on if unanswered after (minutes, optional)",
        ));
        let _ = f.append_child(&primary(button("Create rule", "create-rule")));
        let _ = f.append_child(&status());
        let _ = body.append_child(&f);
        let tester = form("rule-tester", "");
        let _ = tester.append_child(&text_el("h3", "", "Where would this chat go?"));
        let _ = tester.append_child(&input("chat_id", "", "Chat id (919876543210@c.us)"));
        let _ = tester.append_child(&button("Try it", "test-rule"));
        let _ = tester.append_child(&el("p", "tester-answer"));
        let _ = tester.append_child(&status());
        let _ = body.append_child(&tester);
    }

    fn rule_summary(&self, r: &Rule) -> String {
        let pipeline = r
            .matches
            .pipeline_id
            .as_ref()
            .and_then(|id| self.data.pipelines.iter().find(|p| &p.id == id))
            .map(|p| match &r.matches.stage {
                Some(s) => format!("{} · {s}", p.name),
                None => p.name.clone(),
            })
            .unwrap_or_else(|| "any chat".to_owned());
        let target = match (&r.target.team_id, &r.target.agent_ids) {
            (Some(team), _) => self
                .data
                .teams
                .iter()
                .find(|t| &t.id == team)
                .map_or_else(|| "a team".to_owned(), |t| format!("team {}", t.name)),
            (None, Some(ids)) => {
                let names: Vec<&str> = ids
                    .iter()
                    .filter_map(|id| self.data.agents.iter().find(|a| &a.id == id))
                    .map(|a| a.name.as_str())
                    .collect();
                names.join(", ")
            }
            (None, None) => "nobody".to_owned(),
        };
        let new = if r.matches.new_chat == Some(true) {
            " (new chats)"
        } else {
            ""
        };
        format!("{pipeline}{new} → {target}")
    }
}

/// The optional language model (admins): on or off, where, which model, a key, the time it
/// has; and exactly what leaves the browser when it is on.
fn model_form(model: &ModelSettings) -> HtmlElement {
    let f = form("model-form", "");
    let _ = f.append_child(&text_el("h3", "", "Language model (optional)"));
    let _ = f.append_child(&text_el(
        "p",
        "model-disclosure",
        "Off: customers' words never leave the responder's browser; only the answer it read goes to the Baton server. On: the text of each customer reply to a flow question goes from the responder's browser to your Baton server and from there to this endpoint, with the question and its options; it is not stored. The responder's own reading is kept whenever the endpoint fails, takes longer than the time below, or answers something unusable.",
    ));
    let _ = f.append_child(&checkbox(
        "enabled",
        "Read replies with this language model",
        model.enabled,
    ));
    let _ = f.append_child(&input(
        "url",
        &model.url,
        "OpenAI-compatible endpoint (https://…/v1)",
    ));
    let _ = f.append_child(&input("model", &model.model, "Model"));
    let key = input(
        "api_key",
        "",
        if model.has_api_key {
            "API key (set; type a new one to change it)"
        } else {
            "API key (if the endpoint needs one)"
        },
    );
    if let Ok(Some(field)) = key.query_selector("input") {
        set_attr(&field, "type", "password");
        set_attr(&field, "autocomplete", "off");
    }
    let _ = f.append_child(&key);
    let _ = f.append_child(&input(
        "timeout_ms",
        &model.timeout_ms.to_string(),
        "Longest wait for an answer (milliseconds)",
    ));
    let _ = f.append_child(&primary(button("Save language model", "save-model")));
    let _ = f.append_child(&status());
    f
}

async fn save_model(form: Element) {
    let key = field(&form, "api_key");
    let body = ModelSettingsRequest {
        enabled: field(&form, "enabled") == "on",
        url: field(&form, "url").trim().to_owned(),
        model: field(&form, "model").trim().to_owned(),
        api_key: (!key.trim().is_empty()).then_some(key),
        timeout_ms: field(&form, "timeout_ms").trim().parse().unwrap_or(0),
    };
    submit(&form, "PUT", "/org/responder-model", &body).await;
}

fn focus_first(root: &Element, selector: &str) {
    if let Ok(Some(found)) = root.query_selector(selector) {
        let _ = found.unchecked_ref::<HtmlElement>().focus();
    }
}

const ANSWER_KINDS: [(&str, &str); 5] = [
    ("choice", "A choice"),
    ("amount", "An amount (₹)"),
    ("yes_no", "Yes or no"),
    ("date", "A day"),
    ("text", "Any text"),
];

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A question of the flow editor.
fn question_el(row: &QuestionRow) -> HtmlElement {
    let q = el("fieldset", "flow-question");
    let _ = q.append_child(&input("key", &row.key, "Key (budget)"));
    let _ = q.append_child(&input("label", &row.label, "In the handoff note (Budget)"));
    let _ = q.append_child(&area("text", &row.text, "Question"));
    let kind = if row.kind.is_empty() {
        "text"
    } else {
        row.kind.as_str()
    };
    let _ = q.append_child(&choice("kind", "Answer", &pairs(&ANSWER_KINDS), kind));
    let _ = q.append_child(&area(
        "options",
        &row.options,
        "Options, one per line (a choice)",
    ));
    let branches = el("div", "flow-branches");
    for b in &row.branches {
        let _ = branches.append_child(&branch_el(b));
    }
    let _ = q.append_child(&branches);
    let actions = el("div", "actions");
    let _ = actions.append_child(&button("+ Branch", "add-branch"));
    let _ = actions.append_child(&button("Remove question", "remove-question"));
    let _ = q.append_child(&actions);
    q
}

/// A branch row: when (condition and value), then (exit to a stage, or ask a later question).
fn branch_el(row: &BranchRow) -> HtmlElement {
    let b = el("div", "flow-branch");
    let when = [
        ("below", "If the amount is below"),
        ("at_least", "If the amount is at least"),
        ("option", "If the option chosen is number"),
        ("yes", "If yes"),
        ("no", "If no"),
    ];
    let then = [
        ("exit", "end at stage"),
        ("ask", "ask the question with key"),
    ];
    let chosen = |v: &str, d: &'static str| {
        if v.is_empty() {
            d.to_owned()
        } else {
            v.to_owned()
        }
    };
    let _ = b.append_child(&choice(
        "when",
        "When",
        &pairs(&when),
        &chosen(&row.when, "below"),
    ));
    let _ = b.append_child(&input("value", &row.value, "Value (50 lakh, 2)"));
    let _ = b.append_child(&choice(
        "then",
        "Then",
        &pairs(&then),
        &chosen(&row.then, "exit"),
    ));
    let _ = b.append_child(&input("target", &row.target, "Stage or key"));
    let remove = button("×", "remove-branch");
    set_attr(&remove, "aria-label", "Remove this branch");
    let _ = b.append_child(&remove);
    b
}

/// The flow editor's questions as typed.
fn question_rows(form: &Element) -> Vec<QuestionRow> {
    elements(form, "[data-baton=\"flow-question\"]")
        .iter()
        .map(|q| QuestionRow {
            key: field(q, "key"),
            label: field(q, "label"),
            text: field(q, "text"),
            kind: field(q, "kind"),
            options: field(q, "options"),
            branches: elements(q, "[data-baton=\"flow-branch\"]")
                .iter()
                .map(|b| BranchRow {
                    when: field(b, "when"),
                    value: field(b, "value"),
                    then: field(b, "then"),
                    target: field(b, "target"),
                })
                .collect(),
        })
        .collect()
}

async fn save_flow(form: Element) {
    let Some(pipeline_id) = form.get_attribute("data-pipeline") else {
        return;
    };
    let id = form.get_attribute("data-id").unwrap_or_default();
    let rows = question_rows(&form);
    let questions = match flow_questions(&rows) {
        Ok(questions) => questions,
        Err(message) => return say(&form, &message),
    };
    let max = field(&form, "max_unanswered");
    let Ok(max_unanswered) = max.trim().parse::<u32>() else {
        return say(
            &form,
            &format!("At most this many messages must be a whole number, not {max:?}"),
        );
    };
    let mut person_words = Vec::new();
    with_settings(|s| {
        if let Some(f) = s.data.flows.iter().find(|f| f.id == id) {
            person_words = f.person_words.clone();
        }
    });
    let body = FlowRequest {
        name: field(&form, "name"),
        pipeline_id,
        enabled: field(&form, "enabled") == "on",
        new_chats: field(&form, "new_chats") == "on",
        owned_off_shift: field(&form, "owned_off_shift") == "on",
        greeting: field(&form, "greeting"),
        questions,
        done_stage: field(&form, "done_stage"),
        closing: field(&form, "closing"),
        person_words,
        max_unanswered,
    };
    let (method, path) = if id.is_empty() {
        ("POST", "/flows".to_owned())
    } else {
        ("PUT", format!("/flows/{id}"))
    };
    submit_explained(&form, method, &path, &body, |said| {
        explain_flow(said, rows.len())
    })
    .await;
}

fn primary(b: HtmlElement) -> HtmlElement {
    set_attr(&b, "data-primary", "");
    b
}

fn stage_row(original: Option<&str>, name: &str, first: &str, response: &str) -> HtmlElement {
    let row = el("div", "stage-row");
    if let Some(o) = original {
        set_attr(&row, "data-original", o);
    }
    let _ = row.append_child(&input("stage", name, "Stage"));
    let _ = row.append_child(&input("first", first, "First reply within (min)"));
    let _ = row.append_child(&input("response", response, "Replies within (min)"));
    for (label, action) in [
        ("↑", "stage-up"),
        ("↓", "stage-down"),
        ("Remove", "stage-remove"),
    ] {
        let _ = row.append_child(&button(label, action));
    }
    row
}

fn rows_of(form: &Element) -> Vec<StageRow> {
    crate::ui::all(form, "[data-baton=\"stage-row\"]")
        .iter()
        .map(|row| StageRow {
            original: row.get_attribute("data-original"),
            name: field(row, "stage"),
            first_response: field(row, "first"),
            response: field(row, "response"),
        })
        .collect()
}

/// A click on a control with `data-action`, in `form` if it is in one.
fn act(action: &str, target: &Element, form: Option<Element>) {
    with_settings(|s| set_text(&s.saved, ""));
    let row = target.closest("[data-baton=\"stage-row\"]").ok().flatten();
    match (action, form, row) {
        ("add-stage", Some(form), _) => {
            if let Ok(Some(rows)) = form.query_selector("[data-baton=\"stage-rows\"]") {
                let _ = rows.append_child(&stage_row(None, "", "", ""));
            }
        }
        ("stage-up", _, Some(row)) => {
            if let (Some(prev), Some(parent)) = (row.previous_element_sibling(), row.parent_node())
            {
                let _ = parent.insert_before(&row, Some(&prev));
            }
        }
        ("stage-down", _, Some(row)) => {
            if let (Some(next), Some(parent)) = (row.next_element_sibling(), row.parent_node()) {
                let _ = parent.insert_before(&next, Some(&row));
            }
        }
        ("stage-remove", _, Some(row)) => row.remove(),
        ("add-span", _, _) => {
            let list = target
                .closest("[data-baton=\"hours-day\"], [data-baton=\"hours-date\"]")
                .ok()
                .flatten()
                .and_then(|row| {
                    row.query_selector("[data-baton=\"hours-spans\"]")
                        .ok()
                        .flatten()
                });
            if let Some(list) = list {
                let span = span_el("09:00", "18:00");
                let _ = list.append_child(&span);
                focus_first(&span, "input");
            }
        }
        ("remove-span" | "remove-date", _, _) => {
            let which = if action == "remove-span" {
                "hours-span"
            } else {
                "hours-date"
            };
            if let Ok(Some(gone)) = target.closest(&format!("[data-baton=\"{which}\"]")) {
                gone.remove();
            }
        }
        ("add-question", Some(form), _) => {
            if let Ok(Some(list)) = form.query_selector("[data-baton=\"flow-questions\"]") {
                let question = question_el(&QuestionRow::default());
                let _ = list.append_child(&question);
                focus_first(&question, "input");
            }
        }
        ("add-branch", _, _) => {
            let list = target
                .closest("[data-baton=\"flow-question\"]")
                .ok()
                .flatten()
                .and_then(|q| {
                    q.query_selector("[data-baton=\"flow-branches\"]")
                        .ok()
                        .flatten()
                });
            if let Some(list) = list {
                let branch = branch_el(&BranchRow::default());
                let _ = list.append_child(&branch);
                focus_first(&branch, "select");
            }
        }
        ("remove-question" | "remove-branch", _, _) => {
            let which = if action == "remove-question" {
                "flow-question"
            } else {
                "flow-branch"
            };
            if let Ok(Some(gone)) = target.closest(&format!("[data-baton=\"{which}\"]")) {
                gone.remove();
            }
        }
        ("save-flow", Some(form), _) => wasm_bindgen_futures::spawn_local(save_flow(form)),
        ("save-model", Some(form), _) => wasm_bindgen_futures::spawn_local(save_model(form)),
        ("delete-flow", Some(form), _) => {
            if let Some(id) = form.get_attribute("data-id").filter(|id| !id.is_empty()) {
                wasm_bindgen_futures::spawn_local(delete(format!("/flows/{id}")));
            }
        }
        ("add-date", _, _) => {
            let dates = target
                .closest("[data-baton=\"hours-picker\"]")
                .ok()
                .flatten()
                .and_then(|p| {
                    p.query_selector("[data-baton=\"hours-dates\"]")
                        .ok()
                        .flatten()
                });
            if let Some(dates) = dates {
                let row = date_row("", &[]);
                let _ = dates.append_child(&row);
                focus_first(&row, "input");
            }
        }
        ("save-pipeline", Some(form), _) => wasm_bindgen_futures::spawn_local(save_pipeline(form)),
        ("create-pipeline", Some(form), _) => {
            wasm_bindgen_futures::spawn_local(create_pipeline(form));
        }
        ("save-template", Some(form), _) => wasm_bindgen_futures::spawn_local(save_template(form)),
        ("edit-template", _, _) => {
            let id = target
                .closest("[data-baton=\"template-row\"]")
                .ok()
                .flatten()
                .and_then(|r| r.get_attribute("data-id"));
            with_settings(|s| {
                let editing = s.data.templates.iter().find(|t| Some(&t.id) == id.as_ref());
                let fresh = s.template_form(editing);
                if let Ok(Some(old)) = s.templates.query_selector("[data-baton=\"template-form\"]")
                {
                    let _ = old.replace_with_with_node_1(&fresh);
                }
                if let Ok(Some(name)) = fresh.query_selector("[data-field=\"name\"]") {
                    let _ = name.unchecked_ref::<HtmlElement>().focus();
                }
            });
        }
        ("delete-template", _, _) => {
            if let Some(id) = target
                .closest("[data-baton=\"template-row\"]")
                .ok()
                .flatten()
                .and_then(|r| r.get_attribute("data-id"))
            {
                wasm_bindgen_futures::spawn_local(delete(format!("/templates/{id}")));
            }
        }
        ("create-rule", Some(form), _) => wasm_bindgen_futures::spawn_local(create_rule(form)),
        ("rule-up" | "rule-down" | "delete-rule", _, _) => {
            let Some(id) = target
                .closest("[data-rule-id]")
                .ok()
                .flatten()
                .and_then(|r| r.get_attribute("data-rule-id"))
            else {
                return;
            };
            if action == "delete-rule" {
                wasm_bindgen_futures::spawn_local(delete(format!("/routing/rules/{id}")));
            } else {
                wasm_bindgen_futures::spawn_local(step_rule(id, action == "rule-up"));
            }
        }
        ("test-rule", Some(form), _) => wasm_bindgen_futures::spawn_local(test_rule(form)),
        ("save-hours", Some(form), _) => wasm_bindgen_futures::spawn_local(save_hours(form)),
        ("save-team", Some(form), _) => wasm_bindgen_futures::spawn_local(save_team(form)),
        ("delete-team", Some(form), _) => {
            if let Some(id) = form.get_attribute("data-id") {
                wasm_bindgen_futures::spawn_local(delete(format!("/teams/{id}")));
            }
        }
        ("create-agent", Some(form), _) => wasm_bindgen_futures::spawn_local(create_agent(form)),
        (
            "save-role" | "save-password" | "deactivate" | "reactivate" | "save-profile",
            Some(form),
            _,
        ) => {
            wasm_bindgen_futures::spawn_local(agent_action(action.to_owned(), form));
        }
        _ => {}
    }
}

fn link() -> Option<std::rc::Rc<std::cell::RefCell<crate::link::Link>>> {
    with_lead(|lead| lead.link.clone())
}

/// Sends `body` to `path`; on success reloads everything, on refusal says why in `form`.
async fn submit<T: Serialize>(
    form: &Element,
    method: &str,
    path: &str,
    body: &T,
) -> Option<Answer> {
    let link = link()?;
    let text = match to_json(body) {
        Ok(text) => text,
        Err(err) => {
            say(form, &err.to_string());
            return None;
        }
    };
    say(form, "Saving…");
    let answer = request(&link, method, path, Some(&text)).await;
    if answer.ok() {
        let section = form
            .closest("section")
            .ok()
            .flatten()
            .and_then(|s| s.get_attribute("data-baton"));
        load_into(section.as_deref()).await;
        with_settings(|s| set_text(&s.saved, "Saved."));
        Some(answer)
    } else {
        say(form, &answer.message());
        None
    }
}

async fn create_pipeline(form: Element) {
    let body = PipelineRequest {
        name: field(&form, "name").trim().to_owned(),
        stages: lines(&field(&form, "stages")),
    };
    submit(&form, "POST", "/pipelines", &body).await;
}

async fn save_pipeline(form: Element) {
    let Some(id) = form.get_attribute("data-id") else {
        return;
    };
    let rows = rows_of(&form);
    let mut loaded = Vec::new();
    with_settings(|s| {
        loaded = s
            .data
            .pipelines
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.stages.clone())
            .unwrap_or_default();
    });
    let gone = removed(&loaded, &rows);
    // Removed stages: where their conversations go is asked first.
    let prompt = form
        .query_selector("[data-baton=\"move-prompt\"]")
        .ok()
        .flatten();
    let mut moved = Vec::new();
    if let Some(prompt) = &prompt {
        let answered: Vec<String> = crate::ui::all(prompt, "select")
            .iter()
            .filter_map(|s| s.get_attribute("data-from"))
            .collect();
        if !gone.is_empty() && gone.iter().any(|g| !answered.contains(g)) {
            clear(prompt);
            let names: Vec<String> = rows.iter().map(|r| r.name.trim().to_owned()).collect();
            for stage in &gone {
                let options: Vec<(String, String)> = names
                    .iter()
                    .map(|n| (n.clone(), n.clone()))
                    .chain(std::iter::once((
                        String::new(),
                        "out of the pipeline".to_owned(),
                    )))
                    .collect();
                let c = choice(
                    "moved",
                    &format!("Conversations in {stage} go to"),
                    &options,
                    "",
                );
                if let Ok(Some(s)) = c.query_selector("select") {
                    set_attr(&s, "data-from", stage);
                }
                let _ = prompt.append_child(&c);
            }
            show(prompt, true);
            say(
                &form,
                "Say where the removed stages' conversations go, then Save again.",
            );
            return;
        }
        for select in crate::ui::all(prompt, "select") {
            if let Some(from) = select.get_attribute("data-from") {
                let to = select.unchecked_ref::<HtmlSelectElement>().value();
                moved.push((from, some(to)));
            }
        }
    }
    match pipeline_update(&field(&form, "name"), &rows, &moved) {
        Ok(update) => {
            submit(&form, "PUT", &format!("/pipelines/{id}"), &update).await;
        }
        Err(message) => say(&form, &message),
    }
}

async fn save_template(form: Element) {
    let id = form.get_attribute("data-id").unwrap_or_default();
    let body = TemplateRequest {
        name: field(&form, "name"),
        body: field(&form, "body"),
        pipeline_id: some(field(&form, "pipeline_id")),
        stage: some(field(&form, "stage")),
    };
    if id.is_empty() {
        submit(&form, "POST", "/templates", &body).await;
    } else {
        submit(&form, "PUT", &format!("/templates/{id}"), &body).await;
    }
}

async fn create_rule(form: Element) {
    let reassign = match minutes("Move it on after", &field(&form, "reassign_mins")) {
        Ok(m) => m.map(|m| m * 60),
        Err(message) => return say(&form, &message),
    };
    let agent_ids: Vec<String> = crate::ui::all(&form, "[data-baton=\"rule-agents\"] input")
        .iter()
        .filter(|i| i.unchecked_ref::<HtmlInputElement>().checked())
        .filter_map(|i| i.get_attribute("value"))
        .collect();
    let team_id = some(field(&form, "team_id"));
    let body = RuleRequest {
        name: field(&form, "name"),
        enabled: true,
        matches: RuleMatch {
            pipeline_id: some(field(&form, "pipeline_id")),
            stage: some(field(&form, "stage")),
            new_chat: (field(&form, "new_chat") == "on").then_some(true),
            ..RuleMatch::default()
        },
        target: RuleTarget {
            agent_ids: team_id.is_none().then_some(agent_ids),
            team_id,
        },
        strategy: if field(&form, "strategy") == "least_loaded" {
            Strategy::LeastLoaded
        } else {
            Strategy::RoundRobin
        },
        reassign_after_secs: reassign,
    };
    submit(&form, "POST", "/routing/rules", &body).await;
}

async fn save_hours(form: Element) {
    match read_picker(&form) {
        Ok((shifts, exceptions)) => {
            let body = BusinessHours { shifts, exceptions };
            submit_explained(&form, "PUT", "/org/business-hours", &body, |said| {
                explain_hours(said, &body.shifts, &body.exceptions)
            })
            .await;
        }
        Err(message) => say(&form, &message),
    }
}

async fn save_team(form: Element) {
    let id = form.get_attribute("data-id").unwrap_or_default();
    let agent_ids: Vec<String> = crate::ui::all(&form, "[data-baton=\"team-members\"] input")
        .iter()
        .filter(|i| i.unchecked_ref::<HtmlInputElement>().checked())
        .filter_map(|i| i.get_attribute("value"))
        .collect();
    let body = TeamRequest {
        name: field(&form, "name"),
        agent_ids,
    };
    if id.is_empty() {
        submit(&form, "POST", "/teams", &body).await;
    } else {
        submit(&form, "PUT", &format!("/teams/{id}"), &body).await;
    }
}

/// [`submit`], a refusal then said in the form's own words (`explain`: the server names a
/// field by its place in the request, the form by what it shows).
async fn submit_explained<T: Serialize>(
    form: &Element,
    method: &str,
    path: &str,
    body: &T,
    explain: impl Fn(&str) -> String,
) {
    if submit(form, method, path, body).await.is_none() {
        let said = form
            .query_selector("[data-baton=\"settings-status\"]")
            .ok()
            .flatten()
            .and_then(|s| s.text_content())
            .unwrap_or_default();
        say(form, &explain(&said));
    }
}

/// The weekly hours and the dates that differ, as rows of time pickers: a weekday with no spans
/// is closed (none on any day and no dates: always open), a date with none is a day off.
fn hours_picker(shifts: &[Shift], exceptions: &[ShiftException]) -> HtmlElement {
    let picker = el("div", "hours-picker");
    for (day, spans) in week(shifts) {
        let row = el("div", "hours-day");
        set_attr(&row, "data-day", day.as_str());
        let _ = row.append_child(&text_el("span", "hours-label", weekday_name(day)));
        let _ = row.append_child(&spans_el(&spans));
        let _ = row.append_child(&button("+ Hours", "add-span"));
        let _ = picker.append_child(&row);
    }
    let dates = el("div", "hours-dates");
    for e in exceptions {
        let spans: Vec<(String, String)> = e
            .hours
            .iter()
            .map(|h| (h.start.clone(), h.end.clone()))
            .collect();
        let _ = dates.append_child(&date_row(&e.date, &spans));
    }
    let _ = picker.append_child(&dates);
    let _ = picker.append_child(&button("+ A date that differs", "add-date"));
    picker
}

fn spans_el(spans: &[(String, String)]) -> HtmlElement {
    let list = el("span", "hours-spans");
    for (start, end) in spans {
        let _ = list.append_child(&span_el(start, end));
    }
    list
}

fn time_input(which: &str, value: &str, label: &str) -> HtmlElement {
    let i = el("input", "");
    set_attr(&i, "type", "time");
    set_attr(&i, "data-hours", which);
    set_attr(&i, "value", value);
    set_attr(&i, "aria-label", label);
    i
}

fn span_el(start: &str, end: &str) -> HtmlElement {
    let span = el("span", "hours-span");
    let _ = span.append_child(&time_input("start", start, "From"));
    let _ = span.append_child(&text_el("span", "", "–"));
    let _ = span.append_child(&time_input("end", end, "To"));
    let remove = button("×", "remove-span");
    set_attr(&remove, "aria-label", "Remove these hours");
    let _ = span.append_child(&remove);
    span
}

fn date_row(date: &str, spans: &[(String, String)]) -> HtmlElement {
    let row = el("div", "hours-date");
    let day = el("input", "");
    set_attr(&day, "type", "date");
    set_attr(&day, "data-hours", "date");
    set_attr(&day, "value", date);
    set_attr(&day, "aria-label", "Date");
    let _ = row.append_child(&day);
    let _ = row.append_child(&spans_el(spans));
    let _ = row.append_child(&button("+ Hours", "add-span"));
    let _ = row.append_child(&button("Remove date", "remove-date"));
    row
}

/// The spans of one picker row as typed.
fn row_spans(row: &Element) -> Vec<(String, String)> {
    let value = |span: &Element, which: &str| {
        span.query_selector(&format!("[data-hours=\"{which}\"]"))
            .ok()
            .flatten()
            .and_then(|i| i.dyn_into::<HtmlInputElement>().ok())
            .map(|i| i.value())
            .unwrap_or_default()
    };
    elements(row, "[data-baton=\"hours-span\"]")
        .iter()
        .map(|span| (value(span, "start"), value(span, "end")))
        .collect()
}

fn elements(root: &Element, selector: &str) -> Vec<Element> {
    let Ok(found) = root.query_selector_all(selector) else {
        return Vec::new();
    };
    (0..found.length())
        .filter_map(|i| found.item(i))
        .filter_map(|n| n.dyn_into::<Element>().ok())
        .collect()
}

/// The form's hours picker read back (see [`hours_from_rows`]).
fn read_picker(form: &Element) -> Result<(Vec<Shift>, Vec<ShiftException>), String> {
    let days: Vec<(Weekday, Vec<(String, String)>)> = Weekday::ALL
        .into_iter()
        .zip(elements(form, "[data-baton=\"hours-day\"]"))
        .map(|(day, row)| (day, row_spans(&row)))
        .collect();
    let dates: Vec<(String, Vec<(String, String)>)> = elements(form, "[data-baton=\"hours-date\"]")
        .iter()
        .map(|row| {
            let date = row
                .query_selector("[data-hours=\"date\"]")
                .ok()
                .flatten()
                .and_then(|i| i.dyn_into::<HtmlInputElement>().ok())
                .map(|i| i.value())
                .unwrap_or_default();
            (date, row_spans(row))
        })
        .collect();
    hours_from_rows(&days, &dates)
}

fn role_of(key: &str) -> Role {
    Role::parse(key).unwrap_or(Role::Agent)
}

async fn create_agent(form: Element) {
    let body = NewAgentRequest {
        name: field(&form, "name"),
        email: field(&form, "email"),
        role: role_of(&field(&form, "role")),
        password: field(&form, "password"),
    };
    submit(&form, "POST", "/agents", &body).await;
}

async fn agent_action(action: String, form: Element) {
    let Some(id) = form.get_attribute("data-id") else {
        return;
    };
    match action.as_str() {
        "save-role" => {
            let body = RoleRequest {
                role: role_of(&field(&form, "role")),
            };
            submit(&form, "PUT", &format!("/agents/{id}/role"), &body).await;
        }
        "save-password" => {
            let body = PasswordRequest {
                password: field(&form, "password"),
            };
            submit(&form, "PUT", &format!("/agents/{id}/password"), &body).await;
        }
        "deactivate" | "reactivate" => {
            #[derive(Serialize)]
            struct Nothing {}
            submit(
                &form,
                "POST",
                &format!("/agents/{id}/{action}"),
                &Nothing {},
            )
            .await;
        }
        _ => {
            let capacity = field(&form, "capacity");
            let capacity = match capacity.trim() {
                "" => None,
                text => match text.parse::<u32>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        return say(
                            &form,
                            &format!("Open chats at most must be a whole number, not {text:?}"),
                        );
                    }
                },
            };
            match read_picker(&form) {
                Ok((shifts, exceptions)) => {
                    let body = RoutingProfile {
                        skills: skills(&field(&form, "skills")),
                        capacity,
                        shifts,
                        exceptions,
                    };
                    let path = format!("/agents/{id}/routing");
                    submit_explained(&form, "PUT", &path, &body, |said| {
                        explain_hours(said, &body.shifts, &body.exceptions)
                    })
                    .await;
                }
                Err(message) => say(&form, &message),
            }
        }
    }
}

fn request_of(r: &Rule, enabled: bool) -> RuleRequest {
    RuleRequest {
        name: r.name.clone(),
        enabled,
        matches: r.matches.clone(),
        target: r.target.clone(),
        strategy: r.strategy,
        reassign_after_secs: r.reassign_after_secs,
    }
}

async fn toggle_rule(id: String) {
    let mut body = None;
    with_settings(|s| {
        body = s
            .data
            .rules
            .iter()
            .find(|r| r.id == id)
            .map(|r| request_of(r, !r.enabled));
    });
    let (Some(body), Some(form)) = (body, rules_status_form()) else {
        return;
    };
    submit(&form, "PUT", &format!("/routing/rules/{id}"), &body).await;
}

/// The rules' own form, where their list's refusals are said.
fn rules_status_form() -> Option<Element> {
    let mut form = None;
    with_settings(|s| {
        form = s
            .rules
            .query_selector("[data-baton=\"rule-form\"]")
            .ok()
            .flatten();
    });
    form
}

async fn put_order(ids: Vec<String>) {
    #[derive(Serialize)]
    struct Order {
        ids: Vec<String>,
    }
    if let Some(form) = rules_status_form() {
        submit(&form, "PUT", "/routing/rules/order", &Order { ids }).await;
    }
}

async fn step_rule(id: String, up: bool) {
    let mut ids: Vec<String> = Vec::new();
    with_settings(|s| ids = s.data.rules.iter().map(|r| r.id.clone()).collect());
    let Some(at) = ids.iter().position(|i| *i == id) else {
        return;
    };
    let other = if up { at.checked_sub(1) } else { Some(at + 1) };
    if let Some(other) = other.filter(|o| *o < ids.len()) {
        ids.swap(at, other);
        put_order(ids).await;
    }
}

async fn reorder(dragged: String, onto: String) {
    let mut ids: Vec<String> = Vec::new();
    with_settings(|s| ids = s.data.rules.iter().map(|r| r.id.clone()).collect());
    let (Some(from), Some(to)) = (
        ids.iter().position(|i| *i == dragged),
        ids.iter().position(|i| *i == onto),
    ) else {
        return;
    };
    if from != to {
        let moving = ids.remove(from);
        ids.insert(to, moving);
        put_order(ids).await;
    }
}

async fn delete(path: String) {
    let Some(link) = link() else {
        return;
    };
    let answer = request(&link, "DELETE", &path, None).await;
    if answer.ok() {
        let section = if path.starts_with("/templates") {
            "settings-templates"
        } else if path.starts_with("/flows") {
            "settings-flows"
        } else if path.starts_with("/teams") {
            "settings-teams"
        } else {
            "settings-rules"
        };
        load_into(Some(section)).await;
        with_settings(|s| set_text(&s.saved, "Saved."));
    } else {
        let message = answer.message();
        with_settings(|s| set_text(&s.notice, &message));
    }
}

async fn test_rule(form: Element) {
    let Some(link) = link() else {
        return;
    };
    let chat = field(&form, "chat_id").trim().replace('@', "%40");
    let answer = request(
        &link,
        "GET",
        &format!("/conversations/{chat}/routing"),
        None,
    )
    .await;
    let text = if answer.ok() {
        #[derive(serde::Deserialize)]
        struct Decision {
            explanation: String,
        }
        #[derive(serde::Deserialize)]
        struct Preview {
            decision: Option<Decision>,
        }
        from_json::<Preview>(&answer.body)
            .ok()
            .and_then(|p| p.decision)
            .map_or_else(
                || "No rule would decide for it now.".to_owned(),
                |d| d.explanation,
            )
    } else {
        answer.message()
    };
    if let Ok(Some(out)) = form.query_selector("[data-baton=\"tester-answer\"]") {
        set_text(&out, &text);
    }
    say(&form, "");
}

/// Reads everything the page shows and draws it.
pub async fn load() {
    load_into(None).await;
}

/// Reads everything and draws `only` that section (`settings-…`) and those that list what it
/// holds (a new pipeline is a choice in the templates' and rules' forms), so a save never wipes
/// what is being typed elsewhere on the page; `None`: the whole page.
async fn load_into(only: Option<&str>) {
    let Some(link) = link() else {
        return;
    };
    let me = send(&link, "GET", "/me", None);
    let pipelines = send(&link, "GET", "/pipelines?limit=1000", None);
    let templates = send(&link, "GET", "/templates", None);
    let rules = send(&link, "GET", "/routing/rules", None);
    let teams = send(&link, "GET", "/teams", None);
    let agents = send(&link, "GET", "/agents?limit=1000", None);
    let hours = send(&link, "GET", "/org/business-hours", None);
    let flows = send(&link, "GET", "/flows", None);
    // Admins only: anyone else is refused, and sees no such list.
    let deactivated = send(&link, "GET", "/agents/deactivated?limit=1000", None);
    let model = send(&link, "GET", "/org/responder-model", None);
    let deactivated = deactivated.answer(&link).await;
    let model = model.answer(&link).await;
    let model = model
        .ok()
        .then(|| from_json::<ModelSettings>(&model.body).ok())
        .flatten();
    let deactivated = if deactivated.ok() {
        from_json::<Page<Agent>>(&deactivated.body).map(|p| p.items)
    } else {
        Ok(Vec::new())
    };
    let answers = [
        me.answer(&link).await,
        pipelines.answer(&link).await,
        templates.answer(&link).await,
        rules.answer(&link).await,
        teams.answer(&link).await,
        agents.answer(&link).await,
        hours.answer(&link).await,
        flows.answer(&link).await,
    ];
    if let Some(refused) = answers.iter().find(|a| !a.ok()) {
        let message = refused.message();
        with_settings(|s| set_text(&s.notice, &message));
        return;
    }
    #[derive(serde::Deserialize)]
    struct Me {
        agent: Agent,
    }
    let read = (|| {
        Ok::<_, crate::error::CoreError>(Data {
            me: Some(from_json::<Me>(&answers[0].body)?.agent),
            pipelines: from_json::<Page<Pipeline>>(&answers[1].body)?.items,
            templates: from_json::<Vec<Template>>(&answers[2].body)?,
            rules: from_json::<Vec<Rule>>(&answers[3].body)?,
            teams: from_json::<Vec<Team>>(&answers[4].body)?,
            agents: from_json::<Page<Agent>>(&answers[5].body)?.items,
            deactivated: deactivated?,
            hours: from_json::<BusinessHours>(&answers[6].body)?,
            flows: from_json::<Vec<Flow>>(&answers[7].body)?,
            model,
            profiles: Vec::new(),
        })
    })();
    // Routing profiles: everyone's for a lead, an agent's own (all at once).
    let mut read = read;
    if let Ok(data) = read.as_mut() {
        let wanted: Vec<String> = match &data.me {
            Some(me) if me.role.supervises() => data.agents.iter().map(|a| a.id.clone()).collect(),
            Some(me) => vec![me.id.clone()],
            None => Vec::new(),
        };
        let sent: Vec<_> = wanted
            .iter()
            .map(|id| send(&link, "GET", &format!("/agents/{id}/routing"), None))
            .collect();
        for (id, sent) in wanted.into_iter().zip(sent) {
            let answer = sent.answer(&link).await;
            if let (true, Ok(profile)) = (answer.ok(), from_json::<RoutingProfile>(&answer.body)) {
                data.profiles.push((id, profile));
            }
        }
    }
    match read {
        Ok(mut data) => with_settings(|s| {
            data.pipelines
                .sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
            data.agents.sort_by(|a, b| a.name.cmp(&b.name));
            data.deactivated.sort_by(|a, b| a.name.cmp(&b.name));
            s.data = data;
            match only {
                Some("settings-pipelines") => {
                    s.render_pipelines();
                    s.render_templates();
                    s.render_rules();
                    s.render_flows();
                }
                Some("settings-flows") => s.render_flows(),
                Some("settings-templates") => s.render_templates(),
                Some("settings-rules") => s.render_rules(),
                Some("settings-hours") => s.render_hours(),
                Some("settings-agents") => {
                    s.render_agents();
                    s.render_teams();
                    s.render_rules();
                }
                Some("settings-teams") => {
                    s.render_teams();
                    s.render_rules();
                }
                _ => s.render(),
            }
            set_text(&s.saved, "");
            if let Some(body) = document().body() {
                set_attr(&body, "data-state", "ready");
            }
        }),
        Err(err) => with_settings(|s| set_text(&s.notice, &format!("Unreadable answer: {err}"))),
    }
}
