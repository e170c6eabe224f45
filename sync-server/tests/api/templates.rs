//! Message templates: leads write the team's wording, everyone reads it and counts its use,
//! every change reaches open tabs live, bad input is refused naming the field.

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(templates_are_the_teams_wording_checked_and_told_live);

async fn templates_are_the_teams_wording_checked_and_told_live(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Qualified"]}),
        )
        .await
        .expect(201);
    let mut stream = asha.events(app.latest_seq().await).await;
    stream.backlog().await;

    let created = lena
        .post(
            "/templates",
            json!({
                "name": "  Site visit ",
                "body": "Hi {{first_name}} 🙂, {{agent}} here. Plot {{plot_no}} on {{day}}; {{plot_no}} again.\n",
                "pipeline_id": pipeline["id"], "stage": "Qualified",
            }),
        )
        .await
        .expect(201);
    assert_eq!(created["name"], "Site visit");
    assert_eq!(
        created["body"],
        "Hi {{first_name}} 🙂, {{agent}} here. Plot {{plot_no}} on {{day}}; {{plot_no}} again."
    );
    assert_eq!(created["custom_variables"], json!(["plot_no", "day"]));
    assert_eq!(created["use_count"], 0);
    let event = stream.until_kind("template.saved").await.0;
    assert_eq!(serde_json::to_value(&event.body).unwrap()["data"], created);
    assert!(event.chat_id.is_none());

    // Everyone in the org reads them, by name; another org sees none.
    let address = lena
        .post(
            "/templates",
            json!({"name": "Address", "body": "We are at {{business}}."}),
        )
        .await
        .expect(201);
    let event = stream.until_kind("template.saved").await.0;
    assert_eq!(serde_json::to_value(&event.body).unwrap()["data"], address);
    let listed = asha.get("/templates").await.expect(200);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Address", "Site visit"]);
    assert_eq!(outsider.get("/templates").await.expect(200), json!([]));
    let id = created["id"].as_str().unwrap();
    outsider
        .post_empty(&format!("/templates/{id}/used"))
        .await
        .expect_error(404, "not_found");

    // Agents use them; leads write them.
    asha.post("/templates", json!({"name": "Mine", "body": "x"}))
        .await
        .expect_error(403, "forbidden");
    asha.post_empty(&format!("/templates/{id}/used"))
        .await
        .expect(204);
    asha.post_empty(&format!("/templates/{id}/used"))
        .await
        .expect(204);

    // Bad input names the field and writes nothing.
    let before = asha.get("/templates").await.expect(200);
    let template = |name: &str, body: &str, extra: Value| {
        let mut t = json!({"name": name, "body": body});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    for (body, mentions) in [
        (template("", "Hi", json!({})), "name"),
        (template("A", "   ", json!({})), "body"),
        (template("A", "Hi {{name", json!({})), "not closed"),
        (
            template("A", "Hi {{First Name}}", json!({})),
            "is not a variable",
        ),
        (template("A", "Hi\u{0}", json!({})), "U+0000"),
        (template("A", "Hi\u{202e}", json!({})), "U+202E"),
        (template("A", &"x".repeat(4001), json!({})), "at most 4000"),
        (template("A", "Hi", json!({"stage": "New"})), "stage"),
        (
            template("A", "Hi", json!({"pipeline_id": "nope"})),
            "pipeline_id",
        ),
        (
            template(
                "A",
                "Hi",
                json!({"pipeline_id": pipeline["id"], "stage": "Won"}),
            ),
            "stage",
        ),
        (template("A", "Hi", json!({"colour": "red"})), "colour"),
    ] {
        let refused = lena.post("/templates", body.clone()).await.expect(422);
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{body}: {message}");
    }
    lena.post(
        "/templates",
        json!({"name": "SITE VISIT", "body": "Another"}),
    )
    .await
    .expect_error(409, "conflict");
    let after = asha.get("/templates").await.expect(200);
    assert_eq!(
        after.as_array().unwrap().len(),
        before.as_array().unwrap().len()
    );

    // Changed: told live, its count kept; deleted: told live.
    let changed = lena
        .put(
            &format!("/templates/{id}"),
            json!({"name": "Site visit", "body": "Hello {{name}}, see you on {{day}}"}),
        )
        .await
        .expect(200);
    assert_eq!(changed["custom_variables"], json!(["day"]));
    assert_eq!(changed["use_count"], 2);
    assert!(changed["pipeline_id"].is_null());
    assert!(changed["updated_at"].as_i64() >= created["updated_at"].as_i64());
    let event = stream.until_kind("template.saved").await.0;
    assert_eq!(serde_json::to_value(&event.body).unwrap()["data"], changed);
    asha.delete(&format!("/templates/{id}"))
        .await
        .expect_error(403, "forbidden");
    lena.delete(&format!("/templates/{id}")).await.expect(204);
    let event = stream.until_kind("template.deleted").await.0;
    assert_eq!(
        serde_json::to_value(&event.body).unwrap()["data"],
        json!({"id": id})
    );
    lena.put(
        &format!("/templates/{id}"),
        json!({"name": "Gone", "body": "x"}),
    )
    .await
    .expect_error(404, "not_found");
    asha.post_empty(&format!("/templates/{id}/used"))
        .await
        .expect_error(404, "not_found");
}
