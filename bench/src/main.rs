//! `cargo run --release -p bench`: Baton's sync server beside its peers, in one run on this
//! machine — the reply-lock cycle (closed loop at 1/4/16 clients, open loop at fixed rates) and
//! note writes, on SQLite and PostgreSQL, against the raw stores' own lease cycle (SQLite
//! directly, pgbench). Writes `BENCHMARKS.md`'s server section and `bench/results.json`.
//!
//! The server runs pinned to core 0 and the load driver to core 1 (`taskset`), as the peers were
//! measured; on a one-core machine both share it.

mod fanout;
mod http1;
mod lock;
mod report;
mod reports;
mod server;
mod stats;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

use lock::{DrivePlan, DriveResult, Work};
use server::{Baton, Database, Store};
use stats::Figure;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks Baton's sync server beside its peers and writes BENCHMARKS.md")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Seconds each measured run lasts (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// PostgreSQL to benchmark on (a role that may create databases).
    #[arg(
        long,
        env = "BATON_BENCH_PG_URL",
        default_value = "postgres://baton_test:baton_test@127.0.0.1:5432/postgres"
    )]
    postgres: String,
    /// Seconds of events in each fan-out run (at 50 per second).
    #[arg(long, default_value_t = 20)]
    fanout_seconds: u64,
    /// Which benchmarks: `lock` (cycles, rates, notes on both stores), `sqlite` or `pg` (the same on
    /// one store), `fanout`, `fanout-baton` (Baton alone at 1,000 agents, to profile),
    /// `sqlite-c1` or `pg-c1` (one client beside its floor and the raw store, to profile),
    /// `pg-orgs` (16 clients in 16 orgs on PostgreSQL, to profile), `fanout-pg` (Baton alone at
    /// 1,000 agents over 3 instances on PostgreSQL, to profile), `reports` (the lead's reports on a
    /// large org), or `all`.
    #[arg(long, default_value = "all")]
    only: String,
    /// Where to write the report (`BENCHMARKS.md` and `bench/results.json` under it).
    #[arg(long, default_value = ".")]
    out: PathBuf,
    /// Print the figures without writing the report.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Internal: the load driver (reads a plan on stdin).
    #[command(hide = true)]
    Drive,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fanout::raise_file_limit();
    match cli.command {
        // The driver has one core to itself: one thread, so a request's answer wakes the task
        // that waits for it, not another thread.
        Some(Command::Drive) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(lock::drive_main()),
        None => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(run(cli)),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let binary = build_server()?;
    let mut figures: Vec<Figure> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let seconds = cli.seconds as f64;
    if matches!(cli.only.as_str(), "lock" | "all" | "sqlite") {
        lock_suite(&binary, &Store::Sqlite, seconds, &mut figures).await?;
    }
    if cli.only == "sqlite-c1" {
        // For profiling: one client on SQLite, beside its floor and the raw store.
        sqlite_c1(&binary, seconds, &mut figures).await?;
    }
    if matches!(cli.only.as_str(), "lock" | "all" | "pg") {
        {
            let store = Store::Postgres {
                admin_url: cli.postgres.clone(),
            };
            match pg_lock_suite(&binary, &store, cli.seconds, &mut figures).await {
                Ok(()) => {}
                Err(err) => notes.push(format!("PostgreSQL skipped: {err:#}")),
            }
        }
    }
    if cli.only == "pg-c1" {
        // For profiling: one client on PostgreSQL, beside its floor and pgbench.
        let store = Store::Postgres {
            admin_url: cli.postgres.clone(),
        };
        pg_c1(&binary, &store, cli.seconds, &mut figures).await?;
    }
    if cli.only == "pg-orgs" {
        // For profiling: 16 clients in 16 orgs on PostgreSQL.
        let store = Store::Postgres {
            admin_url: cli.postgres.clone(),
        };
        pg_orgs(&binary, &store, seconds, &mut figures).await?;
    }
    if matches!(cli.only.as_str(), "reports" | "all") {
        reports::suite(&binary, &mut figures).await?;
    }
    if cli.only == "fanout-baton" {
        // For profiling: Baton alone, 1,000 agents on SQLite.
        let r = fanout::baton(&binary, &Store::Sqlite, 1000, 1, 50, cli.fanout_seconds).await?;
        say_fanout("Baton on SQLite, 1000 agents", &r);
    }
    if cli.only == "fanout-pg" {
        // For profiling: Baton alone, 1,000 agents over 3 instances on PostgreSQL.
        let store = Store::Postgres {
            admin_url: cli.postgres.clone(),
        };
        let r = fanout::baton(&binary, &store, 1000, 3, 50, cli.fanout_seconds).await?;
        say_fanout("Baton on PostgreSQL, 3 instances, 1000 agents", &r);
    }
    if matches!(cli.only.as_str(), "fanout" | "all") {
        match fanout::available() {
            Ok(()) => {
                let pg = Store::Postgres {
                    admin_url: cli.postgres.clone(),
                };
                fanout_suite(&binary, &pg, cli.fanout_seconds, &mut figures, &mut notes).await?;
            }
            Err(err) => notes.push(format!("fan-out skipped: {err}")),
        }
    }
    report::print(&figures, &notes);
    if !cli.dry_run {
        report::write(&cli.out, &figures, &notes, &command_line())?;
    }
    Ok(())
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "cargo run --release -p bench".to_owned()
    } else {
        format!("cargo run --release -p bench -- {}", args.join(" "))
    }
}

