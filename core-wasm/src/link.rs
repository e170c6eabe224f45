//! The lead module's line to the service worker: a port of its own, over which it makes relayed
//! requests (`{relay: id, method, path, body}` → `{relay: id, status, body}`, see
//! [`crate::calls::relay_allowed`]) and awaits their answers. Everything else the worker sends
//! that says the team changed (a conversation, the pipelines, the whole state) only tells the
//! module that it did (an open board reloads); presence, guard changes, notes and the write
//! queue's news are not the board's business. The listeners are owned here and removed with the
//! link.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::chrome::{runtime_connect, Port};

/// Requests waiting for their answers: id and the function that resolves their promise.
type Waiting = Rc<RefCell<Vec<(u32, js_sys::Function)>>>;

pub struct Link {
    port: Option<Port>,
    waiting: Waiting,
    /// Called when the worker says the team changed.
    on_push: Rc<dyn Fn()>,
    next_id: u32,
    on_message: Option<Closure<dyn FnMut(JsValue)>>,
    on_disconnect: Option<Closure<dyn FnMut(JsValue)>>,
}

impl Link {
    /// `on_push` hears of every change to the team the worker passes on to tabs.
    pub fn new(on_push: impl Fn() + 'static) -> Link {
        Link {
            port: None,
            waiting: Rc::new(RefCell::new(Vec::new())),
            on_push: Rc::new(on_push),
            next_id: 1,
            on_message: None,
            on_disconnect: None,
        }
    }

    /// The port, opened (again, after the worker restarted) when needed.
    fn port(&mut self) -> Option<Port> {
        if let Some(port) = &self.port {
            return Some(port.clone());
        }
        let info = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&info, &"name".into(), &"baton-tab".into());
        let port = runtime_connect(&info).ok()?;
        let waiting = self.waiting.clone();
        let on_push = self.on_push.clone();
        let on_message = Closure::<dyn FnMut(JsValue)>::new(move |message: JsValue| {
            let Some((id, _, _)) = crate::js::relay_answer(&message) else {
                if changes_the_team(&message) {
                    on_push();
                }
                return;
            };
            let resolve = {
                let mut waiting = waiting.borrow_mut();
                let at = waiting.iter().position(|(w, _)| *w == id);
                at.map(|i| waiting.remove(i).1)
            };
            if let Some(resolve) = resolve {
                let _ = resolve.call1(&JsValue::NULL, &message);
            }
        });
        let waiting = self.waiting.clone();
        let on_disconnect = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| {
            // The worker went away: every waiting request is answered "not sent".
            for (_, resolve) in waiting.borrow_mut().drain(..) {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::NULL);
            }
        });
        port.on_message()
            .add_listener(on_message.as_ref().unchecked_ref());
        port.on_disconnect()
            .add_listener(on_disconnect.as_ref().unchecked_ref());
        self.on_message = Some(on_message);
        self.on_disconnect = Some(on_disconnect);
        self.port = Some(port.clone());
        Some(port)
    }

    /// Posts a request; the promise resolves to the answer (`null`: the worker went away).
    fn post(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<js_sys::Promise, String> {
        let port = self
            .port()
            .ok_or("Baton's extension is not reachable; reload the page.")?;
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let mut resolve_fn = None;
        let promise = js_sys::Promise::new(&mut |resolve, _| resolve_fn = Some(resolve));
        let message = crate::js::relay_request(id, method, path, body);
        if let Some(resolve) = resolve_fn {
            self.waiting.borrow_mut().push((id, resolve));
        }
        if port.post_message(&message).is_err() {
            self.forget_port();
            return Err("Baton's extension is not reachable; reload the page.".to_owned());
        }
        Ok(promise)
    }

    fn forget_port(&mut self) {
        if let Some(port) = self.port.take() {
            if let Some(listener) = &self.on_message {
                port.on_message()
                    .remove_listener(listener.as_ref().unchecked_ref());
            }
            if let Some(listener) = &self.on_disconnect {
                port.on_disconnect()
                    .remove_listener(listener.as_ref().unchecked_ref());
            }
            port.disconnect();
        }
        self.on_message = None;
        self.on_disconnect = None;
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.forget_port();
    }
}

/// The server's answer to a relayed request.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error's message (the API's `message`, or what the status means).
    pub fn message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Error {
            message: String,
        }
        if self.status == 0 {
            return self.body.clone();
        }
        crate::js::from_json::<Error>(&self.body)
            .map(|e| e.message)
            .unwrap_or_else(|_| format!("The Baton server answered {}.", self.status))
    }
}

/// A request on its way (several can be, at once): [`Sent::answer`] waits for its answer.
pub struct Sent(Result<js_sys::Promise, String>);

/// Sends a request through the link held in `link` (borrowed only to post).
pub fn send(link: &RefCell<Link>, method: &str, path: &str, body: Option<&str>) -> Sent {
    Sent(link.borrow_mut().post(method, path, body))
}

impl Sent {
    pub async fn answer(self, link: &RefCell<Link>) -> Answer {
        let promise = match self.0 {
            Ok(promise) => promise,
            Err(message) => {
                return Answer {
                    status: 0,
                    body: message,
                }
            }
        };
        let message = JsFuture::from(promise).await.unwrap_or(JsValue::NULL);
        if message.is_null() {
            link.borrow_mut().forget_port();
            return Answer {
                status: 0,
                body: "Baton's extension restarted; try again.".to_owned(),
            };
        }
        let (_, status, body) = crate::js::relay_answer(&message).unwrap_or_default();
        Answer { status, body }
    }
}

/// Makes one request and waits for its answer.
pub async fn request(link: &RefCell<Link>, method: &str, path: &str, body: Option<&str>) -> Answer {
    send(link, method, path, body).answer(link).await
}

/// Whether a worker message (`{kind: {...}}`, see [`crate::messages::ToTab`]) says something the
/// board shows may have changed.
fn changes_the_team(message: &JsValue) -> bool {
    ["conversation", "pipelines", "snapshot"]
        .iter()
        .any(|key| js_sys::Reflect::has(message, &JsValue::from_str(key)).unwrap_or(false))
}
