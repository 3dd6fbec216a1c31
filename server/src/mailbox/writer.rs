//! The mailbox writer: one thread that turns queued writes into durable
//! rounds (group commit). A round is a set of single-key writes and one flush;
//! only after the flush are the senders told their writes are durable.
//!
//! One writer also gives every mailbox a single place where sequence numbers
//! are assigned, so they are contiguous and ordered.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use super::store::MailboxStore;
use crate::storage::{ClientId, EnvelopeRecord, StorageError};

/// Where each mailbox stands. Shared with the mailbox service, which lowers
/// `len` on acks and purges.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailboxMeta {
    /// Highest seq ever assigned and durable (0: none yet). Published only
    /// after the round's flush, so reads bounded by it never see data that a
    /// crash could still take back.
    pub head: u64,
    /// Envelopes currently stored.
    pub len: u64,
}

pub type MailboxIndex = Arc<Mutex<HashMap<ClientId, MailboxMeta>>>;

/// What the writer thread is asked to do.
pub enum WriterTask {
    Write(WriteJob),
    /// Forget index entries of empty mailboxes, so the index grows with the
    /// mailboxes that hold mail, not with every identity ever seen. Done by
    /// the writer between rounds: it alone advances heads, so no round can
    /// be in flight for an entry it drops.
    EvictEmpty,
}

/// Writes that must become durable together.
pub struct WriteJob {
    /// Replace (`Some`) or delete (`None`) a group's stored state.
    pub group: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// Envelopes to append, one per recipient mailbox.
    pub deliveries: Vec<(ClientId, Arc<EnvelopeRecord>)>,
    /// Skip recipients whose mailbox is full (application messages). Group
    /// changes are never skipped: a member that misses a commit is lost.
    pub bounded: bool,
    /// Per delivery, the seq it got (`None`: skipped, mailbox full).
    pub done: oneshot::Sender<Result<Vec<Option<u64>>, WriteError>>,
}

impl WriteJob {
    /// Bytes this job adds to a round.
    fn weight(&self) -> usize {
        let group = self.group.as_ref().and_then(|(_, r)| r.as_ref()).map_or(0, Vec::len);
        let envelopes: usize = self
            .deliveries
            .iter()
            .map(|(_, r)| r.message.len() + r.ratchet_tree.len() + 64)
            .sum();
        group + envelopes
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("storage failed: {0}")]
    Storage(String),
}

/// The data of one round, applied by [`MailboxStore::apply_round`].
#[derive(Default)]
pub(crate) struct Round {
    pub groups: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Mailbox, seq, sealed envelope, and whether it belongs to a job that
    /// changes a group (those go into the round's journal).
    pub entries: Vec<(ClientId, u64, Vec<u8>, bool)>,
    pub heads: Vec<(ClientId, u64)>,
}

pub struct WriterConfig {
    /// Wait this long after the first write of a round for more to join it.
    pub group_commit_delay: Duration,
    /// Most jobs in one round.
    pub max_jobs_per_round: usize,
    /// A round stops taking jobs once it holds this many bytes.
    pub max_round_bytes: usize,
    /// Most envelopes one mailbox may hold.
    pub max_mailbox_envelopes: u64,
}

/// Start the writer thread. It stops, after a last flush, when every sender
/// of the returned channel is dropped.
pub(super) fn spawn(
    storage: MailboxStore,
    index: MailboxIndex,
    config: WriterConfig,
    queue_len: usize,
) -> (mpsc::Sender<WriterTask>, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(queue_len);
    let handle = std::thread::Builder::new()
        .name("storage-writer".into())
        .spawn(move || run(storage, index, config, rx))
        .expect("spawning the storage writer thread"); // infallible at start-up: no input reaches it
    (tx, handle)
}

fn run(storage: MailboxStore, index: MailboxIndex, config: WriterConfig, mut rx: mpsc::Receiver<WriterTask>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = Vec::new();
        let mut bytes = 0;
        let mut evict_after = false;
        // Evictions count too, so a stream of them cannot keep a round from
        // starting.
        let mut taken = 0;
        let mut next = Some(first);
        while let Some(task) = next.take() {
            taken += 1;
            match task {
                WriterTask::Write(job) => {
                    if jobs.is_empty() && !config.group_commit_delay.is_zero() {
                        std::thread::sleep(config.group_commit_delay);
                    }
                    bytes += job.weight();
                    jobs.push(job);
                }
                WriterTask::EvictEmpty => evict_after = true,
            }
            if taken < config.max_jobs_per_round && bytes < config.max_round_bytes {
                next = rx.try_recv().ok();
            }
        }
        if !jobs.is_empty() {
            write_round(&storage, &index, &config, jobs);
        }
        if evict_after {
            evict_empty(&index);
        }
    }
    if let Err(e) = storage.storage().make_durable() {
        tracing::error!(error = %e, "final flush failed");
    }
}

