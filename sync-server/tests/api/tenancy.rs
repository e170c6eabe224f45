//! Multi-tenancy: nothing of one org is visible to, or changeable by, another. Another org's ids
//! answer exactly like ids that do not exist.

use protocol::api::Role;
use protocol::events::EventBody;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(another_orgs_data_is_indistinguishable_from_nothing);

async fn another_orgs_data_is_indistinguishable_from_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let zed = app.outsider("Zed").await;
    let chat_id = chat(90);
    let c = enc(&chat_id);
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    asha.post(
        &format!("/conversations/{c}/notes"),
        json!({"body": "secret"}),
    )
    .await
    .expect(201);
    let reminder = asha
        .post(
            &format!("/conversations/{c}/reminders"),
            json!({"due_at": 1_900_000_000_000_i64, "text": "secret"}),
        )
        .await
        .expect(201);
    let pipeline = lead
        .post("/pipelines", json!({"name": "Sales", "stages": ["New"]}))
        .await
        .expect(201);
    let mut zeds_stream = zed.events(0).await;
    let (zed_backlog, _) = zeds_stream.backlog().await;
    // Zed's org has no events but Zed joining it.
    assert!(
        zed_backlog
            .iter()
            .all(|e| matches!(&e.body, EventBody::AgentCreated(a) if a.id == zed.id)),
        "{zed_backlog:?}"
    );

    let handoff = json!({"to_agent_id": zed.id, "done": "d", "promised": "p", "next_step": "n"});
    let not_found = zed
        .get(&format!("/conversations/{c}"))
        .await
        .expect_error(404, "not_found");
    for (method, path, body) in [
        ("POST", format!("/conversations/{c}/lock"), None),
        ("POST", format!("/conversations/{c}/lock?force=true"), None),
        ("DELETE", format!("/conversations/{c}/lock"), None),
        (
            "POST",
            format!("/conversations/{c}/handoff"),
            Some(handoff.clone()),
        ),
        ("POST", format!("/conversations/{c}/handoff/accept"), None),
        (
            "POST",
            format!("/conversations/{c}/handoff/decline"),
            Some(json!({"reason": "x"})),
        ),
        ("GET", format!("/conversations/{c}/notes"), None),
        (
            "POST",
            format!("/conversations/{c}/notes"),
            Some(json!({"body": "hi"})),
        ),
        (
            "POST",
            format!("/conversations/{c}/reminders"),
            Some(json!({"due_at": 1_900_000_000_000_i64, "text": "x"})),
        ),
        (
            "PUT",
            format!("/conversations/{c}/stage"),
            Some(json!({"pipeline_id": pipeline["id"], "stage": "New"})),
        ),
        ("GET", format!("/conversations/{c}/timeline"), None),
        (
            "POST",
            format!("/conversations/{c}/messages"),
            Some(json!({"message_id": "3EB0", "direction": "in"})),
        ),
    ] {
        let response = match (method, body) {
            ("GET", _) => zed.get(&path).await,
            ("DELETE", _) => zed.delete(&path).await,
            ("PUT", Some(body)) => zed.put(&path, body).await,
            ("POST", Some(body)) => zed.post(&path, body).await,
            _ => zed.post_empty(&path).await,
        };
        let body = response.expect_error(404, "not_found");
        assert_eq!(
            body, not_found,
            "{method} {path} must look like a missing conversation"
        );
    }
    let id = reminder["id"].as_str().unwrap();
    let missing = zed
        .post_empty("/reminders/00000000-0000-0000-0000-000000000000/done")
        .await
        .expect_error(404, "not_found");
    for path in [format!("/reminders/{id}/done")] {
        assert_eq!(
            zed.post_empty(&path).await.expect_error(404, "not_found"),
            missing
        );
    }
    assert_eq!(
        zed.post(&format!("/reminders/{id}/snooze"), json!({"minutes": 5}))
            .await
            .expect_error(404, "not_found"),
        missing
    );
    assert_eq!(
        zed.get(&format!("/reminders?for_agent_id={}", asha.id))
            .await
            .expect(200),
        json!([])
    );
    let zeds_agents = zed.get("/agents").await.expect(200);
    assert_eq!(zeds_agents["items"].as_array().unwrap().len(), 1);
    assert_eq!(zed.get("/pipelines").await.expect(200)["items"], json!([]));
    assert_eq!(
        zed.get("/conversations").await.expect(200)["items"],
        json!([])
    );

    // The same customer can write to both numbers: Zed's org gets its own conversation.
    let own = zed.open_chat(&chat_id, "Priya (Zed's shop)").await;
    assert!(own["owner"].is_null() && own["lock"].is_null());
    assert_eq!(
        zed.get(&format!("/conversations/{c}/notes"))
            .await
            .expect(200)["items"],
        json!([])
    );
    // Ids of the other org are refused as unknown inside bodies, too.
    zed.put(
        &format!("/conversations/{c}/stage"),
        json!({"pipeline_id": pipeline["id"], "stage": "New"}),
    )
    .await
    .expect_error(422, "validation_failed");
    zed.lock(&chat_id).await.expect(200);
    let mut to_asha = handoff.clone();
    to_asha["to_agent_id"] = json!(asha.id);
    zed.post(&format!("/conversations/{c}/handoff"), to_asha)
        .await
        .expect_error(422, "validation_failed");
    zed.post(
        &format!("/conversations/{c}/notes"),
        json!({"body": "hi", "mentions": [asha.id]}),
    )
    .await
    .expect_error(422, "validation_failed");

    // Zed's stream saw only Zed's org: his own chat creation comes first.
    let first = zeds_stream.next_event().await;
    assert!(
        matches!(first.body, EventBody::ConversationCreated { ref title, .. } if title == "Priya (Zed's shop)")
    );
    assert_eq!(
        first.seq,
        zed_backlog.len() as i64 + 1,
        "org sequences are per org"
    );
    // And Asha's org is untouched by all of it.
    let mine = asha.conversation(&chat_id).await;
    assert_eq!(mine["title"], "Priya");
    assert_eq!(mine["owner"]["name"], "Asha");
}
