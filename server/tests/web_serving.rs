//! The server serves the built web client at `/`, and every response (the
//! page, its assets, the health check, errors) carries the security headers.
//! No route takes a body over the configured limit.

use std::net::SocketAddr;

use parasol_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

async fn start(web_root: &std::path::Path, data: &std::path::Path) -> (SocketAddr, CancellationToken) {
    start_with(web_root, data, Config::default()).await
}

/// Start with `config`'s settings; listens on 127.0.0.1:0 unless it says
/// otherwise, and answers the loopback address of the port it got.
async fn start_with(
    web_root: &std::path::Path,
    data: &std::path::Path,
    config: Config,
) -> (SocketAddr, CancellationToken) {
    let listen = if config.listen == Config::default().listen {
        "127.0.0.1:0".parse().unwrap()
    } else {
        config.listen
    };
    let config = Config {
        listen,
        // A free port: tests run side by side.
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: data.join("data"),
        web_root: web_root.to_path_buf(),
        ..config
    };
    config.validate().unwrap();
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    tokio::spawn(async move {
        parasol_server::run_with(config, token, move |addr, _| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    let addr: SocketAddr = rx.await.unwrap();
    (SocketAddr::from(([127, 0, 0, 1], addr.port())), shutdown)
}

/// Status, lower-cased header lines, body.
async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<String>, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    (status, lines.map(str::to_ascii_lowercase).collect(), body.to_string())
}

fn has(headers: &[String], line: &str) -> bool {
    headers.iter().any(|h| h == line)
}

fn assert_security_headers(path: &str, headers: &[String]) {
    assert!(has(headers, "cache-control: no-store"), "{path}: cached: {headers:?}");
    assert_security_headers_but_cache(path, headers);
}

/// Every security header; `Cache-Control` is checked by the caller.
fn assert_security_headers_but_cache(path: &str, headers: &[String]) {
    for expected in [
        "referrer-policy: no-referrer",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
    ] {
        assert!(has(headers, expected), "{path}: missing `{expected}` in {headers:?}");
    }
    let csp = headers
        .iter()
        .find(|h| h.starts_with("content-security-policy: "))
        .unwrap_or_else(|| panic!("{path}: no CSP"));
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{path}: CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{path}: {csp}"
    );
    assert!(headers.iter().any(|h| h.starts_with("permissions-policy: ")), "{path}");
    assert!(
        !headers.iter().any(|h| h.starts_with("set-cookie")),
        "{path}: sets a cookie"
    );
}

#[tokio::test]
async fn the_built_page_and_every_response_carry_the_security_headers() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Notes</title>").unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/app-1a2b3c.js"), "console.log(1)").unwrap();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(web.path(), data.path()).await;

    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Notes</title>"));
    assert_security_headers("/", &headers);

    let (status, headers, body) = get(addr, "/assets/app-1a2b3c.js").await;
    assert_eq!(status, 200);
    assert_eq!(body, "console.log(1)");
    assert!(headers.iter().any(
        |h| h.starts_with("content-type: text/javascript") || h.starts_with("content-type: application/javascript")
    ));
    assert_security_headers("/assets", &headers);

    // An unknown path gets the page (the app routes itself), never a listing.
    let (status, headers, body) = get(addr, "/some/where").await;
    assert_eq!(status, 200);
    assert!(body.contains("<title>Notes</title>"));
    assert_security_headers("/some/where", &headers);

    let (status, headers, _) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_security_headers("/healthz", &headers);
    shutdown.cancel();
}

#[tokio::test]
async fn without_a_built_client_the_root_says_how_to_build_it() {
    let web = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(web.path(), data.path()).await;
    let (status, headers, body) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(body.contains("npm run build"), "{body}");
    assert_security_headers("/", &headers);
    shutdown.cancel();
}

/// A web root as Vite builds it: the page, the staff console, hashed
/// assets, and a file without a hash.
fn built_web_root() -> tempfile::TempDir {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Notes</title>").unwrap();
    std::fs::write(web.path().join("console.html"), "<!doctype html><title>Console</title>").unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/index-BkX3c9_q.js"), "console.log(1)").unwrap();
    std::fs::write(web.path().join("assets/style-a1B2c3D4.css"), "p{}").unwrap();
    std::fs::write(web.path().join("assets/unhashed.js"), "console.log(2)").unwrap();
    web
}

const HASHED: [&str; 2] = ["/assets/index-BkX3c9_q.js", "/assets/style-a1B2c3D4.css"];
/// The page, the console, an asset without a hash, a hashed name that does
/// not exist (answered with the page), the API.
const NEVER_CACHED: [&str; 6] = [
    "/",
    "/console.html",
    "/assets/unhashed.js",
    "/assets/gone-ZZZZZZZZ.js",
    "/healthz",
    "/v1/staff/login",
];

