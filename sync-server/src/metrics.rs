//! Prometheus metrics, served on a listener of their own (`--metrics-bind`), never on the API's
//! port: browsers and the public never see them. Counters and histograms are kept by hand (the
//! text format is simple), so the server needs no metrics library.
//!
//! What is measured: requests by route, method and status, and their latencies; reply-lock grants
//! and refusals; WebSocket connections open; how late events reach their streams (from the
//! commit's clock to the send); HTTP connections; the database pools; token lookups.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::events::EventHub;
use crate::serve::InFlight;

/// Latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bucket {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bucket, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bucket}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The server's counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (route, method, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latencies.
    latencies: Mutex<BTreeMap<String, Histogram>>,
    lock_grants: AtomicU64,
    lock_refusals: AtomicU64,
    sockets_open: AtomicI64,
    sockets_total: AtomicU64,
    delivery_lag: Mutex<Histogram>,
    events_delivered: AtomicU64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay meaningful whatever a panicking holder was doing.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Metrics {
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        *lock(&self.requests)
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        lock(&self.latencies)
            .entry(route.to_owned())
            .or_default()
            .observe(took.as_secs_f64());
    }

    pub fn lock_granted(&self) {
        self.lock_grants.fetch_add(1, Ordering::Relaxed);
    }

    pub fn lock_refused(&self) {
        self.lock_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// A WebSocket opened; it counts as open until the returned guard is dropped.
    pub fn socket_opened(self: &Arc<Self>) -> SocketGauge {
        self.sockets_open.fetch_add(1, Ordering::Relaxed);
        self.sockets_total.fetch_add(1, Ordering::Relaxed);
        SocketGauge(self.clone())
    }

    /// An event reached a stream `lag_ms` after it was committed (by the database clock).
    pub fn event_delivered(&self, lag_ms: i64) {
        self.events_delivered.fetch_add(1, Ordering::Relaxed);
        lock(&self.delivery_lag).observe(lag_ms.max(0) as f64 / 1000.0);
    }

    /// The text exposition format.
    pub fn render(&self, db: &Db, hub: &EventHub, connections: &InFlight) -> String {
        let mut out = String::new();
        out.push_str("# HELP baton_http_requests_total HTTP requests answered, by route, method and status.\n");
        out.push_str("# TYPE baton_http_requests_total counter\n");
        for ((route, method, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "baton_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP baton_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE baton_http_request_duration_seconds histogram\n");
        for (route, histogram) in lock(&self.latencies).iter() {
            histogram.render(
                &mut out,
                "baton_http_request_duration_seconds",
                &format!("route=\"{route}\""),
            );
        }
        let counters = [
            (
                "baton_lock_grants_total",
                "Reply locks granted (taken, renewed or forced).",
                self.lock_grants.load(Ordering::Relaxed),
            ),
            (
                "baton_lock_refusals_total",
                "Reply lock requests refused because someone else replies.",
                self.lock_refusals.load(Ordering::Relaxed),
            ),
            (
                "baton_websocket_connections_total",
                "Event streams opened.",
                self.sockets_total.load(Ordering::Relaxed),
            ),
            (
                "baton_events_delivered_total",
                "Live events sent to event streams.",
                self.events_delivered.load(Ordering::Relaxed),
            ),
            (
                "baton_token_lookups_total",
                "Logins looked up in the database (token cache misses).",
                hub.tokens().lookups(),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let gauges = [
            (
                "baton_websocket_connections",
                "Event streams open now.",
                self.sockets_open.load(Ordering::Relaxed),
            ),
            (
                "baton_http_connections",
                "HTTP connections open now (event streams included).",
                i64::try_from(connections.now()).unwrap_or(i64::MAX),
            ),
            (
                "baton_token_cache_entries",
                "Logins held in the token cache.",
                i64::try_from(hub.tokens().len()).unwrap_or(i64::MAX),
            ),
            (
                "baton_event_feeds",
                "Orgs with live event streams on this instance.",
                i64::try_from(hub.active_feeds()).unwrap_or(i64::MAX),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out.push_str("# HELP baton_db_pool_connections Database connections, by pool and state.\n");
        out.push_str("# TYPE baton_db_pool_connections gauge\n");
        for (pool, name) in [(db.pool(), "read"), (db.writer(), "write")] {
            let idle = pool.num_idle();
            let size = pool.size() as usize;
            let _ = writeln!(
                out,
                "baton_db_pool_connections{{pool=\"{name}\",state=\"idle\"}} {idle}"
            );
            let _ = writeln!(
                out,
                "baton_db_pool_connections{{pool=\"{name}\",state=\"in_use\"}} {}",
                size.saturating_sub(idle)
            );
            if db.backend() == crate::db::Backend::Postgres {
                // One pool on PostgreSQL: reads and writes share it.
                break;
            }
        }
        out.push_str("# HELP baton_event_delivery_lag_seconds From an event's commit to its send on a stream.\n");
        out.push_str("# TYPE baton_event_delivery_lag_seconds histogram\n");
        lock(&self.delivery_lag).render(&mut out, "baton_event_delivery_lag_seconds", "");
        out
    }
}

/// Counts one open WebSocket while it lives.
#[derive(Debug)]
pub struct SocketGauge(Arc<Metrics>);

impl Drop for SocketGauge {
    fn drop(&mut self) {
        self.0.sockets_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Middleware: counts every request by its route (the pattern, never the concrete path, so chat
/// ids do not become labels), method and status, with its latency.
pub async fn record(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Serves `GET /metrics` on `listener` until shutdown.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    db: Db,
    hub: EventHub,
    connections: Arc<InFlight>,
    shutdown: CancellationToken,
) {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let text = metrics.render(&db, &hub, &connections);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    text,
                )
            }
        }),
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(err) = served {
        tracing::warn!(error = %err, "the metrics listener failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_into_every_bucket_at_or_above() {
        let mut histogram = Histogram::default();
        histogram.observe(0.003);
        histogram.observe(0.2);
        let mut out = String::new();
        histogram.render(&mut out, "x", "route=\"/a\"");
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.0025\"} 0"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.005\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"0.25\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{route=\"/a\",le=\"+Inf\"} 2"),
            "{out}"
        );
        assert!(out.contains("x_count{route=\"/a\"} 2"), "{out}");
    }
}
