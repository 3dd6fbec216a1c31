//! Mailboxes: the queueing service. Every client has one ordered mailbox;
//! the delivery service appends to it through the mailbox writer, the
//! client's connection reads, pushes and acks it.
//!
//! This room owns its storage and its threads (`crate::storage` only opens
//! sled and lends it the vault and the durable flush):
//! - [`store`]: the mailbox trees, their reads, acks and retention;
//! - [`writer`]: the thread that appends envelopes (and group states) in
//!   durable rounds, [`rounds`] and [`journal`] its writes to sled;
//! - [`reaper`]: the thread that deletes acknowledged envelopes;
//! - [`recovery`]: the start-up check of every head;
//! - [`push`]: the push window of a subscribed connection.
//!
//! [`Mailboxes::open`] is the one place that wires these together.
//!
//! Live delivery is a hint: after a write is durable, the connection of each
//! recipient (if any) gets the new envelope on a bounded channel. When the
//! hint is lost (channel full, not yet subscribed) the connection reads the
//! gap from storage, so nothing depends on the hint arriving.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

pub mod journal;
pub mod push;
pub mod reaper;
pub mod recovery;
pub mod rounds;
pub mod store;
#[cfg(test)]
pub(crate) mod tests;
pub mod writer;

use crate::storage::{owner, ClientId, EnvelopeRecord, Storage, StorageError};
use reaper::AckJob;
pub use store::{AckOutcome, MailboxStore};
pub use writer::{MailboxIndex, WriteError, WriterConfig};
use writer::{WriteJob, WriterTask};

/// A new envelope for a connected recipient.
#[derive(Debug, Clone)]
pub struct LiveEnvelope {
    pub seq: u64,
    pub record: Arc<EnvelopeRecord>,
}

/// The one connection currently authenticated as a client.
struct Subscriber {
    connection_id: u64,
    /// Boxed, like every per-connection channel's items: the channel's
    /// first block of 32 slots is allocated up front for every connection.
    live: mpsc::Sender<Box<LiveEnvelope>>,
    /// Woken when a live envelope could not be queued, or the key-package
    /// stock changed: the connection then reads from storage.
    wake: Arc<Notify>,
    /// Key-package stock to report to the owner, set by claims.
    stock: Arc<Mutex<Option<(u32, bool)>>>,
    /// Cancelled when a newer connection of the same client replaces it.
    replaced: CancellationToken,
}

#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error("seq {up_to} was never assigned in this mailbox (head is {head})")]
    BeyondHead { up_to: u64, head: u64 },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub struct Mailboxes {
    store: MailboxStore,
    index: MailboxIndex,
    subscribers: Mutex<HashMap<ClientId, Subscriber>>,
    writer: mpsc::Sender<WriterTask>,
    /// Deletes acknowledged envelopes; its thread stops with this service.
    reaper: mpsc::Sender<AckJob>,
}

/// Acks queued for the reaper before `ack` waits: a connection's acks come
/// one per push window, so this covers a few thousand acking clients.
const REAPER_QUEUE: usize = 4096;

/// A durable write in progress; await it outside any lock.
pub struct PendingWrite {
    done: oneshot::Receiver<Result<Vec<Option<u64>>, WriteError>>,
    deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)>,
}

impl Mailboxes {
    /// Open the mailbox trees (with the start-up recovery, which may finish
    /// a group round: call before loading the groups) and start the writer
    /// and the reaper. Blocking: run at start-up, off the async workers.
    /// The writer stops, after a last flush, once the service is dropped;
    /// join the returned thread to wait for it.
    pub fn open(
        storage: &Storage,
        config: WriterConfig,
        queue_len: usize,
    ) -> Result<(Self, std::thread::JoinHandle<()>), StorageError> {
        let store = MailboxStore::open(storage)?;
        let index: MailboxIndex = Default::default();
        let (writer, thread) = writer::spawn(store.clone(), index.clone(), config, queue_len);
        Ok((Self::with_writer(store, index, writer), thread))
    }

