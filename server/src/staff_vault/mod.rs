//! The staff state vault: each staff account's console state (its one MLS
//! identity, every group state and each open chat's history), sealed in
//! the page under a key derived from the staff member's password. The
//! server stores opaque items and cannot read them (SECURITY.md, "Staff
//! state vault").
//!
//! Trees, written only through the state owner ([`StateOwner`]), read on
//! the blocking pool:
//! - `staff_vault_items`: account id (u64 BE) ‖ slot → [`ItemRecord`]
//!   `{version, sealed}`;
//! - `staff_vault_meta`: account id (u64 BE) → [`MetaRecord`] `{salt, kdf
//!   parameters, lease}`: the salt is made on first use; the lease names
//!   the session that may write (SHA-256 of its token). Opening the vault
//!   moves the lease to the opening session, so one console writes at a
//!   time; the one that lost it gets `vault_moved` at its next write.
//!
//! Slots are `[a-z0-9][a-z0-9._-]{0,63}`. Bounds (staff budgets; nothing here is reachable without a live staff
//! session): [`MAX_ITEM_BYTES`] per item, [`MAX_ITEMS`] items and
//! [`MAX_ACCOUNT_BYTES`] per account, [`MAX_CONCURRENT_REQUESTS`] requests
//! at once.
//!
//! Password reset, disable and revoke erase an account's items and meta
//! ([`StaffVault::erase`]): the old key is gone with the old password, and
//! a revoked or disabled account must not find her state again.

pub mod http;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::storage::owner::{self, StateOwner};
use crate::storage::StorageError;

/// Largest sealed item (nonce, ciphertext and tag).
pub const MAX_ITEM_BYTES: usize = 512 * 1024;
/// Most items per account (identity, console, one per group).
pub const MAX_ITEMS: usize = 256;
/// Most sealed bytes per account.
pub const MAX_ACCOUNT_BYTES: usize = 16 * 1024 * 1024;
/// Longest slot name; slots are `[a-z0-9._-]{1,64}`.
pub const MAX_SLOT_LEN: usize = 64;
/// Vault requests handled at once (each may hold an item in memory).
pub const MAX_CONCURRENT_REQUESTS: usize = 16;

/// argon2id cost handed to new vaults: 64 MiB, 2 passes, 1 lane
/// (SECURITY.md, "Staff state vault", for the measurement).
pub const KDF_MEMORY_KIB: u32 = 64 * 1024;
pub const KDF_ITERATIONS: u32 = 2;
pub const KDF_PARALLELISM: u32 = 1;
pub const SALT_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Another session opened the vault since this one did.
    #[error("the vault was opened by another login; this console must stop writing")]
    Moved,
    #[error("the item changed since version {expected}; it is at version {current}")]
    VersionConflict { expected: u64, current: u64 },
    #[error("an item may have at most {MAX_ITEM_BYTES} bytes")]
    TooLarge,
    #[error("the vault is full ({MAX_ITEMS} items, {MAX_ACCOUNT_BYTES} bytes per account)")]
    Full,
    #[error("a slot is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")]
    BadSlot,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for VaultError {
    fn from(e: sled::Error) -> Self {
        VaultError::Storage(e.into())
    }
}

fn corrupt(e: impl std::fmt::Display) -> VaultError {
    VaultError::Storage(StorageError::Corrupt(format!("staff vault: {e}")))
}

/// The argon2id parameters and salt a console derives its vault key with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub salt: Vec<u8>,
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetaRecord {
    kdf: KdfParams,
    /// SHA-256 of the session token that holds the lease.
    lease: Option<[u8; 32]>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ItemRecord {
    version: u64,
    #[serde(with = "serde_bytes")]
    sealed: Vec<u8>,
}

/// One stored item, as the vault hands it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub slot: String,
    pub version: u64,
    pub sealed: Vec<u8>,
}

/// What opening a vault gives.
#[derive(Debug, Clone)]
pub struct Opened {
    pub kdf: KdfParams,
    pub items: Vec<Item>,
}

/// Items and bytes an account holds.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    items: usize,
    bytes: usize,
}

/// Whether `slot` is a valid slot name: `[a-z0-9][a-z0-9._-]{0,63}` (it
/// starts with a letter or digit, so no slot reads as a path like `..`).
pub fn is_valid_slot(slot: &str) -> bool {
    (1..=MAX_SLOT_LEN).contains(&slot.len())
        && slot.as_bytes()[0].is_ascii_alphanumeric()
        && slot
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
}

