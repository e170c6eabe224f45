//! The database: one pool over SQLite (embedded default) or PostgreSQL (scale-out), chosen by URL.
//!
//! Queries are written once in the SQL both engines share and run through sqlx's `Any` driver.
//! The two differences that matter are handled here:
//! - the clock: queries say `now_ms()`; PostgreSQL has it as a stored function, for SQLite the
//!   text is replaced by the equivalent expression ([`Db::sql`]);
//! - write transactions must serialise per org. SQLite takes the database write lock up front
//!   (`BEGIN IMMEDIATE`), PostgreSQL locks the org's row (`SELECT … FOR UPDATE`). Read-then-write
//!   logic inside a [`WriteTx`] is therefore safe on both, and event sequence numbers are handed out
//!   in commit order.
//! - SQLite has one writer at a time whatever we do, and several connections competing for it wait
//!   in its busy handler, which sleeps and polls (unfair, with long tails). So every SQLite write
//!   goes through one dedicated connection ([`Db::writer`]): writers queue for it in arrival order
//!   and never meet `SQLITE_BUSY` from each other. Reads use the other connections (WAL: readers
//!   never wait for the writer). On PostgreSQL the writer is the ordinary pool.
//! - The reply lock's writes on SQLite run whole on a writer thread of their own, against SQLite
//!   directly ([`direct`]), and take turns with the writer connection through one fair lock, the
//!   write gate: [`WriteTx`] and [`Db::write_conn`] hold it for as long as they write.

pub mod agents;
pub mod chat_requests;
pub mod conversations;
pub mod direct;
pub mod handoffs;
pub mod locks;
mod notify;
pub mod pipelines;
pub mod reminders;
pub mod routing;
mod write;

use std::borrow::Cow;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Executor};

pub use write::{WriteTx, EVENTS_CHANNEL, PRESENCE_CHANNEL};

/// Which engine a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite's spelling of the database clock in milliseconds (needs SQLite ≥ 3.42, which sqlx bundles).
pub(crate) const SQLITE_NOW_MS: &str = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The first line of a SQLite migration that must run with foreign keys off (one that rebuilds a
/// table others refer to, the way SQLite documents it).
const FOREIGN_KEYS_OFF: &str = "-- foreign keys off";

/// Applies the SQLite migrations. sqlx runs each inside a transaction, where SQLite ignores
/// `PRAGMA foreign_keys`, and dropping a table that other tables refer to would then fail; so a
/// migration marked [`FOREIGN_KEYS_OFF`] is applied here, after those before it, in a
/// transaction of its own with foreign keys off around it (checked with `foreign_key_check`
/// before it commits), and recorded as sqlx records a migration, so sqlx then counts it applied.
async fn migrate_sqlite(writer: &AnyPool) -> anyhow::Result<()> {
    let mut conn = writer.acquire().await?;
    for special in SQLITE_MIGRATIONS
        .iter()
        .filter(|m| m.sql.starts_with(FOREIGN_KEYS_OFF))
    {
        // The fields are sqlx's (hidden, exempt from semver; the version is pinned in Cargo.lock):
        // the migrations before this one, ignoring those after it a database may already have.
        let before = sqlx::migrate::Migrator {
            migrations: Cow::Owned(
                SQLITE_MIGRATIONS
                    .iter()
                    .filter(|m| m.version < special.version)
                    .cloned()
                    .collect(),
            ),
            ignore_missing: true,
            ..sqlx::migrate::Migrator::DEFAULT
        };
        before.run(&mut *conn).await?;
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE version = $1")
                .bind(special.version)
                .fetch_optional(&mut *conn)
                .await?;
        if applied.is_some() {
            continue;
        }
        conn.execute("PRAGMA foreign_keys = OFF").await?;
        let outcome = apply_with_foreign_keys_off(&mut conn, special).await;
        conn.execute("PRAGMA foreign_keys = ON").await?;
        outcome.with_context(|| {
            format!(
                "while executing migration {} ({})",
                special.version, special.description
            )
        })?;
    }
    SQLITE_MIGRATIONS.run(&mut *conn).await?;
    Ok(())
}

async fn apply_with_foreign_keys_off(
    conn: &mut AnyConnection,
    migration: &sqlx::migrate::Migration,
) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    tx.execute(&*migration.sql).await?;
    let broken = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&mut *tx)
        .await?;
    anyhow::ensure!(
        broken.is_empty(),
        "{} rows would break a foreign key",
        broken.len()
    );
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, $2, TRUE, $3, -1)",
    )
    .bind(migration.version)
    .bind(migration.description.to_string())
    .bind(migration.checksum.to_vec())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A connection pool plus the knowledge of which engine it talks to.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    /// SQLite: a pool of exactly one connection that every write uses. PostgreSQL: `pool`.
    writer: AnyPool,
    backend: Backend,
    url: String,
    /// PostgreSQL's clock minus this process's, and when it was measured.
    clock: std::sync::Arc<std::sync::Mutex<Option<(std::time::Instant, i64)>>>,
    /// SQLite: whose turn it is to write (see [`direct`]).
    gate: Option<direct::WriteGate>,
    /// SQLite: the writer thread.
    direct: Option<direct::SqliteWriter>,
    /// PostgreSQL: the notifications that tell other instances of committed writes.
    notifier: Option<notify::Notifier>,
    /// PostgreSQL: conversations as this instance's own lock writes left them.
    lock_rows: std::sync::Arc<locks::LockRows>,
}

