//! The offline queue: writes made while the server cannot be reached wait here (persisted), are
//! sent in order with the idempotency key they were queued with, wait out passing trouble with
//! back-off, and a write the server refuses for good is shown to the agent, never dropped
//! silently.

use std::rc::Rc;

use gloo_timers::callback::Timeout;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::spawn_local;

use super::Core;
use crate::calls::{Call, Outcome, Reason};
use crate::js::{from_js, warn};
use crate::messages::{Connection, PendingWrite, RefusedWrite, ToTab};

impl Core {
    /// The queued writes agents see as pending; message reports are background work.
    pub(super) fn pending_message(&self) -> ToTab {
        let inner = self.inner.borrow();
        ToTab::Pending {
            items: inner
                .queue
                .iter()
                .filter_map(|q| crate::views::pending_item(&inner.state, q))
                .collect(),
        }
    }

    pub(super) fn enqueue(&self, call: Call, key: Option<String>) -> Outcome {
        let key = key.unwrap_or_else(|| self.host.random_id());
        {
            let mut inner = self.inner.borrow_mut();
            inner.queue.push(PendingWrite { key, call });
            crate::messages::trim_queued_reports(&mut inner.queue, |q| &q.call);
        }
        self.save_queue();
        Outcome::Queued
    }

    /// Sends queued writes in order, each with the idempotency key it was queued with.
    pub(super) fn flush_queue(core: Rc<Core>) {
        if core.inner.borrow().flushing {
            return;
        }
        core.inner.borrow_mut().flushing = true;
        spawn_local(async move {
            loop {
                let next = core.inner.borrow().queue.first().cloned();
                let (Some(queued), Some(api)) = (next, core.api()) else {
                    break;
                };
                match Core::send_call(&core, &api, &queued.call, Some(&queued.key)).await {
                    Err(err) => {
                        // Unreachable again: the next connection flushes.
                        warn(&format!("queued write not sent yet: {err}"));
                        break;
                    }
                    Ok(Outcome::Refused(refusal)) if refusal.passing() => {
                        warn(&format!(
                            "queued write not taken yet ({}); will retry",
                            refusal.message
                        ));
                        Core::retry_flush_later(&core);
                        break;
                    }
                    // The login ended: the write waits for the agent to log in again (the
                    // logout that follows decides what becomes of the queue).
                    Ok(Outcome::Refused(refusal)) if refusal.reason == Reason::SessionEnded => {
                        warn("queued write not sent: the session has ended");
                        break;
                    }
                    Ok(Outcome::Refused(refusal)) => {
                        core.forget_queued(&queued.key);
                        core.refused(&queued.call, refusal.message);
                    }
                    Ok(_) => {
                        core.inner.borrow_mut().flush_attempts = 0;
                        core.forget_queued(&queued.key);
                    }
                }
            }
            // Saved once per pass, not per write (a thousand queued reports would be saved a
            // thousand times over); a write sent but still saved when the worker stops is sent
            // again under the same idempotency key, which the server answers as before.
            core.save_queue();
            core.inner.borrow_mut().flushing = false;
        });
    }

    /// Takes a queued write off the queue (sent, or refused for good).
    pub(super) fn forget_queued(&self, key: &str) {
        let mut shown = false;
        self.inner.borrow_mut().queue.retain(|q| {
            let gone = q.key == key;
            shown |= gone && !matches!(q.call, Call::Message { .. });
            !gone
        });
        if shown {
            self.broadcast(&self.pending_message());
        }
    }

    pub(super) fn save_queue(&self) {
        {
            let inner = self.inner.borrow();
            self.save("queue", &inner.queue);
        }
        self.broadcast(&self.pending_message());
    }

    /// Tries the queue again after a growing pause (1 s, doubling, at most a minute).
    pub(super) fn retry_flush_later(core: &Rc<Core>) {
        let delay = {
            let mut inner = core.inner.borrow_mut();
            inner.flush_attempts = inner.flush_attempts.saturating_add(1);
            1_000u32
                .saturating_mul(1 << inner.flush_attempts.min(6))
                .min(60_000)
        };
        let weak = Rc::downgrade(core);
        let retry = Timeout::new(delay, move || {
            if let Some(core) = weak.upgrade() {
                if matches!(core.inner.borrow().connection, Connection::Online) {
                    Core::flush_queue(core);
                }
            }
        });
        core.inner.borrow_mut().flush_retry = Some(retry);
    }

    /// A queued write the server will never take: the agent is told (a toast in every WhatsApp
    /// tab, and the popup until dismissed), never left to think it was saved.
    pub(super) fn refused(&self, call: &Call, reason: String) {
        let Some(what) = self.describe_write(call) else {
            // A message report refused (say, under a stale fence) is nobody's to act on.
            warn(&format!(
                "the server refused a queued message report: {reason}"
            ));
            return;
        };
        let refused = RefusedWrite { what, reason };
        let all = {
            let mut inner = self.inner.borrow_mut();
            inner.refused.push(refused.clone());
            inner.refused.clone()
        };
        self.save("refused", &all);
        self.broadcast(&ToTab::WriteRefused { refused });
    }

    /// A queued write in words, or `None` for background reports.
    pub(super) fn describe_write(&self, call: &Call) -> Option<String> {
        let on = |chat_id: &protocol::ChatId| self.chat_title(chat_id);
        Some(match call {
            Call::AddNote { chat_id, .. } => format!("A note on {}", on(chat_id)),
            Call::Handoff { chat_id, .. } => format!("The handoff of {}", on(chat_id)),
            Call::Remind { chat_id, .. } => format!("A reminder on {}", on(chat_id)),
            Call::ReminderDone { .. } => "Completing a reminder".to_owned(),
            Call::Snooze { .. } => "Snoozing a reminder".to_owned(),
            Call::SetStage { chat_id, .. } => format!("The stage of {}", on(chat_id)),
            _ => return None,
        })
    }
}

/// Reads the saved queue, item by item (one unreadable write does not take the others with it),
/// including writes saved by a version whose calls still spelt their request fields inline.
pub(super) fn restore(saved: JsValue) -> Vec<PendingWrite> {
    if !js_sys::Array::is_array(&saved) {
        return Vec::new();
    }
    js_sys::Array::from(&saved)
        .iter()
        .filter_map(|item| {
            from_js::<PendingWrite>(item.clone())
                .ok()
                .or_else(|| {
                    from_js::<crate::messages::legacy::PendingWrite>(item)
                        .ok()
                        .map(Into::into)
                })
                .or_else(|| {
                    warn("dropped a saved offline write this version cannot read");
                    None
                })
        })
        .collect()
}
