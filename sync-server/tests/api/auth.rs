//! Logging in and out, tokens, `GET /me`, and the admin token revocation.

use protocol::api::Role;
use serde_json::json;
use sync_server::admin;

use crate::common::{Backend, Resp, TestApp, PASSWORD};
use crate::on_both_backends;

on_both_backends!(login_logout_and_revocation);

async fn login_logout_and_revocation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Lead).await;
    let login_url = format!("{}/api/v1/auth/login", app.base);
    let login = |email: String, password: &'static str| {
        let request = app
            .http()
            .post(&login_url)
            .json(&json!({"email": email, "password": password}));
        async move { Resp::from(request.send().await.unwrap()).await }
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
    assert!(me["server_time"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(me["latest_seq"], app.latest_seq().await);

    asha.post_empty("/auth/logout").await.expect(204);
    asha.get("/me").await.expect_error(401, "unauthorized");
    // Logging out ends that session only.
    let other_session = asha.with_token(&second_token);
    other_session.get("/me").await.expect(200);

    // The admin command logs the agent out everywhere.
    assert_eq!(admin::revoke_tokens(&app.db, &asha.email).await.unwrap(), 1);
    other_session
        .get("/me")
        .await
        .expect_error(401, "unauthorized");
}
