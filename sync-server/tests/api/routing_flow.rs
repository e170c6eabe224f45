//! Routing at work: new chats reach an eligible agent by the first matching rule (round robin or
//! least loaded; shifts, capacity, skills, presence), wait in the queue when nobody is free and
//! leave it when someone is, move on when the assignee does not answer, and follow a stage rule
//! to another team with a handoff carrying the notes. Every decision is in the timeline, and the
//! dry run predicts it. Time is routing's clock, set by the test (never waited for).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{
    chat, enc, eventually, eventually_explained, Backend, EventStream, TestAgent, TestApp,
};
use crate::on_both_backends;

on_both_backends!(
    round_robin_follows_shifts_and_presence_and_the_queue_drains_when_a_shift_starts,
    least_loaded_keeps_within_capacity_and_skills_and_a_closed_chat_frees_a_place,
    an_unanswered_chat_moves_on_once_per_message_and_never_back,
    a_stage_rule_hands_a_qualified_lead_to_sales_with_its_notes,
    the_dry_run_predicts_the_real_decision,
    take_next_gives_the_oldest_queued_chat_to_an_available_agent,
    shifts_follow_the_orgs_clock_across_edges_nights_exceptions_and_daylight_saving,
    the_readme_example_routes_a_monday_by_itself,
    round_robin_gives_three_agents_100_each_of_300_chats,
    hands_and_declines_after_routing_keep_the_queue_and_the_reason_true,
    a_deactivated_agents_chats_go_back_to_routing,
);

/// Reports an incoming message on `chat_id`, creating the chat if the server does not know it,
/// as any colleague's browser would.
async fn incoming(reporter: &TestAgent, chat_id: &str, message_id: &str) -> Value {
    reporter
        .post(
            &format!("/conversations/{}/messages", enc(chat_id)),
            json!({"message_id": message_id, "direction": "in", "if_missing": {"title": format!("Customer {message_id}")}}),
        )
        .await
        .expect(201)
}

/// Reports the agent's reply on `chat_id` (an outgoing message): the chat is answered.
async fn answer(agent: &TestAgent, chat_id: &str, message_id: &str) {
    agent
        .post(
            &format!("/conversations/{}/messages", enc(chat_id)),
            json!({"message_id": message_id, "direction": "out"}),
        )
        .await
        .expect(201);
}

fn owner_of(conversation: &Value) -> Option<String> {
    conversation["owner"]["id"].as_str().map(str::to_owned)
}

/// The chat's events of `kind`, as the timeline has them.
async fn timeline_of(viewer: &TestAgent, chat_id: &str, kind: &str) -> Vec<Value> {
    let body = viewer
        .get(&format!("/conversations/{}/timeline", enc(chat_id)))
        .await
        .expect(200);
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["data"].clone())
        .collect()
}

/// Waits until the chat's owner is `agent` (routing's timer acts after the test moved its clock).
/// If it never is, the failure says where the chat stands: its owner, the queue, the timeline and
/// everyone's presence.
async fn owned_by(viewer: &TestAgent, chat_id: &str, agent: &TestAgent) -> Value {
    eventually_explained(
        &format!("{chat_id} to reach {} ({})", agent.name, agent.id),
        || async {
            let conversation = viewer.conversation(chat_id).await;
            (owner_of(&conversation).as_deref() == Some(agent.id.as_str())).then_some(conversation)
        },
        || async {
            let timeline = viewer
                .get(&format!("/conversations/{}/timeline", enc(chat_id)))
                .await
                .expect(200);
            let queue = viewer.get("/queue").await.expect(200);
            let agents = viewer.get("/agents").await.expect(200);
            format!(
                ";\nconversation: {}\nqueue: {queue}\ntimeline: {timeline}\nagents: {agents}",
                viewer.conversation(chat_id).await
            )
        },
    )
    .await
}

/// Opens the agent's event stream: they are available while it is open.
async fn online(app: &TestApp, agent: &TestAgent) -> EventStream {
    let mut stream = agent.events(app.latest_seq().await).await;
    stream.backlog().await;
    stream
}

async fn team(lead: &TestAgent, name: &str, members: &[&TestAgent]) -> String {
    let ids: Vec<&str> = members.iter().map(|a| a.id.as_str()).collect();
    let team = lead
        .post("/teams", json!({"name": name, "agent_ids": ids}))
        .await
        .expect(201);
    team["id"].as_str().unwrap().to_owned()
}

async fn profile(lead: &TestAgent, agent: &TestAgent, profile: Value) {
    lead.put(&format!("/agents/{}/routing", agent.id), profile)
        .await
        .expect(200);
}

