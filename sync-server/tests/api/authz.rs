//! The authorization matrix: every route the server has (from its own route table, so a new
//! endpoint without a row here fails) × every kind of caller: no token, an expired, a revoked
//! and a deactivated agent's token, an agent, a lead, an admin, and an admin of another org.
//! Every cell is asserted.

use axum::http::Method;
use protocol::api::Role;
use serde_json::{json, Value};
use sync_server::auth::{hash_secret, new_secret};

use crate::common::{chat, Backend, TestAgent, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(every_route_answers_every_kind_of_caller_as_it_should);

/// The least role a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Needs {
    Nobody,
    Agent,
    Lead,
    Admin,
    /// Only the first responder's seat (a `responder` account): no person, not even an admin.
    Seat,
}

/// What another org's admin gets on this org's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Foreign {
    /// The route names one of this org's things (a chat, an agent, a reminder): 404, as if it
    /// did not exist.
    NotFound,
    /// The route works in the caller's own org: it succeeds, and shows nothing of this org.
    OwnOrg,
    /// The route works in the caller's own org, whose state may refuse it (409: "Take next"
    /// with an empty queue), and shows nothing of this org.
    OwnOrgState,
    /// Refused for who they are (403), before anything of this org is looked at.
    Refused,
}

/// Who may call each route. A route the server has but this table lacks fails the test.
fn row(method: &Method, path: &str) -> Option<(Needs, Foreign)> {
    use Foreign::{NotFound, OwnOrg, OwnOrgState, Refused};
    use Needs::{Admin, Agent, Lead, Nobody, Seat};
    let path = path.strip_prefix(protocol::API_PREFIX).unwrap_or(path);
    Some(match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz") | ("POST", "/auth/login") => (Nobody, OwnOrg),
        ("POST", "/auth/logout")
        | ("GET", "/me" | "/agents" | "/conversations" | "/reminders" | "/pipelines") => {
            (Agent, OwnOrg)
        }
        ("POST", "/events/ticket") | ("GET", "/events") => (Agent, OwnOrg),
        ("PUT", "/conversations/{chat_id}") => (Agent, OwnOrg),
        ("POST", "/pipelines") => (Lead, OwnOrg),
        ("POST", "/agents") | ("GET", "/agents/deactivated") => (Admin, OwnOrg),
        ("PUT", "/pipelines/{id}") | ("GET", "/pipelines/{id}/board") => (Lead, NotFound),
        ("GET", "/teams" | "/routing/rules" | "/org/business-hours") | ("PUT", "/me/presence") => {
            (Agent, OwnOrg)
        }
        ("PUT", "/org/business-hours") => (Lead, OwnOrg),
        ("GET", "/queue" | "/templates" | "/flows") => (Agent, OwnOrg),
        ("POST", "/flows") => (Lead, OwnOrg),
        ("GET", "/responder/work") | ("PUT", "/responder/status") => (Seat, Refused),
        ("GET", "/responder/seats") => (Agent, OwnOrg),
        ("GET" | "PUT", "/org/responder-model") => (Admin, OwnOrg),
        (
            "POST",
            "/responder/chats/{chat_id}/reply"
            | "/responder/chats/{chat_id}/send"
            | "/responder/chats/{chat_id}/sent",
        ) => (Seat, Refused),
        // A chat's qualification: 404 while no flow answered it.
        ("GET", "/responder/chats/{chat_id}") => (Agent, NotFound),
        ("PUT" | "DELETE", "/flows/{id}") => (Lead, NotFound),
        // An agent's report is their own figures; a lead's and an admin's, everyone's.
        ("GET", "/reports/agents" | "/reports/stages" | "/reports/daily") => (Agent, OwnOrg),
        ("POST", "/templates") => (Lead, OwnOrg),
        ("PUT" | "DELETE", "/templates/{id}") => (Lead, NotFound),
        ("POST", "/templates/{id}/used") => (Agent, NotFound),
        ("POST", "/queue/take") => (Agent, OwnOrgState),
        ("GET", "/conversations/{chat_id}/routing") => (Lead, NotFound),
        ("POST", "/routing/rules") | ("PUT", "/routing/rules/order") => (Lead, OwnOrg),
        ("PUT" | "DELETE", "/routing/rules/{id}") => (Lead, NotFound),
        ("POST", "/teams") => (Lead, OwnOrg),
        ("PUT" | "DELETE", "/teams/{id}") => (Lead, NotFound),
        // The target agent's own profile is theirs to read; a colleague's is a lead's.
        ("GET" | "PUT", "/agents/{id}/routing") => (Lead, NotFound),
        ("POST", "/agents/{id}/deactivate" | "/agents/{id}/reactivate")
        | ("PUT", "/agents/{id}/password" | "/agents/{id}/role") => (Admin, NotFound),
        (
            "GET",
            "/conversations/{chat_id}"
            | "/conversations/{chat_id}/timeline"
            | "/conversations/{chat_id}/notes",
        )
        | ("PUT", "/conversations/{chat_id}/stage")
        | ("POST" | "DELETE", "/conversations/{chat_id}/lock")
        | ("DELETE", "/conversations/{chat_id}/owner")
        | ("POST", "/conversations/{chat_id}/close" | "/conversations/{chat_id}/reopen")
        | (
            "POST",
            "/conversations/{chat_id}/handoff"
            | "/conversations/{chat_id}/handoff/accept"
            | "/conversations/{chat_id}/handoff/decline"
            | "/conversations/{chat_id}/notes"
            | "/conversations/{chat_id}/reminders"
            | "/conversations/{chat_id}/messages"
            | "/conversations/{chat_id}/messages/history"
            | "/conversations/{chat_id}/requests"
            | "/reminders/{id}/done"
            | "/reminders/{id}/snooze"
            | "/chat-requests/{id}/grant"
            | "/chat-requests/{id}/decline",
        ) => (Agent, NotFound),
        _ => return None,
    })
}

