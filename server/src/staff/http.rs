//! Staff HTTP routes (JSON):
//! - `POST /v1/staff/login` `{username, password, totp?}` → 200 with the
//!   session token and the account; 401 `invalid_credentials` for any bad
//!   login; 429 `too_many_attempts` with `Retry-After` (per username and
//!   source, and per source); 503 `busy` (the password checks are full, or
//!   this source has its share of the logins waiting for them);
//!   400 `bad_request` for malformed JSON.
//! - `POST /v1/staff/logout` with `Authorization: Bearer <token>` → 204.
//! - `GET /v1/attestation-key` → `{public_key: hex}`.
//!
//! Every answer is `Cache-Control: no-store`. Nothing here is logged.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parasol_protocol::StaffRole;
use serde::{Deserialize, Serialize};

use super::StaffError;
use crate::metrics::LoginOutcome;
use crate::Services;

/// Largest request body the staff routes read.
pub const MAX_BODY_BYTES: usize = 4096;

pub const LOGIN_PATH: &str = "/v1/staff/login";
pub const LOGOUT_PATH: &str = "/v1/staff/logout";
pub const ATTESTATION_KEY_PATH: &str = "/v1/attestation-key";

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route(LOGIN_PATH, post(login))
        .route(LOGOUT_PATH, post(logout))
        .route(ATTESTATION_KEY_PATH, get(attestation_key))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub totp: Option<String>,
}

#[derive(Serialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: u64,
    pub account_id: u64,
    pub role: StaffRole,
    pub display_name: String,
    pub languages: Vec<String>,
    pub max_concurrent_chats: u8,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    no_store(
        (
            status,
            Json(ErrorBody {
                error: code,
                message: message.into(),
            }),
        )
            .into_response(),
    )
}

fn retry_after(mut response: Response, secs: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// The HTTP answer for a staff error.
pub fn error_response(e: &StaffError) -> Response {
    match e {
        StaffError::InvalidCredentials => error(StatusCode::UNAUTHORIZED, "invalid_credentials", e.to_string()),
        StaffError::InvalidSession => error(StatusCode::UNAUTHORIZED, "invalid_session", e.to_string()),
        StaffError::Throttled { retry_after_secs } => retry_after(
            error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", e.to_string()),
            *retry_after_secs,
        ),
        StaffError::Busy => retry_after(error(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()), 1),
        StaffError::InvalidInput(_) => error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        StaffError::UsernameTaken => error(StatusCode::CONFLICT, "username_taken", e.to_string()),
        StaffError::NotFound => error(StatusCode::NOT_FOUND, "not_found", e.to_string()),
        StaffError::TooManyAccounts => error(StatusCode::CONFLICT, "too_many_accounts", e.to_string()),
        StaffError::Storage(err) => {
            tracing::error!(error = %err, "staff storage error");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}

fn rejection_response(rejection: JsonRejection) -> Response {
    let status = match &rejection {
        JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => StatusCode::BAD_REQUEST,
        other => other.status(),
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "send Content-Type: application/json".to_string(),
        _ => "expected a JSON object {\"username\", \"password\", \"totp\"?}".to_string(),
    };
    error(status, "bad_request", message)
}

async fn login(
    State(services): State<Arc<Services>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Response {
    let Json(request) = match body {
        Ok(b) => b,
        Err(rejection) => return rejection_response(rejection),
    };
    // Throttled per (username, source) and per source: guesses from one
    // network do not lock the person out at another.
    let source = crate::http::client_address(&services, peer, &headers).map(|a| services.intake.sources.key(a));
    let result = services
        .staff
        .login_from(&request.username, &request.password, request.totp.as_deref(), source)
        .await;
    let outcome = match &result {
        Ok(_) => LoginOutcome::Success,
        Err(StaffError::InvalidCredentials) => LoginOutcome::InvalidCredentials,
        Err(StaffError::Throttled { .. }) => LoginOutcome::Throttled,
        Err(StaffError::Busy) => LoginOutcome::Busy,
        Err(_) => LoginOutcome::Error,
    };
    services.metrics.login(outcome);
    match result {
        Ok(o) => no_store(
            Json(LoginResponse {
                token: o.token,
                expires_at: o.expires_at,
                account_id: o.account.account_id,
                role: o.account.role,
                display_name: o.account.display_name,
                languages: o.account.languages,
                max_concurrent_chats: o.account.max_concurrent_chats,
            })
            .into_response(),
        ),
        Err(e) => error_response(&e),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn logout(State(services): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return error_response(&StaffError::InvalidSession);
    };
    match services.staff.logout(token).await {
        // An unknown or already ended session is logged out all the same.
        Ok(_) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(e) => error_response(&e),
    }
}

#[derive(Serialize)]
struct AttestationKey {
    public_key: String,
}

async fn attestation_key(State(services): State<Arc<Services>>) -> Response {
    no_store(
        Json(AttestationKey {
            public_key: hex::encode(services.attestor.public_key()),
        })
        .into_response(),
    )
}