async fn queue_ids(viewer: &TestAgent) -> Vec<String> {
    let queue = viewer.get("/queue").await.expect(200);
    queue
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["chat_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn round_robin_follows_shifts_and_presence_and_the_queue_drains_when_a_shift_starts(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let day_shift = json!({"shifts": [{"weekday": "thu", "start": "09:00", "end": "18:00"}]});
    profile(&lena, &asha, day_shift.clone()).await;
    profile(&lena, &ravi, day_shift).await;
    let qualification = team(&lena, "Qualification", &[&asha, &ravi]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Qualification by day", "match": {"new_chat": true},
               "target": {"team_id": qualification}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    // Thursday 26 November 2026, 10:00 in Kolkata; both on shift and online.
    app.set_routing_time(2026, 11, 26, 10, 0).await;
    let _asha_online = online(&app, &asha).await;
    let _ravi_online = online(&app, &ravi).await;

    incoming(&lena, &chat(1), "M1").await;
    incoming(&lena, &chat(2), "M2").await;
    let first = owner_of(&lena.conversation(&chat(1)).await).expect("routed at once");
    let second = owner_of(&lena.conversation(&chat(2)).await).expect("routed at once");
    assert_ne!(first, second, "round robin takes turns");
    let assigned = timeline_of(&lena, &chat(1), "routing.assigned").await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0]["rule"]["name"], "Qualification by day");
    assert_eq!(assigned[0]["strategy"], "round_robin");
    assert_eq!(assigned[0]["trigger"], "new_chat");
    assert_eq!(assigned[0]["eligible"].as_array().unwrap().len(), 2);
    assert!(
        assigned[0]["explanation"]
            .as_str()
            .unwrap()
            .starts_with("Rule “Qualification by day” (round robin) gave the chat to "),
        "{}",
        assigned[0]["explanation"]
    );
    let reason = lena.conversation(&chat(1)).await["routed_by"].clone();
    assert_eq!(reason["rule"]["name"], "Qualification by day");
    // A chat the server knows already is not routed again by a later message.
    incoming(&lena, &chat(1), "M1b").await;
    assert_eq!(
        timeline_of(&lena, &chat(1), "routing.assigned").await.len(),
        1
    );

    // Asha steps away: the next chat goes to Ravi, and the timeline says why not Asha.
    asha.put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    incoming(&lena, &chat(3), "M3").await;
    assert_eq!(
        owner_of(&lena.conversation(&chat(3)).await).as_deref(),
        Some(ravi.id.as_str())
    );
    let why = &timeline_of(&lena, &chat(3), "routing.assigned").await[0];
    assert_eq!(
        why["refused"],
        json!([{"agent": {"id": asha.id, "name": "Asha"}, "reason": "away"}])
    );

    // 18:00 ends the shift (the end is not part of it): nobody is eligible, the chat waits.
    app.set_routing_time(2026, 11, 26, 18, 0).await;
    incoming(&lena, &chat(4), "M4").await;
    assert_eq!(owner_of(&lena.conversation(&chat(4)).await), None);
    let queued = timeline_of(&lena, &chat(4), "routing.queued").await;
    assert_eq!(queued.len(), 1);
    let explanation = queued[0]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("found nobody eligible") && explanation.contains("Ravi (off shift)"),
        "{explanation}"
    );
    assert_eq!(queue_ids(&asha).await, [chat(4)]);
    let listed = &asha.get("/queue").await.expect(200)[0];
    assert!(listed["waited_ms"].as_i64().unwrap() >= 0);
    assert_eq!(
        lena.conversation(&chat(4)).await["queued_at"],
        listed["queued_at"]
    );

    // Next Thursday 09:00 the shift starts and the queue drains to whoever is eligible: Ravi
    // (Asha is still away).
    app.set_routing_time(2026, 12, 3, 9, 0).await;
    owned_by(&lena, &chat(4), &ravi).await;
    let drained = timeline_of(&lena, &chat(4), "routing.assigned").await;
    assert_eq!(drained.len(), 1);
    assert_eq!(drained[0]["trigger"], "queue");
    assert!(queue_ids(&asha).await.is_empty());
}

async fn least_loaded_keeps_within_capacity_and_skills_and_a_closed_chat_frees_a_place(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let meena = app.agent("Meena", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    profile(&lena, &asha, json!({"skills": ["hindi"], "capacity": 1})).await;
    profile(&lena, &ravi, json!({"skills": ["hindi"], "capacity": 2})).await;
    let support = team(&lena, "Support", &[&asha, &ravi, &meena]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Hindi support", "match": {"skill": "hindi"},
               "target": {"team_id": support}, "strategy": "least_loaded"}),
    )
    .await
    .expect(201);
    let _online: Vec<EventStream> = vec![
        online(&app, &asha).await,
        online(&app, &ravi).await,
        online(&app, &meena).await,
    ];

    incoming(&lena, &chat(1), "M1").await;
    incoming(&lena, &chat(2), "M2").await;
    let owners: Vec<String> = [
        owner_of(&lena.conversation(&chat(1)).await).unwrap(),
        owner_of(&lena.conversation(&chat(2)).await).unwrap(),
    ]
    .into();
    assert!(
        owners.contains(&asha.id) && owners.contains(&ravi.id),
        "both start with none open: one each ({owners:?})"
    );
    let decision = &timeline_of(&lena, &chat(2), "routing.assigned").await[0];
    let refusals: Vec<&str> = decision["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(refusals.contains(&"without the skill hindi"), "{decision}");
    // Asha is full (1 of 1): the third goes to Ravi.
    incoming(&lena, &chat(3), "M3").await;
    assert_eq!(
        owner_of(&lena.conversation(&chat(3)).await).as_deref(),
        Some(ravi.id.as_str())
    );
    let full = &timeline_of(&lena, &chat(3), "routing.assigned").await[0];
    assert!(
        full["explanation"]
            .as_str()
            .unwrap()
            .contains("Asha (at capacity (1 of 1 chats open))"),
        "{full}"
    );
    // Now both are full: the fourth waits.
    incoming(&lena, &chat(4), "M4").await;
    assert_eq!(owner_of(&lena.conversation(&chat(4)).await), None);
    assert_eq!(queue_ids(&lena).await, [chat(4)]);
    // Asha closes her chat: a place frees and the queue gives it to her.
    let asha_chat = if owners[0] == asha.id {
        chat(1)
    } else {
        chat(2)
    };
    asha.post_empty(&format!("/conversations/{}/close", enc(&asha_chat)))
        .await
        .expect(200);
    owned_by(&lena, &chat(4), &asha).await;
    let listed = lena.get("/agents").await.expect(200);
    for agent in listed["items"].as_array().unwrap() {
        if let Some(capacity) = agent["capacity"].as_u64() {
            assert!(agent["open_chats"].as_u64().unwrap() <= capacity, "{agent}");
        }
    }
}

