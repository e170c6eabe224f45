//! Small bridges between Rust values and JavaScript: JSON-compatible conversion, the clock,
//! logging.

use serde::de::DeserializeOwned;
#[cfg(any(
    feature = "overlay",
    feature = "worker",
    feature = "lead",
    feature = "settings"
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
    feature = "settings"
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
    feature = "settings"
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
#[cfg(feature = "worker")]
pub fn log(message: &str) {
    web_sys::console::log_1(&JsValue::from_str(&format!("[baton] {message}")));
}

#[cfg(any(feature = "overlay", feature = "worker", feature = "lead"))]
pub fn warn(message: &str) {
    web_sys::console::warn_1(&JsValue::from_str(&format!("[baton] {message}")));
}
