//! Storage: the only module that knows sled.
//!
//! Trees (every stored field is listed in PROTOCOL.md, "What the server
//! stores"):
//! - `meta`: schema version.
//! - `key_packages`: `client_id ‖ key_package_ref` → one-time key package.
//! - `last_resort_key_packages`: `client_id` → last-resort key package.
//! - `groups`: `group_id` → the public group state the server tracks.
//! - `mailboxes`: `client_id ‖ seq` → envelope waiting for that client.
//! - `mailbox_heads`: `client_id` → highest seq ever assigned.
//! - `mailbox_floors`: `client_id` → highest seq deleted on purpose (acked,
//!   expired or purged), written before the deletion; lets the start-up
//!   check tell deleted entries from lost ones ([`recovery`]).
//!
//! # The rule: how Parasol uses sled
//! 1. **No sled call that takes sled's lock.** sled 0.34 guards every
//!    operation with one process-wide reader-writer lock once any batch
//!    (`apply_batch`) or transaction has run; a transaction waiting for
//!    that lock beside a running iterator or flush can deadlock (upstream
//!    sled #1301, #1412: 20 anonymous clients froze the server). So no
//!    batch, no transaction, no `checksum` or `export` anywhere: only
//!    single-key operations, iterators and flushes, which never take it.
//!    Atomicity across keys comes from write order and, for a round that
//!    changes a group, a journal value (see [`Storage::apply_round`]).
//!    `no_sled_call_takes_the_global_lock` checks the source for this.
//! 2. **No sled call on an async worker.** A write can wait for sled's I/O
//!    buffers and a read for the disk. Envelopes are written by the
//!    [`writer`] thread and deleted by the [`reaper`] thread; every other
//!    tree (key packages, intake, circles, escalations, the webhook
//!    outbox, staff, audit, statistics) is written by the [`owner`] thread
//!    of the state trees, which makes each job durable before answering
//!    (so nobody else flushes: `flush_async` appears only here, checked by
//!    `only_the_owners_flush`); reads from request handlers and the purge
//!    run on tokio's blocking pool ([`owner::read`]), and so do the
//!    start-up loads (`run_with`'s `at_start_up`). Code that runs outside
//!    the server's runtime (the offline admin CLI, tests) may call sled
//!    directly. Heavy MLS validation runs in the bounded
//!    [`crate::validation::ValidationPool`], never on a worker.
//! 3. **One owner serialises the writes of each tree**, and flushes before
//!    it answers (group commit): mailboxes, heads and groups by the writer
//!    (deletions by the reaper), everything else by the state owner.
//!
//! A mailbox's head is never read below its last entry. Acknowledged
//! envelopes are deleted by the [`reaper`], beside the writer and never in
//! front of it.
//!
//! Every value of these trees is sealed by the [`vault`]: envelopes under
//! the key of their retention period (destroyed once the period is past
//! retention), group state and key packages under the state key. Sled keys
//! stay plaintext (see PROTOCOL.md).

pub mod budget;
pub mod durable;
mod journal;
pub mod owner;
pub mod purge_clock;
pub mod reaper;
pub mod records;
pub mod recovery;
mod startup;
pub mod vault;
pub mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub use records::{ClientId, EnvelopeRecord, GroupRecord, KeyPackageRecord};
pub use vault::{Unsealed, Vault, VaultConfig};

/// Bumped whenever the stored layout changes incompatibly.
/// 2: values sealed by the vault.
pub const SCHEMA_VERSION: u32 = 2;

