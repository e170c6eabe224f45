//! The first responder at work, driven as the seat drives it: a new chat's first message starts
//! its flow, the seat sends each message only once the server cleared it under the seat's reply
//! lock, reports the answer values it read, and a finished flow moves the chat to its stage and
//! hands it to routing with the answers. Humans first: a person taking the lock stops it at once,
//! and a second seat cannot work the same chat.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{chat, enc, eventually, Backend, EventStream, TestAgent, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_seat_qualifies_a_new_chat_and_hands_it_to_the_agent_on_shift,
    a_person_taking_the_chat_stops_the_responder_and_one_seat_works_a_chat,
    out_of_hours_the_customer_asking_for_a_person_waits_in_the_queue_with_the_answers,
    the_language_model_reads_replies_and_the_parser_stays_the_fallback,
    a_flow_may_answer_for_an_owner_who_is_off_shift,
    a_customer_who_goes_quiet_reaches_people_with_the_answers_so_far,
);

/// Homes: budget (under 50 lakh → Nurture), home type, site visit; for brand-new chats.
fn homes(pipeline_id: &str) -> Value {
    json!({
        "name": "Homes first answer",
        "pipeline_id": pipeline_id,
        "new_chats": true,
        "greeting": "Hi! Acme Realty here.",
        "done_stage": "Qualified",
        "closing": "Thank you! A colleague will call you.",
        "questions": [
            {"key": "budget", "label": "Budget", "text": "What is your budget?", "kind": "amount",
             "branches": [{"when": {"below": 5000000}, "then": {"exit": "Nurture"}}]},
            {"key": "type", "label": "Home", "text": "Which home?", "kind": "choice",
             "options": ["2BHK", "3BHK", "Villa"]},
            {"key": "visit", "label": "Site visit", "text": "A visit this week?", "kind": "yes_no"}
        ]
    })
}

/// A lead, a pipeline with the flow above, and a seat whose event stream is open.
struct Setup {
    lena: TestAgent,
    seat: TestAgent,
    _seat_online: EventStream,
}

async fn setup(app: &TestApp) -> Setup {
    let lena = app.agent("Lena", Role::Lead).await;
    let pipeline = lena
        .post(
            "/pipelines",
            json!({"name": "Homes", "stages": ["New", "Nurture", "Qualified"]}),
        )
        .await
        .expect(201);
    lena.post("/flows", homes(pipeline["id"].as_str().unwrap()))
        .await
        .expect(201);
    let seat = app.agent("Night seat", Role::Responder).await;
    let seat_online = online(app, &seat).await;
    Setup {
        lena,
        seat,
        _seat_online: seat_online,
    }
}

async fn online(app: &TestApp, agent: &TestAgent) -> EventStream {
    let mut stream = agent.events(app.latest_seq().await).await;
    stream.backlog().await;
    stream
}

/// The customer writes (reported by `reporter`'s browser, as any linked browser reports it).
async fn customer_writes(reporter: &TestAgent, chat_id: &str, message_id: &str) {
    reporter
        .post(
            &format!("/conversations/{}/messages", enc(chat_id)),
            json!({"message_id": message_id, "direction": "in", "if_missing": {"title": "Priya"}}),
        )
        .await
        .expect(201);
}

/// The seat's one task in `chat_id` (its work lists it).
async fn task_in(seat: &TestAgent, chat_id: &str) -> Value {
    let work = seat.get("/responder/work").await.expect(200);
    work.as_array()
        .unwrap()
        .iter()
        .find(|t| t["chat_id"] == chat_id)
        .cloned()
        .unwrap_or_else(|| panic!("no task in {chat_id}: {work}"))
}

/// Sends every message the task names as the seat does: under its reply lock, each cleared just
/// before it goes and reported once it is in the chat. Returns the texts and the task after.
async fn send_all(seat: &TestAgent, chat_id: &str, task: &Value) -> (Vec<String>, Value) {
    let (texts, after) = send_holding(seat, chat_id, task).await;
    let conversation = seat.conversation(chat_id).await;
    if after["over"] == true && conversation["routed_by"].is_object() {
        // The flow's end gave the chat to a person, whose it is now: the seat's lock ended.
        assert_eq!(conversation["lock"], Value::Null, "{conversation}");
        return (texts, after);
    }
    seat.release(chat_id).await.expect(204);
    (texts, after)
}

