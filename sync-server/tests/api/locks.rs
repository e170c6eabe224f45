//! The reply lock: exclusion, fencing, expiry, ownership and force-takes.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use protocol::api::Role;
use serde_json::json;

use protocol::api::AgentRef;
use protocol::events::EventBody;
use protocol::ChatId;
use sync_server::db::conversations::ConversationRow;
use sync_server::db::locks::{self, Lease, LockChange, LockFields, LockWrite};

use crate::common::{chat, enc, eventually, Backend, TestAgent, TestApp, PATIENCE};
use crate::on_both_backends;

on_both_backends!(
    fifty_concurrent_acquirers_get_exactly_one_holder,
    fences_strictly_increase_and_heartbeats_keep_them,
    an_expired_lease_can_be_taken,
    a_stale_fence_is_rejected,
    a_non_owner_sees_who_is_replying,
    a_lead_can_force_take_and_it_is_logged,
    a_renewal_reaches_everyone_watching,
    a_lock_change_from_a_stale_read_writes_nothing,
    a_lock_change_finishes_even_if_its_caller_stops_waiting,
);

async fn fifty_concurrent_acquirers_get_exactly_one_holder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agents: Vec<TestAgent> = join_all((0..50).map(|i| {
        let app = &app;
        async move { app.agent(&format!("Agent {i}"), Role::Agent).await }
    }))
    .await;
    let chat_id = chat(1);
    agents[0].open_chat(&chat_id, "Priya").await;

    let results = join_all(agents.iter().map(|agent| agent.lock(&chat_id))).await;

    let winners: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 200)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one agent may hold the lock");
    let winner = &agents[winners[0]];
    for (i, result) in results.iter().enumerate() {
        if i == winners[0] {
            assert_eq!(result.body["fence"], 1);
            assert_eq!(result.body["claimed"], true);
        } else {
            assert_eq!(result.status, 409, "loser {i}: {}", result.body);
            assert_eq!(result.body["error"], "locked");
            assert_eq!(result.body["holder"]["name"], winner.name.as_str());
        }
    }
    let conversation = agents[1].conversation(&chat_id).await;
    assert_eq!(conversation["owner"]["id"], winner.id.as_str());
    assert_eq!(conversation["lock"]["holder"]["id"], winner.id.as_str());
    assert_eq!(conversation["lock"]["fence"], 1);
    let kinds = agents[1].timeline_kinds(&chat_id).await;
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "conversation.assigned")
            .count(),
        1,
        "one claim, recorded once: {kinds:?}"
    );
}

async fn fences_strictly_increase_and_heartbeats_keep_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(2);
    asha.open_chat(&chat_id, "Priya").await;

    let mut fences = Vec::new();
    let first = asha.lock(&chat_id).await.expect(200);
    fences.push(first["fence"].as_i64().unwrap());

    let heartbeat = asha.lock(&chat_id).await.expect(200);
    assert_eq!(
        heartbeat["fence"], first["fence"],
        "a heartbeat keeps the fence"
    );
    assert!(heartbeat["expires_at"].as_i64() >= first["expires_at"].as_i64());
    assert_eq!(heartbeat["claimed"], false);

    asha.release(&chat_id).await.expect(204);
    assert!(asha.conversation(&chat_id).await["lock"].is_null());
    fences.push(
        asha.lock(&chat_id).await.expect(200)["fence"]
            .as_i64()
            .unwrap(),
    );
    fences.push(
        lead.force_lock(&chat_id).await.expect(200)["fence"]
            .as_i64()
            .unwrap(),
    );
    // Asha's next heartbeat finds the lead holding it.
    asha.lock(&chat_id).await.expect_error(409, "locked");
    lead.release(&chat_id).await.expect(204);
    fences.push(
        asha.lock(&chat_id).await.expect(200)["fence"]
            .as_i64()
            .unwrap(),
    );

    assert!(
        fences.windows(2).all(|w| w[0] < w[1]),
        "fences must strictly increase: {fences:?}"
    );
    assert_eq!(fences, vec![1, 2, 3, 4]);
}

