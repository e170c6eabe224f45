//! Live logins are cached per instance: a token is looked up in the database once, and every
//! way a login ends reaches every instance's cache.

use protocol::api::Role;

use crate::common::{eventually, Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_token_is_looked_up_once_and_forgotten_when_its_login_ends,
    a_login_ended_on_one_instance_ends_on_every_instance,
);

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
