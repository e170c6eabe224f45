//! The wire format is a contract between the server and every extension build in the field:
//! these tests pin its shape and check that every message survives a round trip.

#![allow(clippy::unwrap_used)]

use protocol::api::{
    AgentRef, Direction, Handoff, HandoffStatus, MessageRecord, Note, Pipeline, Reminder, StageRef,
};
use protocol::events::{AssignReason, Event, EventBody};
use protocol::ws::{ClientMessage, ServerMessage};
use protocol::ChatId;
use serde_json::json;

fn asha() -> AgentRef {
    AgentRef {
        id: "a1".into(),
        name: "Asha".into(),
    }
}

fn chat() -> ChatId {
    ChatId::parse("919876543210@c.us").unwrap()
}

fn reminder() -> Reminder {
    Reminder {
        id: "r1".into(),
        chat_id: chat(),
        text: "call".into(),
        due_at: 5,
        for_agent: asha(),
        created_by: asha(),
        created_at: 1,
        fired_at: None,
        done_at: None,
    }
}

fn handoff() -> Handoff {
    Handoff {
        id: "h1".into(),
        chat_id: chat(),
        from: None,
        to: asha(),
        by: asha(),
        done: "d".into(),
        promised: "p".into(),
        next_step: "n".into(),
        status: HandoffStatus::Pending,
        decline_reason: None,
        created_at: 1,
        resolved_at: None,
    }
}

fn every_body() -> Vec<EventBody> {
    let stage = StageRef {
        pipeline_id: "p1".into(),
        pipeline_name: "Sales".into(),
        stage: "New".into(),
    };
    vec![
        EventBody::ConversationCreated {
            title: "Priya".into(),
            phone: Some("+91".into()),
            alias: Some(ChatId::parse("179950657237125@lid").unwrap()),
        },
        EventBody::ConversationUpdated {
            title: "Priya S".into(),
            phone: None,
            alias: None,
        },
        EventBody::Assigned {
            owner: Some(asha()),
            previous_owner: None,
            reason: AssignReason::Claim,
        },
        EventBody::LockAcquired {
            holder: asha(),
            fence: 3,
            expires_at: 10,
            ttl_ms: 30_000,
        },
        EventBody::LockReleased {
            holder: asha(),
            fence: 3,
        },
        EventBody::LockForced {
            holder: asha(),
            previous_holder: Some(asha()),
            fence: 4,
            expires_at: 11,
            ttl_ms: 30_000,
        },
        EventBody::HandoffCreated(handoff()),
        EventBody::HandoffAccepted(handoff()),
        EventBody::HandoffDeclined(handoff()),
        EventBody::NoteCreated(Note {
            id: "n1".into(),
            chat_id: chat(),
            author: asha(),
            body: "<b>not html</b>".into(),
            mentions: vec![asha()],
            created_at: 2,
        }),
        EventBody::StageChanged {
            stage: Some(stage),
            previous: None,
        },
        EventBody::ReminderCreated(reminder()),
        EventBody::ReminderDue(reminder()),
        EventBody::ReminderSnoozed(reminder()),
        EventBody::ReminderDone(reminder()),
        EventBody::PipelineCreated(Pipeline {
            id: "p1".into(),
            name: "Sales".into(),
            stages: vec!["New".into()],
            sla: Default::default(),
            created_at: 1,
        }),
        EventBody::MessageRecorded(MessageRecord {
            chat_id: chat(),
            message_id: "3EB0".into(),
            direction: Direction::Out,
            sent_at: 3,
            agent: Some(asha()),
        }),
        EventBody::LockRenewed {
            holder: asha(),
            fence: 4,
            expires_at: 9,
            ttl_ms: 30_000,
        },
        EventBody::AgentCreated(asha()),
        EventBody::AgentDeactivated(asha()),
        EventBody::AgentReactivated(asha()),
        EventBody::SessionsEnded(asha()),
        EventBody::RoutingQueued(protocol::routing::RoutingDecision {
            trigger: protocol::routing::RoutingTrigger::NewChat,
            rule: None,
            strategy: None,
            owner: None,
            previous_owner: None,
            eligible: Vec::new(),
            refused: Vec::new(),
            explanation: "No routing rule matches this chat: it waits in the queue.".into(),
        }),
        EventBody::PipelineUpdated {
            pipeline: Pipeline {
                id: "p1".into(),
                name: "Sales".into(),
                stages: vec!["New".into(), "Quote sent".into()],
                sla: vec![protocol::api::StageSla {
                    stage: "New".into(),
                    first_response_mins: Some(15),
                    response_mins: Some(60),
                }],
                created_at: 1,
            },
            renamed: vec![protocol::api::StageRename {
                from: "Quoted".into(),
                to: "Quote sent".into(),
            }],
        },
        EventBody::TemplateSaved(protocol::templates::Template {
            id: "t1".into(),
            name: "Greeting".into(),
            body: "Hi {{first_name}}".into(),
            pipeline_id: None,
            stage: None,
            custom_variables: Vec::new(),
            use_count: 0,
            created_at: 1,
            updated_at: 1,
        }),
        EventBody::TemplateDeleted { id: "t1".into() },
    ]
}

