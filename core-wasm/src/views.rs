//! What the overlay shows, computed from the state without touching the DOM: badge labels, the
//! header bar, whether the composer is open, what the send guard reports.

use protocol::api::{AgentRef, ChatRequest, ChatRequestStatus, Direction, Handoff, Role};
use protocol::events::{Event, EventBody};
use protocol::{ChatId, Millis};

use crate::calls::Call;
use crate::identity::{Doubt, Source, Verdict};
use crate::messages::{PendingItem, PendingWrite};
use crate::state::TeamState;

/// Initials for a compact badge: "Asha Rao" → "AR", "Ravi" → "RA".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let letters: String = match words.as_slice() {
        [] => "?".to_owned(),
        [one] => one.chars().take(2).collect(),
        [first, .., last] => first.chars().take(1).chain(last.chars().take(1)).collect(),
    };
    // Names are written capitalised already; only ASCII is raised here, because full Unicode
    // upper-casing carries its case tables into the content script (about 5 kB gzipped).
    letters.to_ascii_uppercase()
}

/// Whole seconds left, rounded up, for countdowns.
pub fn seconds_left(expires_at: Millis, now: Millis) -> i64 {
    ((expires_at - now).max(0) + 999) / 1000
}

/// How a chat-list row is labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeView {
    /// "You", an owner's initials, "Needs owner", "?", or nothing (a read chat nobody owns, or one
    /// Baton has not met: nothing worth a mark).
    pub label: String,
    /// What the label means, in a sentence (tooltip and the accessible name).
    pub tooltip: String,
    /// `mine`, `other`, `needs-owner`, `unassigned` or `unknown`: the style to use.
    pub kind: &'static str,
    /// For another agent's chip: one of [`CHIP_COLOURS`] colours, the same for that agent on every
    /// row and in every browser.
    pub colour: Option<u8>,
    /// The chat the badge describes, when known.
    pub chat_id: Option<ChatId>,
    /// Which source identified it.
    pub source: Option<Source>,
    /// Who is replying right now, if anyone.
    pub replying: Option<String>,
}

/// How many chip colours there are (the stylesheet defines each).
pub const CHIP_COLOURS: u8 = 8;

/// The chip colour of an agent: from their id, so it never changes and never depends on the order
/// the team was loaded in.
pub fn chip_colour(agent_id: &str) -> u8 {
    // FNV-1a: tiny, stable across builds and platforms.
    let hash = agent_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % u32::from(CHIP_COLOURS)) as u8
}

/// The badge for a row identified as given (a known chat by the conversation's own id). `unread`:
/// the row shows unread messages — a chat nobody owns matters only then ("Needs owner").
pub fn owner_badge(state: &TeamState, verdict: &Verdict, now: Millis, unread: bool) -> BadgeView {
    let badge = |label: &str, tooltip: &str, kind: &'static str| BadgeView {
        label: label.to_owned(),
        tooltip: tooltip.to_owned(),
        kind,
        colour: None,
        chat_id: None,
        source: None,
        replying: None,
    };
    let (chat_id, source) = match verdict {
        Verdict::Known { chat_id, source } => (chat_id, *source),
        Verdict::Unsure(Doubt::Unknown) if unread => {
            return badge(
                "Needs owner",
                "New to the team: nobody has opened this chat in Baton yet",
                "needs-owner",
            )
        }
        Verdict::Unsure(Doubt::Unknown) => {
            return badge(
                "",
                "Nobody has opened this chat in Baton yet",
                "unassigned",
            )
        }
        Verdict::Unsure(doubt) => {
            return badge(
                "?",
                match doubt {
                    Doubt::SeveralNamed => {
                        "Several chats have this name and Baton can't tell them apart here: open it to see who owns it"
                    }
                    _ => "Baton can't tell for sure which chat this is: open it to see who owns it",
                },
                "unknown",
            )
        }
    };
    let conversation = state.conversation(chat_id);
    let replying = conversation
        .and_then(|c| c.active_lock(now))
        .map(|lock| lock.holder.name.clone());
    let owner = conversation.and_then(|c| c.owner.as_ref());
    let mut view = match owner {
        None if unread => badge(
            "Needs owner",
            "Nobody on the team owns this chat, and it has unread messages",
            "needs-owner",
        ),
        None => badge("", "Nobody on the team owns this chat yet", "unassigned"),
        Some(owner) if Some(owner.id.as_str()) == state.my_id() => {
            badge("You", "You own this chat", "mine")
        }
        Some(owner) => BadgeView {
            colour: Some(chip_colour(&owner.id)),
            ..badge(
                &initials(&owner.name),
                &format!("{} owns this chat", owner.name),
                "other",
            )
        },
    };
    if let Some(name) = &replying {
        view.tooltip = format!("{}; {name} is replying", view.tooltip);
    }
    view.chat_id = Some(chat_id.clone());
    view.source = Some(source);
    view.replying = replying;
    view
}

/// Whether the agent may type and send in a chat right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    Blocked(Blocked),
}

/// Why the composer is blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The banner text, e.g. "Asha is replying — 25 s".
    pub text: String,
    /// Who holds the lock (when that is the reason).
    pub holder: Option<AgentRef>,
    /// A lead or admin may take over.
    pub can_force: bool,
    /// When the block lifts by itself (lock expiry, server clock).
    pub until: Option<Millis>,
}

/// Decides whether the composer of `chat_id` is open for me at `now` (server clock).
pub fn composer_gate(state: &TeamState, chat_id: &ChatId, now: Millis) -> Gate {
    let Some(conversation) = state.conversation(chat_id) else {
        return Gate::Open;
    };
    let me = state.my_id();
    let supervisor = state.my_role().is_some_and(|r| r.supervises());
    // Humans first: a person's typing takes the lock from the first responder's seat (the
    // server ends its flow in the same commit), so the seat's lock never blocks a person.
    let held_by_seat = |holder: &AgentRef| {
        state.my_role() != Some(Role::Responder)
            && state
                .agents
                .iter()
                .any(|a| a.id == holder.id && a.role == Role::Responder)
    };
    if let Some(lock) = conversation
        .active_lock(now)
        .filter(|lock| !held_by_seat(&lock.holder))
    {
        if Some(lock.holder.id.as_str()) != me {
            return Gate::Blocked(Blocked {
                text: format!(
                    "{} is replying — {} s",
                    lock.holder.name,
                    seconds_left(lock.expires_at, now)
                ),
                holder: Some(lock.holder.clone()),
                can_force: supervisor,
                until: Some(lock.expires_at),
            });
        }
        return Gate::Open;
    }
    match &conversation.owner {
        Some(owner) if Some(owner.id.as_str()) != me && !supervisor => Gate::Blocked(Blocked {
            // The banner offers "Request this chat" beside it.
            text: format!("{} owns this chat", owner.name),
            holder: None,
            can_force: false,
            until: None,
        }),
        _ => Gate::Open,
    }
}

