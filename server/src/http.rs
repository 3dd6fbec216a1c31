//! HTTP routes: the WebSocket endpoint and a health check.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parasol_protocol::limits::TRANSPORT_SLACK_BYTES;
use parasol_protocol::WEBSOCKET_PATH;

use crate::Services;

pub fn router(services: Arc<Services>) -> Router {
    Router::new()
        .route(WEBSOCKET_PATH, get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(index))
        .with_state(services)
}

async fn index() -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "Parasol delivery service. Clients connect to /v1/ws.\n",
    )
}

/// The client's address, from the socket or from the trusted proxy's
/// header. Used only to derive the salted source key, never kept. `None`
/// for a loopback peer without a forwarded address: that is a local tool
/// or a proxy whose header is not configured, and limiting it as one source
/// would lock everyone behind it out together.
fn client_address(services: &Services, peer: SocketAddr, headers: &HeaderMap) -> Option<std::net::IpAddr> {
    let intake = &services.config.intake;
    if let Some(name) = &intake.trusted_proxy_header {
        if intake.trusted_proxies.contains(&peer.ip()) {
            let forwarded = headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok());
            if let Some(addr) = forwarded {
                return Some(addr);
            }
        }
    }
    (!peer.ip().is_loopback()).then(|| peer.ip())
}

async fn websocket(
    State(services): State<Arc<Services>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if services.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let source = client_address(&services, peer, &headers).map(|a| services.intake.sources.key(a));
    if let Err(retry) = services.intake.guard.admit_connection(source) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry.to_string())],
            "too many connections from your network; retry later\n",
        )
            .into_response();
    }
    let Ok(permit) = services.connection_slots.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many connections; retry later\n").into_response();
    };
    let c = &services.config;
    let max = c.limits.max_frame_bytes + TRANSPORT_SLACK_BYTES;
    let tasks = services.tasks.clone();
    let for_task = services.clone();
    upgrade
        .read_buffer_size(c.connections.read_buffer_bytes)
        .write_buffer_size(c.connections.write_buffer_bytes)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| tasks.track_future(crate::connection::serve(socket, for_task, permit, source)))
}
