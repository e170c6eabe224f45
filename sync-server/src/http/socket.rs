//! The WebSocket under the event stream, upgraded here rather than through axum's
//! `WebSocketUpgrade`, so that the server can close it well.
//!
//! A client that sends a message over the cap is answered with close code 1009, but the rest of
//! its oversized frame is still on the way. Dropping a connection with unread bytes makes the
//! kernel answer with a reset, and a reset can destroy the close frame (and its code) before the
//! client reads it. So after saying goodbye the server lingers: it reads on, and drops, whatever
//! the client still sends, until the client answers the close or leaves (bounded by [`LINGER`]).
//! axum's socket hides the connection underneath, and the frame in the way cannot be parsed, so
//! this module keeps the connection and reads it raw.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::WebSocketStream;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tungstenite::{Message, Utf8Bytes};

/// An accepted event socket.
pub type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// How long a closing socket waits for the client to answer its close (or to leave).
pub const LINGER: Duration = Duration::from_secs(3);

/// A request to upgrade to a WebSocket (HTTP/1.1, version 13).
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

/// Why a request is not a WebSocket upgrade.
#[derive(Debug)]
pub struct NotAnUpgrade(pub &'static str);

impl IntoResponse for NotAnUpgrade {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.0).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotAnUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Upgrade, NotAnUpgrade> {
        if parts.method != Method::GET {
            return Err(NotAnUpgrade("the request must be a GET"));
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(NotAnUpgrade("the Connection header must include 'upgrade'"));
        }
        if !is(&parts.headers, header::UPGRADE, "websocket") {
            return Err(NotAnUpgrade("the Upgrade header must be 'websocket'"));
        }
        if !is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return Err(NotAnUpgrade("Sec-WebSocket-Version must be 13"));
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(NotAnUpgrade("the Sec-WebSocket-Key header is missing"))?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(NotAnUpgrade("this connection cannot be upgraded"))?;
        Ok(Upgrade { key, on_upgrade })
    }
}

fn is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

impl Upgrade {
    /// Answers 101 and, once the connection has switched, hands the socket to `serve`.
    pub fn accept<Serve, Served>(self, config: WebSocketConfig, serve: Serve) -> Response
    where
        Serve: FnOnce(Socket) -> Served + Send + 'static,
        Served: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(err) => {
                    tracing::debug!(error = %err, "a WebSocket upgrade did not complete");
                    return;
                }
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            serve(socket).await;
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Sends the close frame; false if the socket is gone already (then there is nothing to linger
/// for).
pub async fn send_close(socket: &mut Socket, code: u16, reason: &'static str) -> bool {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from_static(reason),
    };
    socket.send(Message::Close(Some(frame))).await.is_ok()
}

/// After [`send_close`]: waits until the client answers the close or leaves (at most
/// [`LINGER`]). `unreadable`: the client's input cannot be parsed any further (a frame over the
/// cap), so it is read raw and dropped.
pub async fn linger(socket: &mut Socket, unreadable: bool) {
    let linger = async {
        if unreadable {
            // On the heap: an array here would sit in every stream's future for its whole life
            // (a future is as large as its largest await), not just while it lingers.
            let mut scratch = vec![0u8; 4096];
            while let Ok(read) = socket.get_mut().read(&mut scratch).await {
                if read == 0 {
                    break;
                }
            }
        } else {
            // The client's close ends the stream (tungstenite answers nothing more after it).
            while let Some(Ok(message)) = socket.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, linger).await;
}