fn evict_empty(index: &MailboxIndex) {
    let mut idx = index.lock();
    let before = idx.len();
    idx.retain(|_, meta| meta.len > 0);
    idx.shrink_to_fit();
    tracing::debug!(evicted = before - idx.len(), kept = idx.len(), "mailbox index trimmed");
}

/// Load a mailbox's position from disk the first time it is touched.
pub fn mailbox_meta(
    storage: &MailboxStore,
    index: &MailboxIndex,
    client: &ClientId,
) -> Result<MailboxMeta, StorageError> {
    if let Some(meta) = index.lock().get(client) {
        return Ok(*meta);
    }
    // Counted, not derived from the first seq: retention can leave gaps.
    let meta = MailboxMeta {
        head: storage.mailbox_head(client)?,
        len: storage.mailbox_len(client)?,
    };
    Ok(*index.lock().entry(*client).or_insert(meta))
}

fn write_round(storage: &MailboxStore, index: &MailboxIndex, config: &WriterConfig, jobs: Vec<WriteJob>) {
    let mut round = Round::default();
    // Positions as they will be after this round; published only on success.
    let mut metas: HashMap<ClientId, MailboxMeta> = HashMap::new();
    let mut outcomes: Vec<Result<Vec<Option<u64>>, WriteError>> = Vec::with_capacity(jobs.len());

    for job in &jobs {
        outcomes.push(plan_job(storage, index, config, job, &mut metas, &mut round));
    }
    round.heads = metas.iter().map(|(c, m)| (*c, m.head)).collect();

    // Answered only after the fsync: see storage::durable.
    let result = storage
        .apply_round(&round)
        .and_then(|()| storage.storage().make_durable());
    match result {
        Ok(()) => {
            let mut idx = index.lock();
            for (client, meta) in metas {
                let entry = idx.entry(client).or_default();
                // Acks may have lowered len meanwhile; add only what we appended.
                let appended = meta.head - entry.head;
                entry.head = meta.head;
                entry.len += appended;
            }
        }
        // sled may already show the round to readers while it is not on
        // disk, and its seqs would be handed out again: stop, and let the
        // restart recover the last durable state.
        Err(e) => crate::fatal::stop(format!("storage round failed: {e}")),
    }
    for (job, outcome) in jobs.into_iter().zip(outcomes) {
        let _ = job.done.send(outcome);
    }
}

/// Add one job to the round, or refuse it whole if a mailbox is full.
fn plan_job(
    storage: &MailboxStore,
    index: &MailboxIndex,
    config: &WriterConfig,
    job: &WriteJob,
    metas: &mut HashMap<ClientId, MailboxMeta>,
    round: &mut Round,
) -> Result<Vec<Option<u64>>, WriteError> {
    for (client, _) in &job.deliveries {
        if !metas.contains_key(client) {
            let meta = mailbox_meta(storage, index, client).map_err(|e| WriteError::Storage(e.to_string()))?;
            metas.insert(*client, meta);
        }
    }
    if let Some(group) = &job.group {
        round.groups.push(group.clone());
    }
    let mut assigned = Vec::with_capacity(job.deliveries.len());
    let mut skipped = 0;
    for (client, record) in &job.deliveries {
        let meta = metas.entry(*client).or_default();
        if job.bounded && meta.len >= config.max_mailbox_envelopes {
            skipped += 1;
            assigned.push(None);
            continue;
        }
        // Sealed here, in the writer thread, off the async workers.
        let sealed = storage
            .seal_envelope(client, meta.head + 1, record)
            .map_err(|e| WriteError::Storage(e.to_string()))?;
        meta.head += 1;
        meta.len += 1;
        round.entries.push((*client, meta.head, sealed, job.group.is_some()));
        assigned.push(Some(meta.head));
    }
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "application message not stored for recipients whose mailbox is full"
        );
    }
    Ok(assigned)
}
