//! One person, two WhatsApp ids: a chat keyed by `@lid` and its phone number's `@c.us` id are one
//! conversation, found by either, never two; and messages in chats nobody opened create them.

use protocol::api::Role;
use serde_json::json;

use crate::common::{enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    either_id_finds_the_one_conversation,
    an_alias_learned_later_joins_the_existing_conversation,
    two_conversations_are_never_merged_silently,
    aliases_must_pair_a_phone_id_with_a_lid,
    a_message_in_an_unopened_chat_creates_it_once,
    a_message_under_the_other_id_joins_a_chat_opened_without_alias,
);

const LID: &str = "179950657200007@lid";
const PHONE: &str = "919876500007@c.us";

async fn either_id_finds_the_one_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let created = asha
        .put(
            &format!("/conversations/{}", enc(LID)),
            json!({"title": "+91 98765 00007", "alias": PHONE}),
        )
        .await
        .expect(201);
    assert_eq!(created["chat_id"], LID);
    assert_eq!(created["alias"], PHONE);
    assert_eq!(
        created["phone"], "+919876500007",
        "the number comes from the alias"
    );

    // Everything addressed by the phone id reaches the same conversation, filed under its id.
    let by_phone = ravi.conversation(PHONE).await;
    assert_eq!(by_phone["chat_id"], LID);
    let grant = asha.lock(PHONE).await.expect(200);
    assert_eq!(grant["claimed"], true);
    ravi.lock(LID).await.expect_error(409, "locked");
    asha.post(
        &format!("/conversations/{}/notes", enc(PHONE)),
        json!({"body": "Called her"}),
    )
    .await
    .expect(201);
    let notes = ravi
        .get(&format!("/conversations/{}/notes", enc(LID)))
        .await
        .expect(200);
    assert_eq!(notes["items"][0]["chat_id"], LID);
    let kinds = ravi.timeline_kinds(PHONE).await;
    assert!(kinds.contains(&"note.created".to_owned()), "{kinds:?}");
    // Opening it again under the other id changes nothing and creates nothing.
    let again = ravi
        .put(
            &format!("/conversations/{}", enc(PHONE)),
            json!({"title": "+91 98765 00007", "alias": LID}),
        )
        .await
        .expect(200);
    assert_eq!(again["chat_id"], LID);
    let list = asha.get("/conversations").await.expect(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["alias"], PHONE);
}

async fn an_alias_learned_later_joins_the_existing_conversation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    // A browser without WhatsApp's modules knew only the number in the title.
    asha.open_chat(PHONE, "+91 98765 00007").await;
    asha.lock(PHONE).await.expect(200);
    let seq = app.latest_seq().await;
    // Later a browser with the bridge reports the chat's real id with the number as its alias.
    let joined = asha
        .put(
            &format!("/conversations/{}", enc(LID)),
            json!({"title": "+91 98765 00007", "alias": PHONE}),
        )
        .await
        .expect(200);
    assert_eq!(
        joined["chat_id"], PHONE,
        "the conversation keeps its first id"
    );
    assert_eq!(joined["alias"], LID);
    assert_eq!(joined["owner"]["name"], "Asha", "and everything it had");
    assert_eq!(asha.conversation(LID).await["chat_id"], PHONE);
    let mut events = asha.events(seq).await;
    let update = events.next_event().await;
    assert_eq!(update.chat_id.as_ref().map(|c| c.as_str()), Some(PHONE));
    match update.body {
        protocol::events::EventBody::ConversationUpdated { alias, .. } => {
            assert_eq!(alias.map(String::from).as_deref(), Some(LID))
        }
        other => panic!("expected conversation.updated, got {other:?}"),
    }
}

async fn two_conversations_are_never_merged_silently(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    asha.open_chat(PHONE, "+91 98765 00007").await;
    asha.open_chat(LID, "Kavya").await;
    let seq = app.latest_seq().await;
    let refused = asha
        .put(
            &format!("/conversations/{}", enc(LID)),
            json!({"title": "Kavya", "alias": PHONE}),
        )
        .await
        .expect_error(409, "alias_conflict");
    assert!(refused["message"].as_str().unwrap().contains(PHONE));
    assert_eq!(app.latest_seq().await, seq, "nothing was written");
    assert!(asha.conversation(LID).await["alias"].is_null());
    // A conversation linked to one alias does not take another.
    asha.open_chat("179950657200099@lid", "Meena").await;
    asha.put(
        &format!("/conversations/{}", enc("179950657200099@lid")),
        json!({"title": "Meena", "alias": "919876500099@c.us"}),
    )
    .await
    .expect(200);
    asha.put(
        &format!("/conversations/{}", enc("179950657200099@lid")),
        json!({"title": "Meena", "alias": "919876500098@c.us"}),
    )
    .await
    .expect_error(409, "alias_conflict");
    // Nor when asked by its alias to link that alias to a third id.
    let seq = app.latest_seq().await;
    asha.put(
        &format!("/conversations/{}", enc("919876500099@c.us")),
        json!({"title": "Meena", "alias": "179950657200098@lid"}),
    )
    .await
    .expect_error(409, "alias_conflict");
    assert_eq!(app.latest_seq().await, seq, "nothing was written");
}