/// The lease holder's name for a session token.
pub fn lease_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn item_key(account_id: u64, slot: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + slot.len());
    k.extend_from_slice(&account_id.to_be_bytes());
    k.extend_from_slice(slot.as_bytes());
    k
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, VaultError> {
    rmp_serde::to_vec_named(v).map_err(corrupt)
}

fn decode<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, VaultError> {
    rmp_serde::from_slice(v).map_err(corrupt)
}

/// The staff state vault's trees and bounds.
pub struct StaffVault {
    items: sled::Tree,
    meta: sled::Tree,
    owner: StateOwner,
    /// Usage per account, filled on first use (bounded by the number of
    /// staff accounts); only touched on the owner thread and at open.
    usage: Arc<Mutex<HashMap<u64, Usage>>>,
    /// Requests in progress ([`MAX_CONCURRENT_REQUESTS`]).
    pub(crate) requests: Arc<Semaphore>,
}

impl StaffVault {
    pub fn open(db: &sled::Db, owner: StateOwner) -> Result<Self, VaultError> {
        Ok(StaffVault {
            items: db.open_tree("staff_vault_items")?,
            meta: db.open_tree("staff_vault_meta")?,
            owner,
            usage: Default::default(),
            requests: Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
        })
    }

    /// Open `account_id`'s vault for the session whose lease name is
    /// `lease` (see [`lease_of`]): it takes the lease, and gets the KDF
    /// parameters (a fresh salt on first use) and every item.
    pub async fn open_for(&self, account_id: u64, lease: [u8; 32]) -> Result<Opened, VaultError> {
        let meta = self.meta.clone();
        let kdf = self
            .owner
            .write(move || -> Result<KdfParams, VaultError> {
                let key = account_id.to_be_bytes();
                let mut record = match meta.get(key)? {
                    Some(v) => decode::<MetaRecord>(&v)?,
                    None => {
                        let mut salt = vec![0u8; SALT_LEN];
                        rand::rngs::OsRng.fill_bytes(&mut salt);
                        MetaRecord {
                            kdf: KdfParams {
                                salt,
                                m_kib: KDF_MEMORY_KIB,
                                t: KDF_ITERATIONS,
                                p: KDF_PARALLELISM,
                            },
                            lease: None,
                        }
                    }
                };
                record.lease = Some(lease);
                meta.insert(key, encode(&record)?)?;
                Ok(record.kdf)
            })
            .await?;
        let tree = self.items.clone();
        let items = owner::read(move || -> Result<Vec<Item>, VaultError> {
            let mut items = Vec::new();
            for entry in tree.scan_prefix(account_id.to_be_bytes()) {
                let (k, v) = entry?;
                let slot = std::str::from_utf8(&k[8..]).map_err(corrupt)?.to_string();
                let record: ItemRecord = decode(&v)?;
                items.push(Item {
                    slot,
                    version: record.version,
                    sealed: record.sealed,
                });
            }
            Ok(items)
        })
        .await?;
        let usage = Usage {
            items: items.len(),
            bytes: items.iter().map(|i| i.sealed.len()).sum(),
        };
        self.usage.lock().insert(account_id, usage);
        Ok(Opened { kdf, items })
    }

    /// Store `sealed` in `slot` if `lease` holds the vault and, when
    /// `if_version` is given, the slot is at that version (0: absent).
    /// Returns the new version.
    pub async fn put(
        &self,
        account_id: u64,
        lease: [u8; 32],
        slot: &str,
        sealed: Vec<u8>,
        if_version: Option<u64>,
    ) -> Result<u64, VaultError> {
        if !is_valid_slot(slot) {
            return Err(VaultError::BadSlot);
        }
        if sealed.len() > MAX_ITEM_BYTES {
            return Err(VaultError::TooLarge);
        }
        let (items, meta, usage) = (self.items.clone(), self.meta.clone(), self.usage.clone());
        let key = item_key(account_id, slot);
        self.owner
            .write(move || -> Result<u64, VaultError> {
                check_lease(&meta, account_id, lease)?;
                let current = items.get(&key)?.map(|v| decode::<ItemRecord>(&v)).transpose()?;
                let current_version = current.as_ref().map_or(0, |r| r.version);
                if let Some(expected) = if_version {
                    if expected != current_version {
                        return Err(VaultError::VersionConflict {
                            expected,
                            current: current_version,
                        });
                    }
                }
                let mut used = usage_of(&usage, &items, account_id)?;
                let old_len = current.as_ref().map_or(0, |r| r.sealed.len());
                let new_items = used.items + usize::from(current.is_none());
                let new_bytes = used.bytes - old_len.min(used.bytes) + sealed.len();
                if new_items > MAX_ITEMS || new_bytes > MAX_ACCOUNT_BYTES {
                    return Err(VaultError::Full);
                }
                let version = current_version + 1;
                items.insert(key, encode(&ItemRecord { version, sealed })?)?;
                used.items = new_items;
                used.bytes = new_bytes;
                usage.lock().insert(account_id, used);
                Ok(version)
            })
            .await
    }

