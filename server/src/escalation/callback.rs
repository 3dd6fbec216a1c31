//! The accept callback named in every webhook:
//! `POST /v1/escalations/{id}/accept` with a crisis responder's staff
//! session (`Authorization: Bearer <token>`, from `/v1/staff/login`).
//! The responder must be on duty with the console connected: the chat's
//! counsellor adds that connected device to the group.
//!
//! 200 `{escalation_id, status}`; 401 without a live session; 403 when not
//! an on-duty responder; 404 unknown escalation; 409 already accepted or
//! ended, or no connected device / key package. Nothing here is logged.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use parasol_protocol::ErrorCode;
use serde::Serialize;

use super::CALLBACK_PATH;
use crate::Services;

pub fn routes() -> Router<Arc<Services>> {
    Router::new().route(CALLBACK_PATH, post(accept))
}

#[derive(Serialize)]
struct Accepted {
    escalation_id: u64,
    status: &'static str,
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

fn answer(status: StatusCode, body: impl Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn accept(State(services): State<Arc<Services>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return answer(
            StatusCode::NOT_FOUND,
            ErrorBody {
                error: "unknown_escalation",
                message: "no such escalation".into(),
            },
        );
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let session = match token {
        Some(t) => services.staff.authenticate_session(t).await.ok(),
        None => None,
    };
    let Some(session) = session else {
        return answer(
            StatusCode::UNAUTHORIZED,
            ErrorBody {
                error: "invalid_session",
                message: "log in as a crisis responder first".into(),
            },
        );
    };
    match services.escalations.accept(session.account_id, id).await {
        Ok(entry) => answer(
            StatusCode::OK,
            Accepted {
                escalation_id: entry.escalation_id,
                status: entry.status.as_str(),
            },
        ),
        Err(e) => {
            let status = match e.code {
                ErrorCode::Forbidden => StatusCode::FORBIDDEN,
                ErrorCode::UnknownEscalation => StatusCode::NOT_FOUND,
                ErrorCode::InvalidState | ErrorCode::NoKeyPackage => StatusCode::CONFLICT,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            answer(
                status,
                ErrorBody {
                    error: e.code.as_str(),
                    message: e.message.clone(),
                },
            )
        }
    }
}
