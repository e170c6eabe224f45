//! Who can be given chats: routing profiles (skills, capacity, shifts, exceptions), teams, and
//! closing a chat. Bad input is refused naming the field, and nothing is half-written.

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{chat, enc, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    routing_profiles_are_checked_tidied_and_kept,
    teams_have_unique_names_and_active_members,
    closing_and_reopening_a_chat_is_recorded,
);

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

async fn routing_profiles_are_checked_tidied_and_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let path = format!("/agents/{}/routing", asha.id);

    // Never set: no skills, no limit, not limited by shifts.
    let empty = asha.get(&path).await.expect(200);
    assert_eq!(
        empty,
        json!({"skills": [], "capacity": null, "shifts": [], "exceptions": []})
    );
    let profile = json!({
        "skills": [" Hindi ", "home-loans", "hindi"],
        "capacity": 8,
        "shifts": [
            {"weekday": "tue", "start": "09:00", "end": "18:00"},
            {"weekday": "mon", "start": "22:00", "end": "06:00"},
        ],
        "exceptions": [{"date": "2026-12-25"}],
    });
    let saved = lena.put(&path, profile.clone()).await.expect(200);
    assert_eq!(saved["skills"], json!(["hindi", "home-loans"]));
    assert_eq!(saved["shifts"][0]["weekday"], "mon", "in weekday order");
    assert_eq!(
        saved["exceptions"],
        json!([{"date": "2026-12-25", "hours": []}])
    );
    // The agent reads their own; a colleague may not; a lead may.
    assert_eq!(asha.get(&path).await.expect(200), saved);
    ravi.get(&path).await.expect_error(403, "forbidden");
    asha.put(&path, profile.clone())
        .await
        .expect_error(403, "forbidden");
    assert_eq!(lena.get(&path).await.expect(200), saved);
    // Another org's agent is not found; so is nobody.
    outsider.get(&path).await.expect_error(404, "not_found");
    outsider
        .put(&path, profile.clone())
        .await
        .expect_error(404, "not_found");
    lena.get("/agents/nobody/routing")
        .await
        .expect_error(404, "not_found");

    // Bad input names the field, and the stored profile stays as it was.
    let shifts = |shifts: Value| json!({"shifts": shifts});
    for (body, field) in [
        (
            shifts(json!([{"weekday": "mon", "start": "25:00", "end": "18:00"}])),
            "shifts[0].start",
        ),
        (
            shifts(json!([{"weekday": "mon", "start": "09:00", "end": "09:00"}])),
            "shifts[0]: start and end",
        ),
        (
            shifts(json!([
                {"weekday": "wed", "start": "09:00", "end": "13:00"},
                {"weekday": "wed", "start": "12:00", "end": "18:00"},
            ])),
            "shifts[1] overlaps shifts[0]",
        ),
        (json!({"skills": ["Home Loans"]}), "skills[0]"),
        (json!({"capacity": 5000}), "capacity"),
        (
            json!({"exceptions": [{"date": "25/12/2026"}]}),
            "exceptions[0].date",
        ),
    ] {
        let refused = lena
            .put(&path, body.clone())
            .await
            .expect_error(422, "validation_failed");
        assert!(message(&refused).starts_with(field), "{body}: {refused}");
    }
    for (body, field) in [
        (json!({"capacity": -1}), "capacity"),
        (
            shifts(json!([{"weekday": "monday", "start": "09:00", "end": "18:00"}])),
            "shifts",
        ),
        (json!({"shift": []}), "shift"),
    ] {
        let refused = lena
            .put(&path, body.clone())
            .await
            .expect_error(422, "invalid_body");
        assert!(message(&refused).contains(field), "{body}: {refused}");
    }
    assert_eq!(
        asha.get(&path).await.expect(200),
        saved,
        "nothing was written"
    );
    // Cleared by an empty profile.
    let cleared = lena.put(&path, json!({})).await.expect(200);
    assert_eq!(cleared, empty);
}

