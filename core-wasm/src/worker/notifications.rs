//! What the worker tells the tabs and the agent about events: the digest each tab draws, and
//! Chrome notifications for what needs the agent even in another chat (once each).

use std::rc::Rc;

use protocol::api::{ChatRequest, ChatRequestStatus};
use protocol::events::{Event, EventBody};
use protocol::routing::RoutingTrigger;
use wasm_bindgen_futures::spawn_local;

use super::Core;
use crate::calls::{Call, Outcome};
use crate::messages::ToTab;

/// Notifications about a colleague asking for a chat carry the request's id after this.
const REQUEST_NOTIFICATION: &str = "baton-request-";

/// Notifications remembered with their chat, for a click to open it (the newest this many).
const REMEMBERED_NOTIFICATIONS: usize = 100;

impl Core {
    /// Raises a Chrome notification about a chat, remembering which chat it is about so a click
    /// on it can open that chat (kept in storage: the worker may have restarted by then).
    fn notify_about(&self, chat_id: &protocol::ChatId, id: &str, title: &str, message: &str) {
        self.notify_with(chat_id, id, title, message, Vec::new());
    }

    /// [`Core::notify_about`] with buttons.
    fn notify_with(
        &self,
        chat_id: &protocol::ChatId,
        id: &str,
        title: &str,
        message: &str,
        buttons: Vec<String>,
    ) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.notification_chats.retain(|(known, _)| known != id);
            inner
                .notification_chats
                .push((id.to_owned(), chat_id.clone()));
            let excess = inner
                .notification_chats
                .len()
                .saturating_sub(REMEMBERED_NOTIFICATIONS);
            inner.notification_chats.drain(..excess);
        }
        self.save(
            "notification_chats",
            &self.inner.borrow().notification_chats,
        );
        self.host.notify(id, title, message, buttons);
    }

    /// A button of a notification: "Hand it over" on a colleague's request grants it from the
    /// notification itself, one click, wherever the agent is; a refusal is told the same way.
    pub(super) fn notification_button_clicked(core: &Rc<Core>, id: &str, index: u32) {
        let Some(request_id) = id.strip_prefix(REQUEST_NOTIFICATION) else {
            return core.notification_clicked(id);
        };
        if index != 0 {
            return core.notification_clicked(id);
        }
        let core = core.clone();
        let id = id.to_owned();
        let request_id = request_id.to_owned();
        spawn_local(async move {
            let outcome = Core::perform(&core, Call::GrantRequest { id: request_id }, None).await;
            let refused = match outcome {
                Outcome::Done(_) | Outcome::Queued => None,
                Outcome::Refused(refusal) => Some(refusal.message),
                Outcome::NotSent { message } => Some(message),
            };
            if let Some(message) = refused {
                let chat_id = core
                    .inner
                    .borrow()
                    .notification_chats
                    .iter()
                    .find(|(known, _)| *known == id)
                    .map(|(_, chat_id)| chat_id.clone());
                if let Some(chat_id) = chat_id {
                    core.notify_about(
                        &chat_id,
                        &format!("{id}-refused"),
                        "The chat was not handed over",
                        &message,
                    );
                }
            }
        });
    }

    /// The agent clicked a notification: bring a WhatsApp Web tab to the front and have it open
    /// the chat the notification is about (in place: never a reload).
    pub(super) fn notification_clicked(&self, id: &str) {
        let chat_id = self
            .inner
            .borrow()
            .notification_chats
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, chat_id)| chat_id.clone());
        let tab = {
            let inner = self.inner.borrow();
            // A tab whose overlay runs, else any WhatsApp tab.
            inner
                .ports
                .iter()
                .filter_map(|(port, info)| info.tab_id.map(|tab| (*port, tab, info)))
                .max_by_key(|(_, _, info)| {
                    info.status.as_ref().is_some_and(|s| {
                        s.mode != crate::messages::CoreMode::Failed
                            && s.layout == crate::messages::LayoutState::Recognised
                    })
                })
                .map(|(port, tab, _)| (port, tab))
        };
        let Some((port, tab)) = tab else {
            crate::js::warn("a notification was clicked but no WhatsApp Web tab is open");
            return;
        };
        self.host.focus_tab(tab);
        if let Some(chat_id) = chat_id {
            self.post(port, &ToTab::OpenChat { chat_id });
        }
    }

    /// Tells the tabs what an applied event changed, digested so they need not decode events.
    pub(super) fn relay(&self, event: &Event) {
        let (conversation, pipelines, me) = {
            let inner = self.inner.borrow();
            (
                event
                    .chat_id
                    .as_ref()
                    .and_then(|c| inner.state.conversation(c).cloned()),
                inner.state.pipelines.clone(),
                inner.state.my_id().map(str::to_owned),
            )
        };
        match &event.body {
            EventBody::PipelineCreated(_) => self.broadcast(&ToTab::Pipelines { pipelines }),
            // Stage names changed on chats everywhere: the tabs take the whole state again.
            EventBody::PipelineUpdated { renamed, .. } if !renamed.is_empty() => {
                self.send_snapshot(None)
            }
            EventBody::PipelineUpdated { .. } => self.broadcast(&ToTab::Pipelines { pipelines }),
            EventBody::NoteCreated(note) => self.broadcast(&ToTab::Note { note: note.clone() }),
            _ => {}
        }
        if let Some(conversation) = conversation {
            self.broadcast(&ToTab::Conversation { conversation });
        }
        if let (Some(chat_id), Some(me)) = (&event.chat_id, me) {
            if let Some(change) = crate::views::guard_change(event, &me) {
                self.broadcast(&ToTab::Change {
                    chat_id: chat_id.clone(),
                    change,
                });
            }
        }
    }

    /// Raises a Chrome notification for what needs the agent's attention even in another chat.
    pub(super) fn announce(&self, event: &Event) {
        let me = self.inner.borrow().state.my_id().map(str::to_owned);
        let Some(me) = me else {
            return;
        };
        match &event.body {
            EventBody::ReminderDue(reminder) if reminder.for_agent.id == me => {
                self.announce_reminder(reminder)
            }
            EventBody::HandoffCreated(handoff) if handoff.to.id == me => {
                let key = format!("handoff:{}", handoff.id);
                if !self.first_time(&key) {
                    return;
                }
                let title = self.chat_title(&handoff.chat_id);
                self.notify_about(
                    &handoff.chat_id,
                    &format!("baton-handoff-{}", handoff.id),
                    &format!("{} handed you {title}", handoff.by.name),
                    &format!("Next step: {}", handoff.next_step),
                );
                self.broadcast(&ToTab::HandoffForMe {
                    handoff: handoff.clone(),
                });
            }
            EventBody::ChatRequested(request) => {
                let owner_is_me = self
                    .inner
                    .borrow()
                    .state
                    .conversation(&request.chat_id)
                    .and_then(|c| c.owner.as_ref())
                    .is_some_and(|o| o.id == me);
                if owner_is_me
                    && request.by.id != me
                    && self.first_time(&format!("request:{}", request.id))
                {
                    self.announce_request(request);
                }
            }
            EventBody::ChatRequestAnswered(request) => {
                // Answered (here or elsewhere): the question is no longer open.
                self.host
                    .clear_notification(&format!("{REQUEST_NOTIFICATION}{}", request.id));
                if request.by.id == me && self.first_time(&format!("answer:{}", request.id)) {
                    self.announce_answer(request);
                }
            }
            // A chat routing gives me; one a stage rule hands over is announced by its handoff.
            EventBody::RoutingAssigned(decision) | EventBody::RoutingReassigned(decision)
                if decision.owner.as_ref().is_some_and(|o| o.id == me)
                    && decision.trigger != RoutingTrigger::StageChanged =>
            {
                let Some(chat_id) = &event.chat_id else {
                    return;
                };
                if !self.first_time(&format!("routed:{}", event.seq)) {
                    return;
                }
                let title = self.chat_title(chat_id);
                let rule = decision
                    .rule
                    .as_ref()
                    .map_or_else(String::new, |r| format!(" — rule {}", r.name));
                let headline = if decision.trigger == RoutingTrigger::NoReply {
                    format!("Chat moved to you: {title}{rule}")
                } else {
                    format!("New chat assigned: {title}{rule}")
                };
                self.notify_about(
                    chat_id,
                    &format!("baton-routed-{}", event.seq),
                    &headline,
                    &decision.explanation,
                );
            }
            EventBody::NoteCreated(note)
                if note.author.id != me && note.mentions.iter().any(|m| m.id == me) =>
            {
                if !self.first_time(&format!("mention:{}", note.id)) {
                    return;
                }
                let title = self.chat_title(&note.chat_id);
                self.notify_about(
                    &note.chat_id,
                    &format!("baton-mention-{}", note.id),
                    &format!("{} mentioned you · {title}", note.author.name),
                    &crate::views::shorten(&note.body, 140),
                );
            }
            _ => {}
        }
    }

    /// A Chrome notification for a reminder of mine that fell due, once per firing.
    pub(super) fn announce_reminder(&self, reminder: &protocol::api::Reminder) {
        let key = format!(
            "reminder:{}:{}",
            reminder.id,
            reminder.fired_at.unwrap_or(0)
        );
        if !self.first_time(&key) {
            return;
        }
        let title = self.chat_title(&reminder.chat_id);
        self.notify_about(
            &reminder.chat_id,
            &format!("baton-reminder-{}", reminder.id),
            &format!("Reminder: {title}"),
            &reminder.text,
        );
        self.broadcast(&ToTab::ReminderDue {
            reminder: reminder.clone(),
        });
    }

    /// "Ravi Kumar asks for Priya", with a button that hands it over.
    fn announce_request(&self, request: &ChatRequest) {
        let title = self.chat_title(&request.chat_id);
        let message = match &request.message {
            Some(why) => format!("“{}”", crate::views::shorten(why, 120)),
            None => "Hand it over from here, or open the chat to answer.".to_owned(),
        };
        self.notify_with(
            &request.chat_id,
            &format!("{REQUEST_NOTIFICATION}{}", request.id),
            &format!("{} asks for {title}", request.by.name),
            &message,
            vec!["Hand it over".to_owned()],
        );
    }

    /// The answer to my request: the chat is mine now, or its owner keeps it.
    fn announce_answer(&self, request: &ChatRequest) {
        let title = self.chat_title(&request.chat_id);
        let by = request
            .answered_by
            .as_ref()
            .map_or("Your colleague", |a| a.name.as_str());
        let (headline, message) = match request.status {
            ChatRequestStatus::Granted => (
                format!("{by} handed you {title}"),
                "It is yours now: you can reply.".to_owned(),
            ),
            _ => (
                format!("{by} is keeping {title}"),
                "Ask them about it in a note if it matters.".to_owned(),
            ),
        };
        self.notify_about(
            &request.chat_id,
            &format!("baton-answer-{}", request.id),
            &headline,
            &message,
        );
    }

    pub(super) fn chat_title(&self, chat_id: &protocol::ChatId) -> String {
        self.inner
            .borrow()
            .state
            .conversation(chat_id)
            .map(|c| c.title.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| chat_id.to_string())
    }

    /// Remembers (persistently) that something was announced; true the first time.
    pub(super) fn first_time(&self, key: &str) -> bool {
        let fresh = self.inner.borrow_mut().notified.insert(key.to_owned());
        if fresh {
            let mut keys: Vec<String> = self.inner.borrow().notified.iter().cloned().collect();
            // Keep the record bounded; old announcements will not be replayed anyway.
            let excess = keys.len().saturating_sub(500);
            keys.drain(..excess);
            self.save("notified", &keys);
        }
        fresh
    }
}
