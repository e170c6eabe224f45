//! The live event stream: backlog, order, exactly-once delivery, cursors, resync, authentication.

use protocol::api::Role;
use protocol::events::EventBody;
use protocol::ws::ServerMessage;
use serde_json::json;
use tokio_tungstenite::tungstenite;

use crate::common::{chat, enc, eventually, Backend, EventStream, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_stream_delivers_each_event_once_and_in_order,
    a_reconnect_with_a_cursor_gets_exactly_the_missed_events,
    reconnecting_while_events_are_written_misses_nothing,
    a_cursor_that_is_too_old_or_ahead_gets_resync,
    the_stream_checks_tickets_and_origins,
    a_revoked_token_closes_the_stream,
    the_stream_guards_its_tickets_message_sizes_and_socket_count,
);

fn assert_consecutive(seqs: &[i64], from: i64) {
    let expected: Vec<i64> = (from..from + seqs.len() as i64).collect();
    assert_eq!(
        seqs,
        expected.as_slice(),
        "events must arrive once each, in order"
    );
}

async fn the_stream_delivers_each_event_once_and_in_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(40);
    // The org's log so far: the team joining (`agent.created`).
    let joined = app.latest_seq().await;
    asha.open_chat(&chat_id, "Priya").await;

    let mut stream = ravi.events(joined).await;
    let (backlog, ready_at) = stream.backlog().await;
    assert_eq!(backlog.len(), 1);
    assert!(matches!(
        backlog[0].body,
        EventBody::ConversationCreated { .. }
    ));
    assert_eq!(ready_at, joined + 1);

    // Writers in parallel: the stream must still be gap-free and ordered.
    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    let writes = (0..12).map(|i| {
        let (asha, notes) = (asha.clone(), notes.clone());
        tokio::spawn(async move {
            asha.post(&notes, json!({"body": format!("note {i}")}))
                .await
        })
    });
    for write in writes {
        assert_eq!(write.await.unwrap().status, 201);
    }
    asha.lock(&chat_id).await.expect(200);

    let mut seqs = Vec::new();
    let mut bodies = Vec::new();
    loop {
        let event = stream.next_event().await;
        seqs.push(event.seq);
        if let EventBody::NoteCreated(note) = &event.body {
            bodies.push(note.body.clone());
        }
        if matches!(event.body, EventBody::LockAcquired { .. }) {
            break;
        }
    }
    assert_consecutive(&seqs, joined + 2);
    assert_eq!(bodies.len(), 12, "every note once: {bodies:?}");
    // A sentinel after everything: nothing was delivered twice in between.
    asha.release(&chat_id).await.expect(204);
    let sentinel = stream.next_event().await;
    assert!(matches!(sentinel.body, EventBody::LockReleased { .. }));
    assert_eq!(sentinel.seq, seqs.last().unwrap() + 1);
    assert_eq!(sentinel.actor.as_ref().unwrap().name, "Asha");

    // Ping/pong keeps a service worker alive.
    stream.send_text(r#"{"type":"ping"}"#).await;
    assert!(matches!(stream.next().await, ServerMessage::Pong { .. }));
}

async fn a_reconnect_with_a_cursor_gets_exactly_the_missed_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let chat_id = chat(41);
    asha.open_chat(&chat_id, "Priya").await;

    let mut stream = ravi.events(0).await;
    let (_, seen) = stream.backlog().await;
    drop(stream);

    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    for i in 0..3 {
        asha.post(&notes, json!({"body": format!("while away {i}")}))
            .await
            .expect(201);
    }
    let mut stream = ravi.events(seen).await;
    let (missed, ready_at) = stream.backlog().await;
    let seqs: Vec<i64> = missed.iter().map(|e| e.seq).collect();
    assert_consecutive(&seqs, seen + 1);
    assert_eq!(missed.len(), 3);
    assert_eq!(ready_at, seen + 3);
    // And live events follow on from there.
    asha.post(&notes, json!({"body": "live"})).await.expect(201);
    assert_eq!(stream.next_event().await.seq, seen + 4);
}

