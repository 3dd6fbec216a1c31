//! One WebSocket connection: challenge and authentication, then requests in,
//! answers and pushed envelopes out.
//!
//! Reading and dispatch happen on one task, so a client's requests are
//! ordered as sent. Only the wait for durability runs beside it (bounded by
//! `max_inflight_requests`), so a client can pipeline sends. Everything
//! written to the socket goes through one bounded queue; a client that
//! does not read is disconnected rather than buffered without end.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use ed25519_dalek::{Signature, VerifyingKey};
use futures_util::{SinkExt, StreamExt};
use governor::clock::QuantaClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use parasol_protocol::{
    auth, close, decode_client_frame, encode_server_frame, AuthProof, Bytes, ClientFrame, Envelope, ErrorCode, Request,
    Response, ServerFrame, ServerMessage, StaffSelf, PROTOCOL_VERSION,
};
use rand::RngCore;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{ServiceError, ServiceResult};
use crate::intake::abuse::SourceKey;
use crate::intake::StaffSession;
use crate::mailbox::LiveEnvelope;
use crate::storage::{ClientId, EnvelopeRecord};
use crate::Services;

static CONNECTION_IDS: AtomicU64 = AtomicU64::new(1);

/// Why the connection loop ended: the close code and reason sent.
struct Closing(u16, &'static str);

fn envelope_of(seq: u64, r: &EnvelopeRecord) -> Envelope {
    Envelope {
        seq,
        group_id: r.group_id.clone().into(),
        kind: r.kind,
        epoch: r.epoch,
        message: r.message.clone().into(),
        ratchet_tree: (!r.ratchet_tree.is_empty()).then(|| r.ratchet_tree.clone().into()),
        received_at: r.received_at,
    }
}

fn frame(msg: ServerMessage) -> Message {
    Message::Binary(
        encode_server_frame(&ServerFrame {
            v: PROTOCOL_VERSION,
            msg,
        })
        .into(),
    )
}

fn error_frame(id: Option<u64>, e: &ServiceError) -> Message {
    frame(ServerMessage::Error {
        id,
        code: e.code,
        message: e.message.clone(),
        current_epoch: e.current_epoch,
        retry_after_secs: e.details.as_ref().and_then(|d| d.retry_after_secs),
        pow: e.details.as_ref().and_then(|d| d.pow.clone()),
        help: e.details.as_ref().and_then(|d| d.help.clone()),
    })
}

/// Bytes a message occupies while queued.
fn queued_len(msg: &Message) -> usize {
    match msg {
        Message::Binary(b) => b.len(),
        Message::Text(t) => t.len(),
        Message::Ping(b) | Message::Pong(b) => b.len(),
        Message::Close(_) => 2,
    }
}

fn response(id: u64, result: Response) -> Message {
    frame(ServerMessage::Response { id, result })
}

/// The outgoing side: a queue drained by the socket-writing task, bounded
/// both in frames and in bytes.
#[derive(Clone)]
struct Outbox {
    /// Boxed: a tokio channel allocates its first block of 32 slots at
    /// creation, and an idle connection should not pay 32 whole messages.
    tx: mpsc::Sender<Box<Message>>,
    /// Bytes queued and not yet written to the socket.
    queued_bytes: Arc<AtomicUsize>,
    /// Past this many queued bytes the client is not reading: close it.
    max_bytes: usize,
    /// Notified when the queue overflowed.
    overflow: Arc<Notify>,
    /// Notified when the queue drained below half, so pushing resumes.
    drained: Arc<Notify>,
}

impl Outbox {
    fn send(&self, msg: Message) {
        let len = queued_len(&msg);
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.max_bytes || self.tx.try_send(Box::new(msg)).is_err() {
            self.overflow.notify_one();
        }
    }

    /// Pushes pause while half the byte budget is in use, leaving the other
    /// half for answers.
    fn has_room_for_pushes(&self) -> bool {
        self.push_room_bytes() > 0
    }

    /// Bytes pushes may still queue.
    fn push_room_bytes(&self) -> usize {
        (self.max_bytes / 2).saturating_sub(self.queued_bytes.load(Ordering::Relaxed))
    }
}

/// Push state of a subscribed connection.
struct Push {
    /// Seq of the next envelope to push.
    next: u64,
    /// Everything up to here has been acked (or was skipped by `after`).
    acked: u64,
}

/// One clock for every connection's rate limiters: making a clock asks the
/// CPU about its timestamp counter (`cpuid`, which traps to the hypervisor
/// in a VM), and three per connection showed up in a reconnect storm's
/// profile.
static LIMITER_CLOCK: std::sync::LazyLock<QuantaClock> = std::sync::LazyLock::new(QuantaClock::default);

fn per_connection_limiter(quota: Quota) -> DefaultDirectRateLimiter {
    RateLimiter::direct_with_clock(quota, LIMITER_CLOCK.clone())
}

struct Session {
    client: ClientId,
    connection_id: u64,
    /// For rooms that start pushing to this connection after it
    /// authenticated (a circle it creates or asks to join).
    notices: crate::intake::Notifier,
    /// Set for a staff session; visitors and other anonymous clients have none.
    staff: Option<StaffSession>,
    /// The salted hash of the client's address (memory only).
    source: Option<SourceKey>,
    /// The proof-of-work puzzle this connection was last given.
    pow: Option<parasol_protocol::PowChallenge>,
    /// Anonymous connections send at a bounded rate.
    frames: Option<DefaultDirectRateLimiter>,
    push: Option<Push>,
    claims: DefaultDirectRateLimiter,
    /// Commits are validated with public-key operations and reach every
    /// member: a member may not flood a group with them.
    commits: DefaultDirectRateLimiter,
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
    let (mut sink, mut stream) = socket.split();
    let queue = window as usize + inflight_limit + 64;
    let (tx, mut rx) = mpsc::channel::<Box<Message>>(queue);
    let outbox = Outbox {
        tx,
        queued_bytes: Arc::new(AtomicUsize::new(0)),
        max_bytes: config.connections.max_send_queue_bytes,
        overflow: Arc::new(Notify::new()),
        drained: Arc::new(Notify::new()),
    };
    let (queued, drained, half) = (
        outbox.queued_bytes.clone(),
        outbox.drained.clone(),
        outbox.max_bytes / 2,
    );
    // A close that cannot wait behind a full queue (a slow consumer's).
    let (close_now, mut close_now_rx) = tokio::sync::oneshot::channel::<Message>();
    let stall = Duration::from_secs(config.connections.write_stall_secs);
    let stalled = outbox.overflow.clone();
    let mut writer = tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                biased;
                Ok(close) = &mut close_now_rx => {
                    let _ = tokio::time::timeout(stall, sink.send(close)).await;
                    break;
                }
                msg = rx.recv() => match msg {
                    Some(msg) => *msg,
                    None => break,
                },
            };
            let is_close = matches!(msg, Message::Close(_));
            let len = queued_len(&msg);
            // A client that keeps the socket open (even with pings) but
            // never reads would otherwise pin this connection's buffers.
            // Almost every write completes at once; only one that waits on
            // a full socket gets a deadline (a timer per write is costly).
            let waited = {
                let mut send = std::pin::pin!(sink.send(msg));
                match futures_util::poll!(send.as_mut()) {
                    std::task::Poll::Ready(r) => Waited::Sent(Ok(r)),
                    std::task::Poll::Pending => tokio::select! {
                        biased;
                        Ok(close) = &mut close_now_rx => Waited::CloseNow(close),
                        r = tokio::time::timeout(stall, send) => Waited::Sent(r),
                    },
                }
            };
            let sent = match waited {
                Waited::Sent(r) => r,
                Waited::CloseNow(close) => {
                    let _ = tokio::time::timeout(stall, sink.send(close)).await;
                    break;
                }
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    stalled.notify_one(); // ends the connection as a slow consumer
                    break;
                }
            }
            if is_close {
                break;
            }
            let before = queued.fetch_sub(len, Ordering::Relaxed);
            if before >= half && before - len < half {
                drained.notify_one();
            }
        }
        let _ = sink.close().await;
    });

    let mut nonce = [0u8; auth::NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    outbox.send(frame(ServerMessage::Challenge {
        nonce: nonce.to_vec().into(),
        versions: vec![PROTOCOL_VERSION],
    }));

    let closing = run(&services, connection_id, &mut stream, &outbox, &nonce, source).await;
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

/// How a write that had to wait ended.
enum Waited {
    Sent(Result<Result<(), axum::Error>, tokio::time::error::Elapsed>),
    /// A slow consumer's close came first.
    CloseNow(Message),
}

/// What the client sent.
enum Inbound {
    Frame(Vec<u8>),
    /// A WebSocket ping or pong: no request, but the client is alive.
    KeepAlive,
}

/// Read the next message, or say why the connection must close.
/// Cancel-safe: it holds nothing between reads.
async fn next_frame(stream: &mut futures_util::stream::SplitStream<WebSocket>) -> Result<Inbound, Closing> {
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

async fn run(
    services: &Arc<Services>,
    connection_id: u64,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    outbox: &Outbox,
    nonce: &[u8],
    source: Option<SourceKey>,
) -> Closing {
    let config = &services.config;
    let shutdown = services.shutdown.clone();

    // Phase 1: authenticate within the deadline.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.connections.auth_timeout_secs);
    let mut errors = 0u32;
    let (client, staff) = loop {
        let bytes = tokio::select! {
            _ = shutdown.cancelled() => return Closing(close::GOING_AWAY, "server shutting down"),
            _ = tokio::time::sleep_until(deadline) => return Closing(close::POLICY_VIOLATION, "authentication timeout"),
            r = next_frame(stream) => match r {
                Ok(Inbound::Frame(b)) => b,
                Ok(Inbound::KeepAlive) => continue,
                Err(c) => return c,
            },
        };
        let result = match decode_client_frame(&bytes, config.limits.max_frame_bytes) {
            Err(e) => Err((e.request_id, ServiceError::new(e.code, e.message))),
            Ok(ClientFrame {
                id,
                req: Request::Authenticate { proof },
                ..
            }) => match authenticate(services, &proof, nonce).await {
                Ok(client) => Ok((id, client)),
                Err(e) => {
                    outbox.send(error_frame(Some(id), &e));
                    return Closing(close::POLICY_VIOLATION, "authentication failed");
                }
            },
            Ok(f) => Err((
                Some(f.id),
                ServiceError::new(ErrorCode::NotAuthenticated, "authenticate first"),
            )),
        };
        match result {
            Ok((id, (client, staff))) => {
                let stock = match services.directory.stock(&client).await {
                    Ok(s) => s,
                    Err(e) => {
                        outbox.send(error_frame(Some(id), &e));
                        return Closing(close::INTERNAL_ERROR, "storage failure");
                    }
                };
                // A wrong head would make the client resynchronise its cursor.
                let head = match services.mailboxes.head(&client).await {
                    Ok(h) => h,
                    Err(_) => return Closing(close::INTERNAL_ERROR, "storage failure"),
                };
                outbox.send(response(
                    id,
                    Response::Authenticated {
                        client_id: client.to_vec().into(),
                        mailbox_head: head,
                        one_time_key_packages: stock.one_time,
                        last_resort_key_package: stock.last_resort,
                        staff: staff.as_ref().map(|s| StaffSelf {
                            account_id: s.session.account_id,
                            role: s.session.role,
                            display_name: s.session.display_name.clone(),
                            languages: s.session.languages.clone(),
                            max_chats: s.session.max_chats,
                            badge: s.session.badge.clone(),
                        }),
                    },
                ));
                break (client, staff);
            }
            Err((id, e)) => {
                outbox.send(error_frame(id, &e));
                errors += 1;
                if errors >= config.connections.max_errors_before_auth {
                    return Closing(close::POLICY_VIOLATION, "too many errors before authentication");
                }
            }
        }
    };

    // Phase 2: authenticated.
    let (live_tx, mut live_rx) = mpsc::channel::<Box<LiveEnvelope>>(256);
    let wake = Arc::new(Notify::new());
    let replaced = CancellationToken::new();
    let stock = services
        .mailboxes
        .subscribe(client, connection_id, live_tx, wake.clone(), replaced.clone());
    let claims_per_minute = NonZeroU32::new(config.limits.key_package_claims_per_minute).unwrap_or(NonZeroU32::MIN);
    // Pushes from the intake (ticket positions, offers, …).
    let (notices_tx, mut notices_rx) = mpsc::channel::<Box<ServerMessage>>(64);
    let staff_ended = staff.as_ref().map(|s| s.ended.clone()).unwrap_or_default();
    let session_expiry = staff.as_ref().map_or(Duration::from_secs(u64::from(u32::MAX)), |s| {
        Duration::from_secs(s.expires_at.saturating_sub(crate::time::now_secs()))
    });
    let session_expiry = tokio::time::Instant::now() + session_expiry;
    if let Some(s) = &staff {
        services.lifecycle.make_current(s.session.account_id, client);
        if let Err(e) = services
            .intake
            .staff_connected(s.session.clone(), connection_id, notices_tx.clone())
        {
            services.mailboxes.unsubscribe(&client, connection_id);
            outbox.send(error_frame(None, &e));
            return Closing(close::POLICY_VIOLATION, "this key cannot be used by this account");
        }
        services
            .escalations
            .staff_connected(&s.session, connection_id, notices_tx.clone());
        services
            .lifecycle
            .staff_authenticated(s.session.account_id, client, &s.session.badge)
            .await;
    } else {
        services
            .intake
            .visitor_connected(client, connection_id, notices_tx.clone());
    }
    services.circles.connected(client, connection_id, notices_tx.clone());
    services.lifecycle.connected(client, connection_id, notices_tx.clone());
    let frames_per_second = NonZeroU32::new(config.intake.frames_per_second).unwrap_or(NonZeroU32::MIN);
    let mut session = Session {
        client,
        connection_id,
        notices: notices_tx,
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
    services.circles.disconnected(&client, connection_id);
    services.lifecycle.disconnected(&client, connection_id);
    match &session.staff {
        Some(s) => {
            services.intake.staff_disconnected(s.account_id, connection_id);
            services.escalations.staff_disconnected(s.account_id, connection_id);
        }
        None => services.intake.visitor_disconnected(&client, connection_id),
    }
    // Let durable writes still in flight answer before the socket closes.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        inflight.acquire_many(config.connections.max_inflight_requests as u32),
    )
    .await;
    closing
}

/// A staff connection: the intake's view of the session, and the token
/// that ends the connection when the session is revoked.
struct StaffLogin {
    session: StaffSession,
    ended: CancellationToken,
    /// When the session expires (Unix seconds): the connection ends then.
    expires_at: u64,
}

/// Check the proof: the key signature always, and for staff the session.
async fn authenticate(
    services: &Services,
    proof: &AuthProof,
    nonce: &[u8],
) -> ServiceResult<(ClientId, Option<StaffLogin>)> {
    match proof {
        AuthProof::Ed25519Challenge { public_key, signature } => {
            let client = verify(public_key, signature, nonce)?;
            // A staff key works only with a live staff session: a disabled
            // or logged-out counsellor must not come back "anonymously".
            if services.intake.is_staff_client(&client) {
                return Err(ServiceError::new(
                    ErrorCode::AuthenticationFailed,
                    "this key belongs to a staff account; authenticate with a staff session",
                ));
            }
            Ok((client, None))
        }
        AuthProof::StaffSession {
            token,
            public_key,
            signature,
        } => {
            let client = verify(public_key, signature, nonce)?;
            let login = staff_login(services, token, client).await?;
            Ok((client, Some(login)))
        }
    }
}

fn verify(public_key: &Bytes, signature: &Bytes, nonce: &[u8]) -> ServiceResult<ClientId> {
    let failed = || ServiceError::new(ErrorCode::AuthenticationFailed, "signature does not verify");
    let key_bytes: ClientId = public_key.0.as_slice().try_into().map_err(|_| failed())?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| failed())?;
    let signature = Signature::from_slice(&signature.0).map_err(|_| failed())?;
    key.verify_strict(&auth::auth_transcript(nonce, &key_bytes), &signature)
        .map_err(|_| failed())?;
    Ok(key_bytes)
}

/// Check a staff session token; the connection's key becomes the staff
/// member's MLS identity for this session, with a badge the server signs.
async fn staff_login(services: &Services, token: &str, client: ClientId) -> ServiceResult<StaffLogin> {
    let info = services
        .staff
        .authenticate_session(token)
        .await
        .map_err(|_| ServiceError::new(ErrorCode::AuthenticationFailed, "the staff session is not valid"))?;
    let owner = services.intake.staff_account_of(&client);
    if owner.is_some_and(|a| a != info.account_id) || services.lifecycle.is_revoked(&client) {
        return Err(ServiceError::new(
            ErrorCode::AuthenticationFailed,
            "this key cannot be used by this account",
        ));
    }
    let account_tag = services.attestor.account_tag(info.account_id);
    let attestation = services
        .attestor
        .attest(&client, info.role, &info.display_name, info.expires_at, &account_tag);
    let badge = parasol_protocol::StaffBadge {
        display_name: info.display_name.clone(),
        role: info.role,
        signature_key: Bytes(client.to_vec()),
        expires_at: info.expires_at,
        attestation: Bytes(attestation.to_vec()),
        account_tag: Bytes(account_tag.to_vec()),
    };
    Ok(StaffLogin {
        session: StaffSession {
            account_id: info.account_id,
            role: info.role,
            display_name: info.display_name,
            languages: info.languages,
            max_chats: u32::from(info.max_concurrent_chats),
            badge,
            client,
        },
        ended: info.cut_off,
        expires_at: info.expires_at,
    })
}

fn internal(_: impl std::fmt::Display) -> Closing {
    Closing(close::INTERNAL_ERROR, "storage failure")
}

/// A live envelope: push it if it is the next one, otherwise read the gap.
async fn on_live(
    services: &Services,
    session: &mut Session,
    outbox: &Outbox,
    live: LiveEnvelope,
) -> Result<(), Closing> {
    let window = services.config.limits.push_window;
    let Some(push) = session.push.as_mut() else {
        return Ok(());
    };
    if live.seq == push.next && push.next - 1 - push.acked < window && outbox.has_room_for_pushes() {
        outbox.send(frame(ServerMessage::Envelope {
            envelope: envelope_of(live.seq, &live.record),
        }));
        push.next += 1;
        Ok(())
    } else if live.seq > push.next {
        pump(services, session, outbox).await
    } else {
        Ok(())
    }
}

/// Push stored envelopes from `next` while the window allows.
async fn pump(services: &Services, session: &mut Session, outbox: &Outbox) -> Result<(), Closing> {
    let window = services.config.limits.push_window;
    let Some(push) = session.push.as_mut() else {
        return Ok(());
    };
    loop {
        let room = window.saturating_sub(push.next - 1 - push.acked);
        // Page by the bytes left in the push half of the send budget, so a
        // reading client is never pushed past it.
        let page_bytes = outbox.push_room_bytes();
        if room == 0 || page_bytes == 0 {
            return Ok(()); // resumed by an ack or by the outbox draining
        }
        let batch = services
            .mailboxes
            .read(&session.client, push.next - 1, room.min(256) as usize, page_bytes)
            .await
            .map_err(internal)?;
        if batch.is_empty() {
            return Ok(());
        }
        for (seq, record) in batch {
            outbox.send(frame(ServerMessage::Envelope {
                envelope: envelope_of(seq, &record),
            }));
            push.next = seq + 1;
        }
    }
}

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
    if let Some(e) = storage_refusal(services, session, &frame_in.req, bytes.len()) {
        outbox.send(error_frame(Some(id), &e));
        return Ok(());
    }
    let result = dispatch(services, session, outbox, inflight, id, frame_in.req).await;
    match result {
        Ok(Some(r)) => outbox.send(response(id, r)),
        Ok(None) => {} // answered later, after durability
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

/// Requests that store something new are charged their frame's size
/// against the anonymous byte quotas (staff: none), and refused below the
/// disk's free-space floor; every other request (reads, acks, leaving) goes
/// on. See `storage/budget.rs`.
fn storage_refusal(services: &Services, session: &Session, req: &Request, frame_bytes: usize) -> Option<ServiceError> {
    let stores = matches!(
        req,
        Request::PublishKeyPackages { .. }
            | Request::CreateGroup { .. }
            | Request::SendCommit { .. }
            | Request::SendMessage { .. }
            | Request::RequestChat { .. }
    );
    if !stores {
        return None;
    }
    let anonymous = session.staff.is_none();
    let refusal = services
        .budgets
        .charge(&session.client, session.source, anonymous, frame_bytes as u64)
        .err()?;
    let (code, message, retry_after_secs) = match refusal {
        crate::storage::budget::Refusal::Quota { retry_after_secs } => {
            services.metrics.quota_refusals_total.inc();
            (
                ErrorCode::QuotaExceeded,
                "you have stored as much as you may for now; retry later",
                retry_after_secs,
            )
        }
        crate::storage::budget::Refusal::DiskLow => {
            services.metrics.storage_full_refusals_total.inc();
            (
                ErrorCode::StorageFull,
                "the server is low on disk space and stores nothing new for now; retry later",
                60,
            )
        }
    };
    Some(
        ServiceError::new(code, message).with_details(crate::error::RefusalDetails {
            retry_after_secs: Some(retry_after_secs),
            pow: None,
            // Every refusal a visitor can get says where else to turn.
            help: Some(services.intake.help(crate::time::now_secs())),
        }),
    )
}

/// Answer a request now (`Some`), or arrange for it to be answered once
/// durable (`None`).
async fn dispatch(
    services: &Arc<Services>,
    session: &mut Session,
    outbox: &Outbox,
    inflight: &Arc<Semaphore>,
    id: u64,
    req: Request,
) -> ServiceResult<Option<Response>> {
    let limits = &services.config.limits;
    let client = session.client;
    let writes = matches!(
        req,
        Request::PublishKeyPackages { .. }
            | Request::CreateGroup { .. }
            | Request::SendCommit { .. }
            | Request::SendMessage { .. }
    );
    if writes && services.shutdown.is_cancelled() {
        return Err(ServiceError::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down; reconnect later",
        ));
    }
    match req {
        Request::Authenticate { .. } => Err(ServiceError::new(
            ErrorCode::AlreadyAuthenticated,
            "this connection is authenticated",
        )),
        Request::Ping => Ok(Some(Response::Pong)),
        Request::PublishKeyPackages { key_packages, replace } => {
            let stock = services
                .directory
                .publish(&client, &key_packages, replace, requester(session))
                .await?;
            if let Some(s) = &session.staff {
                // A new key of hers may now be brought into her chats.
                services.lifecycle.staff_published(s.account_id, client, &s.badge).await;
            }
            Ok(Some(Response::KeyPackagesPublished {
                one_time: stock.one_time,
                last_resort: stock.last_resort,
            }))
        }
        Request::ClaimKeyPackage { client_id } => {
            if session.claims.check().is_err() {
                return Err(ServiceError::new(
                    ErrorCode::LimitExceeded,
                    "too many key-package claims; slow down",
                ));
            }
            // Staff keys are claimed through the intake (transfers, sealed
            // team messages), not by anyone who learns one.
            if session.staff.is_none() {
                if let Ok(target) = ClientId::try_from(client_id.0.as_slice()) {
                    if services.intake.is_staff_client(&target) {
                        return Err(ServiceError::new(
                            ErrorCode::Forbidden,
                            "staff key packages are not claimable",
                        ));
                    }
                }
            }
            let claimed = services.directory.claim(&client_id.0).await?;
            if let Ok(owner) = ClientId::try_from(client_id.0.as_slice()) {
                services
                    .mailboxes
                    .notify_owner(&owner, claimed.owner_stock.one_time, claimed.owner_stock.last_resort);
            }
            Ok(Some(Response::KeyPackage {
                key_package: claimed.key_package.into(),
                last_resort: claimed.last_resort,
            }))
        }
        Request::CreateGroup {
            group_info,
            ratchet_tree,
        } => {
            let accepted = services
                .delivery
                .create_group(client, requester(session), &group_info.0, &ratchet_tree.0)
                .await?;
            answer_when_durable(services, outbox, inflight, id, accepted, |(group_id, epoch)| {
                Response::GroupCreated {
                    group_id: group_id.into(),
                    epoch,
                }
            })
            .await
        }
        Request::SendCommit {
            commit,
            welcome,
            group_info,
            ratchet_tree,
        } => {
            if session.commits.check().is_err() {
                return Err(ServiceError::new(
                    ErrorCode::LimitExceeded,
                    "too many commits; slow down",
                ));
            }
            let accepted = services
                .delivery
                .commit(
                    client,
                    requester(session),
                    &commit.0,
                    welcome.as_ref().map(|b| b.0.as_slice()),
                    group_info.as_ref().map(|b| b.0.as_slice()),
                    ratchet_tree.as_ref().map(|b| b.0.as_slice()),
                )
                .await?;
            services.metrics.commits_accepted_total.inc();
            answer_when_durable(services, outbox, inflight, id, accepted, |(group_id, epoch)| {
                Response::CommitAccepted {
                    group_id: group_id.into(),
                    epoch,
                }
            })
            .await
        }
        Request::SendMessage { message } => {
            let accepted = services.delivery.application_message(client, &message.0).await?;
            services.metrics.messages_accepted_total.inc();
            answer_when_durable(services, outbox, inflight, id, accepted, |(group_id, epoch)| {
                Response::MessageAccepted {
                    group_id: group_id.into(),
                    epoch,
                }
            })
            .await
        }
        Request::Subscribe { after } => {
            let head = services.mailboxes.head(&client).await?;
            if after > head {
                return Err(ServiceError::new(
                    ErrorCode::UnknownEnvelope,
                    format!("cursor {after} is beyond the mailbox head {head}"),
                ));
            }
            session.push = Some(Push {
                next: after + 1,
                acked: after,
            });
            // Answer first, so the client sees `subscribed` before the pushes.
            outbox.send(response(id, Response::Subscribed { head }));
            push_after_answer(services, session, outbox).await;
            Ok(None)
        }
        Request::FetchBacklog { after, limit } => {
            let limit = limit.clamp(1, limits.max_fetch_limit) as usize;
            // A page never exceeds the frame limit; `more` says there is more.
            let page_bytes = limits.max_frame_bytes / 2;
            let head = services.mailboxes.head(&client).await?;
            let entries = services.mailboxes.read(&client, after, limit, page_bytes).await?;
            let more = entries.last().is_some_and(|(seq, _)| *seq < head);
            let envelopes = entries.iter().map(|(seq, r)| envelope_of(*seq, r)).collect();
            Ok(Some(Response::Backlog { envelopes, more }))
        }
        Request::Ack { up_to } => {
            services.mailboxes.ack(&client, up_to).await.map_err(|e| match e {
                crate::mailbox::AckError::BeyondHead { .. } => {
                    ServiceError::new(ErrorCode::UnknownEnvelope, e.to_string())
                }
                crate::mailbox::AckError::Storage(e) => e.into(),
            })?;
            if let Some(push) = session.push.as_mut() {
                push.acked = push.acked.max(up_to.min(push.next - 1));
            }
            outbox.send(response(id, Response::Acked { up_to }));
            push_after_answer(services, session, outbox).await;
            Ok(None)
        }
        Request::ListGroups => Ok(Some(Response::Groups {
            groups: services.delivery.list_groups(&client).await,
        })),
        req @ (Request::CreateCircle { .. }
        | Request::ListCircles
        | Request::CreateInvitation { .. }
        | Request::ListInvitations { .. }
        | Request::RevokeInvitation { .. }
        | Request::PreviewInvitation { .. }
        | Request::JoinCircle { .. }
        | Request::JoinRequests { .. }
        | Request::DeclineJoin { .. }
        | Request::SetMuted { .. }
        | Request::SetModerator { .. }
        | Request::LeaveCircle { .. }
        | Request::CircleRoster { .. }
        | Request::CloseCircle { .. }) => circle_request(services, session, req).await.map(Some),
        req => intake_request(services, session, req).await.map(Some),
    }
}

/// Whose pool and budget heavy validation for this session draws on.
fn requester(session: &Session) -> crate::validation::Requester {
    crate::validation::Requester {
        staff: session.staff.is_some(),
        source: session.source,
    }
}

fn staff_only(session: &Session) -> ServiceResult<u64> {
    session
        .staff
        .as_ref()
        .map(|s| s.account_id)
        .ok_or_else(|| ServiceError::new(ErrorCode::Forbidden, "staff only"))
}

fn visitors_only(session: &Session) -> ServiceResult<()> {
    match session.staff {
        None => Ok(()),
        Some(_) => Err(ServiceError::new(ErrorCode::Forbidden, "for visitors")),
    }
}

/// The intake's operations: visitors' tickets and staff's shifts and chats.
async fn intake_request(services: &Arc<Services>, session: &mut Session, req: Request) -> ServiceResult<Response> {
    let intake = &services.intake;
    let client = session.client;
    match req {
        Request::IntakeInfo => Ok(intake.info(&mut session.pow)),
        Request::RequestChat {
            language,
            topic,
            urgent,
            key_packages,
            pow,
        } => {
            visitors_only(session)?;
            let ticket = intake
                .request_chat(
                    client,
                    session.source,
                    &mut session.pow,
                    language,
                    topic,
                    urgent,
                    key_packages,
                    pow,
                )
                .await?;
            Ok(Response::Ticket { ticket })
        }
        Request::CancelTicket { ticket_id } => {
            visitors_only(session)?;
            intake.cancel(client, ticket_id).await?;
            Ok(Response::TicketCancelled { ticket_id })
        }
        Request::ResumeTicket {
            resume_secret,
            key_packages,
        } => {
            visitors_only(session)?;
            let ticket = intake.resume(client, &resume_secret.0, key_packages).await?;
            Ok(Response::Ticket { ticket })
        }
        Request::TeamKeyPackages => {
            visitors_only(session)?;
            Ok(Response::TeamKeyPackages {
                key_packages: intake.team_key_packages(client, session.source).await?,
            })
        }
        Request::LeaveTeamMessage { group_id, language } => {
            visitors_only(session)?;
            let delivered_to = intake.leave_team_message(client, group_id.0.clone(), language).await?;
            Ok(Response::TeamMessageLeft { group_id, delivered_to })
        }
        Request::VisitorLeaving { quick_exit } => {
            visitors_only(session)?;
            intake.visitor_leaving(&client, quick_exit)?;
            Ok(Response::LeavingNoted)
        }
        Request::SetShift { state, handover } => intake.set_shift(staff_only(session)?, state, handover).await,
        Request::QueueView => Ok(Response::Queue {
            tickets: intake.queue_view(staff_only(session)?)?,
        }),
        Request::AcceptTicket { ticket_id } => intake.accept(staff_only(session)?, ticket_id).await,
        Request::DeclineOffer { ticket_id } => {
            intake.decline(staff_only(session)?, ticket_id)?;
            Ok(Response::OfferDeclined { ticket_id })
        }
        Request::AttachChat { ticket_id, group_id } => {
            intake
                .attach(staff_only(session)?, client, ticket_id, group_id.0.clone())
                .await?;
            Ok(Response::ChatAttached { ticket_id, group_id })
        }
        Request::TransferChat { group_id, to } => intake.transfer(staff_only(session)?, group_id.0, to).await,
        Request::CloseChat { group_id, tag } => {
            intake.close(staff_only(session)?, group_id.0.clone(), tag).await?;
            Ok(Response::ChatClosed { group_id })
        }
        Request::BlockVisitor {
            ticket_id,
            duration_secs,
            reason,
        } => {
            let until = intake
                .block(staff_only(session)?, ticket_id, duration_secs, &reason)
                .await?;
            Ok(Response::Blocked { ticket_id, until })
        }
        Request::Board => intake.board(staff_only(session)?),
        Request::TeamMessages => Ok(Response::TeamMessages {
            messages: intake.team_messages(staff_only(session)?)?,
        }),
        Request::TakeTeamMessage { group_id } => {
            intake
                .take_team_message(staff_only(session)?, group_id.0.clone())
                .await?;
            Ok(Response::TeamMessageTaken { group_id })
        }
        Request::RescueChat { group_id, to } => intake.rescue(staff_only(session)?, group_id.0, to).await,
        Request::Escalate { .. }
        | Request::SetDuty { .. }
        | Request::EscalationQueue
        | Request::AcceptEscalation { .. }
        | Request::ResolveEscalation { .. }
        | Request::Sos { .. } => escalation_request(services, session, req).await,
        Request::ChatFeedback { answer } => {
            visitors_only(session)?;
            intake.feedback(client, answer)?;
            Ok(Response::FeedbackRecorded)
        }
        Request::Authenticate { .. }
        | Request::Ping
        | Request::PublishKeyPackages { .. }
        | Request::ClaimKeyPackage { .. }
        | Request::CreateGroup { .. }
        | Request::SendCommit { .. }
        | Request::SendMessage { .. }
        | Request::Subscribe { .. }
        | Request::FetchBacklog { .. }
        | Request::Ack { .. }
        | Request::ListGroups
        | Request::CreateCircle { .. }
        | Request::ListCircles
        | Request::CreateInvitation { .. }
        | Request::ListInvitations { .. }
        | Request::RevokeInvitation { .. }
        | Request::PreviewInvitation { .. }
        | Request::JoinCircle { .. }
        | Request::JoinRequests { .. }
        | Request::DeclineJoin { .. }
        | Request::SetMuted { .. }
        | Request::SetModerator { .. }
        | Request::LeaveCircle { .. }
        | Request::CircleRoster { .. }
        | Request::CloseCircle { .. } => Err(ServiceError::internal()), // handled by dispatch
    }
}

/// Peer support circles: moderators' and members' operations.
async fn circle_request(services: &Arc<Services>, session: &mut Session, req: Request) -> ServiceResult<Response> {
    let circles = &services.circles;
    let client = session.client;
    let listen = Some((session.connection_id, session.notices.clone()));
    match req {
        Request::CreateCircle {
            group_id,
            name,
            language,
            topic,
            auto_approve,
        } => {
            let staff = session
                .staff
                .as_ref()
                .ok_or_else(|| ServiceError::new(ErrorCode::Forbidden, "counsellors and supervisors create circles"))?;
            let circle = circles
                .create(staff, listen, group_id.0, &name, &language, &topic, auto_approve)
                .await?;
            Ok(Response::Circle { circle })
        }
        Request::ListCircles => Ok(Response::Circles {
            circles: circles.list(&client).await,
        }),
        Request::CreateInvitation {
            circle_id,
            expires_in_secs,
            max_uses,
        } => Ok(Response::Invitation {
            invitation: circles
                .create_invitation(&client, circle_id, expires_in_secs, max_uses)
                .await?,
        }),
        Request::ListInvitations { circle_id } => Ok(Response::Invitations {
            invitations: circles.list_invitations(&client, circle_id)?,
        }),
        Request::RevokeInvitation {
            circle_id,
            invitation_id,
        } => {
            circles.revoke_invitation(&client, circle_id, invitation_id).await?;
            Ok(Response::InvitationRevoked { invitation_id })
        }
        Request::PreviewInvitation { code } => Ok(Response::InvitationPreview {
            preview: circles.preview(session.source, &code)?,
        }),
        Request::JoinCircle {
            code,
            display_name,
            key_package,
        } => {
            let (circle_id, request_id) = circles
                .join(client, session.source, listen, &code, &display_name, key_package.0)
                .await?;
            Ok(Response::JoinRequested { circle_id, request_id })
        }
        Request::JoinRequests { circle_id } => Ok(Response::JoinRequests {
            requests: circles.join_requests(&client, circle_id)?,
        }),
        Request::DeclineJoin { circle_id, request_id } => {
            circles.decline(&client, circle_id, request_id).await?;
            Ok(Response::JoinDeclined { request_id })
        }
        Request::SetMuted {
            circle_id,
            client_id,
            muted,
        } => {
            circles.set_muted(&client, circle_id, &client_id.0, muted).await?;
            Ok(Response::MemberMuted {
                circle_id,
                client_id,
                muted,
            })
        }
        Request::SetModerator {
            circle_id,
            client_id,
            moderator,
        } => {
            circles
                .set_moderator(&client, circle_id, &client_id.0, moderator)
                .await?;
            Ok(Response::ModeratorSet {
                circle_id,
                client_id,
                moderator,
            })
        }
        Request::CircleRoster { circle_id } => Ok(Response::CircleRoster {
            circle_id,
            members: circles.roster(&client, circle_id).await?,
        }),
        Request::LeaveCircle { circle_id } => {
            circles.leave(&client, circle_id).await?;
            Ok(Response::CircleLeft { circle_id })
        }
        Request::CloseCircle { circle_id } => {
            circles.close(&client, circle_id).await?;
            Ok(Response::CircleClosed { circle_id })
        }
        _ => Err(ServiceError::internal()), // routed here only for the above
    }
}

/// Escalation to the crisis line, responders' duty, and visitors' SOS.
async fn escalation_request(services: &Arc<Services>, session: &mut Session, req: Request) -> ServiceResult<Response> {
    let escalations = &services.escalations;
    match req {
        Request::Escalate { escalation } => {
            let account = staff_only(session)?;
            let escalation = escalations.escalate(account, &session.client, escalation).await?;
            Ok(Response::Escalated { escalation })
        }
        Request::SetDuty { state } => escalations.set_duty(staff_only(session)?, state).await,
        Request::EscalationQueue => Ok(Response::Escalations {
            escalations: escalations.queue(staff_only(session)?)?,
        }),
        Request::AcceptEscalation { escalation_id } => Ok(Response::EscalationAccepted {
            escalation: escalations.accept(staff_only(session)?, escalation_id).await?,
        }),
        Request::ResolveEscalation { escalation_id, outcome } => Ok(Response::EscalationResolved {
            escalation: escalations
                .resolve(staff_only(session)?, escalation_id, outcome)
                .await?,
        }),
        Request::Sos { ticket_id } => {
            visitors_only(session)?;
            escalations.sos(session.client, ticket_id).await
        }
        _ => Err(ServiceError::internal()),
    }
}

/// Push after an answer was already sent: a failure must not become a
/// second answer to the same request; the next wake-up retries.
async fn push_after_answer(services: &Services, session: &mut Session, outbox: &Outbox) {
    if pump(services, session, outbox).await.is_err() {
        tracing::error!("reading a mailbox failed");
    }
}

/// Spawn the wait for durability; the answer is sent when it is done.
async fn answer_when_durable<T: Send + 'static>(
    services: &Arc<Services>,
    outbox: &Outbox,
    inflight: &Arc<Semaphore>,
    id: u64,
    accepted: crate::delivery::Accepted<T>,
    to_response: impl FnOnce(T) -> Response + Send + 'static,
) -> ServiceResult<Option<Response>> {
    // Waiting here (not refusing) is the back-pressure on pipelining clients.
    let permit = inflight
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ServiceError::internal())?;
    let services = services.clone();
    let outbox = outbox.clone();
    tokio::spawn(async move {
        let msg = match services.delivery.finish(accepted).await {
            Ok(result) => response(id, to_response(result)),
            Err(e) => error_frame(Some(id), &e),
        };
        outbox.send(msg);
        drop(permit);
    });
    Ok(None)
}
