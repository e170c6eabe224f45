//! "Request this chat": a colleague asks the owner, who hands the chat over in one click or keeps
//! it; who may ask and answer, and what a hand-over does to the owner's lock.

use protocol::api::Role;
use protocol::events::EventBody;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_colleague_asks_and_the_owner_hands_the_chat_over_in_one_click,
    requests_follow_the_rules,
);

async fn a_colleague_asks_and_the_owner_hands_the_chat_over_in_one_click(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(700);
    let requests = format!("/conversations/{}/requests", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    let asha_fence = asha.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    let mut asha_events = asha.events(app.latest_seq().await).await;
    asha_events.backlog().await;

    let asked = ravi
        .post(&requests, json!({"message": "  I quoted her yesterday  "}))
        .await
        .expect(201);
    assert_eq!(asked["status"], "pending");
    assert_eq!(asked["by"]["name"], "Ravi");
    assert_eq!(asked["message"], "I quoted her yesterday");
    assert_eq!(asked["chat_id"], chat_id.as_str());
    // Asking again is the same request, and tells nobody twice.
    let again = ravi.post(&requests, json!({})).await.expect(200);
    assert_eq!(again["id"], asked["id"]);
    let (event, _) = asha_events.until_kind("chat.requested").await;
    match event.body {
        EventBody::ChatRequested(request) => {
            assert_eq!(request.by.id, ravi.id);
            assert_eq!(request.id, asked["id"].as_str().unwrap());
        }
        other => panic!("expected chat.requested, got {other:?}"),
    }
    let seen = asha.conversation(&chat_id).await;
    assert_eq!(seen["owner"]["name"], "Asha", "asking changes nothing yet");
    assert_eq!(seen["requests"].as_array().unwrap().len(), 1);
    assert_eq!(seen["requests"][0]["id"], asked["id"]);

    let grant = format!("/chat-requests/{}/grant", asked["id"].as_str().unwrap());
    let granted = asha.post_empty(&grant).await.expect(200);
    assert_eq!(granted["status"], "granted");
    assert_eq!(granted["answered_by"]["name"], "Asha");
    let (answered, _) = asha_events.until_kind("chat.request_answered").await;
    assert!(
        matches!(answered.body, EventBody::ChatRequestAnswered(ref r) if r.id == asked["id"].as_str().unwrap())
    );
    let (assigned, _) = asha_events.until_kind("conversation.assigned").await;
    match assigned.body {
        EventBody::Assigned {
            owner,
            previous_owner,
            reason,
        } => {
            assert_eq!(owner.map(|o| o.id), Some(ravi.id.clone()));
            assert_eq!(previous_owner.map(|o| o.id), Some(asha.id.clone()));
            assert_eq!(reason, protocol::events::AssignReason::Requested);
        }
        other => panic!("expected conversation.assigned, got {other:?}"),
    }
    let after = ravi.conversation(&chat_id).await;
    assert_eq!(after["owner"]["name"], "Ravi");
    assert!(after["lock"].is_null(), "Asha's lock ended: {after}");
    assert!(after["requests"].as_array().unwrap().is_empty());
    // Nothing Asha sends under her old lock counts on Ravi's chat now.
    asha.post(
        &format!("/conversations/{}/messages", enc(&chat_id)),
        json!({"message_id": "3EB0B1", "direction": "out", "fence": asha_fence}),
    )
    .await
    .expect_error(409, "stale_fence");
    asha.lock(&chat_id).await.expect_error(403, "not_owner");
    ravi.lock(&chat_id).await.expect(200);
    // Answered once; the timeline tells the story.
    asha.post_empty(&grant).await.expect_error(409, "conflict");
    let kinds = ravi.timeline_kinds(&chat_id).await;
    for kind in [
        "chat.requested",
        "chat.request_answered",
        "conversation.assigned",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn requests_follow_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let mia = app.agent("Mia", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let outsider = app.outsider("Olga").await;
    let chat_id = chat(701);
    let requests = format!("/conversations/{}/requests", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;

    // Nobody owns it: there is nobody to ask.
    ravi.post(&requests, json!({}))
        .await
        .expect_error(409, "conflict");
    asha.lock(&chat_id).await.expect(200);
    asha.release(&chat_id).await.expect(204);
    asha.post(&requests, json!({}))
        .await
        .expect_error(409, "conflict");
    ravi.post(&requests, json!({"message": "x".repeat(501)}))
        .await
        .expect_error(422, "validation_failed");
    ravi.post(&requests, json!({"message": "a\u{202e}b"}))
        .await
        .expect_error(422, "validation_failed");
    ravi.post(&requests, json!({"why": "unknown field"}))
        .await
        .expect_error(422, "invalid_body");

    let asked = ravi.post(&requests, json!({})).await.expect(201);
    assert!(asked["message"].is_null());
    let id = asked["id"].as_str().unwrap().to_owned();
    // Only the owner or a lead answers; another org does not even see it.
    mia.post_empty(&format!("/chat-requests/{id}/grant"))
        .await
        .expect_error(403, "not_owner");
    ravi.post_empty(&format!("/chat-requests/{id}/grant"))
        .await
        .expect_error(403, "not_owner");
    outsider
        .post_empty(&format!("/chat-requests/{id}/grant"))
        .await
        .expect_error(404, "not_found");
    asha.post_empty("/chat-requests/no-such-request/grant")
        .await
        .expect_error(404, "not_found");
    // A lead keeps it for Asha; Ravi may ask again afterwards.
    let declined = lena
        .post_empty(&format!("/chat-requests/{id}/decline"))
        .await
        .expect(200);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["answered_by"]["name"], "Lena");
    asha.post_empty(&format!("/chat-requests/{id}/grant"))
        .await
        .expect_error(409, "conflict");
    assert!(asha.conversation(&chat_id).await["requests"]
        .as_array()
        .unwrap()
        .is_empty());
    let second = ravi.post(&requests, json!({})).await.expect(201);
    assert_ne!(second["id"], asked["id"]);
    let second_id = second["id"].as_str().unwrap().to_owned();
    let from_mia = mia.post(&requests, json!({})).await.expect(201);
    let seen = asha.conversation(&chat_id).await;
    let names: Vec<_> = seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["by"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Ravi", "Mia"], "oldest first");

    // While a handoff waits for its answer, the chat is not handed over a second way.
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        json!({"to_agent_id": lena.id, "done": "Quoted", "promised": "A call", "next_step": "Call"}),
    )
    .await
    .expect(201);
    lena.post_empty(&format!("/chat-requests/{second_id}/grant"))
        .await
        .expect_error(409, "conflict");
    lena.post_empty(&format!("/conversations/{}/handoff/accept", enc(&chat_id)))
        .await
        .expect(200);
    // The requests outlive the change of hands: Lena, the owner now, sees them.
    assert_eq!(
        lena.conversation(&chat_id).await["requests"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Someone who can no longer work is not handed chats.
    admin
        .post_empty(&format!("/agents/{}/deactivate", mia.id))
        .await
        .expect(204);
    lena.post_empty(&format!(
        "/chat-requests/{}/grant",
        from_mia["id"].as_str().unwrap()
    ))
    .await
    .expect_error(409, "conflict");
    lena.post_empty(&format!("/chat-requests/{second_id}/grant"))
        .await
        .expect(200);
    assert_eq!(ravi.conversation(&chat_id).await["owner"]["name"], "Ravi");

    // Handing the chat with a note to someone who asked for it answers their request.
    let from_asha = asha.post(&requests, json!({})).await.expect(201);
    ravi.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        json!({"to_agent_id": asha.id, "done": "Quoted", "promised": "A call", "next_step": "Call"}),
    )
    .await
    .expect(201);
    asha.post_empty(&format!(
        "/chat-requests/{}/decline",
        from_asha["id"].as_str().unwrap()
    ))
    .await
    .expect_error(409, "conflict");
    let kinds = asha.timeline_kinds(&chat_id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "chat.request_answered")
            .count(),
        3,
        "declined, granted, granted by the handoff: {kinds:?}"
    );
}