/// A connection for writes outside a [`WriteTx`], holding the write gate on SQLite.
pub struct WriteConn {
    conn: sqlx::pool::PoolConnection<sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// How long a measured offset between PostgreSQL's clock and ours is trusted. Clocks drift by
/// milliseconds a day; this only spares a round trip per pong and per `/me`.
const CLOCK_OFFSET_TTL: Duration = Duration::from_secs(10);

impl Db {
    /// Connects to `url` (`sqlite:FILE` or `postgres://…`), creating an SQLite file if it does not
    /// exist, and applies the embedded migrations.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(url)?;
        let options: AnyConnectOptions = url
            .parse()
            .with_context(|| format!("invalid DATABASE_URL {}", redact_url(&url)))?;
        let open = |connections: u32| {
            // No ping before handing out a connection: it would cost a round trip per request
            // (a worker-thread hop on SQLite, a network round trip on PostgreSQL). A broken
            // connection fails its statement instead, and sqlx then closes it.
            let mut pool_options = AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                .test_before_acquire(false);
            if backend == Backend::Sqlite {
                pool_options = pool_options.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // FULL: an acknowledged note or handoff survives a power cut, not just a
                        // crash. The busy timeout is for other processes (the admin CLI, a backup).
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                        Ok(())
                    })
                });
            }
            pool_options.connect_with(options.clone())
        };
        let pool = open(max_connections)
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        let writer = match backend {
            Backend::Sqlite => open(1)
                .await
                .with_context(|| format!("cannot open the database {}", redact_url(&url)))?,
            Backend::Postgres => pool.clone(),
        };
        let mut db = Db {
            pool,
            writer,
            backend,
            url,
            clock: std::sync::Arc::default(),
            gate: None,
            direct: None,
            notifier: None,
            lock_rows: std::sync::Arc::default(),
        };
        db.prepare().await?;
        if backend == Backend::Sqlite {
            let gate = direct::WriteGate::default();
            let (path, read_only) = sqlite_path(&db.url);
            db.direct = Some(
                direct::SqliteWriter::start(&path, read_only, gate.clone())
                    .with_context(|| format!("cannot open the SQLite database {path} to write"))?,
            );
            db.gate = Some(gate);
        } else {
            db.notifier = Some(notify::Notifier::start(db.url.clone()));
        }
        Ok(db)
    }

    async fn prepare(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => {
                // WAL is a property of the file, so setting it once is enough; readers then never
                // wait for the writer.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&self.pool)
                    .await
                    .context("cannot switch the SQLite database to WAL mode")?;
                migrate_sqlite(&self.writer)
                    .await
                    .context("cannot apply the SQLite migrations")?;
            }
            Backend::Postgres => POSTGRES_MIGRATIONS
                .run(&self.pool)
                .await
                .context("cannot apply the PostgreSQL migrations")?,
        }
        Ok(())
    }

    /// The pool for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool writes go through (on SQLite one connection), for its statistics. Writes take it
    /// through [`Db::write_conn`] or [`Db::begin_write`], which hold the write gate.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    /// A connection for writes outside a [`WriteTx`] (single statements). Never ask for one while
    /// holding a [`WriteTx`]: on SQLite that waits for itself.
    pub async fn write_conn(&self) -> Result<WriteConn, sqlx::Error> {
        let turn = self.take_turn().await;
        Ok(WriteConn {
            conn: self.writer.acquire().await?,
            _turn: turn,
        })
    }

    /// On SQLite, waits for the turn to write; nothing to wait for on PostgreSQL.
    async fn take_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// Tells every instance (this one included) of a committed write, on PostgreSQL: `payload`
    /// on `channel`, after the commit (see [`notify`]). Nothing to tell on SQLite, which has one
    /// instance.
    pub fn announce(&self, channel: &'static str, payload: String) {
        if let Some(notifier) = &self.notifier {
            notifier.send(channel, payload);
        }
    }

    /// Waits until what [`Db::announce`] queued has been sent.
    pub async fn flush_announcements(&self) {
        if let Some(notifier) = &self.notifier {
            notifier.flush().await;
        }
    }

    /// SQLite's writer thread (`None` on PostgreSQL).
    pub fn direct(&self) -> Option<&direct::SqliteWriter> {
        self.direct.as_ref()
    }

    /// PostgreSQL: the conversations a lock request may decide from without reading them first.
    pub fn lock_rows(&self) -> &locks::LockRows {
        &self.lock_rows
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the pool was opened with (PostgreSQL's LISTEN connection needs it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Adapts shared SQL to the engine: `now_ms()` becomes SQLite's clock expression.
    pub fn sql(&self, query: &'static str) -> Cow<'static, str> {
        match self.backend {
            Backend::Postgres => Cow::Borrowed(query),
            Backend::Sqlite => Cow::Owned(query.replace("now_ms()", SQLITE_NOW_MS)),
        }
    }

    /// The database clock, in milliseconds since the epoch. On SQLite that is this process's
    /// clock; on PostgreSQL ours corrected by an offset measured at most [`CLOCK_OFFSET_TTL`] ago.
    /// Write transactions read the database's clock itself ([`WriteTx::now`]).
    pub async fn now(&self) -> Result<i64, sqlx::Error> {
        if let Some(now) = self.known_now() {
            return Ok(now);
        }
        self.now_on(&mut *self.pool.acquire().await?).await
    }

    fn known_now(&self) -> Option<i64> {
        if self.backend == Backend::Sqlite {
            return Some(system_now_ms());
        }
        let clock = self
            .clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clock
            .filter(|(at, _)| at.elapsed() < CLOCK_OFFSET_TTL)
            .map(|(_, offset)| system_now_ms() + offset)
    }

    /// The database clock read through a connection the caller already holds: a handler holding
    /// one must not wait for a second (with every connection held that way, none comes).
    pub async fn now_on(&self, conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
        if let Some(now) = self.known_now() {
            return Ok(now);
        }
        let before = system_now_ms();
        let now: i64 = sqlx::query_scalar(&self.sql("SELECT now_ms()"))
            .fetch_one(conn)
            .await?;
        let after = system_now_ms();
        // The database read its clock somewhere between our two readings: take the middle.
        let offset = now - (before + after) / 2;
        *self
            .clock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), offset));
        Ok(now)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Starts a write transaction for `org_id`; see the module docs for why it locks up front.
    pub async fn begin_write(&self, org_id: &str) -> Result<WriteTx, sqlx::Error> {
        WriteTx::begin(self, org_id).await
    }

    /// Starts a presence write for some of `org_id`'s agents: see [`WriteTx::begin_for_agents`].
    pub async fn begin_presence_write(
        &self,
        org_id: &str,
        agent_ids: &[&str],
    ) -> Result<WriteTx, sqlx::Error> {
        WriteTx::begin_for_agents(self, org_id, agent_ids).await
    }

    /// Sends what is still to be announced, then closes the pools, waiting for connections to be
    /// returned.
    pub async fn close(&self) {
        self.flush_announcements().await;
        if let Some(direct) = &self.direct {
            direct.stop().await;
        }
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// `$first, $first+1, …`: `count` numbered parameters, for a statement built for a list.
pub fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// This process's clock in milliseconds since the epoch: SQLite's `now_ms()` reads the same clock.
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The file an SQLite URL (as [`normalise_url`] leaves it) names, percent-decoded as sqlx decodes
/// it, and whether it asks for read-only access (`mode=ro`).
fn sqlite_path(url: &str) -> (String, bool) {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let read_only = query.split('&').any(|pair| pair == "mode=ro");
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    (String::from_utf8_lossy(&decoded).into_owned(), read_only)
}

/// Works out the engine from the URL and makes an SQLite URL create its file when missing.
fn normalise_url(url: &str) -> anyhow::Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.is_empty() || rest == "//" {
            anyhow::bail!("DATABASE_URL {url} names no SQLite file");
        }
        if rest.contains(":memory:") || rest.contains("mode=memory") {
            anyhow::bail!(
                "an in-memory SQLite database would lose everything on restart; give a file, e.g. sqlite:baton.db"
            );
        }
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        return Ok((Backend::Sqlite, url));
    }
    anyhow::bail!(
        "DATABASE_URL must start with sqlite: or postgres:// (got {})",
        redact_url(url)
    )
}

