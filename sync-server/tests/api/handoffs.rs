//! Handoffs: the structured note, accept, decline, and who may do what.

use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_handoff_carries_its_note_and_can_be_accepted,
    a_declined_handoff_returns_to_the_sender,
    handoff_rules_are_enforced,
    a_lock_ends_and_its_fence_goes_stale_when_its_holder_may_no_longer_work_the_chat,
);

fn note_to(agent_id: &str) -> serde_json::Value {
    json!({
        "to_agent_id": agent_id,
        "done": "Sent the price list for the 2BHK",
        "promised": "A call back before 6 pm",
        "next_step": "Call and book a site visit",
    })
}

async fn a_handoff_carries_its_note_and_can_be_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(10);
    let path = format!("/conversations/{}/handoff", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    let fence = asha.lock(&chat_id).await.expect(200)["fence"].clone();

    let mut request = note_to(&ravi.id);
    request["fence"] = fence;
    let handoff = asha.post(&path, request).await.expect(201);
    assert_eq!(handoff["status"], "pending");
    assert_eq!(handoff["from"]["name"], "Asha");
    assert_eq!(handoff["to"]["name"], "Ravi");
    assert_eq!(handoff["promised"], "A call back before 6 pm");

    let seen_by_ravi = ravi.conversation(&chat_id).await;
    assert_eq!(seen_by_ravi["owner"]["id"], ravi.id.as_str());
    assert_eq!(seen_by_ravi["pending_handoff"]["id"], handoff["id"]);
    assert_eq!(
        seen_by_ravi["pending_handoff"]["next_step"],
        "Call and book a site visit"
    );
    assert!(
        seen_by_ravi["lock"].is_null(),
        "the sender's lock ends with the handoff"
    );
    // Ravi can reply at once; Asha no longer can.
    ravi.lock(&chat_id).await.expect(200);
    ravi.release(&chat_id).await.expect(204);
    asha.lock(&chat_id).await.expect_error(403, "not_owner");

    let accepted = ravi.post_empty(&format!("{path}/accept")).await.expect(200);
    assert_eq!(accepted["status"], "accepted");
    assert!(accepted["resolved_at"].as_i64().is_some());
    let after = ravi.conversation(&chat_id).await;
    assert!(after["pending_handoff"].is_null());
    // What was promised stays in view with the chat once the handoff is accepted.
    assert_eq!(after["accepted_handoff"]["id"], handoff["id"]);
    assert_eq!(
        after["accepted_handoff"]["promised"],
        "A call back before 6 pm"
    );
    assert_eq!(after["accepted_handoff"]["status"], "accepted");
    assert!(
        seen_by_ravi["accepted_handoff"].is_null(),
        "nothing was accepted before"
    );
    ravi.post_empty(&format!("{path}/accept"))
        .await
        .expect_error(409, "no_pending_handoff");

    let kinds = asha.timeline_kinds(&chat_id).await;
    let handoff_part: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("handoff.") || *k == "conversation.assigned")
        .collect();
    assert_eq!(
        handoff_part,
        vec![
            "conversation.assigned", // Asha's claim
            "handoff.created",
            "conversation.assigned",
            "handoff.accepted"
        ]
    );
}

async fn a_declined_handoff_returns_to_the_sender(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(11);
    let path = format!("/conversations/{}/handoff", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    asha.post(&path, note_to(&ravi.id)).await.expect(201);

    ravi.post(&format!("{path}/decline"), json!({"reason": "  "}))
        .await
        .expect_error(422, "validation_failed");
    let declined = ravi
        .post(
            &format!("{path}/decline"),
            json!({"reason": "I do not handle rentals"}),
        )
        .await
        .expect(200);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["decline_reason"], "I do not handle rentals");
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["owner"]["name"], "Asha");
    assert!(conversation["pending_handoff"].is_null());

    // From the queue: a lead assigns an unowned chat; declining sends it back to the queue.
    let queued = chat(12);
    asha.open_chat(&queued, "Walk-in").await;
    let path = format!("/conversations/{}/handoff", enc(&queued));
    let from_queue = lead.post(&path, note_to(&ravi.id)).await.expect(201);
    assert!(from_queue["from"].is_null());
    assert_eq!(from_queue["by"]["name"], "Lena");
    ravi.post(&format!("{path}/decline"), json!({"reason": "off shift"}))
        .await
        .expect(200);
    assert!(asha.conversation(&queued).await["owner"].is_null());
}

