//! Logging in and out, tokens, `GET /me`, and the admin token revocation.

use std::time::Duration;

use protocol::api::Role;
use sync_server::admin;

use crate::common::{eventually, Backend, Resp, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(
    login_logout_and_revocation,
    guessing_a_password_is_throttled_even_for_the_right_one,
    one_address_guessing_many_emails_is_throttled,
    password_checks_run_a_few_at_a_time,
);

async fn login_logout_and_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Lead).await;
    let login = |email: String, password: &'static str| {
        let app = &app;
        async move { Resp::from(app.login(&email, password).await).await }
    };

    let wrong_password = login(asha.email.clone(), "wrong password").await;
    let wrong_body = wrong_password.expect_error(401, "invalid_credentials");
    let unknown = login("nobody@example.test".to_owned(), "wrong password").await;
    assert_eq!(
        unknown.expect_error(401, "invalid_credentials"),
        wrong_body,
        "unknown emails and wrong passwords look the same"
    );
    // Emails are case-insensitive.
    let second = login(asha.email.to_uppercase(), PASSWORD).await.expect(200);
    assert_eq!(second["agent"]["name"], "Asha");
    assert_eq!(second["agent"]["role"], "lead");
    let second_token = second["token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, asha.token);

    let me = asha.get("/me").await.expect(200);
    assert_eq!(me["agent"]["id"], asha.id.as_str());
    assert_eq!(me["agent"]["email"], asha.email.as_str());
    assert_eq!(me["org"]["timezone"], "Asia/Kolkata");
    assert_eq!(me["org"]["locale"], "en-GB", "an org that chose no locale");
    assert!(me["server_time"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(me["latest_seq"], app.latest_seq().await);

    asha.post_empty("/auth/logout").await.expect(204);
    asha.get("/me").await.expect_error(401, "unauthorized");
    // Logging out ends that session only.
    let other_session = asha.with_token(&second_token);
    other_session.get("/me").await.expect(200);

    // The admin command logs the agent out everywhere.
    let cli_hub = app.cli_hub();
    assert_eq!(
        admin::revoke_tokens(&app.db, &cli_hub, &asha.email)
            .await
            .unwrap(),
        1
    );
    // The command runs beside the server (another process, here another hub with its own token
    // cache): the server forgets the logins as soon as it hears of it — by notification on
    // PostgreSQL, by following the changes on SQLite.
    eventually("the revoked session to be refused", || async {
        (other_session.get("/me").await.status.as_u16() == 401).then_some(())
    })
    .await;
    other_session
        .get("/me")
        .await
        .expect_error(401, "unauthorized");
}

/// After a few wrong passwords the email is closed for a growing while: the right password then
/// gets 429 with `Retry-After` too, instead of a free guess.
/// The first closure lasts ten minutes here (under the 15-minute cap), so no test step can
/// outlast it however slow the machine.
const CLOSED: Duration = Duration::from_secs(600);

async fn spawn_with_long_closures(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.login_throttle_per_email.first_delay = CLOSED;
        config.login_throttle_per_address.first_delay = CLOSED;
    })
    .await
}

async fn guessing_a_password_is_throttled_even_for_the_right_one(backend: Backend) {
    let app = spawn_with_long_closures(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    for attempt in 0..6 {
        let response = app
            .login(&asha.email, &format!("guess number {attempt}"))
            .await;
        Resp::from(response)
            .await
            .expect_error(401, "invalid_credentials");
    }
    let right = app.login(&asha.email, PASSWORD).await;
    let retry_after: u64 = right.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (CLOSED.as_secs() - 60..=CLOSED.as_secs()).contains(&retry_after),
        "Retry-After {retry_after} is the closure's remaining time"
    );
    Resp::from(right)
        .await
        .expect_error(429, "too_many_requests");
    // Other people are not locked out by it.
    app.agent("Ravi", Role::Agent).await;
}

async fn one_address_guessing_many_emails_is_throttled(backend: Backend) {
    let app = spawn_with_long_closures(backend).await;
    for n in 0..31 {
        let response = app
            .login(&format!("guess{n}@example.test"), "wrong password")
            .await;
        assert_eq!(response.status(), 401);
    }
    let next = app.login("another@example.test", "wrong password").await;
    Resp::from(next)
        .await
        .expect_error(429, "too_many_requests");
}

/// Password checks take ~19 MiB and a core each: however many logins arrive at once, only a few
/// checks run at a time and the rest wait their turn.
async fn password_checks_run_a_few_at_a_time(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_password_checks = 2).await;
    let logins = (0..24).map(|n| {
        let email = format!("wrong{n}@example.test");
        let app = &app;
        async move { app.login(&email, "wrong password").await.status() }
    });
    for status in futures_util::future::join_all(logins).await {
        assert_eq!(status, 401);
    }
    let peak = app.password_checks().peak();
    assert!((1..=2).contains(&peak), "{peak} checks ran at once");
}
