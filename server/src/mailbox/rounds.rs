//! The writer's rounds applied to sled: envelopes and group states, with
//! the journal that finishes an interrupted group round at start-up.

use super::journal;
use super::store::{mailbox_key, MailboxStore};
use super::writer;
use crate::storage::StorageError;

impl MailboxStore {
    /// Write one round of the writer: group state changes, mailbox entries
    /// and the new mailbox heads, in single-key steps (see the module's
    /// rule). Durable only after the writer's flush.
    ///
    /// Order matters for a crash, after which sled keeps a prefix of its
    /// log: entries before heads, so a kept entry never lacks its head
    /// (`mailbox_head` reads the last entry too) and no seq is skipped. A
    /// round that changes a group must land whole or not at all (members
    /// would miss a commit, or get one the group state does not know), so
    /// its group writes and their envelopes are first written as one
    /// journal value, which [`MailboxStore::replay_journal`] applies at start.
    pub(crate) fn apply_round(&self, round: &writer::Round) -> Result<(), StorageError> {
        let sealed_groups = round
            .groups
            .iter()
            .map(|(group_id, record)| {
                let sealed = record
                    .as_ref()
                    .map(|plain| self.storage.seal_group_state(group_id, plain))
                    .transpose()?;
                Ok((
                    serde_bytes::ByteBuf::from(group_id.clone()),
                    sealed.map(serde_bytes::ByteBuf::from),
                ))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let journal = if sealed_groups.is_empty() {
            None
        } else {
            let journal = journal::Journal {
                groups: sealed_groups,
                entries: round
                    .entries
                    .iter()
                    .filter(|(_, _, _, journaled)| *journaled)
                    .map(|(client, seq, bytes, _)| {
                        (
                            serde_bytes::ByteBuf::from(mailbox_key(client, *seq).to_vec()),
                            serde_bytes::ByteBuf::from(bytes.clone()),
                        )
                    })
                    .collect(),
            };
            self.meta.insert(journal::KEY, journal.encode())?;
            Some(journal)
        };
        for (client, seq, bytes, _) in &round.entries {
            self.mailboxes
                .insert(&mailbox_key(client, *seq)[..], bytes.as_slice())?;
        }
        for (client, head) in &round.heads {
            self.mailbox_heads.insert(&client[..], &head.to_be_bytes()[..])?;
        }
        if let Some(journal) = journal {
            self.storage.write_group_states(&journal.groups)?;
            self.meta.remove(journal::KEY)?;
        }
        Ok(())
    }

    /// Finish a group round that a crash interrupted: its journal is on
    /// disk, so all of it is applied again (every step is idempotent).
    /// Returns whether there was one.
    pub(super) fn replay_journal(&self) -> Result<bool, StorageError> {
        let Some(bytes) = self.meta.get(journal::KEY)? else {
            return Ok(false);
        };
        let journal = journal::Journal::decode(&bytes)?;
        for (key, bytes) in &journal.entries {
            self.mailboxes.insert(key.as_slice(), bytes.as_slice())?;
        }
        self.storage.write_group_states(&journal.groups)?;
        self.meta.remove(journal::KEY)?;
        self.storage.flush_blocking()?;
        Ok(true)
    }
}
