//! The time of the last retention purge, kept in the `meta` tree so the
//! clock guard (`crate::purge_guard`) can tell, after a restart too, how
//! far the clock moved since. Written through the state owner.

use super::{be_u64, Storage, StorageError};

const LAST_PURGE: &[u8] = b"last_purge_secs";

impl Storage {
    /// When the last retention purge ran (wall clock, seconds), if ever.
    pub fn last_purge_secs(&self) -> Result<Option<u64>, StorageError> {
        self.meta.get(LAST_PURGE)?.map(|v| be_u64(&v)).transpose()
    }

    /// Record that a retention purge ran at `now`; durable when it returns.
    pub async fn record_purge_secs(&self, now: u64) -> Result<(), StorageError> {
        let meta = self.meta.clone();
        self.owner
            .write(move || {
                meta.insert(LAST_PURGE, &now.to_be_bytes()[..])?;
                Ok::<_, StorageError>(())
            })
            .await
    }
}
