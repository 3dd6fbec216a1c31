//! The baseline: a minimal axum WebSocket relay that forwards each binary
//! frame to the other connections of the same group. No MLS parsing, no
//! authentication, no limits beyond bounded queues. Two modes:
//! `memory` forwards at once; `sled` appends to a sled tree, flushes (one
//! flush per batch, like Parasol's group commit), then forwards. The sender
//! gets a one-byte frame when its frame is forwarded (after the flush in
//! `sled` mode), the counterpart of Parasol's `message_accepted`.
//!
//! `GET /ws?group=N` joins group N; with `&replay=1` (sled mode) the
//! group's stored frames are sent first, as a reconnecting client's backlog.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::sync::mpsc;

/// Frames queued for one connection before it counts as too slow and is
/// dropped (a bound, as every queue must have).
const OUTBOX_FRAMES: usize = 4096;
/// Frames one storage round takes at most.
const MAX_BATCH: usize = 1024;
/// The byte sent back to a sender once its frame is forwarded.
pub const ACK: u8 = 0xA0;
/// Same WebSocket buffer sizes as Parasol's defaults, so idle memory is
/// compared like for like.
const WS_BUFFER_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Memory,
    Sled,
}

type Outbox = mpsc::Sender<Bytes>;

struct Relay {
    mode: Mode,
    /// Connections per group: (connection id, its outbox).
    groups: Mutex<HashMap<u64, Vec<(u64, Outbox)>>>,
    store: Option<sled::Tree>,
    writer: Option<std::sync::mpsc::SyncSender<Persist>>,
    next_connection: AtomicU64,
}

/// A frame waiting for the storage writer.
struct Persist {
    group: u64,
    from: u64,
    frame: Bytes,
}

#[derive(serde::Deserialize)]
struct Join {
    group: u64,
    #[serde(default)]
    replay: u8,
}

impl Relay {
    /// Forward to every other connection of the group and acknowledge to the
    /// sender. A connection whose outbox is full is dropped.
    fn forward(&self, group: u64, from: u64, frame: &Bytes) {
        let mut groups = self.groups.lock();
        let Some(members) = groups.get_mut(&group) else { return };
        let ack = Bytes::from_static(&[ACK]);
        members.retain(|(id, outbox)| {
            let msg = if *id == from { ack.clone() } else { frame.clone() };
            outbox.try_send(msg).is_ok()
        });
    }

    fn join(&self, group: u64, id: u64, outbox: Outbox) {
        self.groups.lock().entry(group).or_default().push((id, outbox));
    }

    fn leave(&self, group: u64, id: u64) {
        let mut groups = self.groups.lock();
        if let Some(members) = groups.get_mut(&group) {
            members.retain(|(m, _)| *m != id);
            if members.is_empty() {
                groups.remove(&group);
            }
        }
    }
}

/// Run the baseline relay until killed. Prints `baseline listening on
/// http://ADDR` once it accepts connections.
pub async fn serve(mode: Mode, listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    let (store, writer) = match mode {
        Mode::Memory => (None, None),
        Mode::Sled => {
            let db = sled::open(&data_dir)?;
            let tree = db.open_tree("frames")?;
            let (tx, rx) = std::sync::mpsc::sync_channel::<Persist>(64 * 1024);
            (Some((db, tree, rx)), Some(tx))
        }
    };
    let relay = Arc::new(Relay {
        mode,
        groups: Mutex::new(HashMap::new()),
        store: store.as_ref().map(|(_, t, _)| t.clone()),
        writer,
        next_connection: AtomicU64::new(1),
    });
    if let Some((db, tree, rx)) = store {
        let relay = relay.clone();
        std::thread::Builder::new()
            .name("baseline-writer".into())
            .spawn(move || write_rounds(&relay, &db, &tree, rx))?;
    }
    let app = Router::new().route("/ws", get(websocket)).with_state(relay);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("baseline listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The storage writer: take what is queued (up to a batch), append it,
/// flush once, then forward. The same group commit Parasol's writer does.
fn write_rounds(relay: &Relay, db: &sled::Db, tree: &sled::Tree, rx: std::sync::mpsc::Receiver<Persist>) {
    let mut next_seq: HashMap<u64, u64> = HashMap::new();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut round = sled::Batch::default();
        for p in &batch {
            let seq = next_seq.entry(p.group).or_insert(0);
            *seq += 1;
            round.insert(&log_key(p.group, *seq)[..], p.frame.as_ref());
        }
        if let Err(e) = tree.apply_batch(round).and_then(|()| db.flush().map(drop)) {
            eprintln!("baseline: storage failed: {e}");
            std::process::exit(1);
        }
        for p in batch {
            relay.forward(p.group, p.from, &p.frame);
        }
    }
}

fn log_key(group: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&group.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

async fn websocket(State(relay): State<Arc<Relay>>, Query(join): Query<Join>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .on_upgrade(move |socket| connection(relay, join, socket))
}

async fn connection(relay: Arc<Relay>, join: Join, socket: WebSocket) {
    let id = relay.next_connection.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut rx) = mpsc::channel::<Bytes>(OUTBOX_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::Binary(frame)).await.is_err() {
                break;
            }
        }
    });
    if join.replay != 0 {
        if let Some(tree) = &relay.store {
            for entry in tree.scan_prefix(join.group.to_be_bytes()) {
                let Ok((_, frame)) = entry else { break };
                if outbox.send(Bytes::copy_from_slice(&frame)).await.is_err() {
                    break;
                }
            }
        }
    }
    relay.join(join.group, id, outbox);
    while let Some(Ok(msg)) = stream.next().await {
        let frame = match msg {
            Message::Binary(frame) => frame,
            Message::Close(_) => break,
            _ => continue,
        };
        match (&relay.writer, relay.mode) {
            (Some(writer), Mode::Sled) => {
                let persist = Persist {
                    group: join.group,
                    from: id,
                    frame,
                };
                // Blocking the reader is the back-pressure when storage lags.
                let sent = match writer.try_send(persist) {
                    Ok(()) => Ok(()),
                    Err(std::sync::mpsc::TrySendError::Full(p)) => tokio::task::block_in_place(|| writer.send(p)),
                    Err(std::sync::mpsc::TrySendError::Disconnected(_)) => break,
                };
                if sent.is_err() {
                    break;
                }
            }
            _ => relay.forward(join.group, id, &frame),
        }
    }
    relay.leave(join.group, id);
    writer.abort();
}
