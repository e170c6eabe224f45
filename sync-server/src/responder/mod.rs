//! The first responder (issue 11): qualification flows that answer new chats before a person
//! takes over. [`flow`] is the pure part — checking a flow and deciding each step.

pub mod flow;
