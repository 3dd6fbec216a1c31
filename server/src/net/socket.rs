//! One WebSocket connection: challenge and authentication, then requests in,
//! answers and pushed envelopes out.
//!
//! Reading and dispatch happen on one task, so a client's requests are
//! ordered as sent. Only the wait for durability runs beside it (bounded by
//! `max_inflight_requests`), so a client can pipeline sends. What a request
//! does is in `ops/`; this file only carries it.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use governor::clock::QuantaClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parasol_protocol::{auth, close, decode_client_frame, ErrorCode, ServerMessage, PROTOCOL_VERSION};
use rand::RngCore;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::auth::{authenticate_connection, StaffLogin};
use super::outbox::{error_frame, frame, response, spawn_writer, Outbox};
use crate::error::ServiceError;
use crate::intake::abuse::SourceKey;
use crate::mailbox::push::{on_live, pump};
use crate::mailbox::LiveEnvelope;
use crate::ops::{self, Ctx, Session};
use crate::presence::Connection;
use crate::storage::ClientId;
use crate::Services;

static CONNECTION_IDS: AtomicU64 = AtomicU64::new(1);

/// Why the connection loop ended: the close code and reason sent.
pub(crate) struct Closing(pub u16, pub &'static str);

/// One clock for every connection's rate limiters: making a clock asks the
/// CPU about its timestamp counter (`cpuid`, which traps to the hypervisor
/// in a VM), and three per connection showed up in a reconnect storm's
/// profile.
static LIMITER_CLOCK: std::sync::LazyLock<QuantaClock> = std::sync::LazyLock::new(QuantaClock::default);

fn per_connection_limiter(quota: Quota) -> DefaultDirectRateLimiter {
    RateLimiter::direct_with_clock(quota, LIMITER_CLOCK.clone())
}

pub async fn serve(
    socket: WebSocket,
    services: Arc<Services>,
    _permit: OwnedSemaphorePermit,
    source: Option<SourceKey>,
) {
    let connection_id = CONNECTION_IDS.fetch_add(1, Ordering::Relaxed);
    services.metrics.connections_open.inc();
    let _open = OpenConnection(services.clone());
    let config = services.config.clone();
    let window = config.limits.push_window;
    let inflight_limit = config.connections.max_inflight_requests;
    let (sink, mut stream) = socket.split();
    let queue = window as usize + inflight_limit + 64;
    let stall = Duration::from_secs(config.connections.write_stall_secs);
    let (outbox, close_now, mut writer) = spawn_writer(sink, queue, config.connections.max_send_queue_bytes, stall);

    let mut nonce = [0u8; auth::NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    outbox.send(frame(ServerMessage::Challenge {
        nonce: nonce.to_vec().into(),
        versions: vec![PROTOCOL_VERSION],
    }));

    let closing = match authenticate_connection(&services, &mut stream, &outbox, &nonce).await {
        Ok((client, staff)) => run(&services, connection_id, &mut stream, &outbox, client, staff, source).await,
        Err(closing) => closing,
    };
    tracing::debug!(
        connection = connection_id,
        code = closing.0,
        reason = closing.1,
        "closing connection"
    );
    let close = Message::Close(Some(CloseFrame {
        code: closing.0,
        reason: Utf8Bytes::from_static(closing.1),
    }));
    // A slow consumer's close goes ahead of its queue; any other close
    // follows the answers already queued, unless the queue is full.
    if closing.0 == close::SLOW_CONSUMER {
        services.metrics.slow_consumers_closed_total.inc();
        let _ = close_now.send(close);
    } else if let Err(e) = outbox.tx.try_send(Box::new(close)) {
        let _ = close_now.send(*e.into_inner());
    }
    drop(outbox);
    // The closing handshake: until the close is out and the client's close
    // is back, keep reading (and dropping) what it still sends. Closing a
    // socket with unread input makes the kernel reset it, and the client
    // would never see the close code. A client that never reads gets 5 s.
    let drain = async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    let handshake = async { tokio::join!(&mut writer, drain) };
    if tokio::time::timeout(Duration::from_secs(5), handshake).await.is_err() {
        writer.abort();
    }
}

/// Counts the connection as closed when the task ends, however it ends.
struct OpenConnection(Arc<Services>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.connections_open.dec();
    }
}

/// What the client sent.
pub(super) enum Inbound {
    Frame(Vec<u8>),
    /// A WebSocket ping or pong: no request, but the client is alive.
    KeepAlive,
}

/// Read the next message, or say why the connection must close.
/// Cancel-safe: it holds nothing between reads.
pub(super) async fn next_frame(stream: &mut SplitStream<WebSocket>) -> Result<Inbound, Closing> {
    match stream.next().await {
        None => Err(Closing(close::NORMAL, "closed")),
        Some(Err(e)) => {
            let too_big = matches!(
                e.into_inner().downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
                Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
            );
            Err(if too_big {
                Closing(close::MESSAGE_TOO_BIG, "frame exceeds the transport limit")
            } else {
                Closing(close::NORMAL, "transport error")
            })
        }
        Some(Ok(Message::Binary(bytes))) => Ok(Inbound::Frame(bytes.to_vec())),
        Some(Ok(Message::Text(_))) => Err(Closing(close::UNSUPPORTED_DATA, "binary frames only")),
        Some(Ok(Message::Close(_))) => Err(Closing(close::NORMAL, "client closed")),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(Inbound::KeepAlive),
    }
}

/// Phase 2: an authenticated connection, subscribed to its mailbox and
/// registered in the presence registry (which tells the rooms), until it
/// closes.
async fn run(
    services: &Arc<Services>,
    connection_id: u64,
    stream: &mut SplitStream<WebSocket>,
    outbox: &Outbox,
    client: ClientId,
    staff: Option<StaffLogin>,
    source: Option<SourceKey>,
) -> Closing {
    let config = &services.config;
    let shutdown = services.shutdown.clone();
    let (live_tx, mut live_rx) = mpsc::channel::<Box<LiveEnvelope>>(256);
    let wake = Arc::new(Notify::new());
    let replaced = CancellationToken::new();
    let stock = services
        .mailboxes
        .subscribe(client, connection_id, live_tx, wake.clone(), replaced.clone());
    let claims_per_minute = NonZeroU32::new(config.limits.key_package_claims_per_minute).unwrap_or(NonZeroU32::MIN);
    // Pushes from the rooms (ticket positions, offers, circles, …), through
    // the presence registry.
    let (notices_tx, mut notices_rx) = mpsc::channel::<Box<ServerMessage>>(64);
    let staff_ended = staff.as_ref().map(|s| s.ended.clone()).unwrap_or_default();
    let session_expiry = staff.as_ref().map_or(Duration::from_secs(u64::from(u32::MAX)), |s| {
        Duration::from_secs(s.expires_at.saturating_sub(crate::time::now_secs()))
    });
    let session_expiry = tokio::time::Instant::now() + session_expiry;
    if let Some(s) = &staff {
        // Before the rooms hear of it, so what they seal on arrival goes
        // to this key.
        services.lifecycle.make_current(s.session.account_id, client);
    }
    let arrival = Connection {
        id: connection_id,
        client,
        staff: staff.as_ref().map(|s| s.session.clone()),
    };
    // Unregistered (and the rooms told) when this guard drops.
    let presence = match services.presence.register(arrival, notices_tx) {
        Ok(guard) => guard,
        Err(e) => {
            services.mailboxes.unsubscribe(&client, connection_id);
            outbox.send(error_frame(None, &e));
            return if e.code == ErrorCode::Busy {
                Closing(close::INTERNAL_ERROR, "too many connections")
            } else {
                Closing(close::POLICY_VIOLATION, "this key cannot be used by this account")
            };
        }
    };
    if let Some(s) = &staff {
        services
            .lifecycle
            .staff_authenticated(s.session.account_id, client, &s.session.badge)
            .await;
    }
    let frames_per_second = NonZeroU32::new(config.intake.frames_per_second).unwrap_or(NonZeroU32::MIN);
    let mut session = Session {
        client,
        connection_id,
        staff: staff.map(|s| s.session),
        source,
        pow: None,
        frames: None,
        push: None,
        claims: per_connection_limiter(Quota::per_minute(claims_per_minute)),
        commits: per_connection_limiter(Quota::per_minute(
            NonZeroU32::new(config.limits.commits_per_minute).unwrap_or(NonZeroU32::MIN),
        )),
    };
    if session.staff.is_none() {
        let burst = frames_per_second.saturating_mul(NonZeroU32::new(10).expect("nonzero"));
        session.frames = Some(per_connection_limiter(
            Quota::per_second(frames_per_second).allow_burst(burst),
        ));
    }
    let inflight = Arc::new(Semaphore::new(config.connections.max_inflight_requests));
    let idle = Duration::from_secs(config.connections.idle_timeout_secs);
    // Only the client's own frames keep the connection alive, not our pushes.
    let mut idle_deadline = tokio::time::Instant::now() + idle;

    let closing = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Closing(close::GOING_AWAY, "server shutting down"),
            _ = replaced.cancelled() => break Closing(close::REPLACED, "replaced by a newer connection"),
            _ = staff_ended.cancelled() => break Closing(close::SESSION_ENDED, "staff session ended"),
            _ = tokio::time::sleep_until(session_expiry) => break Closing(close::SESSION_ENDED, "staff session expired"),
            Some(notice) = notices_rx.recv() => outbox.send(frame(*notice)),
            _ = outbox.overflow.notified() => break Closing(close::SLOW_CONSUMER, "not reading fast enough"),
            _ = tokio::time::sleep_until(idle_deadline) => break Closing(close::IDLE_TIMEOUT, "idle timeout"),
            _ = outbox.drained.notified() => {
                if let Err(c) = pump(services, &mut session, outbox).await { break c; }
            }
            Some(live) = live_rx.recv() => {
                if let Err(c) = on_live(services, &mut session, outbox, *live).await { break c; }
            }
            _ = wake.notified() => {
                if let Some((one_time, last_resort)) = stock.lock().take() {
                    outbox.send(frame(ServerMessage::KeyPackageCount { one_time, last_resort }));
                }
                if let Err(c) = pump(services, &mut session, outbox).await { break c; }
            }
            r = next_frame(stream) => match r {
                Err(c) => break c,
                Ok(Inbound::KeepAlive) => idle_deadline = tokio::time::Instant::now() + idle,
                Ok(Inbound::Frame(bytes)) => {
                    idle_deadline = tokio::time::Instant::now() + idle;
                    // Boxed: the handler's future holds the state of every
                    // operation and would otherwise sit, unused, in every
                    // idle connection's task.
                    if let Err(c) = Box::pin(handle(services, &mut session, outbox, &inflight, &bytes)).await { break c; }
                }
            },
        }
    };
    services.mailboxes.unsubscribe(&client, connection_id);
    drop(presence);
    // Let durable writes still in flight answer before the socket closes.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        inflight.acquire_many(config.connections.max_inflight_requests as u32),
    )
    .await;
    closing
}