#[tokio::test]
async fn hashed_assets_are_not_cached_by_default() {
    let web = built_web_root();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(web.path(), data.path()).await;
    for path in HASHED.iter().chain(&NEVER_CACHED) {
        let (_, headers, _) = get(addr, path).await;
        assert_security_headers(path, &headers);
    }
    shutdown.cancel();
}

#[tokio::test]
async fn with_cache_hashed_assets_only_hashed_assets_are_cached() {
    let web = built_web_root();
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.http.cache_hashed_assets = true;
    let (addr, shutdown) = start_with(web.path(), data.path(), config).await;
    for path in HASHED {
        let (status, headers, _) = get(addr, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            has(&headers, "cache-control: public, max-age=31536000, immutable"),
            "{path}: {headers:?}"
        );
        assert_eq!(headers.iter().filter(|h| h.starts_with("cache-control:")).count(), 1);
        assert_security_headers_but_cache(path, &headers);
    }
    for path in NEVER_CACHED {
        let (_, headers, _) = get(addr, path).await;
        assert_security_headers(path, &headers);
    }
    shutdown.cancel();
}

#[tokio::test]
async fn hsts_is_sent_behind_a_tls_proxy_and_not_over_plain_loopback() {
    let web = built_web_root();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(web.path(), data.path()).await;
    let (_, headers, _) = get(addr, "/").await;
    assert!(
        !headers.iter().any(|h| h.starts_with("strict-transport-security")),
        "{headers:?}"
    );
    shutdown.cancel();

    // All interfaces, allowed because a proxy speaks HTTPS to browsers;
    // the test talks to its loopback side only.
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        behind_tls_proxy: true,
        ..Config::default()
    };
    config.intake.trusted_proxy_header = Some("x-forwarded-for".into());
    let (addr, shutdown) = start_with(web.path(), data.path(), config).await;
    for path in ["/", "/healthz", "/assets/index-BkX3c9_q.js", "/nowhere"] {
        let (_, headers, _) = get(addr, path).await;
        assert!(
            has(
                &headers,
                "strict-transport-security: max-age=63072000; includesubdomains"
            ),
            "{path}: {headers:?}"
        );
        assert_security_headers(path, &headers);
    }
    shutdown.cancel();
}

/// Send `head` (request line and headers, without the blank line) and then
/// `body`, and read the answer: status and body. The server may answer and
/// close before the body is all sent; a write error then is expected.
async fn send_raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let _ = stream.write_all(body).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let response = String::from_utf8_lossy(&response).to_string();
        let (status_line, rest) = response.split_once("\r\n").expect("an HTTP answer");
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let body = rest.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
        (status, body)
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), exchange)
        .await
        .expect("the server answered instead of waiting for the body")
}

#[tokio::test]
async fn every_route_refuses_a_body_over_the_limit_with_413() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<!doctype html><title>Notes</title>").unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.connections.max_request_body_bytes = 2048;
    let (addr, shutdown) = start_with(web.path(), data.path(), config).await;

    // Over the limit: 413, on every route, whether or not it reads bodies;
    // a declared length at once, before the body is sent, and a chunked
    // body (no declared length) the same once it runs past the limit.
    let mut chunked = format!("{:x}\r\n", 8192).into_bytes();
    chunked.extend_from_slice(&[b'a'; 8192]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for (method, path) in [
        ("POST", "/v1/staff/login"),
        ("POST", "/v1/staff/logout"),
        ("POST", "/v1/escalations/1/accept"),
        ("GET", "/v1/attestation-key"),
        ("GET", "/v1/ws"),
        ("GET", "/healthz"),
        ("POST", "/"),
        ("PUT", "/some/where"),
    ] {
        let head = format!("{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 10000000");
        let (status, body) = send_raw(addr, &head, b"").await;
        assert_eq!(status, 413, "{method} {path}: {body}");
        assert!(body.contains("larger than 2048 bytes"), "{method} {path}: {body}");
        let head = format!("{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked");
        let (status, body) = send_raw(addr, &head, &chunked).await;
        assert_eq!(status, 413, "chunked {method} {path}: {body}");
        assert!(
            body.contains("larger than 2048 bytes"),
            "chunked {method} {path}: {body}"
        );
    }
    // The issue's case: 160 KiB in many small chunks, against the default
    // limit (64 KiB), to a route that never reads a body.
    let mut many = Vec::new();
    for _ in 0..160 {
        many.extend_from_slice(format!("{:x}\r\n", 1024).as_bytes());
        many.extend_from_slice(&[b'b'; 1024]);
        many.extend_from_slice(b"\r\n");
    }
    many.extend_from_slice(b"0\r\n\r\n");
    let data_default = tempfile::tempdir().unwrap();
    let (default_addr, default_shutdown) = start_with(web.path(), data_default.path(), Config::default()).await;
    let head = "POST /v1/escalations/1/accept HTTP/1.1\r\nTransfer-Encoding: chunked";
    let (status, body) = send_raw(default_addr, head, &many).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than 65536 bytes"), "{body}");
    default_shutdown.cancel();

    // A chunked body within the limit is handed on whole.
    let mut small = format!("{:x}\r\n", 40).into_bytes();
    small.extend_from_slice(br#"{"username":"nobody","password":"wrong"}"#);
    small.extend_from_slice(b"\r\n0\r\n\r\n");
    let head = "POST /v1/staff/login HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked";
    let (status, body) = send_raw(addr, head, &small).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_credentials"), "{body}");

    // Within the limit, routes work as before.
    let (status, _) = send_raw(addr, "GET /healthz HTTP/1.1\r\nContent-Length: 100", &[b'x'; 100]).await;
    assert_eq!(status, 200);
    shutdown.cancel();
}

#[tokio::test]
async fn a_chunked_body_that_trickles_gets_408_instead_of_holding_its_buffer() {
    let web = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.connections.handshake_timeout_secs = 1;
    let (addr, shutdown) = start_with(web.path(), data.path(), config).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /v1/staff/login HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n")
        .await
        .unwrap();
    // ...and nothing more: the server answers on its own.
    let mut response = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read_to_end(&mut response)).await;
    assert!(read.is_ok(), "the server kept waiting for the body");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    shutdown.cancel();
}

