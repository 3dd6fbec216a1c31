//! The server over a real socket, driven by a raw protocol client: how it
//! answers bad input, limits and lifecycle events. MLS flows are tested end
//! to end with real openmls clients in `tests/`.

use std::net::SocketAddr;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use parasol_protocol::*;
use parasol_server::config::Config;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

struct TestServer {
    addr: SocketAddr,
    /// Where `/metrics` is served (a listener of its own).
    metrics: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(mut config: Config) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    // The key file (`data.keys`) lands beside it, inside the temporary dir.
    config.data_dir = dir.path().join("data");
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        parasol_server::run_with(config, token, move |addr, services| {
            let _ = tx.send((addr, services.metrics_addr.expect("a metrics listener")));
        })
        .await
        .unwrap();
    });
    let (addr, metrics) = rx.await.unwrap();
    TestServer {
        addr,
        metrics,
        shutdown,
        task,
        _dir: dir,
    }
}

struct Raw {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    nonce: Vec<u8>,
    next_id: u64,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/ws"))
            .await
            .unwrap();
        let mut raw = Raw {
            ws,
            nonce: Vec::new(),
            next_id: 1,
        };
        match raw.recv().await {
            ServerMessage::Challenge { nonce, versions } => {
                assert_eq!(versions, vec![1]);
                assert_eq!(nonce.0.len(), 32);
                raw.nonce = nonce.0;
            }
            other => panic!("expected a challenge, got {other:?}"),
        }
        raw
    }

    async fn authed(addr: SocketAddr, key: &SigningKey) -> Raw {
        let mut raw = Raw::connect(addr).await;
        let id = raw.authenticate(key).await;
        match raw.recv().await {
            ServerMessage::Response {
                id: rid,
                result: Response::Authenticated { client_id, .. },
            } => {
                assert_eq!(rid, id);
                assert_eq!(client_id.0, key.verifying_key().to_bytes());
            }
            other => panic!("expected authenticated, got {other:?}"),
        }
        raw
    }

    async fn authenticate(&mut self, key: &SigningKey) -> u64 {
        let public = key.verifying_key().to_bytes();
        let signature = key.sign(&auth::auth_transcript(&self.nonce, &public));
        self.request(Request::Authenticate {
            proof: AuthProof::Ed25519Challenge {
                public_key: public.to_vec().into(),
                signature: signature.to_bytes().to_vec().into(),
            },
        })
        .await
    }

    async fn request(&mut self, req: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send_bytes(encode_client_frame(&ClientFrame {
            v: PROTOCOL_VERSION,
            id,
            req,
        }))
        .await;
        id
    }

    async fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }

    async fn next_message(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), self.ws.next())
            .await
            .expect("server answered in time")
            .expect("socket open")
            .expect("socket healthy")
    }

    async fn recv(&mut self) -> ServerMessage {
        loop {
            match self.next_message().await {
                Message::Binary(b) => return decode_server_frame(&b).unwrap().msg,
                Message::Pong(_) | Message::Ping(_) => continue,
                other => panic!("expected a binary frame, got {other:?}"),
            }
        }
    }

    /// Send a request and return its answer (ok result or error code).
    async fn call(&mut self, req: Request) -> Result<Response, (ErrorCode, Option<u64>)> {
        let id = self.request(req).await;
        self.answer(id).await
    }

    async fn answer(&mut self, id: u64) -> Result<Response, (ErrorCode, Option<u64>)> {
        loop {
            match self.recv().await {
                ServerMessage::Response { id: rid, result } if rid == id => return Ok(result),
                ServerMessage::Error {
                    id: rid,
                    code,
                    current_epoch,
                    ..
                } if rid == Some(id) => return Err((code, current_epoch)),
                _ => continue,
            }
        }
    }

    async fn expect_error(&mut self, id: Option<u64>, expected: ErrorCode) {
        match self.recv().await {
            ServerMessage::Error {
                id: rid, code, message, ..
            } => {
                assert_eq!(code, expected, "message: {message}");
                assert_eq!(rid, id);
                assert!(!message.is_empty());
            }
            other => panic!("expected error {expected}, got {other:?}"),
        }
    }

    async fn expect_close(&mut self, code: u16) {
        loop {
            match self.next_message().await {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::from(code), "reason: {}", frame.reason);
                    return;
                }
                Message::Close(None) => panic!("closed without a code, expected {code}"),
                _ => continue,
            }
        }
    }

    async fn still_usable(&mut self) {
        assert_eq!(self.call(Request::Ping).await, Ok(Response::Pong));
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn msgpack(value: serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(&value).unwrap()
}

#[tokio::test]
async fn authentication_proves_key_possession() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(1)).await;
    raw.still_usable().await;
    assert_eq!(
        raw.call(Request::ListGroups).await,
        Ok(Response::Groups { groups: vec![] })
    );
    let again = raw.authenticate(&key(1)).await;
    raw.expect_error(Some(again), ErrorCode::AlreadyAuthenticated).await;

    // A signature over another nonce does not verify.
    let mut other = Raw::connect(server.addr).await;
    other.nonce = vec![0; 32];
    let id = other.authenticate(&key(2)).await;
    other.expect_error(Some(id), ErrorCode::AuthenticationFailed).await;
    other.expect_close(close::POLICY_VIOLATION).await;
}