    /// The service over a writer already started (tests give it a channel
    /// nobody reads).
    fn with_writer(store: MailboxStore, index: MailboxIndex, writer: mpsc::Sender<WriterTask>) -> Self {
        let (reaper, _thread) = reaper::spawn(store.clone(), index.clone(), REAPER_QUEUE);
        Mailboxes {
            store,
            index,
            subscribers: Mutex::new(HashMap::new()),
            writer,
            reaper,
        }
    }

    /// Queue a group-state change and its envelopes for the writer. Writes
    /// are applied in the order this is called, which is what keeps a
    /// group's envelopes in order: callers hold the group's lock while
    /// calling it. Group changes are never refused for a full mailbox: a
    /// member that misses a commit is lost to the group.
    pub async fn enqueue(
        &self,
        group: Option<(Vec<u8>, Option<Vec<u8>>)>,
        deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)>,
    ) -> Result<PendingWrite, WriteError> {
        self.send_job(group, deliveries, false).await
    }

    /// Queue application envelopes; refused whole if a mailbox is full.
    /// (`group` may carry a refreshed group record, written in the same
    /// step.)
    pub async fn enqueue_bounded(
        &self,
        group: Option<(Vec<u8>, Option<Vec<u8>>)>,
        deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)>,
    ) -> Result<PendingWrite, WriteError> {
        self.send_job(group, deliveries, true).await
    }

    /// Whether `client`'s mailbox holds its maximum.
    pub async fn is_full(&self, client: &ClientId, max: u64) -> Result<bool, StorageError> {
        Ok(self.meta(client).await?.len >= max)
    }

    /// A mailbox's position: from the index, or loaded from disk on the
    /// blocking pool the first time it is touched.
    async fn meta(&self, client: &ClientId) -> Result<writer::MailboxMeta, StorageError> {
        if let Some(meta) = self.index.lock().get(client) {
            return Ok(*meta);
        }
        let (storage, index, client) = (self.store.clone(), self.index.clone(), *client);
        owner::read(move || writer::mailbox_meta(&storage, &index, &client)).await
    }

    async fn send_job(
        &self,
        group: Option<(Vec<u8>, Option<Vec<u8>>)>,
        deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)>,
        bounded: bool,
    ) -> Result<PendingWrite, WriteError> {
        let (tx, rx) = oneshot::channel();
        let kept = deliveries.clone();
        self.writer
            .send(WriterTask::Write(WriteJob {
                group,
                deliveries,
                bounded,
                done: tx,
            }))
            .await
            .map_err(|_| WriteError::Storage("storage writer stopped".into()))?;
        Ok(PendingWrite {
            done: rx,
            deliveries: kept,
        })
    }

    /// Wait until a queued write is durable, then wake its recipients.
    pub async fn complete(&self, pending: PendingWrite) -> Result<(), WriteError> {
        let assigned = pending
            .done
            .await
            .map_err(|_| WriteError::Storage("storage writer stopped".into()))??;
        let subscribers = self.subscribers.lock();
        for (seq, (client, record)) in assigned.into_iter().zip(pending.deliveries) {
            let Some(seq) = seq else { continue }; // skipped: mailbox full
            if let Some(sub) = subscribers.get(&client) {
                // A full channel only means the connection reads from storage.
                if sub.live.try_send(Box::new(LiveEnvelope { seq, record })).is_err() {
                    sub.wake.notify_one();
                }
            }
        }
        Ok(())
    }

    /// Make `connection_id` the live connection of `client`, replacing (and
    /// cancelling) any older one.
    pub fn subscribe(
        &self,
        client: ClientId,
        connection_id: u64,
        live: mpsc::Sender<Box<LiveEnvelope>>,
        wake: Arc<Notify>,
        replaced: CancellationToken,
    ) -> Arc<Mutex<Option<(u32, bool)>>> {
        let stock = Arc::new(Mutex::new(None));
        let old = self.subscribers.lock().insert(
            client,
            Subscriber {
                connection_id,
                live,
                wake,
                stock: stock.clone(),
                replaced,
            },
        );
        if let Some(old) = old {
            if old.connection_id != connection_id {
                old.replaced.cancel();
            }
        }
        stock
    }

    /// Tell a connected owner its key-package stock after a claim.
    pub fn notify_owner(&self, owner: &ClientId, one_time: u32, last_resort: bool) {
        if let Some(sub) = self.subscribers.lock().get(owner) {
            *sub.stock.lock() = Some((one_time, last_resort));
            sub.wake.notify_one();
        }
    }

    pub fn unsubscribe(&self, client: &ClientId, connection_id: u64) {
        let mut subs = self.subscribers.lock();
        if subs.get(client).is_some_and(|s| s.connection_id == connection_id) {
            subs.remove(client);
        }
    }

    pub fn connected(&self) -> usize {
        self.subscribers.lock().len()
    }

    pub async fn head(&self, client: &ClientId) -> Result<u64, StorageError> {
        Ok(self.meta(client).await?.head)
    }

    /// Durable envelopes above `after`: at most `limit`, and at most
    /// `max_bytes` of payload (but always at least one if any is waiting).
    pub async fn read(
        &self,
        client: &ClientId,
        after: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, EnvelopeRecord)>, StorageError> {
        // The head in the index is published only after its round's flush.
        let durable_head = self.head(client).await?;
        if after >= durable_head {
            return Ok(Vec::new());
        }
        let (storage, client) = (self.store.clone(), *client);
        owner::read(move || storage.read_mailbox(&client, after, durable_head, limit, max_bytes)).await
    }

    /// Delete everything up to `up_to`. Acking an already deleted range is
    /// fine (acks are idempotent); acking past the head is an error. The
    /// reaper deletes soon after, beside the writer; reads by a cursor
    /// never return what is at or below it, deleted or not.
    pub async fn ack(&self, client: &ClientId, up_to: u64) -> Result<(), AckError> {
        let head = self.head(client).await?;
        if up_to > head {
            return Err(AckError::BeyondHead { up_to, head });
        }
        self.reaper
            .send(AckJob { client: *client, up_to })
            .await
            .map_err(|_| StorageError::WriterStopped)?;
        Ok(())
    }

    /// Ask the writer to forget index entries of empty mailboxes (they are
    /// loaded again from disk when next needed).
    pub fn evict_empty(&self) {
        // Skipped when the writer is busy; the next purge asks again.
        let _ = self.writer.try_send(WriterTask::EvictEmpty);
    }

    pub fn index_len(&self) -> usize {
        self.index.lock().len()
    }

    /// Delete a deleted group's envelopes from these clients' mailboxes.
    pub fn purge_group(&self, clients: &[ClientId], group_id: &[u8]) -> Result<usize, StorageError> {
        let mut total = 0;
        for client in clients {
            let n = self.store.purge_group_envelopes(client, group_id)?;
            if let Some(meta) = self.index.lock().get_mut(client) {
                meta.len = meta.len.saturating_sub(n as u64);
            }
            total += n;
        }
        Ok(total)
    }

    /// Delete envelopes older than `cutoff` (retention).
    pub fn purge_before(&self, cutoff: u64) -> Result<usize, StorageError> {
        let purged = self.store.purge_mailboxes_before(cutoff)?;
        let mut idx = self.index.lock();
        let mut total = 0;
        for (client, n) in purged {
            if let Some(meta) = idx.get_mut(&client) {
                meta.len = meta.len.saturating_sub(n as u64);
            }
            total += n;
        }
        Ok(total)
    }

    /// Destroy the storage keys of periods past retention at `now`; call
    /// after [`Self::purge_before`] deleted their envelopes.
    pub fn destroy_expired_keys(&self, now: u64) -> Result<usize, StorageError> {
        self.store.storage().destroy_expired_keys(now)
    }
}
