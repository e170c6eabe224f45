//! This instance's cache of live logins, so a request costs no token lookup in the database.
//!
//! Correctness rests on invalidation reaching every instance at once:
//! - every revocation (logout, logging out everywhere, deactivation, a new password) is recorded by
//!   [`crate::db::WriteTx::sessions_ended`] in the same transaction, as a row of `auth_changes`
//!   and, on PostgreSQL, a notification on [`SESSIONS_CHANNEL`];
//! - the instance that commits it forgets the logins as soon as the commit returns, before it
//!   answers;
//! - other instances forget them when the notification arrives (after a gap in their LISTEN
//!   connection they forget everything), and on SQLite — where the only other writers are admin
//!   commands on the same file — by following `auth_changes`.
//!
//! A lookup that raced a revocation (read the token as live just before the revocation committed)
//! must not put the login back: entries are only stored if no invalidation happened since the
//! lookup began ([`TokenCache::generation`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::Row;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::events::EventHub;
use crate::http::extract::AuthAgent;

/// The PostgreSQL NOTIFY channel for ended sessions; payloads are `a:AGENT_ID` or `t:TOKEN_ID`.
pub const SESSIONS_CHANNEL: &str = "baton_sessions";

/// Entries are checked against the database again after this long, whatever happened: a bound on
/// the harm of any invalidation path we did not foresee.
const MAX_AGE: Duration = Duration::from_secs(300);

/// At most this many logins are cached; beyond it the cache starts over.
const MAX_ENTRIES: usize = 50_000;

/// What ended: every login of an agent, or one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Agent(String),
    Token(String),
    /// Anything may have ended (notifications were missed): check again.
    Unknown,
}

impl Ended {
    pub fn payload(&self) -> String {
        match self {
            Ended::Agent(id) => format!("a:{id}"),
            Ended::Token(id) => format!("t:{id}"),
            Ended::Unknown => "?".to_owned(),
        }
    }

    /// Whether this ends `login` for sure (`Unknown` only may have).
    pub fn ends(&self, login: &AuthAgent) -> bool {
        match self {
            Ended::Agent(id) => &login.id == id,
            Ended::Token(id) => &login.token_id == id,
            Ended::Unknown => true,
        }
    }

    pub fn from_payload(payload: &str) -> Option<Ended> {
        match payload.split_once(':')? {
            ("a", id) => Some(Ended::Agent(id.to_owned())),
            ("t", id) => Some(Ended::Token(id.to_owned())),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Entry {
    agent: AuthAgent,
    cached_at: Instant,
}

#[derive(Debug)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
    generation: AtomicU64,
    /// Tokens looked up in the database (cache misses), for tests and metrics.
    lookups: AtomicU64,
    /// Every ending, for this instance's open event streams (which close when theirs ends).
    ended: tokio::sync::broadcast::Sender<Ended>,
}

impl Default for TokenCache {
    fn default() -> TokenCache {
        TokenCache {
            entries: Mutex::default(),
            generation: AtomicU64::default(),
            lookups: AtomicU64::default(),
            ended: tokio::sync::broadcast::channel(256).0,
        }
    }
}

impl TokenCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map is still a valid map: entries are inserted and removed whole.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The login of a token (by its stored hash), if cached and still valid at `now_ms`.
    pub fn get(&self, token_hash: &str, now_ms: i64) -> Option<AuthAgent> {
        let entries = self.entries();
        let entry = entries.get(token_hash)?;
        (entry.agent.token_expires_at > now_ms && entry.cached_at.elapsed() < MAX_AGE)
            .then(|| entry.agent.clone())
    }

    /// Read before looking a token up in the database; pass it to [`TokenCache::put`]. Counts the
    /// lookup.
    pub fn generation(&self) -> u64 {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.generation.load(Ordering::Acquire)
    }

    /// How many times a token was looked up in the database.
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Caches a login read from the database, unless something ended since `generation`.
    pub fn put(&self, token_hash: String, agent: AuthAgent, generation: u64) {
        let mut entries = self.entries();
        // Checked under the lock that `forget` also takes, so a forget cannot slip in between.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            token_hash,
            Entry {
                agent,
                cached_at: Instant::now(),
            },
        );
    }

    /// Forgets the logins that ended.
    pub fn forget(&self, ended: &Ended) {
        self.drop_where(|agent| ended.ends(agent));
        // Nobody listening is fine: no event stream is open.
        let _ = self.ended.send(ended.clone());
    }

