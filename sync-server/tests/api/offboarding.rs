//! Off-boarding: deactivating, reactivating, setting passwords and logging an agent out
//! everywhere — their event streams close at once (not at the next ping) and their reply locks
//! end.

use std::time::Duration;

use protocol::api::Role;
use serde_json::json;
use sync_server::admin::{self, Who};

use crate::common::{chat, enc, Backend, Resp, TestAgent, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    a_deactivated_agent_is_out_at_once_and_their_locks_end,
    a_new_password_or_logging_out_everywhere_ends_every_session,
    a_token_whose_stream_closed_on_its_revocation_no_longer_works,
    only_admins_manage_agents_and_an_org_keeps_an_admin,
);

/// Pings are not what closes the streams here: they would come only after two minutes.
fn slow_pings(config: &mut sync_server::Config) {
    config.ws_ping_interval = Duration::from_secs(120);
}

async fn login(app: &TestApp, email: &str, password: &str) -> Resp {
    Resp::from(app.login(email, password).await).await
}

async fn a_deactivated_agent_is_out_at_once_and_their_locks_end(backend: Backend) {
    let app = TestApp::spawn_with(backend, slow_pings).await;
    let ada = app.agent("Ada", Role::Admin).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let chat_id = chat(50);
    ravi.open_chat(&chat_id, "Priya").await;
    let fence = ravi.lock(&chat_id).await.expect(200)["fence"]
        .as_i64()
        .unwrap();
    let mut stream = ravi.events(0).await;
    stream.backlog().await;

    ada.post_empty(&format!("/agents/{}/deactivate", ravi.id))
        .await
        .expect(204);
    assert_eq!(stream.closed().await, Some(4001), "closed at once");
    ravi.get("/me").await.expect_error(401, "unauthorized");
    login(&app, &ravi.email, PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    let conversation = lena.conversation(&chat_id).await;
    assert!(conversation["lock"].is_null(), "{conversation}");
    let taken = lena.force_lock(&chat_id).await.expect(200);
    assert!(
        taken["fence"].as_i64().unwrap() > fence + 1,
        "the old fence is stale"
    );
    let agents = ada.get("/agents").await.expect(200);
    assert!(!agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == ravi.id.as_str()));
    // Admins see who was deactivated, to bring them back; nobody else does.
    let gone = ada.get("/agents/deactivated").await.expect(200);
    let ids: Vec<&str> = gone["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ravi.id.as_str()], "{gone}");
    assert_eq!(gone["items"][0]["email"], ravi.email.as_str());
    lena.get("/agents/deactivated")
        .await
        .expect_error(403, "forbidden");
    ada.get("/agents/deactivated?limit=0")
        .await
        .expect_error(400, "invalid_parameter");

    ada.post_empty(&format!("/agents/{}/reactivate", ravi.id))
        .await
        .expect(204);
    login(&app, &ravi.email, PASSWORD).await.expect(200);
    let gone = ada.get("/agents/deactivated").await.expect(200);
    assert_eq!(
        gone["items"],
        serde_json::json!([]),
        "back among the active"
    );
    let agents = ada.get("/agents").await.expect(200);
    assert!(agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == ravi.id.as_str()));
}

/// The admin CLI is a process of its own: on PostgreSQL it tells running servers of what it wrote
/// before it exits, so a deactivation closes the agent's streams and reaches their colleagues on a
/// server that would otherwise look for new events only at its next poll (an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_cli_on_postgres_tells_running_servers_before_it_exits() {
    let app = TestApp::spawn_with(Backend::Postgres, |config| {
        slow_pings(config);
        config.event_poll_interval = Duration::from_secs(3600);
    })
    .await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let mut stream = ravi.events(0).await;
    stream.backlog().await;
    let mut colleague = lena.events(0).await;
    colleague.backlog().await;

    let (email, url) = (ravi.email.clone(), app.config.database_url.clone());
    let cli = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args([
                "admin",
                "deactivate",
                "--email",
                &email,
                "--database-url",
                &url,
            ])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(stream.closed().await, Some(4001), "closed at once");
    let (deactivated, _) = colleague.until_kind("agent.deactivated").await;
    assert!(deactivated.actor.is_none(), "the CLI acts as nobody");
}

