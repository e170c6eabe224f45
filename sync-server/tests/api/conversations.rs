//! Conversations: upsert, listing with filters and pages, pipeline stages, message metadata.

use std::collections::HashSet;

use protocol::api::Role;
use protocol::events::EventBody;
use serde_json::json;

use crate::common::{chat, enc, eventually, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    upserting_reports_what_whatsapp_shows,
    lists_filter_by_owner_and_stage_and_page_without_gaps,
    stages_move_within_pipelines_by_owner_or_lead,
    messages_are_recorded_once,
    a_read_needs_one_pooled_connection,
    an_owner_can_give_a_chat_back_to_the_team,
);

async fn upserting_reports_what_whatsapp_shows(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let direct = chat(100);
    let path = format!("/conversations/{}", enc(&direct));
    let joined = app.latest_seq().await;

    let created = asha.put(&path, json!({"title": "Priya"})).await.expect(201);
    assert_eq!(created["chat_id"], direct.as_str());
    assert_eq!(
        created["phone"],
        format!("+{}", direct.trim_end_matches("@c.us"))
    );
    assert!(created["owner"].is_null());
    assert_eq!(created["last_event_seq"], joined + 1);

    let seq = app.latest_seq().await;
    let same = asha.put(&path, json!({"title": "Priya"})).await.expect(200);
    assert_eq!(
        app.latest_seq().await,
        seq,
        "an unchanged upsert records nothing"
    );
    assert_eq!(same["created_at"], created["created_at"]);
    let renamed = asha
        .put(
            &path,
            json!({"title": "Priya Sharma", "phone": "+91 98765 40100"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["title"], "Priya Sharma");
    assert_eq!(renamed["phone"], "+91 98765 40100");
    assert_eq!(app.latest_seq().await, seq + 1);
    // Title refreshes are live state, not history.
    assert_eq!(
        asha.timeline_kinds(&direct).await,
        vec!["conversation.created"]
    );

    for (chat_id, title) in [
        ("179950657237125@lid", "Unknown number"),
        ("120363041234567890@g.us", "Site visit group"),
        ("972503235812-1352922145@g.us", "Old style group"),
    ] {
        let created = asha
            .put(
                &format!("/conversations/{}", enc(chat_id)),
                json!({"title": title}),
            )
            .await
            .expect(201);
        assert!(
            created["phone"].is_null(),
            "{chat_id} carries no phone number"
        );
    }
}

async fn lists_filter_by_owner_and_stage_and_page_without_gaps(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let pipeline = lead
        .post(
            "/pipelines",
            json!({"name": "Sales", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    for n in 0..7 {
        asha.open_chat(&chat(110 + n), &format!("Customer {n}"))
            .await;
    }
    asha.lock(&chat(110)).await.expect(200);
    asha.lock(&chat(111)).await.expect(200);
    ravi.lock(&chat(112)).await.expect(200);
    asha.put(
        &format!("/conversations/{}/stage", enc(&chat(111))),
        json!({"pipeline_id": pipeline["id"], "stage": "Won"}),
    )
    .await
    .expect(200);

    let ids = |body: &serde_json::Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["chat_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mine = asha.get("/conversations?owner=me").await.expect(200);
    assert_eq!(
        ids(&mine).into_iter().collect::<HashSet<_>>(),
        HashSet::from([chat(110), chat(111)])
    );
    assert_eq!(mine["items"][0]["lock"]["holder"]["name"], "Asha");
    for item in mine["items"].as_array().unwrap() {
        let chat_id = item["chat_id"].as_str().unwrap();
        let full = asha.conversation(chat_id).await;
        assert_eq!(item["last_event_seq"], full["last_event_seq"]);
        assert!(item["last_event_seq"].as_i64().unwrap() > 1);
    }
    let ravis = asha
        .get(&format!("/conversations?owner={}", ravi.id))
        .await
        .expect(200);
    assert_eq!(ids(&ravis), vec![chat(112)]);
    let queue = asha.get("/conversations?owner=none").await.expect(200);
    assert_eq!(ids(&queue).len(), 4);
    let won = asha.get("/conversations?stage=Won").await.expect(200);
    assert_eq!(ids(&won), vec![chat(111)]);
    assert_eq!(won["items"][0]["stage"]["pipeline_name"], "Sales");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/conversations?limit=3&cursor={}", enc(c)),
            None => "/conversations?limit=3".to_owned(),
        };
        let page = asha.get(&url).await.expect(200);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "every conversation once: {seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}

async fn stages_move_within_pipelines_by_owner_or_lead(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let sales = lead
        .post(
            "/pipelines",
            json!({"name": "Sales", "stages": ["New", "Visit", "Won"]}),
        )
        .await
        .expect(201);
    assert_eq!(sales["stages"], json!(["New", "Visit", "Won"]));
    let listed = asha.get("/pipelines").await.expect(200);
    assert_eq!(listed["items"][0]["id"], sales["id"]);

    let chat_id = chat(120);
    let stage = format!("/conversations/{}/stage", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    let moved = asha
        .put(
            &stage,
            json!({"pipeline_id": sales["id"], "stage": "Visit"}),
        )
        .await
        .expect(200);
    assert_eq!(moved["stage"]["stage"], "Visit");
    ravi.put(&stage, json!({"pipeline_id": sales["id"], "stage": "Won"}))
        .await
        .expect_error(403, "not_owner");
    lead.put(&stage, json!({"pipeline_id": sales["id"], "stage": "Won"}))
        .await
        .expect(200);
    let cleared = asha
        .put(&stage, json!({"pipeline_id": null, "stage": null}))
        .await
        .expect(200);
    assert!(cleared["stage"].is_null());

    let timeline = asha
        .get(&format!("/conversations/{}/timeline", enc(&chat_id)))
        .await
        .expect(200);
    let moves: Vec<(serde_json::Value, serde_json::Value)> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "stage.changed")
        .map(|e| {
            (
                e["data"]["previous"]["stage"].clone(),
                e["data"]["stage"]["stage"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!(null), json!("Visit")),
            (json!("Visit"), json!("Won")),
            (json!("Won"), json!(null)),
        ]
    );
    // The timeline pages by sequence number.
    let first = asha
        .get(&format!(
            "/conversations/{}/timeline?limit=2",
            enc(&chat_id)
        ))
        .await
        .expect(200);
    let after = first["next_cursor"].as_str().unwrap();
    let rest = asha
        .get(&format!(
            "/conversations/{}/timeline?after={after}",
            enc(&chat_id)
        ))
        .await
        .expect(200);
    assert_eq!(
        first["items"].as_array().unwrap().len() + rest["items"].as_array().unwrap().len(),
        timeline["items"].as_array().unwrap().len()
    );
}

async fn messages_are_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(130);
    let path = format!("/conversations/{}/messages", enc(&chat_id));
    let created = asha.open_chat(&chat_id, "Priya").await;

    let sent_at = created["created_at"].as_i64().unwrap() + 5;
    // The server clamps a time in its future to now: wait until the database clock has passed
    // sent_at rather than assume it has.
    eventually("the database clock to pass sent_at", || async {
        let now = asha.get("/me").await.expect(200)["server_time"].as_i64();
        now.filter(|&now| now > sent_at)
    })
    .await;
    let first = asha
        .post(
            &path,
            json!({"message_id": "ACCFD0B5", "direction": "in", "sent_at": sent_at}),
        )
        .await
        .expect(201);
    assert!(first["agent"].is_null());
    // Ravi's browser sees the same message and reports it too.
    let seq = app.latest_seq().await;
    let again = ravi
        .post(
            &path,
            json!({"message_id": "ACCFD0B5", "direction": "in", "sent_at": sent_at}),
        )
        .await
        .expect(200);
    assert_eq!(again, first);
    assert_eq!(app.latest_seq().await, seq);
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["last_activity_at"], sent_at);
    asha.post(
        &path,
        json!({"message_id": "X1", "direction": "in", "fence": 1}),
    )
    .await
    .expect_error(422, "validation_failed");

    // Asha's reply reaches Ravi's browser first, which reports it without a fence; her own
    // report, under her fence, still says she sent it.
    let fence = asha.lock(&chat_id).await.expect(200)["fence"].clone();
    let mut lena_sees = app
        .agent("Lena", Role::Lead)
        .await
        .events(app.latest_seq().await)
        .await;
    lena_sees.backlog().await;
    let reply = json!({"message_id": "3EB0REPLY", "direction": "out"});
    assert!(ravi.post(&path, reply).await.expect(201)["agent"].is_null());
    let fenced = json!({"message_id": "3EB0REPLY", "direction": "out", "fence": fence});
    let attributed = asha.post(&path, fenced).await.expect(200);
    assert_eq!(attributed["agent"]["name"], "Asha");
    // Colleagues hear who replied (their send guards warn of it), not just the unattributed copy.
    let senders: Vec<Option<String>> = [
        lena_sees.until_kind("message.recorded").await.0,
        lena_sees.until_kind("message.recorded").await.0,
    ]
    .into_iter()
    .map(|event| match event.body {
        EventBody::MessageRecorded(message) => message.agent.map(|a| a.name),
        other => panic!("not a message: {other:?}"),
    })
    .collect();
    assert_eq!(senders, [None, Some("Asha".to_owned())]);
}

/// A read holds one pooled connection and reads the clock through it: with a pool of one, parallel
/// reads queue for it instead of each waiting for a second connection until the pool gives up.
async fn a_read_needs_one_pooled_connection(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.db_max_connections = 1).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(140);
    asha.open_chat(&chat_id, "Priya").await;
    let path = format!("/conversations/{}", enc(&chat_id));
    let reads = (0..12).map(|_| asha.get(&path));
    for read in futures_util::future::join_all(reads).await {
        assert_eq!(read.expect(200)["chat_id"], chat_id.as_str());
    }
    asha.post(
        &format!("{path}/notes"),
        json!({"body": "written while others read"}),
    )
    .await
    .expect(201);
}

/// The owner (or a lead) can give a chat back: nobody owns it afterwards, the timeline says who
/// did it, and anyone may claim it again. Another agent may not; nor while a handoff waits.
async fn an_owner_can_give_a_chat_back_to_the_team(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(300);
    let owner_path = format!("/conversations/{}/owner", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    assert_eq!(asha.conversation(&chat_id).await["owner"]["name"], "Asha");

    ravi.delete(&owner_path)
        .await
        .expect_error(403, "not_owner");
    let released = asha.delete(&owner_path).await.expect(200);
    assert!(released["owner"].is_null(), "nobody owns it now");
    assert_eq!(
        released["lock"]["holder"]["name"], "Asha",
        "the typist keeps her reply lock: anyone may work an unowned chat"
    );
    let kinds = asha.timeline_kinds(&chat_id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "conversation.assigned")
            .count(),
        2,
        "claimed, then given back: {kinds:?}"
    );
    // Idempotent: giving back a chat nobody owns changes nothing.
    asha.delete(&owner_path).await.expect(200);
    assert_eq!(
        asha.timeline_kinds(&chat_id).await.len(),
        kinds.len(),
        "no second event"
    );
    asha.release(&chat_id).await.expect(204);
    // Claimed again by someone else, then freed by a lead.
    ravi.lock(&chat_id).await.expect(200);
    ravi.release(&chat_id).await.expect(204);
    assert_eq!(ravi.conversation(&chat_id).await["owner"]["name"], "Ravi");
    lena.delete(&owner_path).await.expect(200);
    // While a handoff waits for an answer, it is answered, not undone.
    ravi.lock(&chat_id).await.expect(200);
    ravi.release(&chat_id).await.expect(204);
    ravi.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        json!({"to_agent_id": asha.id, "done": "x", "promised": "y", "next_step": "z"}),
    )
    .await
    .expect(201);
    asha.delete(&owner_path).await.expect_error(409, "conflict");
    assert_eq!(asha.conversation(&chat_id).await["owner"]["name"], "Asha");
}
