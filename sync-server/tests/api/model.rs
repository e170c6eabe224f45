//! A property test of the reply lock and ownership against a model small enough to be obviously
//! right: random sequences of acquires, force-takes, renewals and releases (with current and stale
//! fences) by two agents and a lead, run against the real server (SQLite), every answer and every
//! granted fence compared with the model's.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::api::Role;

use crate::common::{chat, enc, Backend, TestAgent, TestApp};

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Agent (0, 1: agents; 2: the lead) asks for the lock (again, if holding it: a renewal).
    Acquire(usize),
    /// The lead takes it over.
    Force,
    /// Releases with the last fence this agent was granted, or one before it (stale).
    Release(usize, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..3).prop_map(Step::Acquire),
        1 => Just(Step::Force),
        3 => (0usize..3, any::<bool>()).prop_map(|(a, stale)| Step::Release(a, stale)),
    ]
}

/// What the server should do, with a 30 s lease (nothing expires during a case).
#[derive(Debug, Default)]
struct Model {
    owner: Option<usize>,
    holder: Option<usize>,
    held: bool,
    fence: i64,
    /// The last fence each agent was granted.
    granted: [Option<i64>; 3],
}

const LEAD: usize = 2;

impl Model {
    /// The status the server must answer, and the fence it must grant.
    fn apply(&mut self, step: Step) -> (u16, Option<i64>) {
        match step {
            Step::Acquire(a) => self.acquire(a, false),
            Step::Force => self.acquire(LEAD, true),
            Step::Release(a, stale) => {
                let Some(fence) = self.granted[a].map(|f| if stale { f - 1 } else { f }) else {
                    return (409, None);
                };
                if self.holder != Some(a) || fence != self.fence {
                    return (409, None);
                }
                self.held = false;
                (204, None)
            }
        }
    }

    fn acquire(&mut self, a: usize, force: bool) -> (u16, Option<i64>) {
        // The owner, or a lead, may work the chat; anyone may claim an unowned one.
        let may_work = self.owner.is_none_or(|o| o == a) || a == LEAD;
        if self.held && self.holder == Some(a) {
            if !may_work {
                return (403, None);
            }
            self.granted[a] = Some(self.fence);
            return (200, Some(self.fence));
        }
        if self.held && !force {
            return (409, None);
        }
        if !may_work {
            return (403, None);
        }
        self.fence += 1;
        self.holder = Some(a);
        self.held = true;
        self.owner = self.owner.or(Some(a));
        self.granted[a] = Some(self.fence);
        (200, Some(self.fence))
    }
}

async fn run(agents: &[TestAgent; 3], chat_id: &str, steps: &[Step]) -> Result<(), String> {
    let mut model = Model::default();
    agents[0]
        .put(
            &format!("/conversations/{}", enc(chat_id)),
            serde_json::json!({"title": "Priya"}),
        )
        .await
        .expect(201);
    for (i, step) in steps.iter().enumerate() {
        let expected = Model::apply(&mut model, *step);
        let granted_before = model.granted;
        let answer = match *step {
            Step::Acquire(a) => agents[a].lock(chat_id).await,
            Step::Force => agents[LEAD].force_lock(chat_id).await,
            Step::Release(a, stale) => {
                let fence = granted_before[a].map_or(0, |f| if stale { f - 1 } else { f });
                agents[a]
                    .delete(&format!(
                        "/conversations/{}/lock?fence={fence}",
                        enc(chat_id)
                    ))
                    .await
            }
        };
        let status = answer.status.as_u16();
        let fence = answer.body["fence"].as_i64();
        if status != expected.0 || (status == 200 && fence != expected.1) {
            return Err(format!(
                "step {i} {step:?}: the server answered {status} {:?}, the model {expected:?} (steps: {steps:?})",
                answer.body
            ));
        }
    }
    Ok(())
}

#[test]
fn the_lock_behaves_like_its_model() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, agents) = runtime.block_on(async {
        let app = TestApp::spawn(Backend::Sqlite).await;
        let agents = [
            app.agent("Ravi", Role::Agent).await,
            app.agent("Meera", Role::Agent).await,
            app.agent("Lena", Role::Lead).await,
        ];
        (app, agents)
    });
    let mut runner = TestRunner::new(Config {
        cases: 60,
        failure_persistence: None,
        ..Config::default()
    });
    // Each case on a chat of its own (shrinking re-runs cases, so a counter, not the case's index).
    let case = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&proptest::collection::vec(step(), 1..30), |steps| {
        let n = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let chat_id = chat(1_000 + n);
        runtime
            .block_on(run(&agents, &chat_id, &steps))
            .map_err(proptest::test_runner::TestCaseError::fail)
    });
    drop(app);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
