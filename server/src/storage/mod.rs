//! Storage: opening sled, the schema, the state owner and the vault.
//!
//! sled is no longer known here alone: each room owns its trees and opens
//! them through [`Storage::db`] (the queueing service in `crate::mailbox`:
//! mailboxes, heads, floors and the group-round journal, with its writer
//! and reaper threads; intake, circles, escalation, staff, the staff
//! vault, audit and statistics their own). What stays true everywhere is
//! the rule below, checked over the whole server's source.
//!
//! Trees kept here (every stored field is listed in PROTOCOL.md, "What the
//! server stores"):
//! - `meta`: schema version (and, owned by `crate::mailbox`, the journal
//!   of an unfinished group round).
//! - `key_packages`: `client_id ‖ key_package_ref` → one-time key package.
//! - `last_resort_key_packages`: `client_id` → last-resort key package.
//! - `groups`: `group_id` → the public group state the server tracks;
//!   written by the mailbox writer ([`Storage::write_group_states`]) in
//!   the same round as the group's envelopes.
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
//!    changes a group, a journal value (`crate::mailbox::rounds`).
//!    `no_sled_call_takes_the_global_lock` checks the source for this.
//! 2. **No sled call on an async worker.** A write can wait for sled's I/O
//!    buffers and a read for the disk. Envelopes are written by the
//!    mailbox writer thread and deleted by the mailbox reaper thread
//!    (`crate::mailbox::writer`, `crate::mailbox::reaper`); every other
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
//!    it answers (group commit): mailboxes, heads and groups by the
//!    mailbox writer (deletions by its reaper), everything else by the
//!    state owner.
//!
//! Every value of these trees is sealed by the [`vault`]: envelopes under
//! the key of their retention period (destroyed once the period is past
//! retention), group state and key packages under the state key. Sled keys
//! stay plaintext (see PROTOCOL.md).
//!
//! Rooms: opening, sealing and flushing here; the key-package trees in
//! `key_packages.rs`.

pub mod budget;
pub mod durable;
mod key_packages;
pub mod owner;
pub mod purge_clock;
pub mod records;
mod startup;
#[cfg(test)]
pub(crate) mod tests;
pub mod vault;

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

/// Handles to the sled database and its trees.
#[derive(Clone)]
pub struct Storage {
    db: sled::Db,
    key_packages: sled::Tree,
    last_resort: sled::Tree,
    groups: sled::Tree,
    /// Schema version (the mailbox room keeps its round journal here too).
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
            db,
            vault,
        };
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

    /// Seal a group's public state under the state key.
    pub(crate) fn seal_group_state(&self, group_id: &[u8], plain: &[u8]) -> Result<Vec<u8>, StorageError> {
        self.vault.seal_state(GROUPS, group_id, plain)
    }

    /// Replace (`Some`) or delete (`None`) sealed group states, one
    /// single-key step each. Only the mailbox writer calls this, in the
    /// round that carries the group's envelopes (and at start, from an
    /// interrupted round's journal); every step is idempotent.
    pub(crate) fn write_group_states(
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
