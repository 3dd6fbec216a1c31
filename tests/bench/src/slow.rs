//! Scenario (f): slow consumers. `connections` clients connect,
//! authenticate and subscribe to their mailbox. `slow` of them are members
//! of busy groups and never read their socket again (with a small kernel
//! receive buffer, as a client that wants the server to hold its data would
//! set it); one sender per busy group chats; everyone else is idle. The
//! server's memory is read with no one connected, with everyone connected,
//! at its peak during the traffic and after the slow consumers are gone;
//! `/metrics` says how many were closed as slow consumers (4002) and when.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use parasol_client::Identity;
use parasol_protocol::{Request, Response, ServerMessage};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::groups::{self, GroupPlan};
use crate::machine::rss_kib;
use crate::servers::{Server, Target};
use crate::wire::{self, Ws};

/// Slow consumers per busy group (the group has one sender more).
pub const SLOW_PER_GROUP: usize = 50;
/// Plaintext bytes per message of a busy group: a long chat message.
pub const TEXT_BYTES: usize = 512;
/// The slow consumers' kernel receive buffer (the kernel doubles it).
const SLOW_RECV_BUFFER: u32 = 4096;
/// Messages each sender keeps in flight.
const SEND_WINDOW: u64 = 32;

/// Parasol's configuration for this scenario: the limits of the other
/// scenarios lifted (so setting up 10k connections is not refused), and
/// the send-queue bounds at their defaults except the write-stall deadline.
pub fn config(write_stall_secs: u64) -> String {
    format!(
        r#"
[intake]
frames_per_second = 1000000
connections_per_source_per_minute = 1000000
connection_burst = 1000000
[connections]
max_connections = 200000
idle_timeout_secs = 3600
auth_timeout_secs = 60
write_stall_secs = {write_stall_secs}
[limits]
commits_per_minute = 1000000
key_package_claims_per_minute = 1000000
"#
    )
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SlowConsumers {
    /// True for the control arm, whose consumers read and acknowledge.
    pub reading: bool,
    /// Envelopes the reading consumers received (control arm only).
    pub received: u64,
    pub connections: usize,
    pub slow: usize,
    pub busy_groups: usize,
    pub messages_per_group: usize,
    /// Bytes of one pushed envelope, about.
    pub envelope_bytes: usize,
    pub write_stall_secs: u64,
    pub max_send_queue_bytes: usize,
    pub rss_empty_kib: u64,
    pub rss_connected_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// (connected − empty) / connections.
    pub kib_per_connection: f64,
    /// (peak − connected) / slow consumers.
    pub peak_kib_per_slow_consumer: f64,
    /// Closed as slow consumers (`parasol_slow_consumers_closed_total`).
    pub slow_closed: u64,
    /// Seconds from the start of the traffic to the first and the last
    /// slow-consumer close.
    pub first_close_secs: f64,
    pub last_close_secs: f64,
    pub traffic_secs: f64,
    /// Messages the senders had accepted, and refused.
    pub accepted: u64,
    pub refused: u64,
    /// Open connections at the end, and how many should be (all minus the
    /// slow consumers closed).
    pub open_at_end: u64,
    pub expected_open_at_end: u64,
}

pub struct Sizes {
    /// The control arm: the same clients and traffic, but the consumers
    /// read and acknowledge everything, so the difference in memory is
    /// what not reading costs.
    pub reading: bool,
    pub connections: usize,
    pub slow: usize,
    pub messages_per_group: usize,
    pub write_stall_secs: u64,
    pub settle: Duration,
}

pub async fn run(parasol_bin: &std::path::Path, sizes: &Sizes) -> anyhow::Result<SlowConsumers> {
    let groups_needed = sizes.slow.div_ceil(SLOW_PER_GROUP);
    let per_group = sizes.slow.min(SLOW_PER_GROUP);
    let started = std::time::Instant::now();
    let plans =
        tokio::task::spawn_blocking(move || groups::plan_sized(groups_needed, per_group + 1, 64, TEXT_BYTES)).await??;
    println!(
        "  MLS set-up: {groups_needed} busy groups of {}, in {:.1} s",
        per_group + 1,
        started.elapsed().as_secs_f64()
    );
    let plans: Vec<Arc<GroupPlan>> = plans.into_iter().map(Arc::new).collect();
    let server = Server::start(Target::Parasol, parasol_bin, &config(sizes.write_stall_secs))?;
    let url = server.url(0, false);
    let metrics_addr = server
        .metrics_addr
        .context("parasol-server printed its metrics address")?;
    tokio::time::sleep(sizes.settle).await;
    let rss_empty = rss_kib(server.pid()).context("server RSS")?;
    groups::register(&url, &plans, 32).await?;

    // The slow consumers: subscribed, then never read.
    let members: Vec<(usize, Identity)> = plans
        .iter()
        .flat_map(|p| p.members[1..].iter().cloned())
        .take(sizes.slow)
        .enumerate()
        .collect();
    let slow_count = members.len();
    let slow: Vec<Ws> = stream::iter(members)
        .map(|(n, identity)| {
            let url = url.clone();
            async move {
                let mut ws = wire::connect_with(&url, Some(wire::source_ip(n)), None, Some(SLOW_RECV_BUFFER)).await?;
                let head = wire::authenticate(&mut ws, &identity).await?;
                match wire::request(&mut ws, 2, Request::Subscribe { after: head }).await? {
                    Response::Subscribed { .. } => Ok::<_, anyhow::Error>(ws),
                    other => bail!("expected subscribed, got {other:?}"),
                }
            }
        })
        .buffer_unordered(256)
        .try_collect()
        .await
        .context("opening slow consumers")?;
    // The senders, one per busy group (not subscribed: nothing is pushed
    // to them, they only read their answers).
    let mut senders = Vec::new();
    for (g, plan) in plans.iter().enumerate() {
        let mut ws = wire::connect(&url, Some(wire::source_ip(slow_count + g)), None).await?;
        wire::authenticate(&mut ws, &plan.members[0]).await?;
        senders.push((ws, plan.clone()));
    }
    // Everyone else is idle: subscribed to an empty mailbox.
    let first_idle = slow_count + senders.len();
    let idle_count = sizes.connections.saturating_sub(first_idle);
    let idle: Vec<Ws> = stream::iter(first_idle..first_idle + idle_count)
        .map(|n| {
            let url = url.clone();
            async move {
                let identity = Identity::generate();
                Ok::<_, anyhow::Error>(
                    wire::parasol_session(&url, &identity, Some(wire::source_ip(n)), None)
                        .await?
                        .0,
                )
            }
        })
        .buffer_unordered(256)
        .try_collect()
        .await
        .context("opening idle connections")?;
    let connections = slow.len() + senders.len() + idle.len();
    let slow_len = slow.len();
    let received = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // The control arm reads and acknowledges every envelope.
    let (slow, readers) = if sizes.reading {
        let readers: Vec<_> = slow
            .into_iter()
            .map(|ws| tokio::spawn(read_and_ack(ws, received.clone())))
            .collect();
        (Vec::new(), readers)
    } else {
        (slow, Vec::new())
    };
    tokio::time::sleep(sizes.settle).await;
    let rss_connected = rss_kib(server.pid()).context("server RSS")?;
    let metrics_before = metrics(metrics_addr).await?;
    println!(
        "  {connections} connections ({slow_len} {}, {} senders, {} idle): RSS {} MiB",
        if sizes.reading { "reading" } else { "slow" },
        senders.len(),
        idle.len(),
        rss_connected / 1024
    );

    // The traffic, watched: RSS every 200 ms, /metrics every second.
    let traffic_start = Instant::now();
    let messages = sizes.messages_per_group;
    let traffic = tokio::spawn(async move {
        let results = futures_util::future::join_all(
            senders
                .into_iter()
                .map(|(ws, plan)| async move { send_all(ws, &plan, messages).await }),
        )
        .await;
        let (mut accepted, mut refused, mut open) = (0, 0, Vec::new());
        for r in results {
            let (ws, a, f) = r?;
            accepted += a;
            refused += f;
            open.push(ws); // senders stay connected to the end
        }
        Ok::<_, anyhow::Error>((open, accepted, refused, traffic_start.elapsed().as_secs_f64()))
    });
    let give_up = Duration::from_secs(sizes.write_stall_secs + 180);
    let mut peak = rss_connected;
    let (mut first_close, mut last_close) = (0.0, 0.0);
    let mut closed = 0;
    let mut last_metrics = Instant::now();
    let mut traffic = Some(traffic);
    let mut traffic_result = None;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_kib(server.pid()).unwrap_or(0));
        if let Some(t) = traffic.as_ref().filter(|t| t.is_finished()) {
            let _ = t;
            traffic_result = Some(traffic.take().context("traffic task")?.await??);
        }
        if last_metrics.elapsed() >= Duration::from_secs(1) {
            last_metrics = Instant::now();
            let now = metrics(metrics_addr).await?;
            let count = now.slow_closed - metrics_before.slow_closed;
            if count > closed {
                let at = traffic_start.elapsed().as_secs_f64();
                if closed == 0 {
                    first_close = at;
                }
                last_close = at;
                closed = count;
            }
            let done = if sizes.reading {
                received.load(std::sync::atomic::Ordering::Relaxed) >= (slow_len * messages) as u64
            } else {
                closed as usize >= slow_len
            };
            if done && traffic.is_none() {
                break;
            }
        }
        if traffic_start.elapsed() > give_up {
            eprintln!("  gave up waiting: {closed} of {slow_len} slow consumers closed");
            break;
        }
    }
    let (senders, accepted, refused, traffic_secs) = match (traffic_result, traffic) {
        (Some(r), _) => r,
        (None, Some(t)) => t.await??,
        (None, None) => (Vec::new(), 0, 0, 0.0),
    };
    // A closed slow consumer's task ends after its closing handshake, which
    // a client that never reads lets run out (write_stall_secs, then 5 s).
    let expected_open = (connections as u64).saturating_sub(closed);
    let deadline = Instant::now() + Duration::from_secs(sizes.write_stall_secs + 15);
    let mut end = metrics(metrics_addr).await?;
    while end.open != expected_open && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        end = metrics(metrics_addr).await?;
    }
    tokio::time::sleep(sizes.settle).await;
    let rss_after = rss_kib(server.pid()).context("server RSS")?;
    let envelope_bytes = plans.first().and_then(|p| p.pool.first()).map_or(0, Vec::len) + 60;
    let result = SlowConsumers {
        reading: sizes.reading,
        received: received.load(std::sync::atomic::Ordering::Relaxed),
        connections,
        slow: slow_len,
        busy_groups: plans.len(),
        messages_per_group: messages,
        envelope_bytes,
        write_stall_secs: sizes.write_stall_secs,
        max_send_queue_bytes: 8 * 1024 * 1024,
        rss_empty_kib: rss_empty,
        rss_connected_kib: rss_connected,
        rss_peak_kib: peak,
        rss_after_kib: rss_after,
        kib_per_connection: rss_connected.saturating_sub(rss_empty) as f64 / connections.max(1) as f64,
        peak_kib_per_slow_consumer: peak.saturating_sub(rss_connected) as f64 / slow_len.max(1) as f64,
        slow_closed: closed,
        first_close_secs: first_close,
        last_close_secs: last_close,
        traffic_secs,
        accepted,
        refused,
        open_at_end: end.open,
        expected_open_at_end: expected_open,
    };
    println!(
        "  slow consumers: {}/{} closed (4002) between {:.1} s and {:.1} s; RSS empty {} MiB, connected {} MiB ({:.1} KiB/connection), peak {} MiB (+{:.1} KiB per slow consumer), after {} MiB; {} still open of {} expected",
        result.slow_closed,
        result.slow,
        result.first_close_secs,
        result.last_close_secs,
        rss_empty / 1024,
        rss_connected / 1024,
        result.kib_per_connection,
        peak / 1024,
        result.peak_kib_per_slow_consumer,
        rss_after / 1024,
        result.open_at_end,
        result.expected_open_at_end
    );
    for r in readers {
        r.abort();
    }
    drop((slow, idle, senders));
    Ok(result)
}

