//! The HTTP API: one module per resource, each with its own router, merged here under `/api/v1`.

mod agent_routing;
mod agents;
pub mod auth;
mod board;
pub(crate) mod business_hours;
mod chat_requests;
mod conversations;
pub mod extract;
mod flows;
mod handoffs;
mod health;
pub mod hosts;
pub mod idempotency;
pub mod live;
mod locks;
mod messages;
mod notes;
mod page;
mod pipelines;
mod queue;
pub mod reminders;
mod reports;
mod responder;
pub(crate) mod routing_rules;
mod socket;
pub(crate) mod teams;
mod templates;
pub mod throttle;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::IntoResponse;
use axum::routing::{self, MethodRouter};
use axum::Router;
use protocol::codes;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};

use crate::config::Config;
use crate::db::Db;
pub use crate::error;
use crate::events::EventHub;
use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub hub: EventHub,
    /// Wakes the reminder scheduler when a reminder is created or snoozed.
    pub reminder_wake: Arc<Notify>,
    /// Cancelled when the server shuts down; long-lived tasks and sockets watch it.
    pub shutdown: CancellationToken,
    /// Open event sockets per login.
    pub sockets: Arc<live::SocketCounts>,
    /// Login throttling and the bound on password checks.
    pub logins: Arc<auth::LoginGuard>,
    /// Which `Host` names requests may be addressed to.
    pub hosts: Arc<hosts::AllowedHosts>,
    /// Counters for `/metrics` (served on a listener of its own).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// This instance's event streams per agent, for presence.
    pub presence: Arc<crate::presence::Registry>,
    /// Routing's clock, and the bell that wakes its timer.
    pub routing: Arc<crate::routing::clock::RoutingClock>,
}

/// A set of routes, and the table of them (method and path) that [`route_table`] gives out.
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, &'static str)>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    fn add(mut self, method: Method, path: &'static str, route: MethodRouter<AppState>) -> Routes {
        // A second method on a path already routed is merged into its method router.
        self.router = self.router.route(path, route);
        self.table.push((method, path));
        self
    }

    pub fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Routes {
        self.add(Method::GET, path, routing::get(handler))
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Routes {
        self.add(Method::POST, path, routing::post(handler))
    }

    pub fn put<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Routes {
        self.add(Method::PUT, path, routing::put(handler))
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
    ) -> Routes {
        self.add(Method::DELETE, path, routing::delete(handler))
    }

    fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

/// The API's routes (under [`protocol::API_PREFIX`]) and the probes (at the root).
fn routes() -> (Routes, Routes) {
    let api = Routes::new()
        .merge(auth::router())
        .merge(agents::router())
        .merge(agent_routing::router())
        .merge(teams::router())
        .merge(business_hours::router())
        .merge(routing_rules::router())
        .merge(queue::router())
        .merge(templates::router())
        .merge(flows::router())
        .merge(responder::router())
        .merge(conversations::router())
        .merge(locks::router())
        .merge(handoffs::router())
        .merge(chat_requests::router())
        .merge(notes::router())
        .merge(reminders::router())
        .merge(pipelines::router())
        .merge(messages::router())
        .merge(reports::router())
        .merge(board::router())
        .merge(live::router());
    (api, health::router())
}

/// Every route the server answers, as `(method, full path)`. The authorization test walks it, so
/// no endpoint can be added without its row in the authorization matrix.
pub fn route_table() -> Vec<(Method, String)> {
    let (api, health) = routes();
    api.table
        .into_iter()
        .map(|(method, path)| (method, format!("{}{path}", protocol::API_PREFIX)))
        .chain(
            health
                .table
                .into_iter()
                .map(|(method, path)| (method, path.to_owned())),
        )
        .collect()
}

/// The whole application: API routes, probes, CORS, body limit and JSON fallbacks.
pub fn router(state: AppState) -> Router {
    let (api, health) = routes();
    Router::new()
        .nest(protocol::API_PREFIX, api.router)
        .merge(health.router)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Applied to each route after routing, so the route's pattern is known.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::record,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(cors(&state.config))
        // Answers are per agent and never for a cache; nor for content sniffing.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hosts::check_host,
        ))
        // A 5xx is logged once, by `ApiError` (a 500 at ERROR with its cause, a 503 — busy,
        // database restarting — at WARN); the trace layer's own line would say ERROR for both.
        .layer(
            TraceLayer::new_for_http()
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .with_state(state)
}

fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([HeaderName::from_static("idempotent-replayed")])
        .max_age(Duration::from_secs(3600))
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound("route")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::Rejected {
        status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
        code: codes::METHOD_NOT_ALLOWED,
        message: "this route does not accept that HTTP method".to_owned(),
    }
}
