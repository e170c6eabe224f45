//! Server configuration: what `sync-server serve` reads from flags and the environment.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderValue;

use crate::http::throttle::{self, Policy};

/// Everything the running server needs to know.
#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite:FILE` (default `sqlite:baton.db` in the working directory) or `postgres://…`.
    pub database_url: String,
    /// Origins allowed to call the API from a browser (CORS) and to open the event WebSocket.
    pub allowed_origins: Vec<String>,
    /// How long a reply lock lasts without a heartbeat.
    pub lock_ttl: Duration,
    /// How long a login token stays valid.
    pub token_ttl: Duration,
    /// How long a WebSocket ticket may wait before it is used.
    pub ticket_ttl: Duration,
    /// A reconnecting client further behind than this many events gets `resync` instead.
    pub max_replay_events: i64,
    /// How often each org's event feed looks for events another instance committed, in case a
    /// notification was lost.
    pub event_poll_interval: Duration,
    /// How often an SQLite server reads the logins other processes (admin commands) ended.
    pub sessions_follow_interval: Duration,
    /// How often the server pings idle WebSockets (and re-checks the client's token).
    pub ws_ping_interval: Duration,
    pub db_max_connections: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Connections served at once (never more than the file-descriptor limit allows).
    pub max_connections: usize,
    /// A client must send a request's headers within this long, or its connection is closed.
    pub header_read_timeout: Duration,
    /// Password checks run at once (each takes ~19 MiB and a core); more logins wait their turn.
    pub max_password_checks: usize,
    /// Host names requests may be addressed to (the `Host` header, without the port). Empty: on a
    /// loopback address only loopback names, so a web page cannot reach the server through DNS
    /// rebinding; on any other address, any host.
    pub allowed_hosts: Vec<String>,
    /// Where to serve Prometheus metrics (`GET /metrics`); never on the API's address.
    pub metrics_bind: Option<std::net::SocketAddr>,
    /// Back-off after failed logins under one email.
    pub login_throttle_per_email: Policy,
    /// Back-off after failed logins from one client address.
    pub login_throttle_per_address: Policy,
}

impl Config {
    /// The defaults for a database URL.
    pub fn new(database_url: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            allowed_origins: vec![protocol::extension_origin(protocol::DEFAULT_EXTENSION_ID)],
            lock_ttl: Duration::from_secs(30),
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            ticket_ttl: Duration::from_secs(30),
            max_replay_events: 5_000,
            event_poll_interval: Duration::from_secs(2),
            sessions_follow_interval: crate::sessions::FOLLOW_INTERVAL,
            ws_ping_interval: Duration::from_secs(20),
            db_max_connections: 10,
            max_body_bytes: 64 * 1024,
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            max_password_checks: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .max(2),
            allowed_hosts: Vec::new(),
            metrics_bind: None,
            login_throttle_per_email: throttle::PER_EMAIL,
            login_throttle_per_address: throttle::PER_ADDRESS,
        }
    }

    /// Checks values that would otherwise fail later, at a worse moment.
    pub fn validate(&self) -> anyhow::Result<()> {
        for origin in &self.allowed_origins {
            validate_origin(origin)?;
        }
        if self.lock_ttl < Duration::from_millis(100) || self.lock_ttl > Duration::from_secs(3600) {
            anyhow::bail!("the lock TTL must be between 100 ms and 1 hour");
        }
        if self.db_max_connections == 0 {
            anyhow::bail!("the database pool needs at least one connection");
        }
        if self.max_connections == 0 {
            anyhow::bail!("the server must accept at least one connection");
        }
        Ok(())
    }
}

/// An origin is `scheme://host[:port]` with nothing after it, exactly as browsers send it.
pub fn validate_origin(origin: &str) -> anyhow::Result<()> {
    let valid = origin
        .split_once("://")
        .map(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
                && !rest.contains('/')
        })
        .unwrap_or(false);
    if !valid || HeaderValue::from_str(origin).is_err() {
        anyhow::bail!(
            "{origin:?} is not an origin; write it like chrome-extension://ID or https://host:port, with no path"
        );
    }
    Ok(())
}

/// Where the server listens by default: loopback only, so nothing is exposed by accident.
pub fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_origin_is_the_extension() {
        let config = Config::new("sqlite:x.db");
        assert_eq!(
            config.allowed_origins,
            vec!["chrome-extension://jgbjgnfajdikapkdoohjnaobmijkgmmj".to_owned()]
        );
        config.validate().unwrap();
    }

    #[test]
    fn origins_are_checked() {
        validate_origin("http://localhost:3000").unwrap();
        assert!(validate_origin("http://localhost:3000/").is_err());
        assert!(validate_origin("localhost").is_err());
        assert!(validate_origin("chrome-extension://").is_err());
    }
}