/// Send `count` of the plan's messages, `SEND_WINDOW` in flight. Returns
/// the socket, and the counts accepted and refused.
async fn send_all(mut ws: Ws, plan: &GroupPlan, count: usize) -> anyhow::Result<(Ws, u64, u64)> {
    let (mut accepted, mut refused, mut inflight) = (0u64, 0u64, 0u64);
    for i in 0..count {
        let message = plan.pool[i % plan.pool.len()].clone();
        wire::send(
            &mut ws,
            10 + i as u64,
            Request::SendMessage {
                message: message.into(),
            },
        )
        .await?;
        inflight += 1;
        while inflight >= SEND_WINDOW || (i + 1 == count && inflight > 0) {
            match wire::next_message(&mut ws).await? {
                ServerMessage::Response { .. } => accepted += 1,
                ServerMessage::Error { .. } => refused += 1,
                _ => continue,
            }
            inflight -= 1;
        }
    }
    Ok((ws, accepted, refused))
}

struct Metrics {
    open: u64,
    slow_closed: u64,
}

/// `GET /metrics` on the metrics listener: open connections and slow
/// consumers closed so far.
async fn metrics(addr: SocketAddr) -> anyhow::Result<Metrics> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    tokio::time::timeout(wire::STEP_TIMEOUT, stream.read_to_string(&mut text))
        .await
        .context("/metrics answered")??;
    let value = |name: &str| -> anyhow::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("{name} in /metrics"))
    };
    Ok(Metrics {
        open: value("parasol_connections_open")?,
        slow_closed: value("parasol_slow_consumers_closed_total")?,
    })
}

/// The control arm's consumer: read every push and acknowledge it.
async fn read_and_ack(mut ws: Ws, received: Arc<std::sync::atomic::AtomicU64>) -> anyhow::Result<()> {
    let mut id = 100;
    loop {
        if let ServerMessage::Envelope { envelope } = wire::next_message(&mut ws).await? {
            received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            id += 1;
            wire::send(&mut ws, id, Request::Ack { up_to: envelope.seq }).await?;
        }
    }
}

/// What not reading costs at peak, per slow consumer: the slow arm's peak
/// growth over the reading arm's.
pub fn extra_kib_per_slow_consumer(reading: &SlowConsumers, slow: &SlowConsumers) -> f64 {
    let grown = |s: &SlowConsumers| s.rss_peak_kib.saturating_sub(s.rss_connected_kib) as f64;
    (grown(slow) - grown(reading)) / slow.slow.max(1) as f64
}
