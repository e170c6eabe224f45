//! Baton's sync server: the single source of truth for a team working one WhatsApp number.
//!
//! Layout:
//! - [`cli`]: the `sync-server` command (serve, demo, admin);
//! - [`config`]: what `serve` can be told;
//! - [`db`]: the SQLite/PostgreSQL pool and per-org write transactions that record events;
//! - [`http`]: the JSON API, one module per resource, and the live event WebSocket;
//! - [`events`]: per-org feeds that push committed events to WebSockets on every instance;
//! - [`admin`] and [`auth`]: provisioning, passwords and tokens.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod presence;
pub mod reports;
pub mod responder;
pub mod routing;
pub mod serve;
pub mod sessions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::Config;
use db::{Backend, Db};
use events::EventHub;
pub use http::live::{MAX_CLIENT_MESSAGE, MAX_SOCKETS_PER_TOKEN};
use http::AppState;

/// How often expired idempotency records and WebSocket tickets are purged.
const JANITOR_INTERVAL: Duration = Duration::from_secs(600);
/// How often routing looks at queues even unwoken: a shift may have started.
const ROUTING_TICK: Duration = Duration::from_secs(15);

/// A running server: the HTTP listener plus its background tasks.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    db: Db,
    shutdown: CancellationToken,
    http: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
    connections: Arc<serve::InFlight>,
    logins: Arc<http::auth::LoginGuard>,
    hub: EventHub,
    routing: Arc<routing::clock::RoutingClock>,
}

impl Server {
    /// Opens the database (applying migrations) and starts serving on `listener`.
    pub async fn start(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
        config.validate()?;
        let db = Db::connect(&config.database_url, config.db_max_connections).await?;
        Server::start_with_db(config, db, listener)
    }

    /// Starts serving with an already opened database.
    pub fn start_with_db(config: Config, db: Db, listener: TcpListener) -> anyhow::Result<Server> {
        let addr = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let shutdown = CancellationToken::new();
        let hub = EventHub::new(db.clone(), config.event_poll_interval, shutdown.clone());
        let metrics = Arc::new(metrics::Metrics::default());
        let metrics_listener = match config.metrics_bind {
            Some(address) => {
                let listener = std::net::TcpListener::bind(address)
                    .with_context(|| format!("cannot listen for metrics on {address}"))?;
                listener.set_nonblocking(true)?;
                Some(TcpListener::from_std(listener)?)
            }
            None => None,
        };
        let state = AppState {
            metrics: metrics.clone(),
            db: db.clone(),
            hub: hub.clone(),
            reminder_wake: Arc::new(Notify::new()),
            shutdown: shutdown.clone(),
            sockets: Arc::default(),
            logins: Arc::new(http::auth::LoginGuard::new(&config)),
            hosts: Arc::new(http::hosts::AllowedHosts::for_listener(
                &config.allowed_hosts,
                addr,
            )),
            presence: Arc::default(),
            routing: Arc::default(),
            config: Arc::new(config),
        };
        let routing = state.routing.clone();
        let mut background = vec![
            tokio::spawn(http::reminders::run_scheduler(state.clone())),
            tokio::spawn(run_janitor(db.clone(), shutdown.clone())),
            tokio::spawn(presence::run_keeper(state.clone())),
            tokio::spawn(presence::run_writer(state.clone())),
            tokio::spawn(routing::run::run_timer(state.clone(), ROUTING_TICK)),
        ];
        match db.backend() {
            Backend::Postgres => background.push(tokio::spawn(events::listener::run(
                db.url().to_owned(),
                hub.clone(),
                shutdown.clone(),
            ))),
            Backend::Sqlite => background.push(tokio::spawn(sessions::follow(
                db.clone(),
                hub.clone(),
                state.config.sessions_follow_interval,
                shutdown.clone(),
            ))),
        }
        let max_connections = serve::affordable_connections(state.config.max_connections);
        let header_read_timeout = state.config.header_read_timeout;
        let logins = state.logins.clone();
        let app = http::router(state);
        let connections = Arc::new(serve::InFlight::default());
        if let Some(listener) = metrics_listener {
            background.push(tokio::spawn(metrics::serve(
                listener,
                metrics,
                db.clone(),
                hub.clone(),
                connections.clone(),
                shutdown.clone(),
            )));
        }
        let http = tokio::spawn(serve::serve(
            listener,
            app,
            max_connections,
            header_read_timeout,
            connections.clone(),
            shutdown.clone(),
        ));
        Ok(Server {
            addr,
            db,
            shutdown,
            http,
            background,
            connections,
            logins,
            hub,
            routing,
        })
    }

    /// Routing's clock: tests move it to step through shifts and no-reply limits.
    pub fn routing_clock(&self) -> &routing::clock::RoutingClock {
        &self.routing
    }

    /// This instance's cache of live logins.
    pub fn tokens(&self) -> &sessions::TokenCache {
        self.hub.tokens()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// HTTP connections open now and at most so far.
    pub fn connections(&self) -> &serve::InFlight {
        &self.connections
    }

    /// Password checks under way now and at most so far.
    pub fn password_checks(&self) -> &serve::InFlight {
        &self.logins.checking
    }

    /// Stops accepting requests, closes WebSockets, waits for requests in flight and background
    /// tasks, and closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let served = self.http.await.context("the HTTP task panicked")?;
        for task in self.background {
            task.await.context("a background task panicked")?;
        }
        self.db.close().await;
        served.context("the HTTP server failed")
    }
}

async fn run_janitor(db: Db, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(JANITOR_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(err) = http::idempotency::purge_expired(&db).await {
            tracing::warn!(error = %err, "cannot purge old idempotency keys");
        }
        let purges = [
            (
                "DELETE FROM event_tickets WHERE expires_at < now_ms() - 3600000",
                "cannot purge old event tickets",
            ),
            // Every instance has long since applied a change this old.
            (
                "DELETE FROM auth_changes WHERE at < now_ms() - 86400000",
                "cannot purge old session changes",
            ),
        ];
        for (statement, failure) in purges {
            let purged = match db.write_conn().await {
                Ok(mut conn) => sqlx::query(&db.sql(statement)).execute(&mut *conn).await,
                Err(err) => Err(err),
            };
            if let Err(err) = purged {
                tracing::warn!(error = %err, "{failure}");
            }
        }
    }
}