const KEY_PACKAGES: &str = "key_packages";
const LAST_RESORT: &str = "last_resort_key_packages";
const GROUPS: &str = "groups";
const MAILBOXES: &str = "mailboxes";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("data directory has schema version {found}, this server needs {expected}")]
    SchemaMismatch { found: u32, expected: u32 },
    #[error("storage writer has stopped")]
    WriterStopped,
    #[error("{0}")]
    Vault(String),
    #[error("storage is unavailable: {0}")]
    Unavailable(String),
    #[error(
        "the database {path} is damaged and cannot be opened ({detail}). Stop here: do not delete the key \
         file. Restore the data directory from its latest backup (with the key file of that backup), \
         or move the damaged directory away to start empty"
    )]
    Damaged { path: std::path::PathBuf, detail: String },
    #[error(
        "the key file {key_file} holds keys of stored messages, but the database {database} is missing or \
         empty: the data directory was lost, replaced, not mounted or damaged beyond reading. Refusing to \
         start an empty server. Restore or mount the data directory (from its latest backup if damaged); \
         to really start empty, move the key file away as well"
    )]
    DatabaseMissing {
        database: std::path::PathBuf,
        key_file: std::path::PathBuf,
    },
}

/// What [`Storage::delete_acked`] did for one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    pub deleted: usize,
    /// Nothing at or below the acked seq is left.
    pub finished: bool,
}

/// Handles to the sled database and its trees.
#[derive(Clone)]
pub struct Storage {
    db: sled::Db,
    key_packages: sled::Tree,
    last_resort: sled::Tree,
    groups: sled::Tree,
    mailboxes: sled::Tree,
    mailbox_heads: sled::Tree,
    /// Highest seq deleted on purpose per mailbox (see [`recovery`]).
    mailbox_floors: sled::Tree,
    /// Schema version and the journal of an unfinished group round.
    meta: sled::Tree,
    vault: Vault,
    /// Writes every tree but the mailboxes and groups.
    owner: owner::StateOwner,
    /// fsyncs sled's files after a flush (see [`durable`]).
    syncer: Arc<Mutex<durable::Syncer>>,
    /// How many times [`Storage::make_durable`] synced.
    syncs: Arc<AtomicU64>,
}

