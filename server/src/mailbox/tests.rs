//! The queueing service's tests, and helpers for the tests of its parts.

use std::path::Path;

use super::store::mailbox_key;
use super::*;
use crate::storage::tests::{test_keys, test_record};
use crate::storage::GroupRecord;
use writer::Round;

fn record() -> EnvelopeRecord {
    test_record()
}

/// A writer that commits at once, for tests.
pub(crate) fn test_writer_config(max_mailbox_envelopes: u64) -> WriterConfig {
    WriterConfig {
        group_commit_delay: std::time::Duration::ZERO,
        max_jobs_per_round: 16,
        max_round_bytes: 1 << 20,
        max_mailbox_envelopes,
    }
}

/// The mailbox trees of a (new or existing) store in `dir`, recovered.
pub(crate) fn open_store(dir: &Path) -> MailboxStore {
    let storage = Storage::open(dir, test_keys(dir)).unwrap();
    MailboxStore::open(&storage).unwrap()
}

/// Store envelopes 1..=count in each client's mailbox, heads included,
/// as one writer round would.
pub(crate) fn store_envelopes(store: &MailboxStore, mailboxes: &[(ClientId, u64)]) {
    let mut round = Round::default();
    for &(client, count) in mailboxes {
        for seq in 1..=count {
            let sealed = store.seal_envelope(&client, seq, &test_record()).unwrap();
            round.entries.push((client, seq, sealed, false));
        }
        round.heads.push((client, count));
    }
    store.apply_round(&round).unwrap();
}

/// Mailboxes over a fresh store in `dir`, with a writer and a reaper.
fn with_writer(dir: &Path, max_mailbox_envelopes: u64) -> (MailboxStore, Mailboxes) {
    let storage = Storage::open(dir, test_keys(dir)).unwrap();
    let (mailboxes, _thread) = Mailboxes::open(&storage, test_writer_config(max_mailbox_envelopes), 16).unwrap();
    (mailboxes.store.clone(), mailboxes)
}

/// Issue 24: an acknowledgement (an envelope write's answer, a state
/// write's answer) comes only after sled's files were fsynced, not just
/// after sled's flush (which is `sync_file_range` on Linux).
#[tokio::test]
async fn every_answer_waits_for_an_fsync_after_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mailboxes) = with_writer(dir.path(), 10);
    let storage = store.storage();
    let before = storage.durable_syncs();
    let pending = mailboxes
        .enqueue(None, vec![([3u8; 32], Arc::new(record()))])
        .await
        .unwrap();
    mailboxes.complete(pending).await.unwrap();
    let after_envelope = storage.durable_syncs();
    assert!(after_envelope > before, "an envelope was acknowledged without an fsync");

    let tree = storage.db().open_tree("seam").unwrap();
    storage
        .owner()
        .write(move || -> Result<(), StorageError> {
            tree.insert("k", "v")?;
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        storage.durable_syncs() > after_envelope,
        "a state write was acknowledged without an fsync"
    );
}

/// Entries a round applied but has not yet flushed are invisible: after
/// a crash their seqs would be handed out again.
#[tokio::test]
async fn reads_stop_at_the_durable_head() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_store(dir.path());
    let index: MailboxIndex = Default::default();
    let (writer, _rx) = mpsc::channel(1);
    let mailboxes = Mailboxes::with_writer(storage.clone(), index.clone(), writer);
    let client = [7u8; 32];
    assert_eq!(mailboxes.head(&client).await.unwrap(), 0);

    let round = Round {
        entries: vec![(client, 1, storage.seal_envelope(&client, 1, &record()).unwrap(), false)],
        heads: vec![(client, 1)],
        ..Default::default()
    };
    storage.apply_round(&round).unwrap();
    assert!(
        mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap().is_empty(),
        "not yet durable"
    );

    // What the writer does after the flush: publish the new head.
    index.lock().get_mut(&client).unwrap().head = 1;
    assert_eq!(mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap().len(), 1);
}

