//! The WebSocket connection to a Parasol server: challenge/authentication,
//! request ids and matching answers to requests (they may come out of order),
//! and the stream of everything else the server sends (pushed envelopes,
//! key-package counts, errors without id, the close).
//!
//! A reader task demultiplexes incoming frames; a writer task serializes
//! outgoing frames and sends WebSocket pings so an idle client is not
//! dropped. The raw methods (`send_raw_frame`, `next_incoming`) exist so
//! tests can send deliberately bad input and look at what comes back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use parasol_protocol::{
    decode_server_frame, encode_client_frame, AuthProof, ClientFrame, ErrorCode, FrameError, Request, Response,
    ServerMessage, StaffSelf, PROTOCOL_VERSION,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use crate::error::{ClientError, RefusalDetails};
use crate::identity::Identity;
use crate::tls::TlsTrust;

/// Request ids stay below 2^53 so they survive JSON-minded peers.
const MAX_REQUEST_ID: u64 = (1 << 53) - 1;
/// Interval of WebSocket pings on an otherwise idle connection.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// Something the server sent that is not the answer to a pending request.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per frame, moved once
pub enum Incoming {
    /// A decoded frame (push, error without id, or an answer nobody waits for).
    Message(ServerMessage),
    /// A binary frame that did not decode.
    Undecodable(FrameError),
    /// The connection closed; `code` is the WebSocket close code, if any.
    Closed { code: Option<u16>, reason: String },
}

type Answer = Result<Response, ClientError>;
type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>;

#[derive(Debug, Clone, Default)]
struct CloseInfo {
    code: Option<u16>,
    reason: String,
}

/// What `authenticate` returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    pub client_id: Vec<u8>,
    pub mailbox_head: u64,
    pub one_time_key_packages: u32,
    pub last_resort_key_package: bool,
    /// For a staff session: the account, its languages and cap, and the
    /// badge the server signed for this connection's key.
    pub staff: Option<StaffSelf>,
}

/// One WebSocket connection.
pub struct Connection {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    next_id: AtomicU64,
    close_info: Arc<Mutex<Option<CloseInfo>>>,
    nonce: Vec<u8>,
    versions: Vec<u16>,
    request_timeout: Duration,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Connection {
    /// Open a WebSocket to `url` and wait for the server's challenge. The
    /// connection is not authenticated yet.
    pub async fn open(url: &str, timeout: Duration) -> Result<Connection, ClientError> {
        Self::open_with(url, &TlsTrust::default(), timeout).await
    }

    /// [`Connection::open`], trusting `tls` for a `wss://` URL.
    pub async fn open_with(url: &str, tls: &TlsTrust, timeout: Duration) -> Result<Connection, ClientError> {
        let connecting = tokio_tungstenite::connect_async_tls_with_config(url, None, false, Some(tls.connector()));
        let (ws, _) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout("websocket connect"))?
            .map_err(|e| ClientError::Connection(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();

        // The first frame must be the challenge.
        let (nonce, versions) = tokio::time::timeout(timeout, async {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        let frame = decode_server_frame(&b)
                            .map_err(|e| ClientError::Protocol(format!("bad first frame: {e}")))?;
                        return match frame.msg {
                            ServerMessage::Challenge { nonce, versions } => Ok((nonce.0, versions)),
                            other => Err(ClientError::Protocol(format!(
                                "expected a challenge, got {}",
                                other.type_name()
                            ))),
                        };
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return Err(ClientError::Closed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        })
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(ClientError::Connection(e.to_string())),
                    None => {
                        return Err(ClientError::Closed {
                            code: None,
                            reason: "closed before the challenge".into(),
                        })
                    }
                }
            }
        })
        .await
        .map_err(|_| ClientError::Timeout("challenge"))??;

        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let close_info = Arc::new(Mutex::new(None));
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Message>();

        let writer = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(KEEPALIVE);
            ticker.tick().await;
            loop {
                tokio::select! {
                    msg = out_rx.recv() => {
                        let Some(msg) = msg else { break };
                        let is_close = matches!(msg, Message::Close(_));
                        if sink.send(msg).await.is_err() || is_close {
                            break;
                        }
                    }
                    _ = ticker.tick() => {
                        if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = sink.close().await;
        });

        let reader = {
            let pending = pending.clone();
            let close_info = close_info.clone();
            tokio::spawn(async move {
                let closed = loop {
                    match stream.next().await {
                        Some(Ok(Message::Binary(b))) => match decode_server_frame(&b) {
                            Ok(frame) => route(&pending, &in_tx, frame.msg),
                            Err(e) => {
                                tracing::debug!(error = %e, "undecodable server frame");
                                let _ = in_tx.send(Incoming::Undecodable(e));
                            }
                        },
                        Some(Ok(Message::Close(frame))) => {
                            break CloseInfo {
                                code: frame.as_ref().map(|f| u16::from(f.code)),
                                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                            }
                        }
                        Some(Ok(Message::Text(_))) => {
                            tracing::debug!("ignoring a text frame from the server");
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            break CloseInfo {
                                code: None,
                                reason: e.to_string(),
                            }
                        }
                        None => {
                            break CloseInfo {
                                code: None,
                                reason: "connection ended".into(),
                            }
                        }
                    }
                };
                tracing::debug!(code = ?closed.code, "connection closed");
                if let Ok(mut c) = close_info.lock() {
                    *c = Some(closed.clone());
                }
                // Fail every request still waiting.
                if let Ok(mut p) = pending.lock() {
                    for (_, tx) in p.drain() {
                        let _ = tx.send(Err(ClientError::Closed {
                            code: closed.code,
                            reason: closed.reason.clone(),
                        }));
                    }
                }
                let _ = in_tx.send(Incoming::Closed {
                    code: closed.code,
                    reason: closed.reason,
                });
            })
        };

        Ok(Connection {
            out: out_tx,
            pending,
            incoming: in_rx,
            next_id: AtomicU64::new(1),
            close_info,
            nonce,
            versions,
            request_timeout: Duration::from_secs(30),
            reader,
            writer,
        })
    }