#[tokio::test]
async fn requests_before_authentication_are_refused_then_closed() {
    let server = start(Config::default()).await;
    let mut raw = Raw::connect(server.addr).await;
    for _ in 0..4 {
        let id = raw.request(Request::ListGroups).await;
        raw.expect_error(Some(id), ErrorCode::NotAuthenticated).await;
    }
    let id = raw.request(Request::Ping).await;
    raw.expect_error(Some(id), ErrorCode::NotAuthenticated).await;
    raw.expect_close(close::POLICY_VIOLATION).await;
}

#[tokio::test]
async fn authentication_times_out() {
    let mut config = Config::default();
    config.connections.auth_timeout_secs = 1;
    let server = start(config).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.expect_close(close::POLICY_VIOLATION).await;
}

#[tokio::test]
async fn pings_do_not_extend_the_authentication_deadline() {
    let mut config = Config::default();
    config.connections.auth_timeout_secs = 1;
    let server = start(config).await;
    let mut raw = Raw::connect(server.addr).await;
    let started = std::time::Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "a pinging client was never closed"
        );
        let _ = raw.ws.send(Message::Ping(vec![1].into())).await;
        match tokio::time::timeout(Duration::from_millis(200), raw.ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => {
                assert_eq!(frame.code, CloseCode::from(close::POLICY_VIOLATION), "{}", frame.reason);
                break;
            }
            Ok(Some(Ok(_))) | Err(_) => continue,
            Ok(other) => panic!("closed without a code: {other:?}"),
        }
    }
    assert!(started.elapsed() >= Duration::from_millis(900));
}

/// `GET /metrics` on the metrics listener: the value of the line starting
/// with `name `.
async fn metric(addr: SocketAddr, name: &str) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[tokio::test]
async fn malformed_frames_get_typed_errors_and_the_connection_stays_usable() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(3)).await;

    raw.send_bytes(b"\xc1garbage".to_vec()).await;
    raw.expect_error(None, ErrorCode::MalformedFrame).await;
    raw.still_usable().await;

    raw.send_bytes(msgpack(serde_json::json!({"v": 9, "id": 44, "req": {"op": "ping"}})))
        .await;
    raw.expect_error(Some(44), ErrorCode::UnsupportedVersion).await;

    raw.send_bytes(msgpack(
        serde_json::json!({"v": 1, "id": 45, "req": {"op": "teleport"}}),
    ))
    .await;
    raw.expect_error(Some(45), ErrorCode::UnknownOperation).await;

    raw.send_bytes(msgpack(
        serde_json::json!({"v": 1, "id": 46, "req": {"op": "ack", "up_to": "x"}}),
    ))
    .await;
    raw.expect_error(Some(46), ErrorCode::MalformedFrame).await;
    raw.still_usable().await;
}

/// Every client frame of protocol/tests/vectors/invalid/ (mistyped fields,
/// array-encoded frames and structs, integers of 2^53 and more, ...) gets
/// its typed error over a real socket, and the connection stays usable.
#[tokio::test]
async fn invalid_vectors_get_their_error_over_the_socket() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(3)).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/tests/vectors/invalid");
    let mut sent = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        for v in file["vectors"].as_array().unwrap() {
            if v["direction"] != "client_to_server" {
                continue;
            }
            let name = v["name"].as_str().unwrap().to_string();
            raw.send_bytes(hex::decode(v["hex"].as_str().unwrap()).unwrap()).await;
            match raw.recv().await {
                ServerMessage::Error { id, code, .. } => {
                    assert_eq!(code.as_str(), v["error"].as_str().unwrap(), "{name}");
                    assert_eq!(id, v["request_id"].as_u64(), "{name}");
                }
                other => panic!("{name}: expected an error, got {other:?}"),
            }
            raw.still_usable().await;
            sent.push(name);
        }
    }
    for name in [
        "bin_in_string",
        "string_in_bin",
        "array_encoded_frame",
        "id_2_64_minus_1",
    ] {
        assert!(sent.iter().any(|s| s == name), "vector {name} missing");
    }
}

