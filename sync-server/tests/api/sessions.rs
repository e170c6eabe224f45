//! Live logins are cached per instance: a token is looked up in the database once, and every
//! way a login ends reaches every instance's cache.

use protocol::api::Role;
use serde_json::{json, Value};
use sync_server::sessions::Ended;

use crate::common::{chat, eventually, Backend, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    a_token_is_looked_up_once_and_forgotten_when_its_login_ends,
    a_login_ended_on_one_instance_ends_on_every_instance,
    late_word_of_an_agents_logins_ending_spares_a_login_made_since,
);

/// An agent's logins ending (here: a new role) ends the logins made before it, not one made
/// since. Word of it can reach a server late (its follower reads the database every 250 ms, and
/// another instance hears later still); arriving after the agent logged in again, it must not
/// close the new login's stream (it did: the agent then counted as offline, and routing passed
/// them over).
async fn late_word_of_an_agents_logins_ending_spares_a_login_made_since(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.agent("Ada", Role::Admin).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    admin
        .put(
            &format!("/agents/{}/role", ravi.id),
            json!({"role": "lead"}),
        )
        .await
        .expect(200);
    let login = app.login(&ravi.email, PASSWORD).await;
    assert_eq!(login.status(), reqwest::StatusCode::OK);
    let token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let ravi_again = ravi.with_token(&token);
    let mut stream = ravi_again.events(app.latest_seq().await).await;
    stream.backlog().await;
    // The role change's word, as a follower that read it late delivers it.
    app.tokens().forget(&Ended::Agent(ravi.id.clone()));
    // Two events one after the other: by the second, the stream has looked at that word (it
    // was waiting before the first event was written).
    for n in [30, 31] {
        ravi_again.open_chat(&chat(n), "Priya").await;
        let (event, _) = stream.until_kind("conversation.created").await;
        assert_eq!(event.chat_id.map(|c| c.as_str().to_owned()), Some(chat(n)));
    }
    ravi_again.get("/me").await.expect(200);
    // The login made before the role change stays ended.
    ravi.get("/me").await.expect_error(401, "unauthorized");
}

async fn a_token_is_looked_up_once_and_forgotten_when_its_login_ends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let lead = app.agent("Lena", Role::Admin).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    ravi.get("/me").await.expect(200);
    let before = app.tokens().lookups();
    for _ in 0..20 {
        ravi.get("/me").await.expect(200);
    }
    assert_eq!(app.tokens().lookups(), before, "served from the cache");

    // Each way a login ends takes effect on the very next request to this instance.
    let second = app.agent_session(&ravi).await;
    second.get("/me").await.expect(200);
    second.post_empty("/auth/logout").await.expect(204);
    second.get("/me").await.expect_error(401, "unauthorized");
    ravi.get("/me").await.expect(200);

    lead.post_empty(&format!("/agents/{}/deactivate", ravi.id))
        .await
        .expect(204);
    ravi.get("/me").await.expect_error(401, "unauthorized");
}

async fn a_login_ended_on_one_instance_ends_on_every_instance(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let other = app.second_instance().await;
    let lead = app.agent("Lena", Role::Admin).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let ravi_there = ravi.via(&other);
    ravi_there.get("/me").await.expect(200);
    ravi_there.get("/me").await.expect(200);
    // Deactivated through the first instance: the second, which has the login cached, refuses it
    // as soon as it hears (a notification on PostgreSQL; on SQLite the change it follows).
    lead.post_empty(&format!("/agents/{}/deactivate", ravi.id))
        .await
        .expect(204);
    eventually("the second instance to refuse the login", || async {
        (ravi_there.get("/me").await.status.as_u16() == 401).then_some(())
    })
    .await;
    ravi_there
        .get("/me")
        .await
        .expect_error(401, "unauthorized");
}
