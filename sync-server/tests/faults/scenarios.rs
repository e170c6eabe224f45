//! The fault scenarios.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use protocol::api::Role;
use serde_json::json;
use sqlx::Row;
use sync_server::db::Db;

use crate::harness::{
    chat_id, runtime, serial, team, Agent, Answer, Engine, Instance, TestDatabase,
};
use crate::history::{self, Kind, Op, Outcome};

/// Chats the lock clients contend for.
const CONTENDED_CHATS: usize = 4;
/// The chat handed back and forth.
const HANDOFF_CHAT: usize = 90;
/// The chat notes are written to.
const NOTES_CHAT: usize = 91;

/// What the clients saw, shared between them.
#[derive(Default)]
struct Record {
    ops: Mutex<Vec<Op>>,
    notes: Mutex<Vec<String>>,
    handoffs: Mutex<Vec<String>>,
    /// Operations with a definite answer, to wait on progress.
    answered: AtomicU64,
    stop: AtomicBool,
}

impl Record {
    fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }

    fn lock_ops(&self) -> usize {
        self.ops.lock().unwrap().len()
    }
}

/// Waits (for at most `patience`) until `condition` holds.
async fn until(what: &str, patience: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Lock cycles on the contended chats, every operation recorded. `bases` are the instances the
/// client may use: it moves to the next when one does not answer.
async fn lock_client(client: usize, agent: Agent, bases: Vec<String>, record: Arc<Record>) {
    let mut n: usize = client;
    let mut at = client % bases.len();
    while !record.stop.load(Ordering::Relaxed) {
        n += 1;
        let chat = n % CONTENDED_CHATS;
        let path = format!("/api/v1/conversations/{}/lock", chat_id(chat));
        let invoked = Instant::now();
        let answer = agent
            .call("POST", &format!("{}{path}", bases[at]), None, None)
            .await;
        let outcome = match &answer {
            Answer::Status(200, grant) => Outcome::Granted {
                fence: grant["fence"].as_i64().unwrap(),
                expires_at: grant["expires_at"].as_i64().unwrap(),
                server_now: grant["expires_at"].as_i64().unwrap()
                    - grant["expires_in_ms"].as_i64().unwrap(),
            },
            Answer::Status(_, _) => Outcome::Refused,
            Answer::Lost => Outcome::Unknown,
        };
        record_op(&record, client, chat, Kind::Acquire, invoked, outcome);
        if matches!(answer, Answer::Lost) {
            at = (at + 1) % bases.len();
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let Outcome::Granted { fence, .. } = outcome else {
            continue;
        };
        let invoked = Instant::now();
        let answer = agent
            .call(
                "DELETE",
                &format!("{}{path}?fence={fence}", bases[at]),
                None,
                None,
            )
            .await;
        let outcome = match answer {
            Answer::Status(204, _) => Outcome::Released,
            Answer::Status(_, _) => Outcome::Refused,
            Answer::Lost => {
                at = (at + 1) % bases.len();
                Outcome::Unknown
            }
        };
        record_op(
            &record,
            client,
            chat,
            Kind::Release { fence },
            invoked,
            outcome,
        );
    }
}

fn record_op(
    record: &Record,
    client: usize,
    chat: usize,
    kind: Kind,
    invoked: Instant,
    outcome: Outcome,
) {
    if outcome != Outcome::Unknown {
        record.answered.fetch_add(1, Ordering::Relaxed);
    }
    record.ops.lock().unwrap().push(Op {
        client,
        chat,
        kind,
        invoked,
        completed: Instant::now(),
        outcome,
    });
}

/// Notes, each sent under its own idempotency key until the server answers.
async fn notes_client(client: usize, agent: Agent, base: String, record: Arc<Record>) {
    let url = format!("{base}/api/v1/conversations/{}/notes", chat_id(NOTES_CHAT));
    let mut n = 0;
    while !record.stop.load(Ordering::Relaxed) {
        n += 1;
        let body = format!("note {client}-{n}");
        let key = format!("k-{client}-{n}");
        let answer = agent
            .until_answered(
                "POST",
                &url,
                Some(json!({ "body": body })),
                Some(&key),
                Duration::from_secs(60),
            )
            .await;
        match answer {
            Some((200 | 201, _)) => {
                record.notes.lock().unwrap().push(body);
                record.answered.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("note {body} was not taken: {other:?}"),
        }
    }
}

/// Two leads hand one chat back and forth, each handoff accepted by its receiver.
async fn handoff_client(agents: [Agent; 2], base: String, record: Arc<Record>) {
    let chat = chat_id(HANDOFF_CHAT);
    let mut n = 0;
    while !record.stop.load(Ordering::Relaxed) {
        n += 1;
        let Some((200, conversation)) = agents[0]
            .until_answered(
                "GET",
                &format!("{base}/api/v1/conversations/{chat}"),
                None,
                None,
                Duration::from_secs(60),
            )
            .await
        else {
            panic!("cannot read the handoff chat");
        };
        if let Some(to) = conversation["pending_handoff"]["to"]["id"].as_str() {
            let receiver = agents.iter().find(|a| a.id == to).unwrap();
            let answer = receiver
                .until_answered(
                    "POST",
                    &format!("{base}/api/v1/conversations/{chat}/handoff/accept"),
                    None,
                    None,
                    Duration::from_secs(60),
                )
                .await;
            assert!(matches!(answer, Some((200 | 409, _))), "accept: {answer:?}");
            continue;
        }
        let owner = conversation["owner"]["id"].as_str().unwrap();
        let (from, to) = if owner == agents[0].id {
            (&agents[0], &agents[1])
        } else {
            (&agents[1], &agents[0])
        };
        let key = format!("h-{n}");
        let answer = from
            .until_answered(
                "POST",
                &format!("{base}/api/v1/conversations/{chat}/handoff"),
                Some(json!({"to_agent_id": to.id, "done": "Quoted", "promised": "A call", "next_step": "Call"})),
                Some(&key),
                Duration::from_secs(60),
            )
            .await;
        match answer {
            Some((201 | 200, handoff)) => {
                record
                    .handoffs
                    .lock()
                    .unwrap()
                    .push(handoff["id"].as_str().unwrap().to_owned());
                record.answered.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("handoff not taken: {other:?}"),
        }
    }
}

/// Registers every chat the clients use, owned by `owner`.
async fn register_chats(owner: &Agent, base: &str) {
    for chat in (0..CONTENDED_CHATS).chain([HANDOFF_CHAT, NOTES_CHAT]) {
        let answer = owner
            .until_answered(
                "PUT",
                &format!("{base}/api/v1/conversations/{}", chat_id(chat)),
                Some(json!({"title": format!("Chat {chat}")})),
                None,
                Duration::from_secs(30),
            )
            .await;
        assert!(matches!(answer, Some((200 | 201, _))), "{answer:?}");
    }
    // The handoff chat needs an owner to hand it off.
    let lock = format!("{base}/api/v1/conversations/{}/lock", chat_id(HANDOFF_CHAT));
    let Some((200, grant)) = owner
        .until_answered("POST", &lock, None, None, Duration::from_secs(30))
        .await
    else {
        panic!("cannot claim the handoff chat");
    };
    let fence = grant["fence"].as_i64().unwrap();
    owner
        .until_answered(
            "DELETE",
            &format!("{lock}?fence={fence}"),
            None,
            None,
            Duration::from_secs(30),
        )
        .await;
}

/// Everything acknowledged is in the database exactly once, events are numbered without gaps,
/// and the lock history is legal.
async fn check_outcome(db_url: &str, org_id: &str, record: &Record) {
    let db = Db::connect(db_url, 2).await.unwrap();
    let problems = history::check(&record.ops.lock().unwrap());
    assert!(
        problems.is_empty(),
        "illegal lock history:\n{}",
        problems.join("\n")
    );

    let rows = sqlx::query("SELECT body, COUNT(*) AS n FROM notes WHERE org_id = $1 GROUP BY body")
        .bind(org_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
    let stored: std::collections::HashMap<String, i64> = rows
        .iter()
        .map(|r| (r.try_get("body").unwrap(), r.try_get("n").unwrap()))
        .collect();
    for (body, n) in &stored {
        assert_eq!(*n, 1, "note {body:?} stored {n} times");
    }
    let acknowledged = record.notes.lock().unwrap().clone();
    assert!(!acknowledged.is_empty());
    for body in &acknowledged {
        assert!(
            stored.contains_key(body),
            "acknowledged note {body:?} was lost"
        );
    }

    let handoffs = record.handoffs.lock().unwrap().clone();
    assert!(!handoffs.is_empty());
    for id in &handoffs {
        let found: Option<String> = sqlx::query_scalar("SELECT id FROM handoffs WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await
            .unwrap();
        assert!(found.is_some(), "acknowledged handoff {id} was lost");
    }

    let seqs: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM events WHERE org_id = $1 ORDER BY seq")
            .bind(org_id)
            .fetch_all(db.pool())
            .await
            .unwrap();
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert!(seqs == expected, "event numbers have gaps or repeats");
    let counter: i64 = sqlx::query_scalar("SELECT event_seq FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        counter,
        seqs.len() as i64,
        "the org's counter matches its events"
    );
    db.close().await;
}

/// SIGKILL three times while six leads cycle locks on four chats, two agents write notes and two
/// leads hand a chat back and forth; then at least `target_ops` lock operations in all.
async fn kill_nine_under_load(engine: Engine, target_ops: usize) {
    let mut database = TestDatabase::create(engine).await;
    let mut server = Instance::start(&database.url, 3).await;
    let base = server.base();
    let mut people: Vec<(&str, Role)> = vec![];
    let names = ["L0", "L1", "L2", "L3", "L4", "L5", "N0", "N1", "H0", "H1"];
    for (i, name) in names.iter().enumerate() {
        people.push((
            name,
            if !(6..8).contains(&i) {
                Role::Lead
            } else {
                Role::Agent
            },
        ));
    }
    let (org_id, agents) = team(&database.url, &base, &people).await;
    register_chats(&agents[8], &base).await;
    let record = Arc::new(Record::default());
    let mut tasks = Vec::new();
    for (client, agent) in agents[..6].iter().enumerate() {
        tasks.push(tokio::spawn(lock_client(
            client,
            agent.clone(),
            vec![base.clone()],
            record.clone(),
        )));
    }
    for (client, agent) in agents[6..8].iter().enumerate() {
        tasks.push(tokio::spawn(notes_client(
            client,
            agent.clone(),
            base.clone(),
            record.clone(),
        )));
    }
    tasks.push(tokio::spawn(handoff_client(
        [agents[8].clone(), agents[9].clone()],
        base.clone(),
        record.clone(),
    )));

    for round in 0..3 {
        let before = record.answered();
        until(
            &format!("progress before kill {round}"),
            Duration::from_secs(120),
            || record.answered() >= before + 300,
        )
        .await;
        server.restart().await;
    }
    until("enough lock operations", Duration::from_secs(600), || {
        record.lock_ops() >= target_ops
    })
    .await;
    record.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    {
        let ops = record.ops.lock().unwrap();
        let granted = ops
            .iter()
            .filter(|o| matches!(o.outcome, Outcome::Granted { .. }))
            .count();
        let lost = ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();
        assert!(granted > 100, "the lock clients got locks ({granted})");
        eprintln!(
            "{engine:?}: {} lock operations ({granted} granted, {lost} unanswered), {} notes, {} handoffs acknowledged",
            ops.len(),
            record.notes.lock().unwrap().len(),
            record.handoffs.lock().unwrap().len()
        );
    }
    check_outcome(&database.url, &org_id, &record).await;
    drop(server);
    database.drop_pg().await;
}

#[test]
fn kill_nine_under_load_loses_nothing_on_sqlite() {
    let _turn = serial();
    runtime().block_on(kill_nine_under_load(Engine::Sqlite, 10_000));
}

#[test]
fn kill_nine_under_load_loses_nothing_on_postgres() {
    let _turn = serial();
    runtime().block_on(kill_nine_under_load(Engine::Postgres, 10_000));
}

/// An agent's event stream that follows the server's sequence numbers across instances: when its
/// instance stops answering it reconnects to the next one, from the last event it saw.
async fn follow_events(
    agent: Agent,
    bases: Vec<String>,
    first: usize,
    record: Arc<Mutex<Vec<i64>>>,
    stop: Arc<AtomicBool>,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut at = first;
    let mut last_seq = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let url = format!(
            "{}/api/v1/events?since={last_seq}",
            bases[at].replacen("http://", "ws://", 1)
        );
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", agent.token).parse().unwrap(),
        );
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            at = (at + 1) % bases.len();
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        loop {
            let next = tokio::select! {
                next = socket.next() => next,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                    continue;
                }
            };
            let Some(Ok(message)) = next else {
                at = (at + 1) % bases.len();
                break;
            };
            let Ok(text) = message.into_text() else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            match value["type"].as_str() {
                Some("event") => {
                    let seq = value["seq"].as_i64().unwrap();
                    record.lock().unwrap().push(seq);
                    last_seq = seq;
                }
                Some("resync") => panic!("the stream asked for a resync: events were skipped"),
                _ => {}
            }
        }
    }
}

/// The org's latest event sequence number, read from the database.
async fn latest_seq(db_url: &str, org_id: &str) -> i64 {
    let db = Db::connect(db_url, 2).await.unwrap();
    let latest = sync_server::events::latest_seq(&db, org_id).await.unwrap();
    db.close().await;
    latest
}

/// Every stream saw every event of the org exactly once, in order.
async fn check_streams(db_url: &str, org_id: &str, streams: &[Arc<Mutex<Vec<i64>>>]) {
    let latest = latest_seq(db_url, org_id).await;
    let expected: Vec<i64> = (1..=latest).collect();
    for (i, stream) in streams.iter().enumerate() {
        let seen = stream.lock().unwrap().clone();
        if seen != expected {
            let missing = expected.iter().filter(|s| !seen.contains(s)).count();
            panic!(
                "stream {i} saw {} events for {latest} stored ({missing} missing, {} extra or repeated)",
                seen.len(),
                seen.len() + missing - latest as usize
            );
        }
    }
}

/// Waits until every stream has seen the org's latest event.
async fn streams_caught_up(db_url: &str, org_id: &str, streams: &[Arc<Mutex<Vec<i64>>>]) {
    let latest = latest_seq(db_url, org_id).await;
    until(
        "every stream to reach the latest event",
        Duration::from_secs(60),
        || {
            streams
                .iter()
                .all(|s| s.lock().unwrap().last().copied() == Some(latest))
        },
    )
    .await;
}

/// Three instances on one PostgreSQL, agents' streams spread over them, notes written through
/// all three; one instance is killed: its agents move to another and miss nothing.
#[test]
fn one_of_three_instances_killed_its_agents_miss_nothing() {
    let _turn = serial();
    runtime().block_on(async {
        let mut database = TestDatabase::create(Engine::Postgres).await;
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(Instance::start(&database.url, 30).await);
        }
        let bases: Vec<String> = instances.iter().map(Instance::base).collect();
        let people: Vec<(String, Role)> = (0..9).map(|i| (format!("A{i}"), Role::Lead)).collect();
        let people: Vec<(&str, Role)> = people.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        let (org_id, agents) = team(&database.url, &bases[0], &people).await;
        register_chats(&agents[0], &bases[0]).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut streams = Vec::new();
        let mut followers = Vec::new();
        for (i, agent) in agents[..6].iter().enumerate() {
            let seen = Arc::new(Mutex::new(Vec::new()));
            streams.push(seen.clone());
            followers.push(tokio::spawn(follow_events(
                agent.clone(),
                bases.clone(),
                i % 3,
                seen,
                stop.clone(),
            )));
        }
        let record = Arc::new(Record::default());
        let mut writers = Vec::new();
        for (client, agent) in agents[6..9].iter().enumerate() {
            writers.push(tokio::spawn(notes_client(
                client,
                agent.clone(),
                bases[client].clone(),
                record.clone(),
            )));
        }
        until(
            "notes through all three instances",
            Duration::from_secs(120),
            || record.answered() >= 150,
        )
        .await;
        // Instance 1 dies; its writer keeps retrying it in vain, so stop that one first.
        instances[1].kill9();
        let before = record.answered();
        until("notes after the kill", Duration::from_secs(120), || {
            record.answered() >= before + 150
        })
        .await;
        record.stop.store(true, Ordering::Relaxed);
        for (i, writer) in writers.into_iter().enumerate() {
            if i == 1 {
                writer.abort();
            } else {
                writer.await.unwrap();
            }
        }
        streams_caught_up(&database.url, &org_id, &streams).await;
        stop.store(true, Ordering::Relaxed);
        for follower in followers {
            follower.await.unwrap();
        }
        check_streams(&database.url, &org_id, &streams).await;
        drop(instances);
        database.drop_pg().await;
    });
}

/// PostgreSQL restarted while notes are written and agents listen: the server recovers without
/// a restart, writes go through again, and every listener sees every event once.
#[test]
fn postgres_restarted_under_load_the_server_recovers() {
    let _turn = serial();
    runtime().block_on(async {
        let mut database = TestDatabase::create(Engine::Postgres).await;
        let server = Instance::start(&database.url, 30).await;
        let base = server.base();
        let people: Vec<(&str, Role)> = vec![
            ("A0", Role::Lead),
            ("A1", Role::Lead),
            ("A2", Role::Agent),
            ("A3", Role::Agent),
        ];
        let (org_id, agents) = team(&database.url, &base, &people).await;
        register_chats(&agents[0], &base).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut streams = Vec::new();
        let mut followers = Vec::new();
        for agent in &agents[..2] {
            let seen = Arc::new(Mutex::new(Vec::new()));
            streams.push(seen.clone());
            followers.push(tokio::spawn(follow_events(
                agent.clone(),
                vec![base.clone()],
                0,
                seen,
                stop.clone(),
            )));
        }
        let record = Arc::new(Record::default());
        let mut writers = Vec::new();
        for (client, agent) in agents[2..].iter().enumerate() {
            writers.push(tokio::spawn(notes_client(
                client,
                agent.clone(),
                base.clone(),
                record.clone(),
            )));
        }
        until("notes before the restart", Duration::from_secs(120), || {
            record.answered() >= 100
        })
        .await;
        let restarted = tokio::process::Command::new("pg_ctlcluster")
            .args(["15", "main", "restart"])
            .status()
            .await
            .expect("pg_ctlcluster must be available to restart PostgreSQL");
        assert!(
            restarted.success(),
            "cannot restart PostgreSQL (the test runs as root in CI)"
        );
        let before = record.answered();
        until("notes after the restart", Duration::from_secs(120), || {
            record.answered() >= before + 100
        })
        .await;
        record.stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap();
        }
        streams_caught_up(&database.url, &org_id, &streams).await;
        stop.store(true, Ordering::Relaxed);
        for follower in followers {
            follower.await.unwrap();
        }
        check_streams(&database.url, &org_id, &streams).await;
        // Nothing acknowledged was lost or written twice.
        let db = Db::connect(&database.url, 2).await.unwrap();
        let stored: Vec<String> = sqlx::query_scalar("SELECT body FROM notes WHERE org_id = $1")
            .bind(&org_id)
            .fetch_all(db.pool())
            .await
            .unwrap();
        db.close().await;
        let mut unique = stored.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), stored.len(), "a note was stored twice");
        for body in record.notes.lock().unwrap().iter() {
            assert!(stored.contains(body), "acknowledged note {body:?} was lost");
        }
        drop(server);
        database.drop_pg().await;
    });
}

