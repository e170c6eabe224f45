//! Internal notes: plain text, @mentions, validation.

use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    notes_are_stored_as_text_with_mentions,
    bad_notes_are_refused
);

async fn notes_are_stored_as_text_with_mentions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(20);
    let path = format!("/conversations/{}/notes", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;

    let body = "<img src=x onerror=alert(1)> @Ravi she wants the 3rd floor & a <b>discount</b>";
    let note = asha
        .post(&path, json!({"body": body, "mentions": [ravi.id, ravi.id]}))
        .await
        .expect(201);
    assert_eq!(note["body"], body, "stored exactly as typed");
    assert_eq!(note["mentions"], json!([{"id": ravi.id, "name": "Ravi"}]));
    assert_eq!(note["author"]["name"], "Asha");
    ravi.post(&path, json!({"body": "On it"})).await.expect(201);

    let notes = ravi.get(&path).await.expect(200);
    let bodies: Vec<&str> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, vec![body, "On it"]);
    assert!(
        asha.timeline_kinds(&chat_id)
            .await
            .iter()
            .filter(|k| *k == "note.created")
            .count()
            == 2
    );
}

async fn bad_notes_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(21);
    let path = format!("/conversations/{}/notes", enc(&chat_id));
    asha.post(&path, json!({"body": "hello"}))
        .await
        .expect_error(404, "not_found");
    asha.open_chat(&chat_id, "Priya").await;
    let before = app.latest_seq().await;

    asha.post(&path, json!({"body": "   "}))
        .await
        .expect_error(422, "validation_failed");
    asha.post(&path, json!({"body": "x".repeat(4001)}))
        .await
        .expect_error(422, "validation_failed");
    asha.post(&path, json!({"body": "hi", "mentions": ["nobody"]}))
        .await
        .expect_error(422, "validation_failed");
    asha.post(&path, json!({"body": "hi", "author": "someone else"}))
        .await
        .expect_error(422, "invalid_body");
    asha.post(&path, json!({"body": "y".repeat(70 * 1024)}))
        .await
        .expect_error(413, "body_too_large");

    assert_eq!(app.latest_seq().await, before);
    assert_eq!(asha.get(&path).await.expect(200), json!([]));
}
