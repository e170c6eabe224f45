//! Reminders: firing as live events at the due time, snooze, done, and who may change them.

use protocol::api::Role;
use protocol::events::EventBody;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_reminder_fires_as_an_event_at_its_due_time,
    reminders_can_be_snoozed_and_completed
);

async fn server_now(agent: &crate::common::TestAgent) -> i64 {
    agent.get("/me").await.expect(200)["server_time"]
        .as_i64()
        .unwrap()
}

async fn a_reminder_fires_as_an_event_at_its_due_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(60);
    asha.open_chat(&chat_id, "Priya").await;
    let mut ravis_stream = ravi.events(app.latest_seq().await).await;
    ravis_stream.backlog().await;

    let due_at = server_now(&asha).await + 1500;
    let created = asha
        .post(
            &format!("/conversations/{}/reminders", enc(&chat_id)),
            json!({"due_at": due_at, "text": "Call Priya about the visit", "for_agent_id": ravi.id}),
        )
        .await
        .expect(201);
    assert_eq!(created["for_agent"]["name"], "Ravi");
    assert_eq!(created["created_by"]["name"], "Asha");
    assert!(created["fired_at"].is_null());
    assert_eq!(
        asha.conversation(&chat_id).await["open_reminders"][0]["id"],
        created["id"]
    );

    let (due, skipped) = ravis_stream.until_kind("reminder.due").await;
    assert!(skipped
        .iter()
        .any(|e| matches!(e.body, EventBody::ReminderCreated(_))));
    let EventBody::ReminderDue(reminder) = due.body else {
        unreachable!()
    };
    assert_eq!(reminder.id, created["id"].as_str().unwrap());
    assert_eq!(reminder.for_agent.id, ravi.id);
    assert!(
        due.actor.is_none(),
        "the server fires reminders, not an agent"
    );
    assert!(
        due.at >= due_at,
        "fired at {} before it was due at {due_at}",
        due.at
    );
    assert!(due.at < due_at + 5_000, "fired {} ms late", due.at - due_at);
    assert_eq!(reminder.fired_at, Some(due.at));

    let listed = ravi.get("/reminders").await.expect(200);
    assert_eq!(listed[0]["id"], created["id"]);
    assert_eq!(listed[0]["fired_at"], due.at);
    assert_eq!(
        asha.get("/reminders").await.expect(200),
        json!([]),
        "Asha has none"
    );
    assert_eq!(
        ravi.get(&format!("/reminders?due_before={due_at}"))
            .await
            .expect(200),
        json!([])
    );
    assert!(asha
        .timeline_kinds(&chat_id)
        .await
        .ends_with(&["reminder.created".to_owned(), "reminder.due".to_owned()]));
}

async fn reminders_can_be_snoozed_and_completed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let meera = app.agent("Meera", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(61);
    asha.open_chat(&chat_id, "Priya").await;
    let due_at = server_now(&asha).await + 3_600_000;
    let reminder = asha
        .post(
            &format!("/conversations/{}/reminders", enc(&chat_id)),
            json!({"due_at": due_at, "text": "Send the brochure"}),
        )
        .await
        .expect(201);
    let id = reminder["id"].as_str().unwrap();
    assert_eq!(
        reminder["for_agent"]["name"], "Asha",
        "for the creator by default"
    );

    meera
        .post_empty(&format!("/reminders/{id}/done"))
        .await
        .expect_error(403, "forbidden");
    asha.post(&format!("/reminders/{id}/snooze"), json!({}))
        .await
        .expect_error(422, "validation_failed");
    asha.post(
        &format!("/reminders/{id}/snooze"),
        json!({"minutes": 10, "until": due_at}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.post(&format!("/reminders/{id}/snooze"), json!({"until": 1}))
        .await
        .expect_error(422, "validation_failed");
    let snoozed = asha
        .post(&format!("/reminders/{id}/snooze"), json!({"minutes": 120}))
        .await
        .expect(200);
    assert!(snoozed["due_at"].as_i64().unwrap() > due_at);
    assert!(snoozed["fired_at"].is_null());

    let done = lead
        .post_empty(&format!("/reminders/{id}/done"))
        .await
        .expect(200);
    assert!(done["done_at"].as_i64().is_some());
    // Done twice is still done, and changes nothing.
    let seq = app.latest_seq().await;
    asha.post_empty(&format!("/reminders/{id}/done"))
        .await
        .expect(200);
    assert_eq!(app.latest_seq().await, seq);
    asha.post(&format!("/reminders/{id}/snooze"), json!({"minutes": 5}))
        .await
        .expect_error(409, "reminder_done");
    assert_eq!(asha.get("/reminders").await.expect(200), json!([]));
    assert_eq!(
        asha.conversation(&chat_id).await["open_reminders"],
        json!([])
    );
    let kinds = asha.timeline_kinds(&chat_id).await;
    assert!(kinds.ends_with(&[
        "reminder.created".to_owned(),
        "reminder.snoozed".to_owned(),
        "reminder.done".to_owned()
    ]));
}
