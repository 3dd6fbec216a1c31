//! HTTP routes: the WebSocket endpoint, a health check, the staff routes
//! (`staff::http`), and the web client's built assets. Every response
//! carries the security headers below, and no route accepts a body over
//! `connections.max_request_body_bytes`, chunked or not. `/metrics` is not
//! here: it has a listener of its own ([`metrics_router`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Extension, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;
use parasol_protocol::limits::TRANSPORT_SLACK_BYTES;
use parasol_protocol::WEBSOCKET_PATH;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::{SetResponseHeader, SetResponseHeaderLayer};

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
        .merge(crate::escalation::callback::routes());
    router = if web_root.join("index.html").is_file() {
        // The build writes `.br` and `.gz` beside each file; a browser that
        // offers them gets the compressed bytes as they are (no compression
        // at request time, no CPU spent per visitor). `Vary` keeps a shared
        // cache from handing one encoding to a browser that asked for another.
        let index = ServeFile::new(web_root.join("index.html"))
            .precompressed_br()
            .precompressed_gzip();
        let files = ServeDir::new(&web_root)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(index);
        router.fallback_service(SetResponseHeader::overriding(
            files,
            header::VARY,
            HeaderValue::from_static("accept-encoding"),
        ))
    } else {
        tracing::warn!("the web client is not built; run `npm run build` in web-client/");
        router.route("/", get(not_built))
    };
    let body_limit = BodyLimit {
        max: services.config.connections.max_request_body_bytes,
        read_timeout: std::time::Duration::from_secs(services.config.connections.handshake_timeout_secs),
    };
    let allowed_origins = Arc::new(
        config
            .http
            .allowed_origins
            .iter()
            .filter_map(|o| origin::parse_allowed(o))
            .collect::<Vec<_>>(),
    );
    let mut router = router
        .with_state(services.clone())
        .layer(Extension(AllowedOrigins(allowed_origins)))
        // Extractors that read a body stop at the limit (413); a declared
        // length over it, or a chunked body that runs past it, is refused
        // before any handler runs.
        .layer(DefaultBodyLimit::max(body_limit.max))
        .layer(middleware::from_fn_with_state(body_limit, refuse_large_bodies))
        // The staff vault's items are larger than other bodies: its routes
        // have their own limit and read a body only for a live session.
        .merge(crate::staff_vault::http::routes().with_state(services.clone()));
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

/// The request body bound of every route.
#[derive(Debug, Clone, Copy)]
struct BodyLimit {
    max: usize,
    /// A body without a length must arrive within this time (the
    /// handshake timeout: a trickled body would otherwise hold its buffer).
    read_timeout: std::time::Duration,
}

/// HTTP 413 for a request whose body is over the limit, whatever the route
/// (also those that never read a body: the client is told at once instead
/// of the connection being dropped mid-upload). A declared length is
/// checked at once; a body without one (chunked) is read here, up to the
/// limit, and handed on whole.
async fn refuse_large_bodies(State(limit): State<BodyLimit>, request: Request, next: Next) -> Response {
    let max = limit.max;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or_else(|| request.body().size_hint().exact());
    if declared.is_some_and(|n| n > max as u64) {
        return body_too_large(max);
    }
    if declared.is_some() || request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut buffered = Vec::new();
    let read = tokio::time::timeout(limit.read_timeout, async {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if buffered.len() + chunk.len() > max {
                return Ok(false);
            }
            buffered.extend_from_slice(&chunk);
        }
        Ok::<_, axum::Error>(true)
    })
    .await;
    match read {
        Ok(Ok(true)) => next.run(Request::from_parts(parts, Body::from(buffered))).await,
        Ok(Ok(false)) => body_too_large(max),
        Ok(Err(_)) => (
            StatusCode::BAD_REQUEST,
            [(header::CONNECTION, "close")],
            "malformed request body\n",
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "request body too slow\n",
        )
            .into_response(),
    }
}

fn body_too_large(max: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        format!("request body larger than {max} bytes\n"),
    )
        .into_response()
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

/// The parsed `http.allowed_origins`.
#[derive(Clone)]
struct AllowedOrigins(Arc<Vec<origin::Origin>>);