async fn handoff_rules_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let meera = app.agent("Meera", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(13);
    let path = format!("/conversations/{}/handoff", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;

    // Unowned: an agent claims by replying, only a lead assigns from the queue.
    asha.post(&path, note_to(&ravi.id))
        .await
        .expect_error(403, "forbidden");
    asha.lock(&chat_id).await.expect(200);

    let before = app.latest_seq().await;
    meera
        .post(&path, note_to(&ravi.id))
        .await
        .expect_error(403, "not_owner");
    let mut missing = note_to(&ravi.id);
    missing["done"] = json!("");
    asha.post(&path, missing)
        .await
        .expect_error(422, "validation_failed");
    asha.post(&path, note_to("no-such-agent"))
        .await
        .expect_error(422, "validation_failed");
    asha.post(&path, note_to(&asha.id))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        app.latest_seq().await,
        before,
        "refused handoffs record nothing"
    );

    asha.post(&path, note_to(&ravi.id)).await.expect(201);
    meera
        .post_empty(&format!("{path}/accept"))
        .await
        .expect_error(403, "forbidden");
    // The lead redirects the chat before Ravi answers: the first handoff is superseded.
    let redirected = lead.post(&path, note_to(&meera.id)).await.expect(201);
    assert_eq!(redirected["from"]["name"], "Ravi");
    ravi.post_empty(&format!("{path}/accept"))
        .await
        .expect_error(403, "forbidden");
    meera
        .post_empty(&format!("{path}/accept"))
        .await
        .expect(200);
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["owner"]["name"], "Meera");
}

/// Handing off and declining end the reply lock and advance the fence: the former holder can
/// neither renew the lease nor record a reply under the old fence, and the new owner can reply at
/// once.
async fn a_lock_ends_and_its_fence_goes_stale_when_its_holder_may_no_longer_work_the_chat(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(12);
    let messages = format!("/conversations/{}/messages", enc(&chat_id));
    asha.open_chat(&chat_id, "Priya").await;
    let asha_fence = asha.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();

    // Asha hands the chat to Ravi while still holding the lock.
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        note_to(&ravi.id),
    )
    .await
    .expect(201);
    asha.lock(&chat_id).await.expect_error(403, "not_owner");
    asha.post(
        &messages,
        json!({"message_id": "3EB0A1", "direction": "out", "fence": asha_fence}),
    )
    .await
    .expect_error(409, "stale_fence");
    let ravi_fence = ravi.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    assert!(
        ravi_fence > asha_fence + 1,
        "the handoff advanced the fence"
    );

    // Ravi declines while holding the lock: the chat goes back to Asha, his lock ends.
    ravi.post(
        &format!("/conversations/{}/handoff/decline", enc(&chat_id)),
        json!({"reason": "Not my area"}),
    )
    .await
    .expect(200);
    ravi.lock(&chat_id).await.expect_error(403, "not_owner");
    ravi.post(
        &messages,
        json!({"message_id": "3EB0A2", "direction": "out", "fence": ravi_fence}),
    )
    .await
    .expect_error(409, "stale_fence");
    let conversation = asha.conversation(&chat_id).await;
    assert!(
        conversation["lock"].is_null(),
        "nobody holds it: {conversation}"
    );
    assert_eq!(conversation["owner"]["name"], "Asha");
    let again = asha.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    assert!(again > ravi_fence + 1, "the decline advanced the fence");
}
