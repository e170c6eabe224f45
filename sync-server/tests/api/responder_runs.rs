//! The first responder at work, driven as the seat drives it: a new chat's first message starts
//! its flow, the seat sends each message only once the server cleared it under the seat's reply
//! lock, reports the answer values it read, and a finished flow moves the chat to its stage and
//! hands it to routing with the answers. Humans first: a person taking the lock stops it at once,
//! and a second seat cannot work the same chat.

use protocol::api::Role;
use serde_json::{json, Value};

use crate::common::{chat, enc, eventually, Backend, EventStream, TestAgent, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_seat_qualifies_a_new_chat_and_hands_it_to_the_agent_on_shift,
    a_person_taking_the_chat_stops_the_responder_and_one_seat_works_a_chat,
    out_of_hours_the_customer_asking_for_a_person_waits_in_the_queue_with_the_answers,
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
    if after["over"] == true {
        // The flow's end gave the chat to a person, whose it is now: the seat's lock ended.
        let conversation = seat.conversation(chat_id).await;
        if conversation["owner"].is_object() {
            assert_eq!(conversation["lock"], Value::Null, "{conversation}");
            return (texts, after);
        }
    }
    seat.release(chat_id).await.expect(204);
    (texts, after)
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
    lena.post(
        "/routing/rules",
        json!({"name": "Sales", "match": {"new_chat": true},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
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
    lena.post(
        &format!("/conversations/{}/handoff", enc(&walk_in)),
        json!({"to_agent_id": asha.id, "done": "Greeted", "promised": "A call", "next_step": "Call"}),
    )
    .await
    .expect(201);
    let qualification = lena
        .get(&format!("/responder/chats/{}", enc(&walk_in)))
        .await
        .expect(200);
    assert_eq!(qualification["ended"], "human_took_over");

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
    lena.post(
        "/routing/rules",
        json!({"name": "Sales", "match": {"new_chat": true},
               "target": {"agent_ids": [asha.id]}, "strategy": "round_robin"}),
    )
    .await
    .expect(201);
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
