//! Login throttling: failed logins per email and per client address, with back-off.
//!
//! A few failures are free (people mistype); after that each failure closes the door for twice as
//! long as the one before, up to a cap, and while it is closed even the right password is refused
//! with 429 and `Retry-After` — so guessing is slowed to a crawl instead of answered at full
//! speed. A success clears the email's record. Records are kept in memory, per server instance, and
//! forgotten once quiet for the window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How failures under one key are treated.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed before the back-off starts.
    pub free_failures: u32,
    /// The first closure; each further failure doubles it.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A key quiet this long starts afresh.
    pub window: Duration,
}

/// Failed logins under each email: five mistakes are free.
pub const PER_EMAIL: Policy = Policy {
    free_failures: 5,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(15 * 60),
    window: Duration::from_secs(15 * 60),
};

/// Failed logins from each client address (a whole office may share one): more are free.
pub const PER_ADDRESS: Policy = Policy {
    free_failures: 30,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(15 * 60),
    window: Duration::from_secs(15 * 60),
};

/// Keys remembered at most; beyond it, quiet ones are forgotten first.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    closed_until: Option<Instant>,
}

/// Failures under some kind of key (emails, or addresses).
#[derive(Debug)]
pub struct Throttle {
    policy: Policy,
    records: Mutex<HashMap<String, Record>>,
}

impl Throttle {
    pub fn new(policy: Policy) -> Throttle {
        Throttle {
            policy,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `Err(wait)` while `key` is closed.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.records().get(key).and_then(|r| r.closed_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure under `key`; returns how long it is closed now (zero if not).
    pub fn failed(&self, key: &str, now: Instant) -> Duration {
        let policy = self.policy;
        let mut records = self.records();
        if records.len() >= MAX_KEYS {
            records.retain(|_, r| now.saturating_duration_since(r.last_failure) < policy.window);
        }
        let record = records.entry(key.to_owned()).or_insert(Record {
            failures: 0,
            last_failure: now,
            closed_until: None,
        });
        if now.saturating_duration_since(record.last_failure) >= policy.window {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        let over = record.failures.saturating_sub(policy.free_failures);
        let delay = if over == 0 {
            Duration::ZERO
        } else {
            policy
                .first_delay
                .saturating_mul(1 << (over - 1).min(20))
                .min(policy.max_delay)
        };
        record.closed_until = (delay > Duration::ZERO).then(|| now + delay);
        delay
    }

    /// Forgets `key`'s failures.
    pub fn succeeded(&self, key: &str) {
        self.records().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_mistakes_are_free_then_each_doubles_the_wait() {
        let throttle = Throttle::new(PER_EMAIL);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(throttle.failed("asha", start), Duration::ZERO);
            assert!(throttle.check("asha", start).is_ok());
        }
        assert_eq!(throttle.failed("asha", start), Duration::from_secs(1));
        assert_eq!(throttle.check("asha", start), Err(Duration::from_secs(1)));
        let later = start + Duration::from_secs(1);
        assert!(
            throttle.check("asha", later).is_ok(),
            "the door opens again"
        );
        assert_eq!(throttle.failed("asha", later), Duration::from_secs(2));
        assert_eq!(throttle.failed("asha", later), Duration::from_secs(4));
        for _ in 0..20 {
            throttle.failed("asha", later);
        }
        assert_eq!(
            throttle.check("asha", later),
            Err(Duration::from_secs(15 * 60)),
            "capped"
        );
        assert!(
            throttle.check("ravi", later).is_ok(),
            "others are not affected"
        );
    }

    #[test]
    fn success_and_quiet_time_start_afresh() {
        let throttle = Throttle::new(PER_EMAIL);
        let start = Instant::now();
        for _ in 0..6 {
            throttle.failed("asha", start);
        }
        throttle.succeeded("asha");
        assert!(throttle.check("asha", start).is_ok());
        for _ in 0..5 {
            throttle.failed("ravi", start);
        }
        let quiet = start + PER_EMAIL.window;
        assert_eq!(
            throttle.failed("ravi", quiet),
            Duration::ZERO,
            "a quiet window forgives"
        );
    }
}
