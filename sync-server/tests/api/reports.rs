//! Reports: a scripted day of three chats (history reported on opening, live replies under the
//! repliers' fences, the same messages reported again by a colleague's browser, a declined
//! handoff, a chat still waiting) gives exactly the figures computed by hand, per agent, team,
//! stage and day, as JSON and as CSV; agents see their own; bad input is refused.
//!
//! Message times are a few minutes ahead of the database clock, so every owner and stage change
//! the test makes (at the database's "now") precedes them, whenever and however fast it runs.

use std::time::Duration;

use chrono::TimeZone;
use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{chat, enc, Backend, TestAgent, TestApp};
use crate::on_both_backends;

on_both_backends!(reports_give_the_figures_of_a_scripted_day);
on_both_backends!(history_is_recorded_once_and_checked);

const MIN: i64 = 60_000;

fn ist_date(ms: i64) -> String {
    chrono_tz::Asia::Kolkata
        .timestamp_millis_opt(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

async fn message(
    agent: &TestAgent,
    chat_id: &str,
    id: &str,
    dir: &str,
    at: i64,
    fence: Option<&Value>,
) -> u16 {
    let mut body = json!({"message_id": id, "direction": dir, "sent_at": at});
    if let Some(fence) = fence {
        body["fence"] = fence.clone();
    }
    let path = format!("/conversations/{}/messages", enc(chat_id));
    let resp = agent.post(&path, body).await;
    assert!(
        resp.status.is_success(),
        "{id}: {} {}",
        resp.status,
        resp.body
    );
    resp.status.as_u16()
}

async fn reports_give_the_figures_of_a_scripted_day(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let sales = lena
        .post("/teams", json!({"name": "Sales", "agent_ids": [asha.id]}))
        .await
        .expect(201);
    let loans = lena
        .post(
            "/pipelines",
            json!({"name": "Loans", "stages": ["New", "Won"]}),
        )
        .await
        .expect(201);
    lena.put(
        &format!("/pipelines/{}", loans["id"].as_str().unwrap()),
        json!({"name": "Loans", "stages": ["New", "Won"],
               "sla": [{"stage": "New", "first_response_mins": 30, "response_mins": 60}]}),
    )
    .await
    .expect(200);
    let (a, b, c) = (chat(1), chat(2), chat(3));
    for (agent, chat_id, title) in [
        (&asha, &a, "Priya"),
        (&ravi, &b, "Karan"),
        (&asha, &c, "Meena"),
    ] {
        agent.open_chat(chat_id, title).await;
    }
    let fence_a = asha.lock(&a).await.expect(200)["fence"].clone();
    let fence_b = ravi.lock(&b).await.expect(200)["fence"].clone();
    asha.lock(&c).await.expect(200);
    for chat_id in [&a, &b] {
        lena.put(
            &format!("/conversations/{}/stage", enc(chat_id)),
            json!({"pipeline_id": loans["id"], "stage": "New"}),
        )
        .await
        .expect(200);
    }

    let t0 = app.db.now().await.unwrap() + 10 * MIN;
    // Chat A's history, reported when Asha opened it: before anyone owned it or staged it.
    let history = json!({"messages": [
        {"message_id": "H1", "direction": "in", "sent_at": t0 - 60 * MIN},
        {"message_id": "H2", "direction": "out", "sent_at": t0 - 50 * MIN},
    ]});
    let history_path = format!("/conversations/{}/messages/history", enc(&a));
    assert_eq!(
        asha.post(&history_path, history.clone()).await.expect(200)["recorded"],
        2
    );
    // Ravi's browser reports the same history: nothing new.
    assert_eq!(
        ravi.post(&history_path, history).await.expect(200)["recorded"],
        0
    );
    // Live: Asha answers in 5 minutes, then in 90 (past New's 60-minute target).
    message(&asha, &a, "M1", "in", t0, None).await;
    message(&asha, &a, "M2", "out", t0 + 5 * MIN, Some(&fence_a)).await;
    message(&asha, &a, "M3", "in", t0 + 10 * MIN, None).await;
    message(&asha, &a, "M4", "out", t0 + 100 * MIN, Some(&fence_a)).await;
    // Ravi's browser reports the same messages (without a fence): counted once.
    for (id, dir, at) in [("M1", "in", t0), ("M2", "out", t0 + 5 * MIN)] {
        assert_eq!(message(&ravi, &a, id, dir, at, None).await, 200);
    }
    // Chat B: Ravi's first answer after 50 minutes (past the 30-minute target); then the customer
    // writes again and is still waiting.
    message(&ravi, &b, "M5", "in", t0 + 20 * MIN, None).await;
    message(&ravi, &b, "M6", "out", t0 + 70 * MIN, Some(&fence_b)).await;
    message(&ravi, &b, "M7", "in", t0 + 80 * MIN, None).await;
    // Chat C: one message, then closed: not waiting.
    message(&asha, &c, "M8", "in", t0 + 30 * MIN, None).await;
    asha.post_empty(&format!("/conversations/{}/close", enc(&c)))
        .await
        .expect(200);
    // Asha hands A to Ravi, who declines: A is Asha's again.
    let handoff = asha
        .post(
            &format!("/conversations/{}/handoff", enc(&a)),
            json!({"to_agent_id": ravi.id, "done": "Quoted", "promised": "A call",
                   "next_step": "Call", "fence": fence_a}),
        )
        .await
        .expect(201);
    assert_eq!(handoff["status"], "pending");
    ravi.post(
        &format!("/conversations/{}/handoff/decline", enc(&a)),
        json!({"reason": "On leave"}),
    )
    .await
    .expect(200);
    // "Now" is four hours on: B has waited about 2.5 hours since M7.
    app.advance_routing(Duration::from_secs(4 * 3600));

    let (from, to) = (ist_date(t0 - 2 * 3_600_000), ist_date(t0 + 3 * 3_600_000));
    let range = format!("from={from}&to={to}");
    let report = lena
        .get(&format!("/reports/agents?{range}"))
        .await
        .expect(200);
    assert_eq!(
        report["range"],
        json!({"from": from, "to": to, "time_zone": "Asia/Kolkata"})
    );
    let row = |name: Option<&str>| -> Value {
        report["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["agent"]["name"].as_str() == name)
            .unwrap_or_else(|| panic!("no row for {name:?}: {report}"))["figures"]
            .clone()
    };
    let asha_f = row(Some("Asha"));
    assert_eq!(
        (
            asha_f["messages_in"].as_i64(),
            asha_f["messages_out"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(asha_f["conversations"], 1);
    assert_eq!(asha_f["first_response"]["count"], 0);
    assert_eq!(asha_f["response"]["count"], 2);
    assert_eq!(asha_f["response"]["median_secs"], 300);
    assert_eq!(asha_f["response"]["p90_secs"], 5400);
    assert_eq!(asha_f["response"]["mean_secs"], 2850);
    // No business hours set: business time is the wall clock.
    assert_eq!(asha_f["response"]["business_median_secs"], 300);
    assert_eq!(asha_f["sla_breaches"], 1);
    assert_eq!(asha_f["handoffs_given"], 1);
    assert_eq!(asha_f["waiting_now"], 0);
    let ravi_f = row(Some("Ravi"));
    assert_eq!(
        (
            ravi_f["messages_in"].as_i64(),
            ravi_f["messages_out"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(ravi_f["first_response"]["median_secs"], 3000);
    assert_eq!(ravi_f["sla_breaches"], 1);
    assert_eq!(ravi_f["handoffs_declined"], 1);
    assert_eq!(ravi_f["handoffs_received"], 0);
    assert_eq!(
        (
            ravi_f["waiting_now"].as_i64(),
            ravi_f["waiting_breached"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // History before anyone owned the chat is nobody's.
    let nobody = row(None);
    assert_eq!(nobody["first_response"]["median_secs"], 600);
    assert_eq!(
        (
            nobody["messages_in"].as_i64(),
            nobody["messages_out"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // The lead, with nothing done, still has a row.
    assert_eq!(row(Some("Lena"))["messages_out"], 0);
    let total = &report["total"];
    assert_eq!(
        (
            total["messages_in"].as_i64(),
            total["messages_out"].as_i64()
        ),
        (Some(6), Some(4))
    );
    assert_eq!(total["conversations"], 2);
    assert_eq!(total["first_response"]["count"], 2);
    assert_eq!(total["first_response"]["p90_secs"], 3000);
    assert_eq!(total["response"]["count"], 4);
    assert_eq!(total["response"]["median_secs"], 600);
    assert_eq!(total["response"]["p90_secs"], 5400);
    assert_eq!(total["response"]["mean_secs"], 2325);
    assert_eq!(report["teams"][0]["team"]["name"], "Sales");
    assert_eq!(report["teams"][0]["figures"], asha_f);

    // Filters: a team is its members' figures; a pipeline only what happened in its stages.
    let team = lena
        .get(&format!(
            "/reports/agents?{range}&team={}",
            sales["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(team["total"], asha_f);
    // One conversation: B is Ravi's, all of it (the handoff he declined was A's).
    let only_b = lena
        .get(&format!("/reports/agents?{range}&chat_id={}", enc(&b)))
        .await
        .expect(200);
    let mut ravi_in_b = ravi_f.clone();
    ravi_in_b["handoffs_declined"] = json!(0);
    assert_eq!(only_b["total"], ravi_in_b);
    lena.get(&format!("/reports/agents?{range}&chat_id=not-a-chat"))
        .await
        .expect_error(400, "invalid_parameter");
    lena.get(&format!(
        "/reports/agents?{range}&chat_id={}",
        enc(&chat(99))
    ))
    .await
    .expect_error(404, "not_found");
    let stages = lena
        .get(&format!("/reports/stages?{range}"))
        .await
        .expect(200);
    let stage_rows = stages["stages"].as_array().unwrap();
    let names: Vec<Value> = stage_rows.iter().map(|r| r["stage"].clone()).collect();
    assert_eq!(names, [json!("New"), json!("Won"), Value::Null]);
    let new = &stage_rows[0]["figures"];
    assert_eq!(
        (new["messages_in"].as_i64(), new["messages_out"].as_i64()),
        (Some(4), Some(3))
    );
    assert_eq!(new["response"]["count"], 3);
    assert_eq!(new["first_response"]["median_secs"], 3000);
    assert_eq!(
        (
            new["handoffs_given"].as_i64(),
            new["handoffs_declined"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(stage_rows[1]["figures"]["messages_in"], 0);
    let in_pipeline = lena
        .get(&format!(
            "/reports/stages?{range}&pipeline={}",
            loans["id"].as_str().unwrap()
        ))
        .await
        .expect(200);
    assert_eq!(in_pipeline["total"], *new);
    assert_eq!(in_pipeline["stages"].as_array().unwrap().len(), 2);

    // Days: every day of the range, each response on the day it was sent.
    let daily = lena
        .get(&format!("/reports/daily?{range}"))
        .await
        .expect(200);
    let days = daily["days"].as_array().unwrap();
    assert_eq!(days.first().unwrap()["date"], from.as_str());
    assert_eq!(days.last().unwrap()["date"], to.as_str());
    let outgoing: i64 = days
        .iter()
        .map(|d| d["figures"]["messages_out"].as_i64().unwrap())
        .sum();
    assert_eq!(outgoing, 4);
    let m4_day = days
        .iter()
        .find(|d| d["date"] == ist_date(t0 + 100 * MIN).as_str())
        .unwrap();
    assert!(m4_day["figures"]["sla_breaches"].as_i64().unwrap() >= 1);
    // The agents' report with each day's figures: the same days, read once.
    let both = lena
        .get(&format!("/reports/agents?{range}&daily=true"))
        .await
        .expect(200);
    assert_eq!(both["days"], daily["days"]);
    assert_eq!(both["total"], daily["total"]);
    let plain = lena
        .get(&format!("/reports/agents?{range}"))
        .await
        .expect(200);
    assert!(plain.get("days").is_none(), "days only when asked for");

    // An agent sees their own row only, and no colleague's.
    let own = asha
        .get(&format!("/reports/agents?{range}"))
        .await
        .expect(200);
    assert_eq!(own["agents"].as_array().unwrap().len(), 1);
    assert_eq!(own["agents"][0]["figures"], asha_f);
    assert_eq!(own["total"], asha_f);
    assert_eq!(own["teams"], json!([]));
    asha.get(&format!("/reports/agents?{range}&agent={}", ravi.id))
        .await
        .expect_error(403, "forbidden");
    let own_stages = asha
        .get(&format!("/reports/stages?{range}"))
        .await
        .expect(200);
    assert_eq!(own_stages["total"], asha_f);

    // CSV: a BOM, a header, one line per row, the same numbers.
    let csv = app
        .http()
        .get(format!(
            "{}/api/v1/reports/agents?{range}&format=csv",
            app.base
        ))
        .bearer_auth(&lena.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(&format!("baton-agents-{from}-to-{to}.csv")));
    let text = csv.text().await.unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte-order mark");
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(&header[..3], ["row", "id", "name"]);
    let asha_line: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with(&format!("agent,{},Asha,", asha.id)))
        .unwrap()
        .split(',')
        .collect();
    let cell = |name: &str| asha_line[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("response_median_secs"), "300");
    assert_eq!(cell("first_response_median_secs"), "");
    assert_eq!(cell("sla_breaches"), "1");
    // agents (Asha, Lena, Ravi, nobody) + one team + the total, after the header.
    assert_eq!(lines.len(), 1 + 4 + 1 + 1);
    assert!(lines.last().unwrap().starts_with("total,,,"));

    // Bad input.
    for (query, code) in [
        ("from=2026-13-01", 400),
        ("from=2026-1-5", 400),
        ("from=2026-02-01&to=2026-01-01", 400),
        ("from=2024-01-01&to=2026-01-01", 400),
        ("format=xml", 400),
        ("colour=red", 400),
        ("daily=true", 400),
        ("daily=maybe", 400),
    ] {
        lena.get(&format!("/reports/daily?{query}"))
            .await
            .expect_error(code, "invalid_parameter");
    }
    lena.get("/reports/agents?agent=nobody-at-all")
        .await
        .expect_error(404, "not_found");
    lena.get("/reports/agents?team=nope")
        .await
        .expect_error(404, "not_found");
    lena.get("/reports/stages?pipeline=nope")
        .await
        .expect_error(404, "not_found");
}

async fn history_is_recorded_once_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let a = chat(1);
    let path = format!("/conversations/{}/messages/history", enc(&a));
    // A chat the server does not know yet: 404 (opening it registers it first).
    asha.post(&path, json!({"messages": []}))
        .await
        .expect_error(404, "not_found");
    asha.open_chat(&a, "Priya").await;
    let now = app.db.now().await.unwrap();
    let bad = [
        json!({"messages": [{"message_id": "has space", "direction": "in", "sent_at": now}]}),
        json!({"messages": [{"message_id": "X1", "direction": "in", "sent_at": now + 3 * 86_400_000_i64}]}),
        json!({"messages": [{"message_id": "X1", "direction": "in", "sent_at": 5}]}),
    ];
    for (body, field) in bad.into_iter().zip([
        "messages[0].message_id",
        "messages[0].sent_at",
        "messages[0].sent_at",
    ]) {
        let err = asha
            .post(&path, body)
            .await
            .expect_error(422, "validation_failed");
        assert!(err["message"].as_str().unwrap().starts_with(field), "{err}");
    }
    let many: Vec<Value> = (0..501)
        .map(|i| json!({"message_id": format!("X{i}"), "direction": "in", "sent_at": now}))
        .collect();
    asha.post(&path, json!({"messages": many}))
        .await
        .expect_error(422, "validation_failed");
    // Nothing of the refused reports was written; a good one is, and it is not news.
    let seq = app.latest_seq().await;
    let good = json!({"messages": [
        {"message_id": "X1", "direction": "in", "sent_at": now - 120_000},
        {"message_id": "X2", "direction": "out", "sent_at": now - 60_000},
        {"message_id": "X1", "direction": "in", "sent_at": now - 120_000},
    ]});
    assert_eq!(asha.post(&path, good).await.expect(200)["recorded"], 2);
    assert_eq!(app.latest_seq().await, seq, "history makes no events");
    // A live report of a message history already gave is a repeat (200), not news (201).
    let live = asha
        .post(
            &format!("/conversations/{}/messages", enc(&a)),
            json!({"message_id": "X2", "direction": "out"}),
        )
        .await
        .expect(200);
    assert_eq!(live["sent_at"], now - 60_000);
}
