//! The API's one error type: every failure becomes `{"error": code, "message": …}` with its status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use protocol::api::{AgentRef, ErrorBody};
use protocol::codes;

use crate::db;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request that no retry will fix (400).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A request the JSON/body layer refused, with the status it chose (400, 413, 415, 422).
    #[error("{message}")]
    Rejected {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        message: String,
        owner: Option<AgentRef>,
    },
    /// Nothing of that kind with that id in the caller's org (the name says what).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Someone else holds the reply lock.
    #[error("{} is replying", holder.name)]
    Locked {
        holder: AgentRef,
        expires_at: i64,
        expires_in_ms: i64,
    },
    /// Well-formed but unacceptable values (422).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Too much at once from this client or for this account (429, with `Retry-After`).
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    #[error("the database is busy; retry shortly")]
    Busy,
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 for a field whose value is not acceptable.
    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::Unprocessable {
            code: codes::VALIDATION,
            message: message.into(),
        }
    }

    /// A 403 for an action the caller's role or ownership does not allow.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::Forbidden {
            code: codes::FORBIDDEN,
            message: message.into(),
            owner: None,
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Rejected { status, .. } => *status,
            ApiError::Unauthorized(_) | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Locked { .. } => StatusCode::CONFLICT,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Rejected { code, .. }
            | ApiError::Forbidden { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized(_) => codes::UNAUTHORIZED,
            ApiError::InvalidCredentials => codes::INVALID_CREDENTIALS,
            ApiError::NotFound(_) => codes::NOT_FOUND,
            ApiError::Locked { .. } => codes::LOCKED,
            ApiError::TooMany { .. } => codes::TOO_MANY_REQUESTS,
            ApiError::Busy => codes::UNAVAILABLE,
            ApiError::Database(_) | ApiError::Internal(_) => codes::INTERNAL,
        }
    }
}

impl From<crate::admin::AdminError> for ApiError {
    fn from(err: crate::admin::AdminError) -> ApiError {
        use crate::admin::AdminError;
        match err {
            AdminError::Invalid(message) => ApiError::validation(message),
            AdminError::NotFound(_) => ApiError::NotFound("agent"),
            AdminError::Conflict(message) => ApiError::conflict(codes::CONFLICT, message),
            AdminError::Database(err) => err.into(),
            AdminError::Api(err) => err,
            AdminError::Other(err) => ApiError::Internal(err),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> ApiError {
        if db::is_busy(&err) {
            ApiError::Busy
        } else {
            ApiError::Database(err)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                tracing::error!(error = ?self, "request failed");
                "internal server error; the server log has the details".to_owned()
            } else {
                tracing::warn!(error = %self, "request refused: server busy");
                self.to_string()
            }
        } else {
            self.to_string()
        };
        let mut body = ErrorBody {
            error: self.code().to_owned(),
            message,
            holder: None,
            owner: None,
            expires_at: None,
            expires_in_ms: None,
        };
        match self {
            ApiError::Locked {
                holder,
                expires_at,
                expires_in_ms,
            } => {
                body.holder = Some(holder);
                body.expires_at = Some(expires_at);
                body.expires_in_ms = Some(expires_in_ms);
            }
            ApiError::Forbidden { owner, .. } => body.owner = owner,
            ApiError::TooMany {
                retry_after_secs, ..
            } => {
                return (
                    status,
                    [(
                        axum::http::header::RETRY_AFTER,
                        retry_after_secs.max(1).to_string(),
                    )],
                    Json(body),
                )
                    .into_response()
            }
            _ => {}
        }
        (status, Json(body)).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kind_of_failure() {
        assert_eq!(
            ApiError::validation("x").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ApiError::NotFound("note").status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::forbidden("x").status(), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::Busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            ApiError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[tokio::test]
    async fn internal_details_stay_in_the_log() {
        let response =
            ApiError::Internal(anyhow::anyhow!("secret connection string")).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error, codes::INTERNAL);
        assert!(!body.message.contains("secret"));
    }
}