/// Status, lower-cased header lines and raw body bytes of a GET with an
/// `Accept-Encoding` header (or none).
async fn get_encoded(addr: SocketAddr, path: &str, accept_encoding: Option<&str>) -> (u16, Vec<String>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let accept = accept_encoding.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{accept}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        lines.map(str::to_ascii_lowercase).collect(),
        response[split + 4..].to_vec(),
    )
}

#[tokio::test]
async fn precompressed_assets_are_served_with_content_encoding_and_vary() {
    let web = built_web_root();
    // What the build writes beside each file (the bytes stand in for real
    // compressed data: the server sends them as they are).
    std::fs::write(web.path().join("assets/index-BkX3c9_q.js.br"), b"BR-BYTES").unwrap();
    std::fs::write(web.path().join("assets/index-BkX3c9_q.js.gz"), b"GZ-BYTES").unwrap();
    std::fs::write(web.path().join("index.html.br"), b"BR-PAGE").unwrap();
    std::fs::write(web.path().join("index.html.gz"), b"GZ-PAGE").unwrap();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(web.path(), data.path()).await;
    let js = "/assets/index-BkX3c9_q.js";
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), &b"BR-BYTES"[..]),
        (Some("gzip"), Some("gzip"), b"GZ-BYTES"),
        (Some("identity"), None, b"console.log(1)"),
        (None, None, b"console.log(1)"),
    ] {
        let (status, headers, got) = get_encoded(addr, js, accept).await;
        assert_eq!(status, 200, "{accept:?}");
        assert_eq!(got, body, "{accept:?}");
        let sent = headers
            .iter()
            .find_map(|h| h.strip_prefix("content-encoding: "))
            .map(str::to_string);
        assert_eq!(sent.as_deref(), encoding, "{accept:?}: {headers:?}");
        assert!(has(&headers, "vary: accept-encoding"), "{accept:?}: {headers:?}");
        // The type is the script's, not the compressed file's.
        assert!(
            headers.iter().any(|h| h.starts_with("content-type: text/javascript")),
            "{headers:?}"
        );
        assert_security_headers(js, &headers);
    }
    // The page itself, at `/` and as the fallback of an unknown path.
    for path in ["/", "/index.html", "/some/where"] {
        let (status, headers, got) = get_encoded(addr, path, Some("br, gzip")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(got, b"BR-PAGE", "{path}");
        assert!(has(&headers, "content-encoding: br"), "{path}: {headers:?}");
        assert!(has(&headers, "vary: accept-encoding"), "{path}: {headers:?}");
        assert!(
            headers.iter().any(|h| h.starts_with("content-type: text/html")),
            "{path}: {headers:?}"
        );
        assert_security_headers(path, &headers);
    }
    // A file without a compressed copy is sent as it is, whatever is offered.
    let (status, headers, got) = get_encoded(addr, "/assets/unhashed.js", Some("br, gzip")).await;
    assert_eq!(status, 200);
    assert_eq!(got, b"console.log(2)");
    assert!(
        !headers.iter().any(|h| h.starts_with("content-encoding")),
        "{headers:?}"
    );
    shutdown.cancel();
}
