//! Accepting HTTP connections: at most `max_connections` at once, each told its client's address,
//! with a deadline for the request headers, and a graceful shutdown.
//!
//! `axum::serve` has neither a header deadline nor a connection cap: a client that sends half a
//! request kept its connection for ever, and enough of them used up the process's file
//! descriptors, after which nothing — not `/healthz`, not the database — could open a file. Here
//! the cap stays below the descriptor limit (raised to the hard limit at start), so the server
//! keeps descriptors for its database and its own work; a client over the cap waits in the
//! listen backlog until a connection closes.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// File descriptors kept back from connections: the database, its journal, the PostgreSQL
/// listener, logs.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many of something are under way now (connections, password checks), the most there ever
/// were at once, and how often the next one had to wait because the limit was reached.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
    waits: AtomicUsize,
}

impl InFlight {
    pub fn now(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    pub fn waits(&self) -> usize {
        self.waits.load(Ordering::Relaxed)
    }

    /// The limit is reached: the next one waits for a turn.
    pub fn note_wait(&self) {
        self.waits.fetch_add(1, Ordering::Relaxed);
    }

    /// One more under way until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlightGuard {
        let now = self.now.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        InFlightGuard(self.clone())
    }
}

/// Counts one under way in an [`InFlight`] while it lives.
#[derive(Debug)]
pub struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's place under the cap. Every request carries a clone (as an extension), so an
/// upgraded connection — an event stream, which outlives its HTTP exchange — keeps its place, and
/// the count of open connections, for as long as it is open.
#[derive(Debug, Clone)]
pub struct ConnectionHold(#[allow(dead_code)] Arc<(OwnedSemaphorePermit, InFlightGuard)>);

/// How many connections the process can afford: `wanted`, but never more than its file-descriptor
/// limit allows (after raising the soft limit to the hard one, where the system lets it).
pub fn affordable_connections(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(hard)) = (limit.current, limit.maximum) {
        if current < hard {
            limit.current = Some(hard.min(1 << 20));
            if setrlimit(Resource::Nofile, limit).is_err() {
                limit.current = Some(current);
            }
        }
    }
    match limit.current {
        Some(descriptors) => {
            let spare = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(1);
            wanted.min(usize::try_from(spare).unwrap_or(usize::MAX))
        }
        None => wanted,
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_connections: usize,
    header_read_timeout: Duration,
    count: Arc<InFlight>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        if slots.available_permits() == 0 {
            count.note_wait();
        }
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or a connection reset before accept: wait a moment
                    // rather than spin, and keep serving.
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // Without it, Nagle's algorithm holds a small frame back while the previous one is
        // unacknowledged, and the client delays its acknowledgement (40 ms on Linux): a stream
        // sent events 20 ms apart delivered them ~40 ms late.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        let hold = ConnectionHold(Arc::new((slot, count.enter())));
        let app = app.clone();
        let request_hold = hold.clone();
        let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            request.extensions_mut().insert(request_hold.clone());
            app.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away mid-request is its own business.
            let _ = connection.await;
            drop(hold);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
