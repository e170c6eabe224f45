//! The systems under test: a fresh database (SQLite file or PostgreSQL database), seeded with orgs,
//! agents and tokens, and Baton's release server on it, pinned to the first core.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sync_server::db::Db;
use tokio::process::{Child, Command};

/// Where the server keeps its data.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite,
    /// `admin_url` may create and drop databases.
    Postgres {
        admin_url: String,
    },
}

/// A database made for one run, removed when dropped (the PostgreSQL one by [`Database::drop_pg`]).
pub struct Database {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Database {
    pub async fn create(store: &Store) -> anyhow::Result<Database> {
        match store {
            Store::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite:{}", dir.path().join("baton.db").display());
                Ok(Database {
                    url,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Store::Postgres { admin_url } => {
                let name = format!("baton_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = admin_connection(admin_url).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .context("cannot create the benchmark database")?;
                let url = replace_database(admin_url, &name);
                Ok(Database {
                    url,
                    _dir: None,
                    pg: Some((admin_url.clone(), name)),
                })
            }
        }
    }

    /// Drops a PostgreSQL benchmark database (the server must have stopped). `WITH (FORCE)` ends the bench's own sessions, but may not end one of
    /// PostgreSQL's own (an autovacuum worker, which the bench's role may not signal): that one
    /// leaves soon, so the drop is tried again for a while, and a database still left is reported,
    /// not fatal (its figures are measured by then).
    pub async fn drop_pg(self) -> anyhow::Result<()> {
        if let Some((admin_url, name)) = &self.pg {
            let mut admin = admin_connection(admin_url).await?;
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let mut attempts = 0;
            while let Err(err) = sqlx::query(&drop).execute(&mut admin).await {
                attempts += 1;
                if attempts == 40 {
                    eprintln!("warning: the bench database {name} is left behind: {err}");
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }
}

async fn admin_connection(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.with_context(|| {
        format!(
            "cannot reach PostgreSQL at {}",
            sync_server::db::redact_url(url)
        )
    })
}

/// `url` with its database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(slash) if slash > base.find("://").map_or(0, |i| i + 2) => &base[..slash],
        _ => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// One seeded agent: its token, and the chats it works on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seat {
    pub org: usize,
    pub agent_id: String,
    pub token: String,
    pub chats: Vec<String>,
}

/// Creates `orgs` orgs with `agents_per_org` agents each, one live token per agent. Agents are
/// written directly (one password hash shared by all: hashing a thousand passwords would take
/// most of a minute and measures nothing).
pub async fn seed(url: &str, orgs: usize, agents_per_org: usize) -> anyhow::Result<Vec<Seat>> {
    let db = Db::connect(url, 4).await?;
    let hash = sync_server::auth::hash_password("bench-password")?;
    let mut seats = Vec::new();
    for o in 0..orgs {
        let org = sync_server::admin::create_org(&db, &format!("Bench org {o}"), "UTC", None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for a in 0..agents_per_org {
            let agent_id = uuid::Uuid::new_v4().to_string();
            sqlx::query(&db.sql(
                "INSERT INTO agents (id, org_id, name, email, role, password_hash, active, created_at)
                 VALUES ($1, $2, $3, $4, 'agent', $5, 1, now_ms())",
            ))
            .bind(&agent_id)
            .bind(&org.id)
            .bind(format!("Agent {o}-{a}"))
            .bind(format!("agent{o}-{a}@bench.test"))
            .bind(&hash)
            .execute(db.writer())
            .await?;
            let token = sync_server::auth::new_secret("bt_");
            sqlx::query(&db.sql(
                "INSERT INTO tokens (id, agent_id, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, now_ms(), now_ms() + 86400000)",
            ))
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&agent_id)
            .bind(sync_server::auth::hash_secret(&token))
            .execute(db.writer())
            .await?;
            seats.push(Seat {
                org: o,
                agent_id,
                token,
                chats: Vec::new(),
            });
        }
    }
    db.close().await;
    Ok(seats)
}

/// Baton's server, running from the release build.
pub struct Baton {
    pub base: String,
    /// Where its Prometheus metrics are served (`…/metrics`).
    pub metrics: String,
    pub pid: u32,
    child: Child,
}

impl Baton {
    pub async fn start(binary: &Path, url: &str) -> anyhow::Result<Baton> {
        let port = free_port()?;
        let metrics_port = free_port()?;
        let mut command = pinned(0, binary);
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--metrics-bind", &format!("127.0.0.1:{metrics_port}")])
            .args(["--database-url", url, "--log-level", "warn"])
            .args(["--max-connections", "5000"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().context("cannot start sync-server")?;
        let pid = child.id().context("sync-server exited at once")?;
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(reply) = client.get(format!("{base}/readyz")).send().await {
                if reply.status().is_success() {
                    let metrics = format!("http://127.0.0.1:{metrics_port}/metrics");
                    return Ok(Baton {
                        base,
                        metrics,
                        pid,
                        child,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("sync-server did not become ready on {base}")
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        // SIGTERM: a graceful stop, so the database is closed cleanly before it is dropped.
        if let Ok(pid) = i32::try_from(self.pid) {
            let _ = Command::new("kill").arg(pid.to_string()).status().await;
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(_) => Ok(()),
            Err(_) => {
                self.child.kill().await?;
                Ok(())
            }
        }
    }

    /// Registers `per_seat` chats for every seat (each seat its own), through the API.
    pub async fn register_chats(&self, seats: &mut [Seat], per_seat: usize) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        for (s, seat) in seats.iter_mut().enumerate() {
            for c in 0..per_seat {
                let chat = format!("91{:05}{:05}@c.us", s, c);
                let reply = client
                    .put(format!("{}/api/v1/conversations/{chat}", self.base))
                    .bearer_auth(&seat.token)
                    .json(&serde_json::json!({"title": format!("Chat {s}-{c}")}))
                    .send()
                    .await?;
                if !reply.status().is_success() {
                    bail!("cannot register {chat}: {}", reply.text().await?);
                }
                seat.chats.push(chat);
            }
        }
        Ok(())
    }
}

/// A command pinned to one core with `taskset` when the machine has it and more than one core.
pub fn pinned(core: usize, program: &Path) -> Command {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 && which("taskset").is_some() {
        let mut command = Command::new("taskset");
        command.args(["-c", &core.to_string()]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_keeping_options() {
        assert_eq!(
            replace_database("postgres://u:p@h:5432/postgres", "b1"),
            "postgres://u:p@h:5432/b1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/postgres?sslmode=disable", "b1"),
            "postgres://u:p@h/b1?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "b1"), "postgres://h/b1");
    }
}
