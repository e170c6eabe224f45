//! The reply-lock cycle (POST lock, then DELETE lock with its fence), driven against Baton's HTTP
//! API, and the same lease cycle on the raw stores: SQLite directly and pgbench on PostgreSQL.
//!
//! The HTTP driver runs in its own process pinned to the second core (the server has the first),
//! so client and server do not fight over a core; it reads its plan as JSON on stdin and prints
//! its [`DriveResult`] as JSON.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::http1;
use crate::server::{pinned, Seat};
use crate::stats::Samples;

/// What the driver process is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrivePlan {
    pub base: String,
    /// One client per seat, each on its own connection and its own chats.
    pub seats: Vec<Seat>,
    pub seconds: f64,
    pub work: Work,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Work {
    /// Closed loop: every client runs lock cycles back to back.
    Cycles,
    /// Open loop: `rate` requests per second in all (lock and release alternate), each timed
    /// from when it was due, not from when it was sent (no coordinated omission).
    Rate { rate: f64 },
    /// Closed loop: every client posts notes back to back.
    Notes,
    /// Closed loop: clients in pairs pass chats back and forth, one handing a chat off with its
    /// note and the other accepting it (a sample is the handoff and its acceptance).
    Handoffs,
    /// Closed loop: two `GET /healthz` per cycle, the HTTP round trips of a lock cycle with no
    /// authentication and no database: the floor any lock cycle over HTTP stands on.
    Floor,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DriveResult {
    /// Completed cycles (or requests, for `Rate`; notes, for `Notes`).
    pub done: u64,
    pub elapsed_s: f64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
}

impl DriveResult {
    /// A run's result from its samples (one per completed cycle or request).
    fn from_samples(mut samples: Samples, elapsed_s: f64, errors: u64) -> DriveResult {
        DriveResult {
            done: samples.len() as u64,
            elapsed_s,
            errors,
            p50_ms: samples.percentile(50.0),
            p99_ms: samples.percentile(99.0),
            max_ms: samples.max(),
            first_error: None,
        }
    }

    pub fn per_second(&self) -> f64 {
        self.done as f64 / self.elapsed_s
    }
}

/// Runs a plan in a driver process pinned to core 1 and returns what it measured.
pub async fn drive(plan: &DrivePlan) -> anyhow::Result<DriveResult> {
    // This very program, even if a build replaced its file since it started.
    let me = std::path::PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let mut child = pinned(1, &me)
        .arg("drive")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the load driver")?;
    let mut stdin = child.stdin.take().context("driver stdin")?;
    stdin.write_all(&serde_json::to_vec(plan)?).await?;
    drop(stdin);
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        bail!("the load driver failed ({})", output.status);
    }
    let result: DriveResult =
        serde_json::from_slice(&output.stdout).context("unreadable result from the load driver")?;
    if result.done == 0 {
        bail!(
            "the load driver did nothing: {}",
            result.first_error.as_deref().unwrap_or("no error reported")
        );
    }
    Ok(result)
}

/// The driver process's body: reads a plan on stdin, prints the result.
pub async fn drive_main() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input)?;
    let plan: DrivePlan = serde_json::from_str(&input)?;
    let result = run_plan(plan).await?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

#[derive(Default)]
struct ClientOutcome {
    done: u64,
    errors: u64,
    samples: Samples,
    first_error: Option<String>,
}

async fn run_plan(plan: DrivePlan) -> anyhow::Result<DriveResult> {
    let clients = plan.seats.len();
    // A warm-up second (connections opened, statements prepared) that is not counted.
    if !matches!(plan.work, Work::Rate { .. }) {
        let warm = DrivePlan {
            seconds: 1.0,
            ..plan.clone()
        };
        run_clients(&warm).await?;
    }
    let started = Instant::now();
    let outcomes = run_clients(&plan).await?;
    let elapsed_s = started.elapsed().as_secs_f64();
    let mut result = DriveResult {
        elapsed_s,
        ..DriveResult::default()
    };
    let mut samples = Samples::default();
    for outcome in outcomes {
        result.done += outcome.done;
        result.errors += outcome.errors;
        samples.extend(outcome.samples);
        if result.first_error.is_none() {
            result.first_error = outcome.first_error;
        }
    }
    if samples.len() > 0 {
        result.p50_ms = samples.percentile(50.0);
        result.p99_ms = samples.percentile(99.0);
        result.max_ms = samples.max();
    }
    let _ = clients;
    Ok(result)
}