fn be_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("expected 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

fn mailbox_key(client: &ClientId, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(client);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn durable_flush(db: &sled::Db, syncer: &Mutex<durable::Syncer>) -> Result<(), StorageError> {
    db.flush()?;
    syncer.lock().sync().map_err(|e| StorageError::Sled(sled::Error::Io(e)))
}

/// State writes queued for the owner thread before writers wait.
const STATE_QUEUE: usize = 4096;

/// sled's page cache unless configured (`storage.cache_bytes`).
pub const DEFAULT_CACHE_BYTES: u64 = 256 * 1024 * 1024;

impl Storage {
    /// Open (or create) the database in `dir` with its key file, and check
    /// its schema version.
    pub fn open(dir: &Path, keys: VaultConfig) -> Result<Self, StorageError> {
        Self::open_with_cache(dir, keys, DEFAULT_CACHE_BYTES)
    }

    /// [`Storage::open`] with sled's page cache bounded to `cache_bytes`.
    pub fn open_with_cache(dir: &Path, keys: VaultConfig, cache_bytes: u64) -> Result<Self, StorageError> {
        let sled_dir = dir.join("sled");
        startup::prepare_data_dir(dir, &sled_dir)?;
        let sled_config = sled::Config::new()
            .path(&sled_dir)
            .cache_capacity(cache_bytes)
            .mode(sled::Mode::HighThroughput)
            // Flushing is ours to do: the writer flushes before acknowledging.
            .flush_every_ms(None);
        startup::release_reserve(dir);
        let db = startup::open_sled(sled_config, &sled_dir)?;
        startup::restore_reserve(dir);
        let meta = db.open_tree("meta")?;
        let found = match meta.get("schema_version")? {
            None => None,
            Some(v) => Some(u32::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("schema version".into()))?,
            )),
        };
        // The schema first: an old data directory has no key file either,
        // and the schema error is the one that says what to do.
        if let Some(found) = found.filter(|v| *v != SCHEMA_VERSION) {
            return Err(StorageError::SchemaMismatch {
                found,
                expected: SCHEMA_VERSION,
            });
        }
        // Only a data directory that never held data may get new keys.
        let vault = Vault::open(keys, found.is_none())?;
        if found.is_none() {
            startup::refuse_lost_database(&vault, &sled_dir)?;
            meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
            db.flush()?;
        }
        let syncs = Arc::new(AtomicU64::new(0));
        let syncer = Arc::new(Mutex::new(
            durable::Syncer::open(&sled_dir, syncs.clone()).map_err(|e| StorageError::Sled(sled::Error::Io(e)))?,
        ));
        let owner = {
            let (db, syncer) = (db.clone(), syncer.clone());
            owner::StateOwner::spawn(
                move || durable_flush(&db, &syncer).map_err(|e| e.to_string()),
                STATE_QUEUE,
            )
        };
        let storage = Storage {
            owner,
            syncer,
            syncs,
            meta,
            key_packages: db.open_tree(KEY_PACKAGES)?,
            last_resort: db.open_tree(LAST_RESORT)?,
            groups: db.open_tree(GROUPS)?,
            mailboxes: db.open_tree(MAILBOXES)?,
            mailbox_heads: db.open_tree("mailbox_heads")?,
            mailbox_floors: db.open_tree("mailbox_floors")?,
            db,
            vault,
        };
        let journal_replayed = storage.replay_journal()?;
        let found = storage.check_mailboxes()?;
        // The one line an operator reads to know what the start found.
        if found.heads_lowered > 0 || journal_replayed {
            tracing::warn!(
                mailboxes_checked = found.mailboxes_checked,
                heads_raised = found.heads_raised,
                heads_lowered = found.heads_lowered,
                seqs_lost = found.seqs_lost,
                journal_replayed,
                "storage recovery: a crash interrupted a group round or lost stored envelopes; repaired"
            );
        } else {
            tracing::info!(
                mailboxes_checked = found.mailboxes_checked,
                heads_raised = found.heads_raised,
                heads_lowered = 0,
                seqs_lost = 0,
                journal_replayed,
                "storage recovery: every mailbox head matches its entries"
            );
        }
        Ok(storage)
    }

    /// Open a sealed value of one of our trees. `None`: its key was
    /// destroyed, the value is expired.
    fn open_value(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(match self.vault.open_value(tree, key, value)? {
            Unsealed::Open(plain) => Some(plain),
            Unsealed::Shredded => None,
        })
    }

    fn open_key_package(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<KeyPackageRecord, StorageError> {
        let plain = self
            .open_value(tree, key, value)?
            .ok_or_else(|| StorageError::Corrupt("key package under a period key".into()))?;
        KeyPackageRecord::decode(&plain)
    }

    /// Seal an envelope for `client`'s mailbox at `seq`, under the key of
    /// its arrival period.
    pub(crate) fn seal_envelope(
        &self,
        client: &ClientId,
        seq: u64,
        record: &EnvelopeRecord,
    ) -> Result<Vec<u8>, StorageError> {
        self.vault.seal_at(
            record.received_at,
            MAILBOXES,
            &mailbox_key(client, seq),
            &record.encode(),
        )
    }

    /// The owner thread of every tree but the mailboxes and groups.
    pub fn owner(&self) -> &owner::StateOwner {
        &self.owner
    }

    /// The vault sealing this storage's values.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// Destroy the period keys past retention (after their envelopes were
    /// purged); returns how many.
    pub fn destroy_expired_keys(&self, now: u64) -> Result<usize, StorageError> {
        self.vault.destroy_expired(now)
    }

    pub async fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn flush_blocking(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
    }

    /// Flush, then fsync sled's files: what every acknowledgement waits
    /// for (see [`durable`]).
    pub fn make_durable(&self) -> Result<(), StorageError> {
        durable_flush(&self.db, &self.syncer)
    }

    /// How many times writes were made durable (a seam for tests that the
    /// acknowledgement path syncs).
    pub fn durable_syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// The count behind [`Storage::durable_syncs`], for `/metrics`.
    pub fn sync_counter(&self) -> Arc<AtomicU64> {
        self.syncs.clone()
    }

    // ---- key packages ----

    /// Number of one-time key packages stored for `client`.
    pub fn count_key_packages(&self, client: &ClientId) -> Result<u32, StorageError> {
        let mut n = 0u32;
        for item in self.key_packages.scan_prefix(client) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Key packages stored in all, one-time and last-resort (a full scan:
    /// at start and after a purge only).
    pub fn count_all_key_packages(&self) -> Result<usize, StorageError> {
        Ok(self.key_packages.len() + self.last_resort.len())
    }

    /// Whether `client` has any one-time key package stored.
    pub fn has_key_packages(&self, client: &ClientId) -> Result<bool, StorageError> {
        Ok(self.key_packages.scan_prefix(client).next().transpose()?.is_some())
    }

    pub fn has_last_resort(&self, client: &ClientId) -> Result<bool, StorageError> {
        Ok(self.last_resort.contains_key(client)?)
    }

    /// Store one-time packages (keyed by their reference) and optionally
    /// replace the last-resort package, atomically. With `replace_all`,
    /// every package stored before for `client` is deleted in the same step.
    pub fn put_key_packages(
        &self,
        client: &ClientId,
        one_time: &[(Vec<u8>, KeyPackageRecord)],
        last_resort: Option<&KeyPackageRecord>,
        replace_all: bool,
    ) -> Result<(), StorageError> {
        let withdrawn: Vec<sled::IVec> = if replace_all {
            self.key_packages.scan_prefix(client).keys().collect::<Result<_, _>>()?
        } else {
            Vec::new()
        };
        let encoded: Vec<(Vec<u8>, Vec<u8>)> = one_time
            .iter()
            .map(|(kp_ref, rec)| {
                let mut key = client.to_vec();
                key.extend_from_slice(kp_ref);
                let sealed = self.vault.seal_state(KEY_PACKAGES, &key, &rec.encode())?;
                Ok((key, sealed))
            })
            .collect::<Result<_, StorageError>>()?;
        let last = last_resort
            .map(|r| self.vault.seal_state(LAST_RESORT, client, &r.encode()))
            .transpose()?;
        // Single-key steps (see the module's rule). The withdrawn go first:
        // a crash in between leaves fewer packages, which the owner's
        // client tops up, never a withdrawn package handed out.
        for k in &withdrawn {
            self.key_packages.remove(k)?;
        }
        if replace_all {
            self.last_resort.remove(client.as_slice())?;
        }
        for (k, v) in &encoded {
            self.key_packages.insert(k.as_slice(), v.as_slice())?;
        }
        if let Some(v) = &last {
            self.last_resort.insert(client.as_slice(), v.as_slice())?;
        }
        Ok(())
    }

    /// Remove and return one unexpired one-time package of `client`
    /// (expired ones met on the way are deleted). Atomic against concurrent
    /// claims: `remove` returns the value to exactly one caller.
    pub fn take_key_package(&self, client: &ClientId, now: u64) -> Result<Option<KeyPackageRecord>, StorageError> {
        loop {
            let Some(item) = self.key_packages.scan_prefix(client).next() else {
                return Ok(None);
            };
            let (key, _) = item?;
            let Some(value) = self.key_packages.remove(&key)? else {
                continue; // another claim took it first
            };
            let record = self.open_key_package(KEY_PACKAGES, &key, &value)?;
            if record.not_after > now {
                return Ok(Some(record));
            }
        }
    }

    pub fn last_resort_key_package(
        &self,
        client: &ClientId,
        now: u64,
    ) -> Result<Option<KeyPackageRecord>, StorageError> {
        match self.last_resort.get(client)? {
            Some(v) => {
                let rec = self.open_key_package(LAST_RESORT, client, &v)?;
                Ok((rec.not_after > now).then_some(rec))
            }
            None => Ok(None),
        }
    }

    /// Delete expired key packages; returns how many.
    pub fn purge_expired_key_packages(&self, now: u64) -> Result<usize, StorageError> {
        let mut purged = 0;
        for (name, tree) in [(KEY_PACKAGES, &self.key_packages), (LAST_RESORT, &self.last_resort)] {
            for item in tree.iter() {
                let (key, value) = item?;
                if self.open_key_package(name, &key, &value)?.not_after <= now {
                    tree.remove(key)?;
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }

    // ---- groups ----

    pub fn load_groups(&self) -> Result<Vec<(Vec<u8>, GroupRecord)>, StorageError> {
        self.groups
            .iter()
            .map(|item| {
                let (k, v) = item?;
                let plain = self
                    .open_value(GROUPS, &k, &v)?
                    .ok_or_else(|| StorageError::Corrupt("group state under a period key".into()))?;
                Ok((k.to_vec(), GroupRecord::decode(&plain)?))
            })
            .collect()
    }

    // ---- mailboxes ----

    /// Highest seq ever assigned in `client`'s mailbox: its stored head, or
    /// its last entry or floor if higher (heads and entries are separate
    /// writes; see [`Storage::apply_round`] and [`recovery`]).
    pub fn mailbox_head(&self, client: &ClientId) -> Result<u64, StorageError> {
        let stored = match self.mailbox_heads.get(client)? {
            Some(v) => be_u64(&v)?,
            None => 0,
        };
        let last = match self.mailboxes.scan_prefix(client).keys().next_back() {
            Some(key) => be_u64(&key?[32..])?,
            None => 0,
        };
        Ok(stored.max(last).max(self.mailbox_floor(client)?))
    }

    /// Envelopes of `client` with `after < seq ≤ up_to`, in order, until
    /// `limit` envelopes or `max_bytes` of message bytes (at least one).
    pub fn read_mailbox(
        &self,
        client: &ClientId,
        after: u64,
        up_to: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, EnvelopeRecord)>, StorageError> {
        let mut out = Vec::new();
        if after >= up_to {
            return Ok(out);
        }
        let start = mailbox_key(client, after + 1);
        let end = mailbox_key(client, up_to);
        let mut bytes = 0;
        for item in self.mailboxes.range(start..=end).take(limit) {
            let (k, v) = item?;
            // Shredded: expired, never delivered; the purge deletes it.
            let Some(plain) = self.open_value(MAILBOXES, &k, &v)? else {
                continue;
            };
            let record = EnvelopeRecord::decode(&plain)?;
            bytes += record.message.len() + record.ratchet_tree.len();
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push((be_u64(&k[32..])?, record));
        }
        Ok(out)
    }

    /// Number of envelopes stored for `client`.
    pub fn mailbox_len(&self, client: &ClientId) -> Result<u64, StorageError> {
        let mut n = 0;
        for item in self.mailboxes.scan_prefix(client) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Delete `client`'s envelopes with seq ≤ `up_to`, lowest first, at
    /// most `budget` of them. Single-key removes, not a batch: sled runs a
    /// batch under a lock that stops every other write, and these need no
    /// atomicity (a deletion is only ever redone).
    pub fn delete_acked(&self, client: &ClientId, up_to: u64, budget: usize) -> Result<AckOutcome, StorageError> {
        let start = mailbox_key(client, 0);
        let end = mailbox_key(client, up_to);
        let keys = self
            .mailboxes
            .range(start..=end)
            .keys()
            .take(budget.saturating_add(1))
            .collect::<Result<Vec<_>, _>>()?;
        let finished = keys.len() <= budget;
        // The acked cursor first (see `recovery`): kept whenever a removal
        // below is kept.
        self.raise_floor(client, up_to)?;
        let mut deleted = 0;
        for key in keys.iter().take(budget) {
            if self.mailboxes.remove(key)?.is_some() {
                deleted += 1;
            }
        }
        Ok(AckOutcome { deleted, finished })
    }

    /// The database, for rooms that own trees of their own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Delete `client`'s envelopes of one group; returns how many.
    pub fn purge_group_envelopes(&self, client: &ClientId, group_id: &[u8]) -> Result<usize, StorageError> {
        let mut n = 0;
        for item in self.mailboxes.scan_prefix(client) {
            let (k, v) = item?;
            let of_group = match self.open_value(MAILBOXES, &k, &v)? {
                Some(plain) => EnvelopeRecord::decode(&plain)?.group_id == group_id,
                None => true, // shredded: expired anyway
            };
            if of_group {
                self.raise_floor(client, be_u64(&k[32..])?)?;
                self.mailboxes.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Delete envelopes received before `cutoff` (seconds) and those whose
    /// period key is destroyed; returns the affected clients with the
    /// number deleted.
    pub fn purge_mailboxes_before(&self, cutoff: u64) -> Result<Vec<(ClientId, usize)>, StorageError> {
        let mut affected: Vec<(ClientId, usize)> = Vec::new();
        // Periods ending by the cutoff hold only expired envelopes: no need
        // to open them.
        let expired_below = self.vault.period_of(cutoff);
        for item in self.mailboxes.iter() {
            let (k, v) = item?;
            let expired = match vault::Vault::period_of_value(&v) {
                Some(p) if p < expired_below => true,
                _ => match self.open_value(MAILBOXES, &k, &v)? {
                    Some(plain) => EnvelopeRecord::decode(&plain)?.received_at < cutoff,
                    None => true,
                },
            };
            if expired {
                let mut client = [0u8; 32];
                client.copy_from_slice(&k[..32]);
                match affected.last_mut() {
                    Some((c, n)) if *c == client => *n += 1,
                    _ => affected.push((client, 1)),
                }
                self.raise_floor(&client, be_u64(&k[32..])?)?;
                self.mailboxes.remove(k)?;
            }
        }
        Ok(affected)
    }

    /// Write one round of the writer: group state changes, mailbox entries
    /// and the new mailbox heads, in single-key steps (see the module's
    /// rule). Durable only after the writer's flush.
    ///
    /// Order matters for a crash, after which sled keeps a prefix of its
    /// log: entries before heads, so a kept entry never lacks its head
    /// (`mailbox_head` reads the last entry too) and no seq is skipped. A
    /// round that changes a group must land whole or not at all (members
    /// would miss a commit, or get one the group state does not know), so
    /// its group writes and their envelopes are first written as one
    /// journal value, which [`Storage::replay_journal`] applies at start.
    pub(crate) fn apply_round(&self, round: &writer::Round) -> Result<(), StorageError> {
        let sealed_groups = round
            .groups
            .iter()
            .map(|(group_id, record)| {
                let sealed = record
                    .as_ref()
                    .map(|plain| self.vault.seal_state(GROUPS, group_id, plain))
                    .transpose()?;
                Ok((
                    serde_bytes::ByteBuf::from(group_id.clone()),
                    sealed.map(serde_bytes::ByteBuf::from),
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let journal = if sealed_groups.is_empty() {
            None
        } else {
            let journal = journal::Journal {
                groups: sealed_groups,
                entries: round
                    .entries
                    .iter()
                    .filter(|(_, _, _, journaled)| *journaled)
                    .map(|(client, seq, bytes, _)| {
                        (
                            serde_bytes::ByteBuf::from(mailbox_key(client, *seq).to_vec()),
                            serde_bytes::ByteBuf::from(bytes.clone()),
                        )
                    })
                    .collect(),
            };
            self.meta.insert(journal::KEY, journal.encode())?;
            Some(journal)
        };
        for (client, seq, bytes, _) in &round.entries {
            self.mailboxes
                .insert(&mailbox_key(client, *seq)[..], bytes.as_slice())?;
        }
        for (client, head) in &round.heads {
            self.mailbox_heads.insert(&client[..], &head.to_be_bytes()[..])?;
        }
        if let Some(journal) = journal {
            self.apply_group_writes(&journal.groups)?;
            self.meta.remove(journal::KEY)?;
        }
        Ok(())
    }

    fn apply_group_writes(
        &self,
        groups: &[(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)],
    ) -> Result<(), StorageError> {
        for (group_id, sealed) in groups {
            match sealed {
                Some(bytes) => self.groups.insert(group_id.as_slice(), bytes.as_slice())?,
                None => self.groups.remove(group_id.as_slice())?,
            };
        }
        Ok(())
    }

    /// Finish a group round that a crash interrupted: its journal is on
    /// disk, so all of it is applied again (every step is idempotent).
    /// Returns whether there was one.
    pub fn replay_journal(&self) -> Result<bool, StorageError> {
        let Some(bytes) = self.meta.get(journal::KEY)? else {
            return Ok(false);
        };
        let journal = journal::Journal::decode(&bytes)?;
        for (key, bytes) in &journal.entries {
            self.mailboxes.insert(key.as_slice(), bytes.as_slice())?;
        }
        self.apply_group_writes(&journal.groups)?;
        self.meta.remove(journal::KEY)?;
        self.db.flush()?;
        Ok(true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A key file next to the data in `dir`, for tests.
    pub(crate) fn test_keys(dir: &Path) -> VaultConfig {
        VaultConfig {
            key_file: dir.join("test.keys"),
            period_secs: 3600,
            retention_secs: 7200,
        }
    }

    /// A small application envelope, for tests.
    pub(crate) fn test_record() -> EnvelopeRecord {
        EnvelopeRecord {
            group_id: vec![1],
            kind: parasol_protocol::EnvelopeKind::Application,
            epoch: 0,
            message: vec![2; 10],
            ratchet_tree: Vec::new(),
            received_at: 0,
        }
    }

    /// Store envelopes 1..=count in each client's mailbox, heads included,
    /// as one writer round would.
    pub(crate) fn store_envelopes(storage: &Storage, mailboxes: &[(ClientId, u64)]) {
        let mut round = writer::Round::default();
        for &(client, count) in mailboxes {
            for seq in 1..=count {
                let sealed = storage.seal_envelope(&client, seq, &test_record()).unwrap();
                round.entries.push((client, seq, sealed, false));
            }
            round.heads.push((client, count));
        }
        storage.apply_round(&round).unwrap();
    }

    /// The first rule of this module: no sled call that takes sled's
    /// process-wide lock, anywhere in the server (see the module docs).
    #[test]
    fn no_sled_call_takes_the_global_lock() {
        // Split so this file does not match itself.
        let forbidden = [
            ["apply", "_batch("].concat(),
            [".trans", "action("].concat(),
            ["Trans", "actional"].concat(),
            ["sled::", "Batch"].concat(),
            [".check", "sum()"].concat(),
            [".exp", "ort()"].concat(),
        ];
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or("");
                        if forbidden.iter().any(|f| code.contains(f.as_str())) {
                            found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "sled calls that take its global lock:\n{}",
            found.join("\n")
        );
    }

    /// Durable writes go through an owner (the writer, the reaper or the
    /// state owner), which flushes and fsyncs; a `flush_async` elsewhere
    /// would be a write path beside them (and sled's flush alone is not
    /// durable: see [`durable`]).
    #[test]
    fn only_the_owners_flush() {
        let forbidden = ["flush", "_async("].concat();
        let src = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
        let allowed = src.join("storage").join("mod.rs");
        let mut found = Vec::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && path != allowed {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        if line.split("//").next().unwrap_or("").contains(forbidden.as_str()) {
                            found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        assert!(found.is_empty(), "flushes beside the owners:\n{}", found.join("\n"));
    }

    /// A group round interrupted after its journal was written is finished
    /// at the next start: the group state and its envelopes together.
    #[test]
    fn an_interrupted_group_round_is_finished_from_its_journal() {
        let dir = tempfile::tempdir().unwrap();
        let client = [4u8; 32];
        {
            let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
            let sealed = storage.seal_envelope(&client, 1, &test_record()).unwrap();
            let record = GroupRecord {
                public_state: Vec::new(),
                last_activity: 7,
            };
            let group = storage.vault.seal_state(GROUPS, b"g1", &record.encode()).unwrap();
            let journal = journal::Journal {
                groups: vec![(serde_bytes::ByteBuf::from(b"g1".to_vec()), Some(group.into()))],
                entries: vec![(mailbox_key(&client, 1).to_vec().into(), sealed.into())],
            };
            // The crash: only the journal reached the disk.
            storage.meta.insert(journal::KEY, journal.encode()).unwrap();
            storage.flush_blocking().unwrap();
        }
        let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
        assert!(storage.meta.get(journal::KEY).unwrap().is_none(), "the journal is done");
        let groups = storage.load_groups().unwrap();
        assert_eq!((groups.len(), groups[0].1.last_activity), (1, 7));
        assert_eq!(storage.mailbox_head(&client).unwrap(), 1);
        assert_eq!(storage.read_mailbox(&client, 0, 1, 10, usize::MAX).unwrap().len(), 1);
    }

    #[test]
    fn data_without_its_key_file_is_refused_and_a_new_directory_gets_keys() {
        let dir = tempfile::tempdir().unwrap();
        let keys = test_keys(dir.path());
        drop(Storage::open(&dir.path().join("data"), keys.clone()).unwrap());
        assert!(keys.key_file.exists(), "a new data directory gets a key file");
        std::fs::remove_file(&keys.key_file).unwrap();
        match Storage::open(&dir.path().join("data"), keys.clone()) {
            Err(StorageError::Vault(message)) => assert!(message.contains("missing"), "{message}"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("existing data was opened with new keys"),
        }
        assert!(!keys.key_file.exists(), "no new keys were made for old data");
    }

    /// A crash can keep a round's entries without its head (they are two
    /// batches); the head is then read from the last entry, so no seq is
    /// handed out twice.
    #[test]
    fn the_head_is_never_below_the_last_stored_entry() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
        let client = [9u8; 32];
        store_envelopes(&storage, &[(client, 3)]);
        assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
        // The head batch lost, the entries kept.
        storage.mailbox_heads.insert(client, &1u64.to_be_bytes()).unwrap();
        assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
        // Everything acked: the stored head alone says where seqs stand.
        storage.mailbox_heads.insert(client, &3u64.to_be_bytes()).unwrap();
        storage.delete_acked(&client, 3, usize::MAX).unwrap();
        assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
        assert_eq!(storage.mailbox_len(&client).unwrap(), 0);
    }

    /// Acks are deleted within a budget, lowest seqs first; a mailbox the
    /// budget does not finish says so and is finished by a later call.
    #[test]
    fn ack_deletions_stop_at_the_budget_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
        let (first, second) = ([1u8; 32], [2u8; 32]);
        store_envelopes(&storage, &[(first, 5), (second, 3)]);

        let done = |deleted| AckOutcome {
            deleted,
            finished: true,
        };
        assert_eq!(storage.delete_acked(&first, 5, 6).unwrap(), done(5));
        assert_eq!(
            storage.delete_acked(&second, 3, 1).unwrap(),
            AckOutcome {
                deleted: 1,
                finished: false
            }
        );
        assert_eq!(storage.read_mailbox(&second, 0, 3, 10, usize::MAX).unwrap()[0].0, 2);
        assert_eq!(storage.delete_acked(&second, 3, 2).unwrap(), done(2));
        assert_eq!(
            storage.mailbox_len(&first).unwrap() + storage.mailbox_len(&second).unwrap(),
            0
        );
        assert_eq!(storage.delete_acked(&second, 3, 0).unwrap(), done(0));
    }

    #[test]
    fn a_data_directory_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
            storage
                .db
                .open_tree("meta")
                .unwrap()
                .insert("schema_version", &99u32.to_be_bytes())
                .unwrap();
            storage.flush_blocking().unwrap();
        }
        // An older data directory has no key file either: the schema error
        // is still the one reported.
        std::fs::remove_file(test_keys(dir.path()).key_file).unwrap();
        match Storage::open(dir.path(), test_keys(dir.path())) {
            Err(StorageError::SchemaMismatch {
                found: 99,
                expected: SCHEMA_VERSION,
            }) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a foreign schema was accepted"),
        }
    }
}
