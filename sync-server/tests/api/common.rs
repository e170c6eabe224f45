//! The test harness: a real server on `127.0.0.1:0` over a real database (a fresh SQLite file or a
//! fresh PostgreSQL database per test), with logged-in agents that speak HTTP and WebSocket.
//!
//! PostgreSQL tests connect with `BATON_TEST_PG_URL` (default
//! `postgres://baton_test:baton_test@127.0.0.1:5432/postgres`; the role needs CREATEDB). The
//! README's test command sets that up.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::api::Role;
use protocol::events::Event;
use protocol::ws::ServerMessage;
use reqwest::StatusCode;
use serde_json::Value;
use sync_server::admin::{self, NewAgent};
use sync_server::db::Db;
use sync_server::events::EventHub;
use sync_server::{Config, Server};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Runs a scenario once on SQLite and once on PostgreSQL, as `NAME::sqlite` and `NAME::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub const PASSWORD: &str = "correct horse battery";

/// Tries `attempt` until it gives `Some`, yielding between tries; fails the test, saying what did
/// not happen, once [`PATIENCE`] runs out.
pub async fn eventually<T, Attempt>(what: &str, attempt: impl FnMut() -> Attempt) -> T
where
    Attempt: std::future::Future<Output = Option<T>>,
{
    eventually_explained(what, attempt, || async { String::new() }).await
}

/// [`eventually`], whose failure also says what `explain` finds then (where things stand).
pub async fn eventually_explained<T, Attempt, Explain>(
    what: &str,
    mut attempt: impl FnMut() -> Attempt,
    explain: impl FnOnce() -> Explain,
) -> T
where
    Attempt: std::future::Future<Output = Option<T>>,
    Explain: std::future::Future<Output = String>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("{what} did not happen in time{}", explain().await);
        }
        tokio::task::yield_now().await;
    }
}

fn pg_admin_url() -> String {
    std::env::var("BATON_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://baton_test:baton_test@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test and is removed after it.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn create(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:{}", dir.path().join("baton.db").display());
                TestDb {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin_url = pg_admin_url();
                let name = format!("baton_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL at {admin_url} ({e}); start it and create the test role \
                         (scripts/test.sh does both) or set BATON_TEST_PG_URL"
                    )
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin_url.rsplit_once('/').unwrap().0;
                TestDb {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside any async context we could borrow, so use a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running server with one org, plus a handle on its database for setting up and checking.
pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    pub org_id: String,
    pub db: Db,
    pub config: Config,
    server: Option<Server>,
    extra_servers: Vec<Server>,
    http: reqwest::Client,
    /// Kept so the database outlives the server; dropped (and removed) with the app.
    _test_db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, |_| {}).await
    }

    /// Spawns with a config adjusted by `tune` (short lock TTLs and the like).
    pub async fn spawn_with(backend: Backend, tune: impl FnOnce(&mut Config)) -> TestApp {
        let test_db = TestDb::create(backend).await;
        let mut config = Config::new(test_db.url.clone());
        config
            .allowed_origins
            .push("http://allowed.test".to_owned());
        tune(&mut config);
        let db = Db::connect(&test_db.url, 2).await.unwrap();
        let org = admin::create_org(&db, "Test Org", "Asia/Kolkata", None)
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::start(config.clone(), listener).await.unwrap();
        TestApp {
            base: format!("http://{addr}"),
            addr,
            org_id: org.id,
            db,
            config,
            server: Some(server),
            extra_servers: Vec::new(),
            http: reqwest::Client::new(),
            _test_db: test_db,
        }
    }

    /// A new agent of the app's org, logged in through the API.
    pub async fn agent(&self, name: &str, role: Role) -> TestAgent {
        self.agent_in(&self.org_id.clone(), name, role).await
    }

    /// A new agent of another, new org.
    pub async fn outsider(&self, name: &str) -> TestAgent {
        let org = admin::create_org(&self.db, "Other Org", "Europe/Berlin", None)
            .await
            .unwrap();
        self.agent_in(&org.id, name, Role::Lead).await
    }

    pub async fn agent_in(&self, org_id: &str, name: &str, role: Role) -> TestAgent {
        let email = format!(
            "{}-{}@example.test",
            name.to_lowercase().replace(' ', "."),
            uuid::Uuid::new_v4().simple()
        );
        let agent = admin::create_agent(
            &self.db,
            &EventHub::for_commands(&self.db),
            NewAgent {
                org_id,
                name,
                email: &email,
                role,
                password: PASSWORD,
            },
            None,
        )
        .await
        .unwrap();
        let login = self.login(&email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let body: Value = login.json().await.unwrap();
        TestAgent {
            id: agent.id,
            name: agent.name,
            email,
            token: body["token"].as_str().unwrap().to_owned(),
            base: self.base.clone(),
            http: self.http.clone(),
        }
    }

    /// Another login of the same agent (a second browser): a new token.
    pub async fn agent_session(&self, agent: &TestAgent) -> TestAgent {
        let login = self.login(&agent.email, PASSWORD).await;
        assert_eq!(login.status(), StatusCode::OK);
        let body: Value = login.json().await.unwrap();
        agent.with_token(body["token"].as_str().unwrap())
    }

    /// Stops the server gracefully and starts a new one on the same address and database.
    pub async fn restart(&mut self) {
        self.server.take().unwrap().shutdown().await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("cannot rebind {}: {err}", self.addr),
            }
        };
        self.server = Some(Server::start(self.config.clone(), listener).await.unwrap());
    }

    /// Starts another server instance on the same database, as a scale-out deployment would;
    /// returns its base URL. It runs until the app is dropped.
    pub async fn second_instance(&mut self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = Server::start(self.config.clone(), listener).await.unwrap();
        self.extra_servers.push(server);
        base
    }

    /// The org's latest event sequence number, read from the database.
    pub async fn latest_seq(&self) -> i64 {
        sync_server::events::latest_seq(&self.db, &self.org_id)
            .await
            .unwrap()
    }

    /// `POST /auth/login`, answered raw (status, headers and all).
    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// An event hub like the admin command line's: its events reach the running server through
    /// the database.
    pub fn cli_hub(&self) -> sync_server::events::EventHub {
        sync_server::events::EventHub::new(
            self.db.clone(),
            Duration::from_secs(2),
            tokio_util::sync::CancellationToken::new(),
        )
    }

    /// Password checks under way now and at most so far.
    pub fn password_checks(&self) -> &sync_server::serve::InFlight {
        self.server
            .as_ref()
            .expect("the server is running")
            .password_checks()
    }

    /// The server's cache of live logins.
    pub fn tokens(&self) -> &sync_server::sessions::TokenCache {
        self.server
            .as_ref()
            .expect("the server is running")
            .tokens()
    }

    /// The server's HTTP connection counts.
    pub fn connections(&self) -> &sync_server::serve::InFlight {
        self.server
            .as_ref()
            .expect("the server is running")
            .connections()
    }

    /// Sets routing's clock to a wall-clock time in the org's zone (Asia/Kolkata), half a minute
    /// past `h:mi`, on every instance; each instance's routing timer then acts on what fell due.
    pub async fn set_routing_time(&self, y: i32, mo: u32, d: u32, h: u32, mi: u32) {
        self.set_routing_time_in(chrono_tz::Asia::Kolkata, y, mo, d, h, mi)
            .await;
    }

    /// [`TestApp::set_routing_time`] in the zone `tz`.
    pub async fn set_routing_time_in(
        &self,
        tz: chrono_tz::Tz,
        y: i32,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
    ) {
        use chrono::TimeZone;
        // Half a minute in: the server reads its clock a few milliseconds apart from ours, and a
        // time set on the minute could be read in the minute before.
        let at = tz
            .with_ymd_and_hms(y, mo, d, h, mi, 30)
            .single()
            .unwrap()
            .timestamp_millis();
        let db_now = self.db.now().await.unwrap();
        for server in self.server.iter().chain(&self.extra_servers) {
            server.routing_clock().set(at, db_now);
        }
    }

    /// Moves routing's clock on, on every instance.
    pub fn advance_routing(&self, by: Duration) {
        for server in self.server.iter().chain(&self.extra_servers) {
            server.routing_clock().advance(by);
        }
    }

    /// Raw access for requests the typed helpers cannot make.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Let the server notice: sockets and tasks stop with the runtime anyway.
            drop(server);
        }
    }
}

/// A response: status, JSON body (or Null) and headers.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub async fn from(response: reqwest::Response) -> Resp {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "response is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Resp {
            status,
            body,
            headers,
        }
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error response with this status and code; returns the body.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Value {
        let body = self.expect(status);
        assert_eq!(body["error"], code, "unexpected error body: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {body}"
        );
        body
    }
}

/// A logged-in agent.
#[derive(Clone)]
pub struct TestAgent {
    pub id: String,
    pub name: String,
    pub email: String,
    pub token: String,
    base: String,
    http: reqwest::Client,
}

/// A chat id for tests, unique per number.
pub fn chat(n: u64) -> String {
    format!("91987654{n:04}@c.us")
}

/// `919876540001@c.us` → `919876540001%40c.us`, as clients put it in a path.
pub fn enc(chat_id: &str) -> String {
    chat_id.replace('@', "%40")
}

impl TestAgent {
    /// The same agent with another session's token.
    pub fn with_token(&self, token: &str) -> TestAgent {
        TestAgent {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    /// The same agent, talking to the server instance at `base`.
    pub fn via(&self, base: &str) -> TestAgent {
        TestAgent {
            base: base.to_owned(),
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        Resp::from(request.bearer_auth(&self.token).send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn post_with_key(&self, path: &str, key: &str, body: Value) -> Resp {
        self.send(
            self.http
                .post(self.url(path))
                .header("Idempotency-Key", key)
                .json(&body),
        )
        .await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.http.post(self.url(path))).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.put(self.url(path)).json(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(self.url(path))).await
    }

    /// Creates (or refreshes) a conversation as WhatsApp Web would report it.
    pub async fn open_chat(&self, chat_id: &str, title: &str) -> Value {
        let resp = self
            .put(
                &format!("/conversations/{}", enc(chat_id)),
                serde_json::json!({"title": title}),
            )
            .await;
        assert!(
            resp.status == StatusCode::CREATED || resp.status == StatusCode::OK,
            "cannot open chat: {} {}",
            resp.status,
            resp.body
        );
        resp.body
    }

    pub async fn lock(&self, chat_id: &str) -> Resp {
        self.post_empty(&format!("/conversations/{}/lock", enc(chat_id)))
            .await
    }

    pub async fn force_lock(&self, chat_id: &str) -> Resp {
        self.post_empty(&format!("/conversations/{}/lock?force=true", enc(chat_id)))
            .await
    }

    pub async fn release(&self, chat_id: &str) -> Resp {
        self.delete(&format!("/conversations/{}/lock", enc(chat_id)))
            .await
    }

    pub async fn conversation(&self, chat_id: &str) -> Value {
        self.get(&format!("/conversations/{}", enc(chat_id)))
            .await
            .expect(200)
    }

    pub async fn timeline_kinds(&self, chat_id: &str) -> Vec<String> {
        let body = self
            .get(&format!("/conversations/{}/timeline", enc(chat_id)))
            .await
            .expect(200);
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A one-time WebSocket ticket.
    pub async fn ticket(&self) -> String {
        let body = self.post_empty("/events/ticket").await.expect(200);
        body["ticket"].as_str().unwrap().to_owned()
    }

    /// Opens the event stream after `since`, as the extension does (ticket + its Origin).
    pub async fn events(&self, since: i64) -> EventStream {
        let ticket = self.ticket().await;
        EventStream::connect(&self.base, &ticket, since, Some("http://allowed.test"))
            .await
            .unwrap_or_else(|e| panic!("cannot open the event stream: {e}"))
    }
}

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A client of the live event WebSocket. Presence frames are live-only and arrive whenever
/// anyone connects: [`EventStream::next`] sets them aside for [`EventStream::next_presence`], so
/// tests of the event sequence see only the sequence.
pub struct EventStream {
    ws: Ws,
    presence: std::collections::VecDeque<protocol::routing::Presence>,
}

impl EventStream {
    pub async fn connect(
        base: &str,
        ticket: &str,
        since: i64,
        origin: Option<&str>,
    ) -> Result<EventStream, tokio_tungstenite::tungstenite::Error> {
        let url = format!(
            "{}/api/v1/events?ticket={ticket}&since={since}",
            base.replacen("http://", "ws://", 1)
        );
        let mut request = url.into_client_request()?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        let (ws, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(EventStream {
            ws,
            presence: std::collections::VecDeque::new(),
        })
    }

    /// The next presence change told on this stream (set aside by [`EventStream::next`] or read
    /// now, skipping the events in between).
    pub async fn next_presence(&mut self) -> protocol::routing::Presence {
        tokio::time::timeout(PATIENCE, async {
            if let Some(presence) = self.presence.pop_front() {
                return presence;
            }
            loop {
                if let ServerMessage::Presence(presence) = self.next_frame().await {
                    return presence;
                }
            }
        })
        .await
        .expect("no presence change on the event stream in time")
    }

    /// The next message other than a presence frame; fails the test if none comes in time or
    /// the stream ends.
    pub async fn next(&mut self) -> ServerMessage {
        loop {
            match self.next_frame().await {
                ServerMessage::Presence(presence) => self.presence.push_back(presence),
                message => return message,
            }
        }
    }

    async fn next_frame(&mut self) -> ServerMessage {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("no message on the event stream in time")
                .expect("the event stream ended")
                .expect("the event stream failed");
            match frame {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("bad server message {text}: {e}"))
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    /// The next message, which must be an event.
    pub async fn next_event(&mut self) -> Event {
        match self.next().await {
            ServerMessage::Event(event) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// Events up to `ready`; returns them and the `ready` sequence number.
    pub async fn backlog(&mut self) -> (Vec<Event>, i64) {
        let mut events = Vec::new();
        loop {
            match self.next().await {
                ServerMessage::Event(event) => events.push(event),
                ServerMessage::Ready { latest_seq, .. } => return (events, latest_seq),
                other => panic!("expected backlog or ready, got {other:?}"),
            }
        }
    }

    /// Skips events until one of `kind` arrives; returns it and everything skipped.
    pub async fn until_kind(&mut self, kind: &str) -> (Event, Vec<Event>) {
        let mut skipped = Vec::new();
        loop {
            let event = self.next_event().await;
            if event.body.kind() == kind {
                return (event, skipped);
            }
            skipped.push(event);
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Waits for the server to close the stream; returns the close code, if one was sent.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("the event stream stayed open")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    }
}