/// Builds the server's release binary (the bench measures what would be deployed). Built together
/// with the bench itself, so the shared dependencies get the same features as in
/// `cargo run -p bench` and nothing is compiled twice over (built alone, the server's
/// dependencies would be rebuilt with fewer features on every run, and again for the bench).
fn build_server() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "sync-server",
            "-p",
            "bench",
            "--bins",
        ])
        .status()
        .context("cannot run cargo to build the server")?;
    anyhow::ensure!(status.success(), "the server's release build failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    // A wrapper instead (a profiler around the same binary), when asked for.
    if let Some(wrapper) = std::env::var_os("BATON_BENCH_SERVER") {
        return Ok(PathBuf::from(wrapper));
    }
    Ok(target.join("release/sync-server"))
}

/// A fresh server on a fresh database with `orgs` × `agents` seats, each with `chats` chats.
async fn fresh(
    binary: &Path,
    store: &Store,
    orgs: usize,
    agents: usize,
    chats: usize,
) -> anyhow::Result<(Database, Baton, Vec<server::Seat>)> {
    let database = Database::create(store).await?;
    let mut seats = server::seed(&database.url, orgs, agents).await?;
    let baton = Baton::start(binary, &database.url).await?;
    baton.register_chats(&mut seats, chats).await?;
    Ok((database, baton, seats))
}

async fn finish(database: Database, baton: Baton) -> anyhow::Result<()> {
    baton.stop().await?;
    database.drop_pg().await
}

fn plan(baton: &Baton, seats: &[server::Seat], seconds: f64, work: Work) -> DrivePlan {
    DrivePlan {
        base: baton.base.clone(),
        seats: seats.to_vec(),
        seconds,
        work,
    }
}

fn say(what: &str, result: &DriveResult) {
    eprintln!(
        "  {what:<44} {:>9.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.1} ms  errors {}",
        result.per_second(),
        result.p50_ms,
        result.p99_ms,
        result.max_ms,
        result.errors
    );
}

/// Measures the HTTP floor at one client (two `GET /healthz` per cycle against `baton`), then
/// the one-client ceiling from it and the raw store's figure already measured: the floor's two
/// round trips plus the raw store's own cycle, one after the other, with nothing in between (no
/// authentication, no JSON, no rules, no event). Beside the raw store, the ceiling says how close
/// to it any server in front of that store could come on this machine in this run.
async fn floor_and_ceiling(
    figures: &mut Vec<Figure>,
    store: &str,
    baton: &Baton,
    seat: &server::Seat,
    seconds: f64,
) -> anyhow::Result<()> {
    let floor = lock::drive(&plan(
        baton,
        std::slice::from_ref(seat),
        seconds,
        Work::Floor,
    ))
    .await?;
    say("HTTP floor (two GET /healthz per cycle), 1 client", &floor);
    push_run(
        figures,
        &format!("{store}.http_floor.c1"),
        "cycles/s",
        &floor,
        None,
    );
    let raw_name = format!("{store}.raw.c1.rate");
    let raw = figures
        .iter()
        .find(|figure| figure.name == raw_name)
        .map_or(0.0, |figure| figure.value);
    let floor = floor.per_second();
    if raw <= 0.0 || floor <= 0.0 {
        return Ok(());
    }
    let mut ceiling = Figure::new(
        format!("{store}.ceiling.c1.rate"),
        1.0 / (1.0 / raw + 1.0 / floor),
        "cycles/s",
    );
    ceiling.baseline = Some(raw_name);
    figures.push(ceiling);
    Ok(())
}

