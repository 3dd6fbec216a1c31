//! `[storage]`: encryption at rest, the storage vault's key file and the
//! anonymous byte budgets.

use std::path::PathBuf;

use serde::Deserialize;

use super::Config;

/// Encryption at rest (`[storage]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// The key file sealing the data. Default: `data_dir` with `.keys`
    /// appended (a sibling, so the data folder alone is useless). Keep it
    /// out of the data directory's backups.
    pub key_file: Option<PathBuf>,
    /// Envelopes of one period share a key, destroyed once the period is
    /// `retention_secs` old. Default: one day, or `retention_secs` if less.
    pub key_period_secs: Option<u64>,
    /// sled's page cache, an upper bound it keeps approximately (sled's own
    /// default is 1 GiB, more than a small server has to spare).
    pub cache_bytes: u64,
    /// What anonymous keys may store, and the free-space floor.
    pub budgets: StorageBudgets,
}

/// Byte budgets (`[storage.budgets]`, see `storage/budget.rs`). Each
/// anonymous budget refills evenly over a day; staff draw on none of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageBudgets {
    /// Message and key-package bytes one anonymous key may store a day
    /// (a visitor's whole chat is far below it).
    pub anonymous_key_bytes_per_day: u64,
    /// The same for all anonymous keys of one source together.
    pub anonymous_source_bytes_per_day: u64,
    /// The same for all anonymous keys together: with `retention_secs`
    /// of 7 days, anonymous envelopes take at most 7× this on disk.
    pub anonymous_total_bytes_per_day: u64,
    /// Keys and sources with a budget in memory; past it, new ones share
    /// one budget.
    pub max_tracked_keys: usize,
    /// Below this many free bytes on the data directory's disk nothing new
    /// is stored (`storage_full`); reads, acks, deletions and the purge go
    /// on. Larger than the biggest storage round (32 MiB).
    pub min_free_bytes: u64,
}

impl Default for StorageBudgets {
    fn default() -> Self {
        StorageBudgets {
            anonymous_key_bytes_per_day: 8 * 1024 * 1024,
            anonymous_source_bytes_per_day: 64 * 1024 * 1024,
            anonymous_total_bytes_per_day: 1024 * 1024 * 1024,
            max_tracked_keys: 100_000,
            min_free_bytes: 256 * 1024 * 1024,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            key_file: None,
            key_period_secs: None,
            cache_bytes: crate::storage::DEFAULT_CACHE_BYTES,
            budgets: StorageBudgets::default(),
        }
    }
}

impl Config {
    /// The key file and rotation of the storage vault.
    pub fn vault(&self) -> crate::storage::VaultConfig {
        let key_file = match (&self.storage.key_file, self.data_dir.file_name()) {
            (Some(file), _) => file.clone(),
            (None, Some(name)) => {
                let mut name = name.to_owned();
                name.push(".keys");
                // `./data/` → `./data.keys`, beside the folder, not in it.
                self.data_dir.with_file_name(name)
            }
            // Refused by `validate`; never inside the data directory.
            (None, None) => PathBuf::from("parasol.keys"),
        };
        crate::storage::VaultConfig {
            key_file,
            period_secs: self
                .storage
                .key_period_secs
                .unwrap_or(self.retention_secs.min(86_400))
                .max(1),
            retention_secs: self.retention_secs,
        }
    }
}
