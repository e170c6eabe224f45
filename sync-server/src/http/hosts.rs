//! Which `Host` a request may be addressed to. A server on a loopback address is meant for this
//! machine only; without this check a web page could still reach it by DNS rebinding (its own
//! domain re-pointed at 127.0.0.1), since browsers then treat the server as that page's origin.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use protocol::codes;

use super::error::ApiError;
use super::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    Any,
    /// `localhost` and loopback addresses.
    Loopback,
    /// These names (lower case), as configured.
    Only(Vec<String>),
}

impl AllowedHosts {
    /// The policy for a server listening on `addr` with `configured` names.
    pub fn for_listener(configured: &[String], addr: SocketAddr) -> AllowedHosts {
        if !configured.is_empty() {
            AllowedHosts::Only(configured.iter().map(|h| h.to_ascii_lowercase()).collect())
        } else if addr.ip().is_loopback() {
            AllowedHosts::Loopback
        } else {
            AllowedHosts::Any
        }
    }

    /// Whether a request with this `Host` header is for us.
    pub fn allows(&self, host_header: Option<&str>) -> bool {
        let Some(host) = host_header.map(host_name) else {
            return matches!(self, AllowedHosts::Any);
        };
        match self {
            AllowedHosts::Any => true,
            AllowedHosts::Loopback => is_loopback_name(&host),
            AllowedHosts::Only(names) => names.contains(&host) || is_loopback_name(&host),
        }
    }
}

/// The host of a `Host` header without its port, lower case (`[::1]:8080` → `::1`).
fn host_name(header: &str) -> String {
    let header = header.trim();
    let host = match header.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => match header.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => header,
        },
    };
    host.to_ascii_lowercase()
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests addressed to a host the server does not answer for.
pub async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if state.hosts.allows(host) {
        next.run(request).await
    } else {
        ApiError::Forbidden {
            code: codes::HOST_NOT_ALLOWED,
            message: "this server does not answer for that host name; add it with --allowed-host"
                .to_owned(),
            owner: None,
        }
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_loopback_server_answers_only_loopback_names() {
        let policy = AllowedHosts::for_listener(&[], addr("127.0.0.1:8080"));
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert!(policy.allows(Some(ok)), "{ok}");
        }
        for refused in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "10.0.0.5:8080",
            "localhost.evil.example",
        ] {
            assert!(!policy.allows(Some(refused)), "{refused}");
        }
        assert!(!policy.allows(None));
    }

    #[test]
    fn named_hosts_and_open_servers() {
        let named = AllowedHosts::for_listener(&["Baton.Example.com".into()], addr("0.0.0.0:443"));
        assert!(named.allows(Some("baton.example.com")));
        assert!(named.allows(Some("baton.example.com:8443")));
        assert!(
            named.allows(Some("127.0.0.1:8080")),
            "local checks still work"
        );
        assert!(!named.allows(Some("other.example.com")));
        let open = AllowedHosts::for_listener(&[], addr("0.0.0.0:8080"));
        assert!(open.allows(Some("anything.example")));
        assert!(open.allows(None));
    }
}
