//! The traffic loop shared by the chat scenarios: every group's member 0
//! sends, the other members receive. Senders pipeline (up to a window) or
//! keep a fixed rate; receivers time each delivery against the moment its
//! message was sent, and acknowledge in batches, as a real client does.
//!
//! Parasol and the baseline get the same bytes: the encoded `send_message`
//! frame around the same MLS ciphertext.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use parasol_protocol::{Request, Response, ServerMessage};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::baseline::ACK;
use crate::groups::GroupPlan;
use crate::servers::{Server, Target};
use crate::wire::{self, Ws};

/// Send times remembered per group (a ring): a delivery more than this
/// many messages behind its sender is not timed.
const RING: usize = 4096;
/// Envelopes a client lets pile up before acknowledging them.
const ACK_EVERY: u64 = 128;
/// And at least this often, so a slow trickle is acknowledged too.
const ACK_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// As fast as acknowledgements allow, with this many messages in
    /// flight per sender.
    Max { window: u64 },
    /// A fixed total rate (messages per second) over all senders.
    Rate { total_per_sec: f64 },
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Parasol's count of durable syncs so far; `None` for the baselines,
/// which export no metrics, and for a server too old to count them.
async fn durable_syncs(server: &Server) -> Option<u64> {
    let addr = server.metrics_addr?;
    crate::servers::metric(addr, "parasol_durable_syncs_total").await.ok()
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Traffic {
    pub groups: usize,
    pub group_size: usize,
    pub seconds: f64,
    /// Messages the server acknowledged (durably, for sled and Parasol)
    /// within the measured window.
    pub accepted: u64,
    pub accepted_per_sec: f64,
    /// Envelopes delivered to receivers within the window.
    pub delivered: u64,
    pub delivered_per_sec: f64,
    /// After the drain: deliveries missing (accepted × receivers − delivered).
    pub missing_deliveries: u64,
    pub errors: u64,
    pub latency: Latency,
    /// Messages acknowledged in the whole run, window and drain.
    pub accepted_in_all: u64,
    /// Parasol: times the server made its writes durable (flush and fsync,
    /// `parasol_durable_syncs_total`) over the whole run, read from
    /// `/metrics` before the first send and after the drain.
    pub durable_syncs: Option<u64>,
}

struct Shared {
    /// Per group: when message n was sent (ns since `origin`), at n % RING.
    sent_at: Vec<Vec<AtomicU64>>,
    /// Per group: messages accepted in all, once its sender has stopped
    /// and has nothing in flight (u64::MAX until then).
    final_count: Vec<AtomicU64>,
    origin: Instant,
    start: Instant,
    stop: Instant,
    give_up: Instant,
    accepted: AtomicU64,
    accepted_total: AtomicU64,
    delivered: AtomicU64,
    delivered_total: AtomicU64,
    errors: AtomicU64,
    latency: Mutex<Histogram<u64>>,
}

impl Shared {
    fn nanos(&self, at: Instant) -> u64 {
        at.duration_since(self.origin).as_nanos() as u64
    }
}

/// Connect every member, then run the traffic for `duration` and let it
/// drain. `frames` holds, per group, its pool of ciphertexts.
pub async fn run(server: &Server, plans: &[Arc<GroupPlan>], pace: Pace, duration: Duration) -> anyhow::Result<Traffic> {
    let group_size = plans.first().map_or(0, |p| p.members.len());
    let mut members = Vec::new();
    {
        use futures_util::stream::{self, TryStreamExt};
        let jobs: Vec<(usize, usize)> = (0..plans.len())
            .flat_map(|g| (0..group_size).map(move |m| (g, m)))
            .collect();
        let connected: Vec<(usize, usize, Ws)> = stream::iter(jobs.into_iter().enumerate())
            .map(|(n, (g, m))| async move {
                let source = Some(wire::source_ip(n));
                let ws = match server.target {
                    Target::Parasol => {
                        wire::parasol_session(&server.url(0, false), &plans[g].members[m], source, None)
                            .await?
                            .0
                    }
                    _ => wire::connect(&server.url(g as u64, false), source, None).await?,
                };
                anyhow::Ok((g, m, ws))
            })
            .buffer_unordered(64)
            .try_collect()
            .await
            .context("connecting the members")?;
        members.extend(connected);
    }
    let now = Instant::now();
    let start = now + Duration::from_millis(300);
    let stop = start + duration;
    let shared = Arc::new(Shared {
        sent_at: (0..plans.len())
            .map(|_| (0..RING).map(|_| AtomicU64::new(0)).collect())
            .collect(),
        final_count: (0..plans.len()).map(|_| AtomicU64::new(u64::MAX)).collect(),
        origin: now,
        start,
        stop,
        give_up: stop + Duration::from_secs(10),
        accepted: AtomicU64::new(0),
        accepted_total: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        delivered_total: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        latency: Mutex::new(histogram()),
    });
    let syncs_before = durable_syncs(server).await;
    let senders = plans.len().max(1) as f64;
    let mut tasks = tokio::task::JoinSet::new();
    for (g, m, ws) in members {
        let shared = shared.clone();
        let plan = plans[g].clone();
        let target = server.target;
        if m == 0 {
            let period = match pace {
                Pace::Rate { total_per_sec } => Some(Duration::from_secs_f64(senders / total_per_sec)),
                Pace::Max { .. } => None,
            };
            let window = match pace {
                Pace::Max { window } => window,
                Pace::Rate { .. } => 256,
            };
            tasks.spawn(async move { sender(ws, target, g, plan, shared, period, window).await });
        } else {
            tasks.spawn(async move { receiver(ws, target, g, shared).await });
        }
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(Err(e)) = r {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("  a client failed: {e:#}");
        }
    }
    let seconds = duration.as_secs_f64();
    let accepted = shared.accepted.load(Ordering::Relaxed);
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let expected = shared.accepted_total.load(Ordering::Relaxed) * (group_size as u64 - 1);
    let latency = Latency::of(&shared.latency.lock());
    let durable_syncs = match (syncs_before, durable_syncs(server).await) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    Ok(Traffic {
        groups: plans.len(),
        group_size,
        seconds,
        accepted,
        accepted_per_sec: accepted as f64 / seconds,
        delivered,
        delivered_per_sec: delivered as f64 / seconds,
        missing_deliveries: expected.saturating_sub(shared.delivered_total.load(Ordering::Relaxed)),
        errors: shared.errors.load(Ordering::Relaxed),
        latency,
        accepted_in_all: shared.accepted_total.load(Ordering::Relaxed),
        durable_syncs,
    })
}

/// What a client read from its socket.
enum Got {
    /// The server acknowledged one of my messages.
    Accepted,
    /// A message for me (Parasol: with its mailbox seq).
    Delivered(Option<u64>),
    Refused,
    Other,
}

fn classify(target: Target, msg: Message) -> anyhow::Result<Option<Got>> {
    let Message::Binary(bytes) = msg else {
        return Ok(match msg {
            Message::Close(_) => None,
            _ => Some(Got::Other),
        });
    };
    if target != Target::Parasol {
        return Ok(Some(if bytes.len() == 1 && bytes[0] == ACK {
            Got::Accepted
        } else {
            Got::Delivered(None)
        }));
    }
    Ok(Some(match wire::decode(&bytes)?.msg {
        ServerMessage::Response {
            result: Response::MessageAccepted { .. },
            ..
        } => Got::Accepted,
        ServerMessage::Envelope { envelope } => Got::Delivered(Some(envelope.seq)),
        ServerMessage::Error { .. } => Got::Refused,
        _ => Got::Other,
    }))
}

/// Acknowledges a Parasol mailbox in batches.
#[derive(Default)]
struct Acker {
    last_seq: u64,
    acked: u64,
    next_id: u64,
}

impl Acker {
    async fn maybe_ack(&mut self, ws: &mut Ws, force: bool) -> anyhow::Result<()> {
        let pending = self.last_seq - self.acked;
        if pending >= ACK_EVERY || (force && pending > 0) {
            self.next_id += 1;
            // Apart from the sends' ids, and below 2^53 like every integer
            // on the wire (a larger id is refused as malformed).
            let id = (1 << 52) + self.next_id;
            wire::send(ws, id, Request::Ack { up_to: self.last_seq }).await?;
            self.acked = self.last_seq;
        }
        Ok(())
    }
}

/// Each client's acknowledgement timer, started at a random phase: real
/// clients connect at different moments, so their timers never tick
/// together. Started together, 2,000 clients acked within a millisecond
/// every 250 ms, and each wave showed as a 30-40 ms stall in the delivery
/// latency (BENCHMARKS.md).
fn ack_timer(shared: &Shared) -> tokio::time::Interval {
    let phase = ACK_INTERVAL.mul_f64(rand::random::<f64>());
    tokio::time::interval_at(shared.start + phase, ACK_INTERVAL)
}

async fn sender(
    mut ws: Ws,
    target: Target,
    group: usize,
    plan: Arc<GroupPlan>,
    shared: Arc<Shared>,
    period: Option<Duration>,
    window: u64,
) -> anyhow::Result<()> {
    let frames: Vec<Vec<u8>> = plan
        .pool
        .iter()
        .map(|c| {
            wire::frame_bytes(
                0,
                Request::SendMessage {
                    message: c.clone().into(),
                },
            )
        })
        .collect();
    // Each sender starts at a random phase of its period, so a fixed rate
    // is spread evenly rather than sent in bursts.
    let mut ticks = period.map(|p| {
        let phase = p.mul_f64(rand::random::<f64>());
        let mut t = tokio::time::interval_at(shared.start + phase, p);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        t
    });
    let mut acks = ack_timer(&shared);
    let mut acker = Acker::default();
    let (mut sent, mut in_flight, mut accepted) = (0u64, 0u64, 0u64);
    tokio::time::sleep_until(shared.start).await;
    loop {
        let now = Instant::now();
        let sending = now < shared.stop;
        if !sending && in_flight == 0 {
            break;
        }
        if now > shared.give_up {
            anyhow::bail!("group {group}: {in_flight} messages never acknowledged");
        }
        let may_send = sending && in_flight < window;
        tokio::select! {
            biased;
            msg = ws.next() => {
                let Some(msg) = msg else { anyhow::bail!("connection closed") };
                match classify(target, msg?)? {
                    None => anyhow::bail!("connection closed by the server"),
                    Some(Got::Accepted) => {
                        in_flight -= 1;
                        accepted += 1;
                        shared.accepted_total.fetch_add(1, Ordering::Relaxed);
                        if Instant::now() <= shared.stop {
                            shared.accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Some(Got::Refused) => {
                        in_flight -= 1;
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    // My own messages, back in my mailbox.
                    Some(Got::Delivered(Some(seq))) => {
                        acker.last_seq = seq;
                        acker.maybe_ack(&mut ws, false).await?;
                    }
                    Some(_) => {}
                }
            }
            _ = acks.tick() => acker.maybe_ack(&mut ws, true).await?,
            _ = async { ticks.as_mut().expect("paced").tick().await }, if may_send && ticks.is_some() => {
                send_one(&mut ws, group, &frames, &shared, &mut sent, &mut in_flight).await?;
            }
            _ = std::future::ready(()), if may_send && ticks.is_none() => {
                send_one(&mut ws, group, &frames, &shared, &mut sent, &mut in_flight).await?;
            }
            _ = tokio::time::sleep_until(shared.stop), if sending => {}
        }
    }
    shared.final_count[group].store(accepted, Ordering::Release);
    // Keep acknowledging my own echoes until they stop coming.
    drain_echoes(&mut ws, target, &mut acker).await;
    Ok(())
}

async fn send_one(
    ws: &mut Ws,
    group: usize,
    frames: &[Vec<u8>],
    shared: &Shared,
    sent: &mut u64,
    in_flight: &mut u64,
) -> anyhow::Result<()> {
    let n = *sent as usize;
    shared.sent_at[group][n % RING].store(shared.nanos(Instant::now()), Ordering::Relaxed);
    ws.send(Message::Binary(frames[n % frames.len()].clone().into()))
        .await?;
    *sent += 1;
    *in_flight += 1;
    Ok(())
}

async fn drain_echoes(ws: &mut Ws, target: Target, acker: &mut Acker) {
    if target == Target::Parasol {
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            if let Ok(Some(Got::Delivered(Some(seq)))) = classify(target, msg) {
                acker.last_seq = seq;
            }
        }
        let _ = acker.maybe_ack(ws, true).await;
    }
    let _ = ws.close(None).await;
}

async fn receiver(mut ws: Ws, target: Target, group: usize, shared: Arc<Shared>) -> anyhow::Result<()> {
    let mut acks = ack_timer(&shared);
    let mut acker = Acker::default();
    let mut received = 0u64;
    let mut check = tokio::time::interval(Duration::from_millis(50));
    loop {
        if received >= shared.final_count[group].load(Ordering::Acquire) || Instant::now() > shared.give_up {
            break;
        }
        tokio::select! {
            biased;
            msg = ws.next() => {
                let Some(msg) = msg else { anyhow::bail!("connection closed") };
                let now = Instant::now();
                match classify(target, msg?)? {
                    None => anyhow::bail!("connection closed by the server"),
                    Some(Got::Delivered(seq)) => {
                        let sent_at = shared.sent_at[group][received as usize % RING].load(Ordering::Relaxed);
                        let elapsed_us = shared.nanos(now).saturating_sub(sent_at) / 1000;
                        received += 1;
                        shared.delivered_total.fetch_add(1, Ordering::Relaxed);
                        if now <= shared.stop {
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        if now >= shared.start {
                            let _ = shared.latency.lock().record(elapsed_us.max(1));
                        }
                        if let Some(seq) = seq {
                            acker.last_seq = seq;
                            acker.maybe_ack(&mut ws, false).await?;
                        }
                    }
                    Some(_) => {}
                }
            }
            _ = acks.tick() => acker.maybe_ack(&mut ws, true).await?,
            _ = check.tick() => {}
        }
    }
    let _ = acker.maybe_ack(&mut ws, true).await;
    let _ = ws.close(None).await;
    Ok(())
}
