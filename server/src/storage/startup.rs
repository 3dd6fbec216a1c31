//! What [`super::Storage::open`] checks and repairs before and after sled
//! opens the data directory (SECURITY.md, "Safe defaults for operators"):
//! the directory is the owner's alone, a half-written snapshot left by a
//! crash (a full disk) is removed, a damaged database is a clear error and
//! never a panic, and a database that went missing beside a key file that
//! sealed data stops the start instead of starting empty.

use std::path::Path;

use super::{StorageError, Vault};

/// The data directory's mode: its contents are the owner's alone.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// Create `dir` (mode 0700) or bring an existing one to 0700, take group
/// and other permissions off what is in it, and remove leftover snapshot
/// temp files from sled's folder `sled_dir`.
pub(super) fn prepare_data_dir(dir: &Path, sled_dir: &Path) -> Result<(), StorageError> {
    let io = |e: std::io::Error| StorageError::Sled(sled::Error::Io(e));
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(io)?;
        let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode() & 0o777;
        if mode != DIR_MODE {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE)).map_err(io)?;
            tracing::warn!(
                was = format!("{mode:o}"),
                "the data directory was open to others; set it to 0700"
            );
        }
        // Files written before this check (or by an older version) keep
        // the umask's bits; the server's own umask is 077 from now on.
        owner_only_below(dir, 3);
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(io)?;
    remove_unfinished_snapshots(sled_dir);
    Ok(())
}

/// Take group and other bits off the files and folders below `dir`, down
/// to `depth` levels (sled's layout is two deep). Symlinks are left alone.
#[cfg(unix)]
fn owner_only_below(dir: &Path, depth: u32) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & !0o077));
        }
        if meta.is_dir() && depth > 1 {
            owner_only_below(&entry.path(), depth - 1);
        }
    }
}

/// sled writes a snapshot to `snap.<lsn>.generating`, syncs it and renames
/// it. A crash before the rename (a full disk) leaves the temp file, often
/// empty, which sled then reads as the newest snapshot: every later start
/// fails with "Read corrupted data". The file is never complete data, so
/// removing it loses nothing; sled rebuilds the snapshot from its log.
fn remove_unfinished_snapshots(sled_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(sled_dir) else {
        return; // no database yet
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let unfinished = name
            .strip_prefix("snap.")
            .and_then(|rest| rest.strip_suffix(".generating"))
            .is_some_and(|lsn| !lsn.is_empty() && lsn.bytes().all(|b| b.is_ascii_hexdigit()));
        if !unfinished {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => tracing::warn!(file = name, "removed an unfinished sled snapshot left by a crash"),
            Err(e) => tracing::error!(file = name, error = %e, "cannot remove an unfinished sled snapshot"),
        }
    }
}

/// Open sled. A damaged database makes sled 0.34 either return a
/// corruption error or panic while it replays its log (for example
/// "tried to serialize Uninitialized"); both become
/// [`StorageError::Damaged`], which says what to do.
pub(super) fn open_sled(config: sled::Config, sled_dir: &Path) -> Result<sled::Db, StorageError> {
    open_catching(sled_dir, || config.open())
}

fn open_catching(sled_dir: &Path, open: impl FnOnce() -> sled::Result<sled::Db>) -> Result<sled::Db, StorageError> {
    let damaged = |detail: String| StorageError::Damaged {
        path: sled_dir.to_path_buf(),
        detail,
    };
    quiet_panics_while_opening();
    OPENING.with(|o| o.set(true));
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    OPENING.with(|o| o.set(false));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e @ sled::Error::Corruption { .. })) => Err(damaged(e.to_string())),
        Ok(Err(e)) => Err(StorageError::Sled(e)),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "sled panicked".into());
            Err(damaged(detail))
        }
    }
}

thread_local! {
    /// This thread is inside [`open_sled`].
    static OPENING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// sled's panic while opening is reported as [`StorageError::Damaged`];
/// the default hook would print it first as a crash with a backtrace.
/// Panics anywhere else still reach the previous hook.
fn quiet_panics_while_opening() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !OPENING.with(|o| o.get()) {
                previous(info);
            }
        }));
    });
}

