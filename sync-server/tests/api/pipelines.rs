//! Changing a pipeline: renamed stages keep their conversations (and the rules and templates that
//! name them follow), a removed stage that holds conversations asks where they go, targets per
//! stage are checked, and every change is one transaction told live.

use protocol::api::Role;
use serde_json::json;

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(a_pipeline_changes_in_one_step_keeping_its_conversations);

async fn a_pipeline_changes_in_one_step_keeping_its_conversations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Quoted", "Won", "Lost"]}),
        )
        .await
        .expect(201);
    let id = pipeline["id"].as_str().unwrap();
    let path = format!("/pipelines/{id}");
    let at = |stage: &str| json!({"pipeline_id": id, "stage": stage});
    for (n, stage) in [(1, "Quoted"), (2, "Lost"), (3, "Lost"), (4, "Won")] {
        asha.open_chat(&chat(n), "Customer").await;
        asha.put(
            &format!("/conversations/{}/stage", enc(&chat(n))),
            at(stage),
        )
        .await
        .expect(200);
    }
    lena.post(
        "/routing/rules",
        json!({"name": "Quoted to sales", "match": {"pipeline_id": id, "stage": "Quoted"},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
    let won_rule = lena
        .post(
            "/routing/rules",
            json!({"name": "Won to support", "match": {"pipeline_id": id, "stage": "Won"},
                   "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
        )
        .await
        .expect(201);
    lena.post(
        "/templates",
        json!({"name": "Lost", "body": "Sorry", "pipeline_id": id, "stage": "Lost"}),
    )
    .await
    .expect(201);
    let mut stream = asha.events(app.latest_seq().await).await;
    stream.backlog().await;

    // Agents read pipelines; leads change them; another org finds none.
    let change = json!({"name": "Home loans", "stages": ["New", "Won"]});
    asha.put(&path, change.clone())
        .await
        .expect_error(403, "forbidden");
    outsider
        .put(&path, change.clone())
        .await
        .expect_error(404, "not_found");

    // Removing stages that hold chats asks where they go; a rule on a removed stage refuses.
    let refused = lena
        .put(
            &path,
            json!({"name": "Home loans", "stages": ["New", "Quote sent", "Closed"],
                   "renamed": [{"from": "Quoted", "to": "Quote sent"}], "moved": [{"from": "Won", "to": "Closed"}, {"from": "Lost", "to": "New"}]}),
        )
        .await
        .expect_error(409, "conflict");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("Won to support"),
        "{refused}"
    );
    lena.delete(&format!(
        "/routing/rules/{}",
        won_rule["id"].as_str().unwrap()
    ))
    .await
    .expect(204);
    let held = lena
        .put(
            &path,
            json!({"name": "Home loans", "stages": ["New", "Quote sent", "Closed"],
                   "renamed": [{"from": "Quoted", "to": "Quote sent"}, {"from": "Won", "to": "Closed"}]}),
        )
        .await
        .expect_error(409, "stage_not_empty");
    assert!(
        held["message"]
            .as_str()
            .unwrap()
            .starts_with("\"Lost\" holds 2 conversations"),
        "{held}"
    );
    // Bad input names the field; nothing was written by any of it.
    for (body, mentions) in [
        (
            json!({"name": "Home loans", "stages": []}),
            "1 to 50 stages",
        ),
        (
            json!({"name": "Home loans", "stages": ["New", "New"]}),
            "appears twice",
        ),
        (
            json!({"name": "Home loans", "stages": ["New"], "renamed": [{"from": "Nope", "to": "New"}]}),
            "renamed",
        ),
        (
            json!({"name": "Home loans", "stages": ["New", "Quoted", "Won", "Lost"], "renamed": [{"from": "Won", "to": "Lost"}]}),
            "two stages",
        ),
        (
            json!({"name": "Home loans", "stages": ["New", "Quoted", "Won", "Lost"], "moved": [{"from": "New", "to": null}]}),
            "moved",
        ),
        (
            json!({"name": "Home loans", "stages": ["New", "Quoted", "Won", "Lost"], "sla": [{"stage": "Gone", "response_mins": 5}]}),
            "sla",
        ),
        (
            json!({"name": "Home loans", "stages": ["New", "Quoted", "Won", "Lost"], "sla": [{"stage": "New", "response_mins": 0}]}),
            "sla.New.response_mins",
        ),
    ] {
        let refused = lena.put(&path, body.clone()).await.expect(422);
        assert!(
            refused["message"].as_str().unwrap().contains(mentions),
            "{body}: {refused}"
        );
    }
    assert_eq!(
        lena.conversation(&chat(1)).await["stage"]["stage"],
        "Quoted",
        "nothing written"
    );

    // The change: renamed stages keep their chats; Lost's chats go to New; targets set.
    let changed = lena
        .put(
            &path,
            json!({
                "name": "Housing loans",
                "stages": ["New", "Quote sent", "Closed"],
                "renamed": [{"from": "Quoted", "to": "Quote sent"}, {"from": "Won", "to": "Closed"}],
                "moved": [{"from": "Lost", "to": "New"}],
                "sla": [{"stage": "New", "first_response_mins": 15}, {"stage": "Closed"}],
            }),
        )
        .await
        .expect(200);
    assert_eq!(changed["stages"], json!(["New", "Quote sent", "Closed"]));
    assert_eq!(
        changed["sla"],
        json!([{"stage": "New", "first_response_mins": 15, "response_mins": null}])
    );
    let stage_of = |n: u64| {
        let lena = &lena;
        async move { lena.conversation(&chat(n)).await["stage"].clone() }
    };
    assert_eq!(
        stage_of(1).await,
        json!({"pipeline_id": id, "pipeline_name": "Housing loans", "stage": "Quote sent"})
    );
    assert_eq!(stage_of(2).await["stage"], "New");
    assert_eq!(stage_of(3).await["stage"], "New");
    assert_eq!(stage_of(4).await["stage"], "Closed");
    // The moves are in the chats' timelines; the rule follows its renamed stage; the template
    // for the removed stage keeps the pipeline only.
    let timeline = lena
        .get(&format!("/conversations/{}/timeline", enc(&chat(2))))
        .await
        .expect(200);
    let moved = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == "stage.changed")
        .unwrap();
    assert_eq!(moved["data"]["previous"]["stage"], "Lost");
    assert_eq!(moved["data"]["stage"]["stage"], "New");
    let rules = lena.get("/routing/rules").await.expect(200);
    assert_eq!(rules[0]["match"]["stage"], "Quote sent");
    let templates = lena.get("/templates").await.expect(200);
    assert!(templates[0]["stage"].is_null());
    assert_eq!(templates[0]["pipeline_id"], id);
    // Told live, with the renames.
    let event = stream.until_kind("pipeline.updated").await.0;
    let data = serde_json::to_value(&event.body).unwrap()["data"].clone();
    assert_eq!(data["pipeline"], changed);
    assert_eq!(
        data["renamed"],
        json!([{"from": "Quoted", "to": "Quote sent"}, {"from": "Won", "to": "Closed"}])
    );

    // Two stages can swap names.
    lena.put(
        &path,
        json!({"name": "Housing loans", "stages": ["Closed", "Quote sent", "New"],
               "renamed": [{"from": "New", "to": "Closed"}, {"from": "Closed", "to": "New"}]}),
    )
    .await
    .expect(200);
    assert_eq!(stage_of(4).await["stage"], "New");
    assert_eq!(stage_of(2).await["stage"], "Closed");
}
