//! The isolated world's end of the MAIN-world bridge (`extension/bridge.js`): the private
//! `MessagePort` that `extension/bridge-port.js` took at `document_start`, and its listener.
//! Reports arrive as JSON text and go to the core's [`crate::identity::BridgeView`], which
//! validates them; nothing here trusts them.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, MessagePort};

use crate::identity::bridge::BRIDGE_VERSION;

pub struct WhatsAppBridge {
    port: Option<MessagePort>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

impl WhatsAppBridge {
    /// Listens on `port` (the value `bridge-port.js` kept; anything else means no bridge) and
    /// asks the bridge for everything it knows. `on_report` gets each report's text.
    pub fn connect(port: JsValue, mut on_report: impl FnMut(String) + 'static) -> WhatsAppBridge {
        let Ok(port) = port.dyn_into::<MessagePort>() else {
            return WhatsAppBridge {
                port: None,
                _on_message: None,
            };
        };
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            // Reports are strings; anything else did not come from the bridge.
            if let Some(text) = event.data().as_string() {
                on_report(text);
            }
        });
        port.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        let hello = format!("{{\"v\":{BRIDGE_VERSION},\"type\":\"hello\"}}");
        let _ = port.post_message(&JsValue::from_str(&hello));
        WhatsAppBridge {
            port: Some(port),
            _on_message: Some(on_message),
        }
    }

    /// Whether the private channel to the bridge exists.
    pub fn connected(&self) -> bool {
        self.port.is_some()
    }
}

impl Drop for WhatsAppBridge {
    fn drop(&mut self) {
        if let Some(port) = &self.port {
            port.set_onmessage(None);
        }
    }
}