async fn aliases_must_pair_a_phone_id_with_a_lid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    for (chat_id, alias) in [
        (LID, "179950657200008@lid"),
        (PHONE, "919876500008@c.us"),
        ("120363041200000005@g.us", LID),
        (LID, LID),
    ] {
        asha.put(
            &format!("/conversations/{}", enc(chat_id)),
            json!({"title": "X", "alias": alias}),
        )
        .await
        .expect_error(422, "validation_failed");
    }
    asha.put(
        &format!("/conversations/{}", enc(LID)),
        json!({"title": "X", "alias": "not a chat"}),
    )
    .await
    .expect_error(422, "invalid_body");
    let list = asha.get("/conversations").await.expect(200);
    assert!(list["items"].as_array().unwrap().is_empty());
}

async fn a_message_in_an_unopened_chat_creates_it_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let report = json!({
        "message_id": "3A0F9C21D4E5",
        "direction": "in",
        "sent_at": 1_795_000_000_000_i64,
        "if_missing": {"title": "Kavya Nair", "alias": PHONE},
    });
    let path = format!("/conversations/{}/messages", enc(LID));
    asha.post(&path, report).await.expect(201);
    // Ravi's browser reports the same message under the phone id: recorded once, one chat.
    let again = ravi
        .post(
            &format!("/conversations/{}/messages", enc(PHONE)),
            json!({"message_id": "3A0F9C21D4E5", "direction": "in",
                   "if_missing": {"title": "Kavya Nair", "alias": LID}}),
        )
        .await
        .expect(200);
    assert_eq!(again["chat_id"], LID);
    let conversation = asha.conversation(LID).await;
    assert_eq!(conversation["title"], "Kavya Nair");
    assert_eq!(
        conversation["last_activity_at"], 1_795_000_000_000_i64,
        "last active when its first message was sent"
    );
    assert_eq!(conversation["alias"], PHONE);
    assert!(conversation["owner"].is_null());
    assert_eq!(
        asha.get("/conversations").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // An existing conversation keeps its title: a message report does not rename chats.
    asha.post(
        &path,
        json!({"message_id": "3A0F9C21D4E6", "direction": "in",
               "if_missing": {"title": "Someone else"}}),
    )
    .await
    .expect(201);
    assert_eq!(asha.conversation(LID).await["title"], "Kavya Nair");
    // Without if_missing an unknown chat is still a 404, and a bad title a 422.
    let unknown = format!("/conversations/{}/messages", enc("919876500123@c.us"));
    asha.post(&unknown, json!({"message_id": "3A01", "direction": "in"}))
        .await
        .expect_error(404, "not_found");
    asha.post(
        &unknown,
        json!({"message_id": "3A01", "direction": "in", "if_missing": {"title": "  "}}),
    )
    .await
    .expect_error(422, "validation_failed");
}

/// A chat opened under its phone id, before anyone knew its @lid: a message reported under the
/// @lid (naming the phone id as its alias) joins that conversation, which learns the @lid.
async fn a_message_under_the_other_id_joins_a_chat_opened_without_alias(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    asha.open_chat(PHONE, "Kavya Nair").await;
    let path = format!("/conversations/{}/messages", enc(LID));
    let report = |message_id: &str| {
        json!({"message_id": message_id, "direction": "in",
               "if_missing": {"title": "Someone else", "alias": PHONE}})
    };
    let record = asha.post(&path, report("3A0F9C21D4F1")).await.expect(201);
    assert_eq!(record["chat_id"], PHONE, "filed under the chat's own id");
    let conversation = asha.conversation(LID).await;
    assert_eq!(conversation["chat_id"], PHONE);
    assert_eq!(conversation["alias"], LID);
    assert_eq!(
        conversation["title"], "Kavya Nair",
        "a report does not rename"
    );
    // From then on the @lid finds it without help.
    asha.post(
        &path,
        json!({"message_id": "3A0F9C21D4F2", "direction": "in"}),
    )
    .await
    .expect(201);
    assert_eq!(
        asha.get("/conversations").await.expect(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
