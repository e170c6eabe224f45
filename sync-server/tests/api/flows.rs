//! The first responder's flows: leads write one per pipeline, everyone reads them, a flow that
//! could not finish is refused naming the field, and the pipeline's changes are followed (a
//! renamed stage) or refused (a removed stage the flow still exits to).

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(flows_are_checked_one_per_pipeline_and_follow_their_pipeline);

fn homes(pipeline_id: &str) -> Value {
    json!({
        "name": "Home loans first answer",
        "pipeline_id": pipeline_id,
        "greeting": "Hi! Acme Realty here.",
        "done_stage": "Qualified",
        "closing": "Thank you! A colleague will call you.",
        "questions": [
            {"key": "budget", "label": "Budget", "text": "What is your budget?", "kind": "amount",
             "branches": [{"when": {"below": 5000000}, "then": {"exit": "Nurture"}}]},
            {"key": "type", "label": "Home", "text": "Which home?", "kind": "choice",
             "options": ["2BHK", "3BHK", "Villa"],
             "branches": [{"when": {"option": 3}, "then": {"ask": "visit"}}]},
            {"key": "visit", "label": "Site visit", "text": "A visit this week?", "kind": "yes_no"}
        ]
    })
}

async fn flows_are_checked_one_per_pipeline_and_follow_their_pipeline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Nurture", "Qualified"]}),
        )
        .await
        .expect(201);
    let pipeline_id = pipeline["id"].as_str().unwrap().to_owned();

    // Agents read flows and write none.
    asha.post("/flows", homes(&pipeline_id))
        .await
        .expect_error(403, "forbidden");
    let flow = lena.post("/flows", homes(&pipeline_id)).await.expect(201);
    let id = flow["id"].as_str().unwrap().to_owned();
    assert_eq!(flow["enabled"], true, "enabled unless said otherwise");
    assert_eq!(flow["max_unanswered"], 3);
    assert_eq!(flow["questions"][1]["options"][2], "Villa");
    let listed = asha.get("/flows").await.expect(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(outsider.get("/flows").await.expect(200), json!([]));

    // One flow per pipeline.
    lena.post("/flows", homes(&pipeline_id))
        .await
        .expect_error(409, "conflict");

    // A flow that could not finish is refused, naming the field; nothing is written.
    let broken = |path: &str, value: Value| {
        let mut flow = homes(&pipeline_id);
        let mut at = &mut flow;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            at = match part.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*part],
            };
        }
        at[*parts.last().unwrap()] = value;
        flow
    };
    for (flow, field) in [
        (broken("greeting", json!(" ")), "greeting"),
        (broken("done_stage", json!("Won")), "done_stage"),
        (
            broken("questions.0.branches.0.then", json!({"exit": "Lost"})),
            "questions[0].branches[0].then.exit",
        ),
        (
            broken("questions.0.kind", json!("yes_no")),
            "questions[0].branches[0].when",
        ),
        (
            broken("questions.1.branches.0.then", json!({"ask": "budget"})),
            "questions[1].branches[0].then.ask",
        ),
        (
            broken("questions.1.options", json!(["Only one"])),
            "questions[1].options",
        ),
        (broken("pipeline_id", json!("nope")), "pipeline_id"),
    ] {
        let refused = lena
            .put(&format!("/flows/{id}"), flow)
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused["message"].as_str().unwrap().starts_with(field),
            "{field}: {refused}"
        );
    }
    lena.put(
        &format!("/flows/{id}"),
        json!({"name": "x", "colour": "red"}),
    )
    .await
    .expect_error(422, "invalid_body");
    let unchanged = lena.get("/flows").await.expect(200);
    assert_eq!(unchanged[0], flow, "nothing half-written");

    // A change.
    let mut changed = homes(&pipeline_id);
    changed["enabled"] = json!(false);
    changed["max_unanswered"] = json!(2);
    let saved = lena.put(&format!("/flows/{id}"), changed).await.expect(200);
    assert_eq!(saved["enabled"], false);
    assert_eq!(saved["max_unanswered"], 2);
    assert!(saved["updated_at"].as_i64() >= flow["updated_at"].as_i64());

    // The pipeline renames Nurture: the flow follows.
    lena.put(
        &format!("/pipelines/{pipeline_id}"),
        json!({"name": "Home loans", "stages": ["New", "Later", "Qualified"],
               "renamed": [{"from": "Nurture", "to": "Later"}]}),
    )
    .await
    .expect(200);
    let followed = lena.get("/flows").await.expect(200);
    assert_eq!(
        followed[0]["questions"][0]["branches"][0]["then"]["exit"],
        "Later"
    );
    // Removing a stage the flow exits to is refused until the flow changes.
    let refused = lena
        .put(
            &format!("/pipelines/{pipeline_id}"),
            json!({"name": "Home loans", "stages": ["New", "Later"]}),
        )
        .await
        .expect_error(409, "conflict");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Home loans first answer"),
        "{refused}"
    );
    let pipelines = lena.get("/pipelines").await.expect(200);
    assert_eq!(
        pipelines["items"][0]["stages"],
        json!(["New", "Later", "Qualified"]),
        "the pipeline unchanged"
    );

    // Brand-new chats are answered by one enabled flow at most.
    let cards = lena
        .post(
            "/pipelines",
            json!({"name": "Cards", "stages": ["New", "Nurture", "Qualified"]}),
        )
        .await
        .expect(201);
    let cards_id = cards["id"].as_str().unwrap().to_owned();
    let mut first = homes(&pipeline_id);
    first["new_chats"] = json!(true);
    first["questions"][0]["branches"][0]["then"]["exit"] = json!("Later");
    let first = lena.put(&format!("/flows/{id}"), first).await.expect(200);
    assert_eq!(first["new_chats"], true);
    let mut second = homes(&cards_id);
    second["name"] = json!("Cards first answer");
    second["new_chats"] = json!(true);
    let refused = lena
        .post("/flows", second.clone())
        .await
        .expect_error(409, "conflict");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Home loans first answer"),
        "{refused}"
    );
    // Disabled, it answers nothing and stands in no one's way.
    second["enabled"] = json!(false);
    let second = lena.post("/flows", second).await.expect(201);
    assert_eq!(second["new_chats"], true);
    lena.delete(&format!("/flows/{}", second["id"].as_str().unwrap()))
        .await
        .expect(204);

    // Another org's flow is not there; deleting is a lead's.
    outsider
        .put(&format!("/flows/{id}"), homes(&pipeline_id))
        .await
        .expect_error(404, "not_found");
    asha.delete(&format!("/flows/{id}"))
        .await
        .expect_error(403, "forbidden");
    lena.delete(&format!("/flows/{id}")).await.expect(204);
    assert_eq!(lena.get("/flows").await.expect(200), json!([]));
    lena.delete(&format!("/flows/{id}"))
        .await
        .expect_error(404, "not_found");
}
