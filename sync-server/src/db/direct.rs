//! SQLite's writer thread: write transactions that run whole on one thread, against SQLite
//! directly, and commit together.
//!
//! Through sqlx every statement is a round trip to the connection's own thread (and back), and on
//! this kind of machine each of those costs a pair of context switches that dwarf the statement
//! itself. The reply lock's writes (taking, renewing, releasing: the most frequent writes there
//! are) therefore run here instead: the request hands the thread its whole transaction (read,
//! decide, write) and waits once. The thread takes whatever jobs are queued, runs them in one
//! `BEGIN IMMEDIATE` … `COMMIT`, each inside a savepoint of its own so that one job's failure
//! undoes only that job, and answers every job once the commit is durable (group commit: one fsync
//! for all of them).
//!
//! SQLite has one writer at a time, and the other writes still go through sqlx's writer
//! connection, so the two take turns through one fair lock (the [`WriteGate`]): neither ever meets
//! the other's write lock and sleeps in SQLite's busy handler.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, LazyLock, Mutex};

use rusqlite::types::ToSql;
use tokio::sync::oneshot;

use super::conversations::{ConversationRow, SELECT_CONVERSATION};
use crate::error::{ApiError, ApiResult};

/// The lock every SQLite write takes for the length of its transaction.
pub type WriteGate = Arc<tokio::sync::Mutex<()>>;

/// How many queued jobs one transaction takes at most.
const MAX_GROUP: usize = 64;

/// Sends a job's outcome once the transaction it ran in has committed (or failed to).
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A job: runs in the transaction (or, given no connection, only prepares its refusal), says
/// whether to keep its writes, and how to answer.
type Job = Box<dyn FnOnce(Option<&rusqlite::Connection>) -> (bool, Deliver) + Send>;

enum Message {
    Job(Job),
    Stop,
}

/// The handle requests use to run a transaction on the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct SqliteWriter {
    jobs: mpsc::Sender<Message>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

impl SqliteWriter {
    /// Opens the database file at `path` (read-only if `read_only`) and starts the thread.
    pub fn start(path: &str, read_only: bool, gate: WriteGate) -> anyhow::Result<SqliteWriter> {
        let flags = if read_only {
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = rusqlite::Connection::open_with_flags(path, flags)?;
        // As sqlx's connections (db/mod.rs): FULL, so an acknowledged write survives a power cut.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("baton-sqlite-writer".to_owned())
            .spawn(move || serve(conn, queue, gate))?;
        Ok(SqliteWriter {
            jobs,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Runs `work` in a write transaction on the writer thread and returns what it returned once
    /// the transaction has committed. An error undoes that job's writes and nothing else. The job
    /// is queued when this is called (jobs run in call order) and runs to the end even if the
    /// caller stops waiting.
    pub fn run<T, F>(&self, work: F) -> impl std::future::Future<Output = ApiResult<T>> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            // No connection: the transaction could not start (another process has held the
            // database past the busy timeout, or the disk failed): try again later.
            let result = match conn {
                Some(conn) => work(conn),
                None => Err(ApiError::Busy),
            };
            let keep = result.is_ok();
            let deliver: Deliver = Box::new(move |committed| {
                let outcome = match (result, committed) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(err)) => Err(ApiError::Internal(anyhow::anyhow!(
                        "the write transaction failed to commit: {err}"
                    ))),
                    (Err(err), _) => Err(err),
                };
                // The caller may have stopped waiting; the write stands all the same.
                let _ = answer.send(outcome);
            });
            (keep, deliver)
        });
        let queued = self.jobs.send(Message::Job(job));
        async move {
            queued.map_err(|_| anyhow::anyhow!("the SQLite writer thread has stopped"))?;
            answered.await.map_err(|_| {
                ApiError::Internal(anyhow::anyhow!("a write job ended without an answer"))
            })?
        }
    }

    /// Finishes the queued jobs and stops the thread.
    pub async fn stop(&self) {
        let _ = self.jobs.send(Message::Stop);
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn serve(conn: rusqlite::Connection, queue: mpsc::Receiver<Message>, gate: WriteGate) {
    let mut stopping = false;
    while !stopping {
        let Ok(Message::Job(first)) = queue.recv() else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(Message::Job(job)) => group.push(job),
                Ok(Message::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let _turn = gate.blocking_lock();
        run_group(&conn, group);
    }
}

/// Runs the jobs in one transaction, each in a savepoint, and answers them after the commit. No
/// job hears Ok unless the transaction holding its writes committed.
fn run_group(conn: &rusqlite::Connection, group: Vec<Job>) {
    if let Err(err) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::warn!(error = %err, "cannot start a write transaction");
        for job in group {
            let (_, deliver) = job(None);
            deliver(Err(err.to_string()));
        }
        return;
    }
    let mut answers = Vec::with_capacity(group.len());
    // Set when a savepoint statement fails, or when SQLite has undone the whole transaction itself
    // (disk full, an I/O error): then nothing more runs in this group and nobody hears Ok, since a
    // later savepoint would open (and its release commit) a transaction of its own.
    let mut broken: Option<String> = None;
    let mut jobs = group.into_iter();
    for job in jobs.by_ref() {
        if let Err(err) = conn.execute_batch("SAVEPOINT job") {
            tracing::warn!(error = %err, "cannot start a write job");
            answers.push(job(None).1);
            broken = Some(err.to_string());
            break;
        }
        let settled = match std::panic::catch_unwind(AssertUnwindSafe(|| job(Some(conn)))) {
            Ok((true, deliver)) => {
                answers.push(deliver);
                conn.execute_batch("RELEASE job")
            }
            Ok((false, deliver)) => {
                answers.push(deliver);
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            }
            Err(_) => {
                // A job that panicked has lost its answer; its caller hears that it ended
                // without one. Its writes go, the others' stay.
                tracing::error!("a write job panicked; its writes were undone");
                conn.execute_batch("ROLLBACK TO job; RELEASE job")
            }
        };
        if let Err(err) = settled {
            broken = Some(err.to_string());
            break;
        }
        if conn.is_autocommit() {
            broken = Some("SQLite ended the write transaction (disk full or an I/O error)".into());
            break;
        }
    }
    // Whatever did not run is answered without running.
    for job in jobs {
        answers.push(job(None).1);
    }
    let committed = match broken {
        Some(err) => Err(err),
        None => conn.execute_batch("COMMIT").map_err(|err| err.to_string()),
    };
    if committed.is_err() {
        tracing::warn!(error = ?committed, "a group of write jobs was undone");
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
    for deliver in answers {
        deliver(committed.clone());
    }
}

/// SQLite's errors as the API reports them: busy (another process holds the database) is a 503.
pub fn api_error(err: rusqlite::Error) -> ApiError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            ApiError::Busy
        }
        _ => ApiError::Internal(anyhow::Error::new(err).context("SQLite")),
    }
}

