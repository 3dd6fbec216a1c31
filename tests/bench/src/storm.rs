//! Scenario (e): reconnect storm. Clients that were away come back all at
//! once and drain a backlog of envelopes each: every client connects,
//! authenticates, subscribes from the start of its mailbox, takes every
//! envelope and acknowledges it. Measured: time from the first connect to
//! the last client drained.
//!
//! The backlog is real: groups of one sender and ten receivers, each sender
//! sent `backlog` real MLS messages while the receivers were offline. The
//! baseline (sled mode) replays its stored log of the group instead.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use parasol_protocol::{EnvelopeKind, Request, Response, ServerMessage};
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::groups::GroupPlan;
use crate::load::{histogram, Latency};
use crate::servers::{Server, Target};
use crate::wire;

/// Receivers per group.
pub const RECEIVERS_PER_GROUP: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct Storm {
    pub clients: usize,
    pub backlog_per_client: usize,
    pub drained: usize,
    pub failed: usize,
    /// First connect to last client drained.
    pub seconds: f64,
    /// Per client: connect to drained.
    pub per_client: Latency,
}

/// Fill the backlogs: each group's sender sends its pool while the
/// receivers are away.
pub async fn fill(server: &Server, plans: &[Arc<GroupPlan>]) -> anyhow::Result<()> {
    use futures_util::stream::{self, TryStreamExt};
    stream::iter(plans.iter().cloned().enumerate())
        .map(|(g, plan)| async move {
            let url = server.url(g as u64, false);
            let mut ws = wire::connect(&url, Some(wire::source_ip(g)), None).await?;
            if server.target == Target::Parasol {
                wire::authenticate(&mut ws, &plan.members[0]).await?;
            }
            for (i, message) in plan.pool.iter().enumerate() {
                let frame = wire::frame_bytes(
                    10 + i as u64,
                    Request::SendMessage {
                        message: message.clone().into(),
                    },
                );
                ws.send(Message::Binary(frame.into())).await?;
            }
            let mut accepted = 0;
            while accepted < plan.pool.len() {
                let msg = tokio::time::timeout(wire::STEP_TIMEOUT, ws.next())
                    .await
                    .context("waiting for acknowledgements")?
                    .context("connection closed")??;
                let Message::Binary(bytes) = msg else { continue };
                let ok = match server.target {
                    Target::Parasol => match wire::decode(&bytes)?.msg {
                        ServerMessage::Response {
                            result: Response::MessageAccepted { .. },
                            ..
                        } => true,
                        ServerMessage::Error { code, message, .. } => bail!("refused: {code:?}: {message}"),
                        _ => false,
                    },
                    _ => bytes.len() == 1,
                };
                accepted += usize::from(ok);
            }
            let _ = ws.close(None).await;
            anyhow::Ok(())
        })
        .buffer_unordered(64)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Every receiver comes back at once.
pub async fn run(server: &Server, plans: &[Arc<GroupPlan>]) -> anyhow::Result<Storm> {
    let backlog = plans.first().map_or(0, |p| p.pool.len());
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0;
    for (g, plan) in plans.iter().enumerate() {
        for m in 1..plan.members.len() {
            let plan = plan.clone();
            let url = server.url(g as u64, true);
            let target = server.target;
            n += 1;
            let source = wire::source_ip(n);
            tasks.spawn(async move {
                let started = Instant::now();
                let got = tokio::time::timeout(
                    Duration::from_secs(120),
                    drain_one(&url, target, &plan, m, source, backlog),
                )
                .await
                .context("drain timed out")??;
                if got != backlog {
                    bail!("drained {got} messages, expected {backlog}");
                }
                anyhow::Ok(started.elapsed())
            });
        }
    }
    let mut per_client = histogram();
    let (mut drained, mut failed) = (0, 0);
    let mut first_error = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(took)) => {
                drained += 1;
                let _ = per_client.record((took.as_micros() as u64).max(1));
            }
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.into());
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("  {failed} storm clients failed, first: {e:#}");
    }
    Ok(Storm {
        clients: n,
        backlog_per_client: backlog,
        drained,
        failed,
        seconds: start.elapsed().as_secs_f64(),
        per_client: Latency::of(&per_client),
    })
}

/// One client: connect, take the whole backlog, acknowledge it. Returns
/// the number of application messages received.
async fn drain_one(
    url: &str,
    target: Target,
    plan: &GroupPlan,
    member: usize,
    source: std::net::IpAddr,
    backlog: usize,
) -> anyhow::Result<usize> {
    if target != Target::Parasol {
        let mut ws = wire::connect(url, Some(source), None).await?;
        let mut got = 0;
        while got < backlog {
            match ws.next().await.context("connection closed")?? {
                Message::Binary(_) => got += 1,
                Message::Close(_) => bail!("closed by the server"),
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        return Ok(got);
    }
    let (mut ws, head) = wire::parasol_session(url, &plan.members[member], Some(source), Some(0)).await?;
    let mut got = 0;
    let mut last = 0;
    while last < head {
        if let ServerMessage::Envelope { envelope } = wire::next_message(&mut ws).await? {
            last = envelope.seq;
            got += usize::from(envelope.kind == EnvelopeKind::Application);
        }
    }
    match wire::request(&mut ws, 3, Request::Ack { up_to: last }).await? {
        Response::Acked { .. } => {}
        other => bail!("expected acked, got {other:?}"),
    }
    let _ = ws.close(None).await;
    Ok(got)
}
