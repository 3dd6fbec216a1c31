//! Safe defaults over a real socket: the WebSocket upgrade checks `Origin`,
//! and `/metrics` lives on a listener of its own, never on the main one.

use std::net::SocketAddr;
use std::time::Duration;

use parasol_server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

struct TestServer {
    addr: SocketAddr,
    metrics: Option<SocketAddr>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start(mut config: Config) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.data_dir = dir.path().join("data");
    config.validate().unwrap();
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    tokio::spawn(async move {
        parasol_server::run_with(config, token, move |addr, services| {
            let _ = tx.send((addr, services.metrics_addr));
        })
        .await
        .unwrap();
    });
    let (addr, metrics) = rx.await.unwrap();
    TestServer {
        addr,
        metrics,
        shutdown,
        _dir: dir,
    }
}

/// Metrics on a free loopback port (tests run side by side).
fn config() -> Config {
    Config {
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Config::default()
    }
}

/// Send `request` (head only) and read the answer's head and as much body
/// as arrives before the server closes or goes quiet; the status code and
/// the text.
async fn exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => response.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("reading the answer: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, text)
}

/// A WebSocket upgrade request for `/v1/ws` with `Host: host` and, if
/// given, `Origin: origin`.
fn upgrade(host: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

#[tokio::test]
async fn the_websocket_opens_for_the_own_origin_and_native_clients_only() {
    let server = start(config()).await;
    let host = server.addr.to_string();
    let own = format!("http://{host}");
    // A native client (the CLI, the tests' client) sends no Origin.
    let (status, text) = exchange(server.addr, &upgrade(&host, None)).await;
    assert_eq!(status, 101, "{text}");
    // The page served by this server.
    let (status, text) = exchange(server.addr, &upgrade(&host, Some(&own))).await;
    assert_eq!(status, 101, "{text}");
    // Any other origin, another port of the same host, `null` (sandboxed
    // frames, files) and garbage: 403 before the upgrade.
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() + 1);
    let other_name = format!("http://localhost:{}", server.addr.port());
    for origin in [
        "https://evil.example",
        other_port.as_str(),
        other_name.as_str(),
        "null",
        "not an origin",
    ] {
        let (status, text) = exchange(server.addr, &upgrade(&host, Some(origin))).await;
        assert_eq!(status, 403, "{origin}: {text}");
        assert!(text.contains("origin not allowed"), "{origin}: {text}");
        assert!(!text.to_ascii_lowercase().contains("upgrade: websocket"), "{text}");
    }
    server.shutdown.cancel();
}

#[tokio::test]
async fn listed_origins_may_open_the_websocket_behind_a_proxy_that_rewrites_host() {
    let mut config = config();
    config.http.allowed_origins = vec!["https://chat.example.org".into()];
    let server = start(config).await;
    // The proxy forwards to 127.0.0.1:<port> and sets Host to that.
    let host = server.addr.to_string();
    let (status, text) = exchange(server.addr, &upgrade(&host, Some("https://chat.example.org"))).await;
    assert_eq!(status, 101, "{text}");
    for origin in [
        "http://chat.example.org",
        "https://chat.example.org:8443",
        "https://evil.example",
    ] {
        let (status, text) = exchange(server.addr, &upgrade(&host, Some(origin))).await;
        assert_eq!(status, 403, "{origin}: {text}");
    }
    server.shutdown.cancel();
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_not_on_the_main_one() {
    let server = start(config()).await;
    let metrics = server.metrics.expect("a metrics listener");
    assert_ne!(metrics, server.addr);
    let (status, text) = exchange(server.addr, &get("/metrics")).await;
    assert_eq!(status, 404, "the main listener serves /metrics: {text}");
    let (status, text) = exchange(metrics, &get("/metrics")).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("parasol_connections_open "), "{text}");
    let durable_syncs = text
        .lines()
        .find_map(|l| l.strip_prefix("parasol_durable_syncs_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(durable_syncs.is_some(), "a count of durable syncs: {text}");
    assert!(text.contains("cache-control: no-store"), "{text}");
    // The metrics listener serves nothing else.
    for path in ["/healthz", "/v1/ws", "/"] {
        let (status, _) = exchange(metrics, &get(path)).await;
        assert_eq!(status, 404, "{path}");
    }
    server.shutdown.cancel();
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let server = start(Config {
        metrics_listen: None,
        ..Config::default()
    })
    .await;
    assert_eq!(server.metrics, None);
    let (status, _) = exchange(server.addr, &get("/metrics")).await;
    assert_eq!(status, 404);
    let (status, _) = exchange(server.addr, &get("/healthz")).await;
    assert_eq!(status, 200);
    server.shutdown.cancel();
}

#[test]
fn the_default_metrics_listener_is_loopback() {
    let metrics = Config::default().metrics_listen.expect("on by default");
    assert!(metrics.ip().is_loopback(), "{metrics}");
    assert_eq!(metrics.port(), parasol_server::config::DEFAULT_METRICS_PORT);
}