/// The bar above an open chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderView {
    pub owner_label: String,
    /// "Asha is replying — 25 s" while someone else holds the lock; "You are replying" for me.
    pub lock_text: Option<String>,
    pub can_claim: bool,
    pub can_force: bool,
    /// `(pipeline_id, stage)` if the chat is in a pipeline.
    pub stage: Option<(String, String)>,
    /// A handoff waiting for my answer.
    pub handoff_for_me: Option<Handoff>,
    /// A handoff I made, waiting for the receiver: "Waiting for Ravi Kumar to accept".
    pub waiting_for: Option<String>,
    /// Why I may not hand this chat off or move its stage (someone else owns it and I am not a
    /// lead), in words for the button's tooltip; `None` when I may.
    pub work_refused: Option<String>,
    pub open_reminders: usize,
    pub due_reminders: usize,
    /// Whether I may ask the owner for this chat, or already did.
    pub ask: Ask,
    /// Colleagues' requests for the chat that I may answer (I own it, or I lead), oldest first.
    pub requests: Vec<ChatRequest>,
    /// Why routing gave the chat to its owner: "Routed: Qualification by day".
    pub routing_reason: Option<String>,
    /// How many chats wait in the queue, for leads and admins: "Queue: 3".
    pub queue_count: Option<String>,
    /// Chats wait in the queue: "Take next" is offered.
    pub take_next: bool,
}

/// What an agent can do about a chat a colleague owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Nothing to ask: the chat is mine or nobody's, or I lead (leads take over instead).
    No,
    /// "Request this chat" from its owner.
    May { owner: String },
    /// I asked; the owner has not answered yet.
    Asked { owner: String },
}

pub fn header_view(state: &TeamState, chat_id: &ChatId, now: Millis) -> HeaderView {
    let me = state.my_id();
    let conversation = state.conversation(chat_id);
    let owner = conversation.and_then(|c| c.owner.as_ref());
    let owner_label = match owner {
        None => "Unassigned".to_owned(),
        Some(o) if Some(o.id.as_str()) == me => "Owner: you".to_owned(),
        Some(o) => format!("Owner: {}", o.name),
    };
    let lock = conversation.and_then(|c| c.active_lock(now));
    let lock_text = lock.map(|l| {
        if Some(l.holder.id.as_str()) == me {
            "You are replying".to_owned()
        } else {
            format!(
                "{} is replying — {} s",
                l.holder.name,
                seconds_left(l.expires_at, now)
            )
        }
    });
    let supervisor = state.my_role().is_some_and(|r| r.supervises());
    let reminders = conversation
        .map(|c| c.reminders.as_slice())
        .unwrap_or_default();
    HeaderView {
        owner_label,
        lock_text,
        can_claim: owner.is_none(),
        can_force: supervisor && lock.is_some_and(|l| Some(l.holder.id.as_str()) != me),
        stage: conversation
            .and_then(|c| c.stage.as_ref())
            .map(|s| (s.pipeline_id.clone(), s.stage.clone())),
        handoff_for_me: conversation
            .and_then(|c| c.pending_handoff.as_ref())
            .filter(|h| Some(h.to.id.as_str()) == me)
            .cloned(),
        waiting_for: conversation
            .and_then(|c| c.pending_handoff.as_ref())
            .filter(|h| Some(h.by.id.as_str()) == me && Some(h.to.id.as_str()) != me)
            .map(|h| format!("Waiting for {} to accept", h.to.name)),
        // As the server decides it: the owner, or a lead, or anyone while nobody owns the chat.
        work_refused: owner
            .filter(|o| Some(o.id.as_str()) != me && !supervisor)
            .map(|o| {
                format!(
                    "{} owns this chat; only they or a lead can hand it off or change its stage",
                    o.name
                )
            }),
        open_reminders: reminders.len(),
        due_reminders: reminders
            .iter()
            .filter(|r| r.fired_at.is_some() && Some(r.for_agent.id.as_str()) == me)
            .count(),
        ask: match owner {
            Some(o) if Some(o.id.as_str()) != me && !supervisor => {
                let asked = conversation
                    .is_some_and(|c| c.requests.iter().any(|r| Some(r.by.id.as_str()) == me));
                let owner = o.name.clone();
                if asked {
                    Ask::Asked { owner }
                } else {
                    Ask::May { owner }
                }
            }
            _ => Ask::No,
        },
        routing_reason: conversation
            .filter(|c| c.owner.is_some())
            .and_then(|c| c.routed_by.as_ref())
            .map(|r| format!("Routed: {}", r.rule.name)),
        queue_count: supervisor.then(|| format!("Queue: {}", state.queue_len())),
        take_next: state.queue_len() > 0,
        requests: match owner {
            Some(o) if Some(o.id.as_str()) == me || supervisor => conversation
                .map(|c| {
                    c.requests
                        .iter()
                        .filter(|r| r.by.id != o.id)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        },
    }
}

/// The words that say the server cannot be reached, or `None` while it can. Shown across the open
/// chat: while offline nobody's reply lock is enforced and colleagues see nothing this agent does.
pub const OFFLINE_WARNING: &str = "Baton is offline: reply locks are off and your colleagues cannot see you. \
Check with your team before you reply here. Notes, handoffs and reminders wait below and are sent when Baton reconnects.";

/// Writes of one chat waiting in the worker's queue, as the chat shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingView {
    /// Queued notes, oldest first: `(idempotency key, body)`, shown in the notes list in place.
    pub notes: Vec<(String, String)>,
    /// Every queued write of the chat in words ("Note “Call after 5” — not sent yet").
    pub lines: Vec<String>,
    /// The stage the chat will have once a queued stage move is sent: `Some(None)` for no stage.
    pub stage: Option<Option<(String, String)>>,
}

/// The queued items of `chat_id`.
pub fn pending_view(chat_id: &ChatId, items: &[PendingItem]) -> PendingView {
    let mut view = PendingView::default();
    for item in items.iter().filter(|i| &i.chat_id == chat_id) {
        if let Some(body) = &item.note {
            view.notes.push((item.key.clone(), body.clone()));
        }
        if let Some(stage) = &item.stage {
            view.stage = Some(stage.clone());
        }
        view.lines.push(item.text.clone());
    }
    view
}

/// A queued write in words for the chat it belongs to, or `None` for background work (message
/// reports) and writes of a chat the state does not hold. Completing or snoozing a reminder
/// belongs to the chat whose reminder it is.
pub fn pending_item(state: &TeamState, write: &PendingWrite) -> Option<PendingItem> {
    let agent_name = |id: &str| {
        state
            .agents
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| "a colleague".to_owned(), |a| a.name.clone())
    };
    let reminder = |id: &str| {
        state
            .conversations
            .values()
            .flat_map(|c| c.reminders.iter())
            .find(|r| r.id == id)
    };
    let mut note = None;
    let mut stage_move = None;
    let (chat_id, words) = match &write.call {
        Call::AddNote { chat_id, note: n } => {
            note = Some(n.body.clone());
            (chat_id.clone(), format!("Note “{}”", shorten(&n.body, 60)))
        }
        Call::Handoff { chat_id, handoff } => (
            chat_id.clone(),
            format!("Handoff to {}", agent_name(&handoff.to_agent_id)),
        ),
        Call::Remind { chat_id, reminder } => (
            chat_id.clone(),
            format!("Reminder “{}”", shorten(&reminder.text, 60)),
        ),
        Call::SetStage { chat_id, stage } => {
            let target = stage.pipeline_id.clone().zip(stage.stage.clone());
            let words = match &target {
                Some((_, stage)) => format!("Stage “{stage}”"),
                None => "No stage".to_owned(),
            };
            stage_move = Some(target);
            (chat_id.clone(), words)
        }
        Call::ReminderDone { id } => {
            let r = reminder(id)?;
            (
                r.chat_id.clone(),
                format!("Reminder “{}” done", shorten(&r.text, 60)),
            )
        }
        Call::Snooze { id, .. } => {
            let r = reminder(id)?;
            (
                r.chat_id.clone(),
                format!("Reminder “{}” snoozed", shorten(&r.text, 60)),
            )
        }
        _ => return None,
    };
    Some(PendingItem {
        key: write.key.clone(),
        chat_id,
        text: format!("{words} — not sent yet"),
        note,
        stage: stage_move,
    })
}

