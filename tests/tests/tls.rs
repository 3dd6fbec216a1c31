//! TLS with the real server process: the certificate is reloaded on
//! SIGHUP (open connections continue, a broken file changes nothing), plain
//! HTTP is refused beyond loopback at start, and the `parasol` CLI talks to
//! the self-signed demo certificate with `--ca-file`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parasol_client::{Connection, Identity, Request, Response, TlsTrust};
use parasol_tests::drive::WAIT;
use parasol_tests::{cli_binary, server_binary, ServerProcess};
use rustls::pki_types::{CertificateDer, ServerName};
use sha2::{Digest, Sha256};

/// A test CA that signs leaf certificates for 127.0.0.1.
struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A fresh leaf certificate and key in `dir`/cert.pem and key.pem;
    /// returns the leaf's DER.
    fn issue_into(&self, dir: &Path) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }
}

/// Complete a TLS handshake with the server, trusting `ca`, and return the
/// leaf certificate it presented.
fn served_leaf(addr: SocketAddr, ca: &CertificateDer<'static>) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut session =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    while session.is_handshaking() {
        session.complete_io(&mut tcp).expect("TLS handshake");
    }
    session.peer_certificates().expect("a certificate")[0].to_vec()
}

fn hangup(server: &ServerProcess) {
    let pid = server.pid().expect("running");
    parasol_tests::send_signal(pid, rustix::process::Signal::HUP);
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_certificate_and_open_connections_continue() {
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let cert_a = ca.issue_into(files.path());
    let server = ServerProcess::start_with_config(&format!(
        "[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        files.path().join("cert.pem").display(),
        files.path().join("key.pem").display()
    ));
    let addr = server.addr();
    let ca_der = ca.issuer.der().clone();
    assert_eq!(served_leaf(addr, &ca_der), cert_a);

    // A WSS connection opened under certificate A.
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca.issuer.pem()).unwrap();
    let trust = TlsTrust::with_ca_file(&ca_file).unwrap();
    let url = format!("wss://127.0.0.1:{}/v1/ws", addr.port());
    let (open, _) = Connection::connect_as(&url, &Identity::generate(), None, &trust, WAIT)
        .await
        .expect("wss connection");
    let fetch = || Request::FetchBacklog { after: 0, limit: 10 };

    let cert_b = ca.issue_into(files.path());
    assert_ne!(cert_a, cert_b);
    let sent = Instant::now();
    hangup(&server);
    until("certificate B to be served", || served_leaf(addr, &ca_der) == cert_b);
    println!("certificate B served {:?} after SIGHUP", sent.elapsed());
    assert!(matches!(open.request(fetch()).await, Ok(Response::Backlog { .. })));
    let (fresh, _) = Connection::connect_as(&url, &Identity::generate(), None, &trust, WAIT)
        .await
        .expect("wss connection under certificate B");

    // A broken file: warned about, certificate B stays, nothing drops.
    std::fs::write(files.path().join("cert.pem"), "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    hangup(&server);
    until("the reload warning", || {
        server.logs().contains("TLS certificate reload failed")
    });
    assert_eq!(served_leaf(addr, &ca_der), cert_b);
    assert!(matches!(open.request(fetch()).await, Ok(Response::Backlog { .. })));
    assert!(matches!(fresh.request(fetch()).await, Ok(Response::Backlog { .. })));
    // A certificate whose key is not the key file's: the same.
    let other = tempfile::tempdir().unwrap();
    ca.issue_into(other.path());
    std::fs::copy(other.path().join("cert.pem"), files.path().join("cert.pem")).unwrap();
    hangup(&server);
    until("the second reload warning", || {
        server.logs().matches("TLS certificate reload failed").count() == 2
    });
    assert_eq!(served_leaf(addr, &ca_der), cert_b);
    assert!(matches!(open.request(fetch()).await, Ok(Response::Backlog { .. })));
    server.assert_logs_clean(&[]);
}

#[test]
fn plain_http_beyond_loopback_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(server_binary())
        .args(["--listen", "0.0.0.0:0", "--metrics-listen", "off", "--data-dir"])
        .arg(data.path())
        .env_remove("PARASOL_CONFIG")
        .env_remove("PARASOL_LISTEN")
        .output()
        .expect("running parasol-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing plain HTTP on the non-loopback address"),
        "{stderr}"
    );
    assert!(stderr.contains("behind_tls_proxy"), "{stderr}");

    // Declared behind a TLS-terminating proxy but without the proxy's
    // client-address header: refused too (every per-source limit would be
    // off, SECURITY.md "Safe defaults for operators").
    let out = Command::new(server_binary())
        .args([
            "--listen",
            "0.0.0.0:0",
            "--metrics-listen",
            "off",
            "--behind-tls-proxy",
            "--data-dir",
        ])
        .arg(data.path())
        .env_remove("PARASOL_CONFIG")
        .env_remove("PARASOL_LISTEN")
        .output()
        .expect("running parasol-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("behind_tls_proxy = true needs intake.trusted_proxy_header"),
        "{stderr}"
    );
    assert!(stderr.contains("per-source limits are off"), "{stderr}");

    // With the header the proxy sets, it starts.
    let config = data.path().join("proxy.toml");
    std::fs::write(&config, "[intake]\ntrusted_proxy_header = \"x-forwarded-for\"\n").unwrap();
    let mut child = Command::new(server_binary())
        .args([
            "--listen",
            "0.0.0.0:0",
            "--metrics-listen",
            "off",
            "--behind-tls-proxy",
            "--data-dir",
        ])
        .arg(data.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env_remove("PARASOL_CONFIG")
        .env_remove("PARASOL_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting parasol-server");
    let banner = BufReader::new(child.stdout.take().unwrap()).lines().next();
    let _ = child.kill();
    let _ = child.wait();
    let banner = banner.expect("a banner").expect("utf-8");
    assert!(banner.contains("listening on http://0.0.0.0:"), "{banner}");
}

