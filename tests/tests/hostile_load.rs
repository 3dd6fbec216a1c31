//! Hostile load against the release binary (issue 17): anonymous clients
//! that publish key packages in a loop, then visitors that send
//! `request_chat` in a loop. Before storage owned its concurrency, 20 such
//! publishers froze the server within 5 s (a sled deadlock on both tokio
//! workers) and a request_chat flood stalled the intake for 100 s.
//!
//! Each round checks, while the attack runs: `/healthz` answers with p99 ≤
//! 100 ms, and a fresh visitor gets a ticket or a typed refusal within 1 s;
//! afterwards, SIGTERM ends the server within 5 s. Each attack runs
//! `PARASOL_HOSTILE_ROUNDS` times (10) for `PARASOL_HOSTILE_SECS` (60 s).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parasol_client::mls::MlsEngine;
use parasol_client::{ClientError, Connection, Identity, Request, Response};
use parasol_protocol::Bytes;
use parasol_tests::{release_server_binary, ServerProcess};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// 20 anonymous connections publishing key packages.
    KeyPackages,
    /// 32 visitors sending `request_chat`.
    ChatRequests,
}

impl Attack {
    fn clients(self) -> usize {
        match self {
            Attack::KeyPackages => 20,
            Attack::ChatRequests => 32,
        }
    }
}

fn key_packages(engine: &mut MlsEngine, n: usize) -> Vec<Bytes> {
    engine
        .generate_key_packages(n, false)
        .expect("key packages")
        .into_iter()
        .map(Bytes)
        .collect()
}

fn request_chat(key_packages: Vec<Bytes>) -> Request {
    Request::RequestChat {
        language: "en".into(),
        topic: "just_talk".into(),
        urgent: false,
        key_packages,
        pow: None,
    }
}

/// One attacking client: its requests, one after another, until `stop`.
/// Returns how many were answered (a response or a typed error).
async fn attacker(url: String, attack: Attack, stop: Arc<AtomicBool>) -> u64 {
    let identity = Identity::generate();
    let mut engine = MlsEngine::new(identity.clone());
    // Made before the attack, so the load is the server's, not ours.
    let batches: Vec<Vec<Bytes>> = (0..4)
        .map(|_| key_packages(&mut engine, if matches!(attack, Attack::KeyPackages) { 10 } else { 2 }))
        .collect();
    let Ok((mut conn, _)) = Connection::connect(&url, &identity, Duration::from_secs(10)).await else {
        return 0; // refused at the door: that is a defence too
    };
    conn.set_request_timeout(Duration::from_secs(30));
    let mut answered = 0;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let batch = batches[n % batches.len()].clone();
        let req = match attack {
            // Every other publish replaces the stock: the scan-then-write
            // path that deadlocked beside a transaction.
            Attack::KeyPackages => Request::PublishKeyPackages {
                key_packages: batch,
                replace: n.is_multiple_of(2),
            },
            Attack::ChatRequests => request_chat(batch),
        };
        n += 1;
        match conn.request(req).await {
            Ok(_) | Err(ClientError::Server { .. }) => answered += 1,
            Err(_) => break, // closed by the server (rate limits may do that)
        }
    }
    answered
}

/// A fresh visitor: connected, authenticated and answered within 1 s, with
/// a ticket or a typed refusal. Returns how long it took.
async fn fresh_visitor(url: &str, kps: Vec<Bytes>, identity: &Identity) -> Result<Duration, String> {
    let started = Instant::now();
    let attempt = async {
        let (conn, _) = Connection::connect(url, identity, Duration::from_secs(1))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        match conn.request(request_chat(kps)).await {
            Ok(Response::Ticket { .. }) => Ok(()),
            Ok(other) => Err(format!("unexpected answer {other:?}")),
            Err(ClientError::Server { .. }) => Ok(()), // a typed refusal
            Err(e) => Err(format!("request_chat: {e}")),
        }
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no answer within 1 s".into()),
    }
}

/// `/healthz` on a fresh connection; its latency, or `None` past 2 s.
async fn healthz(addr: std::net::SocketAddr) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        response.starts_with(b"HTTP/1.1 200").then_some(())
    };
    match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Some(())) => Some(started.elapsed()),
        _ => None,
    }
}

fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

async fn one_round(attack: Attack, round: u64, secs: u64) {
    let mut server = ServerProcess::start_binary(release_server_binary(), "");
    let url = server.url();
    let stop = Arc::new(AtomicBool::new(false));
    let attackers: Vec<_> = (0..attack.clients())
        .map(|_| tokio::spawn(attacker(url.clone(), attack, stop.clone())))
        .collect();

    // Fresh visitors' keys, made before the clock starts.
    let visitors: Vec<(Identity, Vec<Bytes>)> = (0..(secs / 5).max(1))
        .map(|_| {
            let identity = Identity::generate();
            let kps = key_packages(&mut MlsEngine::new(identity.clone()), 2);
            (identity, kps)
        })
        .collect();
    let health_failures = Arc::new(AtomicU64::new(0));
    let addr = server.addr();
    let failures = health_failures.clone();
    let stop_probe = stop.clone();
    let probe = tokio::spawn(async move {
        let mut latencies = Vec::new();
        while !stop_probe.load(Ordering::Relaxed) {
            match healthz(addr).await {
                Some(latency) => latencies.push(latency),
                None => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        latencies
    });

    let started = Instant::now();
    let mut visitor_times = Vec::new();
    for (i, (identity, kps)) in visitors.into_iter().enumerate() {
        let due = started + Duration::from_secs(5 * i as u64 + 2);
        tokio::time::sleep_until(due.into()).await;
        match fresh_visitor(&url, kps, &identity).await {
            Ok(took) => visitor_times.push(took),
            Err(e) => panic!("{attack:?} round {round}: a fresh visitor was not answered: {e}"),
        }
    }
    tokio::time::sleep_until((started + Duration::from_secs(secs)).into()).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = probe.await.unwrap();
    let mut answered = 0;
    for a in attackers {
        answered += tokio::time::timeout(Duration::from_secs(35), a)
            .await
            .expect("an attacker finishes once told to stop")
            .unwrap();
    }
    let health_p99 = p99(&mut latencies);
    let (status, took) = server
        .terminate_within(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("{attack:?} round {round}: SIGTERM did not stop the server within 5 s"));
    println!(
        "{attack:?} round {round}: {answered} attack requests answered; /healthz p99 {health_p99:?} \
         over {} probes, {} failed; {} fresh visitors answered, slowest {:?}; SIGTERM exit {status} in {took:?}",
        latencies.len(),
        health_failures.load(Ordering::Relaxed),
        visitor_times.len(),
        visitor_times.iter().max().copied().unwrap_or_default(),
    );
    assert_eq!(
        health_failures.load(Ordering::Relaxed),
        0,
        "/healthz failed under {attack:?}"
    );
    assert!(
        health_p99 <= Duration::from_millis(100),
        "/healthz p99 {health_p99:?} under {attack:?}"
    );
    assert!(answered > 0, "the attack never got through to the server");
}

/// Both attacks in turn, each round against a fresh server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_anonymous_load_never_freezes_the_server() {
    let rounds = setting("PARASOL_HOSTILE_ROUNDS", 10);
    let secs = setting("PARASOL_HOSTILE_SECS", 60);
    for round in 1..=rounds {
        for attack in [Attack::KeyPackages, Attack::ChatRequests] {
            one_round(attack, round, secs).await;
        }
    }
}
