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
                        if !sync_blob(&entry.path())? {
                            continue;
                        }
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

/// fsync one blob file; `false` if it is gone. sled removes a blob when
/// the value that pointed at it is replaced or removed, on threads of its
/// own, so one listed a moment ago may be gone by the open. There is then
/// nothing left to make durable, and a removal is no reason to stop the
/// server (it did: a group of 50's commits replaced its blobs while a
/// round was syncing, and the round failed with ENOENT).
fn sync_blob(path: &Path) -> std::io::Result<bool> {
    match File::open(path) {
        Ok(blob) => blob.sync_all().map(|()| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_removed_before_its_sync_is_skipped_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("42");
        std::fs::write(&blob, b"sealed value").unwrap();
        assert!(sync_blob(&blob).unwrap(), "a present blob is synced");
        std::fs::remove_file(&blob).unwrap();
        assert!(!sync_blob(&blob).unwrap(), "a removed blob is skipped");
    }

    #[test]
    fn a_sync_after_sled_removed_a_synced_blob_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path();
        std::fs::write(sled_dir.join("db"), b"log").unwrap();
        std::fs::create_dir(sled_dir.join("blobs")).unwrap();
        std::fs::write(sled_dir.join("blobs").join("1"), b"blob").unwrap();
        let syncs = Arc::new(AtomicU64::new(0));
        let mut syncer = Syncer::open(sled_dir, syncs.clone()).unwrap();
        syncer.sync().unwrap();
        assert!(syncer.synced_blobs.contains(&OsString::from("1")));
        std::fs::remove_file(sled_dir.join("blobs").join("1")).unwrap();
        std::fs::write(sled_dir.join("blobs").join("2"), b"blob").unwrap();
        syncer.sync().unwrap();
        assert_eq!(syncer.synced_blobs, HashSet::from([OsString::from("2")]));
        assert_eq!(syncs.load(Ordering::Relaxed), 2);
    }
}
