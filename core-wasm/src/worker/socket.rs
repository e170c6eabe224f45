//! The event WebSocket, owning its callbacks: dropping a [`Socket`] detaches them and closes it.

use wasm_bindgen::prelude::*;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use crate::error::CoreError;

/// What a socket reports.
pub enum SocketEvent {
    Text(String),
    Closed { code: u16, reason: String },
}

pub struct Socket {
    ws: WebSocket,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Socket {
    /// Opens `url`; `handler` gets every text frame and, once, the close.
    pub fn open(url: &str, handler: impl Fn(SocketEvent) + 'static) -> Result<Socket, CoreError> {
        let ws = WebSocket::new(url)?;
        let handler = std::rc::Rc::new(handler);
        let on_message = {
            let handler = handler.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    handler(SocketEvent::Text(text));
                }
            })
        };
        let on_close = {
            let handler = handler.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                handler(SocketEvent::Closed {
                    code: event.code(),
                    reason: event.reason(),
                })
            })
        };
        // An error is always followed by a close, which carries what we need.
        let on_error = Closure::<dyn FnMut(Event)>::new(|_event: Event| {});
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        })
    }

    pub fn send(&self, text: &str) -> Result<(), CoreError> {
        Ok(self.ws.send_with_str(text)?)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}
