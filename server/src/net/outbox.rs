//! The outgoing side of a connection: one bounded queue drained by the
//! socket-writing task, and the frames that go into it.
//!
//! Everything written to the socket goes through the queue; a client that
//! does not read is disconnected rather than buffered without end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use parasol_protocol::{encode_server_frame, Envelope, Response, ServerFrame, ServerMessage, PROTOCOL_VERSION};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::error::ServiceError;
use crate::storage::EnvelopeRecord;

pub fn envelope_of(seq: u64, r: &EnvelopeRecord) -> Envelope {
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

pub fn frame(msg: ServerMessage) -> Message {
    Message::Binary(
        encode_server_frame(&ServerFrame {
            v: PROTOCOL_VERSION,
            msg,
        })
        .into(),
    )
}

pub fn error_frame(id: Option<u64>, e: &ServiceError) -> Message {
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

pub fn response(id: u64, result: Response) -> Message {
    frame(ServerMessage::Response { id, result })
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

/// The outgoing side: a queue drained by the socket-writing task, bounded
/// both in frames and in bytes.
#[derive(Clone)]
pub struct Outbox {
    /// Boxed: a tokio channel allocates its first block of 32 slots at
    /// creation, and an idle connection should not pay 32 whole messages.
    pub(super) tx: mpsc::Sender<Box<Message>>,
    /// Bytes queued and not yet written to the socket.
    queued_bytes: Arc<AtomicUsize>,
    /// Past this many queued bytes the client is not reading: close it.
    max_bytes: usize,
    /// Notified when the queue overflowed.
    pub(super) overflow: Arc<Notify>,
    /// Notified when the queue drained below half, so pushing resumes.
    pub(super) drained: Arc<Notify>,
}

impl Outbox {
    pub fn send(&self, msg: Message) {
        let len = queued_len(&msg);
        let queued = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if queued > self.max_bytes || self.tx.try_send(Box::new(msg)).is_err() {
            self.overflow.notify_one();
        }
    }

    /// Pushes pause while half the byte budget is in use, leaving the other
    /// half for answers.
    pub fn has_room_for_pushes(&self) -> bool {
        self.push_room_bytes() > 0
    }

    /// Bytes pushes may still queue.
    pub fn push_room_bytes(&self) -> usize {
        (self.max_bytes / 2).saturating_sub(self.queued_bytes.load(Ordering::Relaxed))
    }
}

/// How a write that had to wait ended.
enum Waited {
    Sent(Result<Result<(), axum::Error>, tokio::time::error::Elapsed>),
    /// A slow consumer's close came first.
    CloseNow(Message),
}

/// Make the outbox of a connection and spawn the task that writes it to
/// `sink`. `close_now` takes a close that cannot wait behind a full queue
/// (a slow consumer's).
pub(super) fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
    queue: usize,
    max_bytes: usize,
    stall: Duration,
) -> (Outbox, oneshot::Sender<Message>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Box<Message>>(queue);
    let outbox = Outbox {
        tx,
        queued_bytes: Arc::new(AtomicUsize::new(0)),
        max_bytes,
        overflow: Arc::new(Notify::new()),
        drained: Arc::new(Notify::new()),
    };
    let (queued, drained, half) = (
        outbox.queued_bytes.clone(),
        outbox.drained.clone(),
        outbox.max_bytes / 2,
    );
    let (close_now, mut close_now_rx) = oneshot::channel::<Message>();
    let stalled = outbox.overflow.clone();
    let writer = tokio::spawn(async move {
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
    (outbox, close_now, writer)
}