async fn an_unanswered_chat_moves_on_once_per_message_and_never_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let support = team(&lena, "Support", &[&asha, &ravi]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Support", "target": {"team_id": support},
               "strategy": "round_robin", "reassign_after_secs": 300}),
    )
    .await
    .expect(201);
    let _online = [online(&app, &asha).await, online(&app, &ravi).await];
    let chat_id = chat(1);
    let routing = format!("/conversations/{}/routing", enc(&chat_id));

    incoming(&lena, &chat_id, "M1").await;
    let first = owner_of(&lena.conversation(&chat_id).await).unwrap();
    let (first_agent, other) = if first == asha.id {
        (&asha, &ravi)
    } else {
        (&ravi, &asha)
    };
    // The message that routed the chat waits for its new owner's answer.
    let due = lena.get(&routing).await.expect(200)["reply_due_at"]
        .as_i64()
        .expect("the limit runs");
    // The owner takes the reply lock and starts typing; the fence goes stale later.
    let lock = first_agent.lock(&chat_id).await.expect(200);
    // The customer writes again: the limit runs on from the first message, not restarted.
    incoming(&lena, &chat_id, "M2").await;
    assert_eq!(
        lena.get(&routing).await.expect(200)["reply_due_at"].as_i64(),
        Some(due)
    );
    // Nobody answers: five minutes on, the chat moves to the other agent.
    app.advance_routing(Duration::from_secs(300));
    owned_by(&lena, &chat_id, other).await;
    let moved = timeline_of(&lena, &chat_id, "routing.reassigned").await;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["trigger"], "no_reply");
    assert_eq!(moved[0]["previous_owner"]["id"], first_agent.id.as_str());
    assert!(
        moved[0]["explanation"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{} did not answer within 5 min: rule “Support”",
                first_agent.name
            )),
        "{}",
        moved[0]
    );
    assert_eq!(
        moved[0]["refused"][0]["reason"], "did not answer in time",
        "never back to the one who did not answer"
    );
    let stale = first_agent
        .post(
            &format!("/conversations/{}/messages", enc(&chat_id)),
            json!({"message_id": "LATE", "direction": "out", "fence": lock["fence"]}),
        )
        .await;
    stale.expect_error(409, "stale_fence");
    // Once per message: no limit runs for what waited; the customer's next message starts one.
    assert!(lena.get(&routing).await.expect(200)["reply_due_at"].is_null());

    // A new message starts a new limit for the new owner; their answer stops it.
    incoming(&lena, &chat_id, "M3").await;
    assert!(lena.get(&routing).await.expect(200)["reply_due_at"].is_i64());
    let lock = other.lock(&chat_id).await.expect(200);
    other
        .post(
            &format!("/conversations/{}/messages", enc(&chat_id)),
            json!({"message_id": "R3", "direction": "out", "fence": lock["fence"]}),
        )
        .await
        .expect(201);
    assert!(lena.get(&routing).await.expect(200)["reply_due_at"].is_null());

    // Nobody else eligible: the chat stays, and the timeline says so.
    incoming(&lena, &chat_id, "M4").await;
    first_agent
        .put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    app.advance_routing(Duration::from_secs(301));
    let kept = eventually("the no-reply decision", || async {
        let moved = timeline_of(&lena, &chat_id, "routing.reassigned").await;
        (moved.len() == 2).then(|| moved[1].clone())
    })
    .await;
    assert!(kept["owner"].is_null(), "{kept}");
    assert!(
        kept["explanation"].as_str().unwrap().contains(&format!(
            "nobody else was eligible under rule “Support”: the chat stays with {}",
            other.name
        )),
        "{kept}"
    );
    assert_eq!(
        owner_of(&lena.conversation(&chat_id).await).as_deref(),
        Some(other.id.as_str())
    );
}