    /// Delete `slot` if `lease` holds the vault. Deleting an absent slot
    /// is not an error.
    pub async fn delete(&self, account_id: u64, lease: [u8; 32], slot: &str) -> Result<(), VaultError> {
        if !is_valid_slot(slot) {
            return Err(VaultError::BadSlot);
        }
        let (items, meta, usage) = (self.items.clone(), self.meta.clone(), self.usage.clone());
        let key = item_key(account_id, slot);
        self.owner
            .write(move || -> Result<(), VaultError> {
                check_lease(&meta, account_id, lease)?;
                let mut used = usage_of(&usage, &items, account_id)?;
                if let Some(old) = items.remove(key)? {
                    let old: ItemRecord = decode(&old)?;
                    used.items = used.items.saturating_sub(1);
                    used.bytes = used.bytes.saturating_sub(old.sealed.len());
                    usage.lock().insert(account_id, used);
                }
                Ok(())
            })
            .await
    }

    /// Erase `account_id`'s vault: its items, then its salt and lease (in
    /// this order, so a crash in between leaves a salt without items, which
    /// reads as an empty vault). Returns how many items went.
    pub async fn erase(&self, account_id: u64) -> Result<usize, VaultError> {
        let (items, meta, usage) = (self.items.clone(), self.meta.clone(), self.usage.clone());
        let erased = self
            .owner
            .write(move || -> Result<usize, VaultError> {
                let keys: Vec<sled::IVec> = items
                    .scan_prefix(account_id.to_be_bytes())
                    .keys()
                    .collect::<Result<_, _>>()?;
                for k in &keys {
                    items.remove(k)?;
                }
                meta.remove(account_id.to_be_bytes())?;
                usage.lock().remove(&account_id);
                Ok(keys.len())
            })
            .await?;
        tracing::info!(items = erased, "staff vault erased");
        Ok(erased)
    }

    /// How many items `account_id` stores (tests, diagnostics).
    pub async fn item_count(&self, account_id: u64) -> Result<usize, VaultError> {
        let tree = self.items.clone();
        owner::read(move || Ok(tree.scan_prefix(account_id.to_be_bytes()).keys().count())).await
    }

    /// Whether `account_id` has vault metadata (a salt).
    pub async fn has_meta(&self, account_id: u64) -> Result<bool, VaultError> {
        let tree = self.meta.clone();
        owner::read(move || Ok(tree.contains_key(account_id.to_be_bytes())?)).await
    }
}

/// Runs on the owner thread.
fn check_lease(meta: &sled::Tree, account_id: u64, lease: [u8; 32]) -> Result<(), VaultError> {
    let record = match meta.get(account_id.to_be_bytes())? {
        Some(v) => decode::<MetaRecord>(&v)?,
        None => return Err(VaultError::Moved),
    };
    if record.lease != Some(lease) {
        return Err(VaultError::Moved);
    }
    Ok(())
}

/// Runs on the owner thread: the cached usage, or counted once.
fn usage_of(usage: &Mutex<HashMap<u64, Usage>>, items: &sled::Tree, account_id: u64) -> Result<Usage, VaultError> {
    if let Some(u) = usage.lock().get(&account_id) {
        return Ok(*u);
    }
    let mut counted = Usage::default();
    for entry in items.scan_prefix(account_id.to_be_bytes()) {
        let (_, v) = entry?;
        counted.items += 1;
        counted.bytes += decode::<ItemRecord>(&v)?.sealed.len();
    }
    usage.lock().insert(account_id, counted);
    Ok(counted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_checked() {
        assert!(is_valid_slot("identity"));
        assert!(is_valid_slot("g-0123456789abcdef0123456789abcdef"));
        assert!(is_valid_slot(&"a".repeat(64)));
        assert!(!is_valid_slot(""));
        assert!(!is_valid_slot(&"a".repeat(65)));
        assert!(!is_valid_slot("Identity"));
        assert!(!is_valid_slot("../x"));
        assert!(!is_valid_slot(".."));
        assert!(!is_valid_slot("-x"));
        assert!(!is_valid_slot("a b"));
    }
}