async fn an_expired_lease_can_be_taken(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.lock_ttl = Duration::from_millis(1200)).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(3);
    asha.open_chat(&chat_id, "Priya").await;
    let held = asha.lock(&chat_id).await.expect(200);
    assert_eq!(held["expires_in_ms"], 1200);
    let expires_at = held["expires_at"].as_i64().unwrap();

    lead.lock(&chat_id).await.expect_error(409, "locked");
    // Asha stops heartbeating; wait for the lease to run out, as the lead's client would.
    let started = Instant::now();
    let taken = loop {
        let attempt = lead.lock(&chat_id).await;
        if attempt.status == 200 {
            break attempt.body;
        }
        assert_eq!(attempt.body["error"], "locked");
        assert!(started.elapsed() < PATIENCE, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(taken["fence"], 2);
    let taken_at = taken["expires_at"].as_i64().unwrap() - 1200;
    assert!(
        taken_at >= expires_at,
        "taken at {taken_at}, before the lease expired at {expires_at}"
    );
    // Nobody forced anything: an expired lease is simply free.
    assert!(!asha
        .timeline_kinds(&chat_id)
        .await
        .contains(&"lock.forced".to_owned()));
    // Asha's client comes back and heartbeats: the lock is the lead's now.
    asha.lock(&chat_id).await.expect_error(409, "locked");
}

async fn a_stale_fence_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(4);
    asha.open_chat(&chat_id, "Priya").await;
    let old = asha.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    let messages = format!("/conversations/{}/messages", enc(&chat_id));

    // While she holds the lock, her reply is accepted and attributed to her.
    let reply = asha
        .post(
            &messages,
            json!({"message_id": "3EB0AAA1", "direction": "out", "fence": old}),
        )
        .await
        .expect(201);
    assert_eq!(reply["agent"]["name"], "Asha");

    let new = lead.force_lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    assert!(new > old);

    let stale = asha
        .post(
            &messages,
            json!({"message_id": "3EB0AAA2", "direction": "out", "fence": old}),
        )
        .await
        .expect_error(409, "stale_fence");
    assert!(stale["message"].as_str().unwrap().contains("Lena"));
    asha.post(
        &format!("/conversations/{}/handoff", enc(&chat_id)),
        json!({"to_agent_id": ravi.id, "done": "quoted", "promised": "call", "next_step": "call", "fence": old}),
    )
    .await
    .expect_error(409, "stale_fence");
    // A fence from someone else is stale for you too.
    ravi.post(
        &messages,
        json!({"message_id": "3EB0AAA3", "direction": "out", "fence": new}),
    )
    .await
    .expect_error(409, "stale_fence");
    // The current holder's fence is good; after release it stays good until someone else locks.
    lead.post(
        &messages,
        json!({"message_id": "3EB0AAA4", "direction": "out", "fence": new}),
    )
    .await
    .expect(201);
    lead.release(&chat_id).await.expect(204);
    lead.post(
        &messages,
        json!({"message_id": "3EB0AAA5", "direction": "out", "fence": new}),
    )
    .await
    .expect(201);
    // Nothing of the refused writes was recorded.
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(
        conversation["owner"]["name"], "Asha",
        "the refused handoff changed nothing"
    );
    assert!(conversation["pending_handoff"].is_null());
}

async fn a_non_owner_sees_who_is_replying(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(5);
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);

    let refused = ravi.lock(&chat_id).await.expect_error(409, "locked");
    assert_eq!(refused["holder"]["name"], "Asha");
    assert_eq!(refused["holder"]["id"], asha.id.as_str());
    let left = refused["expires_in_ms"].as_i64().unwrap();
    assert!(left > 0 && left <= 30_000, "expires_in_ms {left}");
    assert!(refused["message"].as_str().unwrap().contains("Asha"));

    // Once she is done, the chat is still hers: Ravi may not take it over.
    asha.release(&chat_id).await.expect(204);
    let not_owner = ravi.lock(&chat_id).await.expect_error(403, "not_owner");
    assert_eq!(not_owner["owner"]["name"], "Asha");
    // Releasing a lock you do not hold is refused.
    ravi.release(&chat_id)
        .await
        .expect_error(409, "not_lock_holder");
}

async fn a_lead_can_force_take_and_it_is_logged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(6);
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);

    ravi.force_lock(&chat_id)
        .await
        .expect_error(403, "forbidden");
    let forced = lead.force_lock(&chat_id).await.expect(200);
    assert_eq!(forced["fence"], 2);
    assert_eq!(forced["holder"]["name"], "Lena");
    assert_eq!(
        forced["claimed"], false,
        "a force-take does not change the owner"
    );

    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["lock"]["holder"]["name"], "Lena");
    assert_eq!(conversation["owner"]["name"], "Asha");
    asha.release(&chat_id)
        .await
        .expect_error(409, "not_lock_holder");

    let timeline = asha
        .get(&format!("/conversations/{}/timeline", enc(&chat_id)))
        .await
        .expect(200);
    let forced_event = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "lock.forced")
        .expect("the force-take is in the timeline");
    assert_eq!(forced_event["actor"]["name"], "Lena");
    assert_eq!(forced_event["data"]["previous_holder"]["name"], "Asha");
    assert_eq!(forced_event["data"]["fence"], 2);
    assert!(forced_event["at"].as_i64().unwrap() > 0);
}