fn push_run(
    figures: &mut Vec<Figure>,
    name: &str,
    unit: &str,
    result: &DriveResult,
    peer: Option<&str>,
) {
    let mut rate = Figure::new(format!("{name}.rate"), result.per_second(), unit);
    rate.baseline = peer.map(|p| format!("{p}.rate"));
    figures.push(rate);
    for (suffix, value) in [("p50", result.p50_ms), ("p99", result.p99_ms)] {
        let mut figure = Figure::new(format!("{name}.{suffix}"), value, "ms");
        figure.baseline = peer.map(|p| format!("{p}.{suffix}"));
        figures.push(figure);
    }
}

/// An open-loop run's latencies (p50, p99, max), each beside the same figure of `peer` if given.
fn push_tail(figures: &mut Vec<Figure>, name: &str, result: &DriveResult, peer: Option<&str>) {
    for (suffix, value) in [
        ("p50", result.p50_ms),
        ("p99", result.p99_ms),
        ("max", result.max_ms),
    ] {
        let mut figure = Figure::new(format!("{name}.{suffix}"), value, "ms");
        figure.baseline = peer.map(|p| format!("{p}.{suffix}"));
        figures.push(figure);
    }
}

async fn lock_suite(
    binary: &Path,
    store: &Store,
    seconds: f64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    eprintln!("reply-lock cycle on SQLite (synchronous=FULL)");
    for clients in [1, 16] {
        let raw = lock::raw_sqlite(clients, seconds).await?;
        say(&format!("raw SQLite lease cycle, {clients} clients"), &raw);
        push_run(
            figures,
            &format!("sqlite.raw.c{clients}"),
            "cycles/s",
            &raw,
            None,
        );
    }
    let (database, baton, seats) = fresh(binary, store, 1, 16, 20).await?;
    floor_and_ceiling(figures, "sqlite", &baton, &seats[0], seconds).await?;
    for clients in [1, 4, 16] {
        let result = lock::drive(&plan(&baton, &seats[..clients], seconds, Work::Cycles)).await?;
        say(&format!("Baton lock cycle, {clients} clients"), &result);
        let peer = match clients {
            1 => Some("sqlite.raw.c1"),
            16 => Some("sqlite.raw.c16"),
            _ => None,
        };
        push_run(
            figures,
            &format!("sqlite.baton.c{clients}"),
            "cycles/s",
            &result,
            peer,
        );
    }
    // The store's own tail at each rate, through one connection with nothing in front of it: a
    // stall of the disk or the machine shows in it as it does in Baton's, so beside it the open
    // loop's tail says what Baton adds.
    for rate in [200.0, 500.0] {
        let raw = lock::raw_sqlite_open(rate, seconds).await?;
        say(
            &format!("raw SQLite open loop, 1 writer at {rate} req/s"),
            &raw,
        );
        push_tail(figures, &format!("sqlite.raw.open.r{rate}"), &raw, None);
    }
    for (clients, rate) in [(1, 200.0), (16, 200.0), (16, 500.0)] {
        let result = lock::drive(&plan(
            &baton,
            &seats[..clients],
            seconds,
            Work::Rate { rate },
        ))
        .await?;
        say(
            &format!("Baton open loop, {clients} clients at {rate} req/s"),
            &result,
        );
        let name = format!("sqlite.baton.open.c{clients}.r{rate}");
        let peer = format!("sqlite.raw.open.r{rate}");
        push_tail(figures, &name, &result, Some(&peer));
        figures.push(Figure::new(
            format!("{name}.errors"),
            result.errors as f64,
            "requests",
        ));
    }
    writes(figures, "sqlite", &baton, &seats, seconds).await?;
    finish(database, baton).await
}

/// Notes from 16 clients, and handoffs between 8 pairs of them (each handoff with its note, and
/// its acceptance), on `baton`'s store.
async fn writes(
    figures: &mut Vec<Figure>,
    store: &str,
    baton: &Baton,
    seats: &[server::Seat],
    seconds: f64,
) -> anyhow::Result<()> {
    let result = lock::drive(&plan(baton, seats, seconds, Work::Notes)).await?;
    say(&format!("Baton notes, {} clients", seats.len()), &result);
    push_run(
        figures,
        &format!("{store}.baton.notes.c{}", seats.len()),
        "notes/s",
        &result,
        None,
    );
    let result = lock::drive(&plan(baton, seats, seconds, Work::Handoffs)).await?;
    say(
        &format!("Baton handoffs, {} pairs of clients", seats.len() / 2),
        &result,
    );
    push_run(
        figures,
        &format!("{store}.baton.handoffs.c{}", seats.len()),
        "handoffs/s",
        &result,
        None,
    );
    Ok(())
}

