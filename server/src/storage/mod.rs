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
//!
//! Mailbox and group writes go through the [`writer`], which batches them
//! into one transaction and one flush (group commit).

pub mod records;
pub mod writer;

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

pub use records::{ClientId, EnvelopeRecord, GroupRecord, KeyPackageRecord};

/// Bumped whenever the stored layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

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

impl Storage {
    /// Open (or create) the database in `dir` and check its schema version.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::Sled(sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir.join("sled"))
            .mode(sled::Mode::HighThroughput)
            // Flushing is ours to do: the writer flushes before acknowledging.
            .flush_every_ms(None)
            .open()?;
        let meta = db.open_tree("meta")?;
        match meta.get("schema_version")? {
            None => {
                meta.insert("schema_version", &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            Some(v) => {
                let found = u32::from_be_bytes(
                    v.as_ref()
                        .try_into()
                        .map_err(|_| StorageError::Corrupt("schema version".into()))?,
                );
                if found != SCHEMA_VERSION {
                    return Err(StorageError::SchemaMismatch {
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        Ok(Storage {
            key_packages: db.open_tree("key_packages")?,
            last_resort: db.open_tree("last_resort_key_packages")?,
            groups: db.open_tree("groups")?,
            mailboxes: db.open_tree("mailboxes")?,
            mailbox_heads: db.open_tree("mailbox_heads")?,
            db,
        })
    }

    pub async fn flush(&self) -> Result<(), StorageError> {
        self.db.flush_async().await?;
        Ok(())
    }

    pub fn flush_blocking(&self) -> Result<(), StorageError> {
        self.db.flush()?;
        Ok(())
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
                (key, rec.encode())
            })
            .collect();
        let last = last_resort.map(|r| r.encode());
        (&self.key_packages, &self.last_resort)
            .transaction(|(kps, lr)| {
                for k in &withdrawn {
                    kps.remove(k)?;
                }
                if replace_all {
                    lr.remove(client.as_slice())?;
                }
                for (k, v) in &encoded {
                    kps.insert(k.as_slice(), v.as_slice())?;
                }
                if let Some(v) = &last {
                    lr.insert(client.as_slice(), v.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(tx_error)?;
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
            let record = KeyPackageRecord::decode(&value)?;
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
                let rec = KeyPackageRecord::decode(&v)?;
                Ok((rec.not_after > now).then_some(rec))
            }
            None => Ok(None),
        }
    }

    /// Delete expired key packages; returns how many.
    pub fn purge_expired_key_packages(&self, now: u64) -> Result<usize, StorageError> {
        let mut purged = 0;
        for tree in [&self.key_packages, &self.last_resort] {
            for item in tree.iter() {
                let (key, value) = item?;
                if KeyPackageRecord::decode(&value)?.not_after <= now {
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
                Ok((k.to_vec(), GroupRecord::decode(&v)?))
            })
            .collect()
    }

    // ---- mailboxes ----

    pub fn mailbox_head(&self, client: &ClientId) -> Result<u64, StorageError> {
        match self.mailbox_heads.get(client)? {
            Some(v) => be_u64(&v),
            None => Ok(0),
        }
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
            let record = EnvelopeRecord::decode(&v)?;
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

    /// Delete `client`'s envelopes with seq ≤ `up_to`; returns how many.
    pub fn ack_mailbox(&self, client: &ClientId, up_to: u64) -> Result<usize, StorageError> {
        let start = mailbox_key(client, 0);
        let end = mailbox_key(client, up_to);
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.mailboxes.range(start..=end) {
            batch.remove(item?.0);
            n += 1;
        }
        self.mailboxes.apply_batch(batch)?;
        Ok(n)
    }

    /// The database, for rooms that own trees of their own.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Delete `client`'s envelopes of one group; returns how many.
    pub fn purge_group_envelopes(&self, client: &ClientId, group_id: &[u8]) -> Result<usize, StorageError> {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in self.mailboxes.scan_prefix(client) {
            let (k, v) = item?;
            if EnvelopeRecord::decode(&v)?.group_id == group_id {
                batch.remove(k);
                n += 1;
            }
        }
        self.mailboxes.apply_batch(batch)?;
        Ok(n)
    }

    /// Delete envelopes received before `cutoff` (seconds); returns the
    /// affected clients with the number deleted.
    pub fn purge_mailboxes_before(&self, cutoff: u64) -> Result<Vec<(ClientId, usize)>, StorageError> {
        let mut affected: Vec<(ClientId, usize)> = Vec::new();
        let mut batch = sled::Batch::default();
        for item in self.mailboxes.iter() {
            let (k, v) = item?;
            if EnvelopeRecord::decode(&v)?.received_at < cutoff {
                let mut client = [0u8; 32];
                client.copy_from_slice(&k[..32]);
                match affected.last_mut() {
                    Some((c, n)) if *c == client => *n += 1,
                    _ => affected.push((client, 1)),
                }
                batch.remove(k);
            }
        }
        self.mailboxes.apply_batch(batch)?;
        Ok(affected)
    }

    /// Apply one round of the writer atomically: group state changes,
    /// mailbox entries and the new mailbox heads.
    pub(crate) fn apply_round(&self, round: &writer::Round) -> Result<(), StorageError> {
        (&self.groups, &self.mailboxes, &self.mailbox_heads)
            .transaction(|(groups, mailboxes, heads)| {
                for (group_id, record) in &round.groups {
                    match record {
                        Some(bytes) => groups.insert(group_id.as_slice(), bytes.as_slice())?,
                        None => groups.remove(group_id.as_slice())?,
                    };
                }
                for (client, seq, bytes) in &round.entries {
                    mailboxes.insert(&mailbox_key(client, *seq)[..], bytes.as_slice())?;
                }
                for (client, head) in &round.heads {
                    heads.insert(&client[..], &head.to_be_bytes()[..])?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(tx_error)
    }
}

fn tx_error(e: TransactionError<()>) -> StorageError {
    match e {
        TransactionError::Storage(e) => StorageError::Sled(e),
        TransactionError::Abort(()) => StorageError::Corrupt("transaction aborted".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let storage = Storage::open(dir.path()).unwrap();
            storage
                .db
                .open_tree("meta")
                .unwrap()
                .insert("schema_version", &99u32.to_be_bytes())
                .unwrap();
            storage.flush_blocking().unwrap();
        }
        match Storage::open(dir.path()) {
            Err(StorageError::SchemaMismatch {
                found: 99,
                expected: SCHEMA_VERSION,
            }) => {}
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a foreign schema was accepted"),
        }
    }
}