/// A lock holder frozen past its lease (a laptop lid closed mid-reply): a colleague gets the lock,
/// and when the holder wakes its write under the old fence is refused.
#[test]
fn a_holder_frozen_past_its_lease_loses_the_lock_and_its_fenced_write_is_refused() {
    let _turn = serial();
    runtime().block_on(async {
        use rustix::process::{kill_process, Pid, Signal};
        use tokio::io::AsyncBufReadExt;
        let mut database = TestDatabase::create(Engine::Sqlite).await;
        let server = Instance::start(&database.url, 2).await;
        let base = server.base();
        let (_, agents) = team(
            &database.url,
            &base,
            &[("Frozen", Role::Lead), ("Awake", Role::Lead)],
        )
        .await;
        let chat = chat_id(1);
        agents[0]
            .until_answered(
                "PUT",
                &format!("{base}/api/v1/conversations/{chat}"),
                Some(json!({"title": "Priya"})),
                None,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        let mut holder = tokio::process::Command::new("node")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/faults/frozen_holder.mjs"
            ))
            .args([&base, &agents[0].token, &chat])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs the frozen holder");
        let pid = Pid::from_raw(i32::try_from(holder.id().unwrap()).unwrap()).unwrap();
        let mut lines = tokio::io::BufReader::new(holder.stdout.take().unwrap()).lines();
        async fn next_line(
            lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
        ) -> String {
            tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("the holder went quiet")
                .unwrap()
                .expect("the holder exited")
        }
        let first = next_line(&mut lines).await;
        let fence: i64 = first
            .strip_prefix("granted ")
            .unwrap_or_else(|| panic!("{first}"))
            .parse()
            .unwrap();
        loop {
            let line = next_line(&mut lines).await;
            if line.starts_with("write 20") {
                break;
            }
            assert!(
                line.starts_with("renew 200") || line.starts_with("write"),
                "{line}"
            );
        }

        kill_process(pid, Signal::STOP).unwrap();
        // The colleague asks until the frozen lease has run out by the server's clock.
        let lock = format!("{base}/api/v1/conversations/{chat}/lock");
        let deadline = Instant::now() + Duration::from_secs(30);
        let grant = loop {
            match agents[1].call("POST", &lock, None, None).await {
                Answer::Status(200, grant) => break grant,
                Answer::Status(409, _) => {}
                other => panic!("unexpected answer: {other:?}"),
            }
            assert!(Instant::now() < deadline, "the frozen lease never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let new_fence = grant["fence"].as_i64().unwrap();
        let granted_at =
            grant["expires_at"].as_i64().unwrap() - grant["expires_in_ms"].as_i64().unwrap();
        assert!(
            new_fence > fence,
            "the new holder's fence {new_fence} is past {fence}"
        );

        kill_process(pid, Signal::CONT).unwrap();
        // Woken, the holder's renewals are refused (someone else holds the lock) and so is its
        // write under the old fence.
        loop {
            let line = next_line(&mut lines).await;
            if line.starts_with("write 409 stale_fence") {
                break;
            }
            // Answers that were in flight when it froze may still arrive.
            assert!(!line.starts_with("error"), "{line}");
        }
        let db = Db::connect(&database.url, 2).await.unwrap();
        let late: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE agent_id = $1 AND recorded_at >= $2",
        )
        .bind(&agents[0].id)
        .bind(granted_at)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(
            late, 0,
            "no message recorded under the frozen holder's fence after the takeover"
        );
        let conversation = agents[1]
            .until_answered(
                "GET",
                &format!("{base}/api/v1/conversations/{chat}"),
                None,
                None,
                Duration::from_secs(10),
            )
            .await
            .unwrap()
            .1;
        assert_eq!(conversation["lock"]["holder"]["id"], agents[1].id.as_str());
        assert_eq!(conversation["lock"]["fence"], new_fence);
        db.close().await;
        holder.kill().await.unwrap();
        drop(server);
        database.drop_pg().await;
    });
}
