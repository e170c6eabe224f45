//! Live fan-out: N agents connected, notes written at a fixed rate, every delivery timed; beside a
//! plain `ws` broadcast server and a Socket.IO server under the same client harness
//! (`bench/fanout/harness.mjs`). The server runs on core 0, the harness on core 1.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::server::{pinned, which, Baton, Database, Seat, Store};

/// What the harness measured in one run.
#[derive(Debug, Clone, Deserialize)]
pub struct FanoutResult {
    pub clients: usize,
    pub instances: usize,
    pub connect_s: f64,
    pub events_sent: u64,
    pub writes_failed: u64,
    pub delivered_pct: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub clients_missing_events: u64,
    /// Memory per idle connection, read across the connections after every login was read once.
    pub bytes_per_conn: f64,
    /// The same from before anything: includes the database's page cache filling with logins.
    pub bytes_per_conn_cold: f64,
    pub server_cpu_pct: f64,
    pub harness_cpu_pct: f64,
    /// Baton only: each note's write, request to `201` (the durable commit included).
    #[serde(default)]
    pub write_p50_ms: Option<f64>,
    #[serde(default)]
    pub write_p99_ms: Option<f64>,
    /// Baton only: from each event's commit to its send on each stream, by the servers' own
    /// histogram (`baton_event_delivery_lag_seconds`, interpolated within its buckets).
    #[serde(default)]
    pub server_lag_p50_ms: Option<f64>,
    #[serde(default)]
    pub server_lag_p99_ms: Option<f64>,
}

fn kit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fanout")
}

fn node() -> anyhow::Result<PathBuf> {
    which("node").context("node is not installed (the fan-out harness and peers are Node programs)")
}

/// Raises this process's open-file limit to its hard limit, for a thousand sockets on each side
/// (children inherit it).
pub fn raise_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

async fn harness(args: &[String]) -> anyhow::Result<FanoutResult> {
    let output = pinned(1, &node()?)
        .arg(kit().join("harness.mjs"))
        .args(args)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("the fan-out harness failed ({}): {text}", output.status);
    }
    let line = text.lines().last().context("the harness printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("unreadable harness output: {line}"))
}

