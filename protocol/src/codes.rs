//! The machine-readable `error` codes of the API's error bodies.
//!
//! Every error response is `{"error": CODE, "message": "…"}` (plus details for some codes). Clients
//! branch on the code, never on the message, which is for people and may change.

/// The body is not valid JSON.
pub const INVALID_JSON: &str = "invalid_json";
/// The JSON is well-formed but does not fit the request's shape (unknown field, wrong type…).
pub const INVALID_BODY: &str = "invalid_body";
/// A field's value is not acceptable (empty text, unknown stage…).
pub const VALIDATION: &str = "validation_failed";
/// A path or query parameter is malformed.
pub const INVALID_PARAMETER: &str = "invalid_parameter";
/// The chat id in the path is not a WhatsApp chat id.
pub const INVALID_CHAT_ID: &str = "invalid_chat_id";
/// The request needs `Content-Type: application/json`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
/// The body exceeds the server's size limit.
pub const BODY_TOO_LARGE: &str = "body_too_large";
/// No valid token (missing, malformed, expired or revoked).
pub const UNAUTHORIZED: &str = "unauthorized";
/// Wrong email or password.
pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
/// The agent may not do this (role or ownership).
pub const FORBIDDEN: &str = "forbidden";
/// The conversation is owned by another agent.
pub const NOT_OWNER: &str = "not_owner";
/// The origin is not in the server's allowed origins.
pub const ORIGIN_NOT_ALLOWED: &str = "origin_not_allowed";
/// Nothing with that id exists in the caller's org.
pub const NOT_FOUND: &str = "not_found";
/// The route exists but not for this HTTP method.
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// Another agent holds the reply lock; the body carries `holder` and `expires_at`.
pub const LOCKED: &str = "locked";
/// The caller does not hold the reply lock it tries to release.
pub const NOT_LOCK_HOLDER: &str = "not_lock_holder";
/// The fencing token is no longer the conversation's current one.
pub const STALE_FENCE: &str = "stale_fence";
/// There is no pending handoff to accept or decline.
pub const NO_PENDING_HANDOFF: &str = "no_pending_handoff";
/// The reminder is already done.
pub const REMINDER_DONE: &str = "reminder_done";
/// A pipeline with that name exists already.
pub const PIPELINE_EXISTS: &str = "pipeline_exists";
/// 409: the change conflicts with what exists (an email already taken, for instance).
pub const CONFLICT: &str = "conflict";
/// The chat and the alias given for it are already two different conversations.
pub const ALIAS_CONFLICT: &str = "alias_conflict";
/// The `Idempotency-Key` was used before with a different request.
pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
/// A request with the same `Idempotency-Key` is still being processed.
pub const IDEMPOTENCY_IN_FLIGHT: &str = "idempotency_in_flight";
/// 429: too many requests or connections at once; `Retry-After` says when to try again.
pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
/// 403: the request's `Host` is not one the server answers for (DNS-rebinding guard).
pub const HOST_NOT_ALLOWED: &str = "host_not_allowed";
/// The WebSocket ticket is missing, unknown, used or expired.
pub const INVALID_TICKET: &str = "invalid_ticket";
/// The server is busy or its database unreachable; retry later.
pub const UNAVAILABLE: &str = "unavailable";
/// An unexpected server error; details are in the server log.
pub const INTERNAL: &str = "internal";
/// 409: nothing waits in the queue.
pub const QUEUE_EMPTY: &str = "queue_empty";
/// 409: the agent cannot take a chat now (away, offline or at capacity); the message says which.
pub const NOT_ELIGIBLE: &str = "not_eligible";
/// 409: a stage to be removed holds conversations; the message says how many and how to move them.
pub const STAGE_NOT_EMPTY: &str = "stage_not_empty";
/// 409: the first responder no longer works this chat (its run is over: a person took it, or the
/// flow ended), so the seat's step is refused.
pub const RESPONDER_STOPPED: &str = "responder_stopped";
/// 409: the seat's view of the chat is behind (a newer customer message, or a message still to
/// send first): fetch the work again.
pub const RESPONDER_BEHIND: &str = "responder_behind";
