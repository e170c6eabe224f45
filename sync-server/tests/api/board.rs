//! The lead's board: a pipeline's open conversations with their owner, wait, target, reminder and
//! waiting handoff, in stage order and longest wait first; leads and admins only.

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(the_board_shows_each_open_chat_with_its_wait_and_target);
on_both_backends!(two_leads_moving_one_card_at_once_end_in_one_outcome);

const MIN: i64 = 60_000;

async fn the_board_shows_each_open_chat_with_its_wait_and_target(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let loans = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    let id = loans["id"].as_str().unwrap().to_owned();
    lena.put(
        &format!("/pipelines/{id}"),
        json!({"name": "Loans", "stages": ["New", "Won"],
               "sla": [{"stage": "New", "first_response_mins": 30, "response_mins": 60}]}),
    )
    .await
    .expect(200);
    let other = lena
        .post("/pipelines", json!({"name": "Cards", "stages": ["New"]}))
        .await
        .expect(201);
    let now = app.db.now().await.unwrap();
    let setup: [(u64, &str, Option<&crate::common::TestAgent>, &Value, &str); 5] = [
        (1, "Anil", Some(&asha), &loans, "New"),
        (2, "Bela", Some(&ravi), &loans, "Won"),
        (3, "Chetan", None, &loans, "New"),
        (4, "Divya", Some(&asha), &loans, "New"),
        (5, "Esha", Some(&asha), &other, "New"),
    ];
    for (n, title, owner, pipeline, stage) in setup {
        let chat_id = chat(n);
        lena.open_chat(&chat_id, title).await;
        if let Some(owner) = owner {
            owner.lock(&chat_id).await.expect(200);
            owner.release(&chat_id).await;
        }
        lena.put(
            &format!("/conversations/{}/stage", enc(&chat_id)),
            json!({"pipeline_id": pipeline["id"], "stage": stage}),
        )
        .await
        .expect(200);
    }
    let message = |n: u64, id: &'static str, dir: &'static str, at: i64| {
        let lena = lena.clone();
        async move {
            let resp = lena
                .post(
                    &format!("/conversations/{}/messages", enc(&chat(n))),
                    json!({"message_id": id, "direction": dir, "sent_at": at}),
                )
                .await;
            assert!(resp.status.is_success(), "{id}: {}", resp.body);
        }
    };
    // Anil has waited 90 minutes for a first answer: past New's 30.
    message(1, "A1", "in", now - 90 * MIN).await;
    // Bela was answered, then wrote again 10 minutes ago; Won has no target.
    message(2, "B1", "in", now - 100 * MIN).await;
    message(2, "B2", "out", now - 95 * MIN).await;
    message(2, "B3", "in", now - 10 * MIN).await;
    // Chetan: the team spoke last.
    message(3, "C1", "out", now - 5 * MIN).await;
    // Divya is closed: not on the board.
    asha.post_empty(&format!("/conversations/{}/close", enc(&chat(4))))
        .await
        .expect(200);
    // A reminder on Chetan, a handoff waiting on Anil.
    lena.post(
        &format!("/conversations/{}/reminders", enc(&chat(3))),
        json!({"due_at": now + 60 * MIN, "text": "Call back"}),
    )
    .await
    .expect(201);
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat(1))),
        json!({"to_agent_id": ravi.id, "done": "Asked", "promised": "A call", "next_step": "Call"}),
    )
    .await
    .expect(201);

    let board = lena
        .get(&format!("/pipelines/{id}/board"))
        .await
        .expect(200);
    assert_eq!(board["pipeline"]["name"], "Loans");
    let cards = board["cards"].as_array().unwrap();
    let titles: Vec<&str> = cards.iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["Anil", "Chetan", "Bela"],
        "stage order, then longest wait"
    );
    let anil = &cards[0];
    assert_eq!(anil["stage"], "New");
    assert_eq!(
        anil["owner"]["name"], "Ravi",
        "the handoff's receiver owns it"
    );
    assert_eq!(anil["waiting_since"], now - 90 * MIN);
    assert_eq!(anil["sla_target_mins"], 30);
    assert_eq!(anil["sla_breached"], true);
    assert_eq!(
        anil["sla_due_at"],
        now - 60 * MIN,
        "no business hours: the wall clock"
    );
    assert_eq!(anil["handoff_waiting"], true);
    let chetan = &cards[1];
    assert_eq!(chetan["waiting_since"], Value::Null);
    assert_eq!(chetan["sla_target_mins"], Value::Null);
    assert_eq!(chetan["sla_breached"], false);
    assert_eq!(chetan["sla_due_at"], Value::Null);
    assert_eq!(chetan["owner"], Value::Null);
    assert_eq!(chetan["reminder_due_at"], now + 60 * MIN);
    let bela = &cards[2];
    assert_eq!(bela["waiting_since"], now - 10 * MIN);
    assert_eq!(bela["sla_target_mins"], Value::Null);
    assert!(board["now"].as_i64().unwrap() >= now);

    // An answer ends Anil's wait; a second question starts a response's wait (60 minutes).
    message(1, "A2", "out", now - 80 * MIN).await;
    message(1, "A3", "in", now - 20 * MIN).await;
    let board = lena
        .get(&format!("/pipelines/{id}/board"))
        .await
        .expect(200);
    let anil = &board["cards"][0];
    assert_eq!(anil["title"], "Anil");
    assert_eq!(anil["waiting_since"], now - 20 * MIN);
    assert_eq!(anil["sla_target_mins"], 60);
    assert_eq!(anil["sla_breached"], false);
    assert_eq!(anil["sla_due_at"], now + 40 * MIN);

    // Leads and admins only; another org's pipeline is not there.
    asha.get(&format!("/pipelines/{id}/board"))
        .await
        .expect_error(403, "forbidden");
    outsider
        .get(&format!("/pipelines/{id}/board"))
        .await
        .expect_error(404, "not_found");
    lena.get("/pipelines/nope/board")
        .await
        .expect_error(404, "not_found");
}

async fn two_leads_moving_one_card_at_once_end_in_one_outcome(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let lara = app.agent("Lara", Role::Lead).await;
    let loans = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Won", "Lost"]}),
        )
        .await
        .expect(201);
    let id = loans["id"].as_str().unwrap().to_owned();
    let chat_id = chat(1);
    lena.open_chat(&chat_id, "Anil").await;
    let path = format!("/conversations/{}/stage", enc(&chat_id));
    lena.put(&path, json!({"pipeline_id": id, "stage": "New"}))
        .await
        .expect(200);
    for _ in 0..5 {
        // Both at once, to different stages: both writes are taken, one after the other.
        let (a, b) = tokio::join!(
            lena.put(&path, json!({"pipeline_id": id, "stage": "Won"})),
            lara.put(&path, json!({"pipeline_id": id, "stage": "Lost"})),
        );
        a.expect(200);
        b.expect(200);
        // The outcome is the later move, as the timeline orders them, and the board says so.
        let timeline = lena
            .get(&format!(
                "/conversations/{}/timeline?limit=500",
                enc(&chat_id)
            ))
            .await
            .expect(200);
        let last = timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e["kind"] == "stage.changed")
            .unwrap()["data"]["stage"]["stage"]
            .clone();
        assert_eq!(lena.conversation(&chat_id).await["stage"]["stage"], last);
        let board = lara
            .get(&format!("/pipelines/{id}/board"))
            .await
            .expect(200);
        assert_eq!(board["cards"][0]["stage"], last);
        // Back to New for the next round.
        lena.put(&path, json!({"pipeline_id": id, "stage": "New"}))
            .await
            .expect(200);
    }
}