#[tokio::test]
async fn oversize_frames_are_refused_then_closed_past_the_transport_cap() {
    let mut config = Config::default();
    config.limits.max_frame_bytes = 4096;
    config.limits.max_mls_message_bytes = 2048;
    let server = start(config).await;
    let mut raw = Raw::authed(server.addr, &key(4)).await;

    // Over the protocol limit: typed error, connection kept.
    let id = raw
        .request(Request::SendMessage {
            message: vec![0u8; 10_000].into(),
        })
        .await;
    raw.expect_error(Some(id), ErrorCode::FrameTooLarge).await;
    // Over the MLS message limit but within the frame: typed error.
    let r = raw
        .call(Request::SendMessage {
            message: vec![0u8; 3000].into(),
        })
        .await;
    assert_eq!(r, Err((ErrorCode::EnvelopeTooLarge, None)));
    raw.still_usable().await;

    // Past the transport's hard cap: closed with 1009.
    raw.send_bytes(vec![0u8; 4096 + limits::TRANSPORT_SLACK_BYTES + 1])
        .await;
    raw.expect_close(close::MESSAGE_TOO_BIG).await;
}

#[tokio::test]
async fn text_frames_close_with_unsupported_data() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(5)).await;
    raw.ws.send(Message::Text("hello".into())).await.unwrap();
    raw.expect_close(close::UNSUPPORTED_DATA).await;
}

#[tokio::test]
async fn garbage_mls_and_unknown_targets_get_typed_errors() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(6)).await;
    let garbage: Bytes = vec![0xde, 0xad, 0xbe, 0xef].into();

    let cases = vec![
        (
            Request::SendMessage {
                message: garbage.clone(),
            },
            ErrorCode::InvalidMlsMessage,
        ),
        (
            Request::SendCommit {
                commit: garbage.clone(),
                welcome: None,
                group_info: None,
                ratchet_tree: None,
            },
            ErrorCode::InvalidMlsMessage,
        ),
        (
            Request::CreateGroup {
                group_info: garbage.clone(),
                ratchet_tree: garbage.clone(),
            },
            ErrorCode::InvalidMlsMessage,
        ),
        (
            Request::PublishKeyPackages {
                key_packages: vec![garbage.clone()],
                replace: false,
            },
            ErrorCode::InvalidKeyPackage,
        ),
        (
            Request::ClaimKeyPackage {
                client_id: vec![9; 32].into(),
            },
            ErrorCode::NoKeyPackage,
        ),
        (
            Request::ClaimKeyPackage {
                client_id: vec![9; 3].into(),
            },
            ErrorCode::NoKeyPackage,
        ),
        (Request::Ack { up_to: 1 }, ErrorCode::UnknownEnvelope),
        (Request::Subscribe { after: 5 }, ErrorCode::UnknownEnvelope),
    ];
    for (req, expected) in cases {
        let op = req.op_name();
        match raw.call(req).await {
            Err((code, _)) => assert_eq!(code, expected, "{op}"),
            Ok(r) => panic!("{op} should fail with {expected}, got {r:?}"),
        }
    }
    raw.still_usable().await;
    assert_eq!(
        raw.call(Request::Subscribe { after: 0 }).await,
        Ok(Response::Subscribed { head: 0 })
    );
    assert_eq!(
        raw.call(Request::FetchBacklog { after: 0, limit: 10 }).await,
        Ok(Response::Backlog {
            envelopes: vec![],
            more: false
        })
    );
}

