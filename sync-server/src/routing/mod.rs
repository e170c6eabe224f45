//! Routing: who can be given chats (routing profiles and their shifts: [`schedule`]), the rules'
//! shape ([`rules`]), and the decision itself ([`engine`]: whether a rule applies, who is eligible
//! and why not, whom the strategy picks) — pure, so every edge is tested natively; [`run`]
//! gathers the facts and acts on the decision in the org's write transaction, and [`clock`] is
//! the time it decides by.

pub mod clock;
pub mod engine;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod setup;