/// Prepares `sql` (shared SQL with `$1`, `$2`, … placeholders, in any order and repeated) and
/// binds `values[n - 1]` to each `$n`.
pub fn prepare_numbered<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    values: &[&dyn ToSql],
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        let value = number
            .checked_sub(1)
            .and_then(|n| values.get(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(number, values.len()))?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(statement)
}

/// Records one event of the org on the writer thread's connection and returns its sequence
/// number: it takes the org's next number, and the events trigger moves the counter on.
pub fn record_event(
    conn: &rusqlite::Connection,
    org_id: &str,
    chat_id: Option<&str>,
    actor: Option<&protocol::api::AgentRef>,
    at: i64,
    body: &protocol::events::EventBody,
) -> rusqlite::Result<i64> {
    const RECORD_EVENT: &str =
        "INSERT INTO events (org_id, seq, chat_id, actor_id, actor_name, kind, in_timeline, at, body)
        VALUES ($1, (SELECT event_seq + 1 FROM orgs WHERE id = $1), $2, $3, $4, $5, $6, $7, $8)
        RETURNING seq";
    let text = serde_json::to_string(body)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let statement = prepare_numbered(
        conn,
        RECORD_EVENT,
        &[
            &org_id,
            &chat_id,
            &actor.map(|a| a.id.as_str()),
            &actor.map(|a| a.name.as_str()),
            &body.kind(),
            &i64::from(body.in_timeline()),
            &at,
            &text,
        ],
    )?;
    first_row(statement, |row| row.get(0))?.ok_or(rusqlite::Error::QueryReturnedNoRows)
}

/// The first row a prepared statement returns, read by `read`; `None` if it returns none.
pub fn first_row<T>(
    mut statement: rusqlite::CachedStatement<'_>,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Option<T>> {
    let mut rows = statement.raw_query();
    rows.next()?.map(read).transpose()
}

/// Whether `err` is a primary-key or unique constraint refusing a row.
pub fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// [`super::conversations::find`], on the writer thread's connection.
pub fn find_conversation(
    conn: &rusqlite::Connection,
    org_id: &str,
    chat_id: &str,
) -> rusqlite::Result<Option<ConversationRow>> {
    // Built once: this runs for every lock request.
    static FIND: LazyLock<String> = LazyLock::new(|| {
        format!("{SELECT_CONVERSATION} WHERE c.org_id = $1 AND (c.chat_id = $2 OR c.alias = $2)")
    });
    let mut statement = prepare_numbered(conn, &FIND, &[&org_id, &chat_id])?;
    let mut rows = statement.raw_query();
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    Ok(Some(ConversationRow {
        id: row.get("id")?,
        chat_id: row.get("chat_id")?,
        alias: row.get("alias")?,
        title: row.get("title")?,
        phone: row.get("phone")?,
        owner_id: row.get("owner_id")?,
        owner_name: row.get("owner_name")?,
        pipeline_id: row.get("pipeline_id")?,
        pipeline_name: row.get("pipeline_name")?,
        stage: row.get("stage")?,
        lock_holder_id: row.get("lock_holder_id")?,
        lock_holder_name: row.get("lock_holder_name")?,
        lock_holder_role: row.get("lock_holder_role")?,
        lock_fence: row.get("lock_fence")?,
        lock_expires_at: row.get("lock_expires_at")?,
        created_at: row.get("created_at")?,
        last_activity_at: row.get("last_activity_at")?,
        closed_at: row.get("closed_at")?,
        routed_rule_id: row.get("routed_rule_id")?,
        routed_rule_name: row.get("routed_rule_name")?,
        routed_owner_id: row.get("routed_owner_id")?,
        routed_at: row.get("routed_at")?,
        queued_at: row.get("queued_at")?,
        last_event_seq: row.get("last_event_seq")?,
        responder_active: row.get("responder_active")?,
    }))
}
