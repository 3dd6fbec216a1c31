//! What the in-process HTTP tests share: a server on port 0 in a temporary
//! directory, a raw HTTP/1.1 client, and the staff login.
#![allow(dead_code)] // each test file uses its own part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parasol_protocol::StaffRole;
use parasol_server::audit::Actor;
use parasol_server::config::Config;
use parasol_server::staff::NewAccount;
use parasol_server::Services;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub addr: SocketAddr,
    pub services: Arc<Services>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    pub dir: tempfile::TempDir,
}

pub fn config() -> Config {
    let mut config = Config::default();
    // The smallest argon2 cost, so tests run fast.
    config.staff.argon2_memory_kib = 8;
    config.staff.argon2_iterations = 1;
    config
}

pub async fn start(mut config: Config) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    // The key file (`data.keys`) lands beside it, inside the temporary dir.
    config.data_dir = dir.path().join("data");
    config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    start_in(config, dir).await
}

/// Start on `config.data_dir`, kept alive by `dir` (a first start, or a
/// restart on the data a previous server left there).
pub async fn start_in(mut config: Config, dir: tempfile::TempDir) -> TestServer {
    // Threads of a stopped server (the blocking pool, the storage owners)
    // can hold sled's lock a moment after `run_with` returned; a restart
    // waits for it instead of failing.
    wait_until_unlocked(&config.data_dir.join("sled").join("db")).await;
    config.listen = "127.0.0.1:0".parse().unwrap();
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        parasol_server::run_with(config, token, move |addr, services| {
            let _ = tx.send((addr, services.clone()));
        })
        .await
        .unwrap();
    });
    let (addr, services) = rx.await.unwrap();
    TestServer {
        addr,
        services,
        shutdown,
        task,
        dir,
    }
}

/// Wait (up to 20 s) until no process or thread holds the file lock sled
/// takes on `db`.
async fn wait_until_unlocked(db: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let Ok(file) = std::fs::File::open(db) else { return };
        if file.try_lock().is_ok() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sled's lock on {} was never released",
            db.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestServer {
    /// Stop gracefully; the data directory lives on with the returned handle.
    pub async fn stop(self) -> tempfile::TempDir {
        let TestServer {
            shutdown,
            task,
            services,
            dir,
            ..
        } = self;
        drop(services);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .unwrap()
            .unwrap();
        dir
    }

    pub async fn create(&self, username: &str, password: &str) -> u64 {
        self.services
            .staff
            .create(
                NewAccount {
                    username: username.into(),
                    display_name: "Ana".into(),
                    role: StaffRole::Counsellor,
                    languages: vec!["mk".into(), "sq".into()],
                    max_concurrent_chats: 4,
                    password: password.into(),
                },
                Actor::System,
            )
            .await
            .unwrap()
            .account_id
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection, read to the end.
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

pub async fn login(addr: SocketAddr, body: Value) -> HttpResponse {
    http(
        addr,
        "POST",
        "/v1/staff/login",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

pub const PW: &str = "correct horse battery";
