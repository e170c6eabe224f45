//! Presence: available while a browser holds the event stream and the agent is not away; told
//! live (outside the event sequence) to the agent's own streams and to leads' and admins'; an
//! instance that dies takes its agents offline by itself; `GET /agents` shows presence, open
//! chats and capacity.

use protocol::api::Role;
use protocol::routing::{Presence, PresenceStatus};
use serde_json::{json, Value};

use crate::common::{chat, Backend, EventStream, TestAgent, TestApp};
use crate::on_both_backends;

on_both_backends!(
    an_agent_is_available_while_connected_and_not_away,
    a_dead_instances_agents_go_offline_by_themselves,
    a_team_connecting_at_once_is_available_and_then_offline,
);

async fn listed(viewer: &TestAgent, agent: &TestAgent) -> Value {
    let page = viewer.get("/agents").await.expect(200);
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == agent.id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{} not listed: {page}", agent.id))
}

/// Opens every agent's event stream from `seq` at the same time; each is ready (its backlog read)
/// when this returns.
async fn open_at_once(agents: impl Iterator<Item = TestAgent>, seq: i64) -> Vec<EventStream> {
    let opening: Vec<_> = agents
        .map(|agent| {
            tokio::spawn(async move {
                let mut stream = agent.events(seq).await;
                stream.backlog().await;
                stream
            })
        })
        .collect();
    let mut streams = Vec::new();
    for stream in opening {
        streams.push(stream.await.unwrap());
    }
    streams
}

/// The next presence change of `agent` told on `stream` (the watcher's own coming online may or
/// may not reach the watcher: on PostgreSQL it comes back through the notification).
async fn next_of(stream: &mut EventStream, agent: &TestAgent) -> Presence {
    loop {
        let presence = stream.next_presence().await;
        if presence.agent.id == agent.id {
            return presence;
        }
    }
}

fn presence(agent: &TestAgent, status: PresenceStatus) -> Presence {
    Presence {
        agent: protocol::api::AgentRef {
            id: agent.id.clone(),
            name: agent.name.clone(),
        },
        status,
    }
}

async fn an_agent_is_available_while_connected_and_not_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let fresh = listed(&lena, &asha).await;
    assert_eq!(fresh["presence"], "offline");
    assert_eq!(fresh["open_chats"], 0);
    assert!(fresh["capacity"].is_null());
    assert_eq!(
        fresh["email"],
        asha.email.as_str(),
        "still the agent as before"
    );

    let ravi = app.agent("Ravi", Role::Agent).await;
    let seq = app.latest_seq().await;
    // Lena, a lead, watches the team; Ravi, an agent, hears only himself (he comes online first).
    let mut watch = lena.events(seq).await;
    watch.backlog().await;
    let mut ravis = ravi.events(seq).await;
    ravis.backlog().await;
    assert_eq!(
        ravis.next_presence().await,
        presence(&ravi, PresenceStatus::Available),
        "his browser hears him come online"
    );
    let mut first = asha.events(seq).await;
    first.backlog().await;
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Available)
    );
    assert_eq!(listed(&lena, &asha).await["presence"], "available");

    let away = asha
        .put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    assert_eq!(away["status"], "away");
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Away)
    );
    // Ravi heard none of Asha's comings and goings: the next frame on his stream is his own.
    ravi.put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    assert_eq!(
        ravis.next_presence().await,
        presence(&ravi, PresenceStatus::Away)
    );
    drop(ravis);
    // A second browser, then the first one gone: still connected, nothing to say.
    let mut second = asha.events(seq).await;
    second.backlog().await;
    drop(first);
    asha.put("/me/presence", json!({"status": "available"}))
        .await
        .expect(200);
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Available),
        "not offline in between"
    );
    drop(second);
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Offline)
    );
    assert_eq!(listed(&lena, &asha).await["presence"], "offline");
    // Away while offline: still offline, and away on coming back.
    let offline_away = asha
        .put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    assert_eq!(offline_away["status"], "offline");
    let mut third = asha.events(seq).await;
    third.backlog().await;
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Away)
    );
    // Presence is not history: none of it took a sequence number.
    assert_eq!(app.latest_seq().await, seq);

    // Open chats (owned, not closed) and capacity, as routing sees them.
    let chat_id = chat(900);
    asha.open_chat(&chat_id, "Priya").await;
    asha.lock(&chat_id).await.expect(200);
    asha.release(&chat_id).await.expect(204);
    lena.put(
        &format!("/agents/{}/routing", asha.id),
        json!({"capacity": 3}),
    )
    .await
    .expect(200);
    let loaded = listed(&lena, &asha).await;
    assert_eq!(
        (loaded["open_chats"].clone(), loaded["capacity"].clone()),
        (json!(1), json!(3))
    );
    asha.post_empty(&format!(
        "/conversations/{}/close",
        crate::common::enc(&chat_id)
    ))
    .await
    .expect(200);
    assert_eq!(listed(&lena, &asha).await["open_chats"], 0);

    asha.put("/me/presence", json!({"status": "busy"}))
        .await
        .expect_error(422, "invalid_body");
    drop(third);
}

