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

/// Store envelopes 1..=count in each client's mailbox, heads included,
/// as one writer round would.
pub(crate) fn store_envelopes(storage: &Storage, mailboxes: &[(ClientId, u64)]) {
    let mut round = writer::Round::default();
    for &(client, count) in mailboxes {
        for seq in 1..=count {
            let sealed = storage.seal_envelope(&client, seq, &test_record()).unwrap();
            round.entries.push((client, seq, sealed, false));
        }
        round.heads.push((client, count));
    }
    storage.apply_round(&round).unwrap();
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

/// Durable writes go through an owner (the writer, the reaper or the
/// state owner), which flushes and fsyncs; a `flush_async` elsewhere
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

/// A group round interrupted after its journal was written is finished
/// at the next start: the group state and its envelopes together.
#[test]
fn an_interrupted_group_round_is_finished_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let client = [4u8; 32];
    {
        let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
        let sealed = storage.seal_envelope(&client, 1, &test_record()).unwrap();
        let record = GroupRecord {
            public_state: Vec::new(),
            last_activity: 7,
        };
        let group = storage.vault.seal_state(GROUPS, b"g1", &record.encode()).unwrap();
        let journal = journal::Journal {
            groups: vec![(serde_bytes::ByteBuf::from(b"g1".to_vec()), Some(group.into()))],
            entries: vec![(mailbox_key(&client, 1).to_vec().into(), sealed.into())],
        };
        // The crash: only the journal reached the disk.
        storage.meta.insert(journal::KEY, journal.encode()).unwrap();
        storage.flush_blocking().unwrap();
    }
    let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
    assert!(storage.meta.get(journal::KEY).unwrap().is_none(), "the journal is done");
    let groups = storage.load_groups().unwrap();
    assert_eq!((groups.len(), groups[0].1.last_activity), (1, 7));
    assert_eq!(storage.mailbox_head(&client).unwrap(), 1);
    assert_eq!(storage.read_mailbox(&client, 0, 1, 10, usize::MAX).unwrap().len(), 1);
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

/// A crash can keep a round's entries without its head (they are two
/// batches); the head is then read from the last entry, so no seq is
/// handed out twice.
#[test]
fn the_head_is_never_below_the_last_stored_entry() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
    let client = [9u8; 32];
    store_envelopes(&storage, &[(client, 3)]);
    assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
    // The head batch lost, the entries kept.
    storage.mailbox_heads.insert(client, &1u64.to_be_bytes()).unwrap();
    assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
    // Everything acked: the stored head alone says where seqs stand.
    storage.mailbox_heads.insert(client, &3u64.to_be_bytes()).unwrap();
    storage.delete_acked(&client, 3, usize::MAX).unwrap();
    assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
    assert_eq!(storage.mailbox_len(&client).unwrap(), 0);
}

/// Acks are deleted within a budget, lowest seqs first; a mailbox the
/// budget does not finish says so and is finished by a later call.
#[test]
fn ack_deletions_stop_at_the_budget_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), test_keys(dir.path())).unwrap();
    let (first, second) = ([1u8; 32], [2u8; 32]);
    store_envelopes(&storage, &[(first, 5), (second, 3)]);

    let done = |deleted| AckOutcome {
        deleted,
        finished: true,
    };
    assert_eq!(storage.delete_acked(&first, 5, 6).unwrap(), done(5));
    assert_eq!(
        storage.delete_acked(&second, 3, 1).unwrap(),
        AckOutcome {
            deleted: 1,
            finished: false
        }
    );
    assert_eq!(storage.read_mailbox(&second, 0, 3, 10, usize::MAX).unwrap()[0].0, 2);
    assert_eq!(storage.delete_acked(&second, 3, 2).unwrap(), done(2));
    assert_eq!(
        storage.mailbox_len(&first).unwrap() + storage.mailbox_len(&second).unwrap(),
        0
    );
    assert_eq!(storage.delete_acked(&second, 3, 0).unwrap(), done(0));
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
