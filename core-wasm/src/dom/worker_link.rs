//! The tab's line to the service worker: one `chrome.runtime` port, reconnected when the worker
//! restarts. Callbacks are owned here and go away with the link.

use wasm_bindgen::prelude::*;

use crate::chrome::{runtime_connect, Port};
use crate::js::{to_js, warn};
use crate::messages::ToWorker;

pub struct WorkerLink {
    port: Option<Port>,
    _on_message: Option<Closure<dyn FnMut(JsValue)>>,
    _on_disconnect: Option<Closure<dyn FnMut(JsValue)>>,
    /// The extension was reloaded or removed: this page's content script can never talk to it
    /// again.
    pub invalidated: bool,
}

impl WorkerLink {
    pub fn new() -> WorkerLink {
        WorkerLink {
            port: None,
            _on_message: None,
            _on_disconnect: None,
            invalidated: false,
        }
    }

    pub fn connected(&self) -> bool {
        self.port.is_some()
    }

    /// Opens the port; `on_message` gets each message, `on_disconnect` the loss of the port.
    pub fn connect(
        &mut self,
        on_message: impl FnMut(JsValue) + 'static,
        on_disconnect: impl FnMut(JsValue) + 'static,
    ) {
        let info = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&info, &"name".into(), &"baton-tab".into());
        let port = match runtime_connect(&info) {
            Ok(port) => port,
            Err(err) => {
                warn(&format!(
                    "cannot reach the extension: {}",
                    crate::error::CoreError::from(err)
                ));
                self.invalidated = true;
                return;
            }
        };
        let on_message = Closure::<dyn FnMut(JsValue)>::new(on_message);
        let on_disconnect = Closure::<dyn FnMut(JsValue)>::new(on_disconnect);
        port.on_message()
            .add_listener(on_message.as_ref().unchecked_ref());
        port.on_disconnect()
            .add_listener(on_disconnect.as_ref().unchecked_ref());
        self.port = Some(port);
        self._on_message = Some(on_message);
        self._on_disconnect = Some(on_disconnect);
    }

    /// Forgets the port after it disconnected.
    pub fn lost(&mut self) {
        self.detach();
    }

    fn detach(&mut self) {
        if let Some(port) = self.port.take() {
            if let Some(listener) = &self._on_message {
                port.on_message()
                    .remove_listener(listener.as_ref().unchecked_ref());
            }
            if let Some(listener) = &self._on_disconnect {
                port.on_disconnect()
                    .remove_listener(listener.as_ref().unchecked_ref());
            }
            port.disconnect();
        }
        self._on_message = None;
        self._on_disconnect = None;
    }

    /// Sends a message made field by field (a relayed request); false if there is no port.
    pub fn send_value(&self, message: &JsValue) -> bool {
        self.port
            .as_ref()
            .is_some_and(|port| port.post_message(message).is_ok())
    }

    /// Sends a message; false if there is no port (the caller reports the failure).
    pub fn send(&self, message: &ToWorker) -> bool {
        let Some(port) = &self.port else {
            return false;
        };
        match to_js(message) {
            Ok(value) => port.post_message(&value).is_ok(),
            Err(err) => {
                warn(&format!("cannot encode a message for the worker: {err}"));
                false
            }
        }
    }
}

impl Drop for WorkerLink {
    fn drop(&mut self) {
        self.detach();
    }
}
