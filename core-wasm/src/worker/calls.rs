//! Making a tab's call on the server: the route and body come from the [`Call`], and the answer is
//! read once, here, into the typed [`Outcome`] the tab matches on (see [`crate::calls`]).

use std::rc::Rc;

use protocol::events::Event;
use serde::de::DeserializeOwned;
use wasm_bindgen_futures::spawn_local;

use super::api::Api;
use super::{decode, Core};
use crate::calls::{interpret, Answer, Call, Decode, Expect, Outcome, Reason};
use crate::error::CoreError;
use crate::js::{from_json, to_json, warn};
use crate::messages::{Connection, ToTab};
use crate::state::ConversationState;

/// The browser's JSON decoding, for [`interpret`].
struct BrowserJson;

impl Decode for BrowserJson {
    fn value<T: DeserializeOwned>(&self, text: &str) -> Result<T, String> {
        from_json(text).map_err(|e| e.to_string())
    }

    fn events(&self, text: &str) -> Result<Vec<Event>, String> {
        decode::timeline_page(text).map_err(|e| e.to_string())
    }
}

impl Core {
    /// Makes a call for a tab, or queues it when offline and it can wait.
    pub(super) async fn perform(core: &Rc<Core>, call: Call, key: Option<String>) -> Outcome {
        let Some(api) = core.api() else {
            return Outcome::NotSent {
                message: "Log in to Baton from the toolbar button first.".to_owned(),
            };
        };
        let online = matches!(core.inner.borrow().connection, Connection::Online);
        let key = key.or_else(|| call.queueable().then(|| core.host.random_id()));
        if !online && call.queueable() {
            return core.enqueue(call, key);
        }
        match Core::send_call(core, &api, &call, key.as_deref()).await {
            Ok(outcome) => {
                if matches!(&outcome, Outcome::Refused(r) if r.reason == Reason::SessionEnded) {
                    let core = core.clone();
                    spawn_local(async move {
                        Core::logout(
                            &core,
                            Some("Your session has ended; log in again.".to_owned()),
                        )
                        .await;
                    });
                }
                outcome
            }
            Err(err) if call.queueable() => {
                warn(&format!(
                    "queued a write while the server is unreachable: {err}"
                ));
                core.enqueue(call, key)
            }
            Err(err) => Outcome::NotSent {
                message: err.to_string(),
            },
        }
    }

    /// Sends a call and reads its answer; `Err` only when the server could not be reached. A
    /// full conversation in the answer also refreshes the worker's state and every tab.
    pub(super) async fn send_call(
        core: &Rc<Core>,
        api: &Api,
        call: &Call,
        key: Option<&str>,
    ) -> Result<Outcome, CoreError> {
        let route = call.route();
        let body = call.body().map(|body| to_json(&body)).transpose()?;
        let reply = api
            .call(route.method.as_str(), &route.path, body, key)
            .await?;
        let outcome = interpret(call, reply.status, &reply.body, &BrowserJson);
        if outcome == Outcome::Done(Answer::Done) && call.expects() != Expect::Nothing {
            // Taken by the server, but its answer is not what this version reads (a newer server):
            // the write stands; say so where it can be seen.
            warn(&format!(
                "{} {} succeeded but its answer could not be read",
                route.method.as_str(),
                route.path
            ));
        }
        if let Outcome::Done(Answer::Conversation(conversation)) = &outcome {
            let fresh = ConversationState::from(conversation);
            core.inner
                .borrow_mut()
                .state
                .merge_conversation(fresh.clone());
            core.broadcast(&ToTab::Conversation {
                conversation: fresh,
            });
        }
        Ok(outcome)
    }
}