/// A heartbeat is an event too: colleagues watching see the lease go on instead of a countdown
/// that ends while the lock is still held.
async fn a_renewal_reaches_everyone_watching(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(60);
    asha.open_chat(&chat_id, "Priya").await;
    let first = asha.lock(&chat_id).await.expect(200);
    let mut watching = ravi.events(app.latest_seq().await).await;
    watching.backlog().await;
    // The database clock must move for the new lease to end later.
    let first_expiry = first["expires_at"].as_i64().unwrap();
    let renewed = eventually("a renewal to end later than the first lease", || async {
        let renewed = asha.lock(&chat_id).await.expect(200);
        (renewed["expires_at"].as_i64().unwrap() > first_expiry).then_some(renewed)
    })
    .await;
    // Renewals within the same database millisecond are announced too; the one that moved the
    // lease on must reach Ravi, with the same holder and fence.
    loop {
        let (event, _) = watching.until_kind("lock.renewed").await;
        let protocol::events::EventBody::LockRenewed {
            holder,
            fence,
            expires_at,
            ..
        } = event.body
        else {
            unreachable!("until_kind returns lock.renewed events");
        };
        assert_eq!(holder.name, "Asha");
        assert_eq!(fence, first["fence"].as_i64().unwrap(), "the same lease");
        assert!(expires_at >= first_expiry);
        if Some(expires_at) == renewed["expires_at"].as_i64() {
            break;
        }
    }
    assert_eq!(renewed["fence"], first["fence"]);
    assert!(
        !ravi
            .timeline_kinds(&chat_id)
            .await
            .contains(&"lock.renewed".to_owned()),
        "a heartbeat is not history"
    );
}

/// The conversation as the lock handlers read it, straight from the database.
async fn read_row(app: &TestApp, chat_id: &str) -> ConversationRow {
    let mut conn = app.db.pool().acquire().await.unwrap();
    let chat_id = ChatId::parse(chat_id).unwrap();
    sync_server::db::conversations::require(&mut conn, &app.org_id, &chat_id)
        .await
        .unwrap()
}

/// Taking `row`'s lock for `taker` as a fresh fence, as the acquire handler would.
fn take_over<'a>(
    app: &'a TestApp,
    row: &'a ConversationRow,
    chat_id: &'a ChatId,
    taker: &'a AgentRef,
) -> LockChange<'a> {
    let now = sync_server::db::system_now_ms();
    LockChange {
        org_id: &app.org_id,
        row,
        chat_id,
        actor: taker,
        at: now,
        write: LockWrite {
            to: LockFields {
                holder_id: Some(taker.id.clone()),
                fence: row.lock_fence + 1,
                expires_at: now + 30_000,
                owner_id: row.owner_id.clone(),
            },
            lease: Lease::Any,
            events: vec![EventBody::LockForced {
                holder: taker.clone(),
                previous_holder: row.lock_holder(),
                fence: row.lock_fence + 1,
                expires_at: now + 30_000,
                ttl_ms: 30_000,
            }],
        },
    }
}

/// An agent holding the lock of a chat, and a lead who will take it over through the database.
struct Held {
    app: TestApp,
    asha: TestAgent,
    lead: TestAgent,
    chat_id: String,
    parsed: ChatId,
    lena: AgentRef,
}

async fn held_by_asha(backend: Backend) -> Held {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lead = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(1);
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    let lena = AgentRef {
        id: lead.id.clone(),
        name: lead.name.clone(),
    };
    Held {
        parsed: ChatId::parse(&chat_id).unwrap(),
        app,
        asha,
        lead,
        chat_id,
        lena,
    }
}