async fn a_stage_rule_hands_a_qualified_lead_to_sales_with_its_notes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let meena = app.agent("Meena", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Qualified", "Won"]}),
        )
        .await
        .expect(201);
    let qualification = team(&lena, "Qualification", &[&asha]).await;
    let sales = team(&lena, "Sales", &[&ravi]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Qualification", "match": {"new_chat": true},
               "target": {"team_id": qualification}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Sales for qualified leads",
               "match": {"pipeline_id": pipeline["id"], "stage": "Qualified"},
               "target": {"team_id": sales}, "strategy": "least_loaded"}),
    )
    .await
    .expect(201);
    let _asha_online = online(&app, &asha).await;
    let ravi_online = online(&app, &ravi).await;
    let qualified = json!({"pipeline_id": pipeline["id"], "stage": "Qualified"});

    let chat_id = chat(1);
    incoming(&lena, &chat_id, "M1").await;
    owned_by(&lena, &chat_id, &asha).await;
    asha.post(
        &format!("/conversations/{}/notes", enc(&chat_id)),
        json!({"body": "Wants a 20-year loan; salary slips sent"}),
    )
    .await
    .expect(201);
    // At "New" the sales rule does not apply; at "Qualified" it hands the lead over, live.
    asha.put(
        &format!("/conversations/{}/stage", enc(&chat_id)),
        json!({"pipeline_id": pipeline["id"], "stage": "New"}),
    )
    .await
    .expect(200);
    assert_eq!(
        owner_of(&lena.conversation(&chat_id).await).as_deref(),
        Some(asha.id.as_str())
    );
    let moved = asha
        .put(
            &format!("/conversations/{}/stage", enc(&chat_id)),
            qualified.clone(),
        )
        .await
        .expect(200);
    assert_eq!(owner_of(&moved).as_deref(), Some(ravi.id.as_str()));
    assert_eq!(
        moved["routed_by"]["rule"]["name"],
        "Sales for qualified leads"
    );
    let handoff = &moved["pending_handoff"];
    assert_eq!(handoff["to"]["id"], ravi.id.as_str());
    assert_eq!(handoff["from"]["id"], asha.id.as_str());
    assert_eq!(handoff["by"]["id"], asha.id.as_str());
    let done = handoff["done"].as_str().unwrap();
    assert!(
        done.contains("Moved to Qualified by Asha")
            && done.contains("Asha: Wants a 20-year loan; salary slips sent"),
        "{done}"
    );
    let assigned = timeline_of(&lena, &chat_id, "routing.assigned").await;
    assert_eq!(assigned.last().unwrap()["trigger"], "stage_changed");
    drop(ravi_online);

    // A chat someone claimed by hand stays with them whatever its stage.
    let claimed = chat(2);
    meena.open_chat(&claimed, "Walk-in").await;
    meena.lock(&claimed).await.expect(200);
    meena
        .put(
            &format!("/conversations/{}/stage", enc(&claimed)),
            qualified.clone(),
        )
        .await
        .expect(200);
    assert_eq!(
        owner_of(&lena.conversation(&claimed).await).as_deref(),
        Some(meena.id.as_str())
    );
    let preview = lena
        .get(&format!("/conversations/{}/routing", enc(&claimed)))
        .await
        .expect(200);
    assert_eq!(preview["would_route"], false);

    // Nobody in sales is online: the qualified lead waits in the queue, then reaches sales
    // with its handoff when Ravi comes online.
    eventually("Ravi to be offline", || async {
        let agents = lena.get("/agents").await.expect(200);
        agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == ravi.id.as_str() && a["presence"] == "offline")
            .then_some(())
    })
    .await;
    let waiting = chat(3);
    incoming(&lena, &waiting, "M3").await;
    owned_by(&lena, &waiting, &asha).await;
    let queued = asha
        .put(
            &format!("/conversations/{}/stage", enc(&waiting)),
            qualified,
        )
        .await
        .expect(200);
    assert!(queued["owner"].is_null(), "{queued}");
    assert!(queued["queued_at"].is_i64());
    let _ravi_back = online(&app, &ravi).await;
    let reached = owned_by(&lena, &waiting, &ravi).await;
    assert_eq!(reached["pending_handoff"]["from"]["id"], asha.id.as_str());
    assert_eq!(reached["pending_handoff"]["to"]["id"], ravi.id.as_str());
}

async fn the_dry_run_predicts_the_real_decision(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Won deals", "match": {"pipeline_id": pipeline["id"], "stage": "Won"},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Evenings", "match": {"from": "18:00", "to": "23:00"},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Everyone", "target": {"agent_ids": [asha.id, ravi.id]},
               "strategy": "least_loaded"}),
    )
    .await
    .expect(201);
    app.set_routing_time(2026, 11, 26, 11, 30).await;
    let _ravi_online = online(&app, &ravi).await;
    let chat_id = chat(1);
    lena.open_chat(&chat_id, "Priya").await;
    let path = format!("/conversations/{}/routing", enc(&chat_id));
    asha.get(&path).await.expect_error(403, "forbidden");
    let preview = lena.get(&path).await.expect(200);
    assert_eq!(preview["would_route"], true);
    assert_eq!(
        preview["skipped"],
        json!([
            {"rule": preview["skipped"][0]["rule"], "reason": "the chat is not in the rule's pipeline"},
            {"rule": preview["skipped"][1]["rule"], "reason": "11:30 is outside its hours (18:00 to 23:00)"},
        ])
    );
    assert_eq!(preview["decision"]["rule"]["name"], "Everyone");
    assert_eq!(preview["decision"]["owner"]["id"], ravi.id.as_str());
    // Nothing changed.
    assert_eq!(owner_of(&lena.conversation(&chat_id).await), None);
    assert!(timeline_of(&lena, &chat_id, "routing.assigned")
        .await
        .is_empty());
    // The real decision is the one predicted, word for word.
    incoming(&lena, &chat_id, "M1").await;
    let real = &timeline_of(&lena, &chat_id, "routing.assigned").await[0];
    assert_eq!(real, &preview["decision"]);
}

