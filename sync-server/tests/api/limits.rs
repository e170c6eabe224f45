//! The server's own limits: a deadline for request headers and a cap on open connections, so
//! half-sent requests cannot hold connections for ever nor use up the process's descriptors.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{eventually, Backend, TestApp, PATIENCE};
use crate::on_both_backends;

on_both_backends!(
    a_half_sent_request_is_closed_after_the_header_deadline,
    connections_beyond_the_cap_wait_for_a_free_one,
    event_streams_keep_their_place_under_the_cap,
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
    // With three open the server stops accepting: it waits for a slot before the next accept.
    eventually("the server to wait at its cap of 3", || async {
        (app.connections().now() == 3 && app.connections().waits() > 0).then_some(())
    })
    .await;
    // So a fourth client's request waits in the listen backlog until one of the three goes.
    let mut fourth = TcpStream::connect(app.addr).await.unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    drop(idle.pop());
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, fourth.read_to_end(&mut answer))
        .await
        .expect("the waiting client was never served")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        app.connections().peak() <= 3,
        "at most 3 connections at once, saw {}",
        app.connections().peak()
    );
}

/// An event stream is an upgraded HTTP connection that stays open for hours: it counts against
/// the cap for as long as it is open, not just for its handshake.
async fn event_streams_keep_their_place_under_the_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.max_connections = 3).await;
    let ravi = app.agent("Ravi", protocol::api::Role::Agent).await;
    // Tickets through a client that keeps no connection open, so only streams stay connected.
    let once = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let open_stream = || async {
        let ticket: serde_json::Value = once
            .post(format!("{}/api/v1/events/ticket", app.base))
            .header("connection", "close")
            .bearer_auth(&ravi.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        crate::common::EventStream::connect(
            &app.base,
            ticket["ticket"].as_str().unwrap(),
            0,
            Some("http://allowed.test"),
        )
        .await
        .unwrap()
    };
    let mut streams = vec![open_stream().await, open_stream().await];
    eventually("both streams to count as open connections", || async {
        (app.connections().now() == 2).then_some(())
    })
    .await;
    streams.push(open_stream().await);
    eventually("the server to wait at its cap of 3", || async {
        (app.connections().now() == 3 && app.connections().waits() > 0).then_some(())
    })
    .await;
    streams.truncate(1);
    eventually("closed streams to give their places back", || async {
        (app.connections().now() == 1).then_some(())
    })
    .await;
}