async fn a_new_password_or_logging_out_everywhere_ends_every_session(backend: Backend) {
    let app = TestApp::spawn_with(backend, slow_pings).await;
    let ada = app.agent("Ada", Role::Admin).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let mut stream = ravi.events(0).await;
    stream.backlog().await;
    let password = format!("/agents/{}/password", ravi.id);
    ada.put(&password, json!({"password": "short"}))
        .await
        .expect_error(422, "validation_failed");
    ada.put(&password, json!({"password": "a new long password"}))
        .await
        .expect(204);
    assert_eq!(stream.closed().await, Some(4001));
    ravi.get("/me").await.expect_error(401, "unauthorized");
    login(&app, &ravi.email, PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    let token = login(&app, &ravi.email, "a new long password")
        .await
        .expect(200)["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // `admin revoke-tokens` runs as its own process beside the server: it reaches the server's
    // streams through the database.
    let ravi = ravi.with_token(&token);
    logged_out_everywhere_by_the_cli(&app, &ravi).await;
}

/// The event that a command logged the agent out can reach this server's feed, and close the
/// agent's stream, before the server reads the revocation itself (on SQLite it follows the file
/// for them; here that read is an hour away): the request after the close must still be refused.
async fn a_token_whose_stream_closed_on_its_revocation_no_longer_works(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        slow_pings(config);
        config.sessions_follow_interval = Duration::from_secs(3600);
    })
    .await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    // The token is in the server's cache.
    ravi.get("/me").await.expect(200);
    logged_out_everywhere_by_the_cli(&app, &ravi).await;
}

/// Opens the agent's stream, logs them out everywhere with `admin revoke-tokens` (its own process
/// in real life, reaching the server only through the database) and checks that the stream
/// closes at once and the token is refused after it.
async fn logged_out_everywhere_by_the_cli(app: &TestApp, agent: &TestAgent) {
    let mut stream = agent.events(0).await;
    stream.backlog().await;
    let cli_hub = app.cli_hub();
    let revoked = admin::revoke_tokens(&app.db, &cli_hub, &agent.email)
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(stream.closed().await, Some(4001));
    agent.get("/me").await.expect_error(401, "unauthorized");
}

async fn only_admins_manage_agents_and_an_org_keeps_an_admin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.agent("Ada", Role::Admin).await;
    let lena = app.agent("Lena", Role::Lead).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    for (who, path) in [
        (&lena, format!("/agents/{}/deactivate", ravi.id)),
        (&ravi, format!("/agents/{}/reactivate", lena.id)),
    ] {
        who.post_empty(&path).await.expect_error(403, "forbidden");
    }
    lena.put(
        &format!("/agents/{}/password", ravi.id),
        json!({"password": "long enough 1"}),
    )
    .await
    .expect_error(403, "forbidden");
    ada.post_empty(&format!("/agents/{}/deactivate", ada.id))
        .await
        .expect_error(422, "validation_failed");
    let outsider = app.outsider("Zed").await;
    ada.post_empty(&format!("/agents/{}/deactivate", outsider.id))
        .await
        .expect_error(404, "not_found");
    outsider.get("/me").await.expect(200);
    // The CLI cannot leave an org without an admin either.
    let hub = app.cli_hub();
    let refused = admin::deactivate(&app.db, &hub, Who::Email(&ada.email), None)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("only admin"), "{refused}");
    // Nothing of the refused change is left: Ada is still an active admin.
    ada.get("/me").await.expect(200);
    ada.post_empty(&format!("/agents/{}/reactivate", ravi.id))
        .await
        .expect(204);
    ravi.get("/me").await.expect(200);
    let chat_id = chat(51);
    ravi.open_chat(&chat_id, "Priya").await;
    ravi.get(&format!("/conversations/{}", enc(&chat_id)))
        .await
        .expect(200);
}
