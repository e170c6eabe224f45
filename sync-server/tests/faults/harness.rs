//! Server processes, databases, agents and clients that survive the server dying under them.

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use protocol::api::Role;
use serde_json::Value;
use sync_server::admin::{self, NewAgent};
use sync_server::db::Db;
use sync_server::events::EventHub;

pub const PASSWORD: &str = "correct horse battery";

/// The tests of this binary run one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("BATON_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://baton_test:baton_test@127.0.0.1:5432/postgres".to_owned())
}

/// A database for one test, removed afterwards.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDatabase {
    pub async fn create(engine: Engine) -> TestDatabase {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestDatabase {
                    url: format!("sqlite:{}", dir.path().join("baton.db").display()),
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Engine::Postgres => {
                use sqlx::Connection;
                let admin_url = pg_admin_url();
                let name = format!("baton_f_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let base = admin_url.rsplit_once('/').unwrap().0;
                TestDatabase {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub async fn drop_pg(&mut self) {
        if let Some(name) = self.pg_name.take() {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
    }
}

/// One `sync-server serve` process; it can be killed and started again on the same address.
pub struct Instance {
    child: Option<Child>,
    pub port: u16,
    db_url: String,
    lock_ttl_secs: u64,
}

impl Instance {
    pub async fn start(db_url: &str, lock_ttl_secs: u64) -> Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut instance = Instance {
            child: None,
            port,
            db_url: db_url.to_owned(),
            lock_ttl_secs,
        };
        instance.spawn().await;
        instance
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .args(["--database-url", &self.db_url, "--log-level", "error"])
            .args(["--lock-ttl-secs", &self.lock_ttl_secs.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(reply) = client.get(format!("{}/readyz", self.base())).send().await {
                if reply.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("sync-server exited while starting: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "sync-server did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub async fn restart(&mut self) {
        self.kill9();
        self.spawn().await;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An org with agents, made through the library (as the admin CLI would) and logged in over HTTP.
pub async fn team(db_url: &str, base: &str, people: &[(&str, Role)]) -> (String, Vec<Agent>) {
    let db = Db::connect(db_url, 2).await.unwrap();
    let org = admin::create_org(&db, "Fault Org", "Asia/Kolkata", None)
        .await
        .unwrap();
    let mut agents = Vec::new();
    for (name, role) in people {
        let email = format!(
            "{}-{}@example.test",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let agent = admin::create_agent(
            &db,
            &EventHub::for_commands(&db),
            NewAgent {
                org_id: &org.id,
                name,
                email: &email,
                role: *role,
                password: PASSWORD,
            },
            None,
        )
        .await
        .unwrap();
        let login: Value = reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        agents.push(Agent {
            id: agent.id,
            token: login["token"].as_str().unwrap().to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        });
    }
    db.close().await;
    (org.id, agents)
}

#[derive(Clone)]
pub struct Agent {
    pub id: String,
    pub token: String,
    http: reqwest::Client,
}

/// What a call came to.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The server answered.
    Status(u16, Value),
    /// No answer (refused, reset, timed out): the call may or may not have taken effect.
    Lost,
}

impl Agent {
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url).bearer_auth(&self.token);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(reply) => {
                let status = reply.status().as_u16();
                match reply.bytes().await {
                    Ok(bytes) => Answer::Status(
                        status,
                        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                    ),
                    Err(_) => Answer::Lost,
                }
            }
            Err(_) => Answer::Lost,
        }
    }

    /// Repeats a call (same idempotency key) until the server answers, for at most `patience`.
    pub async fn until_answered(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        key: Option<&str>,
        patience: Duration,
    ) -> Option<(u16, Value)> {
        let deadline = Instant::now() + patience;
        loop {
            match self.call(method, url, body.clone(), key).await {
                // A server error or no answer: as the extension does, try again (under the same
                // idempotency key, so a write that did happen is answered as before).
                Answer::Status(500..=599, _) | Answer::Lost => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    // A client's pause before retrying a server that is down.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Answer::Status(status, body) => return Some((status, body)),
            }
        }
    }
}

pub fn chat_id(n: usize) -> String {
    format!("9190000{n:05}@c.us")
}