    /// Forgets the agent's cached logins without telling their streams (which check their own
    /// login before closing): for an event saying the agent's sessions ended, which can reach
    /// this instance's feed, and close a stream, before the change itself is heard (`follow`'s
    /// next read on SQLite). A revoked token must not pass a request after its stream closed.
    pub fn forget_logins_of(&self, agent_id: &str) {
        self.drop_where(|agent| agent.id == agent_id);
    }

    /// Drops the cached logins `ends` picks, and makes lookups already under way not store theirs.
    fn drop_where(&self, ends: impl Fn(&AuthAgent) -> bool) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, entry| !ends(&entry.agent));
    }

    /// Forgets everything (after notifications may have been missed).
    pub fn clear(&self) {
        let mut entries = self.entries();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
        drop(entries);
        let _ = self.ended.send(Ended::Unknown);
    }

    /// Endings from now on, for an event stream to watch its own.
    pub fn endings(&self) -> tokio::sync::broadcast::Receiver<Ended> {
        self.ended.subscribe()
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How often an SQLite server looks for logins that admin commands ended (the only other writers
/// of its file), by default. One indexed read that usually finds nothing.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Follows `auth_changes` until shutdown, forgetting the logins other processes end. For SQLite;
/// PostgreSQL instances hear of them by notification ([`crate::events::listener`]).
pub async fn follow(db: Db, hub: EventHub, interval: Duration, shutdown: CancellationToken) {
    let mut last_seq: Option<i64> = None;
    loop {
        match read_changes(&db, last_seq).await {
            Ok((changes, latest)) => {
                for ended in changes {
                    hub.tokens().forget(&ended);
                }
                last_seq = Some(latest);
            }
            Err(err) => {
                // Without the changes we cannot know what ended: trust nothing cached.
                hub.tokens().clear();
                tracing::warn!(error = %err, "cannot read ended sessions; retrying");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// The changes after `after` (none on the first call, which only finds where to start) and the
/// sequence number to continue from.
async fn read_changes(db: &Db, after: Option<i64>) -> Result<(Vec<Ended>, i64), sqlx::Error> {
    let Some(after) = after else {
        let latest: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM auth_changes")
            .fetch_one(db.pool())
            .await?;
        return Ok((Vec::new(), latest));
    };
    let rows = sqlx::query(
        "SELECT seq, agent_id, token_id FROM auth_changes WHERE seq > $1 ORDER BY seq LIMIT 1000",
    )
    .bind(after)
    .fetch_all(db.pool())
    .await?;
    let mut latest = after;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        latest = row.try_get("seq")?;
        let token: Option<String> = row.try_get("token_id")?;
        changes.push(match token {
            Some(token) => Ended::Token(token),
            None => Ended::Agent(row.try_get("agent_id")?),
        });
    }
    Ok((changes, latest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::Role;

    fn login(agent: &str, token: &str) -> AuthAgent {
        AuthAgent {
            id: agent.into(),
            org_id: "o".into(),
            name: agent.into(),
            role: Role::Agent,
            token_id: token.into(),
            token_expires_at: 1_000,
        }
    }

    #[test]
    fn cached_logins_end_with_their_token_or_their_agent() {
        let cache = TokenCache::default();
        for (hash, agent, token) in [("h1", "a1", "t1"), ("h2", "a1", "t2"), ("h3", "a2", "t3")] {
            cache.put(hash.into(), login(agent, token), cache.generation());
        }
        assert_eq!(cache.get("h1", 999).map(|a| a.token_id), Some("t1".into()));
        assert_eq!(cache.get("h1", 1_000), None, "expired");
        cache.forget(&Ended::Token("t1".into()));
        assert_eq!(cache.get("h1", 0), None);
        assert!(cache.get("h2", 0).is_some());
        cache.forget(&Ended::Agent("a1".into()));
        assert_eq!(cache.get("h2", 0), None);
        assert!(cache.get("h3", 0).is_some());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn a_lookup_that_raced_a_revocation_is_not_cached() {
        let cache = TokenCache::default();
        let before = cache.generation();
        // The database said "live"; meanwhile the agent was logged out everywhere.
        cache.forget(&Ended::Agent("a1".into()));
        cache.put("h1".into(), login("a1", "t1"), before);
        assert_eq!(cache.get("h1", 0), None);
    }

    #[test]
    fn payloads_round_trip() {
        for ended in [Ended::Agent("x".into()), Ended::Token("y:z".into())] {
            assert_eq!(Ended::from_payload(&ended.payload()), Some(ended));
        }
        assert_eq!(Ended::from_payload("q:1"), None);
        assert_eq!(Ended::from_payload("nothing"), None);
    }
}