async fn run_clients(plan: &DrivePlan) -> anyhow::Result<Vec<ClientOutcome>> {
    if matches!(plan.work, Work::Handoffs) {
        return run_handoff_pairs(plan).await;
    }
    let clients = plan.seats.len();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs_f64(plan.seconds);
    let mut tasks = Vec::new();
    for (k, seat) in plan.seats.iter().cloned().enumerate() {
        let base = plan.base.clone();
        let work = plan.work;
        tasks.push(tokio::spawn(async move {
            let mut client = match http1::Connection::new(&base) {
                Ok(client) => client,
                Err(err) => {
                    return ClientOutcome {
                        done: 0,
                        errors: 1,
                        samples: Samples::default(),
                        first_error: Some(err.to_string()),
                    }
                }
            };
            let mut outcome = ClientOutcome {
                done: 0,
                errors: 0,
                samples: Samples::default(),
                first_error: None,
            };
            tokio::time::sleep_until(start).await;
            let mut i: u64 = 0;
            let mut fence: Option<i64> = None;
            loop {
                let chat = &seat.chats[(i as usize / 2) % seat.chats.len()];
                let (due, result) = match work {
                    Work::Cycles => {
                        let t0 = tokio::time::Instant::now();
                        if t0 >= deadline {
                            break;
                        }
                        let r = match lock(&mut client, &seat.token, chat).await {
                            Ok(f) => release(&mut client, &seat.token, chat, f).await,
                            Err(e) => Err(e),
                        };
                        i += 2;
                        (t0, r)
                    }
                    Work::Floor => {
                        let t0 = tokio::time::Instant::now();
                        if t0 >= deadline {
                            break;
                        }
                        let r = match health(&mut client).await {
                            Ok(()) => health(&mut client).await,
                            Err(e) => Err(e),
                        };
                        i += 2;
                        (t0, r)
                    }
                    Work::Handoffs => unreachable!("handoffs are driven in pairs"),
                    Work::Notes => {
                        let t0 = tokio::time::Instant::now();
                        if t0 >= deadline {
                            break;
                        }
                        i += 2;
                        (t0, note(&mut client, &seat.token, chat, i).await)
                    }
                    Work::Rate { rate } => {
                        let offset = (i as f64 * clients as f64 + k as f64) / rate;
                        let due = start + Duration::from_secs_f64(offset);
                        if due >= deadline {
                            break;
                        }
                        wait_until(due).await;
                        let r = match fence.take() {
                            None => lock(&mut client, &seat.token, chat).await.map(|f| {
                                fence = Some(f);
                            }),
                            Some(f) => release(&mut client, &seat.token, chat, f).await,
                        };
                        i += 1;
                        (due, r)
                    }
                };
                match result {
                    Ok(()) => {
                        outcome.done += 1;
                        outcome.samples.push(due.elapsed().as_secs_f64() * 1000.0);
                    }
                    Err(err) => {
                        outcome.errors += 1;
                        fence = None;
                        if outcome.first_error.is_none() {
                            outcome.first_error = Some(err.to_string());
                        }
                    }
                }
            }
            // A lock left held at the deadline is released, so the next run starts clean.
            if let Some(f) = fence {
                let chat = &seat.chats[(i.saturating_sub(1) as usize / 2) % seat.chats.len()];
                let _ = release(&mut client, &seat.token, chat, f).await;
            }
            outcome
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await?);
    }
    Ok(outcomes)
}

/// [`Work::Handoffs`]: each pair of seats (first and second, third and fourth, …) passes the first
/// seat's chats between its two agents, each chat in turn.
async fn run_handoff_pairs(plan: &DrivePlan) -> anyhow::Result<Vec<ClientOutcome>> {
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let deadline = start + Duration::from_secs_f64(plan.seconds);
    let mut tasks = Vec::new();
    for pair in plan.seats.chunks_exact(2) {
        let (first, second) = (pair[0].clone(), pair[1].clone());
        let base = plan.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcome = ClientOutcome::default();
            if let Err(err) =
                pass_chats(&base, &first, &second, start, deadline, &mut outcome).await
            {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(format!("{err:#}"));
            }
            outcome
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await?);
    }
    Ok(outcomes)
}

async fn pass_chats(
    base: &str,
    first: &Seat,
    second: &Seat,
    start: tokio::time::Instant,
    deadline: tokio::time::Instant,
    outcome: &mut ClientOutcome,
) -> anyhow::Result<()> {
    anyhow::ensure!(!first.chats.is_empty(), "a handoff pair without chats");
    let mut to_first = http1::Connection::new(base)?;
    let mut to_second = http1::Connection::new(base)?;
    // Whether the first agent owns each chat (a run leaves every handoff accepted, but whose
    // turn it is depends on where the last run stopped).
    let mut first_owns = Vec::new();
    for chat in &first.chats {
        first_owns.push(owned_by_first(&mut to_first, first, second, chat).await?);
    }
    tokio::time::sleep_until(start).await;
    let mut i = 0;
    while tokio::time::Instant::now() < deadline {
        let k = i % first.chats.len();
        let chat = &first.chats[k];
        let t0 = Instant::now();
        let passed = if first_owns[k] {
            hand_over(&mut to_first, first, &mut to_second, second, chat).await
        } else {
            hand_over(&mut to_second, second, &mut to_first, first, chat).await
        };
        match passed {
            Ok(()) => {
                first_owns[k] = !first_owns[k];
                outcome.done += 1;
                outcome.samples.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            Err(err) => {
                outcome.errors += 1;
                outcome.first_error.get_or_insert(format!("{err:#}"));
                // The handoff may have landed without its acceptance: the receiver owns it then.
                first_owns[k] = owned_by_first(&mut to_first, first, second, chat).await?;
            }
        }
        i += 1;
    }
    Ok(())
}

/// Whether `first` owns `chat` (claiming it, by taking and releasing its lock, if nobody does).
async fn owned_by_first(
    client: &mut http1::Connection,
    first: &Seat,
    second: &Seat,
    chat: &str,
) -> anyhow::Result<bool> {
    let path = format!("/api/v1/conversations/{chat}");
    let answer = client
        .succeed("conversation", "GET", &path, Some(&first.token), None)
        .await?;
    let conversation: serde_json::Value = serde_json::from_slice(&answer.body)?;
    match conversation["owner"]["id"].as_str() {
        Some(owner) if owner == first.agent_id => Ok(true),
        Some(owner) if owner == second.agent_id => Ok(false),
        Some(owner) => bail!("{chat} is owned by an agent outside the pair: {owner}"),
        None => {
            let fence = lock(client, &first.token, chat).await?;
            release(client, &first.token, chat, fence).await?;
            Ok(true)
        }
    }
}

/// `from` hands `chat` to `to` with a handoff note, and `to` accepts it.
async fn hand_over(
    from_client: &mut http1::Connection,
    from: &Seat,
    to_client: &mut http1::Connection,
    to: &Seat,
    chat: &str,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&serde_json::json!({
        "to_agent_id": to.agent_id,
        "done": "Quoted the two-seat plan and sent the brochure",
        "promised": "A call back before 5 pm with the delivery date",
        "next_step": "Confirm the date with the warehouse, then call",
    }))?;
    let path = format!("/api/v1/conversations/{chat}/handoff");
    from_client
        .succeed("handoff", "POST", &path, Some(&from.token), Some(&body))
        .await?;
    let path = format!("/api/v1/conversations/{chat}/handoff/accept");
    to_client
        .succeed("accept", "POST", &path, Some(&to.token), None)
        .await?;
    Ok(())
}

/// Waits until `due`, to well within a millisecond. Tokio's timer rounds a deadline up to its next
/// millisecond tick, and an open-loop request's latency is timed from when it was due: a timer
/// that fires late would charge the server for the driver's own lateness. So the last
/// millisecond is waited by yielding (the driver has its core to itself).
async fn wait_until(due: tokio::time::Instant) {
    let coarse = due - Duration::from_millis(1);
    if tokio::time::Instant::now() < coarse {
        tokio::time::sleep_until(coarse).await;
    }
    while tokio::time::Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

async fn health(client: &mut http1::Connection) -> anyhow::Result<()> {
    client
        .succeed("healthz", "GET", "/healthz", None, None)
        .await?;
    Ok(())
}

async fn lock(client: &mut http1::Connection, token: &str, chat: &str) -> anyhow::Result<i64> {
    let path = format!("/api/v1/conversations/{chat}/lock");
    let answer = client
        .succeed("lock", "POST", &path, Some(token), None)
        .await?;
    let grant: serde_json::Value = serde_json::from_slice(&answer.body)?;
    grant["fence"]
        .as_i64()
        .context("a lock grant without a fence")
}

async fn release(
    client: &mut http1::Connection,
    token: &str,
    chat: &str,
    fence: i64,
) -> anyhow::Result<()> {
    let path = format!("/api/v1/conversations/{chat}/lock?fence={fence}");
    client
        .succeed("release", "DELETE", &path, Some(token), None)
        .await?;
    Ok(())
}

async fn note(
    client: &mut http1::Connection,
    token: &str,
    chat: &str,
    n: u64,
) -> anyhow::Result<()> {
    let path = format!("/api/v1/conversations/{chat}/notes");
    let body = serde_json::to_vec(
        &serde_json::json!({"body": format!("Bench note {n}: called, sent the quote")}),
    )?;
    client
        .succeed("note", "POST", &path, Some(token), Some(&body))
        .await?;
    Ok(())
}

/// The raw store's lease cycle on SQLite (WAL, synchronous=FULL), one connection and one thread
/// per client, as the published raw-SQLite lease benchmark does it: acquire in `BEGIN
/// IMMEDIATE` with a conditional `UPDATE … RETURNING fence`, then an autocommit release guarded by
/// the fence. Through rusqlite (direct calls into the same SQLite library the server uses), so the
/// store is measured, not a driver.
pub async fn raw_sqlite(clients: usize, seconds: f64) -> anyhow::Result<DriveResult> {
    tokio::task::spawn_blocking(move || raw_sqlite_blocking(clients, seconds)).await?
}

/// Rows of the raw store's lease table.
const LEASE_ROWS: i64 = 10_000;

/// A fresh lease table in a temporary directory (gone when the directory is dropped).
fn lease_store() -> anyhow::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("leases.db");
    let setup = open_lease_store(&path)?;
    setup.execute_batch(
        "CREATE TABLE leases(conv_id INTEGER PRIMARY KEY, holder INTEGER,
         fence INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL DEFAULT 0);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
         INSERT INTO leases (conv_id) SELECT i FROM n;",
    )?;
    Ok((dir, path))
}

