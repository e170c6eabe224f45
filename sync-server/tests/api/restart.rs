//! A server restart loses nothing: state, tokens, and the event stream resumes from its cursor.

use protocol::api::Role;
use protocol::events::EventBody;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(data_and_streams_survive_a_restart);

async fn data_and_streams_survive_a_restart(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(80);
    asha.open_chat(&chat_id, "Priya").await;
    let pipeline = lead
        .post(
            "/pipelines",
            json!({"name": "Sales", "stages": ["New", "Visit"]}),
        )
        .await
        .expect(201);
    asha.lock(&chat_id).await.expect(200);
    asha.put(
        &format!("/conversations/{}/stage", enc(&chat_id)),
        json!({"pipeline_id": pipeline["id"], "stage": "Visit"}),
    )
    .await
    .expect(200);
    asha.post(
        &format!("/conversations/{}/notes", enc(&chat_id)),
        json!({"body": "Wants a Sunday visit"}),
    )
    .await
    .expect(201);
    asha.post(
        &format!("/conversations/{}/reminders", enc(&chat_id)),
        json!({"due_at": 1_900_000_000_000_i64, "text": "Confirm the visit"}),
    )
    .await
    .expect(201);
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        json!({"to_agent_id": ravi.id, "done": "d", "promised": "p", "next_step": "n"}),
    )
    .await
    .expect(201);
    let before = ravi.conversation(&chat_id).await;
    let timeline_before = ravi.timeline_kinds(&chat_id).await;

    let mut stream = ravi.events(0).await;
    let (_, cursor) = stream.backlog().await;
    app.restart().await;
    assert_eq!(stream.closed().await, Some(1012), "told to reconnect");

    // The same token still works; everything is where it was.
    let after = ravi.conversation(&chat_id).await;
    let mut before_no_lock = before.clone();
    before_no_lock["lock"] = after["lock"].clone();
    assert_eq!(after, before_no_lock);
    assert_eq!(after["owner"]["name"], "Ravi");
    assert_eq!(after["stage"]["stage"], "Visit");
    assert_eq!(after["open_reminders"][0]["text"], "Confirm the visit");
    assert_eq!(after["pending_handoff"]["to"]["name"], "Ravi");
    assert_eq!(ravi.timeline_kinds(&chat_id).await, timeline_before);
    let notes = ravi
        .get(&format!("/conversations/{}/notes", enc(&chat_id)))
        .await
        .expect(200);
    assert_eq!(notes["items"][0]["body"], "Wants a Sunday visit");

    // The stream resumes from its cursor: nothing missed, nothing repeated.
    let mut stream = ravi.events(cursor).await;
    let (missed, ready_at) = stream.backlog().await;
    assert!(missed.is_empty());
    assert_eq!(ready_at, cursor);
    ravi.post_empty(&format!("/conversations/{}/handoff/accept", enc(&chat_id)))
        .await
        .expect(200);
    let event = stream.next_event().await;
    assert_eq!(event.seq, cursor + 1);
    assert!(matches!(event.body, EventBody::HandoffAccepted(_)));
}