/// The kinds of caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Expired,
    Revoked,
    Deactivated,
    Agent,
    Lead,
    Admin,
    OtherOrg,
}

const CALLERS: [Caller; 8] = [
    Caller::NoToken,
    Caller::Expired,
    Caller::Revoked,
    Caller::Deactivated,
    Caller::Agent,
    Caller::Lead,
    Caller::Admin,
    Caller::OtherOrg,
];

struct World {
    app: TestApp,
    agent: TestAgent,
    lead: TestAgent,
    admin: TestAgent,
    outsider: TestAgent,
    expired: String,
    revoked: String,
    deactivated: String,
    /// The agent admin routes act on.
    target: TestAgent,
    /// Someone to log in as (the login route's body).
    login_email: String,
    chat_id: String,
    reminder_id: String,
    /// The lead's request for the agent's chat.
    chat_request_id: String,
    /// A team the lead made.
    team_id: String,
    /// A routing rule the lead made.
    rule_id: String,
    template_id: String,
    pipeline_id: String,
    /// The other org's own pipeline (its admin writes a flow for it).
    outsider_pipeline_id: String,
    flow_id: String,
}

fn tomorrow() -> i64 {
    sync_server::db::system_now_ms() + 86_400_000
}

const SECRET_TITLE: &str = "Secret title of the first org";

/// A flow for a pipeline with the stages New and Won.
fn flow_body(pipeline_id: &str) -> Value {
    json!({
        "name": "First answer", "pipeline_id": pipeline_id, "greeting": "Hello!",
        "done_stage": "Won",
        "questions": [{"key": "budget", "label": "Budget", "text": "Your budget?", "kind": "amount"}],
    })
}

