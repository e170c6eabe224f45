//! The first responder (issue 11): qualification flows that answer new chats before a person
//! takes over. [`flow`] is the pure part — checking a flow and deciding each step;
//! [`store`] keeps each chat's run in the database and carries out what the engine decides;
//! [`model`] is the optional language model that reads replies the parser may not understand.

pub mod flow;
pub mod model;
pub mod store;