/// A team that connects at once (after a deploy, say) is written together: everyone comes
/// online, away or available as they said, each told once; and goes offline together.
async fn a_team_connecting_at_once_is_available_and_then_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let mut team = Vec::new();
    for n in 0..12 {
        team.push(app.agent(&format!("Agent {n}"), Role::Agent).await);
    }
    team[3]
        .put("/me/presence", json!({"status": "away"}))
        .await
        .expect(200);
    let seq = app.latest_seq().await;
    let mut watch = lena.events(seq).await;
    watch.backlog().await;
    let streams = open_at_once(team.iter().cloned(), seq).await;
    // Every stream that is ready has its agent's row: the list says so at once.
    for agent in &team {
        let expected = if agent.id == team[3].id {
            "away"
        } else {
            "available"
        };
        assert_eq!(
            listed(&lena, agent).await["presence"],
            expected,
            "{}",
            agent.name
        );
    }
    let mut told = std::collections::BTreeMap::new();
    while told.len() < team.len() {
        let change = watch.next_presence().await;
        if change.agent.id != lena.id {
            assert!(
                told.insert(change.agent.id.clone(), change.status)
                    .is_none(),
                "told twice: {change:?}"
            );
        }
    }
    assert_eq!(told[&team[3].id], PresenceStatus::Away);
    assert_eq!(
        told.values()
            .filter(|s| **s == PresenceStatus::Available)
            .count(),
        11
    );
    drop(streams);
    let mut gone = std::collections::BTreeSet::new();
    while gone.len() < team.len() {
        let change = watch.next_presence().await;
        if change.status == PresenceStatus::Offline {
            gone.insert(change.agent.id);
        }
    }
    for agent in &team {
        assert_eq!(listed(&lena, agent).await["presence"], "offline");
    }
}

async fn a_dead_instances_agents_go_offline_by_themselves(backend: Backend) {
    // A short lease, so the keeper sweeps every few hundred milliseconds.
    let app = TestApp::spawn_with(backend, |c| {
        c.ws_ping_interval = std::time::Duration::from_millis(200)
    })
    .await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let mut watch = lena.events(app.latest_seq().await).await;
    watch.backlog().await;
    // Ravi is connected through another instance, which renews its row…
    sqlx::query(
        "INSERT INTO presence (instance_id, agent_id, org_id, expires_at)
         VALUES ('another-instance', $1, (SELECT org_id FROM agents WHERE id = $1), $2)",
    )
    .bind(&ravi.id)
    .bind(i64::MAX / 2)
    .execute(app.db.writer())
    .await
    .unwrap();
    assert_eq!(listed(&lena, &ravi).await["presence"], "available");
    // …until it dies and its row runs out: any instance's keeper ends it.
    sqlx::query("UPDATE presence SET expires_at = 0 WHERE instance_id = 'another-instance'")
        .execute(app.db.writer())
        .await
        .unwrap();
    assert_eq!(
        next_of(&mut watch, &ravi).await,
        presence(&ravi, PresenceStatus::Offline)
    );
    assert_eq!(listed(&lena, &ravi).await["presence"], "offline");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM presence WHERE agent_id = $1")
        .bind(&ravi.id)
        .fetch_one(app.db.writer())
        .await
        .unwrap();
    assert_eq!(left, 0, "the dead instance's row is gone");
}

/// Through any instance: an agent connected to the second instance is available for a lead
/// watching through the first, and offline once that stream ends (PostgreSQL carries the
/// changes between instances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_crosses_server_instances_on_postgres() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let other = app.second_instance().await;
    let mut watch = lena.events(app.latest_seq().await).await;
    watch.backlog().await;
    let mut elsewhere = asha.via(&other).events(app.latest_seq().await).await;
    elsewhere.backlog().await;
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Available)
    );
    assert_eq!(listed(&lena, &asha).await["presence"], "available");
    drop(elsewhere);
    assert_eq!(
        next_of(&mut watch, &asha).await,
        presence(&asha, PresenceStatus::Offline)
    );
}

/// A team reconnecting through three instances at once (after a deploy), each agent through two of
/// them at the same moment: instances decide presence under the agent's row, not the org's, and
/// still agree. Each agent is told available once, and offline once when all their streams end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_connecting_through_three_instances_is_told_once_each_on_postgres() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let mut team = Vec::new();
    for n in 0..9 {
        team.push(app.agent(&format!("Agent {n}"), Role::Agent).await);
    }
    let instances = [
        app.base.clone(),
        app.second_instance().await,
        app.second_instance().await,
    ];
    let seq = app.latest_seq().await;
    let mut watch = lena.events(seq).await;
    watch.backlog().await;
    let through_two = team.iter().enumerate().flat_map(|(i, agent)| {
        [&instances[i % 3], &instances[(i + 1) % 3]].map(|instance| agent.via(instance))
    });
    let streams = open_at_once(through_two, seq).await;
    let mut told = std::collections::BTreeSet::new();
    while told.len() < team.len() {
        let change = watch.next_presence().await;
        if change.agent.id != lena.id {
            assert_eq!(change.status, PresenceStatus::Available, "{change:?}");
            assert!(
                told.insert(change.agent.id.clone()),
                "told twice: {change:?}"
            );
        }
    }
    for agent in &team {
        assert_eq!(listed(&lena, agent).await["presence"], "available");
    }
    drop(streams);
    let mut gone = std::collections::BTreeSet::new();
    while gone.len() < team.len() {
        let change = watch.next_presence().await;
        assert_eq!(change.status, PresenceStatus::Offline, "{change:?}");
        assert!(
            gone.insert(change.agent.id.clone()),
            "told twice: {change:?}"
        );
    }
    for agent in &team {
        assert_eq!(listed(&lena, agent).await["presence"], "offline");
    }
}
