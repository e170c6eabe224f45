//! Integration tests of the sync server over HTTP and WebSocket, each on SQLite and PostgreSQL.

mod common;

mod auth;
mod conversations;
mod errors;
mod events;
mod handoffs;
mod idempotency;
mod locks;
mod notes;
mod reminders;
mod restart;
mod tenancy;
