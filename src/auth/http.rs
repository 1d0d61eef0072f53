//! `POST /api/v1/auth/login`, `/refresh`, `/logout`. Open to everyone (that is the point);
//! failures are throttled per account and per client address.

use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::session::{self, SessionError, Tokens};
use super::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::state::{with_conn, AppState};
use crate::text::{self, Text};

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidCredentials => ApiError::Unauthorized {
                code: "invalid_credentials",
                detail: e.to_string(),
            },
            SessionError::RoleRequired(_) => {
                ApiError::unprocessable("role_required", e.to_string())
            }
            // Same answer as a wrong password: do not confirm which roles a user holds.
            SessionError::RoleNotHeld(_) => ApiError::Unauthorized {
                code: "invalid_credentials",
                detail: SessionError::InvalidCredentials.to_string(),
            },
            SessionError::InvalidRefresh => ApiError::Unauthorized {
                code: "invalid_refresh_token",
                detail: e.to_string(),
            },
            SessionError::RefreshReused => ApiError::Unauthorized {
                code: "refresh_token_reused",
                detail: e.to_string(),
            },
            SessionError::Db(db) => db.into(),
            SessionError::Internal(msg) => ApiError::Internal(anyhow::anyhow!(msg)),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The role to act in; required when the user holds several.
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    /// Single use: each refresh returns a new one.
    pub refresh_token: String,
    pub role: String,
    pub user_id: uuid::Uuid,
}

impl From<Tokens> for TokenResponse {
    fn from(t: Tokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in_s,
            refresh_token: t.refresh_token,
            role: t.role,
            user_id: t.user_id,
        }
    }
}

fn client_address(req: &HttpRequest) -> String {
    // The socket's peer, not X-Forwarded-For: a header is the attacker's to choose.
    req.peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string())
}

/// Log in with email and password; returns an access token (15 min) and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem)))]
pub async fn login(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let LoginRequest {
        email,
        password,
        role,
    } = body.into_inner();
    // No stored email holds a control character (admin::create_user): refused before
    // anything is counted or looked up (Postgres would refuse U+0000 in the query).
    text::check(&email, "email", Text::Line)
        .map_err(|d| ApiError::unprocessable("invalid_text", d))?;
    let account = email.trim().to_lowercase();
    let address = client_address(&req);
    // The slot is taken before the password is checked, so concurrent attempts cannot
    // evaluate more passwords than the limit (auth::throttle).
    let slot = auth
        .throttle
        .reserve(&account, &address, Instant::now())
        .map_err(|retry_after_s| ApiError::TooManyRequests { retry_after_s })?;
    let now = state.ledger.now();
    let keys = auth.clone();
    let result = with_conn(&state, move |_, conn| {
        session::login(
            conn,
            &keys.keys,
            &keys.sessions,
            &email,
            &password,
            role.as_deref(),
            now,
        )
        .map_err(ApiError::from)
    })
    .await;
    match result {
        Ok(tokens) => {
            slot.succeeded();
            tracing::info!(user.id = %tokens.user_id, user.role = %tokens.role, "login");
            Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
        }
        Err(e) => {
            if matches!(e, ApiError::Unauthorized { .. }) {
                slot.failed();
                tracing::warn!(client.address = %address, "failed login");
            } else {
                // Not judged (e.g. the database is down, several roles and none named).
                slot.release();
            }
            Err(e)
        }
    }
}

/// Exchange a refresh token for new tokens. Each refresh token works once; presenting a
/// used one ends the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem)))]
pub async fn refresh(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    body: Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = body.into_inner().refresh_token;
    let now = state.ledger.now();
    let tokens = with_conn(&state, move |_, conn| {
        session::refresh(conn, &auth.keys, &auth.sessions, &token, now).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(TokenResponse::from(tokens)))
}

/// End the session of a refresh token (its access tokens expire on their own, within 15 min).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Session ended (also for unknown tokens)")))]
pub async fn logout(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    let token = body.into_inner().refresh_token;
    let now = state.ledger.now();
    with_conn(&state, move |_, conn| {
        session::logout(conn, &token, now).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").post(login))
        .service(web::resource("/auth/refresh").post(refresh))
        .service(web::resource("/auth/logout").post(logout));
}
