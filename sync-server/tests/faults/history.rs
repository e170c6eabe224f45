//! A checker for reply-lock histories seen from many clients: every operation with when it was
//! invoked and completed (client clock) and its outcome, including "unknown" when the answer was
//! lost (the server died, the connection broke). A history is legal when, per conversation:
//! - a fence is granted to one holder only;
//! - fences grow with real time: a grant completed before another was invoked has a lower fence;
//! - mutual exclusion: the lease with fence `f + 1`, held by someone else than lease `f`, was
//!   granted only after lease `f` ended — its holder's release may have taken effect by then
//!   (invoked before the new grant completed, and not refused), or it had expired by the server's
//!   clock (the new grant's server time is at or past lease `f`'s expiry).
//!
//! Every change of holder advances the fence by exactly one on the server, so consecutive fences
//! are the leases to compare; where a grant's answer was lost its fence is simply missing, and
//! the pair around it is not judged (nothing can be said about a lease nobody saw).

use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Acquire,
    Release { fence: i64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The lock was granted: its fence, and the lease's expiry and grant time by the server clock.
    Granted {
        fence: i64,
        server_now: i64,
        expires_at: i64,
    },
    /// Someone else held it (acquire), or it was no longer ours (release).
    Refused,
    Released,
    /// The answer was lost: the operation may or may not have taken effect.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    pub chat: usize,
    pub kind: Kind,
    pub invoked: Instant,
    pub completed: Instant,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy)]
struct Grant {
    client: usize,
    fence: i64,
    invoked: Instant,
    completed: Instant,
    server_now: i64,
    expires_at: i64,
}

/// Every violation found, described; empty when the history is legal.
pub fn check(ops: &[Op]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut chats: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        chats.entry(op.chat).or_default().push(op);
    }
    for (chat, ops) in chats {
        let mut by_fence: BTreeMap<i64, Grant> = BTreeMap::new();
        for op in &ops {
            if let Outcome::Granted {
                fence,
                server_now,
                expires_at,
            } = op.outcome
            {
                let grant = Grant {
                    client: op.client,
                    fence,
                    invoked: op.invoked,
                    completed: op.completed,
                    server_now,
                    expires_at,
                };
                match by_fence.get(&fence) {
                    Some(other) if other.client != op.client => problems.push(format!(
                        "chat {chat}: fence {fence} granted to client {} and to client {}",
                        other.client, op.client
                    )),
                    Some(_) => {}
                    None => {
                        by_fence.insert(fence, grant);
                    }
                }
            }
        }
        let grants: Vec<Grant> = by_fence.values().copied().collect();
        // Fences grow with real time.
        for a in &grants {
            for b in &grants {
                if a.completed < b.invoked && a.fence >= b.fence {
                    problems.push(format!(
                        "chat {chat}: fence {} was granted after fence {} had been (real-time order)",
                        b.fence, a.fence
                    ));
                }
            }
        }
        // Mutual exclusion between consecutive leases of different holders.
        for pair in grants.windows(2) {
            let (old, new) = (pair[0], pair[1]);
            if new.fence != old.fence + 1 || new.client == old.client {
                continue;
            }
            let expired = new.server_now >= old.expires_at;
            let released = ops.iter().any(|op| {
                op.client == old.client
                    && op.kind == Kind::Release { fence: old.fence }
                    && op.invoked <= new.completed
                    && matches!(op.outcome, Outcome::Released | Outcome::Unknown)
            });
            if !expired && !released {
                problems.push(format!(
                    "chat {chat}: client {} got fence {} at server time {} while client {} held fence {} until {} and had not released it",
                    new.client, new.fence, new.server_now, old.client, old.fence, old.expires_at
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Clock(Instant);
    impl Clock {
        fn at(&self, ms: u64) -> Instant {
            self.0 + Duration::from_millis(ms)
        }
    }

    fn grant(c: &Clock, client: usize, from: u64, to: u64, fence: i64, server_now: i64) -> Op {
        Op {
            client,
            chat: 1,
            kind: Kind::Acquire,
            invoked: c.at(from),
            completed: c.at(to),
            outcome: Outcome::Granted {
                fence,
                server_now,
                expires_at: server_now + 3_000,
            },
        }
    }

    fn release(c: &Clock, client: usize, from: u64, to: u64, fence: i64, outcome: Outcome) -> Op {
        Op {
            client,
            chat: 1,
            kind: Kind::Release { fence },
            invoked: c.at(from),
            completed: c.at(to),
            outcome,
        }
    }

    #[test]
    fn a_legal_history_passes() {
        let c = Clock(Instant::now());
        let ops = vec![
            grant(&c, 1, 0, 5, 1, 10_000),
            release(&c, 1, 6, 9, 1, Outcome::Released),
            grant(&c, 2, 7, 12, 2, 10_008),
            // The release's answer was lost, but it may have taken effect.
            release(&c, 2, 13, 20, 2, Outcome::Unknown),
            grant(&c, 1, 14, 30, 3, 10_020),
            // Expired, never released.
            grant(&c, 2, 40, 45, 4, 13_020),
        ];
        assert_eq!(check(&ops), Vec::<String>::new());
    }

    #[test]
    fn two_holders_at_once_are_caught() {
        let c = Clock(Instant::now());
        let ops = vec![grant(&c, 1, 0, 5, 1, 10_000), grant(&c, 2, 6, 9, 2, 10_006)];
        let problems = check(&ops);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("had not released"), "{problems:?}");
        // A release that was refused does not count either.
        let mut refused = ops.clone();
        refused.push(release(&c, 1, 5, 6, 1, Outcome::Refused));
        assert_eq!(check(&refused).len(), 1);
        // A release invoked only after the new grant completed cannot explain it.
        let mut late = ops;
        late.push(release(&c, 1, 10, 11, 1, Outcome::Released));
        assert_eq!(check(&late).len(), 1);
    }

    #[test]
    fn a_fence_given_twice_or_going_back_is_caught() {
        let c = Clock(Instant::now());
        let twice = vec![grant(&c, 1, 0, 5, 1, 10_000), grant(&c, 2, 6, 9, 1, 14_000)];
        assert!(check(&twice)[0].contains("granted to client 1 and to client 2"));
        let back = vec![grant(&c, 1, 0, 5, 7, 10_000), grant(&c, 2, 6, 9, 6, 14_000)];
        assert!(check(&back).iter().any(|p| p.contains("real-time order")));
    }
}