/// The one-client lock cycle on SQLite alone, beside its floor and the raw store (to profile).
async fn sqlite_c1(binary: &Path, seconds: f64, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let raw = lock::raw_sqlite(1, seconds).await?;
    say("raw SQLite lease cycle, 1 client", &raw);
    push_run(figures, "sqlite.raw.c1", "cycles/s", &raw, None);
    baton_c1(binary, &Store::Sqlite, "sqlite", seconds, figures).await
}

/// The one-client lock cycle on PostgreSQL alone, beside its floor and pgbench (to profile).
async fn pg_c1(
    binary: &Path,
    store: &Store,
    seconds: u64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let database = Database::create(store).await?;
    let raw = lock::pgbench(&database.url, 1, seconds).await;
    database.drop_pg().await?;
    let raw = raw?;
    say("pgbench lease cycle, 1 client", &raw);
    push_run(figures, "pg.raw.c1", "cycles/s", &raw, None);
    baton_c1(binary, store, "pg", seconds as f64, figures).await
}

/// Baton's one-client lock cycle on `store` (named `name` in the figures), after its HTTP floor
/// and ceiling; the raw store's `{name}.raw.c1` must be among `figures` already.
async fn baton_c1(
    binary: &Path,
    store: &Store,
    name: &str,
    seconds: f64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let (database, baton, seats) = fresh(binary, store, 1, 16, 20).await?;
    floor_and_ceiling(figures, name, &baton, &seats[0], seconds).await?;
    eprintln!("Baton lock cycle, 1 client: server pid {}", baton.pid);
    let result = lock::drive(&plan(&baton, &seats[..1], seconds, Work::Cycles)).await?;
    say("Baton lock cycle, 1 client", &result);
    push_run(
        figures,
        &format!("{name}.baton.c1"),
        "cycles/s",
        &result,
        Some(&format!("{name}.raw.c1")),
    );
    finish(database, baton).await
}

async fn pg_lock_suite(
    binary: &Path,
    store: &Store,
    seconds: u64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    eprintln!("reply-lock cycle on PostgreSQL");
    for clients in [1, 4, 16] {
        let database = Database::create(store).await?;
        let raw = lock::pgbench(&database.url, clients, seconds).await;
        database.drop_pg().await?;
        let raw = raw?;
        say(&format!("pgbench lease cycle, {clients} clients"), &raw);
        push_run(
            figures,
            &format!("pg.raw.c{clients}"),
            "cycles/s",
            &raw,
            None,
        );
    }
    let secs = seconds as f64;
    let (database, baton, seats) = fresh(binary, store, 1, 16, 20).await?;
    floor_and_ceiling(figures, "pg", &baton, &seats[0], secs).await?;
    for clients in [1, 4, 16] {
        let result = lock::drive(&plan(&baton, &seats[..clients], secs, Work::Cycles)).await?;
        say(
            &format!("Baton lock cycle, {clients} clients, one org"),
            &result,
        );
        push_run(
            figures,
            &format!("pg.baton.c{clients}"),
            "cycles/s",
            &result,
            Some(&format!("pg.raw.c{clients}")),
        );
    }
    writes(figures, "pg", &baton, &seats, secs).await?;
    finish(database, baton).await?;
    pg_orgs(binary, store, secs, figures).await
}

/// The same 16 clients as the lock suite's last run, each in an org of its own: orgs must not
/// serialise each other.
async fn pg_orgs(
    binary: &Path,
    store: &Store,
    secs: f64,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let (database, baton, seats) = fresh(binary, store, 16, 1, 20).await?;
    let result = lock::drive(&plan(&baton, &seats, secs, Work::Cycles)).await?;
    say("Baton lock cycle, 16 clients in 16 orgs", &result);
    push_run(
        figures,
        "pg.baton.orgs16.c16",
        "cycles/s",
        &result,
        Some("pg.raw.c16"),
    );
    finish(database, baton).await
}