/// [`send_all`] up to the last message reported, the seat still holding its lock.
async fn send_holding(seat: &TestAgent, chat_id: &str, task: &Value) -> (Vec<String>, Value) {
    let fence = seat.lock(chat_id).await.expect(200)["fence"].clone();
    let mut texts = Vec::new();
    let mut after = task.clone();
    for message in task["sends"].as_array().unwrap() {
        let path = format!("/responder/chats/{}", enc(chat_id));
        let cleared = seat
            .post(
                &format!("{path}/send"),
                json!({"key": message["key"], "fence": fence}),
            )
            .await
            .expect(200);
        assert_eq!(cleared["already"], false, "{cleared}");
        texts.push(message["text"].as_str().unwrap().to_owned());
        after = seat
            .post(&format!("{path}/sent"), json!({"key": message["key"]}))
            .await
            .expect(200);
    }
    (texts, after)
}

/// A rule that gives new chats to `agent`.
async fn sales_rule(lead: &TestAgent, agent: &TestAgent) {
    lead.post(
        "/routing/rules",
        json!({"name": "Sales", "match": {"new_chat": true},
               "target": {"agent_ids": [agent.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
}

/// How the responder's run in `chat_id` ended (`null` while it runs).
async fn ended(viewer: &TestAgent, chat_id: &str) -> Value {
    viewer
        .get(&format!("/responder/chats/{}", enc(chat_id)))
        .await
        .expect(200)["ended"]
        .clone()
}

/// `lead` hands `chat_id` to `to` with a note.
async fn hand_to(lead: &TestAgent, chat_id: &str, to: &TestAgent) {
    lead.post(
        &format!("/conversations/{}/handoff", enc(chat_id)),
        json!({"to_agent_id": to.id, "done": "Called", "promised": "Prices", "next_step": "Send them"}),
    )
    .await
    .expect(201);
}

async fn answer(seat: &TestAgent, chat_id: &str, upto: &Value, value: Value) -> Value {
    seat.post(
        &format!("/responder/chats/{}/reply", enc(chat_id)),
        json!({"upto": upto, "value": value}),
    )
    .await
    .expect(200)
}

async fn the_seat_qualifies_a_new_chat_and_hands_it_to_the_agent_on_shift(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let asha = app.agent("Asha", Role::Agent).await;
    lena.put(
        &format!("/agents/{}/routing", asha.id),
        json!({"shifts": [{"weekday": "thu", "start": "09:00", "end": "18:00"}]}),
    )
    .await
    .expect(200);
    sales_rule(&lena, &asha).await;
    // Thursday 26 November 2026, 10:00 in Kolkata: Asha is on shift and online.
    app.set_routing_time(2026, 11, 26, 10, 0).await;
    let _asha_online = online(&app, &asha).await;
    let priya = chat(1);

    customer_writes(&seat, &priya, "M1").await;
    // The responder has it, not routing: nobody owns it, and it joined the flow's pipeline.
    let conversation = lena.conversation(&priya).await;
    assert_eq!(conversation["owner"], Value::Null, "{conversation}");
    assert_eq!(conversation["stage"]["stage"], "New");
    let task = task_in(&seat, &priya).await;
    assert_eq!(task["title"], "Priya");
    assert_eq!(task["sends"].as_array().unwrap().len(), 1, "{task}");
    let greeting = task["sends"][0]["text"].as_str().unwrap();
    assert!(
        greeting.starts_with("Hi! Acme Realty here.") && greeting.ends_with("What is your budget?"),
        "{greeting}"
    );
    assert!(!greeting.contains("closed"), "Asha is on shift: {greeting}");
    assert_eq!(task["reply"], Value::Null, "nothing asked yet");

    // Its lock claims nothing; a message is cleared once (a second ask says it already was).
    let grant = seat.lock(&priya).await.expect(200);
    assert_eq!(grant["claimed"], false);
    let path = format!("/responder/chats/{}", enc(&priya));
    let key = task["sends"][0]["key"].clone();
    let send = json!({"key": key, "fence": grant["fence"]});
    assert_eq!(
        seat.post(&format!("{path}/send"), send.clone())
            .await
            .expect(200)["already"],
        false
    );
    assert_eq!(
        seat.post(&format!("{path}/send"), send).await.expect(200)["already"],
        true
    );
    let again = task_in(&seat, &priya).await;
    assert_eq!(again["sends"][0]["cleared"], true, "{again}");
    // Other steps refused while a message waits, naming why.
    seat.post(
        &format!("{path}/reply"),
        json!({"upto": "M1", "value": {"amount": 1}}),
    )
    .await
    .expect_error(409, "responder_behind");
    // Only the seat works it.
    lena.get("/responder/work")
        .await
        .expect_error(403, "forbidden");
    lena.post(&format!("{path}/sent"), json!({"key": key}))
        .await
        .expect_error(403, "forbidden");
    let after = seat
        .post(&format!("{path}/sent"), json!({"key": key}))
        .await
        .expect(200);
    assert_eq!(after["sends"], json!([]));
    assert_eq!(after["reply"], Value::Null, "no answer yet");
    seat.release(&priya).await.expect(204);
    let work = seat.get("/responder/work").await.expect(200);
    assert_eq!(work, json!([]), "nothing to do until the customer writes");

    // "around 60 lakh": the seat read the value; the next question follows.
    customer_writes(&seat, &priya, "M2").await;
    let task = task_in(&seat, &priya).await;
    assert_eq!(task["reply"]["upto"], "M2");
    assert_eq!(task["reply"]["key"], "budget");
    assert_eq!(task["reply"]["kind"], "amount");
    assert_eq!(
        task["reply"]["today"], "2026-11-26",
        "the org's calendar day"
    );
    assert!(task["reply"]["person_words"]
        .as_array()
        .unwrap()
        .contains(&json!("human")));
    seat.post(
        &format!("{path}/reply"),
        json!({"upto": "M1", "value": {"amount": 6000000}}),
    )
    .await
    .expect_error(409, "responder_behind");
    let task = answer(&seat, &priya, &json!("M2"), json!({"amount": 6000000})).await;
    let (sent, _) = send_all(&seat, &priya, &task).await;
    assert_eq!(sent, vec!["Which home?\n1. 2BHK\n2. 3BHK\n3. Villa"]);
    customer_writes(&seat, &priya, "M3").await;
    let task = answer(&seat, &priya, &json!("M3"), json!({"choice": 1})).await;
    let (sent, _) = send_all(&seat, &priya, &task).await;
    assert_eq!(sent, vec!["A visit this week?"]);
    customer_writes(&seat, &priya, "M4").await;
    let task = answer(&seat, &priya, &json!("M4"), json!({"yes_no": true})).await;
    let (sent, after) = send_all(&seat, &priya, &task).await;
    assert_eq!(sent, vec!["Thank you! A colleague will call you."]);
    assert_eq!(after["over"], true, "{after}");

    // Qualified, and Asha has it with the answers in the handoff.
    let conversation = eventually("the chat to reach Asha", || async {
        let c = lena.conversation(&priya).await;
        (c["owner"]["id"] == asha.id.as_str()).then_some(c)
    })
    .await;
    assert_eq!(conversation["stage"]["stage"], "Qualified");
    let handoff = &conversation["pending_handoff"];
    assert_eq!(handoff["to"]["id"], asha.id.as_str(), "{conversation}");
    assert_eq!(handoff["by"]["id"], seat.id.as_str());
    assert_eq!(
        handoff["done"],
        "Qualification answers: Budget: ₹60,00,000 · Home: 2BHK · Site visit: Yes"
    );
    assert_eq!(handoff["next_step"], "Follow up: qualified as Qualified.");
    let qualification = asha.get(&path).await.expect(200);
    assert_eq!(qualification["status"], "over");
    assert_eq!(qualification["ended"], "finished");
    assert_eq!(qualification["answers"][0]["key"], "budget");
    assert_eq!(
        qualification["answers"][0]["value"],
        json!({"amount": 6000000})
    );
    assert_eq!(qualification["answers"][0]["said"], "₹60,00,000");
    assert_eq!(qualification["answers"][2]["said"], "Yes");
    let kinds = lena.timeline_kinds(&priya).await;
    for kind in [
        "responder.sent",
        "responder.answer",
        "responder.handoff",
        "note.created",
        "routing.assigned",
        "handoff.created",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "responder.sent").count(),
        4,
        "greeting, two questions, closing: each once ({kinds:?})"
    );

    // A flow never restarts on a chat that finished it.
    customer_writes(&seat, &priya, "M5").await;
    assert_eq!(seat.get("/responder/work").await.expect(200), json!([]));
    seat.lock(&priya).await.expect_error(403, "not_owner");
}

async fn a_person_taking_the_chat_stops_the_responder_and_one_seat_works_a_chat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let asha = app.agent("Asha", Role::Agent).await;
    let second_seat = app.agent("Second seat", Role::Responder).await;
    let (priya, rahul) = (chat(1), chat(2));
    customer_writes(&asha, &priya, "P1").await;
    customer_writes(&asha, &rahul, "R1").await;

    // Two seats: the lock lets one work a chat; the other's clearance is refused.
    let task = task_in(&seat, &rahul).await;
    let key = task["sends"][0]["key"].clone();
    let grant = seat.lock(&rahul).await.expect(200);
    second_seat.lock(&rahul).await.expect_error(409, "locked");
    let path = format!("/responder/chats/{}", enc(&rahul));
    second_seat
        .post(
            &format!("{path}/send"),
            json!({"key": key, "fence": grant["fence"]}),
        )
        .await
        .expect_error(409, "stale_fence");
    seat.post(
        &format!("{path}/send"),
        json!({"key": key, "fence": grant["fence"]}),
    )
    .await
    .expect(200);

    // Asha starts typing in it: she takes the lock from the seat at once and the chat is hers;
    // the seat's next steps are refused and it never locks the chat again.
    let taken = asha.lock(&rahul).await.expect(200);
    assert_eq!(taken["claimed"], true);
    seat.post(&format!("{path}/sent"), json!({"key": key}))
        .await
        .expect_error(409, "responder_stopped");
    seat.lock(&rahul).await.expect_error(409, "locked");
    asha.release(&rahul).await.expect(204);
    seat.lock(&rahul).await.expect_error(403, "not_owner");
    let qualification = lena.get(&path).await.expect(200);
    assert_eq!(qualification["ended"], "human_took_over");
    let kinds = lena.timeline_kinds(&rahul).await;
    assert!(kinds.iter().any(|k| k == "responder.stopped"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "lock.forced"), "{kinds:?}");

    // In the other chat she types before the seat greeted: it never sends there.
    asha.lock(&priya).await.expect(200);
    assert_eq!(seat.get("/responder/work").await.expect(200), json!([]));
    let path = format!("/responder/chats/{}", enc(&priya));
    let qualification = lena.get(&path).await.expect(200);
    assert_eq!(qualification["ended"], "human_took_over");

    // A lead handing a chat the responder works to a person stops it too.
    let walk_in = chat(4);
    customer_writes(&asha, &walk_in, "W1").await;
    hand_to(&lena, &walk_in, &asha).await;
    assert_eq!(ended(&lena, &walk_in).await, "human_took_over");

    // Closing a chat the responder works ends its flow there.
    let closing = chat(7);
    customer_writes(&asha, &closing, "C1").await;
    lena.post_empty(&format!("/conversations/{}/close", enc(&closing)))
        .await
        .expect(200);
    assert_eq!(ended(&lena, &closing).await, "human_took_over");
    assert!(!seat
        .get("/responder/work")
        .await
        .expect(200)
        .to_string()
        .contains(closing.as_str()));

    // A seat says it stopped: the team sees it away, with why, and no new chat waits on it.
    lena.put("/responder/status", json!({"working": false}))
        .await
        .expect_error(403, "forbidden");
    let stopped = seat
        .put(
            "/responder/status",
            json!({"working": false, "reason": "WhatsApp Web's layout is not recognised."}),
        )
        .await
        .expect(200);
    assert_eq!(stopped["working"], false, "{stopped}");
    let seats = lena.get("/responder/seats").await.expect(200);
    let by_name = |seats: &Value, name: &str| {
        seats
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["agent"]["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {seats}"))
    };
    let night = by_name(&seats, "Night seat");
    assert_eq!(night["connected"], true);
    assert_eq!(night["reason"], "WhatsApp Web's layout is not recognised.");
    assert_eq!(by_name(&seats, "Second seat")["connected"], false);
    let agents = lena.get("/agents").await.expect(200);
    let listed = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == seat.id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["presence"], "away", "{listed}");
    let waiting = chat(5);
    customer_writes(&asha, &waiting, "N1").await;
    lena.get(&format!("/responder/chats/{}", enc(&waiting)))
        .await
        .expect_error(404, "not_found");
    let working = seat
        .put("/responder/status", json!({"working": true}))
        .await
        .expect(200);
    assert_eq!(working["working"], true);
    assert_eq!(working["reason"], "");
    let next = chat(6);
    customer_writes(&asha, &next, "N2").await;
    lena.get(&format!("/responder/chats/{}", enc(&next)))
        .await
        .expect(200);

    // A chat the responder does not work is not the seat's to lock.
    let other = chat(3);
    asha.open_chat(&other, "Walk-in").await;
    seat.lock(&other)
        .await
        .expect_error(409, "responder_stopped");
    seat.get(&format!("/responder/chats/{}", enc(&other)))
        .await
        .expect_error(404, "not_found");
}

async fn out_of_hours_the_customer_asking_for_a_person_waits_in_the_queue_with_the_answers(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let asha = app.agent("Asha", Role::Agent).await;
    lena.put(
        &format!("/agents/{}/routing", asha.id),
        json!({"shifts": [{"weekday": "fri", "start": "09:00", "end": "18:00"}]}),
    )
    .await
    .expect(200);
    sales_rule(&lena, &asha).await;
    // Thursday 26 November 2026, 22:00 in Kolkata: nobody is on shift until Friday 09:00.
    app.set_routing_time(2026, 11, 26, 22, 0).await;
    let _asha_online = online(&app, &asha).await;
    let priya = chat(1);
    customer_writes(&seat, &priya, "M1").await;
    let task = task_in(&seat, &priya).await;
    let greeting = task["sends"][0]["text"].as_str().unwrap();
    assert!(
        greeting.contains("We are closed now: a person will reply tomorrow from 09:00."),
        "{greeting}"
    );
    send_all(&seat, &priya, &task).await;
    customer_writes(&seat, &priya, "M2").await;
    let task = answer(&seat, &priya, &json!("M2"), json!({"amount": 9000000})).await;
    send_all(&seat, &priya, &task).await;

    // "talk to a human": handed over at once, with no closing message.
    customer_writes(&seat, &priya, "M3").await;
    let after = seat
        .post(
            &format!("/responder/chats/{}/reply", enc(&priya)),
            json!({"upto": "M3", "value": null, "asks_person": true}),
        )
        .await
        .expect(200);
    assert_eq!(after["over"], true, "{after}");
    assert_eq!(after["sends"], json!([]));
    let queue = lena.get("/queue").await.expect(200);
    assert_eq!(queue[0]["chat_id"], priya.as_str(), "{queue}");
    let conversation = lena.conversation(&priya).await;
    assert_eq!(
        conversation["stage"]["stage"], "New",
        "no stage for a person asked"
    );

    // Friday 09:00: Asha's shift starts, the queue gives her the chat with the answers so far.
    app.set_routing_time(2026, 11, 27, 9, 0).await;
    let conversation = eventually("the chat to reach Asha", || async {
        let c = lena.conversation(&priya).await;
        (c["owner"]["id"] == asha.id.as_str()).then_some(c)
    })
    .await;
    let handoff = &conversation["pending_handoff"];
    assert_eq!(handoff["done"], "Qualification answers: Budget: ₹90,00,000");
    assert_eq!(
        handoff["promised"],
        "A person will reply (the customer asked for one)."
    );

    // A first message that already asks for a person: no greeting, straight to people.
    let walk_in = chat(3);
    customer_writes(&seat, &walk_in, "H1").await;
    let task = task_in(&seat, &walk_in).await;
    assert_eq!(task["first_message"], "H1", "{task}");
    assert!(task["person_words"]
        .as_array()
        .unwrap()
        .contains(&json!("human")));
    let path = format!("/responder/chats/{}/reply", enc(&walk_in));
    seat.post(&path, json!({"upto": "H1", "value": null}))
        .await
        .expect_error(409, "responder_behind");
    let after = seat
        .post(
            &path,
            json!({"upto": "H1", "value": null, "asks_person": true}),
        )
        .await
        .expect(200);
    assert_eq!(after["over"], true, "{after}");
    assert_eq!(after["sends"], json!([]));
    let handed = eventually("the walk-in to reach Asha", || async {
        let c = lena.conversation(&walk_in).await;
        (c["owner"]["id"] == asha.id.as_str()).then_some(c)
    })
    .await;
    assert_eq!(
        handed["pending_handoff"]["done"],
        "No qualification answers yet."
    );
    let kinds = lena.timeline_kinds(&walk_in).await;
    assert!(!kinds.iter().any(|k| k == "responder.sent"), "{kinds:?}");

    // With no seat connected, a new chat is routed as usual: the responder never holds it.
    let rahul = chat(2);
    let seatless = TestApp::spawn(backend).await;
    let lead = seatless.agent("Lena", Role::Lead).await;
    let pipeline = lead
        .post(
            "/pipelines",
            json!({"name": "Homes", "stages": ["New", "Qualified"]}),
        )
        .await
        .expect(201);
    let mut flow = homes(pipeline["id"].as_str().unwrap());
    flow["questions"][0]["branches"] = json!([]);
    lead.post("/flows", flow).await.expect(201);
    seatless.agent("Idle seat", Role::Responder).await;
    customer_writes(&lead, &rahul, "R1").await;
    lead.get(&format!("/responder/chats/{}", enc(&rahul)))
        .await
        .expect_error(404, "not_found");
}

/// What the test's language model does with the next request.
enum Behaviour {
    Say(String),
    /// Never answers (the server's timeout ends the wait).
    Hang,
}

/// An OpenAI-compatible chat-completions endpoint on 127.0.0.1: answers each request as told, in
/// order, and keeps what it was asked (the `Authorization` header and the body).
#[derive(Clone, Default)]
struct FakeModel {
    next: Arc<Mutex<VecDeque<Behaviour>>>,
    asked: Arc<Mutex<Vec<Asked>>>,
}

/// A request the test's model got: its `Authorization` header and its body.
type Asked = (Option<String>, Value);

impl FakeModel {
    async fn spawn() -> (String, FakeModel) {
        use axum::extract::State;
        let fake = FakeModel::default();
        async fn complete(
            State(fake): State<FakeModel>,
            headers: axum::http::HeaderMap,
            axum::Json(body): axum::Json<Value>,
        ) -> axum::Json<Value> {
            let auth = headers
                .get("authorization")
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned);
            fake.asked.lock().unwrap().push((auth, body));
            let behaviour = fake.next.lock().unwrap().pop_front();
            match behaviour {
                Some(Behaviour::Say(content)) => axum::Json(json!({
                    "id": "chatcmpl-test", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]
                })),
                Some(Behaviour::Hang) | None => std::future::pending().await,
            }
        }
        let router = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://{address}/v1"), fake)
    }

    fn then(&self, behaviour: Behaviour) {
        self.next.lock().unwrap().push_back(behaviour);
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

async fn the_language_model_reads_replies_and_the_parser_stays_the_fallback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let ada = app.agent("Ada", Role::Admin).await;

    // Off by default; admins only; checked.
    let off = ada.get("/org/responder-model").await.expect(200);
    assert_eq!(
        off,
        json!({"enabled": false, "url": "", "model": "", "timeout_ms": 5000, "has_api_key": false})
    );
    lena.get("/org/responder-model")
        .await
        .expect_error(403, "forbidden");
    let (url, fake) = FakeModel::spawn().await;
    for (bad, field) in [
        (
            json!({"enabled": true, "url": "ftp://model.test", "model": "tiny"}),
            "url",
        ),
        (json!({"enabled": true, "url": url, "model": ""}), "model"),
        (
            json!({"enabled": true, "url": url, "model": "tiny", "timeout_ms": 50}),
            "timeout_ms",
        ),
        (
            json!({"enabled": true, "url": url, "model": "tiny", "api_key": "a\u{0}b"}),
            "api_key",
        ),
    ] {
        let refused = ada
            .put("/org/responder-model", bad)
            .await
            .expect_error(422, "validation_failed");
        assert!(
            refused["message"].as_str().unwrap().starts_with(field),
            "{refused}"
        );
    }
    let on = ada
        .put(
            "/org/responder-model",
            json!({"enabled": true, "url": url, "model": "tiny", "api_key": "sk-test", "timeout_ms": 300}),
        )
        .await
        .expect(200);
    assert_eq!(on["has_api_key"], true);
    assert!(
        !on.to_string().contains("sk-test"),
        "the key is never shown"
    );
    let kept = ada
        .put(
            "/org/responder-model",
            json!({"enabled": true, "url": url, "model": "tiny", "timeout_ms": 300}),
        )
        .await
        .expect(200);
    assert_eq!(kept["has_api_key"], true, "a key not sent is kept");

    let priya = chat(1);
    customer_writes(&seat, &priya, "M1").await;
    let task = task_in(&seat, &priya).await;
    send_all(&seat, &priya, &task).await;
    customer_writes(&seat, &priya, "M2").await;
    let task = task_in(&seat, &priya).await;
    assert_eq!(task["reply"]["send_text"], true, "{task}");
    let path = format!("/responder/chats/{}/reply", enc(&priya));

    // The model understands what the parser did not.
    fake.then(Behaviour::Say(
        r#"{"value": 6000000, "asks_person": false}"#.into(),
    ));
    let task = seat
        .post(
            &path,
            json!({"upto": "M2", "value": null, "text": "sixty lakhs approx"}),
        )
        .await
        .expect(200);
    assert_eq!(
        task["sends"][0]["text"], "Which home?\n1. 2BHK\n2. 3BHK\n3. Villa",
        "budget understood: {task}"
    );
    let asked = fake.asked();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].0.as_deref(), Some("Bearer sk-test"));
    assert_eq!(asked[0].1["model"], "tiny");
    let question = asked[0].1["messages"][1]["content"].as_str().unwrap();
    assert_eq!(
        question,
        "Question: What is your budget?\nReply: sixty lakhs approx"
    );

    // An answer that is no answer: the seat's reading stands.
    send_all(&seat, &priya, &task).await;
    customer_writes(&seat, &priya, "M3").await;
    fake.then(Behaviour::Say(
        "I think they want the three bedroom one".into(),
    ));
    let task = seat
        .post(
            &path,
            json!({"upto": "M3", "value": {"choice": 2}, "text": "the 3BHK"}),
        )
        .await
        .expect(200);
    assert_eq!(task["sends"][0]["text"], "A visit this week?");

    // No answer in time: the seat's reading stands.
    send_all(&seat, &priya, &task).await;
    customer_writes(&seat, &priya, "M4").await;
    fake.then(Behaviour::Hang);
    let task = seat
        .post(
            &path,
            json!({"upto": "M4", "value": {"yes_no": true}, "text": "haan ji"}),
        )
        .await
        .expect(200);
    assert_eq!(
        task["sends"][0]["text"],
        "Thank you! A colleague will call you."
    );
    assert_eq!(fake.asked().len(), 3);

    let qualification = lena
        .get(&format!("/responder/chats/{}", enc(&priya)))
        .await
        .expect(200);
    let said: Vec<&str> = qualification["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["said"].as_str().unwrap())
        .collect();
    assert_eq!(said, ["₹60,00,000", "3BHK", "Yes"]);
    let timeline = lena
        .get(&format!("/conversations/{}/timeline", enc(&priya)))
        .await
        .expect(200)
        .to_string();
    assert!(
        timeline.contains("Budget: ₹60,00,000 (read by the language model)"),
        "{timeline}"
    );
    assert!(
        !timeline.contains("sixty lakhs") && !timeline.contains("haan ji"),
        "the reply's text is not kept"
    );
}

