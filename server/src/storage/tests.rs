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

/// Durable writes go through an owner (the mailbox writer, its reaper or
/// the state owner), which flushes and fsyncs; a `flush_async` elsewhere
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