#[test]
fn every_event_round_trips_with_its_kind_on_the_wire() {
    for (seq, body) in every_body().into_iter().enumerate() {
        let event = Event {
            seq: seq as i64 + 1,
            chat_id: Some(chat()),
            actor: Some(asha()),
            at: 42,
            body,
        };
        let message = ServerMessage::Event(event.clone());
        let text = serde_json::to_string(&message).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "event");
        assert_eq!(value["kind"], event.body.kind(), "{text}");
        assert!(value.get("data").is_some(), "{text}");
        let back: ServerMessage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, message);
    }
}

#[test]
fn the_event_shape_is_pinned() {
    let event = Event {
        seq: 7,
        chat_id: Some(chat()),
        actor: Some(asha()),
        at: 1_700_000_000_000,
        body: EventBody::LockAcquired {
            holder: asha(),
            fence: 3,
            expires_at: 1_700_000_030_000,
            ttl_ms: 30_000,
        },
    };
    assert_eq!(
        serde_json::to_value(ServerMessage::Event(event)).unwrap(),
        json!({
            "type": "event",
            "seq": 7,
            "chat_id": "919876543210@c.us",
            "actor": {"id": "a1", "name": "Asha"},
            "at": 1_700_000_000_000_i64,
            "kind": "lock.acquired",
            "data": {"holder": {"id": "a1", "name": "Asha"}, "fence": 3,
                     "expires_at": 1_700_000_030_000_i64, "ttl_ms": 30_000}
        })
    );
    assert_eq!(
        serde_json::to_value(ServerMessage::Resync {
            latest_seq: 9,
            server_time: 1
        })
        .unwrap(),
        json!({"type": "resync", "latest_seq": 9, "server_time": 1})
    );
    assert_eq!(
        serde_json::from_str::<ClientMessage>(r#"{"type":"ping"}"#).unwrap(),
        ClientMessage::Ping
    );
}

#[test]
fn only_history_goes_into_the_timeline() {
    let live_only: Vec<&str> = every_body()
        .iter()
        .filter(|b| !b.in_timeline())
        .map(EventBody::kind)
        .collect();
    assert_eq!(
        live_only,
        vec![
            "conversation.updated",
            "lock.acquired",
            "lock.released",
            "pipeline.created",
            "message.recorded",
            "lock.renewed",
            "agent.created",
            "agent.deactivated",
            "agent.reactivated",
            "agent.sessions_ended",
            "pipeline.updated",
            "template.saved",
            "template.deleted"
        ]
    );
}

#[test]
fn chat_ids_are_validated_when_decoded() {
    assert!(serde_json::from_str::<ChatId>(r#""919876543210@c.us""#).is_ok());
    let err = serde_json::from_str::<ChatId>(r#""not a chat""#).unwrap_err();
    assert!(err.to_string().contains("@c.us"));
}

#[test]
fn requests_refuse_unknown_fields() {
    let err = serde_json::from_str::<protocol::api::NoteRequest>(r#"{"body":"x","html":true}"#)
        .unwrap_err();
    assert!(err.to_string().contains("unknown field"));
}
