//! The server's own limits: a deadline for request headers and a cap on open connections, so
//! half-sent requests cannot hold connections for ever nor use up the process's descriptors.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Backend, TestApp, PATIENCE};
use crate::on_both_backends;

on_both_backends!(
    a_half_sent_request_is_closed_after_the_header_deadline,
    connections_beyond_the_cap_wait_for_a_free_one,
);

async fn a_half_sent_request_is_closed_after_the_header_deadline(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.header_read_timeout = Duration::from_millis(300)
    })
    .await;
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: baton\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut rest))
        .await
        .expect("the server kept a half-sent request open");
    assert!(read.is_ok(), "{read:?}");
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "it was not answered: {}",
        String::from_utf8_lossy(&rest)
    );
    // Whole requests are still served.
    let health = app
        .http()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

async fn connections_beyond_the_cap_wait_for_a_free_one(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_connections = 3).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while app.connections().now() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the 3 were not accepted"
        );
        tokio::task::yield_now().await;
    }
    // A fourth client waits in the listen backlog until one of the three goes.
    let base = app.base.clone();
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    drop(idle.pop());
    let status = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the waiting client was never served")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        app.connections().peak() <= 3,
        "at most 3 connections at once, saw {}",
        app.connections().peak()
    );
}
