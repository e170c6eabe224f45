//! `--only reports`: how long the lead's reports take on a large org — 20 agents, 5,000
//! conversations, 100,000 messages over 30 days on the embedded SQLite — beside their floor, the
//! same messages read straight from the same database file (rusqlite, in this process): any
//! report over those messages has to read them at least once.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::server::{self, Baton, Database, Store};
use crate::stats::{Figure, Samples};

const AGENTS: usize = 20;
const CHATS_PER_AGENT: usize = 250;
const MESSAGES_PER_CHAT: i64 = 20;
const DAY_MS: i64 = 86_400_000;
/// Measured requests per figure (after two unmeasured ones).
const RUNS: usize = 15;

pub async fn suite(binary: &Path, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    eprintln!(
        "reports on SQLite: {AGENTS} agents, {} conversations, {} messages over 30 days",
        AGENTS * CHATS_PER_AGENT,
        AGENTS as i64 * CHATS_PER_AGENT as i64 * MESSAGES_PER_CHAT
    );
    let database = Database::create(&Store::Sqlite).await?;
    let mut seats = server::seed(&database.url, 1, AGENTS).await?;
    let file = database
        .url
        .strip_prefix("sqlite:")
        .context("a SQLite URL")?
        .to_owned();
    // The first seat reads everyone's figures, as a lead does.
    rusqlite::Connection::open(&file)?.execute(
        "UPDATE agents SET role = 'lead' WHERE email = 'agent0-0@bench.test'",
        [],
    )?;
    let baton = Baton::start(binary, &database.url).await?;
    baton.register_chats(&mut seats, CHATS_PER_AGENT).await?;
    let now = now_ms();
    let written = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || write_messages(&file, now)).await??
    };
    eprintln!("  {written} messages written");
    let to = day_of(now);
    let from = day_of(now - 29 * DAY_MS);
    let lead = seats[0].token.clone();
    let agent = seats[1].token.clone();
    let client = reqwest::Client::new();
    for (name, path, token) in [
        ("agents", "/reports/agents", &lead),
        ("daily", "/reports/daily", &lead),
        ("stages", "/reports/stages", &lead),
        ("agents_own", "/reports/agents", &agent),
    ] {
        let url = format!("{}/api/v1{path}?from={from}&to={to}", baton.base);
        let mut samples = Samples::default();
        for run in 0..RUNS + 2 {
            let started = Instant::now();
            let reply = client.get(&url).bearer_auth(token).send().await?;
            let status = reply.status();
            let body = reply.text().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
            if run >= 2 {
                samples.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let p50 = samples.percentile(50.0);
        eprintln!(
            "  GET {path} ({name}), 30 days        p50 {p50:>8.1} ms  max {:>8.1} ms",
            samples.max()
        );
        let mut figure = Figure::new(format!("reports.sqlite.{name}.p50"), p50, "ms");
        figure.baseline = Some("reports.sqlite.raw_read.p50".to_owned());
        figures.push(figure);
    }
    let raw = tokio::task::spawn_blocking(move || raw_read(&file)).await??;
    eprintln!("  the same messages read straight from the file  p50 {raw:>8.1} ms");
    figures.push(Figure::new("reports.sqlite.raw_read.p50", raw, "ms"));
    baton.stop().await?;
    database.drop_pg().await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD` (UTC, the bench org's zone) of a Unix ms instant.
fn day_of(ms: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), to need no date crate here.
    let z = ms.div_euclid(DAY_MS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Each conversation's messages over the last 30 days: the customer writes, its agent answers
/// within minutes to hours, the customer writes again hours later. Written straight into the
/// database (the API would take minutes to report 100,000 messages one at a time).
fn write_messages(file: &str, now: i64) -> anyhow::Result<u64> {
    let mut conn = rusqlite::Connection::open(file)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let conversations: Vec<(String, String, String)> = {
        let mut query = conn.prepare("SELECT id, org_id, chat_id FROM conversations")?;
        let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let agents: Vec<(String, String)> = {
        let mut query = conn.prepare("SELECT email, id FROM agents")?;
        let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut written = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO messages (conversation_id, message_id, org_id, direction, agent_id, sent_at, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )?;
        // A fixed linear congruential sequence: the same data on every run.
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |below: i64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            i64::try_from((seed >> 33) % u64::try_from(below).unwrap_or(1)).unwrap_or(0)
        };
        for (id, org, chat) in &conversations {
            // `91{seat:05}{chat:05}@c.us`: the seat's agent answers it.
            let seat: usize = chat.get(2..7).and_then(|s| s.parse().ok()).unwrap_or(0);
            let email = format!("agent0-{seat}@bench.test");
            let agent = agents
                .iter()
                .find(|(e, _)| *e == email)
                .map(|(_, id)| id.clone());
            let mut at = now - 30 * DAY_MS + next(DAY_MS);
            for k in 0..MESSAGES_PER_CHAT {
                let out = k % 2 == 1;
                at += if out {
                    60_000 + next(180 * 60_000)
                } else {
                    600_000 + next(600 * 60_000)
                };
                let at = at.min(now - 60_000);
                insert.execute(rusqlite::params![
                    id,
                    format!("BENCH{k:02}{id}"),
                    org,
                    if out { "out" } else { "in" },
                    if out { agent.clone() } else { None },
                    at,
                ])?;
                written += 1;
            }
        }
    }
    tx.commit()?;
    Ok(written)
}

/// The floor: every message of the org read once, in conversation and time order, as a report
/// must; the median of [`RUNS`] reads.
fn raw_read(file: &str) -> anyhow::Result<f64> {
    let conn = rusqlite::Connection::open(file)?;
    let mut samples = Samples::default();
    for run in 0..RUNS + 2 {
        let started = Instant::now();
        let mut query = conn.prepare_cached(
            "SELECT m.conversation_id, m.direction, m.agent_id, m.sent_at
             FROM messages m JOIN conversations c ON c.id = m.conversation_id
             ORDER BY m.conversation_id, m.sent_at",
        )?;
        let mut rows = query.query([])?;
        let mut checksum: i64 = 0;
        while let Some(row) = rows.next()? {
            let direction: String = row.get(1)?;
            let agent: Option<String> = row.get(2)?;
            let sent_at: i64 = row.get(3)?;
            checksum = checksum
                .wrapping_add(sent_at)
                .wrapping_add(i64::from(direction == "out") + i64::from(agent.is_some()));
        }
        anyhow::ensure!(checksum != 0, "no messages read");
        if run >= 2 {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    Ok(samples.percentile(50.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_civil_dates() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_795_564_800_000), "2026-11-25");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
    }
}
