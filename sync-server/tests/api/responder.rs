//! The first responder's seat is an account of its own role, `responder`: it logs in and works
//! unowned chats' reply locks without owning them, and is never treated as a person — no
//! handoffs, teams, rule targets or queue for it, and no person becomes one (nor it a person).
//! On SQLite the role needed the agents table rebuilt; an existing database keeps its data.

use std::borrow::Cow;
use std::path::Path;

use protocol::api::Role;
use serde_json::json;
use sqlx::Row;
use sync_server::db::Db;

use crate::common::{chat, enc, Backend, TestApp, TestDb};
use crate::on_both_backends;

on_both_backends!(the_responder_seat_is_no_person);

async fn the_responder_seat_is_no_person(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.agent("Ada", Role::Admin).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let mut team_stream = asha.events(0).await;
    team_stream.backlog().await;
    let seat = ada
        .post(
            "/agents",
            json!({"name": "Night seat", "email": "seat@example.test", "role": "responder",
                   "password": "a long seat password"}),
        )
        .await
        .expect(201);
    assert_eq!(seat["role"], "responder");
    let seat_id = seat["id"].as_str().unwrap().to_owned();
    // The team hears of it at once: their browsers know the seat's lock for a seat's (a person
    // typing takes it) without logging in again.
    let (created, _) = team_stream.until_kind("agent.created").await;
    match created.body {
        protocol::events::EventBody::AgentCreated(agent) => {
            assert_eq!(
                (agent.id.as_str(), agent.name.as_str()),
                (seat_id.as_str(), "Night seat")
            )
        }
        other => panic!("not the seat: {other:?}"),
    }
    let responder = app.agent("Second seat", Role::Responder).await;
    let me = responder.get("/me").await.expect(200);
    assert_eq!(me["agent"]["role"], "responder");
    let listed = asha.get("/agents").await.expect(200);
    assert!(listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == seat_id.as_str() && a["role"] == "responder"));

    // It locks only the chats its flows work (those tests: responder_runs.rs).
    let free = chat(1);
    asha.open_chat(&free, "Priya").await;
    responder
        .lock(&free)
        .await
        .expect_error(409, "responder_stopped");
    // A person's chat is not its to type in.
    let owned = chat(2);
    asha.open_chat(&owned, "Rahul").await;
    asha.lock(&owned).await.expect(200);
    asha.release(&owned).await.expect(204);
    responder.lock(&owned).await.expect_error(403, "not_owner");

    // Never a person: no handoff, team, rule target or queue.
    let refused = asha
        .post(
            &format!("/conversations/{}/handoff", enc(&owned)),
            json!({"to_agent_id": seat_id, "done": "Asked", "promised": "A call", "next_step": "Call"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("first responder's seat, not a person"),
        "{refused}"
    );
    let refused = ada
        .post("/teams", json!({"name": "Night", "agent_ids": [seat_id]}))
        .await
        .expect_error(422, "validation_failed");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .starts_with("agent_ids: "));
    let refused = ada
        .post(
            "/routing/rules",
            json!({"name": "Nights", "target": {"agent_ids": [seat_id]}, "strategy": "round_robin"}),
        )
        .await
        .expect_error(422, "validation_failed");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .starts_with("target.agent_ids: "));
    responder
        .post_empty("/queue/take")
        .await
        .expect_error(403, "forbidden");

    // Nobody becomes the seat, and the seat becomes nobody.
    ada.put(
        &format!("/agents/{}/role", asha.id),
        json!({"role": "responder"}),
    )
    .await
    .expect_error(422, "validation_failed");
    ada.put(&format!("/agents/{seat_id}/role"), json!({"role": "agent"}))
        .await
        .expect_error(422, "validation_failed");
}

/// A SQLite database made before the responder role (migrations up to 0015) keeps its agents,
/// their logins and everything that refers to them when the agents table is rebuilt, and its
/// foreign keys still hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_sqlite_database_keeps_its_agents_through_the_rebuild() {
    let test_db = TestDb::create(Backend::Sqlite).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::Executor::execute(conn, "PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect(&format!("{}?mode=rwc", test_db.url))
        .await
        .unwrap();
    let mut before = sqlx::migrate::Migrator::new(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations/sqlite"
    )))
    .await
    .unwrap();
    before.migrations = Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version <= 15)
            .cloned()
            .collect(),
    );
    before.run(&pool).await.unwrap();
    for statement in [
        "INSERT INTO orgs (id, name, timezone, created_at) VALUES ('o1', 'Org', 'UTC', 1)",
        "INSERT INTO agents (id, org_id, name, email, role, password_hash, active, created_at, away)
         VALUES ('a1', 'o1', 'Asha', 'asha@example.test', 'lead', 'hash', 1, 1, 1)",
        "INSERT INTO tokens (id, agent_id, token_hash, created_at, expires_at)
         VALUES ('t1', 'a1', 'th', 1, 99999999999999)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let db = Db::connect(&test_db.url, 2).await.unwrap();
    let row = sqlx::query("SELECT name, role, away FROM agents WHERE id = 'a1'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get::<String, _>("name").unwrap(), "Asha");
    assert_eq!(row.try_get::<String, _>("role").unwrap(), "lead");
    assert_eq!(row.try_get::<i64, _>("away").unwrap(), 1);
    let broken: Vec<sqlx::any::AnyRow> = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert!(broken.is_empty(), "foreign keys hold");
    // Tokens still refer to agents: one for nobody is refused.
    let orphan = sqlx::query(
        "INSERT INTO tokens (id, agent_id, token_hash, created_at, expires_at)
         VALUES ('t2', 'nobody', 'th2', 1, 2)",
    )
    .execute(db.writer())
    .await;
    assert!(orphan.is_err(), "a token for nobody was taken");
    sqlx::query(
        "INSERT INTO agents (id, org_id, name, email, role, password_hash, active, created_at)
         VALUES ('r1', 'o1', 'Seat', 'seat@example.test', 'responder', 'hash', 1, 1)",
    )
    .execute(db.writer())
    .await
    .unwrap();
    db.close().await;
}