async fn fanout_suite(
    binary: &Path,
    pg: &Store,
    seconds: u64,
    figures: &mut Vec<Figure>,
    notes: &mut Vec<String>,
) -> anyhow::Result<()> {
    const RATE: u32 = 50;
    eprintln!("live fan-out, {RATE} events/s for {seconds} s");
    for clients in [100, 1000] {
        let ws = fanout::peer("ws", clients, RATE, seconds).await?;
        say_fanout(&format!("ws, {clients} clients"), &ws);
        push_fanout(figures, &format!("fanout.ws.n{clients}"), &ws, None);
        let sio = fanout::peer("socketio", clients, RATE, seconds).await?;
        say_fanout(&format!("Socket.IO, {clients} clients"), &sio);
        push_fanout(figures, &format!("fanout.socketio.n{clients}"), &sio, None);
        let baton = fanout::baton(binary, &Store::Sqlite, clients, 1, RATE, seconds).await?;
        say_fanout(&format!("Baton on SQLite, {clients} agents"), &baton);
        push_fanout(
            figures,
            &format!("fanout.baton.sqlite.n{clients}"),
            &baton,
            Some(&format!("fanout.ws.n{clients}")),
        );
    }
    match fanout::baton(binary, pg, 1000, 3, RATE, seconds).await {
        Ok(baton) => {
            say_fanout("Baton on PostgreSQL, 3 instances, 1000 agents", &baton);
            push_fanout(
                figures,
                "fanout.baton.pg3.n1000",
                &baton,
                Some("fanout.ws.n1000"),
            );
        }
        Err(err) => notes.push(format!("fan-out on PostgreSQL skipped: {err:#}")),
    }
    Ok(())
}

fn say_fanout(what: &str, r: &fanout::FanoutResult) {
    eprintln!(
        "  {what:<44} {:>7.3}% delivered  p50 {:>6.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>8.1} ms  {:>6.1} KiB/conn ({:.1} cold)  connect {:.2} s  server CPU {:.0}%  harness CPU {:.0}%{}{}",
        r.delivered_pct,
        r.p50_ms.unwrap_or(f64::NAN),
        r.p99_ms.unwrap_or(f64::NAN),
        r.p999_ms.unwrap_or(f64::NAN),
        r.max_ms.unwrap_or(f64::NAN),
        r.bytes_per_conn / 1024.0,
        r.bytes_per_conn_cold / 1024.0,
        r.connect_s,
        r.server_cpu_pct,
        r.harness_cpu_pct,
        match (r.write_p50_ms, r.write_p99_ms, r.server_lag_p50_ms, r.server_lag_p99_ms) {
            (Some(w50), Some(w99), Some(l50), Some(l99)) => format!(
                "  (write p50 {w50:.2} p99 {w99:.2} ms; commit to send p50 {l50:.2} p99 {l99:.2} ms)"
            ),
            _ => String::new(),
        },
        if r.writes_failed > 0 || r.clients_missing_events > 0 {
            format!("  ({} writes failed, {} clients missed events)", r.writes_failed, r.clients_missing_events)
        } else {
            String::new()
        },
    );
    let _ = (r.clients, r.instances, r.events_sent);
}

fn push_fanout(
    figures: &mut Vec<Figure>,
    name: &str,
    r: &fanout::FanoutResult,
    peer: Option<&str>,
) {
    let values = [
        ("delivered", r.delivered_pct, "%"),
        ("p50", r.p50_ms.unwrap_or(f64::NAN), "ms"),
        ("p99", r.p99_ms.unwrap_or(f64::NAN), "ms"),
        ("p999", r.p999_ms.unwrap_or(f64::NAN), "ms"),
        ("per_conn", r.bytes_per_conn / 1024.0, "KiB"),
        ("per_conn_cold", r.bytes_per_conn_cold / 1024.0, "KiB"),
        ("connect", r.connect_s, "s"),
        ("server_cpu", r.server_cpu_pct, "% of a core"),
    ];
    // Baton's own split of its latency: the write's round trip, and commit to send by the server.
    let split = [
        ("write_p50", r.write_p50_ms, "ms"),
        ("write_p99", r.write_p99_ms, "ms"),
        ("server_lag_p50", r.server_lag_p50_ms, "ms"),
        ("server_lag_p99", r.server_lag_p99_ms, "ms"),
    ];
    for (suffix, value, unit) in split {
        if let Some(value) = value {
            figures.push(Figure::new(format!("{name}.{suffix}"), value, unit));
        }
    }
    for (suffix, value, unit) in values {
        let mut figure = Figure::new(format!("{name}.{suffix}"), value, unit);
        if suffix != "server_cpu" {
            figure.baseline = peer.map(|p| format!("{p}.{suffix}"));
        }
        figures.push(figure);
    }
}
