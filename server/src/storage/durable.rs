//! What makes a flushed write durable: an fsync of sled's files.
//!
//! sled 0.34's `flush` writes its log and, on Linux, calls
//! `sync_file_range`, which neither writes the file's metadata nor flushes
//! the drive's write cache, and it never syncs the blob files it writes for
//! large values. A process kill cannot show the difference; a power cut
//! can. So every thread that acknowledges writes follows its flush with
//! [`Syncer::sync`]: `fsync` on each new blob file and on the blob folder,
//! then `fdatasync` on the log. `tests/tests/power_cut.rs` checks it under
//! a write-cache simulator.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One acknowledging thread's handles on sled's files.
pub struct Syncer {
    log: File,
    blobs: PathBuf,
    /// Blob files already synced (sled never rewrites one in place).
    synced_blobs: HashSet<OsString>,
    syncs: Arc<AtomicU64>,
}

impl Syncer {
    pub(super) fn open(sled_dir: &Path, syncs: Arc<AtomicU64>) -> std::io::Result<Self> {
        let log = File::open(sled_dir.join("db"))?;
        // The log's own directory entry, once: sled created it at open.
        File::open(sled_dir)?.sync_all()?;
        Ok(Syncer {
            log,
            blobs: sled_dir.join("blobs"),
            synced_blobs: HashSet::new(),
            syncs: syncs.clone(),
        })
    }

    /// Make everything sled has flushed durable. Call after `flush`, before
    /// answering anyone.
    pub fn sync(&mut self) -> std::io::Result<()> {
        // Blobs before the log: a log entry made durable must never point
        // at a blob that is not.
        let mut new_blobs = false;
        let mut present = HashSet::new();
        match std::fs::read_dir(&self.blobs) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    let name = entry.file_name();
                    if !self.synced_blobs.contains(&name) {
                        File::open(entry.path())?.sync_all()?;
                        new_blobs = true;
                    }
                    present.insert(name);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if new_blobs {
            File::open(&self.blobs)?.sync_all()?;
        }
        self.log.sync_data()?;
        // Forget blobs sled has since removed, so the set stays bounded.
        self.synced_blobs = present;
        self.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
