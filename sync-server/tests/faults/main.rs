//! Fault tests against the real server binary: killed with SIGKILL during concurrent notes,
//! handoffs and lock cycles (SQLite and PostgreSQL), one of three PostgreSQL instances killed,
//! PostgreSQL itself restarted under load, and a lock holder frozen with SIGSTOP past its lease.
//! Each ends by checking that nothing acknowledged was lost or duplicated, and the lock history
//! every client saw with [`history::check`].
//!
//! The tests take turns (they kill processes and restart the shared PostgreSQL).

// Test code: a panic with the failing value is exactly what a failed step should produce.
#![allow(clippy::unwrap_used)]

mod harness;
mod history;
mod scenarios;
