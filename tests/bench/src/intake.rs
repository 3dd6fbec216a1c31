//! Scenario (d): an intake flood during the 1:1 chat load of (b). One
//! network source (as the reverse proxy reports it in `x-forwarded-for`)
//! opens many connections and sends `request_chat` as fast as it can, with
//! the default abuse limits on. Meanwhile real visitors, each from its own
//! source, ask for a chat with a real key package (solving the proof of
//! work when asked) and are timed from connect to ticket. The same visitors
//! are timed without the flood first, for the ratio.
//!
//! Two more floods of issue 17 run the same way, beside the same chats
//! and visitors: the key-package flood ([`key_package_flood`]: anonymous
//! connections publishing real key packages in a loop, which once froze
//! the server) and the many-key budget flood ([`many_key_flood`]: fresh
//! anonymous keys taking groups, key packages and bytes until the
//! anonymous pools and quotas refuse them).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use parasol_client::mls::MlsEngine;
use parasol_client::Identity;
use parasol_protocol::{ErrorCode, PowSolution, Request, Response, ServerMessage};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::load::{histogram, Latency};
use crate::servers::{Server, Target};
use crate::wire;

/// The flooding source (a documentation address).
const FLOOD_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
/// Gap between two frames of one flood connection.
const FLOOD_GAP: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, Serialize, Default)]
pub struct Flood {
    /// `request_chat`, `key_packages` or `many_keys`.
    pub kind: String,
    pub connections_tried: usize,
    /// Connections the server turned away (HTTP 429).
    pub connections_refused: usize,
    pub frames_sent: u64,
    /// Answers that were refusals (rate_limited, pow_required, …).
    pub refusals: u64,
    /// Tickets the flood got.
    pub tickets: u64,
    /// Requests the server carried out (key packages stored, groups made).
    pub accepted: u64,
    /// Refusals by error code.
    pub refused_by_code: BTreeMap<String, u64>,
    /// Fresh anonymous keys the flood used (the many-key flood).
    pub keys_used: u64,
    #[serde(skip)]
    last_refusal: Option<ErrorCode>,
}

impl Flood {
    fn refused(&mut self, code: ErrorCode) {
        self.refused_n(code, 1);
    }

    fn refused_n(&mut self, code: ErrorCode, n: u64) {
        self.refusals += n;
        self.last_refusal = Some(code);
        let name = serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{code:?}"));
        *self.refused_by_code.entry(name).or_default() += n;
    }

    fn add(&mut self, other: &Flood) {
        self.connections_refused += other.connections_refused;
        self.frames_sent += other.frames_sent;
        self.refusals += other.refusals;
        self.tickets += other.tickets;
        self.accepted += other.accepted;
        self.keys_used += other.keys_used;
        for (code, n) in &other.refused_by_code {
            *self.refused_by_code.entry(code.clone()).or_default() += n;
        }
    }