/// The database has no schema version, so sled found nothing: fine for a
/// first start, but not when the key file already sealed messages. Then
/// the database was lost, replaced or not mounted, and starting would
/// serve an empty helpline and acknowledge nothing of what was stored.
pub(super) fn refuse_lost_database(vault: &Vault, sled_dir: &Path) -> Result<(), StorageError> {
    if vault.has_sealed_data() {
        return Err(StorageError::DatabaseMissing {
            database: sled_dir.to_path_buf(),
            key_file: vault.key_file().to_path_buf(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Storage, StorageError, VaultConfig};
    use std::path::{Path, PathBuf};

    fn keys(root: &Path) -> VaultConfig {
        VaultConfig {
            key_file: root.join("data.keys"),
            period_secs: 3600,
            retention_secs: 7200,
        }
    }

    /// A data directory that stored one sealed envelope (so the key file
    /// holds a period key), closed again.
    fn used_data_dir(root: &Path) -> PathBuf {
        let data = root.join("data");
        let storage = Storage::open(&data, keys(root)).unwrap();
        storage
            .vault()
            .seal_at(crate::time::now_secs(), "mailboxes", b"k", b"an envelope")
            .unwrap();
        storage.db().insert("x", "y").unwrap();
        storage.flush_blocking().unwrap();
        drop(storage);
        data
    }

    #[cfg(unix)]
    #[test]
    fn the_data_directory_and_its_files_become_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(data.join("old-file"), "x").unwrap();
        std::fs::set_permissions(data.join("old-file"), std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Storage::open(&data, keys(root.path())).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("old-file")), 0o600);
        // A fresh directory, nested: created 0700.
        let fresh = root.path().join("a/b/data");
        drop(Storage::open(&fresh, keys(&root.path().join("a/b"))).unwrap());
        assert_eq!(mode(&fresh), 0o700);
    }

    #[test]
    fn an_unfinished_snapshot_left_by_a_crash_is_removed_and_the_database_opens() {
        let root = tempfile::tempdir().unwrap();
        let data = used_data_dir(root.path());
        let sled_dir = data.join("sled");
        // What a crash on a full disk leaves: the temp file, empty, named
        // after the newest log position so it sorts last.
        let leftover = sled_dir.join("snap.FFFFFFFFFFFFFFFF.generating");
        std::fs::write(&leftover, b"").unwrap();
        // sled alone takes it for the newest snapshot and fails.
        let plain = sled::Config::new().path(&sled_dir).open();
        assert!(plain.is_err(), "sled opened despite the empty snapshot");
        drop(plain);
        let storage = Storage::open(&data, keys(root.path())).unwrap();
        assert!(!leftover.exists());
        assert_eq!(storage.db().get("x").unwrap().as_deref(), Some(&b"y"[..]));
    }

    #[test]
    fn a_missing_database_beside_a_key_file_that_sealed_data_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let data = used_data_dir(root.path());
        std::fs::remove_dir_all(&data).unwrap();
        for attempt in 0..2 {
            // The second attempt finds the empty database the first left.
            let Err(e) = Storage::open(&data, keys(root.path())) else {
                panic!("attempt {attempt}: an empty server started beside the old key file")
            };
            assert!(matches!(e, StorageError::DatabaseMissing { .. }), "{e}");
            let message = e.to_string();
            assert!(message.contains("data.keys"), "{message}");
            assert!(message.contains("missing or empty"), "{message}");
            assert!(message.contains("Restore or mount the data directory"), "{message}");
        }
        // The operator really wants to start empty: the key file goes too.
        std::fs::rename(root.path().join("data.keys"), root.path().join("old.keys")).unwrap();
        Storage::open(&data, keys(root.path())).unwrap();
    }

    #[test]
    fn a_key_file_that_never_sealed_data_lets_a_new_database_start() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        drop(Storage::open(&data, keys(root.path())).unwrap());
        std::fs::remove_dir_all(&data).unwrap();
        Storage::open(&data, keys(root.path())).unwrap();
    }

    #[test]
    fn a_damaged_database_is_a_clear_error_not_a_panic() {
        let root = tempfile::tempdir().unwrap();
        let data = used_data_dir(root.path());
        // A snapshot whose checksum does not match: sled reports corruption.
        std::fs::write(data.join("sled/snap.0000000000000000"), vec![0xA5; 4096]).unwrap();
        let opened = std::panic::catch_unwind(|| Storage::open(&data, keys(root.path())));
        let Ok(Err(e)) = opened else {
            panic!("a damaged database panicked or opened")
        };
        let message = e.to_string();
        assert!(matches!(e, StorageError::Damaged { .. }), "{message}");
        assert!(message.contains("data/sled is damaged"), "{message}");
        assert!(message.contains("from its latest backup"), "{message}");
    }

    #[test]
    fn a_panic_inside_sled_while_opening_becomes_the_damaged_error() {
        // What the issue saw at start on a damaged database.
        let opened = super::open_catching(Path::new("/srv/parasol/data/sled"), || {
            panic!("tried to serialize Uninitialized")
        });
        let Err(e) = opened else { panic!("opened") };
        let message = e.to_string();
        assert!(matches!(e, StorageError::Damaged { .. }), "{message}");
        assert!(message.contains("/srv/parasol/data/sled is damaged"), "{message}");
        assert!(message.contains("tried to serialize Uninitialized"), "{message}");
        // Outside the open, panics unwind as before.
        assert!(std::panic::catch_unwind(|| panic!("elsewhere")).is_err());
    }

    #[test]
    fn a_database_that_sled_reads_as_empty_beside_a_key_file_that_sealed_data_is_refused() {
        // sled reads a log overwritten with garbage as no data at all.
        let root = tempfile::tempdir().unwrap();
        let data = used_data_dir(root.path());
        let db = data.join("sled/db");
        let len = std::fs::metadata(&db).unwrap().len() as usize;
        std::fs::write(&db, vec![0xFF; len]).unwrap();
        let Err(e) = Storage::open(&data, keys(root.path())) else {
            panic!("an empty server started beside the old key file")
        };
        assert!(matches!(e, StorageError::DatabaseMissing { .. }), "{e}");
    }
}
