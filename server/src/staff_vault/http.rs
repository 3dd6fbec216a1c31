//! The staff vault's HTTP routes (JSON; PROTOCOL.md, "Staff state vault").
//! Every request carries `Authorization: Bearer <session token>` of a live
//! staff session; the body is read only after that check, so nobody
//! without a session gets a large body read. Bytes travel as standard
//! base64 with padding.
//! - `POST /v1/staff/vault/open` → 200 `{kdf:{alg,salt,m_kib,t,p},
//!   items:[{slot,version,sealed}]}`; takes the lease for this session.
//! - `PUT /v1/staff/vault/items/{slot}` `{sealed, if_version?}` → 200
//!   `{version}`; 409 `vault_moved` | `version_conflict` (with `current`);
//!   413 `item_too_large`; 507 `vault_full`; 400 `bad_request`.
//! - `DELETE /v1/staff/vault/items/{slot}` → 204; 409 `vault_moved`.
//! - 401 `invalid_session`; 503 `busy` when [`super::MAX_CONCURRENT_REQUESTS`]
//!   are in progress.
//!
//! Every answer is `Cache-Control: no-store`. Nothing here is logged but
//! storage failures.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{lease_of, VaultError, MAX_ITEM_BYTES};
use crate::staff::{SessionInfo, StaffError};
use crate::Services;

pub const OPEN_PATH: &str = "/v1/staff/vault/open";
pub const ITEM_PATH: &str = "/v1/staff/vault/items/{slot}";

/// Largest request body: one item in base64 and its JSON around it. This
/// router has its own limit, above the server's default for other routes.
pub const MAX_BODY_BYTES: usize = MAX_ITEM_BYTES.div_ceil(3) * 4 + 1024;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route(OPEN_PATH, post(open))
        .route(ITEM_PATH, put(put_item).delete(delete_item))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    no_store((status, Json(json!({ "error": code, "message": message.into() }))).into_response())
}

fn vault_error(e: &VaultError) -> Response {
    match e {
        VaultError::Moved => error(StatusCode::CONFLICT, "vault_moved", e.to_string()),
        VaultError::VersionConflict { current, .. } => no_store(
            (
                StatusCode::CONFLICT,
                Json(json!({ "error": "version_conflict", "message": e.to_string(), "current": current })),
            )
                .into_response(),
        ),
        VaultError::TooLarge => error(StatusCode::PAYLOAD_TOO_LARGE, "item_too_large", e.to_string()),
        VaultError::Full => error(StatusCode::INSUFFICIENT_STORAGE, "vault_full", e.to_string()),
        VaultError::BadSlot => error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        VaultError::Storage(err) => {
            tracing::error!(error = %err, "staff vault storage error");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; retry later",
            )
        }
    }
}

/// The session of the request's bearer token and its lease name; or the
/// answer to give.
async fn session(services: &Arc<Services>, headers: &HeaderMap) -> Result<(SessionInfo, [u8; 32]), Response> {
    let Some(token) = crate::staff::http::bearer_token(headers).map(str::to_owned) else {
        return Err(crate::staff::http::error_response(&StaffError::InvalidSession));
    };
    let lease = lease_of(&token);
    match services.staff.authenticate_session(&token).await {
        Ok(info) => Ok((info, lease)),
        Err(e) => Err(crate::staff::http::error_response(&e)),
    }
}

fn busy() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        "the vault is busy; try again in a moment",
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    r
}

#[derive(Serialize)]
struct KdfJson {
    alg: &'static str,
    salt: String,
    m_kib: u32,
    t: u32,
    p: u32,
}

#[derive(Serialize)]
struct ItemJson {
    slot: String,
    version: u64,
    sealed: String,
}

#[derive(Serialize)]
struct OpenResponse {
    kdf: KdfJson,
    items: Vec<ItemJson>,
}

async fn open(State(services): State<Arc<Services>>, headers: HeaderMap) -> Response {
    let (info, lease) = match session(&services, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(_permit) = services.staff_vault.requests.clone().try_acquire_owned() else {
        return busy();
    };
    match services.staff_vault.open_for(info.account_id, lease).await {
        Ok(opened) => no_store(
            Json(OpenResponse {
                kdf: KdfJson {
                    alg: "argon2id",
                    salt: B64.encode(&opened.kdf.salt),
                    m_kib: opened.kdf.m_kib,
                    t: opened.kdf.t,
                    p: opened.kdf.p,
                },
                items: opened
                    .items
                    .into_iter()
                    .map(|i| ItemJson {
                        slot: i.slot,
                        version: i.version,
                        sealed: B64.encode(&i.sealed),
                    })
                    .collect(),
            })
            .into_response(),
        ),
        Err(e) => vault_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutRequest {
    sealed: String,
    #[serde(default)]
    if_version: Option<u64>,
}

fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "item_too_large",
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

async fn put_item(
    State(services): State<Arc<Services>>,
    Path(slot): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (info, lease) = match session(&services, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !super::is_valid_slot(&slot) {
        return vault_error(&VaultError::BadSlot);
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return too_large();
    }
    let Ok(_permit) = services.staff_vault.requests.clone().try_acquire_owned() else {
        return busy();
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    let Ok(request) = serde_json::from_slice::<PutRequest>(&bytes) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected a JSON object {\"sealed\": base64, \"if_version\"?: number}",
        );
    };
    drop(bytes);
    let Ok(sealed) = B64.decode(request.sealed.as_bytes()) else {
        return error(StatusCode::BAD_REQUEST, "bad_request", "sealed is not base64");
    };
    match services
        .staff_vault
        .put(info.account_id, lease, &slot, sealed, request.if_version)
        .await
    {
        Ok(version) => no_store(Json(json!({ "version": version })).into_response()),
        Err(e) => vault_error(&e),
    }
}

async fn delete_item(State(services): State<Arc<Services>>, Path(slot): Path<String>, headers: HeaderMap) -> Response {
    let (info, lease) = match session(&services, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(_permit) = services.staff_vault.requests.clone().try_acquire_owned() else {
        return busy();
    };
    match services.staff_vault.delete(info.account_id, lease, &slot).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(e) => vault_error(&e),
    }
}