/// One frame of an authenticated connection: decode, hold anonymous
/// senders to their frame rate, and hand the request to `ops`.
async fn handle(
    services: &Arc<Services>,
    session: &mut Session,
    outbox: &Outbox,
    inflight: &Arc<Semaphore>,
    bytes: &[u8],
) -> Result<(), Closing> {
    let frame_in = match decode_client_frame(bytes, services.config.limits.max_frame_bytes) {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!(code = %e.code, "bad frame");
            outbox.send(error_frame(e.request_id, &ServiceError::new(e.code, e.message)));
            return Ok(());
        }
    };
    let id = frame_in.id;
    let op = frame_in.req.op_name();
    if session.frames.as_ref().is_some_and(|f| f.check().is_err()) {
        let e = ServiceError::new(
            ErrorCode::RateLimited,
            "too many requests on this connection; slow down",
        )
        .with_details(crate::error::RefusalDetails {
            retry_after_secs: Some(1),
            pow: None,
            // Every refusal a visitor can get says where else to turn.
            help: Some(services.intake.help(crate::time::now_secs())),
        });
        outbox.send(error_frame(Some(id), &e));
        return Ok(());
    }
    let mut ctx = Ctx {
        services,
        session,
        outbox,
        inflight,
        id,
    };
    match ops::dispatch(&mut ctx, frame_in.req, bytes.len()).await {
        Ok(Some(r)) => outbox.send(response(id, r)),
        Ok(None) => {} // answered already, or later after durability
        Err(e) => {
            tracing::debug!(op, code = %e.code, "request refused");
            outbox.send(error_frame(Some(id), &e));
        }
    }
    if services.shutdown.is_cancelled() {
        return Err(Closing(close::GOING_AWAY, "server shutting down"));
    }
    Ok(())
}