/// The URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Whether an error is a violated unique or primary-key constraint.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Whether an error means "the database is busy or unreachable for now, try again" rather than a
/// bug: contention, a connection that broke (PostgreSQL restarting), a server still starting.
pub fn is_busy(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLITE_BUSY (5) and SQLITE_LOCKED (6), extended codes included. Only for SQLite:
                // PostgreSQL's SQLSTATEs are not numbers to mask (22021, invalid text, is 5 & 0xff).
                code.parse::<i64>()
                    .map(|c| matches!(c & 0xff, 5 | 6))
                    .unwrap_or(false)
            } else {
                // PostgreSQL's serialization_failure and deadlock_detected; the server shutting
                // down, restarting or not yet accepting (57P01–57P03); connection exceptions (08…).
                code == "40001"
                    || code == "40P01"
                    || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
                    || code.starts_with("08")
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file() {
        assert_eq!(
            normalise_url("sqlite:baton.db").unwrap(),
            (Backend::Sqlite, "sqlite:baton.db?mode=rwc".to_owned())
        );
        assert_eq!(
            normalise_url("sqlite:///var/lib/baton.db?cache=private")
                .unwrap()
                .1,
            "sqlite:///var/lib/baton.db?cache=private&mode=rwc"
        );
        assert_eq!(
            normalise_url("sqlite:baton.db?mode=ro").unwrap().1,
            "sqlite:baton.db?mode=ro"
        );
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        let path = |url| sqlite_path(url);
        assert_eq!(path("sqlite:baton.db?mode=rwc"), ("baton.db".into(), false));
        assert_eq!(
            path("sqlite:///var/lib/baton.db?cache=private&mode=rwc"),
            ("/var/lib/baton.db".into(), false)
        );
        assert_eq!(
            path("sqlite://data/baton.db"),
            ("data/baton.db".into(), false)
        );
        assert_eq!(
            path("sqlite:/srv/my%20db/baton.db?mode=rwc"),
            ("/srv/my db/baton.db".into(), false)
        );
        assert_eq!(path("sqlite:baton.db?mode=ro"), ("baton.db".into(), true));
        assert_eq!(path("sqlite:100%.db"), ("100%.db".into(), false));
    }

    #[test]
    fn refuses_urls_that_lose_data_or_name_no_engine() {
        assert!(normalise_url("sqlite::memory:").is_err());
        assert!(normalise_url("mysql://x").is_err());
        assert!(normalise_url("baton.db").is_err());
        assert_eq!(
            normalise_url("postgresql://u:p@h/db").unwrap().0,
            Backend::Postgres
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_url("postgres://baton:s3cret@db:5432/baton"),
            "postgres://baton:***@db:5432/baton"
        );
        assert_eq!(redact_url("sqlite:baton.db"), "sqlite:baton.db");
    }
}