    /// Open and authenticate with `identity`.
    pub async fn connect(
        url: &str,
        identity: &Identity,
        timeout: Duration,
    ) -> Result<(Connection, Authenticated), ClientError> {
        Self::connect_as(url, identity, None, &TlsTrust::default(), timeout).await
    }

    /// Open and authenticate with `identity`, as staff when a session
    /// `token` (from the HTTPS login) is given.
    pub async fn connect_as(
        url: &str,
        identity: &Identity,
        staff_token: Option<&str>,
        tls: &TlsTrust,
        timeout: Duration,
    ) -> Result<(Connection, Authenticated), ClientError> {
        let conn = Connection::open_with(url, tls, timeout).await?;
        if !conn.versions.contains(&PROTOCOL_VERSION) {
            return Err(ClientError::Protocol(format!(
                "server speaks versions {:?}, this client speaks {PROTOCOL_VERSION}",
                conn.versions
            )));
        }
        let auth = match staff_token {
            Some(token) => conn.authenticate_staff(identity, token).await?,
            None => conn.authenticate(identity).await?,
        };
        Ok((conn, auth))
    }

    /// The challenge nonce the server sent.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// Protocol versions the server offered.
    pub fn versions(&self) -> &[u16] {
        &self.versions
    }

    /// How long `request` waits for an answer.
    pub fn set_request_timeout(&mut self, timeout: Duration) {
        self.request_timeout = timeout;
    }

    /// Answer the challenge with a signature of `identity`.
    pub async fn authenticate(&self, identity: &Identity) -> Result<Authenticated, ClientError> {
        let signature = identity.sign_challenge(&self.nonce);
        let proof = AuthProof::Ed25519Challenge {
            public_key: identity.client_id().to_vec().into(),
            signature: signature.to_vec().into(),
        };
        self.authenticate_with(identity, proof, false).await
    }

    /// Answer the challenge as staff: the session token from the login
    /// plus the same key signature, which binds `identity` to the account
    /// as its MLS identity for this device.
    pub async fn authenticate_staff(&self, identity: &Identity, token: &str) -> Result<Authenticated, ClientError> {
        let signature = identity.sign_challenge(&self.nonce);
        let proof = AuthProof::StaffSession {
            token: token.to_string(),
            public_key: identity.client_id().to_vec().into(),
            signature: signature.to_vec().into(),
        };
        self.authenticate_with(identity, proof, true).await
    }

    async fn authenticate_with(
        &self,
        identity: &Identity,
        proof: AuthProof,
        as_staff: bool,
    ) -> Result<Authenticated, ClientError> {
        match self.request(Request::Authenticate { proof }).await? {
            Response::Authenticated {
                client_id,
                mailbox_head,
                one_time_key_packages,
                last_resort_key_package,
                staff,
            } => {
                if client_id.0 != identity.client_id() {
                    return Err(ClientError::Protocol(
                        "server authenticated a different client id".into(),
                    ));
                }
                if as_staff != staff.is_some() {
                    return Err(ClientError::Protocol(
                        "the server's answer does not match the kind of session asked for".into(),
                    ));
                }
                // The badge visitors will check must name this very key, or
                // every chat I join would fail their check.
                if staff
                    .as_ref()
                    .is_some_and(|s| s.badge.signature_key.0 != identity.client_id())
                {
                    return Err(ClientError::Protocol("the server's badge names another key".into()));
                }
                Ok(Authenticated {
                    client_id: client_id.0,
                    mailbox_head,
                    one_time_key_packages,
                    last_resort_key_package,
                    staff,
                })
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.close_info.lock().map(|c| c.is_some()).unwrap_or(true) || self.out.is_closed()
    }

    fn closed_error(&self) -> ClientError {
        let info = self.close_info.lock().ok().and_then(|c| c.clone()).unwrap_or_default();
        ClientError::Closed {
            code: info.code,
            reason: info.reason,
        }
    }

    fn allocate_id(&self) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id >= MAX_REQUEST_ID {
            self.next_id.store(2, Ordering::Relaxed);
            1
        } else {
            id
        }
    }

    /// Send a request and register for its answer; returns the receiver.
    fn start(&self, req: Request) -> Result<(u64, oneshot::Receiver<Answer>), ClientError> {
        let id = self.allocate_id();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| ClientError::Protocol("pending map poisoned".into()))?
            .insert(id, tx);
        // The reader records the close before failing the waiting requests:
        // a request registered after that would wait for its timeout.
        if self.close_info.lock().map(|c| c.is_some()).unwrap_or(true) {
            self.forget(id);
            return Err(self.closed_error());
        }
        tracing::trace!(id, op = req.op_name(), "request");
        let frame = ClientFrame {
            v: PROTOCOL_VERSION,
            id,
            req,
        };
        if self
            .out
            .send(Message::Binary(encode_client_frame(&frame).into()))
            .is_err()
        {
            self.forget(id);
            return Err(self.closed_error());
        }
        Ok((id, rx))
    }