    /// `code n, code n` for the report.
    pub fn codes(&self) -> String {
        let parts: Vec<String> = self.refused_by_code.iter().map(|(c, n)| format!("{c} {n}")).collect();
        parts.join(", ")
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Visitors {
    pub tried: usize,
    pub served: usize,
    pub refused: usize,
    pub solved_pow: usize,
    /// Connect to ticket.
    pub latency: Latency,
}

/// Real visitors arriving evenly over `duration`.
pub async fn visitors(
    server: &Server,
    count: usize,
    duration: Duration,
    first_address: u32,
) -> anyhow::Result<Visitors> {
    // Key packages are made in the visitor's browser before it connects.
    let prepared: Vec<(Identity, Vec<u8>)> = tokio::task::spawn_blocking(move || {
        (0..count)
            .map(|_| {
                let identity = Identity::generate();
                let mut engine = MlsEngine::new(identity.clone());
                let kp = engine.generate_key_packages(1, false)?.remove(0);
                anyhow::Ok((identity, kp))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let gap = duration / count.max(1) as u32;
    let url = server.url(0, false);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (identity, kp)) in prepared.into_iter().enumerate() {
        let url = url.clone();
        let at = Instant::now() + gap * i as u32;
        let source = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + first_address + i as u32));
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let started = Instant::now();
            let solved = visit(&url, &identity, kp, source).await?;
            anyhow::Ok((started.elapsed(), solved))
        });
    }
    let mut result = Visitors {
        tried: count,
        ..Visitors::default()
    };
    let mut h = histogram();
    while let Some(r) = tasks.join_next().await {
        match r? {
            Ok((took, solved)) => {
                result.served += 1;
                result.solved_pow += usize::from(solved);
                let _ = h.record((took.as_micros() as u64).max(1));
            }
            Err(e) => {
                result.refused += 1;
                eprintln!("  a visitor was not served: {e:#}");
            }
        }
    }
    result.latency = Latency::of(&h);
    Ok(result)
}

/// One visitor: intake info, proof of work if asked, request a chat.
/// Returns whether it had to solve a puzzle.
async fn visit(url: &str, identity: &Identity, key_package: Vec<u8>, source: IpAddr) -> anyhow::Result<bool> {
    let mut ws = wire::connect(url, None, Some(source)).await?;
    wire::authenticate(&mut ws, identity).await?;
    let mut puzzle = match wire::request(&mut ws, 2, Request::IntakeInfo).await? {
        Response::IntakeInfo { pow, .. } => pow,
        other => bail!("expected intake_info, got {other:?}"),
    };
    let mut solved = false;
    for id in 3..6 {
        let pow = match puzzle.take() {
            Some(p) => {
                solved = true;
                let client = identity.client_id();
                let challenge = p.challenge.clone();
                let nonce = tokio::task::spawn_blocking(move || parasol_protocol::solve_pow(&p, &client)).await?;
                Some(PowSolution { challenge, nonce })
            }
            None => None,
        };
        let req = Request::RequestChat {
            language: "mk".into(),
            topic: "health".into(),
            urgent: false,
            key_packages: vec![key_package.clone().into()],
            pow,
        };
        wire::send(&mut ws, id, req).await?;
        loop {
            match wire::next_message(&mut ws).await? {
                ServerMessage::Response {
                    id: got,
                    result: Response::Ticket { .. },
                } if got == id => {
                    let _ = ws.close(None).await;
                    return Ok(solved);
                }
                ServerMessage::Error {
                    id: Some(got),
                    code: ErrorCode::PowRequired,
                    pow: Some(p),
                    ..
                } if got == id => {
                    puzzle = Some(p);
                    break;
                }
                ServerMessage::Error {
                    id: Some(got),
                    code,
                    message,
                    ..
                } if got == id => bail!("refused: {code:?}: {message}"),
                _ => {}
            }
        }
    }
    bail!("asked for proof of work three times")
}

/// The flood: `connections` connections from one source, each sending
/// `request_chat` every [`FLOOD_GAP`] until `duration` is over.
pub async fn flood(server: &Server, connections: usize, duration: Duration) -> anyhow::Result<Flood> {
    let stats = Arc::new(Mutex::new(Flood {
        kind: "request_chat".into(),
        connections_tried: connections,
        ..Flood::default()
    }));
    let frames = Arc::new(AtomicU64::new(0));
    let stop = Instant::now() + duration;
    let junk_kp = vec![0u8; 300];
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let url = server.url(u64::MAX, false);
        let target = server.target;
        let (stats, frames, junk_kp) = (stats.clone(), frames.clone(), junk_kp.clone());
        tasks.spawn(async move {
            let Ok(mut ws) = wire::connect(&url, None, Some(FLOOD_SOURCE)).await else {
                stats.lock().connections_refused += 1;
                return;
            };
            if target == Target::Parasol && wire::authenticate(&mut ws, &Identity::generate()).await.is_err() {
                stats.lock().connections_refused += 1;
                return;
            }
            let mut ticker = tokio::time::interval(FLOOD_GAP);
            let (mut tickets, mut id) = (0, 10u64);
            let mut codes: std::collections::HashMap<ErrorCode, u64> = Default::default();
            while Instant::now() < stop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Binary(bytes))) if target == Target::Parasol => match wire::decode(&bytes).map(|f| f.msg) {
                            Ok(ServerMessage::Error { code, .. }) => *codes.entry(code).or_insert(0) += 1,
                            Ok(ServerMessage::Response { result: Response::Ticket { .. }, .. }) => tickets += 1,
                            _ => {}
                        },
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = ticker.tick() => {
                        id += 1;
                        let req = Request::RequestChat {
                            language: "mk".into(),
                            topic: "health".into(),
                            urgent: true,
                            key_packages: vec![junk_kp.clone().into()],
                            pow: None,
                        };
                        if ws.send(Message::Binary(wire::frame_bytes(id, req).into())).await.is_err() {
                            break;
                        }
                        frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let mut s = stats.lock();
            s.tickets += tickets;
            for (code, n) in codes {
                s.refused_n(code, n);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut result = stats.lock().clone();
    result.frames_sent = frames.load(Ordering::Relaxed);
    Ok(result)
}

/// One request and its answer: the response, or the code it was refused
/// with. Pushes that come first are skipped.
async fn answer(ws: &mut wire::Ws, id: u64, req: Request) -> anyhow::Result<Result<Response, ErrorCode>> {
    wire::send(ws, id, req).await?;
    loop {
        match wire::next_message(ws).await? {
            ServerMessage::Response { id: got, result } if got == id => return Ok(Ok(result)),
            ServerMessage::Error {
                id: Some(got), code, ..
            } if got == id => return Ok(Err(code)),
            _ => {}
        }
    }
}

/// Sources of the key-package flood and of the many-key flood: one
/// address per connection (or per key), so only the server's own pools,
/// quotas and validation budgets stand in the way, never one source's
/// limits.
const KEY_PACKAGE_FLOOD_SOURCES: u32 = 0xC633_6500; // 198.51.101.0
const MANY_KEY_FLOOD_SOURCES: u32 = 0xCB00_7100; // 203.0.113.0 and on

/// Key packages one publish carries in the key-package flood.
const KEY_PACKAGE_BATCH: usize = 10;

/// The key-package flood of issue 17: `connections` anonymous connections
/// (each from its own source) publish real key packages, one request after
/// another, every other one replacing the stock, until `duration` is over.
/// Before storage owned its concurrency this froze the server in 5 s.
pub async fn key_package_flood(server: &Server, connections: usize, duration: Duration) -> anyhow::Result<Flood> {
    // Made before the clock starts: the load is the server's, not ours.
    let prepared: Vec<(Identity, Vec<Vec<Vec<u8>>>)> = tokio::task::spawn_blocking(move || {
        (0..connections)
            .map(|_| {
                let identity = Identity::generate();
                let mut engine = MlsEngine::new(identity.clone());
                let batches = (0..4)
                    .map(|_| engine.generate_key_packages(KEY_PACKAGE_BATCH, false))
                    .collect::<Result<Vec<_>, _>>()?;
                anyhow::Ok((identity, batches))
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    let stop = Instant::now() + duration;
    let url = server.url(0, false);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (identity, batches)) in prepared.into_iter().enumerate() {
        let url = url.clone();
        let source = IpAddr::V4(Ipv4Addr::from(KEY_PACKAGE_FLOOD_SOURCES + i as u32));
        tasks.spawn(async move {
            let mut got = Flood::default();
            let Ok(mut ws) = wire::connect(&url, None, Some(source)).await else {
                got.connections_refused += 1;
                return got;
            };
            if wire::authenticate(&mut ws, &identity).await.is_err() {
                got.connections_refused += 1;
                return got;
            }
            let mut n = 0usize;
            while Instant::now() < stop {
                let req = Request::PublishKeyPackages {
                    key_packages: batches[n % batches.len()].iter().cloned().map(Into::into).collect(),
                    replace: n.is_multiple_of(2),
                };
                n += 1;
                got.frames_sent += 1;
                match answer(&mut ws, n as u64 + 10, req).await {
                    Ok(Ok(_)) => got.accepted += 1,
                    Ok(Err(code)) => got.refused(code),
                    Err(_) => break, // closed by the server
                }
            }
            let _ = ws.close(None).await;
            got
        });
    }
    let mut result = Flood {
        kind: "key_packages".into(),
        connections_tried: connections,
        keys_used: connections as u64,
        ..Flood::default()
    };
    while let Some(r) = tasks.join_next().await {
        result.add(&r?);
    }
    Ok(result)
}

/// What one throwaway key of the many-key flood brings: its groups (each
/// made by the key) and a batch of its key packages.
pub struct ThrowawayKey {
    identity: Identity,
    groups: Vec<parasol_client::mls::NewGroup>,
    key_packages: Vec<Vec<u8>>,
}

/// Throwaway keys for [`many_key_flood`], made on both cores.
pub async fn throwaway_keys(count: usize) -> anyhow::Result<Vec<ThrowawayKey>> {
    let halves = [count / 2, count - count / 2];
    let mut made = Vec::with_capacity(count);
    let jobs: Vec<_> = halves
        .into_iter()
        .map(|n| {
            tokio::task::spawn_blocking(move || {
                (0..n)
                    .map(|_| {
                        let identity = Identity::generate();
                        let mut engine = MlsEngine::new(identity.clone());
                        let groups = (0..GROUPS_PER_THROWAWAY_KEY)
                            .map(|_| engine.create_group())
                            .collect::<Result<Vec<_>, _>>()?;
                        let key_packages = engine.generate_key_packages(KEY_PACKAGE_BATCH, false)?;
                        anyhow::Ok(ThrowawayKey {
                            identity,
                            groups,
                            key_packages,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
        })
        .collect();
    for job in jobs {
        made.extend(job.await??);
    }
    Ok(made)
}

/// One request of the many-key flood, counted: `Some(true)` carried out,
/// `Some(false)` refused, `None` the connection is gone.
async fn step(got: &mut Flood, ws: &mut wire::Ws, id: &mut u64, req: Request) -> Option<bool> {
    *id += 1;
    got.frames_sent += 1;
    match answer(ws, *id, req).await {
        Ok(Ok(_)) => {
            got.accepted += 1;
            Some(true)
        }
        Ok(Err(code)) => {
            got.refused(code);
            Some(false)
        }
        Err(_) => None,
    }
}

/// A visitor's key may be in 4 groups (`max_groups_per_anonymous_client`).
const GROUPS_PER_THROWAWAY_KEY: usize = 4;
/// Publishes one throwaway key tries at most before the flood moves on to
/// a fresh key (a 4 KiB publish meets a 128 KiB quota after about 32).
const PUBLISHES_PER_KEY: usize = 96;

/// The many-key budget flood of issue 17: `workers` connections at a time,
/// each taking a fresh anonymous key (from its own source) from `keys`,
/// creating groups until refused, then publishing key packages (each
/// publish after the first replacing its stock, so the per-key cap never
/// stops it and the bytes add up) until refused, then the next key. What refuses
/// it: the anonymous group pool, the anonymous key-package pool and the
/// per-key byte quota (`limit_exceeded`, `quota_exceeded`).
pub async fn many_key_flood(
    server: &Server,
    workers: usize,
    keys: Vec<ThrowawayKey>,
    duration: Duration,
) -> anyhow::Result<Flood> {
    let keys = Arc::new(Mutex::new(keys.into_iter().enumerate().collect::<Vec<_>>()));
    let stop = Instant::now() + duration;
    let url = server.url(0, false);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (url, keys) = (url.clone(), keys.clone());
        tasks.spawn(async move {
            let mut got = Flood::default();
            while Instant::now() < stop {
                let Some((k, key)) = keys.lock().pop() else { break };
                got.keys_used += 1;
                let source = IpAddr::V4(Ipv4Addr::from(MANY_KEY_FLOOD_SOURCES + k as u32));
                let Ok(mut ws) = wire::connect(&url, None, Some(source)).await else {
                    got.connections_refused += 1;
                    continue;
                };
                if wire::authenticate(&mut ws, &key.identity).await.is_err() {
                    got.connections_refused += 1;
                    continue;
                }
                let mut id = 10u64;
                'key: {
                    for g in &key.groups {
                        let req = Request::CreateGroup {
                            group_info: g.group_info.clone().into(),
                            ratchet_tree: g.ratchet_tree.clone().into(),
                        };
                        match step(&mut got, &mut ws, &mut id, req).await {
                            Some(true) => {}
                            Some(false) => break,
                            None => break 'key,
                        }
                    }
                    for n in 0..PUBLISHES_PER_KEY {
                        if Instant::now() >= stop {
                            break;
                        }
                        let req = Request::PublishKeyPackages {
                            key_packages: key.key_packages.iter().cloned().map(Into::into).collect(),
                            // Replacing its own stock: the bytes add up
                            // while the pool share it holds stays put.
                            replace: n > 0,
                        };
                        // Past its source's validation budget (rate_limited)
                        // a key keeps going: its frames still count
                        // against its byte quota.
                        match step(&mut got, &mut ws, &mut id, req).await {
                            Some(true) => {}
                            Some(false) if got.last_refusal == Some(ErrorCode::RateLimited) => {}
                            Some(false) | None => break 'key,
                        }
                    }
                }
                let _ = ws.close(None).await;
            }
            got
        });
    }
    let mut result = Flood {
        kind: "many_keys".into(),
        ..Flood::default()
    };
    while let Some(r) = tasks.join_next().await {
        result.add(&r?);
    }
    // One connection per key.
    result.connections_tried = result.keys_used as usize;
    Ok(result)
}