#[test]
fn a_certificate_that_does_not_load_stops_the_start_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.path().join("key.pem"), "not a key").unwrap();
    let out = Command::new(server_binary())
        .args(["--listen", "127.0.0.1:0", "--metrics-listen", "off", "--tls-cert"])
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("PARASOL_CONFIG")
        .env_remove("PARASOL_LISTEN")
        .output()
        .expect("running parasol-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("holds no certificate"), "{stderr}");
}

#[test]
fn the_cli_talks_to_the_self_signed_demo_certificate_with_ca_file() {
    let server = ServerProcess::start_with_config("[tls]\nself_signed = true\n");
    let printed = server
        .startup_output()
        .iter()
        .find_map(|l| l.strip_prefix("self-signed TLS certificate SHA-256 "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the fingerprint is printed at start")
        .to_string();
    let ca_file = server.data_dir().join("tls-self-signed.pem");
    let pem = std::fs::read(&ca_file).expect("the demo certificate is written for clients");
    let cert = rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
    let served = served_leaf(server.addr(), &cert);
    let fingerprint: Vec<String> = Sha256::digest(&served).iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(printed, fingerprint.join(":"));

    let url = format!("wss://127.0.0.1:{}/v1/ws", server.addr().port());
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("alice.state");
    let parasol = |args: &[&str], ca: bool| {
        let mut cmd = Command::new(cli_binary());
        cmd.args(["--server", &url, "--state"])
            .arg(&state)
            .env_remove("PARASOL_CA_FILE");
        if ca {
            cmd.arg("--ca-file").arg(&ca_file);
        }
        cmd.args(args).output().expect("running parasol")
    };
    assert!(parasol(&["init"], true).status.success());
    let untrusted = parasol(&["publish", "--count", "2"], false);
    assert!(
        !untrusted.status.success(),
        "connected without trusting the certificate"
    );
    let started = Instant::now();
    let published = parasol(&["publish", "--count", "2"], true);
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    let group = parasol(&["create-group"], true);
    assert!(group.status.success(), "{}", String::from_utf8_lossy(&group.stderr));
    let group = String::from_utf8_lossy(&group.stdout).trim().to_string();
    assert!(!group.is_empty() && hex::decode(&group).is_ok(), "a group id: {group}");
    println!("two CLI commands over wss took {:?}", started.elapsed());
}