async fn a_lock_change_from_a_stale_read_writes_nothing(backend: Backend) {
    let Held {
        app,
        asha,
        lead,
        chat_id,
        parsed,
        lena,
    } = held_by_asha(backend).await;
    let stale = read_row(&app, &chat_id).await;
    // Asha's renewal moves the expiry on after the row was read.
    asha.lock(&chat_id).await.expect(200);
    let seq_before = app.latest_seq().await;
    let hub = app.cli_hub();

    let applied = locks::change(&app.db, &hub, take_over(&app, &stale, &parsed, &lena))
        .await
        .unwrap();

    assert!(!applied, "a change decided on a stale read must not apply");
    assert_eq!(app.latest_seq().await, seq_before, "and records no event");
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["lock"]["holder"]["id"], asha.id.as_str());
    assert_eq!(conversation["lock"]["fence"], 1);

    // Read again, the same change applies, with its event.
    let fresh = read_row(&app, &chat_id).await;
    let applied = locks::change(&app.db, &hub, take_over(&app, &fresh, &parsed, &lena))
        .await
        .unwrap();
    assert!(applied);
    assert_eq!(app.latest_seq().await, seq_before + 1);
    let conversation = asha.conversation(&chat_id).await;
    assert_eq!(conversation["lock"]["holder"]["id"], lead.id.as_str());
    assert_eq!(conversation["lock"]["fence"], 2);
    let kinds = asha.timeline_kinds(&chat_id).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("lock.forced"),
        "{kinds:?}"
    );
}

async fn a_lock_change_finishes_even_if_its_caller_stops_waiting(backend: Backend) {
    let Held {
        app,
        asha,
        lead,
        chat_id,
        parsed,
        lena,
    } = held_by_asha(backend).await;
    let row = read_row(&app, &chat_id).await;
    let hub = app.cli_hub();

    // Polled once, then dropped: what a request whose client hangs up does.
    let dropped = tokio::time::timeout(
        Duration::ZERO,
        locks::change(&app.db, &hub, take_over(&app, &row, &parsed, &lena)),
    )
    .await;
    drop(dropped);

    // Whether it had reached the database or not, the writer is left whole: the next lock write
    // goes through (it reads again if the dropped one landed meanwhile).
    lead.force_lock(&chat_id).await.expect(200);
    let fence = asha.conversation(&chat_id).await["lock"]["fence"]
        .as_i64()
        .unwrap();
    assert!(
        fence == 2 || fence == 3,
        "the dropped change applied whole or not at all, then the next: fence {fence}"
    );
    let note = asha
        .post(
            &format!("/conversations/{}/notes", enc(&chat_id)),
            json!({"body": "still writable"}),
        )
        .await;
    note.expect(201);
}

/// On PostgreSQL an instance decides a renewal (and the release after it) from the chat as its own
/// last lock write left it, without reading it first; whatever another instance changed meanwhile
/// must still decide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_sees_what_another_instance_changed_on_postgres() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let other = app.second_instance().await;
    let (lena_elsewhere, ravi_elsewhere) = (lena.via(&other), ravi.via(&other));
    let chat_id = chat(1);
    asha.open_chat(&chat_id, "Priya").await;
    let first = asha.lock(&chat_id).await.expect(200);
    assert_eq!(first["claimed"], true);
    let renewed = asha.lock(&chat_id).await.expect(200);
    assert_eq!(renewed["fence"], first["fence"]);
    assert_eq!(renewed["claimed"], false);
    let fence = first["fence"].as_i64().unwrap();

    // The lead takes over on the other instance: Asha's instance last wrote the lock as hers.
    let forced = lena_elsewhere.force_lock(&chat_id).await.expect(200);
    assert_eq!(forced["fence"], fence + 1);
    let refused = asha.lock(&chat_id).await.expect_error(409, "locked");
    assert_eq!(refused["holder"]["name"], "Lena", "{refused}");
    asha.release(&chat_id)
        .await
        .expect_error(409, "not_lock_holder");
    lena_elsewhere.release(&chat_id).await.expect(204);

    // Free again: Asha takes it anew, under a new fence.
    let again = asha.lock(&chat_id).await.expect(200);
    assert_eq!(again["fence"], fence + 2);
    asha.release(&chat_id).await.expect(204);

    // The lead gives the chat to Ravi on the other instance: it is no longer Asha's to reply in.
    lena_elsewhere
        .post(
            &format!("/conversations/{}/handoff", enc(&chat_id)),
            json!({"to_agent_id": ravi.id, "done": "Called", "promised": "Prices", "next_step": "Send them"}),
        )
        .await
        .expect(201);
    ravi_elsewhere
        .post_empty(&format!("/conversations/{}/handoff/accept", enc(&chat_id)))
        .await
        .expect(200);
    asha.lock(&chat_id).await.expect_error(403, "not_owner");
    let ravis = asha.conversation(&chat_id).await;
    assert_eq!(ravis["owner"]["name"], "Ravi", "{ravis}");
    assert_eq!(ravis["lock"], serde_json::Value::Null, "{ravis}");
}