async fn teams_have_unique_names_and_active_members(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let mia = app.agent("Mia", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let outsider = app.outsider("Olga").await;

    asha.post("/teams", json!({"name": "Sales", "agent_ids": [asha.id]}))
        .await
        .expect_error(403, "forbidden");
    let sales = lena
        .post(
            "/teams",
            json!({"name": "  Sales  ", "agent_ids": [ravi.id, asha.id, ravi.id]}),
        )
        .await
        .expect(201);
    assert_eq!(sales["name"], "Sales");
    let mut members = vec![asha.id.clone(), ravi.id.clone()];
    members.sort();
    assert_eq!(sales["agent_ids"], json!(members), "sorted, once each");
    let support = admin
        .post("/teams", json!({"name": "Support"}))
        .await
        .expect(201);
    assert_eq!(support["agent_ids"], json!([]));
    // Everyone reads them, by name.
    let listed = asha.get("/teams").await.expect(200);
    let names: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Sales", "Support"]);
    assert_eq!(outsider.get("/teams").await.expect(200), json!([]));

    // Names are unique without case; members are active agents of the org.
    lena.post("/teams", json!({"name": "sales"}))
        .await
        .expect_error(409, "conflict");
    let unknown = lena
        .post("/teams", json!({"name": "Night", "agent_ids": ["nobody"]}))
        .await
        .expect_error(422, "validation_failed");
    assert!(message(&unknown).starts_with("agent_ids"), "{unknown}");
    lena.post(
        "/teams",
        json!({"name": "Night", "agent_ids": [outsider.id]}),
    )
    .await
    .expect_error(422, "validation_failed");
    lena.post("/teams", json!({"name": "   "}))
        .await
        .expect_error(422, "validation_failed");
    admin
        .post_empty(&format!("/agents/{}/deactivate", mia.id))
        .await
        .expect(204);
    lena.post("/teams", json!({"name": "Night", "agent_ids": [mia.id]}))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        asha.get("/teams")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing half-written"
    );

    // Renamed and re-staffed in one go; not onto another team's name.
    let team_path = format!("/teams/{}", sales["id"].as_str().unwrap());
    let renamed = lena
        .put(
            &team_path,
            json!({"name": "Sales India", "agent_ids": [ravi.id]}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Sales India");
    assert_eq!(renamed["agent_ids"], json!([ravi.id]));
    lena.put(&team_path, json!({"name": "SUPPORT"}))
        .await
        .expect_error(409, "conflict");
    asha.put(&team_path, json!({"name": "Mine"}))
        .await
        .expect_error(403, "forbidden");
    outsider
        .put(&team_path, json!({"name": "Theirs"}))
        .await
        .expect_error(404, "not_found");
    outsider
        .delete(&team_path)
        .await
        .expect_error(404, "not_found");
    asha.delete(&team_path).await.expect_error(403, "forbidden");
    lena.delete(&team_path).await.expect(204);
    lena.delete(&team_path).await.expect_error(404, "not_found");
    let left: Vec<_> = asha
        .get("/teams")
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["name"], "Support");
}

async fn closing_and_reopening_a_chat_is_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(800);
    let close = format!("/conversations/{}/close", enc(&chat_id));
    let reopen = format!("/conversations/{}/reopen", enc(&chat_id));
    let opened = asha.open_chat(&chat_id, "Priya").await;
    assert!(opened["closed_at"].is_null(), "a new chat is open");
    asha.lock(&chat_id).await.expect(200);
    asha.release(&chat_id).await.expect(204);

    ravi.post_empty(&close).await.expect_error(403, "not_owner");
    let closed = asha.post_empty(&close).await.expect(200);
    assert!(closed["closed_at"].as_i64().is_some());
    assert_eq!(closed["owner"]["name"], "Asha", "closing keeps the owner");
    // Again: nothing changes, nothing is recorded twice.
    let again = asha.post_empty(&close).await.expect(200);
    assert_eq!(again["closed_at"], closed["closed_at"]);
    let listed = asha.get("/conversations?owner=me").await.expect(200);
    assert!(listed["items"][0]["closed_at"].as_i64().is_some());
    let reopened = lena.post_empty(&reopen).await.expect(200);
    assert!(reopened["closed_at"].is_null());
    lena.post_empty(&reopen).await.expect(200);
    let kinds = asha.timeline_kinds(&chat_id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "conversation.closed" || *k == "conversation.reopened")
            .collect::<Vec<_>>(),
        ["conversation.closed", "conversation.reopened"],
        "{kinds:?}"
    );
}