    fn forget(&self, id: u64) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(&id);
        }
    }

    /// Send a request and wait for its answer. A server `error` frame becomes
    /// [`ClientError::Server`].
    pub async fn request(&self, req: Request) -> Result<Response, ClientError> {
        let (id, rx) = self.start(req)?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(self.closed_error()),
            Err(_) => {
                self.forget(id);
                Err(ClientError::Timeout("response"))
            }
        }
    }

    /// Send a request without waiting for its answer (used for acks). The
    /// answer, when it comes, is dropped.
    pub fn send_and_forget(&self, req: Request) -> Result<(), ClientError> {
        let (_, rx) = self.start(req)?;
        drop(rx);
        Ok(())
    }

    /// Send a complete frame with a caller-chosen id. Its answer is not
    /// matched: it arrives through [`Connection::next_incoming`].
    pub fn send_frame(&self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.send_raw_frame(encode_client_frame(frame))
    }

    /// Send arbitrary bytes as one binary WebSocket frame. Whatever the
    /// server answers arrives through [`Connection::next_incoming`].
    pub fn send_raw_frame(&self, bytes: Vec<u8>) -> Result<(), ClientError> {
        self.out
            .send(Message::Binary(bytes.into()))
            .map_err(|_| self.closed_error())
    }

    /// Send a text frame (the protocol forbids them; for tests).
    pub fn send_text_frame(&self, text: &str) -> Result<(), ClientError> {
        self.out
            .send(Message::Text(text.into()))
            .map_err(|_| self.closed_error())
    }

    /// The next thing the server sent that is not an answer to a pending
    /// request, or `None` after `timeout`.
    pub async fn next_incoming(&mut self, timeout: Duration) -> Option<Incoming> {
        tokio::time::timeout(timeout, self.incoming.recv()).await.ok().flatten()
    }

    /// Like `next_incoming` but without waiting.
    pub fn try_next_incoming(&mut self) -> Option<Incoming> {
        self.incoming.try_recv().ok()
    }

    /// Whether anything is queued for `next_incoming`.
    pub fn has_incoming(&self) -> bool {
        !self.incoming.is_empty()
    }

    /// Close with code 1000 and wait (briefly) until the writer is done.
    pub async fn close(mut self) {
        let _ = self.out.send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        })));
        let writer = std::mem::replace(&mut self.writer, tokio::spawn(async {}));
        let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    }
}

/// Deliver an answer to its waiting request, or pass the frame on.
fn route(pending: &Pending, in_tx: &mpsc::UnboundedSender<Incoming>, msg: ServerMessage) {
    let id = match &msg {
        ServerMessage::Response { id, .. } => Some(*id),
        ServerMessage::Error { id: Some(id), .. } => Some(*id),
        _ => None,
    };
    let waiter = id.and_then(|id| pending.lock().ok().and_then(|mut p| p.remove(&id)));
    match (waiter, msg) {
        (Some(tx), ServerMessage::Response { result, .. }) => {
            let _ = tx.send(Ok(result));
        }
        (
            Some(tx),
            ServerMessage::Error {
                code,
                message,
                current_epoch,
                retry_after_secs,
                pow,
                help,
                ..
            },
        ) => {
            if tx
                .send(Err(ClientError::Server {
                    code,
                    message,
                    current_epoch,
                    details: RefusalDetails::boxed(retry_after_secs, pow, help),
                }))
                .is_err()
            {
                tracing::debug!(%code, "error answer to a request nobody waits for");
            }
        }
        (_, msg) => {
            let _ = in_tx.send(Incoming::Message(msg));
        }
    }
}

pub(crate) fn unexpected(resp: &Response) -> ClientError {
    // The variant name (Debug never shows content: `Bytes` prints lengths).
    let debug = format!("{resp:?}");
    let kind = debug.split([' ', '{', '(']).next().unwrap_or("?");
    ClientError::Protocol(format!("unexpected response `{kind}`"))
}

/// Convenience for callers matching on codes.
pub fn is_code(err: &ClientError, code: ErrorCode) -> bool {
    err.server_code() == Some(code)
}