/// `text` cut to `max` characters at most, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_owned(),
    }
}

/// Something that happened in a chat since the agent last looked, which the send guard reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub seq: i64,
    pub text: String,
    /// For replies: WhatsApp's message id, so the same reply seen in the page is not counted twice.
    pub message_id: Option<String>,
}

/// The change an event represents for the send guard of agent `me`, if it is one: another agent's
/// reply, a note, or a handoff.
pub fn guard_change(event: &Event, me: &str) -> Option<Change> {
    let by = event.actor.as_ref()?;
    if by.id == me {
        return None;
    }
    let mut message_id = None;
    let text = match &event.body {
        // Only fenced replies name their sender; unattributed ones the tab sees in the page.
        EventBody::MessageRecorded(message) if message.direction == Direction::Out => {
            let sender = message.agent.as_ref()?;
            if sender.id == me {
                return None;
            }
            message_id = Some(message.message_id.clone());
            format!("{} replied", sender.name)
        }
        EventBody::NoteCreated(note) => format!("{} added a note: {}", by.name, note.body),
        EventBody::HandoffCreated(handoff) => {
            format!("{} handed the chat to {}", by.name, handoff.to.name)
        }
        EventBody::HandoffAccepted(_) => format!("{} accepted the handoff", by.name),
        EventBody::HandoffDeclined(h) => format!(
            "{} declined the handoff: {}",
            by.name,
            h.decline_reason.as_deref().unwrap_or("")
        ),
        EventBody::LockForced { .. } => format!("{} took over the reply", by.name),
        _ => return None,
    };
    Some(Change {
        seq: event.seq,
        text,
        message_id,
    })
}

/// A timeline event described for people; `None` for live-only events.
pub fn describe_event(event: &Event) -> Option<String> {
    let actor = event
        .actor
        .as_ref()
        .map(|a| a.name.as_str())
        .unwrap_or("Baton");
    let name = |agent: &Option<AgentRef>| {
        agent
            .as_ref()
            .map(|a| a.name.clone())
            .unwrap_or_else(|| "the queue".to_owned())
    };
    Some(match &event.body {
        EventBody::ConversationCreated { title, .. } => {
            format!("{actor} opened the chat with {title}")
        }
        EventBody::Assigned { owner, reason, .. } => match reason {
            protocol::events::AssignReason::Claim => format!("{} claimed the chat", name(owner)),
            protocol::events::AssignReason::Handoff => format!("Assigned to {}", name(owner)),
            protocol::events::AssignReason::Declined => format!("Returned to {}", name(owner)),
            protocol::events::AssignReason::Released => {
                format!("{actor} gave the chat back to the team")
            }
            protocol::events::AssignReason::Requested => {
                format!(
                    "{actor} handed the chat to {}, who asked for it",
                    name(owner)
                )
            }
            // The routing decision before it says where and why, in the server's words.
            protocol::events::AssignReason::Routed => return None,
        },
        EventBody::RoutingAssigned(decision)
        | EventBody::RoutingQueued(decision)
        | EventBody::RoutingReassigned(decision) => decision.explanation.clone(),
        EventBody::ConversationClosed { .. } => format!("{actor} closed the chat"),
        EventBody::ConversationReopened { .. } => format!("{actor} reopened the chat"),
        EventBody::ChatRequested(r) => match &r.message {
            Some(message) => format!("{} asked for the chat: {message}", r.by.name),
            None => format!("{} asked for the chat", r.by.name),
        },
        // A granted request is told by the assignment that follows it.
        EventBody::ChatRequestAnswered(r) if r.status == ChatRequestStatus::Granted => return None,
        EventBody::ChatRequestAnswered(r) => {
            format!("{actor} kept the chat that {} asked for", r.by.name)
        }
        EventBody::LockForced {
            holder,
            previous_holder,
            ..
        } => format!(
            "{} took over the reply from {}",
            holder.name,
            previous_holder
                .as_ref()
                .map_or("nobody", |p| p.name.as_str())
        ),
        EventBody::HandoffCreated(h) => format!(
            "{} handed off to {} — done: {}; promised: {}; next: {}",
            h.by.name, h.to.name, h.done, h.promised, h.next_step
        ),
        EventBody::HandoffAccepted(h) => format!("{} accepted the handoff", h.to.name),
        EventBody::HandoffDeclined(h) => format!(
            "{} declined the handoff: {}",
            h.to.name,
            h.decline_reason.as_deref().unwrap_or("")
        ),
        EventBody::NoteCreated(note) => format!("{}: {}", note.author.name, note.body),
        EventBody::StageChanged { stage, previous } => {
            let show = |s: &Option<protocol::api::StageRef>| {
                s.as_ref()
                    .map(|s| format!("{} / {}", s.pipeline_name, s.stage))
                    .unwrap_or_else(|| "none".to_owned())
            };
            format!(
                "{actor} moved the stage: {} → {}",
                show(previous),
                show(stage)
            )
        }
        EventBody::ReminderCreated(r) => {
            format!(
                "{actor} set a reminder for {}: {}",
                r.for_agent.name, r.text
            )
        }
        EventBody::ReminderDue(r) => format!("Reminder due for {}: {}", r.for_agent.name, r.text),
        EventBody::ReminderSnoozed(r) => format!("{actor} snoozed the reminder: {}", r.text),
        EventBody::ReminderDone(r) => format!("{actor} completed the reminder: {}", r.text),
        EventBody::ResponderSent(n) => format!("The responder sent: {}", n.text),
        EventBody::ResponderAnswer(n)
        | EventBody::ResponderHandoff(n)
        | EventBody::ResponderStopped(n) => format!("Responder: {}", n.text),
        EventBody::ConversationUpdated { .. }
        | EventBody::LockAcquired { .. }
        | EventBody::LockRenewed { .. }
        | EventBody::LockReleased { .. }
        | EventBody::PipelineCreated(_)
        | EventBody::MessageRecorded(_)
        | EventBody::AgentCreated(_)
        | EventBody::AgentDeactivated(_)
        | EventBody::AgentReactivated(_)
        | EventBody::SessionsEnded(_)
        | EventBody::TemplateSaved(_)
        | EventBody::TemplateDeleted { .. }
        | EventBody::PipelineUpdated { .. } => return None,
    })
}

