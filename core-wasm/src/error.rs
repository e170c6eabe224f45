//! The core's error type for browser code.

use wasm_bindgen::JsValue;

/// What can go wrong in browser code.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A JavaScript API threw.
    #[error("{0}")]
    Js(String),
    /// Data did not have the expected shape.
    #[error("unexpected data: {0}")]
    Decode(String),
    /// The server could not be reached.
    #[error("{0}")]
    Network(String),
}

impl From<JsValue> for CoreError {
    fn from(value: JsValue) -> CoreError {
        let text = js_sys::Reflect::get(&value, &JsValue::from_str("message"))
            .ok()
            .and_then(|m| m.as_string())
            .or_else(|| value.as_string())
            .unwrap_or_else(|| format!("{value:?}"));
        CoreError::Js(text)
    }
}

impl From<serde_wasm_bindgen::Error> for CoreError {
    fn from(err: serde_wasm_bindgen::Error) -> CoreError {
        CoreError::Decode(err.to_string())
    }
}

impl From<CoreError> for JsValue {
    fn from(err: CoreError) -> JsValue {
        js_sys::Error::new(&err.to_string()).into()
    }
}