async fn a_flow_may_answer_for_an_owner_who_is_off_shift(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let asha = app.agent("Asha Rao", Role::Agent).await;
    lena.put(
        &format!("/agents/{}/routing", asha.id),
        json!({"shifts": [{"weekday": "fri", "start": "09:00", "end": "18:00"}]}),
    )
    .await
    .expect(200);
    // Thursday 26 November 2026, 22:00 in Kolkata: Asha is off until Friday 09:00.
    app.set_routing_time(2026, 11, 26, 22, 0).await;
    let (priya, rahul, kavya, ravi_chat) = (chat(1), chat(2), chat(3), chat(4));
    // Asha's chats, given to her earlier by the lead.
    for (c, title) in [(&priya, "Priya"), (&rahul, "Rahul"), (&kavya, "Kavya")] {
        lena.open_chat(c, title).await;
        hand_to(&lena, c, &asha).await;
        asha.post_empty(&format!("/conversations/{}/handoff/accept", enc(c)))
            .await
            .expect(200);
    }
    let qualification = |c: &str| format!("/responder/chats/{}", enc(c));

    // A flow answers only new chats unless the lead says otherwise.
    customer_writes(&seat, &priya, "P1").await;
    lena.get(&qualification(&priya))
        .await
        .expect_error(404, "not_found");
    let flows = lena.get("/flows").await.expect(200);
    let mut definition = homes(flows[0]["pipeline_id"].as_str().unwrap());
    definition["owned_off_shift"] = json!(true);
    let updated = lena
        .put(
            &format!("/flows/{}", flows[0]["id"].as_str().unwrap()),
            definition,
        )
        .await
        .expect(200);
    assert_eq!(updated["owned_off_shift"], true);

    // Asha's customer writes while she is off: the greeting says when she is back.
    customer_writes(&seat, &rahul, "R1").await;
    let task = task_in(&seat, &rahul).await;
    let greeting = task["sends"][0]["text"].as_str().unwrap();
    assert!(
        greeting.contains("Asha is away now and will reply tomorrow from 09:00."),
        "{greeting}"
    );
    // The seat works her chat without taking it.
    let (_, _) = send_all(&seat, &rahul, &task).await;
    customer_writes(&seat, &rahul, "R2").await;
    let task = answer(&seat, &rahul, &json!("R2"), json!({"amount": 9000000})).await;
    send_all(&seat, &rahul, &task).await;
    customer_writes(&seat, &rahul, "R3").await;
    let task = answer(&seat, &rahul, &json!("R3"), json!({"choice": 3})).await;
    send_all(&seat, &rahul, &task).await;
    customer_writes(&seat, &rahul, "R4").await;
    let task = answer(&seat, &rahul, &json!("R4"), json!({"yes_no": true})).await;
    let (sent, after) = send_holding(&seat, &rahul, &task).await;
    assert_eq!(sent, vec!["Thank you! A colleague will call you."]);
    assert_eq!(after["over"], true);
    // The flow is over and the chat stays Asha's: the seat may not renew its lock there (on
    // PostgreSQL this renewal is decided from the chat as the seat's last lock write left it,
    // while the flow still ran, and the write must notice), but it may let go of it.
    seat.lock(&rahul).await.expect_error(403, "not_owner");
    seat.release(&rahul).await.expect(204);

    // Still hers, at the done stage, with the answers waiting in a handoff.
    let conversation = lena.conversation(&rahul).await;
    assert_eq!(
        conversation["owner"]["id"],
        asha.id.as_str(),
        "{conversation}"
    );
    assert_eq!(conversation["stage"]["stage"], "Qualified");
    let handoff = &conversation["pending_handoff"];
    assert_eq!(handoff["to"]["id"], asha.id.as_str());
    assert_eq!(handoff["by"]["id"], seat.id.as_str());
    assert_eq!(
        handoff["done"],
        "Qualification answers: Budget: ₹90,00,000 · Home: Villa · Site visit: Yes"
    );
    let kinds = lena.timeline_kinds(&rahul).await;
    assert!(kinds.iter().any(|k| k == "responder.handoff"), "{kinds:?}");

    // A chat someone is at (the lock taken a moment ago) is theirs, whoever's shift it is.
    lena.open_chat(&ravi_chat, "Walk-in").await;
    hand_to(&lena, &ravi_chat, &asha).await;
    asha.post_empty(&format!(
        "/conversations/{}/handoff/accept",
        enc(&ravi_chat)
    ))
    .await
    .expect(200);
    asha.lock(&ravi_chat).await.expect(200);
    asha.release(&ravi_chat).await.expect(204);
    customer_writes(&seat, &ravi_chat, "W1").await;
    lena.get(&qualification(&ravi_chat))
        .await
        .expect_error(404, "not_found");

    // On shift, her chats are hers to answer.
    app.set_routing_time(2026, 11, 27, 10, 0).await;
    customer_writes(&seat, &kavya, "K1").await;
    lena.get(&qualification(&kavya))
        .await
        .expect_error(404, "not_found");
}

