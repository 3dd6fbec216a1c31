//! HTTPS/WSS over a real socket: the protocol over TLS with a client that
//! trusts a test CA, HSTS, TLS 1.2 and 1.3, no plain HTTP on the TLS port,
//! and the handshake timeout against connections that stall (slowloris) on
//! both the TLS and the plain listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parasol_client::{Connection, Identity, TlsTrust};
use parasol_protocol::{Request, Response};
use parasol_server::config::Config;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Every stall test uses this handshake timeout (seconds).
const HANDSHAKE_TIMEOUT_SECS: u64 = 1;

/// A test CA and a leaf certificate it signed for 127.0.0.1 and localhost,
/// as PEM files.
struct TestPki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
}

impl TestPki {
    fn new() -> TestPki {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        TestPki {
            ca: ca.der().clone(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A rustls client trusting only the test CA, speaking only `versions`.
    fn client(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(Arc::new(self.client_config(versions)))
    }

    fn client_config(&self, versions: &[&'static rustls::SupportedProtocolVersion]) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }
}

async fn start(config: Config, data: &Path) -> (SocketAddr, CancellationToken) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: None,
        data_dir: data.to_path_buf(),
        ..config
    };
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    tokio::spawn(async move {
        parasol_server::run(config, token, move |addr| {
            let _ = tx.send(addr);
        })
        .await
        .unwrap();
    });
    (rx.await.unwrap(), shutdown)
}

fn tls_config(pki: &TestPki) -> Config {
    let mut config = Config::default();
    config.tls.cert_file = Some(pki.path("cert.pem"));
    config.tls.key_file = Some(pki.path("key.pem"));
    config.connections.handshake_timeout_secs = HANDSHAKE_TIMEOUT_SECS;
    config
}

/// GET `path` over an established stream; the response head, lower-cased.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: &mut S, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // A TLS peer may close without close_notify after `Connection: close`.
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).to_string();
    let (head, _) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    head.to_ascii_lowercase()
}

#[tokio::test]
async fn the_protocol_runs_over_wss_and_every_https_response_carries_hsts() {
    let pki = TestPki::new();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(tls_config(&pki), data.path()).await;

    // Challenge, proof of key possession, and a request, over TLS.
    let trust = TlsTrust::with_ca_file(&pki.path("ca.pem")).unwrap();
    let url = format!("wss://127.0.0.1:{}/v1/ws", addr.port());
    let identity = Identity::generate();
    let (mut conn, auth) = Connection::connect_as(&url, &identity, None, &trust, Duration::from_secs(20))
        .await
        .expect("wss connect and authenticate");
    assert_eq!(auth.mailbox_head, 0);
    let answer = conn
        .request(Request::FetchBacklog { after: 0, limit: 10 })
        .await
        .unwrap();
    assert!(matches!(answer, Response::Backlog { .. }), "{answer:?}");

    // The Web PKI alone does not trust the test CA.
    let untrusted = Connection::open(&url, Duration::from_secs(20)).await;
    assert!(untrusted.is_err(), "connected without trusting the certificate");

    for path in ["/healthz", "/"] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = pki
            .client(rustls::DEFAULT_VERSIONS)
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let head = get(&mut tls, path).await;
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(
            head.contains("\r\nstrict-transport-security: max-age=63072000; includesubdomains"),
            "{path}: {head}"
        );
        assert!(head.contains("\r\ncache-control: no-store"), "{path}: {head}");
    }

    // Shutdown closes the WSS connection with 1001, as over plain HTTP.
    shutdown.cancel();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        match conn.next_incoming(Duration::from_secs(20)).await {
            Some(parasol_client::Incoming::Closed { code, .. }) => break code,
            Some(_) if Instant::now() < deadline => continue,
            other => panic!("no close after shutdown: {other:?}"),
        }
    };
    assert_eq!(code, Some(parasol_protocol::close::GOING_AWAY));
}

