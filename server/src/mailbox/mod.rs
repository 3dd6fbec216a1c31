//! Mailboxes: the queueing service. Every client has one ordered mailbox;
//! the delivery service appends to it through the storage writer, the
//! client's connection reads, pushes and acks it.
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

use crate::storage::reaper::{self, AckJob};
use crate::storage::writer::{self, MailboxIndex, WriteError, WriteJob, WriterTask};
use crate::storage::{owner, ClientId, EnvelopeRecord, Storage, StorageError};

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
    storage: Storage,
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
    pub fn new(storage: Storage, index: MailboxIndex, writer: mpsc::Sender<WriterTask>) -> Self {
        let (reaper, _thread) = reaper::spawn(storage.clone(), index.clone(), REAPER_QUEUE);
        Mailboxes {
            storage,
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
        let (storage, index, client) = (self.storage.clone(), self.index.clone(), *client);
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
        let (storage, client) = (self.storage.clone(), *client);
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
            let n = self.storage.purge_group_envelopes(client, group_id)?;
            if let Some(meta) = self.index.lock().get_mut(client) {
                meta.len = meta.len.saturating_sub(n as u64);
            }
            total += n;
        }
        Ok(total)
    }

    /// Delete envelopes older than `cutoff` (retention).
    pub fn purge_before(&self, cutoff: u64) -> Result<usize, StorageError> {
        let purged = self.storage.purge_mailboxes_before(cutoff)?;
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
        self.storage.destroy_expired_keys(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::writer::Round;

    fn record() -> EnvelopeRecord {
        crate::storage::tests::test_record()
    }

    /// Mailboxes over a fresh store in `dir`, with a writer and a reaper.
    fn with_writer(dir: &std::path::Path, max_mailbox_envelopes: u64) -> (Storage, Mailboxes) {
        let storage = Storage::open(dir, crate::storage::tests::test_keys(dir)).unwrap();
        let index: MailboxIndex = Default::default();
        let config = writer::WriterConfig {
            group_commit_delay: std::time::Duration::ZERO,
            max_jobs_per_round: 16,
            max_round_bytes: 1 << 20,
            max_mailbox_envelopes,
        };
        let (tx, _thread) = writer::spawn(storage.clone(), index.clone(), config, 16);
        (storage.clone(), Mailboxes::new(storage, index, tx))
    }

    /// Issue 24: an acknowledgement (an envelope write's answer, a state
    /// write's answer) comes only after sled's files were fsynced, not just
    /// after sled's flush (which is `sync_file_range` on Linux).
    #[tokio::test]
    async fn every_answer_waits_for_an_fsync_after_the_flush() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, mailboxes) = with_writer(dir.path(), 10);
        let before = storage.durable_syncs();
        let pending = mailboxes
            .enqueue(None, vec![([3u8; 32], Arc::new(record()))])
            .await
            .unwrap();
        mailboxes.complete(pending).await.unwrap();
        let after_envelope = storage.durable_syncs();
        assert!(after_envelope > before, "an envelope was acknowledged without an fsync");

        let tree = storage.db().open_tree("seam").unwrap();
        storage
            .owner()
            .write(move || -> Result<(), StorageError> {
                tree.insert("k", "v")?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(
            storage.durable_syncs() > after_envelope,
            "a state write was acknowledged without an fsync"
        );
    }

    /// Entries a round applied but has not yet flushed are invisible: after
    /// a crash their seqs would be handed out again.
    #[tokio::test]
    async fn reads_stop_at_the_durable_head() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), crate::storage::tests::test_keys(dir.path())).unwrap();
        let index: MailboxIndex = Default::default();
        let (writer, _rx) = mpsc::channel(1);
        let mailboxes = Mailboxes::new(storage.clone(), index.clone(), writer);
        let client = [7u8; 32];
        assert_eq!(mailboxes.head(&client).await.unwrap(), 0);

        let round = Round {
            entries: vec![(client, 1, storage.seal_envelope(&client, 1, &record()).unwrap(), false)],
            heads: vec![(client, 1)],
            ..Default::default()
        };
        storage.apply_round(&round).unwrap();
        assert!(
            mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap().is_empty(),
            "not yet durable"
        );

        // What the writer does after the flush: publish the new head.
        index.lock().get_mut(&client).unwrap().head = 1;
        assert_eq!(mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn empty_mailboxes_leave_the_index_and_come_back_intact() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, mailboxes) = with_writer(dir.path(), 100);
        let (idle, busy) = ([1u8; 32], [2u8; 32]);
        mailboxes.head(&idle).await.unwrap();
        for _ in 0..2 {
            let pending = mailboxes
                .enqueue_bounded(None, vec![(busy, Arc::new(record()))])
                .await
                .unwrap();
            mailboxes.complete(pending).await.unwrap();
        }
        mailboxes.ack(&busy, 1).await.unwrap();
        assert_eq!(mailboxes.index_len(), 2);
        // The reaper deletes on its own thread, soon after the ack.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while storage.mailbox_len(&busy).unwrap() != 1 {
            assert!(std::time::Instant::now() < deadline, "the ack was never applied");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        mailboxes.evict_empty();
        while mailboxes.index_len() != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the empty entry was never evicted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // The mailbox with mail stays; the evicted one reloads from disk.
        assert_eq!(mailboxes.head(&busy).await.unwrap(), 2);
        assert_eq!(mailboxes.read(&busy, 0, 10, usize::MAX).await.unwrap().len(), 1);
        assert_eq!(mailboxes.head(&idle).await.unwrap(), 0);
        mailboxes.ack(&busy, 2).await.unwrap();
        mailboxes.evict_empty();
        let pending = mailboxes
            .enqueue_bounded(None, vec![(busy, Arc::new(record()))])
            .await
            .unwrap();
        mailboxes.complete(pending).await.unwrap();
        assert_eq!(
            mailboxes.head(&busy).await.unwrap(),
            3,
            "seqs continue after an eviction"
        );
    }

    /// An ack covering more envelopes than the reaper deletes in one step
    /// is finished over the following steps, and the mailbox still takes
    /// new envelopes meanwhile.
    #[tokio::test]
    async fn a_large_ack_is_deleted_over_several_rounds() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, mailboxes) = with_writer(dir.path(), 10_000);
        let client = [3u8; 32];
        // Three times what the reaper deletes in one step.
        for _ in 0..12 {
            let pending = mailboxes
                .enqueue_bounded(None, vec![(client, Arc::new(record())); 64])
                .await
                .unwrap();
            mailboxes.complete(pending).await.unwrap();
        }
        assert_eq!(mailboxes.head(&client).await.unwrap(), 768);
        mailboxes.ack(&client, 768).await.unwrap();
        let pending = mailboxes
            .enqueue_bounded(None, vec![(client, Arc::new(record()))])
            .await
            .unwrap();
        mailboxes.complete(pending).await.unwrap();

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // The reaper lowers the count just after its removes.
        while storage.mailbox_len(&client).unwrap() != 1 || mailboxes.is_full(&client, 2).await.unwrap() {
            assert!(std::time::Instant::now() < deadline, "the ack was never finished");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let left = mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap();
        assert_eq!(left.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), vec![769]);
        assert!(
            !mailboxes.is_full(&client, 2).await.unwrap(),
            "the count follows the deletions"
        );
    }
}
