//! Request extractors: the caller's identity, and JSON/path/query parsing that fails with the
//! API's error shape instead of axum's plain-text rejections.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use protocol::api::{AgentRef, Role};
use protocol::{codes, ChatId};
use serde::de::DeserializeOwned;
use sqlx::Row;

use super::error::ApiError;
use super::AppState;
use crate::auth;

/// The authenticated agent making the request (from `Authorization: Bearer TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthAgent {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub role: Role,
    pub token_id: String,
    /// When the token expires (database clock, ms).
    pub token_expires_at: i64,
}

impl AuthAgent {
    pub fn agent_ref(&self) -> AgentRef {
        AgentRef {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }

    pub fn supervises(&self) -> bool {
        self.role.supervises()
    }

    /// Refuses anyone but leads and admins.
    pub fn require_supervisor(&self, action: &str) -> Result<(), ApiError> {
        if self.supervises() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only a lead or an admin may {action}"
            )))
        }
    }

    /// Refuses anyone but admins.
    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("only an admin may {action}")))
        }
    }
}

impl FromRequestParts<AppState> for AuthAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header =
            parts
                .headers
                .get(axum::http::header::AUTHORIZATION)
                .ok_or(ApiError::Unauthorized(
                    "missing Authorization header; log in and send `Authorization: Bearer TOKEN`",
                ))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "the Authorization header must be `Bearer TOKEN`",
            ))?;
        authenticate_token(state, token).await
    }
}

/// Looks up an API token; the same check guards HTTP requests and event tickets.
/// Live logins come from this instance's cache ([`crate::sessions`]); the database is asked only
/// the first time a token is seen, and after its login may have ended.
pub async fn authenticate_token(state: &AppState, token: &str) -> Result<AuthAgent, ApiError> {
    let token_hash = auth::hash_secret(token);
    let cache = state.hub.tokens();
    if let Some(agent) = cache.get(&token_hash, crate::db::system_now_ms()) {
        return Ok(agent);
    }
    let generation = cache.generation();
    let row = sqlx::query(&state.db.sql(
        "SELECT t.id AS token_id, t.expires_at, a.id, a.org_id, a.name, a.role
         FROM tokens t JOIN agents a ON a.id = t.agent_id
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > now_ms()
           AND a.active = 1",
    ))
    .bind(&token_hash)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or(ApiError::Unauthorized(
        "the token is unknown, expired or revoked; log in again",
    ))?;
    let agent = auth_agent_from_row(&row)?;
    cache.put(token_hash, agent.clone(), generation);
    Ok(agent)
}

pub fn auth_agent_from_row(row: &sqlx::any::AnyRow) -> Result<AuthAgent, ApiError> {
    let role: String = row.try_get("role")?;
    Ok(AuthAgent {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        name: row.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| anyhow::anyhow!("agent has an unknown role {role:?} in the database"))?,
        token_id: row.try_get("token_id")?,
        token_expires_at: row.try_get("expires_at")?,
    })
}

/// A JSON body; malformed or mis-shaped bodies become API errors.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<T, S> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        refuse_forbidden_text(&value, "the body")?;
        // Through serde_path_to_error, as axum's own `Json` does, so the message names the field.
        serde_path_to_error::deserialize(value)
            .map(AppJson)
            .map_err(|err| ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: codes::INVALID_BODY,
                message: format!("Failed to deserialize the JSON body into the target type: {err}"),
            })
    }
}

/// Refuses a JSON body with a string (or key) holding text the API does not accept.
fn refuse_forbidden_text(value: &serde_json::Value, field: &str) -> Result<(), ApiError> {
    use serde_json::Value;
    let refused = |text: &str, field: &str| match protocol::text::first_refused(text) {
        Some(c) => Err(ApiError::validation(protocol::text::refusal(field, c))),
        None => Ok(()),
    };
    match value {
        Value::String(text) => refused(text, field),
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| refuse_forbidden_text(item, field)),
        Value::Object(fields) => fields.iter().try_for_each(|(key, item)| {
            refused(key, "a field name")?;
            refuse_forbidden_text(item, key)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// Refuses a query or path parameter holding text the API does not accept.
fn refuse_forbidden_params<'a>(
    params: impl IntoIterator<Item = &'a (String, String)>,
) -> Result<(), ApiError> {
    for (name, value) in params {
        for text in [name, value] {
            if let Some(c) = protocol::text::first_refused(text) {
                return Err(ApiError::validation(protocol::text::refusal(name, c)));
            }
        }
    }
    Ok(())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let (code, message) = match &rejection {
        JsonRejection::JsonSyntaxError(_) => (codes::INVALID_JSON, rejection.body_text()),
        JsonRejection::JsonDataError(_) => (codes::INVALID_BODY, rejection.body_text()),
        JsonRejection::MissingJsonContentType(_) => (
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => (
            codes::BODY_TOO_LARGE,
            "the request body is larger than the server accepts".to_owned(),
        ),
        _ => (codes::INVALID_BODY, rejection.body_text()),
    };
    ApiError::Rejected {
        status,
        code,
        message,
    }
}

/// Query parameters; bad ones are a 400 with the API's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(query_rejection)?;
        refuse_forbidden_params(&params)?;
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: rejection.body_text(),
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest {
        code: codes::INVALID_PARAMETER,
        message: rejection.body_text(),
    }
}

/// The `{chat_id}` path segment (percent-encoded `@` is fine), validated as a WhatsApp chat id.
#[derive(Debug, Clone)]
pub struct ChatPath(pub ChatId);

impl<S: Send + Sync> FromRequestParts<S> for ChatPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(path_rejection)?;
        let raw = params
            .iter()
            .find(|(name, _)| name == "chat_id")
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| anyhow::anyhow!("route has no {{chat_id}} segment"))?;
        ChatId::parse(raw)
            .map(ChatPath)
            .map_err(|err| ApiError::BadRequest {
                code: codes::INVALID_CHAT_ID,
                message: format!("{raw:?} is not a WhatsApp chat id: {err}"),
            })
    }
}

/// The `{id}` path segment of reminders, pipelines and the like. Ids are opaque: a malformed one
/// is simply not found, like an id of another org.
#[derive(Debug, Clone)]
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(path_rejection)?;
        refuse_forbidden_params(&params)?;
        params
            .into_iter()
            .find(|(name, _)| name == "id")
            .map(|(_, value)| IdPath(value))
            .ok_or_else(|| anyhow::anyhow!("route has no {{id}} segment").into())
    }
}
