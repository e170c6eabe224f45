//! Internal notes: plain text, @mentions, validation.

use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    notes_are_stored_as_text_with_mentions,
    bad_notes_are_refused,
    notes_agents_and_pipelines_come_in_pages,
    a_note_stays_answered_when_someone_it_mentions_leaves,
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
    let bodies: Vec<&str> = notes["items"]
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

/// A retried note (same Idempotency-Key) gets its first answer even when an agent it mentions
/// has been deactivated since; a new note may no longer mention them.
async fn a_note_stays_answered_when_someone_it_mentions_leaves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let chat_id = chat(22);
    let path = format!("/conversations/{}/notes", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    let request = json!({"body": "Ravi knows her", "mentions": [ravi.id]});
    let first = asha
        .post_with_key(&path, "note-1", request.clone())
        .await
        .expect(201);
    admin
        .post_empty(&format!("/agents/{}/deactivate", ravi.id))
        .await
        .expect(204);
    let before = app.latest_seq().await;
    let again = asha
        .post_with_key(&path, "note-1", request.clone())
        .await
        .expect(201);
    assert_eq!(again, first, "the first answer, replayed");
    asha.post_with_key(&path, "note-2", request)
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        app.latest_seq().await,
        before,
        "nothing written after the first"
    );
    assert_eq!(
        asha.get(&path).await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
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
    assert_eq!(asha.get(&path).await.expect(200)["items"], json!([]));
}

/// Every list is paged: `?limit=` (bounded) and `?cursor=` from the previous page's
/// `next_cursor`, which is `null` on the last one.
async fn notes_agents_and_pipelines_come_in_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Lead).await;
    app.agent("Ravi", Role::Agent).await;
    app.agent("Meera", Role::Agent).await;
    let chat_id = chat(23);
    asha.open_chat(&chat_id, "Priya").await;
    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    for n in 0..5 {
        asha.post(&notes, json!({ "body": format!("note {n}") }))
            .await
            .expect(201);
    }
    for n in 0..3 {
        asha.post(
            "/pipelines",
            json!({"name": format!("Product {n}"), "stages": ["New"]}),
        )
        .await
        .expect(201);
    }
    for (path, limit, expected) in [
        (notes.as_str(), 2, 5),
        ("/agents", 1, 3),
        ("/pipelines", 2, 3),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{separator}limit={limit}&cursor={c}"),
                None => format!("{path}{separator}limit={limit}"),
            };
            let page = asha.get(&url).await.expect(200);
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= limit, "{url}: {page}");
            seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let distinct: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), distinct.len()), (expected, expected), "{path}");
    }
    let bodies: Vec<String> = asha.get(&notes).await.expect(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        bodies.first().map(String::as_str),
        Some("note 0"),
        "oldest first"
    );
    for bad in ["limit=0", "limit=1001", "cursor=not-a-number"] {
        asha.get(&format!("{notes}?{bad}"))
            .await
            .expect_error(400, "invalid_parameter");
    }
}