/// The Notes button's name: "Notes", "Notes (4)", or "Notes (50+)" when there are more than the
/// first page.
pub fn notes_label(count: usize, more: bool) -> String {
    match (count, more) {
        (0, _) => "Notes".to_owned(),
        (n, false) => format!("Notes ({n})"),
        (n, true) => format!("Notes ({n}+)"),
    }
}

/// A note's text in pieces, with the @mentions of `mentioned` agents marked, so they can be shown
/// highlighted (as text: the pieces are never HTML). An @word mentions an agent whose first name
/// it is, as [`mentioned_agent_ids`] reads it.
pub fn note_segments<'a>(body: &'a str, mentioned: &[AgentRef]) -> Vec<(&'a str, bool)> {
    let first_names: Vec<String> = mentioned.iter().map(|a| first_name(&a.name)).collect();
    let mut pieces = Vec::new();
    let mut plain_from = 0;
    let mut at = 0;
    while let Some(offset) = body[at..].find('@') {
        let start = at + offset;
        let word_start = start + 1;
        let word_end = body[word_start..]
            .char_indices()
            .find(|(_, c)| !c.is_alphanumeric())
            .map_or(body.len(), |(i, _)| word_start + i);
        let starts_word = body[..start]
            .chars()
            .next_back()
            .is_none_or(char::is_whitespace);
        let word = body[word_start..word_end].to_ascii_lowercase();
        if starts_word && !word.is_empty() && first_names.contains(&word) {
            if plain_from < start {
                pieces.push((&body[plain_from..start], false));
            }
            pieces.push((&body[start..word_end], true));
            plain_from = word_end;
        }
        at = word_end.max(start + 1);
    }
    if plain_from < body.len() {
        pieces.push((&body[plain_from..], false));
    }
    pieces
}

fn first_name(name: &str) -> String {
    name.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The agents a note @mentions: each @word that is an active agent's first name. Letters A–Z match
/// in either case; other letters as written (full Unicode case folding would carry its tables into
/// the content script, 8 kB gzipped, for names that are typed as shown anyway).
pub fn mentioned_agent_ids(body: &str, agents: &[protocol::api::Agent]) -> Vec<String> {
    let words: Vec<String> = body
        .split_whitespace()
        .filter_map(|w| w.strip_prefix('@'))
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    agents
        .iter()
        .filter(|agent| words.contains(&first_name(&agent.name)))
        .map(|agent| agent.id.clone())
        .collect()
}

/// What is missing from a handoff before it is sent, field by field (`to`, `done`, `promised`,
/// `next_step`), in words for the agent: the receiver needs all of it to carry on.
pub fn handoff_gaps(request: &protocol::api::HandoffRequest) -> Vec<(&'static str, &'static str)> {
    let mut gaps = Vec::new();
    if request.to_agent_id.trim().is_empty() {
        gaps.push(("to", "Choose the teammate who takes this chat."));
    }
    for (field, value, words) in [
        ("done", &request.done, "Say what you have done so far."),
        (
            "promised",
            &request.promised,
            "Say what the customer was promised (or “nothing yet”).",
        ),
        (
            "next_step",
            &request.next_step,
            "Say what the next step is.",
        ),
    ] {
        if value.trim().is_empty() {
            gaps.push((field, words));
        }
    }
    gaps
}

/// The form field a server refusal is about, when its message names one of `fields` first
/// ("done is required: …"), so the error shows beside that field.
pub fn refused_field<'f>(message: &str, fields: &[&'f str]) -> Option<&'f str> {
    let first = message.split_whitespace().next()?;
    fields.iter().copied().find(|field| *field == first)
}

