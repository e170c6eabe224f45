//! Idempotency-Key: retries return the first result and create nothing twice.

use futures_util::future::join_all;
use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, Resp, TestApp};
use crate::on_both_backends;

on_both_backends!(
    retries_with_the_same_key_create_once,
    concurrent_retries_create_once,
    concurrent_note_retries_create_one_note
);

async fn retries_with_the_same_key_create_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(70);
    asha.open_chat(&chat_id, "Priya").await;
    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    let key = "6f1d1c2e-6f0e-4a43-9d0e-0f6b1f8e2a11";

    let first = asha
        .post_with_key(&notes, key, json!({"body": "quoted 45L"}))
        .await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let seq = app.latest_seq().await;
    let retry = asha
        .post_with_key(&notes, key, json!({"body": "quoted 45L"}))
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body, first.body, "the retry gets the first response");
    assert_eq!(app.latest_seq().await, seq, "and records nothing");

    asha.post_with_key(&notes, key, json!({"body": "quoted 50L"}))
        .await
        .expect_error(422, "idempotency_key_reused");
    asha.post_with_key(
        &format!("/conversations/{}/reminders", enc(&chat_id)),
        key,
        json!({"due_at": 1_900_000_000_000_i64, "text": "x"}),
    )
    .await
    .expect_error(422, "idempotency_key_reused");
    // Keys belong to their agent: Ravi's identical key is a different request.
    ravi.post_with_key(&notes, key, json!({"body": "quoted 45L"}))
        .await
        .expect(201);

    let listed = asha.get(&notes).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    // Handoffs, reminders and pipelines honour keys too.
    let lead = app.agent("Lena", Role::Lead).await;
    let pipeline = json!({"name": "Rentals", "stages": ["New", "Closed"]});
    let a = lead
        .post_with_key("/pipelines", "p-1", pipeline.clone())
        .await
        .expect(201);
    let b = lead
        .post_with_key("/pipelines", "p-1", pipeline)
        .await
        .expect(201);
    assert_eq!(a, b);
    asha.lock(&chat_id).await.expect(200);
    let handoff = json!({"to_agent_id": ravi.id, "done": "d", "promised": "p", "next_step": "n"});
    let path = format!("/conversations/{}/handoff", enc(&chat_id));
    let h1 = asha
        .post_with_key(&path, "h-1", handoff.clone())
        .await
        .expect(201);
    let h2 = asha.post_with_key(&path, "h-1", handoff).await.expect(201);
    assert_eq!(h1["id"], h2["id"]);
}

async fn concurrent_retries_create_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(71);
    asha.open_chat(&chat_id, "Priya").await;
    let reminders = format!("/conversations/{}/reminders", enc(&chat_id));
    let body = json!({"due_at": 1_900_000_000_000_i64, "text": "follow up"});

    let responses =
        join_all((0..10).map(|_| asha.post_with_key(&reminders, "same-key", body.clone()))).await;
    let ids = created_ids(responses);
    assert!(ids.iter().all(|id| id == &ids[0]), "one reminder: {ids:?}");
    let listed = asha.get("/reminders").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

/// Notes are written whole on SQLite's writer thread, several requests in one transaction: retries
/// that land in the same transaction as the first still see its key and replay it.
async fn concurrent_note_retries_create_one_note(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(72);
    asha.open_chat(&chat_id, "Priya").await;
    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    let body = json!({"body": "quoted 45L"});

    let responses =
        join_all((0..12).map(|_| asha.post_with_key(&notes, "note-key", body.clone()))).await;
    let ids = created_ids(responses);
    assert!(ids.iter().all(|id| id == &ids[0]), "one note: {ids:?}");
    let listed = asha.get(&notes).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // A different request under the same key is refused, and writes nothing.
    let other = asha
        .post_with_key(&notes, "note-key", json!({"body": "quoted 50L"}))
        .await;
    assert_eq!(other.status.as_u16(), 422, "{}", other.body);
    let listed = asha.get(&notes).await.expect(200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

/// The ids the concurrent posts of one key answered `201` with (at least one); the others must have
/// been told the key was in flight.
fn created_ids(responses: Vec<Resp>) -> Vec<String> {
    let mut ids = Vec::new();
    for response in responses {
        match response.status.as_u16() {
            201 => ids.push(response.body["id"].as_str().unwrap().to_owned()),
            409 => assert_eq!(response.body["error"], "idempotency_in_flight"),
            other => panic!("unexpected {other}: {}", response.body),
        }
    }
    assert!(!ids.is_empty(), "no post created anything");
    ids
}