/// Streams reconnecting with their cursor while notes are being written: each picks up exactly
/// where the last one left off, whether it starts where the org's live feed stands (nothing to
/// read: the feed brings the rest) or behind it (the gap comes from the database).
async fn reconnecting_while_events_are_written_misses_nothing(backend: Backend) {
    const NOTES: i64 = 24;
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    // Several logins take turns, so no login nears its cap of open streams while the old ones end.
    let readers = [
        app.agent("Ravi", Role::Agent).await,
        app.agent("Meera", Role::Agent).await,
        app.agent("John", Role::Agent).await,
    ];
    let chat_id = chat(42);
    asha.open_chat(&chat_id, "Priya").await;
    // Asha's own stream keeps the org's feed alive throughout.
    let mut keeper = asha.events(0).await;
    let (_, start) = keeper.backlog().await;

    let notes = format!("/conversations/{}/notes", enc(&chat_id));
    let writer = tokio::spawn({
        let asha = asha.clone();
        async move {
            for i in 0..NOTES {
                asha.post(&notes, json!({"body": format!("note {i}")}))
                    .await
                    .expect(201);
            }
        }
    });
    let mut seen = Vec::new();
    let mut cursor = start;
    for turn in 0.. {
        if cursor >= start + NOTES {
            break;
        }
        let mut stream = readers[turn % readers.len()].events(cursor).await;
        let (backlog, ready_at) = stream.backlog().await;
        seen.extend(backlog.iter().map(|e| e.seq));
        assert_eq!(ready_at, seen.last().copied().unwrap_or(cursor));
        cursor = ready_at;
        // A live event or two, then the stream drops.
        for _ in 0..2 {
            if cursor < start + NOTES {
                cursor = stream.next_event().await.seq;
                seen.push(cursor);
            }
        }
    }
    writer.await.unwrap();
    assert_consecutive(&seen, start + 1);
    assert_eq!(seen.len() as i64, NOTES);
}

async fn a_cursor_that_is_too_old_or_ahead_gets_resync(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.max_replay_events = 3).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let joined = app.latest_seq().await;
    for n in 0..5 {
        asha.open_chat(&chat(50 + n), "Someone").await;
    }
    let latest = app.latest_seq().await;
    assert_eq!(latest, joined + 5);

    let mut stream = asha.events(0).await;
    match stream.next().await {
        ServerMessage::Resync { latest_seq, .. } => assert_eq!(latest_seq, latest),
        other => panic!("expected resync, got {other:?}"),
    }
    // After a resync the stream carries on live from the latest sequence number.
    asha.open_chat(&chat(59), "New").await;
    assert_eq!(stream.next_event().await.seq, latest + 1);

    let mut ahead = asha.events(1000).await;
    assert!(matches!(ahead.next().await, ServerMessage::Resync { .. }));
    // Within the window the backlog is served.
    let mut recent = asha.events(latest - 2).await;
    let (events, _) = recent.backlog().await;
    assert_eq!(events.len(), 3);
}

fn http_status(err: tungstenite::Error) -> u16 {
    match err {
        tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

async fn the_stream_checks_tickets_and_origins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let extension = "chrome-extension://jgbjgnfajdikapkdoohjnaobmijkgmmj";

    let ticket = asha.ticket().await;
    let mut ok = EventStream::connect(&app.base, &ticket, 0, Some(extension))
        .await
        .expect("the extension's origin is allowed by default");
    ok.backlog().await;
    let reused = EventStream::connect(&app.base, &ticket, 0, Some(extension)).await;
    assert_eq!(
        http_status(reused.err().unwrap()),
        401,
        "tickets are single-use"
    );

    let forged = EventStream::connect(&app.base, "bwt_forged", 0, None).await;
    assert_eq!(http_status(forged.err().unwrap()), 401);
    let ticket = asha.ticket().await;
    let evil = EventStream::connect(&app.base, &ticket, 0, Some("https://evil.example")).await;
    assert_eq!(http_status(evil.err().unwrap()), 403);
    // The refused origin did not use the ticket up.
    EventStream::connect(&app.base, &ticket, 0, None)
        .await
        .expect("a client without Origin (not a browser) may connect");

    let url = format!("{}/api/v1/events", app.base.replacen("http", "ws", 1));
    let no_ticket = tokio_tungstenite::connect_async(url.clone()).await;
    assert_eq!(http_status(no_ticket.err().unwrap()), 401);
    // Non-browser clients may authenticate with their bearer token instead of a ticket.
    let url = format!("{url}?since={}", app.latest_seq().await);
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", asha.token).parse().unwrap(),
    );
    let (mut with_token, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::StreamExt;
    let first = with_token.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"type\":\"ready\""));
    // A plain GET is told this is a WebSocket.
    asha.get(&format!("/events?ticket={}", asha.ticket().await))
        .await
        .expect_error(400, "invalid_parameter");
}

