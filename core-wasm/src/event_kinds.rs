//! Decoding an event's body from its `kind` and `data`, written once for the service worker (which
//! reads the browser's parsed JSON) and for native tests (which read `serde_json` values).
//!
//! `EventBody` is adjacently tagged on the wire; serde's derived decoder for that buffers the whole
//! object first, which costs the WASM module dozens of kilobytes. Here the tag picks the payload
//! type, and each payload decodes as a plain struct straight from the source.

use protocol::api::{
    AgentRef, ChatRequest, Handoff, MessageRecord, Note, Pipeline, Reminder, StageRef,
};
use protocol::events::{AssignReason, EventBody};
use protocol::responder::ResponderNote;
use protocol::routing::{RoutingDecision, RoutingTrigger, RuleRef};
use protocol::templates::Template;
use protocol::{ChatId, Millis};
use serde::{Deserialize, Deserializer};

/// The body of an event of `kind` whose payload is `data`.
pub fn event_body<'de, D: Deserializer<'de>>(kind: &str, data: D) -> Result<EventBody, String> {
    let read = |e: D::Error| format!("{kind}: {e}");
    #[derive(Deserialize)]
    struct TitlePhone {
        title: String,
        phone: Option<String>,
        #[serde(default)]
        alias: Option<ChatId>,
    }
    #[derive(Deserialize)]
    struct Assigned {
        owner: Option<AgentRef>,
        previous_owner: Option<AgentRef>,
        reason: AssignReason,
    }
    #[derive(Deserialize)]
    struct Lock {
        holder: AgentRef,
        #[serde(default)]
        previous_holder: Option<AgentRef>,
        fence: i64,
        #[serde(default)]
        expires_at: Millis,
        #[serde(default)]
        ttl_ms: i64,
    }
    #[derive(Deserialize)]
    struct Stage {
        stage: Option<StageRef>,
        previous: Option<StageRef>,
    }
    Ok(match kind {
        "conversation.created" | "conversation.updated" => {
            let d = TitlePhone::deserialize(data).map_err(read)?;
            if kind == "conversation.created" {
                EventBody::ConversationCreated {
                    title: d.title,
                    phone: d.phone,
                    alias: d.alias,
                }
            } else {
                EventBody::ConversationUpdated {
                    title: d.title,
                    phone: d.phone,
                    alias: d.alias,
                }
            }
        }
        "conversation.closed" | "conversation.reopened" => {
            #[derive(Deserialize)]
            struct Owner {
                owner: Option<AgentRef>,
            }
            let owner = Owner::deserialize(data).map_err(read)?.owner;
            if kind == "conversation.closed" {
                EventBody::ConversationClosed { owner }
            } else {
                EventBody::ConversationReopened { owner }
            }
        }
        "conversation.assigned" => {
            let d = Assigned::deserialize(data).map_err(read)?;
            EventBody::Assigned {
                owner: d.owner,
                previous_owner: d.previous_owner,
                reason: d.reason,
            }
        }
        "lock.acquired" | "lock.renewed" | "lock.released" | "lock.forced" => {
            let d = Lock::deserialize(data).map_err(read)?;
            match kind {
                "lock.acquired" => EventBody::LockAcquired {
                    holder: d.holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
                "lock.renewed" => EventBody::LockRenewed {
                    holder: d.holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
                "lock.released" => EventBody::LockReleased {
                    holder: d.holder,
                    fence: d.fence,
                },
                _ => EventBody::LockForced {
                    holder: d.holder,
                    previous_holder: d.previous_holder,
                    fence: d.fence,
                    expires_at: d.expires_at,
                    ttl_ms: d.ttl_ms,
                },
            }
        }
        "handoff.created" => EventBody::HandoffCreated(Handoff::deserialize(data).map_err(read)?),
        "handoff.accepted" => EventBody::HandoffAccepted(Handoff::deserialize(data).map_err(read)?),
        "handoff.declined" => EventBody::HandoffDeclined(Handoff::deserialize(data).map_err(read)?),
        "chat.requested" => EventBody::ChatRequested(ChatRequest::deserialize(data).map_err(read)?),
        "chat.request_answered" => {
            EventBody::ChatRequestAnswered(ChatRequest::deserialize(data).map_err(read)?)
        }
        "note.created" => EventBody::NoteCreated(Note::deserialize(data).map_err(read)?),
        "stage.changed" => {
            let d = Stage::deserialize(data).map_err(read)?;
            EventBody::StageChanged {
                stage: d.stage,
                previous: d.previous,
            }
        }
        "reminder.created" => {
            EventBody::ReminderCreated(Reminder::deserialize(data).map_err(read)?)
        }
        "reminder.due" => EventBody::ReminderDue(Reminder::deserialize(data).map_err(read)?),
        "reminder.snoozed" => {
            EventBody::ReminderSnoozed(Reminder::deserialize(data).map_err(read)?)
        }
        "reminder.done" => EventBody::ReminderDone(Reminder::deserialize(data).map_err(read)?),
        "pipeline.created" => {
            EventBody::PipelineCreated(Pipeline::deserialize(data).map_err(read)?)
        }
        "message.recorded" => {
            EventBody::MessageRecorded(MessageRecord::deserialize(data).map_err(read)?)
        }
        "agent.created" => EventBody::AgentCreated(AgentRef::deserialize(data).map_err(read)?),
        "agent.deactivated" => {
            EventBody::AgentDeactivated(AgentRef::deserialize(data).map_err(read)?)
        }
        "agent.reactivated" => {
            EventBody::AgentReactivated(AgentRef::deserialize(data).map_err(read)?)
        }
        "routing.assigned" | "routing.queued" | "routing.reassigned" => {
            // What the worker shows of a decision (its notification and timeline line); who else
            // was eligible or refused and why is for the lead's dry run, read from the server.
            #[derive(Deserialize)]
            struct Decision {
                trigger: RoutingTrigger,
                rule: Option<RuleRef>,
                owner: Option<AgentRef>,
                explanation: String,
            }
            let d = Decision::deserialize(data).map_err(read)?;
            let d = RoutingDecision {
                trigger: d.trigger,
                rule: d.rule,
                strategy: None,
                owner: d.owner,
                previous_owner: None,
                eligible: Vec::new(),
                refused: Vec::new(),
                explanation: d.explanation,
            };
            match kind {
                "routing.assigned" => EventBody::RoutingAssigned(d),
                "routing.queued" => EventBody::RoutingQueued(d),
                _ => EventBody::RoutingReassigned(d),
            }
        }
        "pipeline.updated" => {
            #[derive(Deserialize)]
            struct Updated {
                pipeline: Pipeline,
                #[serde(default)]
                renamed: Vec<protocol::api::StageRename>,
            }
            let d = Updated::deserialize(data).map_err(read)?;
            EventBody::PipelineUpdated {
                pipeline: d.pipeline,
                renamed: d.renamed,
            }
        }
        // Only which template changed: tabs read the templates themselves when the picker opens,
        // so the worker carries no decoder for them.
        "template.saved" | "template.deleted" => {
            #[derive(Deserialize)]
            struct Id {
                id: String,
            }
            let id = Id::deserialize(data).map_err(read)?.id;
            if kind == "template.deleted" {
                EventBody::TemplateDeleted { id }
            } else {
                EventBody::TemplateSaved(Template {
                    id,
                    name: String::new(),
                    body: String::new(),
                    pipeline_id: None,
                    stage: None,
                    custom_variables: Vec::new(),
                    use_count: 0,
                    created_at: 0,
                    updated_at: 0,
                })
            }
        }
        "agent.sessions_ended" => {
            EventBody::SessionsEnded(AgentRef::deserialize(data).map_err(read)?)
        }
        "responder.sent" | "responder.answer" | "responder.handoff" | "responder.stopped" => {
            let note = ResponderNote::deserialize(data).map_err(read)?;
            match kind {
                "responder.sent" => EventBody::ResponderSent(note),
                "responder.answer" => EventBody::ResponderAnswer(note),
                "responder.handoff" => EventBody::ResponderHandoff(note),
                _ => EventBody::ResponderStopped(note),
            }
        }
        other => return Err(format!("unknown event kind “{other}”")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::api::{ChatRequestStatus, Direction, HandoffStatus};
    use protocol::events::Event;
    use protocol::routing::{Refusal, RoutingTrigger, RuleRef, Strategy};

    fn agent(id: &str) -> AgentRef {
        AgentRef {
            id: id.into(),
            name: format!("Agent {id}"),
        }
    }

    fn chat() -> ChatId {
        ChatId::parse("919876543210@c.us").unwrap()
    }

    /// One body of every kind. The match below has no catch-all: a new kind in `protocol` does
    /// not compile here until it has a sample, and then the test checks the decoder reads it.
    fn every_kind() -> Vec<EventBody> {
        let handoff = Handoff {
            id: "h1".into(),
            chat_id: chat(),
            from: Some(agent("a1")),
            to: agent("a2"),
            by: agent("a1"),
            done: "Quoted".into(),
            promised: "Call back".into(),
            next_step: "Brochure".into(),
            status: HandoffStatus::Pending,
            decline_reason: None,
            created_at: 1,
            resolved_at: None,
        };
        let decision = RoutingDecision {
            trigger: RoutingTrigger::NewChat,
            rule: Some(RuleRef {
                id: "rule1".into(),
                name: "Qualification by day".into(),
            }),
            strategy: Some(Strategy::RoundRobin),
            owner: Some(agent("a1")),
            previous_owner: None,
            eligible: vec![agent("a1")],
            refused: vec![Refusal {
                agent: agent("a2"),
                reason: "away".into(),
            }],
            explanation: "Rule “Qualification by day” (round robin) gave the chat to Agent a1."
                .into(),
        };
        let reminder = Reminder {
            id: "r1".into(),
            chat_id: chat(),
            text: "Follow up".into(),
            due_at: 9,
            for_agent: agent("a1"),
            created_by: agent("a2"),
            created_at: 1,
            fired_at: Some(9),
            done_at: None,
        };
        let stage = StageRef {
            pipeline_id: "p".into(),
            pipeline_name: "Sales".into(),
            stage: "Quoted".into(),
        };
        let request = ChatRequest {
            id: "q1".into(),
            chat_id: chat(),
            by: agent("a2"),
            message: Some("I quoted her".into()),
            status: ChatRequestStatus::Pending,
            created_at: 5,
            answered_by: None,
            answered_at: None,
        };
        let samples = vec![
            EventBody::ConversationCreated {
                title: "Priya".into(),
                phone: Some("+91 98765 43210".into()),
                alias: Some(ChatId::parse("12345678901234@lid").unwrap()),
            },
            EventBody::ConversationUpdated {
                title: "Priya S".into(),
                phone: None,
                alias: None,
            },
            EventBody::Assigned {
                owner: Some(agent("a2")),
                previous_owner: Some(agent("a1")),
                reason: AssignReason::Handoff,
            },
            EventBody::LockAcquired {
                holder: agent("a1"),
                fence: 3,
                expires_at: 30_000,
                ttl_ms: 30_000,
            },
            EventBody::LockRenewed {
                holder: agent("a1"),
                fence: 3,
                expires_at: 40_000,
                ttl_ms: 30_000,
            },
            EventBody::LockReleased {
                holder: agent("a1"),
                fence: 3,
            },
            EventBody::LockForced {
                holder: agent("lead"),
                previous_holder: Some(agent("a1")),
                fence: 4,
                expires_at: 50_000,
                ttl_ms: 30_000,
            },
            EventBody::HandoffCreated(handoff.clone()),
            EventBody::HandoffAccepted(Handoff {
                status: HandoffStatus::Accepted,
                resolved_at: Some(5),
                ..handoff.clone()
            }),
            EventBody::HandoffDeclined(Handoff {
                status: HandoffStatus::Declined,
                decline_reason: Some("On leave".into()),
                resolved_at: Some(5),
                ..handoff
            }),
            EventBody::NoteCreated(Note {
                id: "n1".into(),
                chat_id: chat(),
                author: agent("a1"),
                body: "<b>as typed</b>".into(),
                mentions: vec![agent("a2")],
                created_at: 2,
            }),
            EventBody::StageChanged {
                stage: Some(stage.clone()),
                previous: None,
            },
            EventBody::ReminderCreated(reminder.clone()),
            EventBody::ReminderDue(reminder.clone()),
            EventBody::ReminderSnoozed(reminder.clone()),
            EventBody::ReminderDone(Reminder {
                done_at: Some(10),
                ..reminder
            }),
            EventBody::PipelineCreated(Pipeline {
                id: "p".into(),
                name: "Sales".into(),
                stages: vec!["New".into(), "Quoted".into()],
                sla: Default::default(),
                created_at: 1,
            }),
            EventBody::MessageRecorded(MessageRecord {
                chat_id: chat(),
                message_id: "M1".into(),
                direction: Direction::Out,
                sent_at: 3,
                agent: Some(agent("a1")),
            }),
            EventBody::ConversationClosed {
                owner: Some(agent("a1")),
            },
            EventBody::ConversationReopened { owner: None },
            EventBody::ChatRequested(request.clone()),
            EventBody::ChatRequestAnswered(ChatRequest {
                status: ChatRequestStatus::Granted,
                answered_by: Some(agent("a1")),
                answered_at: Some(9),
                ..request
            }),
            EventBody::AgentCreated(agent("a4")),
            EventBody::AgentDeactivated(agent("a3")),
            EventBody::AgentReactivated(agent("a3")),
            EventBody::SessionsEnded(agent("a3")),
            EventBody::ResponderSent(ResponderNote {
                text: "Hi! What is your budget?".into(),
            }),
            EventBody::ResponderAnswer(ResponderNote {
                text: "Budget: ₹60,00,000".into(),
            }),
            EventBody::ResponderHandoff(ResponderNote {
                text: "Qualified: handed to the team at Qualified.".into(),
            }),
            EventBody::ResponderStopped(ResponderNote {
                text: "Asha took over: the responder stopped.".into(),
            }),
            EventBody::RoutingAssigned(decision.clone()),
            EventBody::RoutingQueued(RoutingDecision {
                owner: None,
                eligible: Vec::new(),
                ..decision.clone()
            }),
            EventBody::RoutingReassigned(RoutingDecision {
                trigger: RoutingTrigger::NoReply,
                previous_owner: Some(agent("a2")),
                ..decision
            }),
            EventBody::TemplateSaved(Template {
                id: "t1".into(),
                name: "Greeting".into(),
                body: "Hi {{first_name}}, plot {{plot_no}}".into(),
                pipeline_id: Some("p".into()),
                stage: None,
                custom_variables: vec!["plot_no".into()],
                use_count: 3,
                created_at: 1,
                updated_at: 2,
            }),
            EventBody::TemplateDeleted { id: "t1".into() },
            EventBody::PipelineUpdated {
                pipeline: Pipeline {
                    id: "p".into(),
                    name: "Sales".into(),
                    stages: vec!["New".into(), "Quoted lead".into()],
                    sla: vec![protocol::api::StageSla {
                        stage: "New".into(),
                        first_response_mins: Some(15),
                        response_mins: None,
                    }],
                    created_at: 1,
                },
                renamed: vec![protocol::api::StageRename {
                    from: "Quoted".into(),
                    to: "Quoted lead".into(),
                }],
            },
        ];
        for body in &samples {
            match body {
                EventBody::ConversationCreated { .. }
                | EventBody::ConversationUpdated { .. }
                | EventBody::Assigned { .. }
                | EventBody::LockAcquired { .. }
                | EventBody::LockRenewed { .. }
                | EventBody::LockReleased { .. }
                | EventBody::LockForced { .. }
                | EventBody::HandoffCreated(_)
                | EventBody::HandoffAccepted(_)
                | EventBody::HandoffDeclined(_)
                | EventBody::ChatRequested(_)
                | EventBody::ChatRequestAnswered(_)
                | EventBody::ConversationClosed { .. }
                | EventBody::ConversationReopened { .. }
                | EventBody::NoteCreated(_)
                | EventBody::StageChanged { .. }
                | EventBody::ReminderCreated(_)
                | EventBody::ReminderDue(_)
                | EventBody::ReminderSnoozed(_)
                | EventBody::ReminderDone(_)
                | EventBody::PipelineCreated(_)
                | EventBody::MessageRecorded(_)
                | EventBody::AgentCreated(_)
                | EventBody::AgentDeactivated(_)
                | EventBody::AgentReactivated(_)
                | EventBody::SessionsEnded(_)
                | EventBody::RoutingAssigned(_)
                | EventBody::RoutingQueued(_)
                | EventBody::RoutingReassigned(_)
                | EventBody::TemplateSaved(_)
                | EventBody::TemplateDeleted { .. }
                | EventBody::PipelineUpdated { .. }
                | EventBody::ResponderSent(_)
                | EventBody::ResponderAnswer(_)
                | EventBody::ResponderHandoff(_)
                | EventBody::ResponderStopped(_) => {}
            }
        }
        samples
    }

    #[test]
    fn every_event_kind_round_trips_through_the_workers_decoder() {
        let samples = every_kind();
        let kinds: std::collections::BTreeSet<&str> = samples.iter().map(EventBody::kind).collect();
        assert_eq!(kinds.len(), samples.len(), "one sample per kind");
        for body in samples {
            // As the server sends it: `{seq, chat_id, actor, at, kind, data}`.
            let wire = serde_json::to_value(Event {
                seq: 1,
                chat_id: Some(chat()),
                actor: Some(agent("a1")),
                at: 1,
                body: body.clone(),
            })
            .unwrap();
            assert_eq!(wire["kind"], body.kind(), "the kind on the wire");
            let decoded = event_body(body.kind(), wire["data"].clone()).unwrap();
            match (&decoded, &body) {
                // The worker reads only which template changed.
                (EventBody::TemplateSaved(got), EventBody::TemplateSaved(sent)) => {
                    assert_eq!(got.id, sent.id);
                    assert!(got.name.is_empty() && got.body.is_empty());
                }
                // Of a routing decision, what it shows: trigger, rule, owner, explanation.
                (
                    EventBody::RoutingAssigned(got)
                    | EventBody::RoutingQueued(got)
                    | EventBody::RoutingReassigned(got),
                    EventBody::RoutingAssigned(sent)
                    | EventBody::RoutingQueued(sent)
                    | EventBody::RoutingReassigned(sent),
                ) => {
                    assert_eq!(decoded.kind(), body.kind());
                    assert_eq!(
                        (&got.trigger, &got.rule, &got.owner, &got.explanation),
                        (&sent.trigger, &sent.rule, &sent.owner, &sent.explanation)
                    );
                    assert!(got.refused.is_empty() && got.eligible.is_empty());
                }
                _ => assert_eq!(decoded, body, "{}", body.kind()),
            }
        }
    }

    #[test]
    fn an_unknown_kind_or_a_malformed_payload_is_an_error_not_a_guess() {
        let unknown = event_body("lock.teleported", serde_json::json!({}));
        assert!(unknown.unwrap_err().contains("lock.teleported"));
        let malformed = event_body("note.created", serde_json::json!({"id": 5}));
        assert!(malformed.unwrap_err().starts_with("note.created"));
    }
}