async fn take_next_gives_the_oldest_queued_chat_to_an_available_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    // Without rules an org works by hand: a new chat is nobody's, and not queued.
    incoming(&lena, &chat(99), "M99").await;
    assert!(lena.conversation(&chat(99)).await["queued_at"].is_null());
    assert!(timeline_of(&lena, &chat(99), "routing.queued")
        .await
        .is_empty());
    // A rule for won deals only: every new chat waits in the queue, oldest first.
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Won deals", "match": {"pipeline_id": pipeline["id"], "stage": "Won"},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    for n in 1..=3 {
        incoming(&lena, &chat(n), &format!("M{n}")).await;
        let queued = timeline_of(&lena, &chat(n), "routing.queued").await;
        assert_eq!(
            queued[0]["explanation"], "No routing rule matches this chat: it waits in the queue.",
            "chat {n}"
        );
    }
    assert_eq!(queue_ids(&lena).await, [chat(1), chat(2), chat(3)]);
    asha.post_empty("/queue/take")
        .await
        .expect_error(409, "not_eligible");
    let _online = online(&app, &asha).await;
    asha.put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    let away = asha
        .post_empty("/queue/take")
        .await
        .expect_error(409, "not_eligible");
    assert!(away["message"].as_str().unwrap().contains("away"), "{away}");
    asha.put("/me/presence", json!({"status": "available"}))
        .await
        .expect(200);
    let taken = asha.post_empty("/queue/take").await.expect(200);
    assert_eq!(taken["chat_id"], chat(1).as_str());
    assert_eq!(owner_of(&taken).as_deref(), Some(asha.id.as_str()));
    assert_eq!(queue_ids(&lena).await, [chat(2), chat(3)]);
    profile(&lena, &asha, json!({"capacity": 1})).await;
    let full = asha
        .post_empty("/queue/take")
        .await
        .expect_error(409, "not_eligible");
    assert!(
        full["message"].as_str().unwrap().contains("capacity"),
        "{full}"
    );
    profile(&lena, &asha, json!({})).await;
    asha.post_empty("/queue/take").await.expect(200);
    asha.post_empty("/queue/take").await.expect(200);
    asha.post_empty("/queue/take")
        .await
        .expect_error(409, "queue_empty");
    // A queued chat claimed by typing leaves the queue for good, even if given back later.
    incoming(&lena, &chat(4), "M4").await;
    assert_eq!(queue_ids(&lena).await, [chat(4)]);
    let lock = asha.lock(&chat(4)).await.expect(200);
    assert_eq!(lock["claimed"], true);
    assert!(queue_ids(&lena).await.is_empty());
    asha.delete(&format!("/conversations/{}/owner", enc(&chat(4))))
        .await
        .expect(200);
    app.advance_routing(Duration::ZERO);
    eventually("the given-back chat to stay out of the queue", || async {
        queue_ids(&lena).await.is_empty().then_some(())
    })
    .await;
    asha.post_empty("/queue/take")
        .await
        .expect_error(409, "queue_empty");
}

/// Two server instances on one PostgreSQL database, 200 new chats arriving at once through
/// both: each is assigned exactly once, nobody goes over capacity, and round robin's shares
/// differ by at most one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_route_200_simultaneous_chats_exactly_once() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    let second = app.second_instance().await;
    let lena = app.agent("Lena", Role::Lead).await;
    let agents = [
        app.agent("Asha", Role::Agent).await,
        app.agent("Ravi", Role::Agent).await,
        app.agent("Meena", Role::Agent).await,
    ];
    for agent in &agents {
        profile(&lena, agent, json!({"capacity": 70})).await;
    }
    let everyone = team(&lena, "Everyone", &[&agents[0], &agents[1], &agents[2]]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Round", "target": {"team_id": everyone}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    let mut streams = Vec::new();
    for agent in &agents {
        streams.push(online(&app, agent).await);
    }
    let reporters = [lena.via(&app.base), lena.via(&second)];
    let reporters = &reporters;
    let reports = (0..200u64).map(|n| {
        let reporter = &reporters[(n % 2) as usize];
        async move {
            // Every browser sees every chat: both report it, through different instances.
            let id = chat(1000 + n);
            let body = json!({"message_id": format!("M{n}"), "direction": "in", "if_missing": {"title": "Lead"}});
            let path = format!("/conversations/{}/messages", enc(&id));
            let (a, b) = tokio::join!(
                reporter.post(&path, body.clone()),
                reporters[1 - (n % 2) as usize].post(&path, body)
            );
            assert!(a.status.is_success() && b.status.is_success(), "{a:?} {b:?}");
        }
    });
    futures_util::stream::iter(reports)
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    let mut shares: BTreeMap<String, u32> = BTreeMap::new();
    for n in 0..200u64 {
        let id = chat(1000 + n);
        let owner = owner_of(&lena.conversation(&id).await).expect("every chat is assigned");
        *shares.entry(owner).or_default() += 1;
        assert_eq!(
            timeline_of(&lena, &id, "routing.assigned").await.len(),
            1,
            "{id} assigned exactly once"
        );
    }
    let counts: Vec<u32> = shares.values().copied().collect();
    assert_eq!(counts.iter().sum::<u32>(), 200);
    assert_eq!(counts.len(), 3);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{shares:?}"
    );
    assert!(counts.iter().all(|&c| c <= 70), "{shares:?}");
}

/// Year, month, day, hour, minute.
type WallTime = (i32, u32, u32, u32, u32);