#[tokio::test]
async fn tls_1_2_and_1_3_clients_connect_and_plain_http_does_not() {
    let pki = TestPki::new();
    let data = tempfile::tempdir().unwrap();
    let (addr, shutdown) = start(tls_config(&pki), data.path()).await;

    for (version, name) in [
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
    ] {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = pki
            .client(&[version])
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap_or_else(|e| panic!("{name:?} handshake failed: {e}"));
        let (_, session) = tls.get_ref();
        assert_eq!(session.protocol_version(), Some(name));
        assert_eq!(session.alpn_protocol(), None, "no ALPN asked, none chosen");
        assert!(get(&mut tls, "/healthz").await.starts_with("http/1.1 200"), "{name:?}");
    }

    // The WebSocket upgrade needs HTTP/1.1: that is the only ALPN offered.
    let mut config = pki.client_config(rustls::DEFAULT_VERSIONS);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = get(&mut tcp, "/healthz").await;
    assert!(
        !head.starts_with("http/"),
        "plain HTTP answered on the TLS port: {head}"
    );
    shutdown.cancel();
}

/// How long until the server drops a connection that sent `bytes` and then
/// stalls. Panics if it is still open after 20 s.
async fn time_until_dropped<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    bytes: &[u8],
) -> Duration {
    let start = Instant::now();
    stream.write_all(bytes).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => panic!("a stalled connection ({} bytes sent) stayed open", bytes.len()),
            Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
            // A TLS alert or an error response, then the close.
            Ok(Ok(_)) => continue,
        }
    }
}

/// Dropped by the timeout: not at once (that would be another refusal),
/// and well before the 10 s default.
fn assert_dropped_by_timeout(what: &str, after: Duration) {
    println!("{what}: dropped after {after:?}");
    let timeout = Duration::from_secs(HANDSHAKE_TIMEOUT_SECS);
    assert!(
        after >= timeout.mul_f32(0.9),
        "{what}: dropped after {after:?}, before the timeout"
    );
    assert!(after < Duration::from_secs(8), "{what}: dropped only after {after:?}");
}

/// The first half of a TLS 1.2/1.3 ClientHello record: a record header
/// announcing 512 bytes, and a few of them.
const HALF_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00];
const HALF_HTTP_HEADER: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

#[tokio::test]
async fn stalled_handshakes_and_headers_are_dropped_after_the_timeout() {
    let pki = TestPki::new();
    let data = tempfile::tempdir().unwrap();
    let (tls_addr, tls_shutdown) = start(tls_config(&pki), data.path()).await;
    let plain_data = tempfile::tempdir().unwrap();
    let mut plain = Config::default();
    plain.connections.handshake_timeout_secs = HANDSHAKE_TIMEOUT_SECS;
    let (plain_addr, plain_shutdown) = start(plain, plain_data.path()).await;

    let connect = |addr| async move { TcpStream::connect(addr).await.unwrap() };
    let (nothing, half_hello, half_header, plain_nothing, plain_half_header) = tokio::join!(
        async { time_until_dropped(connect(tls_addr).await, b"").await },
        async { time_until_dropped(connect(tls_addr).await, HALF_CLIENT_HELLO).await },
        async {
            let tls = pki
                .client(rustls::DEFAULT_VERSIONS)
                .connect(ServerName::try_from("127.0.0.1").unwrap(), connect(tls_addr).await)
                .await
                .unwrap();
            time_until_dropped(tls, HALF_HTTP_HEADER).await
        },
        async { time_until_dropped(connect(plain_addr).await, b"").await },
        async { time_until_dropped(connect(plain_addr).await, HALF_HTTP_HEADER).await },
    );
    assert_dropped_by_timeout("TLS, nothing sent", nothing);
    assert_dropped_by_timeout("TLS, half a ClientHello", half_hello);
    assert_dropped_by_timeout("TLS, half an HTTP header", half_header);
    assert_dropped_by_timeout("plain, nothing sent", plain_nothing);
    assert_dropped_by_timeout("plain, half an HTTP header", plain_half_header);

    // A second request on a kept-alive connection is bounded the same way.
    let mut keep_alive = connect(plain_addr).await;
    keep_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    keep_alive.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert_dropped_by_timeout(
        "plain, half a second request",
        time_until_dropped(keep_alive, HALF_HTTP_HEADER).await,
    );

    // A connection that completes in time is served.
    let mut prompt = connect(plain_addr).await;
    assert!(get(&mut prompt, "/healthz").await.starts_with("http/1.1 200"));
    tls_shutdown.cancel();
    plain_shutdown.cancel();
}
