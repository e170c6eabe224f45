//! `Idempotency-Key` support for POSTs that create things.
//!
//! The key is looked up and recorded inside the handler's own write transaction, so "the change
//! happened" and "the response was recorded" commit together: a retry after a lost response gets
//! the first response back and nothing is created twice. Keys are scoped to the agent, a reused key
//! with a different request is refused (422), and records expire after a day.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use protocol::codes;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::db::{self, WriteTx};

/// The request header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a response that replays a recorded one.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// How long a key is remembered.
pub const KEY_RETENTION_MS: i64 = 24 * 3600 * 1000;

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(&IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| ApiError::BadRequest {
                code: codes::INVALID_PARAMETER,
                message:
                    "Idempotency-Key must be 1 to 255 printable ASCII characters (a UUID is ideal)"
                        .to_owned(),
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// A digest of what a request asks for: the route and the parsed body, so the same request sent
/// with different whitespace or field order still counts as the same.
pub fn fingerprint<T: Serialize>(route: &str, body: &T) -> ApiResult<String> {
    let json = serde_json::to_string(body).map_err(anyhow::Error::from)?;
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(json.as_bytes());
    Ok(hex::encode(hasher.finalize()))
}

impl IdempotencyKey {
    /// The recorded response if this key was used before for the same request.
    pub async fn replay(
        &self,
        conn: &mut sqlx::AnyConnection,
        agent_id: &str,
        fingerprint: &str,
    ) -> ApiResult<Option<Response>> {
        let Some(key) = &self.0 else {
            return Ok(None);
        };
        let row = sqlx::query(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE agent_id = $1 AND key = $2",
        )
        .bind(agent_id)
        .bind(key)
        .fetch_optional(conn)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let request_hash: String = row.try_get("request_hash")?;
        replayed(
            &request_hash,
            fingerprint,
            row.try_get("status")?,
            row.try_get("response")?,
        )
        .map(Some)
    }

    /// [`IdempotencyKey::replay`] on SQLite's writer thread, inside its transaction.
    pub fn replay_direct(
        &self,
        conn: &rusqlite::Connection,
        agent_id: &str,
        fingerprint: &str,
    ) -> ApiResult<Option<Response>> {
        let Some(key) = &self.0 else {
            return Ok(None);
        };
        let recorded = db::direct::prepare_numbered(
            conn,
            "SELECT request_hash, status, response FROM idempotency_keys WHERE agent_id = $1 AND key = $2",
            &[&agent_id, key],
        )
        .and_then(|statement| {
            db::direct::first_row(statement, |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
        })
        .map_err(db::direct::api_error)?;
        let Some((request_hash, status, body)) = recorded else {
            return Ok(None);
        };
        replayed(&request_hash, fingerprint, status, body).map(Some)
    }

    /// Records the response (when a key was sent) on SQLite's writer thread, inside its
    /// transaction, and returns it; the transaction's commit makes both durable together.
    pub fn record_direct<T: Serialize>(
        &self,
        conn: &rusqlite::Connection,
        agent_id: &str,
        fingerprint: &str,
        now: i64,
        status: StatusCode,
        body: &T,
    ) -> ApiResult<Response> {
        let json = serde_json::to_string(body).map_err(anyhow::Error::from)?;
        if let Some(key) = &self.0 {
            let recorded = db::direct::prepare_numbered(
                conn,
                "INSERT INTO idempotency_keys (agent_id, key, request_hash, status, response, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &agent_id,
                    key,
                    &fingerprint,
                    &i64::from(status.as_u16()),
                    &json,
                    &now,
                ],
            )
            .and_then(|mut statement| statement.raw_execute());
            match recorded {
                Ok(_) => {}
                Err(err) if db::direct::is_unique_violation(&err) => return Err(in_flight()),
                Err(err) => return Err(db::direct::api_error(err)),
            }
        }
        Ok(json_response(status, json))
    }

    /// Records the response (when a key was sent), commits the transaction and returns the
    /// response.
    pub async fn commit<T: Serialize>(
        &self,
        mut tx: WriteTx,
        state: &AppState,
        agent_id: &str,
        fingerprint: &str,
        status: StatusCode,
        body: &T,
    ) -> ApiResult<Response> {
        let json = serde_json::to_string(body).map_err(anyhow::Error::from)?;
        if let Some(key) = &self.0 {
            let now = tx.now();
            let recorded = sqlx::query(
                "INSERT INTO idempotency_keys (agent_id, key, request_hash, status, response, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(agent_id)
            .bind(key)
            .bind(fingerprint)
            .bind(i64::from(status.as_u16()))
            .bind(&json)
            .bind(now)
            .execute(tx.conn())
            .await;
            match recorded {
                Ok(_) => {}
                Err(err) if db::is_unique_violation(&err) => return Err(in_flight()),
                Err(err) => return Err(err.into()),
            }
        }
        tx.commit(&state.hub).await?;
        Ok(json_response(status, json))
    }

    /// The key, if the request sent one.
    pub fn key(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The recorded response, marked as a replay, if the request is the one recorded with the key.
pub fn replayed(
    request_hash: &str,
    fingerprint: &str,
    status: i64,
    body: String,
) -> ApiResult<Response> {
    if request_hash != fingerprint {
        return Err(ApiError::Unprocessable {
            code: codes::IDEMPOTENCY_KEY_REUSED,
            message: "this Idempotency-Key was already used for a different request".to_owned(),
        });
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = json_response(status, body);
    response.headers_mut().insert(
        IDEMPOTENT_REPLAYED.clone(),
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

pub fn in_flight() -> ApiError {
    ApiError::conflict(
        codes::IDEMPOTENCY_IN_FLIGHT,
        "a request with this Idempotency-Key is being processed; retry shortly",
    )
}

/// A JSON response with `body` as it is (already serialised).
pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Forgets keys older than the retention period.
pub async fn purge_expired(db: &db::Db) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query(&db.sql("DELETE FROM idempotency_keys WHERE created_at < now_ms() - $1"))
            .bind(KEY_RETENTION_MS)
            .execute(&mut *db.write_conn().await?)
            .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_route_and_content_only() {
        let a = fingerprint(
            "notes:1",
            &serde_json::json!({"body": "hi", "mentions": []}),
        )
        .unwrap();
        let same: serde_json::Value =
            serde_json::from_str(r#"{ "mentions" : [], "body":"hi" }"#).unwrap();
        assert_eq!(a, fingerprint("notes:1", &same).unwrap());
        assert_ne!(a, fingerprint("notes:2", &same).unwrap());
        assert_ne!(
            a,
            fingerprint(
                "notes:1",
                &serde_json::json!({"body": "hi!", "mentions": []})
            )
            .unwrap()
        );
    }
}