async fn websocket(
    State(services): State<Arc<Services>>,
    Extension(AllowedOrigins(allowed_origins)): Extension<AllowedOrigins>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if services.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    // A page on another site must not open a socket with the visitor's
    // browser (cross-site WebSocket hijacking); browsers always send Origin.
    if let Some(sent) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let permitted = sent
            .to_str()
            .is_ok_and(|sent| origin::is_permitted(sent, host, &allowed_origins));
        if !permitted {
            tracing::debug!("WebSocket upgrade from a foreign origin refused");
            return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
        }
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
                crate::net::socket::serve(socket, for_task, permit, source).await;
                drop(network_slot);
            })
        })
}

/// The metrics listener's routes: `GET /metrics` and nothing else.
pub fn metrics_router(services: Arc<Services>) -> Router {
    crate::metrics::routes().with_state(services)
}

/// `Origin` checks of the WebSocket upgrade.
pub mod origin {
    /// A web origin: scheme, lowercase host, port (the scheme's default
    /// when not written).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Origin {
        scheme: String,
        host: String,
        port: u16,
    }

    /// Parse an origin as browsers serialise it (`https://host[:port]`,
    /// nothing else). `None` for `null`, a path, credentials or another
    /// scheme than http and https.
    pub fn parse(text: &str) -> Option<Origin> {
        let url = url::Url::parse(text).ok()?;
        let scheme = url.scheme();
        if !matches!(scheme, "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return None;
        }
        Some(Origin {
            scheme: scheme.to_string(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    /// An entry of `http.allowed_origins`: an origin, a trailing `/` allowed.
    pub fn parse_allowed(text: &str) -> Option<Origin> {
        let trimmed = text.trim();
        // `url` would take `https://a.org/` and `https://a.org` alike, but
        // also quietly fix up other forms; insist on the plain one.
        let plain = trimmed.strip_suffix('/').unwrap_or(trimmed);
        if plain.matches("://").count() != 1 || plain.split("://").nth(1).is_some_and(|r| r.contains('/')) {
            return None;
        }
        parse(plain)
    }

    /// May a page from `sent` (the `Origin` header) open the socket? Yes
    /// for the server's own origin (host and port equal to `Host`'s; the
    /// scheme cannot be told apart behind a TLS proxy) and the allow-list.
    pub fn is_permitted(sent: &str, host: Option<&str>, allowed: &[Origin]) -> bool {
        let Some(origin) = parse(sent) else {
            return false; // `null` (sandboxed frames, files) or malformed
        };
        if allowed.contains(&origin) {
            return true;
        }
        let Some(authority) = host.and_then(|h| h.parse::<axum::http::uri::Authority>().ok()) else {
            return false;
        };
        let host_port = authority.port_u16().unwrap_or(origin.port);
        authority.host().eq_ignore_ascii_case(&origin.host) && host_port == origin.port
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_own_origin_and_listed_ones_are_permitted() {
            let none: Vec<Origin> = Vec::new();
            for (sent, host) in [
                ("https://chat.example.org", "chat.example.org"),
                ("https://chat.example.org", "chat.example.org:443"),
                ("http://chat.example.org", "chat.example.org"),
                ("http://127.0.0.1:8080", "127.0.0.1:8080"),
                ("http://[::1]:8080", "[::1]:8080"),
                ("https://Chat.Example.org", "chat.example.ORG"),
            ] {
                assert!(is_permitted(sent, Some(host), &none), "{sent} {host}");
            }
            for (sent, host) in [
                ("https://evil.example", "chat.example.org"),
                ("https://chat.example.org", "chat.example.org:8443"),
                ("http://127.0.0.1:8081", "127.0.0.1:8080"),
                ("http://chat.example.org.evil.example", "chat.example.org"),
                ("null", "chat.example.org"),
                ("https://chat.example.org", ""),
            ] {
                assert!(!is_permitted(sent, Some(host), &none), "{sent} {host}");
            }
            assert!(!is_permitted("https://chat.example.org", None, &none));
            let listed = vec![parse_allowed("https://chat.example.org/").unwrap()];
            assert!(is_permitted(
                "https://chat.example.org",
                Some("127.0.0.1:8080"),
                &listed
            ));
            assert!(!is_permitted(
                "http://chat.example.org",
                Some("127.0.0.1:8080"),
                &listed
            ));
            assert!(!is_permitted(
                "https://chat.example.org:444",
                Some("127.0.0.1:8080"),
                &listed
            ));
        }
    }
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
