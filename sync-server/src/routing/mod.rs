//! Routing: who can be given chats (routing profiles, shifts, teams) and, as it grows, which
//! agent each new chat goes to.

pub mod rules;
pub mod schedule;
