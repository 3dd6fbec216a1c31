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
//!
//! Rooms: opening, sealing and flushing here; the key-package trees in
//! `key_packages.rs`; mailbox reads, acks and retention in `mailboxes.rs`;
//! the writer's rounds and their journal in `rounds.rs`.

pub mod budget;
pub mod durable;
mod journal;
mod key_packages;
mod mailboxes;
pub mod owner;
pub mod purge_clock;
pub mod reaper;
pub mod records;
pub mod recovery;
mod rounds;
mod startup;
#[cfg(test)]
pub(crate) mod tests;
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

    /// Every group's stored state, read at start-up.
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

    /// The database, for rooms that own trees of their own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}