on_both_backends!(
    routing_rules_are_an_ordered_list_checked_against_the_org,
    business_hours_are_the_orgs_and_checked_like_shifts,
);

async fn business_hours_are_the_orgs_and_checked_like_shifts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let path = "/org/business-hours";
    // None set: open at all times.
    assert_eq!(
        asha.get(path).await.expect(200),
        json!({"shifts": [], "exceptions": []})
    );
    let hours = json!({
        "shifts": [
            {"weekday": "sat", "start": "10:00", "end": "14:00"},
            {"weekday": "mon", "start": "09:00", "end": "18:00"},
        ],
        "exceptions": [{"date": "2026-12-25"}],
    });
    let saved = lena.put(path, hours.clone()).await.expect(200);
    assert_eq!(saved["shifts"][0]["weekday"], "mon", "in weekday order");
    assert_eq!(
        asha.get(path).await.expect(200),
        saved,
        "everyone reads them"
    );
    asha.put(path, hours).await.expect_error(403, "forbidden");
    // Another org has its own (none).
    assert_eq!(
        outsider.get(path).await.expect(200),
        json!({"shifts": [], "exceptions": []})
    );
    let refused = lena
        .put(
            path,
            json!({"shifts": [{"weekday": "mon", "start": "18:00", "end": "18:00"}]}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert!(message(&refused).starts_with("shifts[0]"), "{refused}");
    lena.put(path, json!({"hours": []}))
        .await
        .expect_error(422, "invalid_body");
    assert_eq!(
        asha.get(path).await.expect(200),
        saved,
        "nothing was written"
    );
}

async fn routing_rules_are_an_ordered_list_checked_against_the_org(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let outsider = app.outsider("Olga").await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Home loans", "stages": ["New", "Qualified", "Won"]}),
        )
        .await
        .expect(201);
    let qualification = lena
        .post(
            "/teams",
            json!({"name": "Qualification", "agent_ids": [asha.id]}),
        )
        .await
        .expect(201);
    let by_day = lena
        .post(
            "/routing/rules",
            json!({
                "name": " Qualification by day ",
                "match": {"new_chat": true, "weekdays": ["tue", "mon", "mon"], "from": "09:00", "to": "18:00"},
                "target": {"team_id": qualification["id"]},
                "strategy": "round_robin",
                "reassign_after_secs": 600,
            }),
        )
        .await
        .expect(201);
    assert_eq!(by_day["name"], "Qualification by day");
    assert_eq!(by_day["position"], 1);
    assert_eq!(by_day["enabled"], true, "enabled unless said otherwise");
    assert_eq!(by_day["match"]["weekdays"], json!(["mon", "tue"]));
    let sales = lena
        .post(
            "/routing/rules",
            json!({
                "name": "Sales for qualified leads",
                "match": {"pipeline_id": pipeline["id"], "stage": "Qualified", "skill": "Hindi"},
                "target": {"agent_ids": [ravi.id, ravi.id]},
                "strategy": "least_loaded",
            }),
        )
        .await
        .expect(201);
    assert_eq!(sales["position"], 2);
    assert_eq!(sales["target"]["agent_ids"], json!([ravi.id]));
    assert_eq!(sales["match"]["skill"], "hindi");
    // Everyone reads them in order; another org sees none.
    let listed = asha.get("/routing/rules").await.expect(200);
    assert_eq!(listed, json!([by_day, sales]));
    assert_eq!(outsider.get("/routing/rules").await.expect(200), json!([]));

    // Bad input names the field; nothing is written.
    let rule = |matches: Value, target: Value| json!({"name": "Night", "match": matches, "target": target, "strategy": "round_robin"});
    let team = json!({"team_id": qualification["id"]});
    for (body, field) in [
        (
            rule(json!({"pipeline_id": "nope"}), team.clone()),
            "match.pipeline_id",
        ),
        (
            rule(
                json!({"pipeline_id": pipeline["id"], "stage": "Lost"}),
                team.clone(),
            ),
            "match.stage",
        ),
        (rule(json!({"stage": "Won"}), team.clone()), "match.stage"),
        (
            rule(json!({"from": "25:00", "to": "06:00"}), team.clone()),
            "match.from",
        ),
        (
            rule(json!({"from": "22:00"}), team.clone()),
            "match.from and match.to",
        ),
        (
            rule(json!({}), json!({"team_id": "nope"})),
            "target.team_id",
        ),
        (
            rule(json!({}), json!({"agent_ids": [outsider.id]})),
            "target.agent_ids",
        ),
        (
            rule(json!({}), json!({"agent_ids": []})),
            "target.agent_ids",
        ),
        (rule(json!({}), json!({})), "target must name"),
    ] {
        let refused = lena
            .post("/routing/rules", body.clone())
            .await
            .expect_error(422, "validation_failed");
        assert!(message(&refused).starts_with(field), "{body}: {refused}");
    }
    let unknown_strategy = lena
        .post(
            "/routing/rules",
            json!({"name": "Night", "target": team, "strategy": "random"}),
        )
        .await
        .expect_error(422, "invalid_body");
    assert!(
        message(&unknown_strategy).contains("strategy"),
        "{unknown_strategy}"
    );
    lena.post(
        "/routing/rules",
        json!({"name": "qualification BY DAY", "target": team, "strategy": "round_robin"}),
    )
    .await
    .expect_error(409, "conflict");
    asha.post(
        "/routing/rules",
        json!({"name": "Mine", "target": team, "strategy": "round_robin"}),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(
        asha.get("/routing/rules")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Changed in place, keeping its place; disabled.
    let by_day_path = format!("/routing/rules/{}", by_day["id"].as_str().unwrap());
    let changed = lena
        .put(
            &by_day_path,
            json!({"name": "Qualification by day", "enabled": false, "target": team, "strategy": "least_loaded"}),
        )
        .await
        .expect(200);
    assert_eq!(changed["position"], 1);
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["created_at"], by_day["created_at"]);
    outsider
        .put(
            &by_day_path,
            json!({"name": "x", "target": team, "strategy": "round_robin"}),
        )
        .await
        .expect_error(404, "not_found");

    // Reordered: every rule once, in one go.
    let ids = |rules: &[&Value]| json!({"ids": rules.iter().map(|r| r["id"].clone()).collect::<Vec<_>>()});
    let reordered = lena
        .put("/routing/rules/order", ids(&[&sales, &by_day]))
        .await
        .expect(200);
    assert_eq!(reordered[0]["id"], sales["id"]);
    assert_eq!(reordered[0]["position"], 1);
    assert_eq!(reordered[1]["position"], 2);
    lena.put("/routing/rules/order", ids(&[&sales]))
        .await
        .expect_error(422, "validation_failed");
    lena.put("/routing/rules/order", ids(&[&sales, &sales]))
        .await
        .expect_error(422, "validation_failed");
    assert_eq!(
        asha.get("/routing/rules").await.expect(200)[0]["id"],
        sales["id"]
    );

    // A team a rule routes to is not deleted from under it.
    let team_path = format!("/teams/{}", qualification["id"].as_str().unwrap());
    let refused = lena.delete(&team_path).await.expect_error(409, "conflict");
    assert!(
        message(&refused).contains("Qualification by day"),
        "{refused}"
    );
    lena.delete(&by_day_path).await.expect(204);
    lena.delete(&by_day_path)
        .await
        .expect_error(404, "not_found");
    lena.delete(&team_path).await.expect(204);
}
