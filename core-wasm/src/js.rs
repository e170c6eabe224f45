//! Small bridges between Rust values and JavaScript: JSON-compatible conversion, the clock,
//! logging.

use serde::de::DeserializeOwned;
#[cfg(any(
    feature = "overlay",
    feature = "worker",
    feature = "lead",
    feature = "settings",
    feature = "seat"
))]
use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::CoreError;

/// A plain JSON-compatible JS value (objects, not Maps; `null`, not `undefined`), as
/// `chrome.runtime` messaging and `JSON.stringify` need.
#[cfg(any(
    feature = "overlay",
    feature = "worker",
    feature = "lead",
    feature = "settings",
    feature = "seat"
))]
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, CoreError> {
    Ok(value.serialize(&serde_wasm_bindgen::Serializer::json_compatible())?)
}

pub fn from_js<T: DeserializeOwned>(value: JsValue) -> Result<T, CoreError> {
    Ok(serde_wasm_bindgen::from_value(value)?)
}

/// JSON text of a value.
#[cfg(any(
    feature = "overlay",
    feature = "worker",
    feature = "lead",
    feature = "settings",
    feature = "seat"
))]
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, CoreError> {
    js_sys::JSON::stringify(&to_js(value)?)
        .map(String::from)
        .map_err(CoreError::from)
}

/// Parses JSON text into a value.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, CoreError> {
    from_js(js_sys::JSON::parse(text)?)
}

/// The browser's clock, in milliseconds since the epoch.
#[cfg(any(feature = "overlay", feature = "worker"))]
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// Logs to the console with a prefix, for diagnostics in DevTools.
#[cfg(any(feature = "worker", feature = "seat"))]
pub fn log(message: &str) {
    web_sys::console::log_1(&JsValue::from_str(&format!("[baton] {message}")));
}

#[cfg(any(feature = "overlay", feature = "worker", feature = "lead"))]
pub fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(&format!("[baton] {message}")));
}

/// A tab's relayed request as the worker reads it: `{relay: id, method, path, body?}` (see
/// [`crate::calls::relay_allowed`]).
#[cfg(any(
    feature = "overlay",
    feature = "lead",
    feature = "settings",
    feature = "seat"
))]
pub fn relay_request(id: u32, method: &str, path: &str, body: Option<&str>) -> JsValue {
    let message = js_sys::Object::new();
    let mut fields = vec![
        ("relay", JsValue::from(id)),
        ("method", JsValue::from_str(method)),
        ("path", JsValue::from_str(path)),
    ];
    if let Some(body) = body {
        fields.push(("body", JsValue::from_str(body)));
    }
    for (name, value) in fields {
        let _ = js_sys::Reflect::set(&message, &JsValue::from_str(name), &value);
    }
    message.into()
}

/// The worker's answer to a relayed request, if the message is one: `(id, status, body)`
/// (status 0: not sent, the body says why).
#[cfg(any(
    feature = "overlay",
    feature = "lead",
    feature = "settings",
    feature = "seat"
))]
pub fn relay_answer(message: &JsValue) -> Option<(u32, u16, String)> {
    let get = |name: &str| js_sys::Reflect::get(message, &JsValue::from_str(name)).ok();
    let id = get("relay")?.as_f64()? as u32;
    let status = get("status")
        .and_then(|s| s.as_f64())
        .map_or(0, |s| s as u16);
    let body = get("body").and_then(|b| b.as_string()).unwrap_or_default();
    Some((id, status, body))
}