#[tokio::test]
async fn empty_mailboxes_leave_the_index_and_come_back_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, mailboxes) = with_writer(dir.path(), 100);
    let (idle, busy) = ([1u8; 32], [2u8; 32]);
    mailboxes.head(&idle).await.unwrap();
    for _ in 0..2 {
        let pending = mailboxes
            .enqueue_bounded(None, vec![(busy, Arc::new(record()))])
            .await
            .unwrap();
        mailboxes.complete(pending).await.unwrap();
    }
    mailboxes.ack(&busy, 1).await.unwrap();
    assert_eq!(mailboxes.index_len(), 2);
    // The reaper deletes on its own thread, soon after the ack.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while storage.mailbox_len(&busy).unwrap() != 1 {
        assert!(std::time::Instant::now() < deadline, "the ack was never applied");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    mailboxes.evict_empty();
    while mailboxes.index_len() != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the empty entry was never evicted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The mailbox with mail stays; the evicted one reloads from disk.
    assert_eq!(mailboxes.head(&busy).await.unwrap(), 2);
    assert_eq!(mailboxes.read(&busy, 0, 10, usize::MAX).await.unwrap().len(), 1);
    assert_eq!(mailboxes.head(&idle).await.unwrap(), 0);
    mailboxes.ack(&busy, 2).await.unwrap();
    mailboxes.evict_empty();
    let pending = mailboxes
        .enqueue_bounded(None, vec![(busy, Arc::new(record()))])
        .await
        .unwrap();
    mailboxes.complete(pending).await.unwrap();
    assert_eq!(
        mailboxes.head(&busy).await.unwrap(),
        3,
        "seqs continue after an eviction"
    );
}

/// An ack covering more envelopes than the reaper deletes in one step
/// is finished over the following steps, and the mailbox still takes
/// new envelopes meanwhile.
#[tokio::test]
async fn a_large_ack_is_deleted_over_several_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, mailboxes) = with_writer(dir.path(), 10_000);
    let client = [3u8; 32];
    // Three times what the reaper deletes in one step.
    for _ in 0..12 {
        let pending = mailboxes
            .enqueue_bounded(None, vec![(client, Arc::new(record())); 64])
            .await
            .unwrap();
        mailboxes.complete(pending).await.unwrap();
    }
    assert_eq!(mailboxes.head(&client).await.unwrap(), 768);
    mailboxes.ack(&client, 768).await.unwrap();
    let pending = mailboxes
        .enqueue_bounded(None, vec![(client, Arc::new(record()))])
        .await
        .unwrap();
    mailboxes.complete(pending).await.unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // The reaper lowers the count just after its removes.
    while storage.mailbox_len(&client).unwrap() != 1 || mailboxes.is_full(&client, 2).await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "the ack was never finished");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let left = mailboxes.read(&client, 0, 10, usize::MAX).await.unwrap();
    assert_eq!(left.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), vec![769]);
    assert!(
        !mailboxes.is_full(&client, 2).await.unwrap(),
        "the count follows the deletions"
    );
}

/// A group round interrupted after its journal was written is finished
/// at the next start: the group state and its envelopes together.
#[test]
fn an_interrupted_group_round_is_finished_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let client = [4u8; 32];
    {
        let store = open_store(dir.path());
        let sealed = store.seal_envelope(&client, 1, &test_record()).unwrap();
        let record = GroupRecord {
            public_state: Vec::new(),
            last_activity: 7,
        };
        let group = store.storage().seal_group_state(b"g1", &record.encode()).unwrap();
        let journal = journal::Journal {
            groups: vec![(serde_bytes::ByteBuf::from(b"g1".to_vec()), Some(group.into()))],
            entries: vec![(mailbox_key(&client, 1).to_vec().into(), sealed.into())],
        };
        // The crash: only the journal reached the disk.
        store.meta.insert(journal::KEY, journal.encode()).unwrap();
        store.storage().flush_blocking().unwrap();
    }
    let store = open_store(dir.path());
    assert!(store.meta.get(journal::KEY).unwrap().is_none(), "the journal is done");
    let groups = store.storage().load_groups().unwrap();
    assert_eq!((groups.len(), groups[0].1.last_activity), (1, 7));
    assert_eq!(store.mailbox_head(&client).unwrap(), 1);
    assert_eq!(store.read_mailbox(&client, 0, 1, 10, usize::MAX).unwrap().len(), 1);
}

/// A crash can keep a round's entries without its head (they are two
/// batches); the head is then read from the last entry, so no seq is
/// handed out twice.
#[test]
fn the_head_is_never_below_the_last_stored_entry() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_store(dir.path());
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
    let storage = open_store(dir.path());
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
