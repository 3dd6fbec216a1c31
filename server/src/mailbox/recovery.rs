//! Recovery at start: every mailbox head is checked against its stored
//! entries before the server serves anyone, and one line says what was
//! checked and found.
//!
//! A mailbox's stored head may legitimately lie above its last entry: the
//! entries below were deleted on purpose (acked, expired, or purged with
//! their group). So every deliberate deletion first raises the mailbox's
//! *floor* (`mailbox_floors`: the highest seq ever deleted on purpose),
//! in a single-key insert written before the removes (sled keeps a prefix
//! of its log after a crash, so a kept removal always has its floor). At
//! start:
//! - head < last entry: the round's head write was lost; the head is
//!   raised to the last entry (reads already take the higher of the two).
//! - head > max(last entry, floor): entries above the floor were lost
//!   without being deleted (a damaged or cut file). Nobody can ever fetch
//!   them, and a client told that head would wait for them forever, so the
//!   head is lowered to max(last entry, floor) and the loss is reported.
//!   No client has processed those seqs unless it read them before the
//!   loss; a client whose cursor is above the new head resynchronises to
//!   it (PROTOCOL.md, "Mailboxes, push and ack").

use super::store::{be_u64, MailboxStore};
use crate::storage::{ClientId, StorageError};

/// What the start-up check found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Mailboxes with a stored head.
    pub mailboxes_checked: u64,
    /// Heads below their last entry, raised to it.
    pub heads_raised: u64,
    /// Heads above every entry and the floor (entries lost), lowered.
    pub heads_lowered: u64,
    /// Sequence numbers those lowered heads had claimed and that no stored
    /// entry held.
    pub seqs_lost: u64,
}

impl MailboxStore {
    /// The highest seq deleted on purpose from `client`'s mailbox (0: none).
    pub fn mailbox_floor(&self, client: &ClientId) -> Result<u64, StorageError> {
        match self.mailbox_floors.get(client)? {
            Some(v) => be_u64(&v),
            None => Ok(0),
        }
    }

    /// Record, before deleting, that `client`'s entries up to `seq` may be
    /// gone on purpose. Only ever raised; one single-key insert.
    pub(super) fn raise_floor(&self, client: &ClientId, seq: u64) -> Result<(), StorageError> {
        if self.mailbox_floor(client)? < seq {
            self.mailbox_floors.insert(&client[..], &seq.to_be_bytes()[..])?;
        }
        Ok(())
    }

    fn last_entry(&self, client: &ClientId) -> Result<u64, StorageError> {
        match self.mailboxes.scan_prefix(client).keys().next_back() {
            Some(key) => be_u64(&key?[32..]),
            None => Ok(0),
        }
    }

    /// Check every mailbox head against its entries and floor, and repair
    /// it (see the module docs). Runs at start, before anything is served;
    /// the repairs are made durable before it returns.
    pub(super) fn check_mailboxes(&self) -> Result<RecoveryReport, StorageError> {
        let mut report = RecoveryReport::default();
        for item in self.mailbox_heads.iter() {
            let (key, value) = item?;
            let client: ClientId = key
                .as_ref()
                .try_into()
                .map_err(|_| StorageError::Corrupt("mailbox head key".into()))?;
            let head = be_u64(&value)?;
            report.mailboxes_checked += 1;
            let last = self.last_entry(&client)?;
            let floor = self.mailbox_floor(&client)?;
            let honest = last.max(floor);
            if head < last {
                report.heads_raised += 1;
                self.mailbox_heads.insert(&client[..], &last.to_be_bytes()[..])?;
            } else if head > honest {
                report.heads_lowered += 1;
                report.seqs_lost += head - honest;
                self.mailbox_heads.insert(&client[..], &honest.to_be_bytes()[..])?;
            }
        }
        if report.heads_raised + report.heads_lowered > 0 {
            self.storage.make_durable()?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::store::mailbox_key;
    use crate::mailbox::tests::{open_store as open, store_envelopes};

    fn report(storage: &MailboxStore) -> RecoveryReport {
        storage.check_mailboxes().unwrap()
    }

    /// A cut file took entries but kept the head that claimed them: the
    /// head comes down to what is stored, so nobody waits for them.
    #[test]
    fn a_head_past_lost_entries_is_lowered_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let client = [3u8; 32];
        store_envelopes(&storage, &[(client, 10)]);
        for seq in 4..=10 {
            storage.mailboxes.remove(mailbox_key(&client, seq)).unwrap();
        }
        assert_eq!(
            report(&storage),
            RecoveryReport {
                mailboxes_checked: 1,
                heads_lowered: 1,
                seqs_lost: 7,
                ..Default::default()
            }
        );
        assert_eq!(storage.mailbox_head(&client).unwrap(), 3);
        assert_eq!(report(&storage).heads_lowered, 0, "repaired once and for all");
    }

    /// Acked (and purged) entries are gone on purpose: the head stays, so
    /// their seqs are never handed out again.
    #[test]
    fn a_head_above_acked_or_purged_entries_stays() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let (acked, purged, partly) = ([1u8; 32], [2u8; 32], [4u8; 32]);
        store_envelopes(&storage, &[(acked, 5), (purged, 4), (partly, 6)]);
        storage.delete_acked(&acked, 5, usize::MAX).unwrap();
        storage.purge_mailboxes_before(u64::MAX).unwrap();
        assert_eq!(
            report(&storage),
            RecoveryReport {
                mailboxes_checked: 3,
                ..Default::default()
            }
        );
        for (client, head) in [(acked, 5), (purged, 4), (partly, 6)] {
            assert_eq!(storage.mailbox_head(&client).unwrap(), head);
        }
        // Acked up to 2, then 3..=6 lost: the head comes down to the ack.
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        store_envelopes(&storage, &[(partly, 6)]);
        storage.delete_acked(&partly, 2, usize::MAX).unwrap();
        for seq in 3..=6 {
            storage.mailboxes.remove(mailbox_key(&partly, seq)).unwrap();
        }
        assert_eq!(report(&storage).seqs_lost, 4);
        assert_eq!(storage.mailbox_head(&partly).unwrap(), 2);
    }

    /// A lost head write (the entries kept) is raised to the last entry.
    #[test]
    fn a_head_below_its_last_entry_is_raised() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open(dir.path());
        let client = [5u8; 32];
        store_envelopes(&storage, &[(client, 4)]);
        storage.mailbox_heads.insert(client, &1u64.to_be_bytes()).unwrap();
        assert_eq!(report(&storage).heads_raised, 1);
        assert_eq!(
            storage.mailbox_heads.get(client).unwrap().unwrap().as_ref(),
            &4u64.to_be_bytes()
        );
    }

    /// The check runs at every open, after the journal.
    #[test]
    fn opening_the_storage_repairs_the_heads() {
        let dir = tempfile::tempdir().unwrap();
        let client = [6u8; 32];
        {
            let storage = open(dir.path());
            store_envelopes(&storage, &[(client, 3)]);
            storage.mailboxes.remove(mailbox_key(&client, 3)).unwrap();
            storage.storage().flush_blocking().unwrap();
        }
        let storage = open(dir.path());
        assert_eq!(storage.mailbox_head(&client).unwrap(), 2);
    }
}