fn open_lease_store(path: &std::path::Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// The raw store's acquire: `BEGIN IMMEDIATE`, a conditional `UPDATE … RETURNING fence`, commit.
fn acquire_lease(
    conn: &mut rusqlite::Connection,
    me: i64,
    conv: i64,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let fence = {
        let mut statement = tx.prepare_cached(
            "UPDATE leases SET holder = ?1, fence = fence + 1, expires_at = ?2
             WHERE conv_id = ?3 AND (holder IS NULL OR expires_at < ?4 OR holder = ?1)
             RETURNING fence",
        )?;
        let mut rows = statement.query((me, now + 30_000, conv, now))?;
        match rows.next()? {
            Some(row) => Some(row.get::<_, i64>(0)?),
            None => None,
        }
    };
    tx.commit()?;
    Ok(fence)
}

/// The raw store's release: an autocommit `UPDATE` guarded by the fence.
fn release_lease(
    conn: &rusqlite::Connection,
    me: i64,
    conv: i64,
    fence: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE leases SET holder = NULL, expires_at = 0
         WHERE conv_id = ?1 AND holder = ?2 AND fence = ?3",
    )?
    .execute((conv, me, fence))?;
    Ok(())
}

fn raw_sqlite_blocking(clients: usize, seconds: f64) -> anyhow::Result<DriveResult> {
    let (_dir, path) = lease_store()?;
    let run = |seconds: f64| -> anyhow::Result<(Samples, u64)> {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let threads: Vec<_> = (0..clients)
            .map(|client| {
                let conn = open_lease_store(&path);
                std::thread::spawn(move || -> anyhow::Result<(Samples, u64)> {
                    let mut conn = conn?;
                    let me = client as i64 + 1;
                    let mut samples = Samples::default();
                    let mut busy = 0u64;
                    // Each client strides through rows of its own, as each Baton client works
                    // chats of its own.
                    let mut conv = me;
                    while Instant::now() < deadline {
                        let t0 = Instant::now();
                        conv = (conv - 1 + clients as i64) % LEASE_ROWS + 1;
                        let fence = match acquire_lease(&mut conn, me, conv, now_ms()) {
                            Ok(fence) => fence,
                            Err(_) => {
                                busy += 1;
                                continue;
                            }
                        };
                        if let Some(fence) = fence {
                            while release_lease(&conn, me, conv, fence).is_err() {
                                busy += 1;
                            }
                        }
                        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                    Ok((samples, busy))
                })
            })
            .collect();
        let mut samples = Samples::default();
        let mut busy = 0;
        for thread in threads {
            let (s, b) = thread
                .join()
                .map_err(|_| anyhow::anyhow!("a raw SQLite client panicked"))??;
            samples.extend(s);
            busy += b;
        }
        Ok((samples, busy))
    };
    run(1.0)?;
    let started = Instant::now();
    let (samples, busy) = run(seconds)?;
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(DriveResult::from_samples(samples, elapsed_s, busy))
}

/// The raw store on one connection, driven open loop at `rate` transactions per second (acquire
/// and release alternate, as in Baton's open loop), each timed from when it was due. One writer
/// with nothing in front of it: its tail is the disk's and the machine's, the floor under any
/// server that writes through one SQLite connection at that rate.
pub async fn raw_sqlite_open(rate: f64, seconds: f64) -> anyhow::Result<DriveResult> {
    tokio::task::spawn_blocking(move || raw_sqlite_open_blocking(rate, seconds)).await?
}

fn raw_sqlite_open_blocking(rate: f64, seconds: f64) -> anyhow::Result<DriveResult> {
    let (_dir, path) = lease_store()?;
    let mut conn = open_lease_store(&path)?;
    let run = |conn: &mut rusqlite::Connection, seconds: f64| -> anyhow::Result<(Samples, u64)> {
        let start = Instant::now() + Duration::from_millis(10);
        let mut samples = Samples::default();
        let mut errors = 0u64;
        let mut held: Option<(i64, i64)> = None;
        let mut conv = 0;
        for i in 0.. {
            let offset = f64::from(i) / rate;
            if offset >= seconds {
                break;
            }
            let due = start + Duration::from_secs_f64(offset);
            sleep_until(due);
            let outcome = match held.take() {
                None => {
                    conv = conv % LEASE_ROWS + 1;
                    acquire_lease(conn, 1, conv, now_ms()).map(|fence| {
                        held = fence.map(|fence| (conv, fence));
                    })
                }
                Some((conv, fence)) => release_lease(conn, 1, conv, fence),
            };
            match outcome {
                Ok(()) => samples.push(due.elapsed().as_secs_f64() * 1000.0),
                Err(_) => errors += 1,
            }
        }
        Ok((samples, errors))
    };
    run(&mut conn, 1.0)?;
    let started = Instant::now();
    let (samples, errors) = run(&mut conn, seconds)?;
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(DriveResult::from_samples(samples, elapsed_s, errors))
}

/// Sleeps until `due` (the kernel's timer slack late at most, some 50 µs). No spinning: the writer
/// waits idle between requests as a server's writer waits for the next one, so the wake-up a
/// request costs an idle machine is in both figures.
fn sleep_until(due: Instant) {
    let now = Instant::now();
    if now < due {
        std::thread::sleep(due - now);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The same lease cycle through pgbench (prepared statements, one pgbench thread on core 1), in a
/// fresh database on `url`'s server; `url` must be able to create tables there.
pub async fn pgbench(url: &str, clients: usize, seconds: u64) -> anyhow::Result<DriveResult> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "CREATE TABLE leases(conv_id integer PRIMARY KEY, holder integer,
         fence bigint NOT NULL DEFAULT 0, expires_at bigint NOT NULL DEFAULT 0)",
    )
    .execute(&mut conn)
    .await?;
    sqlx::query("INSERT INTO leases SELECT g, NULL, 0, 0 FROM generate_series(1, 10000) g")
        .execute(&mut conn)
        .await?;
    sqlx::query("VACUUM ANALYZE leases")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("cycle.sql");
    std::fs::write(
        &script,
        r"\set conv random(1, 10000)
\set me :client_id + 1
WITH a AS (UPDATE leases SET holder = :me, fence = fence + 1,
             expires_at = (extract(epoch FROM clock_timestamp()) * 1000)::bigint + 30000
           WHERE conv_id = :conv
             AND (holder IS NULL OR holder = :me
                  OR expires_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
           RETURNING fence)
SELECT coalesce((SELECT fence FROM a), -1) AS fence \gset
UPDATE leases SET holder = NULL, expires_at = 0 WHERE conv_id = :conv AND holder = :me AND fence = :fence;
",
    )?;
    let pgbench = crate::server::which("pgbench").context("pgbench is not installed")?;
    let log_prefix = dir.path().join("pglog");
    let output = pinned(1, &pgbench)
        .args(["-n", "-M", "prepared", "-j", "1"])
        .args(["-c", &clients.to_string(), "-T", &seconds.to_string()])
        .arg("-f")
        .arg(&script)
        .arg("-l")
        .arg(format!("--log-prefix={}", log_prefix.display()))
        .arg(url)
        .current_dir(dir.path())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("pgbench printed no tps")?;
    let mut samples = Samples::default();
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("pglog"))
        {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    samples.push(us / 1000.0);
                }
            }
        }
    }
    Ok(DriveResult {
        done: (tps * seconds as f64) as u64,
        elapsed_s: seconds as f64,
        errors: 0,
        p50_ms: samples.percentile(50.0),
        p99_ms: samples.percentile(99.0),
        max_ms: samples.max(),
        first_error: None,
    })
}
