//! Requests a tab makes as they are — the lead's board and settings, the stats panel, the
//! template picker, a chat's history: `{relay: id, method, path, body?}` in, `{relay: id,
//! status, body}` out (status 0: not sent, the body says why). The tab spells the route and reads
//! the answer, so the worker carries no code per endpoint; the messages are read field by field,
//! without a decoder. Login and the event stream stay the worker's own ([`relay_allowed`]).

use std::rc::Rc;

use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use super::Core;
use crate::calls::relay_allowed;

fn field(message: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(message, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// The request id if the message is a relayed request.
pub(super) fn request_id(message: &JsValue) -> Option<u32> {
    js_sys::Reflect::get(message, &JsValue::from_str("relay"))
        .ok()
        .and_then(|v| v.as_f64())
        .map(|id| id as u32)
}

impl Core {
    /// Makes the tab's request and posts the answer back to its port.
    pub(super) fn relay_request(core: &Rc<Core>, port: u32, id: u32, message: &JsValue) {
        let method = field(message, "method").unwrap_or_else(|| "GET".to_owned());
        let path = field(message, "path").unwrap_or_default();
        let body = field(message, "body");
        let core = core.clone();
        spawn_local(async move {
            let (status, text) = match core.api() {
                None => (
                    0,
                    "Log in to Baton from the toolbar button first.".to_owned(),
                ),
                Some(_) if !relay_allowed(&method, &path) => {
                    (0, "Not a request a tab may make.".to_owned())
                }
                Some(api) => match api.call(&method, &path, body, None).await {
                    Ok(reply) => (reply.status, reply.body),
                    Err(err) => (0, err.to_string()),
                },
            };
            let answer = js_sys::Object::new();
            for (name, value) in [
                ("relay", JsValue::from(id)),
                ("status", JsValue::from(status)),
                ("body", JsValue::from_str(&text)),
            ] {
                let _ = js_sys::Reflect::set(&answer, &JsValue::from_str(name), &value);
            }
            core.host.post_to_port(port, &answer);
        });
    }
}