/// One peer (`ws` or `socketio`) at `clients` clients.
pub async fn peer(
    impl_name: &str,
    clients: usize,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<FanoutResult> {
    let mut server = pinned(0, &node()?)
        .arg("--expose-gc")
        .arg(kit().join("peer_server.mjs"))
        .args(["--impl", impl_name])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the peer server")?;
    let stdout = server.stdout.take().context("peer stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .next_line()
        .await?
        .context("the peer server printed nothing")?;
    #[derive(Deserialize)]
    struct Ready {
        pid: u32,
        url: String,
        control: String,
    }
    let ready: Ready = serde_json::from_str(&ready)?;
    let result = harness(&[
        "--impl".into(),
        impl_name.into(),
        "--url".into(),
        ready.url,
        "--control".into(),
        ready.control,
        "--server-pid".into(),
        ready.pid.to_string(),
        "--clients".into(),
        clients.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--seconds".into(),
        seconds.to_string(),
    ])
    .await;
    server.kill().await?;
    result
}

/// Baton with `clients` agents of one org, on `instances` servers sharing the database (agents
/// spread over them; the notes go to the first). Memory and CPU are the first instance's.
pub async fn baton(
    binary: &Path,
    store: &Store,
    clients: usize,
    instances: usize,
    rate: u32,
    seconds: u64,
) -> anyhow::Result<FanoutResult> {
    let database = Database::create(store).await?;
    // One more seat than clients: the writer, who is not among those measured.
    let mut seats = crate::server::seed(&database.url, 1, clients + 1).await?;
    let mut servers = Vec::new();
    for _ in 0..instances {
        servers.push(Baton::start(binary, &database.url).await?);
    }
    let writer: &mut [Seat] = &mut seats[..1];
    servers[0].register_chats(writer, 1).await?;
    let since = latest_seq(&servers[0], &seats[0].token).await?;
    let dir = tempfile::tempdir()?;
    let seats_file = dir.path().join("seats.json");
    std::fs::write(
        &seats_file,
        serde_json::to_vec(&serde_json::json!({
            "since": since,
            "chat": seats[0].chats[0],
            "writer_token": seats[0].token,
            "seats": seats[1..].iter().map(|s| serde_json::json!({"token": s.token})).collect::<Vec<_>>(),
        }))?,
    )?;
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("{}/api/v1/events", s.base.replacen("http://", "ws://", 1)))
        .collect();
    let args: Vec<String> = vec![
        "--impl".into(),
        "baton".into(),
        "--url".into(),
        urls.join(","),
        "--base".into(),
        servers[0].base.clone(),
        "--seats".into(),
        seats_file.display().to_string(),
        "--server-pid".into(),
        servers[0].pid.to_string(),
        "--clients".into(),
        clients.to_string(),
        "--rate".into(),
        rate.to_string(),
        "--seconds".into(),
        seconds.to_string(),
    ];
    let result = harness(&args).await;
    let result = match result {
        Ok(mut result) => {
            let lag = delivery_lag(&servers).await?;
            result.server_lag_p50_ms = lag.quantile(0.5).map(|s| s * 1000.0);
            result.server_lag_p99_ms = lag.quantile(0.99).map(|s| s * 1000.0);
            Ok(result)
        }
        Err(err) => Err(err),
    };
    for server in servers {
        server.stop().await?;
    }
    database.drop_pg().await?;
    result
}

/// The servers' delivery-lag histograms, summed.
async fn delivery_lag(servers: &[Baton]) -> anyhow::Result<Buckets> {
    let mut total = Buckets::default();
    for server in servers {
        let text = reqwest::get(&server.metrics).await?.text().await?;
        total.add(&text, "baton_event_delivery_lag_seconds_bucket");
    }
    Ok(total)
}

/// A Prometheus histogram's cumulative buckets: (upper bound in seconds, count).
#[derive(Debug, Default)]
struct Buckets(Vec<(f64, f64)>);

impl Buckets {
    fn add(&mut self, text: &str, name: &str) {
        for line in text.lines().filter(|l| l.starts_with(name)) {
            let Some(bound) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) else {
                continue;
            };
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().unwrap_or(f64::NAN)
            };
            let Some(count) = line.rsplit(' ').next().and_then(|c| c.parse::<f64>().ok()) else {
                continue;
            };
            match self.0.iter_mut().find(|(b, _)| *b == bound) {
                Some((_, total)) => *total += count,
                None => self.0.push((bound, count)),
            }
        }
        self.0.sort_by(|a, b| a.0.total_cmp(&b.0));
    }

    /// Like PromQL's `histogram_quantile`: linear within the bucket the rank falls in.
    fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.0.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(bound, count) in &self.0 {
            if count >= rank {
                if bound.is_infinite() {
                    return Some(lower);
                }
                let share = if count > below {
                    (rank - below) / (count - below)
                } else {
                    1.0
                };
                return Some(lower + (bound - lower) * share);
            }
            (lower, below) = (bound, count);
        }
        None
    }
}

async fn latest_seq(baton: &Baton, token: &str) -> anyhow::Result<i64> {
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/me", baton.base))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    me["latest_seq"].as_i64().context("/me without latest_seq")
}

/// Whether the harness can run (node and its modules installed).
pub fn available() -> Result<(), String> {
    node().map_err(|e| e.to_string())?;
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules");
    for module in ["ws", "socket.io", "socket.io-client"] {
        if !modules.join(module).is_dir() {
            return Err(format!(
                "node_modules/{module} is missing; run `npm ci` first"
            ));
        }
    }
    Ok(())
}