async fn a_revoked_token_closes_the_stream(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.ws_ping_interval = std::time::Duration::from_millis(200)
    })
    .await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ticket = asha.ticket().await;
    let mut stream = asha.events(0).await;
    stream.backlog().await;

    asha.post_empty("/auth/logout").await.expect(204);
    assert_eq!(stream.closed().await, Some(4001));
    // A ticket issued before logout is worthless now.
    let late = EventStream::connect(&app.base, &ticket, 0, None).await;
    assert_eq!(http_status(late.err().unwrap()), 401);
}

/// Scale-out: an event committed through one server instance reaches agents connected to another
/// (PostgreSQL LISTEN/NOTIFY wakes the other instance's feed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_server_instances_on_postgres() {
    // No polling: only the NOTIFY can tell the second instance about new events.
    let mut app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.event_poll_interval = std::time::Duration::from_secs(3600)
    })
    .await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ravi = app.agent("Ravi", Role::Agent).await;
    let other = app.second_instance().await;
    let ravi_elsewhere = ravi.via(&other);
    let mut stream = ravi_elsewhere.events(0).await;
    stream.backlog().await;

    let chat_id = chat(45);
    asha.open_chat(&chat_id, "Priya").await;
    let created = stream.next_event().await;
    assert!(matches!(
        created.body,
        EventBody::ConversationCreated { .. }
    ));
    asha.lock(&chat_id).await.expect(200);
    let (locked, _) = stream.until_kind("lock.acquired").await;
    assert_eq!(locked.actor.unwrap().name, "Asha");
    // And the other way round, with the lock enforced across instances.
    ravi_elsewhere
        .lock(&chat_id)
        .await
        .expect_error(409, "locked");
    ravi_elsewhere
        .post(
            &format!("/conversations/{}/notes", enc(&chat_id)),
            json!({"body": "seen from instance two"}),
        )
        .await
        .expect(201);
    let mut asha_stream = asha.events(locked.seq).await;
    let (backlog, _) = asha_stream.backlog().await;
    assert!(matches!(
        backlog.last().unwrap().body,
        EventBody::NoteCreated(_)
    ));
}

/// A request that is not a WebSocket upgrade does not use the ticket up; a client message over a
/// few KiB closes the socket (1009); and one token opens at most a few sockets at once.
async fn the_stream_guards_its_tickets_message_sizes_and_socket_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let ticket = asha.ticket().await;
    asha.get(&format!("/events?ticket={ticket}"))
        .await
        .expect_error(400, "invalid_parameter");
    let mut stream = EventStream::connect(&app.base, &ticket, 0, None)
        .await
        .expect("the ticket survived a plain GET");
    stream.backlog().await;
    // One byte over the limit, then a message far over it: each is answered with close code
    // 1009, which reaches the client intact (the server reads on and drops the rest of the
    // oversized frame before it closes the connection, so the kernel has no unread data to
    // answer with a reset that would destroy the close frame).
    let envelope = r#"{"type":"ping","pad":""}"#.len();
    // (Another login's streams, so that these, which end in the background, leave Asha's count
    // of open streams below alone.)
    let ravi = app.agent("Ravi", Role::Agent).await;
    for size in [sync_server::MAX_CLIENT_MESSAGE + 1, 2 * 1024 * 1024] {
        let ticket = ravi.ticket().await;
        let mut stream = EventStream::connect(&app.base, &ticket, 0, None)
            .await
            .unwrap();
        stream.backlog().await;
        stream
            .send_text(&format!(
                r#"{{"type":"ping","pad":"{}"}}"#,
                "x".repeat(size - envelope)
            ))
            .await;
        assert_eq!(
            stream.closed().await,
            Some(1009),
            "a message of {size} bytes"
        );
    }
    drop(stream);

    let mut open = Vec::new();
    for _ in 0..sync_server::MAX_SOCKETS_PER_TOKEN {
        let mut stream = asha.events(0).await;
        stream.backlog().await;
        open.push(stream);
    }
    let ticket = asha.ticket().await;
    let refused = EventStream::connect(&app.base, &ticket, 0, None).await;
    assert_eq!(http_status(refused.err().unwrap()), 429);
    // Closing one makes room.
    drop(open.pop());
    let ticket = asha.ticket().await;
    let mut again = eventually("a socket accepted after one closed", || async {
        match EventStream::connect(&app.base, &ticket, 0, None).await {
            Ok(stream) => Some(stream),
            // The server notices the closed socket a moment later; a refusal does not use the
            // ticket up, so try again with it.
            Err(err) => {
                assert_eq!(http_status(err), 429);
                None
            }
        }
    })
    .await;
    again.backlog().await;
}