#[tokio::test]
async fn key_package_claims_are_rate_limited_per_connection() {
    let mut config = Config::default();
    config.limits.key_package_claims_per_minute = 5;
    let server = start(config).await;
    let mut raw = Raw::authed(server.addr, &key(7)).await;
    let mut limited = 0;
    for _ in 0..20 {
        match raw
            .call(Request::ClaimKeyPackage {
                client_id: vec![1; 32].into(),
            })
            .await
        {
            Err((ErrorCode::NoKeyPackage, _)) => {}
            Err((ErrorCode::LimitExceeded, _)) => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(limited, 15);
    raw.still_usable().await;
}

#[tokio::test]
async fn a_second_connection_replaces_the_first() {
    let server = start(Config::default()).await;
    let mut first = Raw::authed(server.addr, &key(8)).await;
    let mut second = Raw::authed(server.addr, &key(8)).await;
    first.expect_close(close::REPLACED).await;
    second.still_usable().await;
}

#[tokio::test]
async fn too_many_connections_get_503() {
    let mut config = Config::default();
    config.connections.max_connections = 2;
    let server = start(config).await;
    let _a = Raw::connect(server.addr).await;
    let _b = Raw::connect(server.addr).await;
    let refused = tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", server.addr)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
}

/// A WebSocket upgrade as if from `from` (through the trusted proxy
/// header): the HTTP status, 101 when it opened.
async fn upgrade_from(addr: SocketAddr, from: &str) -> (u16, Option<WebSocketStream<MaybeTlsStream<TcpStream>>>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/v1/ws").into_client_request().unwrap();
    request.headers_mut().insert("x-forwarded-for", from.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => (response.status().as_u16(), Some(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (response.status().as_u16(), None),
        Err(e) => panic!("{e}"),
    }
}

/// Issue 17: once the source limiters are full, new sources are not let
/// through unlimited: they share one overflow bucket of one source's
/// budget (counted), while sources already tracked keep their own.
#[tokio::test]
async fn sources_past_the_limiters_memory_share_one_strict_bucket() {
    let mut config = Config::default();
    config.intake.trusted_proxy_header = Some("x-forwarded-for".into());
    config.intake.max_tracked_sources = 2;
    config.intake.connections_per_source_per_minute = 1;
    config.intake.connection_burst = 2;
    let server = start(config).await;
    let mut open = Vec::new();
    for from in ["203.0.113.1", "203.0.113.2"] {
        let (status, ws) = upgrade_from(server.addr, from).await;
        assert_eq!(status, 101, "{from}");
        open.push(ws);
    }
    assert_eq!(metric(server.metrics, "parasol_source_overflow_total").await, 0);
    // The limiter is full: three new sources share a burst of 2.
    let mut statuses = Vec::new();
    for from in ["203.0.113.3", "2001:db8:3::1", "198.51.100.3"] {
        let (status, ws) = upgrade_from(server.addr, from).await;
        statuses.push(status);
        open.push(ws);
    }
    assert_eq!(statuses, [101, 101, 429]);
    assert_eq!(metric(server.metrics, "parasol_source_overflow_total").await, 3);
    // A tracked source still has its own budget (one more of its burst).
    assert_eq!(upgrade_from(server.addr, "203.0.113.1").await.0, 101);
}

/// Issue 17: connections open at once per network are capped, with a
/// typed HTTP 429 before the upgrade, and counted.
#[tokio::test]
async fn a_network_over_its_open_connection_cap_gets_429() {
    let mut config = Config::default();
    config.intake.trusted_proxy_header = Some("x-forwarded-for".into());
    config.intake.max_connections_per_source = 2;
    let server = start(config).await;
    let (a, first) = upgrade_from(server.addr, "2001:db8:9:1::1").await;
    let (b, _second) = upgrade_from(server.addr, "2001:db8:9:2::1").await;
    assert_eq!((a, b), (101, 101));
    assert_eq!(
        upgrade_from(server.addr, "2001:db8:9:3::1").await.0,
        429,
        "a third from the /48"
    );
    assert_eq!(
        metric(server.metrics, "parasol_connections_over_source_cap_total").await,
        1
    );
    assert_eq!(upgrade_from(server.addr, "2001:db8:a::1").await.0, 101, "another /48");
    // Closing one gives its place back.
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while upgrade_from(server.addr, "2001:db8:9:4::1").await.0 != 101 {
        assert!(std::time::Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn shutdown_closes_sockets_with_going_away() {
    let server = start(Config::default()).await;
    let mut raw = Raw::authed(server.addr, &key(9)).await;
    server.shutdown.cancel();
    raw.expect_close(close::GOING_AWAY).await;
    tokio::time::timeout(Duration::from_secs(15), server.task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let mut config = Config::default();
    config.connections.idle_timeout_secs = 1;
    let server = start(config).await;
    let mut raw = Raw::authed(server.addr, &key(10)).await;
    raw.still_usable().await;
    raw.expect_close(close::IDLE_TIMEOUT).await;
}

#[tokio::test]
async fn websocket_pings_keep_an_idle_connection_open() {
    let mut config = Config::default();
    config.connections.idle_timeout_secs = 1;
    let server = start(config).await;
    let mut raw = Raw::authed(server.addr, &key(11)).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        raw.ws.send(Message::Ping(vec![1].into())).await.unwrap();
    }
    raw.still_usable().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_as_a_slow_consumer() {
    let mut config = Config::default();
    config.limits.max_frame_bytes = 4096;
    config.limits.max_mls_message_bytes = 2048;
    config.connections.max_send_queue_bytes = 8192;
    let server = start(config).await;
    let raw = Raw::authed(server.addr, &key(12)).await;
    let (mut sink, mut stream) = raw.ws.split();
    // Pipeline far more requests than the socket buffers and the bounded
    // queue hold, without reading a single answer.
    let ping = encode_client_frame(&ClientFrame {
        v: PROTOCOL_VERSION,
        id: 1,
        req: Request::Ping,
    });
    let flood = tokio::spawn(async move {
        for _ in 0..400_000 {
            if sink.feed(Message::Binary(ping.clone().into())).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Now read: past the queued pongs comes the close.
    let code = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Close(Some(frame))) => return Some(u16::from(frame.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the server closed the connection");
    assert_eq!(code, Some(close::SLOW_CONSUMER));
    flood.abort();
    assert_eq!(metric(server.metrics, "parasol_slow_consumers_closed_total").await, 1);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_after_the_write_stall_deadline() {
    let mut config = Config::default();
    config.connections.max_connections = 1;
    config.connections.write_stall_secs = 1;
    // Neither the byte budget nor the frame cap (which grows with the push
    // window) can fill first: only the stall deadline can end it.
    config.connections.max_send_queue_bytes = 256 * 1024 * 1024;
    config.limits.push_window = 2_000_000;
    let server = start(config).await;
    let raw = Raw::authed(server.addr, &key(13)).await;
    let (mut sink, _stream) = raw.ws.split();
    let ping = encode_client_frame(&ClientFrame {
        v: PROTOCOL_VERSION,
        id: 1,
        req: Request::Ping,
    });
    let flood = tokio::spawn(async move {
        for _ in 0..400_000 {
            if sink.feed(Message::Binary(ping.clone().into())).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    });
    // The only connection slot is taken...
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", server.addr))
        .await
        .is_err());
    // ...until the stalled connection is dropped. Generous: the server
    // first answers the pings it can (about 20 s here on a quiet machine),
    // and a loaded CI machine is slower; this checks liveness, not speed.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if tokio_tungstenite::connect_async(format!("ws://{}/v1/ws", server.addr))
            .await
            .is_ok()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled connection was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    flood.abort();
}

/// The order in which a pipelining client gets its answers: three messages
/// that each wait for a slow storage round, then a ping.
async fn answer_order_with_inflight_bound(max_inflight: usize) -> Vec<&'static str> {
    let mut config = Config {
        // Every round waits this long, so the sends stay in flight.
        group_commit_delay_ms: 1000,
        ..Config::default()
    };
    config.connections.max_inflight_requests = max_inflight;
    let server = start(config).await;
    let identity = parasol_client::Identity::from_bytes(&[14; 32]).unwrap();
    let mut engine = parasol_client::mls::MlsEngine::new(identity);
    let group = engine.create_group().unwrap();
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| engine.encrypt(&group.group_id, &format!("message {i}")).unwrap())
        .collect();

    let mut raw = Raw::authed(server.addr, &key(14)).await;
    let created = raw
        .call(Request::CreateGroup {
            group_info: group.group_info.into(),
            ratchet_tree: group.ratchet_tree.into(),
        })
        .await;
    assert!(matches!(created, Ok(Response::GroupCreated { .. })), "{created:?}");

    let mut ids = Vec::new();
    for message in messages {
        ids.push(
            raw.request(Request::SendMessage {
                message: message.into(),
            })
            .await,
        );
    }
    ids.push(raw.request(Request::Ping).await);
    let mut order = Vec::new();
    while order.len() < ids.len() {
        match raw.recv().await {
            ServerMessage::Response { id, result } if ids.contains(&id) => order.push(match result {
                Response::Pong => "pong",
                Response::MessageAccepted { .. } => "accepted",
                other => panic!("unexpected answer {other:?}"),
            }),
            ServerMessage::Error { id, code, .. } => panic!("request {id:?} refused: {code}"),
            _ => continue, // the pushed envelopes of my own messages
        }
    }
    order
}

/// With two requests in flight, the server stops reading the socket: the
/// third send, and the ping behind it, are read only once a send is
/// durable, so the ping is answered after it. With room for all four, the
/// ping is answered at once, before any send.
#[tokio::test]
async fn a_connection_with_its_requests_in_flight_is_not_read_until_one_finishes() {
    let bounded = answer_order_with_inflight_bound(2).await;
    assert_eq!(bounded[0], "accepted", "the ping was read past the bound: {bounded:?}");
    let roomy = answer_order_with_inflight_bound(8).await;
    assert_eq!(roomy, ["pong", "accepted", "accepted", "accepted"]);
}