/// What to tell me when a reply lock I held went to someone else (a lead took it over): my draft
/// stays in the composer, unsent. `None` if I did not hold it or still do.
pub fn reply_taken(
    before: Option<&crate::state::LockState>,
    after: Option<&crate::state::LockState>,
    me: &str,
) -> Option<String> {
    let before = before.filter(|l| l.holder.id == me)?;
    let after = after.filter(|l| l.holder.id != me && l.fence > before.fence)?;
    Some(format!(
        "{} took over this reply. What you wrote stays in your composer and was not sent.",
        after.holder.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{agent, chat, event, state_for};
    use crate::state::ConversationState;
    use protocol::api::{Agent, MessageRecord};

    fn known(chat_id: &ChatId) -> Verdict {
        Verdict::Known {
            chat_id: chat_id.clone(),
            source: Source::Bridge,
        }
    }

    fn owned_and_locked(
        state: &mut TeamState,
        owner: AgentRef,
        holder: Option<AgentRef>,
    ) -> ChatId {
        let c = chat(9);
        state.merge_conversation(ConversationState {
            chat_id: c.clone(),
            alias: None,
            title: "Priya".into(),
            owner: Some(owner),
            lock: holder.map(|holder| crate::state::LockState {
                holder,
                fence: 1,
                expires_at: 25_000,
            }),
            stage: None,
            pending_handoff: None,
            accepted_handoff: None,
            reminders: vec![],
            requests: vec![],
            handoff_waiting: false,
            last_activity_at: 0,
            routed_by: None,
            queued_at: None,
            closed: false,
            last_event_seq: 1,
        });
        c
    }

    #[test]
    fn a_colleague_may_ask_for_a_chat_and_its_owner_or_a_lead_answers() {
        use protocol::events::AssignReason;
        let request = ChatRequest {
            id: "q1".into(),
            chat_id: chat(9),
            by: agent("r", "Ravi Kumar"),
            message: Some("I quoted her".into()),
            status: ChatRequestStatus::Pending,
            created_at: 1,
            answered_by: None,
            answered_at: None,
        };
        let views = |me: &str, role: Role, events: &[Event]| {
            let mut state = state_for(me, role);
            let c = owned_and_locked(&mut state, agent("a", "Asha Rao"), None);
            for event in events {
                state.apply(event);
            }
            header_view(&state, &c, 0)
        };
        let c = chat(9);
        let asked = event(2, &c, EventBody::ChatRequested(request.clone()));
        // Before anyone asks: Ravi may; Asha has nothing to answer; a lead takes over instead.
        assert_eq!(
            views("r", Role::Agent, &[]).ask,
            Ask::May {
                owner: "Asha Rao".into()
            }
        );
        assert_eq!(views("l", Role::Lead, &[]).ask, Ask::No);
        assert_eq!(views("a", Role::Agent, &[]).ask, Ask::No);
        // Once he asked: he waits; Asha and a lead see it to answer; a third agent does not.
        let ravi = views("r", Role::Agent, std::slice::from_ref(&asked));
        assert_eq!(
            ravi.ask,
            Ask::Asked {
                owner: "Asha Rao".into()
            }
        );
        assert!(ravi.requests.is_empty());
        assert_eq!(
            views("a", Role::Agent, std::slice::from_ref(&asked)).requests,
            vec![request.clone()]
        );
        assert_eq!(
            views("l", Role::Lead, std::slice::from_ref(&asked)).requests,
            vec![request.clone()]
        );
        assert!(views("m", Role::Agent, std::slice::from_ref(&asked))
            .requests
            .is_empty());
        // Kept: he may ask again.
        let kept = ChatRequest {
            status: ChatRequestStatus::Declined,
            answered_by: Some(agent("a", "Asha Rao")),
            answered_at: Some(3),
            ..request.clone()
        };
        let declined = event(3, &c, EventBody::ChatRequestAnswered(kept.clone()));
        assert_eq!(
            views("r", Role::Agent, &[asked.clone(), declined.clone()]).ask,
            Ask::May {
                owner: "Asha Rao".into()
            }
        );
        assert!(views("a", Role::Agent, &[asked.clone(), declined.clone()])
            .requests
            .is_empty());
        // Handed over (by a grant or by a handoff): nothing left to ask or answer.
        let handed = event(
            3,
            &c,
            EventBody::Assigned {
                owner: Some(agent("r", "Ravi Kumar")),
                previous_owner: Some(agent("a", "Asha Rao")),
                reason: AssignReason::Handoff,
            },
        );
        let ravi = views("r", Role::Agent, &[asked.clone(), handed.clone()]);
        assert_eq!(ravi.ask, Ask::No);
        assert_eq!(ravi.owner_label, "Owner: you");
        assert!(views("a", Role::Agent, &[asked.clone(), handed])
            .requests
            .is_empty());
        // The timeline tells it in words; a grant is told by the assignment that follows.
        assert_eq!(
            describe_event(&asked).as_deref(),
            Some("Ravi Kumar asked for the chat: I quoted her")
        );
        assert_eq!(
            describe_event(&declined).as_deref(),
            Some("Asha kept the chat that Ravi Kumar asked for")
        );
        let granted = event(
            4,
            &c,
            EventBody::ChatRequestAnswered(ChatRequest {
                status: ChatRequestStatus::Granted,
                ..kept
            }),
        );
        assert_eq!(describe_event(&granted), None);
        let assigned = event(
            5,
            &c,
            EventBody::Assigned {
                owner: Some(agent("r", "Ravi Kumar")),
                previous_owner: Some(agent("a", "Asha")),
                reason: AssignReason::Requested,
            },
        );
        assert_eq!(
            describe_event(&assigned).as_deref(),
            Some("Asha handed the chat to Ravi Kumar, who asked for it")
        );
    }

    #[test]
    fn the_header_says_why_routing_chose_the_owner_and_how_long_the_queue_is() {
        use protocol::events::AssignReason;
        use protocol::routing::{RoutingDecision, RoutingTrigger, RuleRef, Strategy};
        let c = chat(9);
        let decision = |owner: Option<AgentRef>| RoutingDecision {
            trigger: RoutingTrigger::NewChat,
            rule: Some(RuleRef {
                id: "rule1".into(),
                name: "Qualification by day".into(),
            }),
            strategy: Some(Strategy::RoundRobin),
            owner,
            previous_owner: None,
            eligible: Vec::new(),
            refused: Vec::new(),
            explanation: "Rule “Qualification by day” (round robin) gave the chat to Ravi Kumar."
                .into(),
        };
        let assigned = |seq, owner: Option<AgentRef>, reason| {
            event(
                seq,
                &c,
                EventBody::Assigned {
                    owner,
                    previous_owner: None,
                    reason,
                },
            )
        };
        let ravi = agent("r", "Ravi Kumar");
        let views = |me: &str, role: Role, events: &[Event]| {
            let mut state = state_for(me, role);
            owned_and_locked(&mut state, agent("a", "Asha Rao"), None);
            for event in events {
                state.apply(event);
            }
            header_view(&state, &c, 0)
        };
        let queued = [
            assigned(2, None, AssignReason::Released),
            event(3, &c, EventBody::RoutingQueued(decision(None))),
        ];
        let lead = views("l", Role::Lead, &queued);
        assert_eq!(lead.queue_count.as_deref(), Some("Queue: 1"));
        assert!(lead.take_next);
        let agent_view = views("r", Role::Agent, &queued);
        assert_eq!(agent_view.queue_count, None, "the count is for leads");
        assert!(agent_view.take_next);
        assert_eq!(agent_view.routing_reason, None);

        let mut routed = queued.to_vec();
        routed.push(event(
            4,
            &c,
            EventBody::RoutingAssigned(decision(Some(ravi.clone()))),
        ));
        routed.push(assigned(5, Some(ravi.clone()), AssignReason::Routed));
        let view = views("r", Role::Agent, &routed);
        assert_eq!(
            view.routing_reason.as_deref(),
            Some("Routed: Qualification by day")
        );
        assert!(!view.take_next, "nothing waits any more");
        assert_eq!(
            views("l", Role::Lead, &routed).queue_count.as_deref(),
            Some("Queue: 0")
        );
        assert_eq!(
            describe_event(&routed[2]).as_deref(),
            Some("Rule “Qualification by day” (round robin) gave the chat to Ravi Kumar.")
        );
        assert_eq!(
            describe_event(&routed[3]),
            None,
            "told by the decision before it"
        );
        // Handed on by a person: routing's reason no longer holds.
        routed.push(assigned(
            6,
            Some(agent("m", "Meena")),
            AssignReason::Handoff,
        ));
        assert_eq!(views("r", Role::Agent, &routed).routing_reason, None);
    }

    #[test]
    fn badges_say_whose_chat_it_is() {
        let mut state = state_for("r", Role::Agent);
        let c = owned_and_locked(
            &mut state,
            agent("a", "Asha Rao"),
            Some(agent("a", "Asha Rao")),
        );
        let badge = owner_badge(&state, &known(&c), 1_000, false);
        assert_eq!(badge.label, "AR");
        assert_eq!(badge.kind, "other");
        assert_eq!(
            badge.tooltip,
            "Asha Rao owns this chat; Asha Rao is replying"
        );
        assert_eq!(badge.colour, Some(chip_colour("a")));
        assert_eq!(badge.replying.as_deref(), Some("Asha Rao"));
        assert_eq!(badge.chat_id, Some(c.clone()));
        assert_eq!(badge.source, Some(Source::Bridge));
        let later = owner_badge(&state, &known(&c), 30_000, false);
        assert_eq!(later.replying, None, "an expired lock shows no mark");

        let mut mine = state_for("a", Role::Agent);
        let c = owned_and_locked(&mut mine, agent("a", "Asha Rao"), None);
        assert_eq!(owner_badge(&mine, &known(&c), 0, false).label, "You");
        // Nobody's chat: a mark only when it has unread messages.
        let unknown = Verdict::Unsure(Doubt::Unknown);
        assert_eq!(owner_badge(&mine, &unknown, 0, false).label, "");
        assert_eq!(owner_badge(&mine, &unknown, 0, true).label, "Needs owner");
        let mut free = state_for("a", Role::Agent);
        free.merge_conversation(ConversationState {
            owner: None,
            ..mine.conversation(&c).unwrap().clone()
        });
        assert_eq!(owner_badge(&free, &known(&c), 0, false).label, "");
        assert_eq!(owner_badge(&free, &known(&c), 0, false).kind, "unassigned");
        assert_eq!(owner_badge(&free, &known(&c), 0, true).kind, "needs-owner");
        let twins = owner_badge(&mine, &Verdict::Unsure(Doubt::SeveralNamed), 0, true);
        assert_eq!(twins.label, "?");
        assert!(
            twins.tooltip.starts_with("Several chats have this name"),
            "{}",
            twins.tooltip
        );
        assert_eq!(
            owner_badge(&mine, &Verdict::Unsure(Doubt::SourcesDisagree), 0, false).kind,
            "unknown"
        );
    }

    #[test]
    fn each_agent_keeps_one_chip_colour() {
        let colours: Vec<u8> = ["a1", "r1", "l1", "5b0c0a52-6f2e-4d5a-9d1e-0d6f1f0e8a11"]
            .iter()
            .map(|id| chip_colour(id))
            .collect();
        assert!(colours.iter().all(|c| *c < CHIP_COLOURS));
        assert_eq!(chip_colour("a1"), chip_colour("a1"));
        // Spread over the palette: a team of 24 uses most of it.
        let used: std::collections::BTreeSet<u8> = (0..24)
            .map(|i| chip_colour(&format!("agent-{i}")))
            .collect();
        assert!(used.len() >= 6, "{used:?}");
    }

    #[test]
    fn the_composer_is_blocked_while_someone_else_replies() {
        let mut state = state_for("r", Role::Agent);
        let c = owned_and_locked(&mut state, agent("a", "Asha"), Some(agent("a", "Asha")));
        match composer_gate(&state, &c, 1_000) {
            Gate::Blocked(blocked) => {
                assert_eq!(blocked.text, "Asha is replying — 24 s");
                assert!(!blocked.can_force);
                assert_eq!(blocked.until, Some(25_000));
            }
            Gate::Open => panic!("must be blocked"),
        }
        // After expiry the chat is still Asha's: an agent stays blocked, without a countdown.
        match composer_gate(&state, &c, 25_000) {
            Gate::Blocked(blocked) => assert!(blocked.text.starts_with("Asha owns this chat")),
            Gate::Open => panic!("must be blocked"),
        }
        let mut lead = state_for("l", Role::Lead);
        let c = owned_and_locked(&mut lead, agent("a", "Asha"), Some(agent("a", "Asha")));
        assert!(matches!(composer_gate(&lead, &c, 1_000), Gate::Blocked(b) if b.can_force));
        assert_eq!(
            composer_gate(&lead, &c, 25_000),
            Gate::Open,
            "leads may reply after expiry"
        );
        let mut holder = state_for("a", Role::Agent);
        let c = owned_and_locked(&mut holder, agent("a", "Asha"), Some(agent("a", "Asha")));
        assert_eq!(composer_gate(&holder, &c, 1_000), Gate::Open);
        assert_eq!(
            composer_gate(&holder, &chat(77), 1_000),
            Gate::Open,
            "unknown chats are open"
        );
    }

    #[test]
    fn the_responders_lock_does_not_block_a_person() {
        let seat = Agent {
            id: "s".into(),
            name: "Responder".into(),
            email: "seat@acme.test".into(),
            role: Role::Responder,
        };
        let mut state = state_for("a", Role::Agent);
        state.agents.push(seat.clone());
        let c = owned_and_locked(
            &mut state,
            agent("a", "Asha"),
            Some(agent("s", "Responder")),
        );
        assert_eq!(
            composer_gate(&state, &c, 1_000),
            Gate::Open,
            "typing takes the lock from the seat"
        );
        // Someone else's chat stays someone else's, seat or no seat.
        let mut ravi = state_for("r", Role::Agent);
        ravi.agents.push(seat.clone());
        let c = owned_and_locked(&mut ravi, agent("a", "Asha"), Some(agent("s", "Responder")));
        assert!(
            matches!(composer_gate(&ravi, &c, 1_000), Gate::Blocked(b) if b.text == "Asha owns this chat")
        );
        // A second seat does not take from the first.
        let mut other_seat = state_for("s2", Role::Responder);
        other_seat.agents.push(seat);
        let c = owned_and_locked(
            &mut other_seat,
            agent("a", "Asha"),
            Some(agent("s", "Responder")),
        );
        assert!(
            matches!(composer_gate(&other_seat, &c, 1_000), Gate::Blocked(b) if b.holder.is_some())
        );
    }

    #[test]
    fn the_header_shows_owner_lock_and_claim() {
        let mut state = state_for("r", Role::Lead);
        let c = owned_and_locked(&mut state, agent("a", "Asha"), Some(agent("a", "Asha")));
        let header = header_view(&state, &c, 20_500);
        assert_eq!(header.owner_label, "Owner: Asha");
        assert_eq!(header.lock_text.as_deref(), Some("Asha is replying — 5 s"));
        assert!(!header.can_claim);
        assert!(header.can_force);
        let unknown = header_view(&state, &chat(55), 0);
        assert_eq!(unknown.owner_label, "Unassigned");
        assert!(unknown.can_claim);
    }

    #[test]
    fn the_send_guard_reports_what_others_did() {
        let c = chat(1);
        let note = protocol::api::Note {
            id: "n".into(),
            chat_id: c.clone(),
            author: agent("a", "Asha"),
            body: "she wants a discount".into(),
            mentions: vec![],
            created_at: 1,
        };
        let from_asha = event(5, &c, EventBody::NoteCreated(note));
        assert_eq!(
            guard_change(&from_asha, "r").unwrap().text,
            "Asha added a note: she wants a discount"
        );
        assert_eq!(
            guard_change(&from_asha, "a"),
            None,
            "my own changes are not news"
        );
        let reply = event(
            6,
            &c,
            EventBody::MessageRecorded(MessageRecord {
                chat_id: c.clone(),
                message_id: "3EB0".into(),
                direction: Direction::Out,
                sent_at: 1,
                agent: Some(agent("m", "Meera")),
            }),
        );
        assert_eq!(guard_change(&reply, "r").unwrap().text, "Meera replied");
        assert_eq!(guard_change(&reply, "m"), None);
        let lock = event(
            7,
            &c,
            EventBody::LockAcquired {
                holder: agent("a", "Asha"),
                fence: 1,
                expires_at: 1,
                ttl_ms: 1,
            },
        );
        assert_eq!(guard_change(&lock, "r"), None);
    }

    #[test]
    fn timeline_lines_read_like_sentences() {
        let c = chat(1);
        let forced = event(
            3,
            &c,
            EventBody::LockForced {
                holder: agent("l", "Lena"),
                previous_holder: Some(agent("a", "Asha")),
                fence: 2,
                expires_at: 1,
                ttl_ms: 1,
            },
        );
        assert_eq!(
            describe_event(&forced).as_deref(),
            Some("Lena took over the reply from Asha")
        );
        let released = event(
            4,
            &c,
            EventBody::LockReleased {
                holder: agent("a", "Asha"),
                fence: 1,
            },
        );
        assert_eq!(describe_event(&released), None);
    }

    #[test]
    fn helpers() {
        assert_eq!(initials("Asha Rao"), "AR");
        assert_eq!(initials("ravi"), "RA");
        assert_eq!(initials("Meera K Iyer"), "MI");
        assert_eq!(initials(""), "?");
        assert_eq!(seconds_left(25_000, 1_000), 24);
        assert_eq!(seconds_left(25_000, 24_999), 1);
        assert_eq!(seconds_left(25_000, 26_000), 0);
    }

    #[test]
    fn queued_writes_show_in_their_own_chat_in_words() {
        let mut state = state_for("me", Role::Agent);
        state.agents = vec![protocol::api::Agent {
            id: "r".into(),
            name: "Ravi Kumar".into(),
            email: "r@x.test".into(),
            role: Role::Agent,
        }];
        let here = owned_and_locked(&mut state, agent("me", "ME"), None);
        let mut conversation = state.conversation(&here).unwrap().clone();
        conversation.reminders = vec![protocol::api::Reminder {
            id: "rem1".into(),
            chat_id: here.clone(),
            text: "Send the brochure".into(),
            due_at: 5,
            for_agent: agent("me", "ME"),
            created_by: agent("me", "ME"),
            created_at: 1,
            fired_at: Some(5),
            done_at: None,
        }];
        conversation.last_event_seq += 1;
        state.merge_conversation(conversation);
        let elsewhere = chat(3);
        let write = |key: &str, call: Call| PendingWrite {
            key: key.into(),
            call,
        };
        let long = "x".repeat(100);
        let writes = [
            write(
                "k1",
                Call::AddNote {
                    chat_id: here.clone(),
                    note: protocol::api::NoteRequest {
                        body: "Call after 5".into(),
                        mentions: vec![],
                    },
                },
            ),
            write(
                "k2",
                Call::AddNote {
                    chat_id: elsewhere.clone(),
                    note: protocol::api::NoteRequest {
                        body: "Not this chat".into(),
                        mentions: vec![],
                    },
                },
            ),
            write(
                "k3",
                Call::Handoff {
                    chat_id: here.clone(),
                    handoff: protocol::api::HandoffRequest {
                        to_agent_id: "r".into(),
                        done: String::new(),
                        promised: String::new(),
                        next_step: String::new(),
                        fence: None,
                    },
                },
            ),
            write(
                "k4",
                Call::Remind {
                    chat_id: here.clone(),
                    reminder: protocol::api::ReminderRequest {
                        due_at: 9,
                        text: long.clone(),
                        for_agent_id: None,
                    },
                },
            ),
            write("k5", Call::ReminderDone { id: "rem1".into() }),
            write(
                "k6",
                Call::Snooze {
                    id: "elsewhere".into(),
                    snooze: protocol::api::SnoozeRequest {
                        until: None,
                        minutes: Some(60),
                    },
                },
            ),
            write(
                "k7",
                Call::SetStage {
                    chat_id: here.clone(),
                    stage: protocol::api::StageRequest {
                        pipeline_id: Some("p".into()),
                        stage: Some("Quoted".into()),
                    },
                },
            ),
        ];
        let items: Vec<PendingItem> = writes
            .iter()
            .filter_map(|w| pending_item(&state, w))
            .collect();
        let view = pending_view(&here, &items);
        assert_eq!(
            view.notes,
            vec![("k1".to_owned(), "Call after 5".to_owned())]
        );
        assert_eq!(
            view.lines,
            vec![
                "Note “Call after 5” — not sent yet".to_owned(),
                "Handoff to Ravi Kumar — not sent yet".to_owned(),
                format!("Reminder “{}…” — not sent yet", "x".repeat(60)),
                "Reminder “Send the brochure” done — not sent yet".to_owned(),
                "Stage “Quoted” — not sent yet".to_owned(),
            ]
        );
        assert_eq!(
            view.stage,
            Some(Some(("p".to_owned(), "Quoted".to_owned())))
        );
        let other = pending_view(&elsewhere, &items);
        assert_eq!(
            other.lines,
            vec!["Note “Not this chat” — not sent yet".to_owned()]
        );
        assert_eq!(other.stage, None);
        assert_eq!(pending_view(&here, &[]), PendingView::default());
        let report = PendingWrite {
            key: "k8".into(),
            call: Call::Message {
                chat_id: here.clone(),
                report: protocol::api::MessageReport {
                    message_id: "M1".into(),
                    direction: protocol::api::Direction::In,
                    sent_at: None,
                    fence: None,
                    if_missing: None,
                },
            },
        };
        assert_eq!(
            pending_item(&state, &report),
            None,
            "reports are background work"
        );
    }

    #[test]
    fn the_notes_button_counts_the_notes() {
        assert_eq!(notes_label(0, false), "Notes");
        assert_eq!(notes_label(4, false), "Notes (4)");
        assert_eq!(notes_label(50, true), "Notes (50+)");
    }

    #[test]
    fn mentions_are_found_by_first_name_and_marked_in_the_text() {
        let agents = [
            protocol::api::Agent {
                id: "a1".into(),
                name: "Asha Rao".into(),
                email: "asha@x.test".into(),
                role: Role::Lead,
            },
            protocol::api::Agent {
                id: "r1".into(),
                name: "Ravi Kumar".into(),
                email: "ravi@x.test".into(),
                role: Role::Agent,
            },
        ];
        let body = "@asha, call back — cc @Ravi. Not me@asha.test nor @Lena";
        assert_eq!(mentioned_agent_ids(body, &agents), vec!["a1", "r1"]);
        let mentioned = [agent("a1", "Asha Rao"), agent("r1", "Ravi Kumar")];
        assert_eq!(
            note_segments(body, &mentioned),
            vec![
                ("@asha", true),
                (", call back — cc ", false),
                ("@Ravi", true),
                (". Not me@asha.test nor @Lena", false),
            ]
        );
        // Nothing mentioned: one plain piece, the text unchanged.
        assert_eq!(
            note_segments("<b>@Asha</b>", &[]),
            vec![("<b>@Asha</b>", false)]
        );
        assert_eq!(note_segments("", &mentioned), Vec::<(&str, bool)>::new());
        assert_eq!(note_segments("@", &mentioned), vec![("@", false)]);
        assert_eq!(
            note_segments("हिंदी @Asha 🙂", &mentioned),
            vec![("हिंदी ", false), ("@Asha", true), (" 🙂", false)]
        );
        let elodie = [protocol::api::Agent {
            id: "e1".into(),
            name: "Élodie Martin".into(),
            email: "e@x.test".into(),
            role: Role::Agent,
        }];
        assert_eq!(mentioned_agent_ids("merci @Élodie", &elodie), vec!["e1"]);
        assert_eq!(
            mentioned_agent_ids("@सीमा नमस्ते", &agents),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_handoff_says_what_is_missing_beside_each_field() {
        let mut request = protocol::api::HandoffRequest {
            to_agent_id: String::new(),
            done: "Quoted".into(),
            promised: "  ".into(),
            next_step: String::new(),
            fence: None,
        };
        let fields: Vec<&str> = handoff_gaps(&request).iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["to", "promised", "next_step"]);
        request.to_agent_id = "r1".into();
        request.promised = "A call".into();
        request.next_step = "Book the visit".into();
        assert!(handoff_gaps(&request).is_empty());
        let form = ["to", "done", "promised", "next_step"];
        assert_eq!(
            refused_field("done is required: the receiver needs it to carry on", &form),
            Some("done")
        );
        assert_eq!(refused_field("Ravi Kumar is not active", &form), None);
        assert_eq!(refused_field("", &form), None);
    }

    #[test]
    fn what_i_may_do_in_a_chat_is_shown_before_i_try() {
        let c = chat(1);
        let mut state = state_for("a", Role::Agent);
        let mut conversation = ConversationState {
            chat_id: c.clone(),
            alias: None,
            title: "Priya".into(),
            owner: Some(agent("r", "Ravi Kumar")),
            lock: None,
            stage: None,
            pending_handoff: None,
            accepted_handoff: None,
            reminders: vec![],
            requests: vec![],
            handoff_waiting: false,
            last_activity_at: 0,
            routed_by: None,
            queued_at: None,
            closed: false,
            last_event_seq: 1,
        };
        state.conversations.insert(c.clone(), conversation.clone());
        let view = header_view(&state, &c, 0);
        assert_eq!(
            view.work_refused.as_deref(),
            Some("Ravi Kumar owns this chat; only they or a lead can hand it off or change its stage")
        );
        // Mine, or nobody's, or I am a lead: nothing refused.
        let mut lead = TeamState {
            conversations: state.conversations.clone(),
            ..state_for("l", Role::Lead)
        };
        assert_eq!(header_view(&lead, &c, 0).work_refused, None);
        conversation.owner = None;
        state.conversations.insert(c.clone(), conversation.clone());
        assert_eq!(header_view(&state, &c, 0).work_refused, None);
        // A handoff I sent shows as waiting, to me only.
        conversation.owner = Some(agent("r", "Ravi Kumar"));
        conversation.pending_handoff = Some(Handoff {
            id: "h".into(),
            chat_id: c.clone(),
            from: Some(agent("a", "A")),
            to: agent("r", "Ravi Kumar"),
            by: agent("a", "A"),
            done: "x".into(),
            promised: "y".into(),
            next_step: "z".into(),
            status: protocol::api::HandoffStatus::Pending,
            decline_reason: None,
            created_at: 1,
            resolved_at: None,
        });
        state.conversations.insert(c.clone(), conversation.clone());
        assert_eq!(
            header_view(&state, &c, 0).waiting_for.as_deref(),
            Some("Waiting for Ravi Kumar to accept")
        );
        lead.conversations.insert(c.clone(), conversation);
        assert_eq!(header_view(&lead, &c, 0).waiting_for, None);
    }

    #[test]
    fn losing_my_reply_to_a_take_over_is_said_once() {
        let mine = crate::state::LockState {
            holder: agent("a", "A"),
            fence: 3,
            expires_at: 9,
        };
        let theirs = crate::state::LockState {
            holder: agent("l", "Lena Lead"),
            fence: 4,
            expires_at: 9,
        };
        assert_eq!(
            reply_taken(Some(&mine), Some(&theirs), "a").as_deref(),
            Some("Lena Lead took over this reply. What you wrote stays in your composer and was not sent.")
        );
        assert_eq!(
            reply_taken(Some(&mine), Some(&mine), "a"),
            None,
            "still mine"
        );
        assert_eq!(
            reply_taken(Some(&mine), None, "a"),
            None,
            "released, not taken"
        );
        assert_eq!(
            reply_taken(Some(&theirs), Some(&theirs), "a"),
            None,
            "never mine"
        );
        assert_eq!(reply_taken(None, Some(&theirs), "a"), None);
    }
}
