//! HTTP calls to the sync server from the service worker, with `fetch`.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestInit, Response};

use crate::error::CoreError;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(request: &Request) -> js_sys::Promise;
}

/// A server response: status and body text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `error` and `message` of an error body (or a generic pair if it has none).
    pub fn error(&self) -> (String, String) {
        #[derive(serde::Deserialize)]
        struct Body {
            error: String,
            message: String,
        }
        match crate::js::from_json::<Body>(&self.body) {
            Ok(body) => (body.error, body.message),
            Err(_) => (
                "http_error".to_owned(),
                format!("the server answered {}", self.status),
            ),
        }
    }
}

/// Where requests go and with which token.
#[derive(Debug, Clone)]
pub struct Api {
    /// e.g. `http://127.0.0.1:8080`, without a trailing slash.
    pub server: String,
    pub token: Option<String>,
}

impl Api {
    /// Makes a request to `/api/v1{path}`. Only a network failure is an `Err`; HTTP errors come
    /// back as a [`Reply`] with their status.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, CoreError> {
        let headers = Headers::new()?;
        if let Some(token) = &self.token {
            headers.set("Authorization", &format!("Bearer {token}"))?;
        }
        if let Some(key) = idempotency_key {
            headers.set("Idempotency-Key", key)?;
        }
        let init = RequestInit::new();
        init.set_method(method);
        if let Some(body) = &body {
            headers.set("Content-Type", "application/json")?;
            init.set_body(&JsValue::from_str(body));
        }
        init.set_headers(&headers);
        let url = format!("{}{}{path}", self.server, protocol::API_PREFIX);
        let request = Request::new_with_str_and_init(&url, &init)?;
        let response = JsFuture::from(global_fetch(&request)).await.map_err(|e| {
            // The browser's words ("Failed to fetch") help in DevTools, not in front of an agent.
            crate::js::warn(&format!(
                "{method} {path} did not reach {}: {}",
                self.server,
                CoreError::from(e)
            ));
            CoreError::Network(format!(
                "Can't reach your Baton server at {}. Check the address or ask your admin.",
                self.server
            ))
        })?;
        let response: Response = response.dyn_into()?;
        let text = JsFuture::from(response.text()?)
            .await
            .map_err(|e| CoreError::Network(CoreError::from(e).to_string()))?;
        Ok(Reply {
            status: response.status(),
            body: text.as_string().unwrap_or_default(),
        })
    }

    /// The WebSocket URL of the event stream.
    pub fn events_url(&self, ticket: &str, since: i64) -> String {
        let base = if let Some(rest) = self.server.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.server.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.server.clone()
        };
        format!(
            "{base}{}/events?ticket={ticket}&since={since}",
            protocol::API_PREFIX
        )
    }
}