/// Whether Ravi is on shift, as routing decides it, at each time: shift edges, an overnight
/// shift, a day off and extra hours, in Kolkata and then in Berlin across daylight saving. Read
/// through the dry run, which is the real decision without acting on it.
async fn shifts_follow_the_orgs_clock_across_edges_nights_exceptions_and_daylight_saving(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    profile(
        &lena,
        &ravi,
        json!({
            "shifts": [
                {"weekday": "thu", "start": "09:00", "end": "18:00"},
                {"weekday": "fri", "start": "22:00", "end": "06:00"},
            ],
            "exceptions": [
                {"date": "2026-12-03", "hours": []},
                {"date": "2026-12-05", "hours": [{"start": "10:00", "end": "12:00"}]},
            ],
        }),
    )
    .await;
    lena.post(
        "/routing/rules",
        json!({"name": "Ravi", "target": {"agent_ids": [ravi.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    let _online = online(&app, &ravi).await;
    lena.open_chat(&chat(1), "Priya").await;
    let path = format!("/conversations/{}/routing", enc(&chat(1)));
    let kolkata = chrono_tz::Asia::Kolkata;
    let berlin = chrono_tz::Europe::Berlin;
    let table: [(&str, chrono_tz::Tz, WallTime, bool); 12] = [
        ("before the shift", kolkata, (2026, 11, 26, 8, 59), false),
        ("its first minute", kolkata, (2026, 11, 26, 9, 0), true),
        ("its last minute", kolkata, (2026, 11, 26, 17, 59), true),
        ("its end", kolkata, (2026, 11, 26, 18, 0), false),
        ("a night shift", kolkata, (2026, 11, 27, 23, 30), true),
        ("past midnight", kolkata, (2026, 11, 28, 5, 59), true),
        ("the night's end", kolkata, (2026, 11, 28, 6, 0), false),
        ("a day off", kolkata, (2026, 12, 3, 10, 0), false),
        ("extra hours", kolkata, (2026, 12, 5, 11, 0), true),
        ("winter time", berlin, (2026, 3, 26, 9, 0), true),
        ("summer time", berlin, (2026, 4, 2, 9, 0), true),
        ("summer time, early", berlin, (2026, 4, 2, 8, 59), false),
    ];
    for (what, tz, (y, mo, d, h, mi), on_shift) in table {
        sqlx::query("UPDATE orgs SET timezone = $1 WHERE id = $2")
            .bind(tz.name())
            .bind(&app.org_id)
            .execute(app.db.writer())
            .await
            .unwrap();
        app.set_routing_time_in(tz, y, mo, d, h, mi).await;
        let decision = lena.get(&path).await.expect(200)["decision"].clone();
        if on_shift {
            assert_eq!(
                decision["owner"]["id"],
                ravi.id.as_str(),
                "{what}: {decision}"
            );
        } else {
            assert!(decision["owner"].is_null(), "{what}: {decision}");
            assert_eq!(decision["refused"][0]["reason"], "off shift", "{what}");
        }
    }
}

/// The README's example setup (`examples/routing.json`, applied as the admin command line does)
/// and a Monday of new chats: before hours they wait, at nine the queue drains to the agent on
/// shift, round robin shares them once a second shift starts, an unanswered chat moves on, a
/// qualified lead goes to sales and a customer to support, and after hours they wait again —
/// every decision in the timeline, in words.
async fn the_readme_example_routes_a_monday_by_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha Rao", Role::Lead).await;
    let ravi = app.agent("Ravi Kumar", Role::Agent).await;
    let meera = app.agent("Meera Iyer", Role::Agent).await;
    let pipeline = asha
        .post(
            "/pipelines",
            json!({"name": "Sales", "stages": ["New", "Qualified", "Proposal", "Won", "Lost"]}),
        )
        .await
        .expect(201);
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/routing.json"
    ))
    .unwrap()
    .replace("asha@demo.baton", &asha.email)
    .replace("ravi@demo.baton", &ravi.email)
    .replace("meera@demo.baton", &meera.email);
    let setup = serde_json::from_str(&example).unwrap();
    sync_server::routing::setup::apply(&app.db, &app.cli_hub(), &app.org_id, setup)
        .await
        .unwrap();
    let rules = asha.get("/routing/rules").await.expect(200);
    assert_eq!(rules.as_array().unwrap().len(), 3);
    let _online = [
        online(&app, &asha).await,
        online(&app, &ravi).await,
        online(&app, &meera).await,
    ];
    let owner = |chat_id: String| {
        let asha = &asha;
        async move { owner_of(&asha.conversation(&chat_id).await) }
    };

    // Monday 30 November 2026, 08:30: before the rule's hours, the first chat waits.
    app.set_routing_time(2026, 11, 30, 8, 30).await;
    incoming(&asha, &chat(1), "M1").await;
    assert_eq!(owner(chat(1)).await, None);
    assert_eq!(queue_ids(&asha).await, [chat(1)]);
    // 09:00: the rule applies and Ravi's shift starts (Meera's at 11): the queue drains to him.
    app.set_routing_time(2026, 11, 30, 9, 0).await;
    owned_by(&asha, &chat(1), &ravi).await;
    incoming(&asha, &chat(2), "M2").await;
    incoming(&asha, &chat(3), "M3").await;
    assert_eq!(owner(chat(2)).await.as_deref(), Some(ravi.id.as_str()));
    assert_eq!(owner(chat(3)).await.as_deref(), Some(ravi.id.as_str()));
    // Ravi answers each (within the rule's five minutes, so they stay his).
    for n in 1..=3 {
        answer(&ravi, &chat(n), &format!("R{n}")).await;
    }
    let why = &timeline_of(&asha, &chat(2), "routing.assigned").await[0];
    assert!(
        why["explanation"]
            .as_str()
            .unwrap()
            .contains("Meera Iyer (off shift)"),
        "{why}"
    );
    // 11:30: Meera is on too; round robin takes turns.
    app.set_routing_time(2026, 11, 30, 11, 30).await;
    incoming(&asha, &chat(4), "M4").await;
    incoming(&asha, &chat(5), "M5").await;
    let (four, five) = (owner(chat(4)).await.unwrap(), owner(chat(5)).await.unwrap());
    assert_ne!(four, five, "turns");
    let fifth_owner = if five == ravi.id { &ravi } else { &meera };
    answer(fifth_owner, &chat(5), "R5").await;
    // Chat 4's customer writes again and nobody answers for five minutes: it moves on.
    incoming(&asha, &chat(4), "M4b").await;
    app.advance_routing(Duration::from_secs(300));
    let moved = eventually("chat 4 to move on", || async {
        let now = owner(chat(4)).await?;
        (now != four).then_some(now)
    })
    .await;
    assert_eq!(moved, five, "to the other one on shift");
    // Ravi qualifies chat 2: it goes to sales (Asha) with the notes.
    ravi.post(
        &format!("/conversations/{}/notes", enc(&chat(2))),
        json!({"body": "Budget 80 lakh, wants Whitefield"}),
    )
    .await
    .expect(201);
    let moved = ravi
        .put(
            &format!("/conversations/{}/stage", enc(&chat(2))),
            json!({"pipeline_id": pipeline["id"], "stage": "Qualified"}),
        )
        .await
        .expect(200);
    assert_eq!(owner_of(&moved).as_deref(), Some(asha.id.as_str()));
    assert!(moved["pending_handoff"]["done"]
        .as_str()
        .unwrap()
        .contains("Budget 80 lakh, wants Whitefield"));
    // Chat 3 is won: a customer now, for support (Meera or Asha, whoever has fewer open).
    let won = ravi
        .put(
            &format!("/conversations/{}/stage", enc(&chat(3))),
            json!({"pipeline_id": pipeline["id"], "stage": "Won"}),
        )
        .await
        .expect(200);
    let support = owner_of(&won).unwrap();
    assert!(support == meera.id || support == asha.id, "{won}");
    assert_eq!(won["routed_by"]["rule"]["name"], "Support for customers");
    // 19:00: the day is over; a new chat waits for the morning.
    app.set_routing_time(2026, 11, 30, 19, 0).await;
    incoming(&asha, &chat(6), "M6").await;
    assert_eq!(owner(chat(6)).await, None);
    assert_eq!(
        timeline_of(&asha, &chat(6), "routing.queued").await[0]["explanation"],
        "No routing rule matches this chat: it waits in the queue."
    );
    // Every chat's routing explains itself.
    for n in 1..=6 {
        let body = asha
            .get(&format!("/conversations/{}/timeline", enc(&chat(n))))
            .await
            .expect(200);
        let decisions: Vec<&Value> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"].as_str().unwrap().starts_with("routing."))
            .collect();
        assert!(!decisions.is_empty(), "chat {n}");
        for decision in decisions {
            assert!(
                !decision["data"]["explanation"].as_str().unwrap().is_empty(),
                "{decision}"
            );
        }
    }
}

/// Round robin's turn lives in the database: 300 new chats, eight arriving at a time, give three
/// agents exactly 100 each.
async fn round_robin_gives_three_agents_100_each_of_300_chats(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let agents = [
        app.agent("Asha", Role::Agent).await,
        app.agent("Ravi", Role::Agent).await,
        app.agent("Meena", Role::Agent).await,
    ];
    let everyone = team(&lena, "Everyone", &[&agents[0], &agents[1], &agents[2]]).await;
    lena.post(
        "/routing/rules",
        json!({"name": "Round", "target": {"team_id": everyone}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    let mut streams = Vec::new();
    for agent in &agents {
        streams.push(online(&app, agent).await);
    }
    let lena = &lena;
    futures_util::stream::iter((0..300u64).map(|n| async move {
        incoming(lena, &chat(2000 + n), &format!("M{n}")).await;
    }))
    .buffer_unordered(8)
    .collect::<Vec<()>>()
    .await;
    let listed = lena.get("/agents").await.expect(200);
    let mut shares: Vec<u64> = agents
        .iter()
        .map(|agent| {
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == agent.id.as_str())
                .unwrap()["open_chats"]
                .as_u64()
                .unwrap()
        })
        .collect();
    shares.sort_unstable();
    assert_eq!(shares, [100, 100, 100]);
}

/// What people do after routing keeps routing's record true: a chat a stage rule queued waits
/// for that stage's team even when a catch-all rule comes first; a chat handed on by hand no
/// longer claims to be routed; a declined handoff nobody can take back returns to the queue.
async fn hands_and_declines_after_routing_keep_the_queue_and_the_reason_true(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Qualified"]}),
        )
        .await
        .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Support", "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    lena.post(
        "/routing/rules",
        json!({"name": "Sales", "match": {"pipeline_id": pipeline["id"], "stage": "Qualified"},
               "target": {"agent_ids": [ravi.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    let _asha_online = online(&app, &asha).await;
    let qualified = json!({"pipeline_id": pipeline["id"], "stage": "Qualified"});

    // Routed to Asha by the catch-all; qualified while sales is offline: it waits for sales, and
    // the catch-all does not take it back.
    incoming(&lena, &chat(1), "M1").await;
    owned_by(&lena, &chat(1), &asha).await;
    let queued = asha
        .put(
            &format!("/conversations/{}/stage", enc(&chat(1))),
            qualified.clone(),
        )
        .await
        .expect(200);
    assert!(queued["owner"].is_null());
    let preview = lena
        .get(&format!("/conversations/{}/routing", enc(&chat(1))))
        .await
        .expect(200);
    assert_eq!(preview["decision"]["rule"]["name"], "Sales", "{preview}");
    let _ravi_online = online(&app, &ravi).await;
    owned_by(&lena, &chat(1), &ravi).await;
    assert_eq!(
        timeline_of(&lena, &chat(1), "routing.assigned").await.len(),
        2,
        "once by Support, once by Sales; never back to Support"
    );

    // Handed on by hand and back: it is Asha's by a person's choice now, not routing's.
    incoming(&lena, &chat(2), "M2").await;
    owned_by(&lena, &chat(2), &asha).await;
    let handoff = json!({"done": "Quoted", "promised": "A call", "next_step": "Call her"});
    let mut to_ravi = handoff.clone();
    to_ravi["to_agent_id"] = ravi.id.clone().into();
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat(2))),
        to_ravi,
    )
    .await
    .expect(201);
    let mut to_asha = handoff;
    to_asha["to_agent_id"] = asha.id.clone().into();
    ravi.post(
        &format!("/conversations/{}/handoff", enc(&chat(2))),
        to_asha,
    )
    .await
    .expect(201);
    let back = lena.conversation(&chat(2)).await;
    assert_eq!(owner_of(&back).as_deref(), Some(asha.id.as_str()));
    assert!(back["routed_by"].is_null(), "{back}");
    // So a stage change does not take it from her.
    asha.put(
        &format!("/conversations/{}/stage", enc(&chat(2))),
        qualified.clone(),
    )
    .await
    .expect(200);
    assert_eq!(
        owner_of(&lena.conversation(&chat(2)).await).as_deref(),
        Some(asha.id.as_str())
    );

    // A lead qualifies a chat nobody owned: routing hands it to sales; Ravi declines, and with
    // nobody to give it back to, it goes back to the queue — which gives it at once by the first
    // rule it meets (the catch-all: Asha), never back to Ravi. (Asserting the moment it waits
    // would race the routing timer the decline wakes.)
    lena.open_chat(&chat(3), "Walk-in").await;
    let handed = lena
        .put(
            &format!("/conversations/{}/stage", enc(&chat(3))),
            qualified,
        )
        .await
        .expect(200);
    assert_eq!(owner_of(&handed).as_deref(), Some(ravi.id.as_str()));
    assert!(handed["pending_handoff"]["from"].is_null());
    ravi.post(
        &format!("/conversations/{}/handoff/decline", enc(&chat(3))),
        json!({"reason": "Not my area"}),
    )
    .await
    .expect(200);
    let placed = owned_by(&lena, &chat(3), &asha).await;
    assert_eq!(placed["routed_by"]["rule"]["name"], "Support", "{placed}");
    assert!(!queue_ids(&lena).await.contains(&chat(3)));
}

/// An admin adds an agent, gives her a role, and deactivates another: the leaver's open chats
/// are nobody's at once and routing gives them to whoever is eligible.
async fn a_deactivated_agents_chats_go_back_to_routing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let lena = app.agent("Lena", Role::Lead).await;
    // A new hire, added from the API and able to log in.
    let hire = json!({"name": "Asha Rao", "email": "asha.rao@example.test", "role": "agent",
                      "password": "a long new password"});
    lena.post("/agents", hire.clone())
        .await
        .expect_error(403, "forbidden");
    let added = admin.post("/agents", hire.clone()).await.expect(201);
    assert_eq!(added["role"], "agent");
    admin
        .post("/agents", hire)
        .await
        .expect_error(409, "conflict");
    admin
        .post(
            "/agents",
            json!({"name": "X", "email": "x@example.test", "role": "agent", "password": "short"}),
        )
        .await
        .expect(422);
    // Roles: the last admin stays an admin; a new role ends the agent's logins so it holds at
    // once.
    admin
        .put(
            &format!("/agents/{}/role", admin.id),
            json!({"role": "lead"}),
        )
        .await
        .expect_error(422, "validation_failed");
    let promoted = admin
        .put(
            &format!("/agents/{}/role", added["id"].as_str().unwrap()),
            json!({"role": "lead"}),
        )
        .await
        .expect(200);
    assert_eq!(promoted["role"], "lead");
    lena.put(
        &format!("/agents/{}/role", ravi.id),
        json!({"role": "lead"}),
    )
    .await
    .expect_error(403, "forbidden");
    let login = app
        .login("asha.rao@example.test", "a long new password")
        .await;
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let asha_token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = ravi.with_token(&asha_token).get("/me").await.expect(200);
    assert_eq!(me["agent"]["role"], "lead", "logged in with the new role");
    let mut asha = ravi.with_token(&asha_token);
    asha.id = added["id"].as_str().unwrap().to_owned();
    asha.name = "Asha Rao".into();
    asha.email = "asha.rao@example.test".into();

    lena.post(
        "/routing/rules",
        json!({"name": "Everyone", "target": {"agent_ids": [ravi.id, asha.id]}, "strategy": "least_loaded"}),
    )
    .await
    .expect(201);
    let ravi_online = online(&app, &ravi).await;
    incoming(&lena, &chat(1), "M1").await;
    incoming(&lena, &chat(2), "M2").await;
    owned_by(&lena, &chat(1), &ravi).await;
    owned_by(&lena, &chat(2), &ravi).await;
    let _asha_online = online(&app, &asha).await;
    admin
        .post_empty(&format!("/agents/{}/deactivate", ravi.id))
        .await
        .expect(204);
    drop(ravi_online);
    for n in [1, 2] {
        owned_by(&lena, &chat(n), &asha).await;
        let kinds: Vec<String> = timeline_of(&lena, &chat(n), "routing.assigned")
            .await
            .iter()
            .map(|d| d["trigger"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, ["new_chat", "queue"], "chat {n}");
    }
}
