//! HTTP routes: the WebSocket endpoint, a health check, the staff routes
//! (`staff::http`), `/metrics`, and the web client's built assets. Every
//! response carries the security headers below, and no route accepts a body
//! over `connections.max_request_body_bytes`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parasol_protocol::limits::TRANSPORT_SLACK_BYTES;
use parasol_protocol::WEBSOCKET_PATH;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::Services;

/// Sent with every response. The page runs only its own scripts, talks
/// only to its own origin and cannot be framed. `Cache-Control` is set by
/// [`cache_control`].
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; \
         connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    ),
];

/// When the browser reaches this server over HTTPS (its own TLS or a
/// TLS-terminating proxy): two years, subdomains included.
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Nothing is cached by default, not even the scripts: a phone that is
/// searched must not show the visit (SECURITY.md, "Transport security").
const NO_STORE: &str = "no-store";
/// Hashed assets never change under their name, when the operator allows
/// caching them (`http.cache_hashed_assets`).
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Hashed asset files taken into account at most (a build has a few dozen).
const MAX_HASHED_ASSETS: usize = 10_000;

pub fn router(services: Arc<Services>) -> Router {
    let config = &services.config;
    let web_root = config.web_root.clone();
    let cacheable = Arc::new(if config.http.cache_hashed_assets {
        hashed_assets(&web_root)
    } else {
        HashSet::new()
    });
    let https = config.tls.enabled() || config.behind_tls_proxy;
    let mut router = Router::new()
        .route(WEBSOCKET_PATH, get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::staff::http::routes())
        .merge(crate::escalation::callback::routes())
        .merge(crate::metrics::routes());
    router = if web_root.join("index.html").is_file() {
        router.fallback_service(ServeDir::new(&web_root).fallback(ServeFile::new(web_root.join("index.html"))))
    } else {
        tracing::warn!("the web client is not built; run `npm run build` in web-client/");
        router.route("/", get(not_built))
    };
    let max_body = services.config.connections.max_request_body_bytes;
    let mut router = router
        .with_state(services)
        // Extractors that read a body stop at the limit (413); a declared
        // length over it is refused before any handler runs.
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(max_body, refuse_large_bodies));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    if https {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ));
    }
    router.layer(axum::middleware::from_fn_with_state(cacheable, cache_control))
}

/// `no-store` on every response, except the hashed assets in `cacheable`.
async fn cache_control(State(cacheable): State<Arc<HashSet<String>>>, request: Request, next: Next) -> Response {
    let hashed = cacheable.contains(request.uri().path());
    let mut response = next.run(request).await;
    let ok = matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED);
    let value = if hashed && ok { IMMUTABLE } else { NO_STORE };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// The URL paths (`/assets/<name>`) of the files in `web_root/assets`
/// whose names carry Vite's content hash. Read once at start: files added
/// later are not cached.
fn hashed_assets(web_root: &Path) -> HashSet<String> {
    let Ok(entries) = std::fs::read_dir(web_root.join("assets")) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| is_hashed_asset_name(name))
        .take(MAX_HASHED_ASSETS)
        .map(|name| format!("/assets/{name}"))
        .collect()
}

/// `<name>-<hash>.<ext>`, Vite's default asset name: the stem ends in a
/// dash and 8 base64url characters.
fn is_hashed_asset_name(name: &str) -> bool {
    const HASH_LEN: usize = 8;
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    let Some(split) = stem.len().checked_sub(HASH_LEN) else {
        return false;
    };
    let (Some(head), Some(hash)) = (stem.get(..split), stem.get(split..)) else {
        return false;
    };
    !ext.is_empty()
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && head.len() >= 2
        && head.ends_with('-')
}

/// HTTP 413 for a request whose declared body is over the limit, whatever
/// the route (also those that never read a body: the client is told at
/// once instead of the connection being dropped mid-upload).
async fn refuse_large_bodies(State(max): State<usize>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            format!("request body larger than {max} bytes\n"),
        )
            .into_response();
    }
    next.run(request).await
}

async fn not_built() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Parasol is running, but the web client is not built: run `npm ci && npm run build` in web-client/.\n",
    )
}

/// The client's address, from the socket or from the trusted proxy's
/// header. Used only to derive the salted source key, never kept. `None`
/// for a loopback peer without a forwarded address: that is a local tool
/// or a proxy whose header is not configured, and limiting it as one source
/// would lock everyone behind it out together.
pub(crate) fn client_address(services: &Services, peer: SocketAddr, headers: &HeaderMap) -> Option<std::net::IpAddr> {
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
    let address = client_address(&services, peer, &headers);
    let source = address.map(|a| services.intake.sources.key(a));
    if let Err(retry) = services.intake.guard.admit_connection(source) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry.to_string())],
            "too many connections from your network; retry later\n",
        )
            .into_response();
    }
    // One network may hold only its share of the connections open; the
    // slot gives its place back when the connection ends.
    let network_slot = match address {
        Some(a) => match services
            .intake
            .connection_cap
            .admit(services.intake.sources.network_key(a))
        {
            Some(slot) => Some(slot),
            None => {
                services.metrics.connections_over_source_cap_total.inc();
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "10")],
                    "too many open connections from your network; close one or retry later\n",
                )
                    .into_response();
            }
        },
        None => None,
    };
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
        .on_upgrade(move |socket| {
            tasks.track_future(async move {
                crate::connection::serve(socket, for_task, permit, source).await;
                drop(network_slot);
            })
        })
}

#[cfg(test)]
mod tests {
    use super::is_hashed_asset_name;

    #[test]
    fn only_vite_hashed_names_count_as_hashed_assets() {
        for name in [
            "index-BkX3c9_q.js",
            "style-a1B2c3D4.css",
            "logo-Zz-9_aQ1.svg",
            "x-y-12345678.woff2",
        ] {
            assert!(is_hashed_asset_name(name), "{name}");
        }
        for name in [
            "index.html",
            "app.js",
            "app-1a2b3c.js",
            "-BkX3c9_q.js",
            "index-BkX3c9_q",
            "index-BkX3c9_q.",
            "indexXBkX3c9_q.js",
            "index-BkX3c9.q.js",
            "ä-ééééé.js",
        ] {
            assert!(!is_hashed_asset_name(name), "{name}");
        }
    }
}
