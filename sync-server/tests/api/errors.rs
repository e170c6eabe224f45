//! Bad input gets a clear JSON error with the right status, and never a 500.

use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, Resp, TestApp};
use crate::on_both_backends;

on_both_backends!(
    malformed_requests_get_clear_errors,
    refused_writes_change_nothing,
    control_characters_and_bidi_overrides_are_refused_everywhere,
    times_out_of_range_and_foreign_hosts_are_refused_and_answers_are_not_cached,
    a_server_given_host_names_answers_those,
);

async fn malformed_requests_get_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(30);
    asha.open_chat(&chat_id, "Priya").await;
    let http = app.http();
    let notes_url = format!("{}/api/v1/conversations/{}/notes", app.base, enc(&chat_id));

    asha.send(
        http.post(&notes_url)
            .header("content-type", "application/json")
            .body("{\"body\": "),
    )
    .await
    .expect_error(400, "invalid_json");
    asha.send(
        http.post(&notes_url)
            .header("content-type", "text/plain")
            .body("{\"body\":\"x\"}"),
    )
    .await
    .expect_error(415, "unsupported_media_type");
    let wrong_type = asha
        .send(http.post(&notes_url).json(&json!({"body": 5})))
        .await
        .expect_error(422, "invalid_body");
    // The message names the field that is wrong.
    assert!(
        wrong_type["message"]
            .as_str()
            .unwrap()
            .contains("body: invalid type"),
        "{wrong_type}"
    );
    asha.send(http.post(&notes_url).json(&json!({"text": "hi"})))
        .await
        .expect_error(422, "invalid_body");
    asha.send(http.post(&notes_url).json(&json!([1, 2])))
        .await
        .expect_error(422, "invalid_body");

    for bad in [
        "hello",
        "919876543210",
        "919876543210%40s.whatsapp.net",
        "status%40broadcast",
    ] {
        asha.get(&format!("/conversations/{bad}"))
            .await
            .expect_error(400, "invalid_chat_id");
    }
    // A raw @ in the path works as well as %40.
    asha.get(&format!("/conversations/{chat_id}"))
        .await
        .expect(200);
    asha.get("/conversations/919876549999%40c.us")
        .await
        .expect_error(404, "not_found");
    asha.get("/conversations?limit=lots")
        .await
        .expect_error(400, "invalid_parameter");
    asha.get("/conversations?limit=0")
        .await
        .expect_error(400, "invalid_parameter");
    asha.get("/conversations?cursor=garbage")
        .await
        .expect_error(400, "invalid_parameter");
    asha.get("/conversations?colour=red")
        .await
        .expect_error(400, "invalid_parameter");
    asha.get("/no/such/route")
        .await
        .expect_error(404, "not_found");
    asha.send(http.patch(format!("{}/api/v1/me", app.base)))
        .await
        .expect_error(405, "method_not_allowed");
    asha.post_empty("/reminders/not-a-real-id/done")
        .await
        .expect_error(404, "not_found");
    asha.send(
        http.post(format!(
            "{}/api/v1/conversations/{}/notes",
            app.base,
            enc(&chat_id)
        ))
        .header("Idempotency-Key", "")
        .json(&json!({"body": "x"})),
    )
    .await
    .expect_error(400, "invalid_parameter");

    // Without a valid token nothing but login and the probes answer.
    Resp::from(
        http.get(format!("{}/api/v1/me", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect_error(401, "unauthorized");
    Resp::from(
        http.get(format!("{}/api/v1/me", app.base))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect_error(401, "unauthorized");
    Resp::from(
        http.get(format!("{}/api/v1/me", app.base))
            .bearer_auth("bt_forged")
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect_error(401, "unauthorized");
    let health = Resp::from(
        http.get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(health.expect(200)["status"], "ok");
    let ready = Resp::from(
        http.get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ready.expect(200)["status"], "ready");
}

async fn refused_writes_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(31);
    asha.open_chat(&chat_id, "Priya").await;
    let pipeline = lead
        .post(
            "/pipelines",
            json!({"name": "Sales", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    let before_seq = app.latest_seq().await;
    let before = asha.conversation(&chat_id).await;

    let stage = format!("/conversations/{}/stage", enc(&chat_id));
    asha.put(
        &stage,
        json!({"pipeline_id": pipeline["id"], "stage": "Lost"}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.put(
        &stage,
        json!({"pipeline_id": pipeline["id"], "stage": "Won", "owner": "me"}),
    )
    .await
    .expect_error(422, "invalid_body");
    asha.put(
        &stage,
        json!({"pipeline_id": pipeline["id"], "stage": null}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.put(
        &format!("/conversations/{}", enc(&chat_id)),
        json!({"title": ""}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.put(
        &format!("/conversations/{}", enc(&chat_id)),
        json!({"title": "Priya", "phone": "call me maybe"}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.post(
        &format!("/conversations/{}/reminders", enc(&chat_id)),
        json!({"due_at": 1, "text": ""}),
    )
    .await
    .expect_error(422, "validation_failed");
    asha.post(
        &format!("/conversations/{}/reminders", enc(&chat_id)),
        json!({"due_at": "tomorrow", "text": "call"}),
    )
    .await
    .expect_error(422, "invalid_body");
    asha.post("/pipelines", json!({"name": "Mine", "stages": ["A"]}))
        .await
        .expect_error(403, "forbidden");
    lead.post("/pipelines", json!({"name": "Sales", "stages": ["A"]}))
        .await
        .expect_error(409, "pipeline_exists");
    lead.post("/pipelines", json!({"name": "Twice", "stages": ["A", "A"]}))
        .await
        .expect_error(422, "validation_failed");
    asha.post(
        &format!("/conversations/{}/messages", enc(&chat_id)),
        json!({"message_id": "has spaces", "direction": "in"}),
    )
    .await
    .expect_error(422, "validation_failed");

    assert_eq!(app.latest_seq().await, before_seq, "no event was recorded");
    let after = asha.conversation(&chat_id).await;
    assert_eq!(after, before, "the conversation is untouched");
    let pipelines = asha.get("/pipelines").await.expect(200);
    assert_eq!(pipelines["items"].as_array().unwrap().len(), 1);
}

/// Text with a C0 control character (other than newline and tab) or a bidi override is refused
/// with a 422 wherever it comes in — bodies, queries, paths, the login — on both databases
/// (PostgreSQL used to answer a NUL with 503 "busy"), and nothing is written.
async fn control_characters_and_bidi_overrides_are_refused_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(31);
    asha.open_chat(&chat_id, "Priya").await;
    let seq = app.latest_seq().await;
    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    for bad in [
        "a\u{0}b",
        "bell\u{7}",
        "cr\rlf",
        "\u{202e}gnp.exe",
        "x\u{2066}y",
    ] {
        let refused = asha
            .post(&notes, json!({ "body": bad }))
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused["message"].as_str().unwrap().contains("control"),
            "{refused}"
        );
        asha.post(
            &format!("/conversations/{}/reminders", enc(&chat_id)),
            json!({ "due_at": 4_000_000_000_000_i64, "text": bad }),
        )
        .await
        .expect_error(422, "validation_failed");
        asha.put(
            &format!("/conversations/{}", enc(&chat_id)),
            json!({ "title": bad }),
        )
        .await
        .expect_error(422, "validation_failed");
    }
    for query in ["owner=%00", "stage=%E2%80%AE", "cursor=%01"] {
        asha.get(&format!("/conversations?{query}"))
            .await
            .expect_error(422, "validation_failed");
    }
    asha.post_empty("/reminders/abc%00/done")
        .await
        .expect_error(422, "validation_failed");
    Resp::from(app.login("asha\u{0}@x.test", "whatever1").await)
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(app.latest_seq().await, seq, "nothing was written");
    // Newlines and tabs are text.
    asha.post(&notes, json!({ "body": "line one\n\tline two" }))
        .await
        .expect(201);
}

async fn times_out_of_range_and_foreign_hosts_are_refused_and_answers_are_not_cached(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let chat_id = chat(32);
    asha.open_chat(&chat_id, "Priya").await;
    let messages = format!("/conversations/{}/messages", enc(&chat_id));
    for sent_at in [i64::MAX, 4_102_444_800_000, 1_000, -5] {
        asha.post(
            &messages,
            json!({"message_id": "3EB0F1", "direction": "in", "sent_at": sent_at}),
        )
        .await
        .expect_error(422, "validation_failed");
    }
    asha.post(
        &messages,
        json!({"message_id": "3EB0F1", "direction": "in", "sent_at": 1_700_000_000_000_i64}),
    )
    .await
    .expect(201);

    // What carries a token or an agent's data is never cached, nor sniffed.
    let login = app.login(&asha.email, crate::common::PASSWORD).await;
    for response in [login, asha_me(&app, &asha).await] {
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }

    // A server on a loopback address answers loopback names only (no DNS rebinding).
    let rebound = app
        .http()
        .get(format!("{}/api/v1/me", app.base))
        .header("host", format!("attacker.example:{}", app.addr.port()))
        .bearer_auth(&asha.token)
        .send()
        .await
        .unwrap();
    Resp::from(rebound)
        .await
        .expect_error(403, "host_not_allowed");
    let local = app
        .http()
        .get(format!("{}/healthz", app.base))
        .header("host", format!("localhost:{}", app.addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
}

async fn asha_me(app: &TestApp, asha: &crate::common::TestAgent) -> reqwest::Response {
    app.http()
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(&asha.token)
        .send()
        .await
        .unwrap()
}

/// `--allowed-host` (behind a reverse proxy, say): the named host is answered, others are not.
async fn a_server_given_host_names_answers_those(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.allowed_hosts = vec!["baton.example".to_owned()];
    })
    .await;
    let healthz_for = |host: &'static str| {
        let app = &app;
        async move {
            app.http()
                .get(format!("{}/healthz", app.base))
                .header("host", host)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(healthz_for("baton.example").await.status(), 200);
    assert_eq!(healthz_for("baton.example:443").await.status(), 200);
    Resp::from(healthz_for("attacker.example").await)
        .await
        .expect_error(403, "host_not_allowed");
}