async fn a_customer_who_goes_quiet_reaches_people_with_the_answers_so_far(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let Setup {
        lena,
        seat,
        _seat_online,
    } = setup(&app).await;
    let asha = app.agent("Asha", Role::Agent).await;
    sales_rule(&lena, &asha).await;
    let _asha_online = online(&app, &asha).await;
    let priya = chat(1);
    customer_writes(&seat, &priya, "M1").await;
    let task = task_in(&seat, &priya).await;
    send_all(&seat, &priya, &task).await;
    customer_writes(&seat, &priya, "M2").await;
    let task = answer(&seat, &priya, &json!("M2"), json!({"amount": 6000000})).await;
    send_all(&seat, &priya, &task).await;
    // The customer goes quiet; nothing for the seat to do meanwhile.
    assert_eq!(seat.get("/responder/work").await.expect(200), json!([]));
    assert_eq!(lena.conversation(&priya).await["owner"], Value::Null);
    app.advance_routing(std::time::Duration::from_secs(31 * 60));
    let conversation = eventually("the quiet chat to reach Asha", || async {
        let c = lena.conversation(&priya).await;
        (c["owner"]["id"] == asha.id.as_str()).then_some(c)
    })
    .await;
    let handoff = &conversation["pending_handoff"];
    assert_eq!(
        handoff["done"],
        "Qualification answers so far: Budget: ₹60,00,000"
    );
    assert_eq!(
        handoff["promised"],
        "Nothing: the customer stopped replying."
    );
    assert_eq!(conversation["stage"]["stage"], "New", "not qualified");
    assert_eq!(ended(&lena, &priya).await, "no_reply");
}