async fn world(backend: Backend) -> World {
    let app = TestApp::spawn(backend).await;
    let agent = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let target = app.agent("Tara", Role::Agent).await;
    // Another org's admin: the most anyone outside this org can be.
    let other_org = sync_server::admin::create_org(&app.db, "Other Org", "Europe/Berlin", None)
        .await
        .unwrap();
    let outsider = app.agent_in(&other_org.id, "Otto", Role::Admin).await;
    let login = app.agent("Lou", Role::Agent).await;

    // An expired login: written as the server would have, a while ago.
    let expired = new_secret("bt_");
    sqlx::query(
        "INSERT INTO tokens (id, agent_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, 1, 2)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&agent.id)
    .bind(hash_secret(&expired))
    .execute(app.db.writer())
    .await
    .unwrap();
    let revoked = app.agent_session(&agent).await;
    revoked.post_empty("/auth/logout").await.expect(204);
    let leaver = app.agent("Leo", Role::Agent).await;
    admin
        .post_empty(&format!("/agents/{}/deactivate", leaver.id))
        .await
        .expect(204);

    let chat_id = chat(1);
    agent.open_chat(&chat_id, SECRET_TITLE).await;
    agent.lock(&chat_id).await.expect(200);
    agent.release(&chat_id).await.expect(204);
    let reminder = agent
        .post(
            &format!("/conversations/{chat_id}/reminders"),
            json!({"due_at": tomorrow(), "text": "Call back"}),
        )
        .await
        .expect(201);
    let chat_request = lead
        .post(
            &format!("/conversations/{chat_id}/requests"),
            json!({"message": "Let me have it"}),
        )
        .await
        .expect(201);
    let team = lead
        .post("/teams", json!({"name": "Sales", "agent_ids": [agent.id]}))
        .await
        .expect(201);
    let rule = lead
        .post(
            "/routing/rules",
            json!({"name": "Sales by day", "target": {"team_id": team["id"]}, "strategy": "round_robin"}),
        )
        .await
        .expect(201);
    let template = lead
        .post(
            "/templates",
            json!({"name": "Greeting", "body": "Hi {{first_name}}"}),
        )
        .await
        .expect(201);
    let pipeline = lead
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    let pipeline_id = pipeline["id"].as_str().unwrap().to_owned();
    let flow = lead
        .post("/flows", flow_body(&pipeline_id))
        .await
        .expect(201);
    let outsider_pipeline = outsider
        .post(
            "/pipelines",
            json!({"name": "Their loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    World {
        outsider_pipeline_id: outsider_pipeline["id"].as_str().unwrap().to_owned(),
        flow_id: flow["id"].as_str().unwrap().to_owned(),
        pipeline_id,
        template_id: template["id"].as_str().unwrap().to_owned(),
        rule_id: rule["id"].as_str().unwrap().to_owned(),
        team_id: team["id"].as_str().unwrap().to_owned(),
        chat_request_id: chat_request["id"].as_str().unwrap().to_owned(),
        expired,
        revoked: revoked.token,
        deactivated: leaver.token,
        login_email: login.email,
        reminder_id: reminder["id"].as_str().unwrap().to_owned(),
        app,
        agent,
        lead,
        admin,
        outsider,
        target,
        chat_id,
    }
}

impl World {
    fn token(&self, caller: Caller) -> Option<&str> {
        Some(match caller {
            Caller::NoToken => return None,
            Caller::Expired => &self.expired,
            Caller::Revoked => &self.revoked,
            Caller::Deactivated => &self.deactivated,
            Caller::Agent => &self.agent.token,
            Caller::Lead => &self.lead.token,
            Caller::Admin => &self.admin.token,
            Caller::OtherOrg => &self.outsider.token,
        })
    }

    fn concrete(&self, path: &str) -> String {
        let id = if path.contains("/agents/") {
            &self.target.id
        } else if path.contains("/chat-requests/") {
            &self.chat_request_id
        } else if path.contains("/teams/") {
            &self.team_id
        } else if path.contains("/routing/rules/") {
            &self.rule_id
        } else if path.contains("/templates/") {
            &self.template_id
        } else if path.contains("/flows/") {
            &self.flow_id
        } else if path.contains("/pipelines/") {
            &self.pipeline_id
        } else {
            &self.reminder_id
        };
        path.replace("{chat_id}", &self.chat_id).replace("{id}", id)
    }

    /// A valid body for the route, so a refusal can only come from who is asking.
    fn body(&self, caller: Caller, method: &Method, path: &str) -> Option<Value> {
        let path = path.strip_prefix(protocol::API_PREFIX).unwrap_or(path);
        Some(match (method.as_str(), path) {
            ("POST", "/auth/login") => json!({"email": self.login_email, "password": PASSWORD}),
            // Another org registering the same WhatsApp chat gets a conversation of its own.
            ("PUT", "/conversations/{chat_id}") if caller == Caller::OtherOrg => {
                json!({"title": "The other org's own name for it"})
            }
            ("PUT", "/conversations/{chat_id}") => json!({"title": SECRET_TITLE}),
            ("PUT", "/conversations/{chat_id}/stage") => {
                json!({"pipeline_id": null, "stage": null})
            }
            ("POST", "/conversations/{chat_id}/handoff") => json!({
                "to_agent_id": self.lead.id, "done": "Quoted", "promised": "A call", "next_step": "Call"
            }),
            ("POST", "/conversations/{chat_id}/handoff/decline") => json!({"reason": "On leave"}),
            ("POST", "/conversations/{chat_id}/notes") => json!({"body": "A note"}),
            ("POST", "/conversations/{chat_id}/reminders") => {
                json!({"due_at": tomorrow(), "text": "Later"})
            }
            ("POST", "/conversations/{chat_id}/messages") => {
                json!({"message_id": "MSG1", "direction": "in"})
            }
            ("POST", "/conversations/{chat_id}/messages/history") => json!({"messages": [
                {"message_id": "OLD1", "direction": "in", "sent_at": 1_700_000_000_000_i64},
            ]}),
            ("POST", "/reminders/{id}/snooze") => json!({"minutes": 10}),
            ("POST", "/conversations/{chat_id}/requests") => json!({"message": "May I?"}),
            ("POST", "/teams") => json!({"name": format!("Team of {caller:?}")}),
            ("PUT", "/me/presence") => json!({"status": "away"}),
            ("PUT", "/org/business-hours") => {
                json!({"shifts": [{"weekday": "mon", "start": "09:00", "end": "18:00"}]})
            }
            ("POST", "/routing/rules") | ("PUT", "/routing/rules/{id}") => {
                // Another org's admin routes to someone of their own org.
                let target = if caller == Caller::OtherOrg {
                    &self.outsider.id
                } else {
                    &self.agent.id
                };
                json!({
                    "name": format!("Rule of {caller:?} ({method})"),
                    "target": {"agent_ids": [target]},
                    "strategy": "least_loaded",
                })
            }
            ("PUT", "/routing/rules/order") if caller == Caller::OtherOrg => json!({"ids": []}),
            ("PUT", "/routing/rules/order") => json!({"ids": [self.rule_id]}),
            ("PUT", "/teams/{id}") => json!({"name": format!("Renamed by {caller:?}")}),
            ("POST", "/templates") | ("PUT", "/templates/{id}") => json!({
                "name": format!("Template of {caller:?} ({method})"),
                "body": "Hello {{name}}",
            }),
            ("PUT", "/agents/{id}/routing") => json!({
                "skills": ["hindi"], "capacity": 5,
                "shifts": [{"weekday": "mon", "start": "09:00", "end": "18:00"}],
            }),
            ("POST", "/pipelines") => json!({"name": "Loans", "stages": ["New", "Won"]}),
            ("POST", "/flows") if caller == Caller::OtherOrg => {
                flow_body(&self.outsider_pipeline_id)
            }
            ("POST", "/flows") | ("PUT", "/flows/{id}") => flow_body(&self.pipeline_id),
            ("POST", "/responder/chats/{chat_id}/reply") => json!({"upto": "M1", "value": null}),
            ("POST", "/responder/chats/{chat_id}/send") => json!({"key": "1", "fence": 1}),
            ("POST", "/responder/chats/{chat_id}/sent") => json!({"key": "1"}),
            ("PUT", "/responder/status") => json!({"working": true}),
            ("PUT", "/org/responder-model") => json!({"enabled": false}),
            ("POST", "/agents") => json!({
                "name": "New Hire", "email": format!("new-{caller:?}@example.test"),
                "role": "agent", "password": "a long new password",
            }),
            ("PUT", "/pipelines/{id}") => json!({
                "name": format!("Home loans ({caller:?})"), "stages": ["New", "Won"],
            }),
            ("PUT", "/agents/{id}/password") => json!({"password": "a brand new password"}),
            ("PUT", "/agents/{id}/role") => json!({"role": "agent"}),
            _ => return None,
        })
    }

    /// Calls the route as `caller`: the status and the body as text.
    async fn call(&self, caller: Caller, method: &Method, path: &str) -> (u16, String) {
        let url = format!("{}{}", self.app.base, self.concrete(path));
        if path.ends_with("/events") {
            return self.open_stream(caller, &url).await;
        }
        let mut request = self.app.http().request(method.clone(), &url);
        if let Some(token) = self.token(caller) {
            request = request.bearer_auth(token);
        }
        if let Some(body) = self.body(caller, method, path) {
            request = request.json(&body);
        }
        let reply = request.send().await.unwrap();
        let status = reply.status().as_u16();
        (status, reply.text().await.unwrap())
    }

    /// The event stream is a WebSocket: only a real handshake reaches its authorization.
    async fn open_stream(&self, caller: Caller, url: &str) -> (u16, String) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url
            .replacen("http://", "ws://", 1)
            .into_client_request()
            .unwrap();
        if let Some(token) = self.token(caller) {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((mut socket, response)) => {
                let _ = socket.close(None).await;
                (response.status().as_u16(), String::new())
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
                response.status().as_u16(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            ),
            Err(err) => panic!("cannot reach the event stream: {err}"),
        }
    }

    /// What must not show in another org's answers.
    fn secrets(&self) -> [&str; 4] {
        [
            &self.app.org_id,
            SECRET_TITLE,
            &self.agent.id,
            &self.target.id,
        ]
    }
}

fn role_of(caller: Caller) -> Option<Needs> {
    match caller {
        Caller::Agent => Some(Needs::Agent),
        Caller::Lead => Some(Needs::Lead),
        Caller::Admin | Caller::OtherOrg => Some(Needs::Admin),
        _ => None,
    }
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Whether the answer is right for the cell; `Err` says why not.
fn judge(
    w: &World,
    caller: Caller,
    needs: Needs,
    foreign: Foreign,
    status: u16,
    body: &str,
) -> Result<(), String> {
    let code = error_code(body);
    if status >= 500 {
        return Err(format!("server error {status} {body}"));
    }
    if needs == Needs::Nobody {
        return if status == 401 || status == 403 {
            Err(format!("a public route refused: {status} {body}"))
        } else {
            Ok(())
        };
    }
    let Some(role) = role_of(caller) else {
        return if status == 401 && code == "unauthorized" {
            Ok(())
        } else {
            Err(format!("expected 401 unauthorized, got {status} {body}"))
        };
    };
    if caller == Caller::OtherOrg {
        return match foreign {
            Foreign::NotFound if status == 404 => Ok(()),
            Foreign::NotFound => Err(format!(
                "expected 404 for another org's thing, got {status} {body}"
            )),
            Foreign::OwnOrg if status < 400 => match w.secrets().iter().find(|s| body.contains(*s))
            {
                Some(secret) => Err(format!("another org saw {secret:?}")),
                None => Ok(()),
            },
            Foreign::OwnOrgState if status < 400 || status == 409 => {
                match w.secrets().iter().find(|s| body.contains(*s)) {
                    Some(secret) => Err(format!("another org saw {secret:?}")),
                    None => Ok(()),
                }
            }
            Foreign::OwnOrg | Foreign::OwnOrgState => Err(format!(
                "expected success in its own org, got {status} {body}"
            )),
            Foreign::Refused if status == 403 && code == "forbidden" => Ok(()),
            Foreign::Refused => Err(format!("expected 403 forbidden, got {status} {body}")),
        };
    }
    if role < needs {
        return if status == 403 && code == "forbidden" {
            Ok(())
        } else {
            Err(format!(
                "expected 403 forbidden for a {role:?}, got {status} {body}"
            ))
        };
    }
    // Allowed by role: whatever the chat's state makes of it (a conflict, a missing handoff), but
    // never a refusal of who is asking.
    if status == 401 || (status == 403 && code == "forbidden") {
        Err(format!("refused an allowed caller: {status} {body}"))
    } else {
        Ok(())
    }
}

async fn every_route_answers_every_kind_of_caller_as_it_should(backend: Backend) {
    let w = world(backend).await;
    let mut routes = sync_server::http::route_table();
    assert!(
        routes.len() >= 30,
        "the route table lists every route ({})",
        routes.len()
    );
    // Answering a handoff before one is made (so nobody is refused for not being its receiver);
    // reordering the rules before any are added;
    // registering the chat late (after it another org has a conversation of its own under the
    // same WhatsApp id, where this org's chat routes then work); logging out last (it ends the
    // caller's session).
    let order = |(m, p): &(Method, String)| match (m.as_str(), p.as_str()) {
        (_, p) if p.ends_with("/handoff/accept") || p.ends_with("/handoff/decline") => 0,
        // Before anyone adds rules, so each org's list is known: the setup's one, or none.
        (_, p) if p.ends_with("/routing/rules/order") => 0,
        ("PUT", p) if p.ends_with("/conversations/{chat_id}") => 2,
        ("POST", p) if p.ends_with("/auth/logout") => 3,
        _ => 1,
    };
    routes.sort_by_key(order);
    let mut problems = Vec::new();
    let mut cells = 0;
    for (method, path) in &routes {
        let Some((needs, foreign)) = row(method, path) else {
            problems.push(format!(
                "{method} {path}: no row in the authorization matrix; say who may call it"
            ));
            continue;
        };
        for caller in CALLERS {
            let (status, body) = w.call(caller, method, path).await;
            cells += 1;
            if let Err(why) = judge(&w, caller, needs, foreign, status, &body) {
                problems.push(format!("{method} {path} as {caller:?}: {why}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(cells, routes.len() * CALLERS.len());
    // Each route once: a path registered twice for one method would hide one of them.
    let mut unique = routes.clone();
    unique.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    unique.dedup();
    assert_eq!(unique.len(), routes.len(), "a route is listed twice");
    // Another org's admin left this org's chat as it was (read in a new session: the matrix
    // logged everyone out at the end).
    let agent = w.app.agent_session(&w.agent).await;
    let conversation = agent.conversation(&w.chat_id).await;
    assert_eq!(conversation["title"], SECRET_TITLE);
    let notes = agent
        .get(&format!("/conversations/{}/notes", w.chat_id))
        .await
        .expect(200);
    assert!(notes["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["author"]["id"] != w.outsider.id.as_str()));
}
