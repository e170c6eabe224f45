//! Integration tests of the sync server over HTTP and WebSocket, each on SQLite and PostgreSQL.

// Test code: a panic with the failing value is exactly what a failed step should produce.
#![allow(clippy::unwrap_used)]

mod common;

mod aliases;
mod auth;
mod authz;
mod board;
mod chat_requests;
mod conversations;
mod errors;
mod events;
mod flows;
mod handoffs;
mod idempotency;
mod limits;
mod locks;
mod model;
mod notes;
mod offboarding;
mod pipelines;
mod presence;
mod reminders;
mod reports;
mod responder;
mod responder_runs;
mod restart;
mod routing;
mod routing_flow;
mod sessions;
mod storage;
mod templates;
mod tenancy;
