//! Logging in and out, and who am I.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Json;
use protocol::api::{LoginAgent, LoginRequest, LoginResponse, Me, Role};
use sqlx::Row;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::error::{ApiError, ApiResult};
use super::extract::{AppJson, AuthAgent};
use super::throttle::Throttle;
use super::{AppState, Routes};
use crate::config::Config;
use crate::serve::InFlight;
use crate::{admin, auth};

pub fn router() -> Routes {
    Routes::new()
        .post("/auth/login", login)
        .post("/auth/logout", logout)
        .get("/me", me)
}

/// Password checks wait this long for a turn before the login is refused as busy.
const CHECK_QUEUE_WAIT: Duration = Duration::from_secs(10);

/// What guards the login: failures per email and per client address with back-off, and a bound
/// on password checks running at once (each Argon2 check takes ~19 MiB and a core).
#[derive(Debug)]
pub struct LoginGuard {
    by_email: Throttle,
    by_address: Throttle,
    checks: Semaphore,
    /// Password checks under way, for tests and metrics.
    pub checking: Arc<InFlight>,
}

impl LoginGuard {
    pub fn new(config: &Config) -> LoginGuard {
        LoginGuard {
            by_email: Throttle::new(config.login_throttle_per_email),
            by_address: Throttle::new(config.login_throttle_per_address),
            checks: Semaphore::new(config.max_password_checks.max(1)),
            checking: Arc::default(),
        }
    }
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::TooMany {
        message: format!("too many failed logins; try again in {secs} s"),
        retry_after_secs: secs,
    }
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    AppJson(request): AppJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let email = request.email.trim().to_lowercase();
    let address = client.ip().to_string();
    let guard = &state.logins;
    let now = Instant::now();
    if let Err(wait) = guard
        .by_email
        .check(&email, now)
        .and(guard.by_address.check(&address, now))
    {
        tracing::warn!(email, client = %address, "login refused: too many failures");
        return Err(too_many(wait));
    }
    let row = sqlx::query(
        "SELECT id, name, role, password_hash FROM agents WHERE email = $1 AND active = 1",
    )
    .bind(&email)
    .fetch_optional(state.db.pool())
    .await?;
    let stored_hash = match &row {
        Some(row) => row.try_get::<String, _>("password_hash")?,
        None => auth::UNKNOWN_USER_HASH.clone(),
    };
    let password = request.password;
    let verified = {
        let _turn = tokio::time::timeout(CHECK_QUEUE_WAIT, guard.checks.acquire())
            .await
            .map_err(|_| ApiError::Busy)?
            .map_err(anyhow::Error::from)?;
        let _checking = guard.checking.enter();
        tokio::task::spawn_blocking(move || auth::verify_password(&password, &stored_hash))
            .await
            .map_err(anyhow::Error::from)?
    };
    let Some(row) = row.filter(|_| verified) else {
        let now = Instant::now();
        guard.by_email.failed(&email, now);
        guard.by_address.failed(&address, now);
        // Never the password.
        tracing::warn!(email, client = %address, "login failed: wrong email or password");
        return Err(ApiError::InvalidCredentials);
    };
    guard.by_email.succeeded(&email);
    let agent_id: String = row.try_get("id")?;
    let role: String = row.try_get("role")?;
    let token = auth::new_secret("bt_");
    let ttl_ms = i64::try_from(state.config.token_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let expires_at: i64 = sqlx::query_scalar(&state.db.sql(
        "INSERT INTO tokens (id, agent_id, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, now_ms(), now_ms() + $4) RETURNING expires_at",
    ))
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&agent_id)
    .bind(auth::hash_secret(&token))
    .bind(ttl_ms)
    .fetch_one(&mut *state.db.write_conn().await?)
    .await?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        agent: LoginAgent {
            id: agent_id,
            name: row.try_get("name")?,
            role: Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}"))?,
        },
    }))
}

/// Revokes the token the request was made with.
async fn logout(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin_write(&auth.org_id).await?;
    let now = tx.now();
    sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(&auth.token_id)
        .execute(tx.conn())
        .await?;
    tx.sessions_ended(&auth.id, Some(&auth.token_id)).await?;
    tx.commit(&state.hub).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, auth: AuthAgent) -> ApiResult<Json<Me>> {
    let mut conn = state.db.pool().acquire().await?;
    let agent = crate::db::agents::find_active(&mut conn, &auth.org_id, &auth.id)
        .await?
        .ok_or(ApiError::Unauthorized("this agent no longer exists"))?;
    drop(conn);
    let org = admin::find_org(&state.db, &auth.org_id)
        .await
        .map_err(anyhow::Error::from)?;
    let latest_seq = crate::events::latest_seq(&state.db, &auth.org_id).await?;
    Ok(Json(Me {
        agent,
        org,
        server_time: state.db.now().await?,
        latest_seq,
    }))
}
