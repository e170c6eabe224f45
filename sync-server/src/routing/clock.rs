//! Routing's clock, and the bell that wakes its timer. Routing reads time as the database's clock
//! plus an offset that is zero in service; tests move the offset to step through shifts, business
//! hours and no-reply limits without waiting for them (the rest of the server keeps real time, so
//! reply locks and presence leases behave as they do in service).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct RoutingClock {
    offset_ms: AtomicI64,
    bell: Notify,
}

impl RoutingClock {
    /// Routing's time when the database's clock reads `db_now`.
    pub fn at(&self, db_now: i64) -> i64 {
        db_now.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves routing's clock on by `by` and wakes the timer, which then acts on whatever fell due.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(by, Ordering::Relaxed);
        self.wake();
    }

    /// Sets routing's clock so that it reads `at` when the database's clock reads `db_now`.
    pub fn set(&self, at: i64, db_now: i64) {
        self.offset_ms.store(at - db_now, Ordering::Relaxed);
        self.wake();
    }

    /// Asks the timer to look again now: someone may have become eligible (came online, returned
    /// from away, dropped below capacity), or the rules changed.
    pub fn wake(&self) {
        self.bell.notify_one();
    }

    /// Waits until [`RoutingClock::wake`] is called (a call made while nobody waits is kept).
    pub async fn woken(&self) {
        self.bell.notified().await;
    }
}
