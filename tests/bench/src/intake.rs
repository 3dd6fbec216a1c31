//! Scenario (d): an intake flood during the 1:1 chat load of (b). One
//! network source (as the reverse proxy reports it in `x-forwarded-for`)
//! opens many connections and sends `request_chat` as fast as it can, with
//! the default abuse limits on. Meanwhile real visitors, each from its own
//! source, ask for a chat with a real key package (solving the proof of
//! work when asked) and are timed from connect to ticket. The same visitors
//! are timed without the flood first, for the ratio.

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
    pub connections_tried: usize,
    /// Connections the server turned away (HTTP 429).
    pub connections_refused: usize,
    pub frames_sent: u64,
    /// Answers that were refusals (rate_limited, pow_required, …).
    pub refusals: u64,
    /// Tickets the flood got.
    pub tickets: u64,
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
            let (mut refusals, mut tickets, mut id) = (0, 0, 10u64);
            while Instant::now() < stop {
                tokio::select! {
                    msg = ws.next() => match msg {
                        Some(Ok(Message::Binary(bytes))) if target == Target::Parasol => match wire::decode(&bytes).map(|f| f.msg) {
                            Ok(ServerMessage::Error { .. }) => refusals += 1,
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
            s.refusals += refusals;
            s.tickets += tickets;
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut result = stats.lock().clone();
    result.frames_sent = frames.load(Ordering::Relaxed);
    Ok(result)
}
