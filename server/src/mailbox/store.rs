//! The mailbox trees on disk: their handles, opened once with the
//! start-up recovery, and the reads, acknowledged deletions and retention
//! of mailboxes. Written only by this room's [`super::writer`] (appends)
//! and [`super::reaper`] (acknowledged deletions), plus the purge; every
//! call here can block, so none runs on an async worker (the storage rule
//! in `crate::storage`).
//!
//! Trees (every stored field is listed in PROTOCOL.md, "What the server
//! stores"):
//! - `mailboxes`: `client_id ‖ seq` → envelope waiting for that client.
//! - `mailbox_heads`: `client_id` → highest seq ever assigned.
//! - `mailbox_floors`: `client_id` → highest seq deleted on purpose (acked,
//!   expired or purged), written before the deletion; lets the start-up
//!   check tell deleted entries from lost ones ([`super::recovery`]).
//! - in `meta`, the journal of an unfinished group round ([`super::journal`]).

use crate::storage::vault::{self, Unsealed};
use crate::storage::{ClientId, EnvelopeRecord, Storage, StorageError};

pub(super) const MAILBOXES: &str = "mailboxes";

/// What [`MailboxStore::delete_acked`] did for one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    pub deleted: usize,
    /// Nothing at or below the acked seq is left.
    pub finished: bool,
}

/// Handles to the mailbox trees, and the storage they live in (its vault
/// seals them, its flush makes them durable).
#[derive(Clone)]
pub struct MailboxStore {
    pub(super) storage: Storage,
    pub(super) mailboxes: sled::Tree,
    pub(super) mailbox_heads: sled::Tree,
    /// Highest seq deleted on purpose per mailbox (see [`super::recovery`]).
    pub(super) mailbox_floors: sled::Tree,
    /// Holds the journal of an unfinished group round.
    pub(super) meta: sled::Tree,
}

pub(super) fn be_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("expected 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}

pub(super) fn mailbox_key(client: &ClientId, seq: u64) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..32].copy_from_slice(client);
    key[32..].copy_from_slice(&seq.to_be_bytes());
    key
}

impl MailboxStore {
    /// Open the mailbox trees, finish a group round a crash interrupted and
    /// check every head against its entries, before anything is served
    /// (and before the delivery service loads the groups the journal may
    /// change). Blocking: call at start-up, off the async workers.
    pub fn open(storage: &Storage) -> Result<Self, StorageError> {
        let db = storage.db();
        let store = MailboxStore {
            storage: storage.clone(),
            mailboxes: db.open_tree(MAILBOXES)?,
            mailbox_heads: db.open_tree("mailbox_heads")?,
            mailbox_floors: db.open_tree("mailbox_floors")?,
            meta: db.open_tree("meta")?,
        };
        let journal_replayed = store.replay_journal()?;
        let found = store.check_mailboxes()?;
        // The one line an operator reads to know what the start found.
        if found.heads_lowered > 0 || journal_replayed {
            tracing::warn!(
                mailboxes_checked = found.mailboxes_checked,
                heads_raised = found.heads_raised,
                heads_lowered = found.heads_lowered,
                seqs_lost = found.seqs_lost,
                journal_replayed,
                "storage recovery: a crash interrupted a group round or lost stored envelopes; repaired"
            );
        } else {
            tracing::info!(
                mailboxes_checked = found.mailboxes_checked,
                heads_raised = found.heads_raised,
                heads_lowered = 0,
                seqs_lost = 0,
                journal_replayed,
                "storage recovery: every mailbox head matches its entries"
            );
        }
        Ok(store)
    }

    /// The storage these trees live in.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Open a sealed envelope. `None`: its period key was destroyed, the
    /// envelope is expired.
    fn open_envelope(&self, key: &[u8], value: &[u8]) -> Result<Option<EnvelopeRecord>, StorageError> {
        match self.storage.vault().open_value(MAILBOXES, key, value)? {
            Unsealed::Open(plain) => Ok(Some(EnvelopeRecord::decode(&plain)?)),
            Unsealed::Shredded => Ok(None),
        }
    }

    /// Seal an envelope for `client`'s mailbox at `seq`, under the key of
    /// its arrival period.
    pub(crate) fn seal_envelope(
        &self,
        client: &ClientId,
        seq: u64,
        record: &EnvelopeRecord,
    ) -> Result<Vec<u8>, StorageError> {
        self.storage.vault().seal_at(
            record.received_at,
            MAILBOXES,
            &mailbox_key(client, seq),
            &record.encode(),
        )
    }

    /// Highest seq ever assigned in `client`'s mailbox: its stored head, or
    /// its last entry or floor if higher (heads and entries are separate
    /// writes; see [`MailboxStore::apply_round`] and [`recovery`]).
    pub fn mailbox_head(&self, client: &ClientId) -> Result<u64, StorageError> {
        let stored = match self.mailbox_heads.get(client)? {
            Some(v) => be_u64(&v)?,
            None => 0,
        };
        let last = match self.mailboxes.scan_prefix(client).keys().next_back() {
            Some(key) => be_u64(&key?[32..])?,
            None => 0,
        };
        Ok(stored.max(last).max(self.mailbox_floor(client)?))
    }

    /// Envelopes of `client` with `after < seq ≤ up_to`, in order, until
    /// `limit` envelopes or `max_bytes` of message bytes (at least one).
    pub fn read_mailbox(
        &self,
        client: &ClientId,
        after: u64,
        up_to: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, EnvelopeRecord)>, StorageError> {
        let mut out = Vec::new();
        if after >= up_to {
            return Ok(out);
        }
        let start = mailbox_key(client, after + 1);
        let end = mailbox_key(client, up_to);
        let mut bytes = 0;
        for item in self.mailboxes.range(start..=end).take(limit) {
            let (k, v) = item?;
            // Shredded: expired, never delivered; the purge deletes it.
            let Some(record) = self.open_envelope(&k, &v)? else {
                continue;
            };
            bytes += record.message.len() + record.ratchet_tree.len();
            if bytes > max_bytes && !out.is_empty() {
                break;
            }
            out.push((be_u64(&k[32..])?, record));
        }
        Ok(out)
    }

    /// Number of envelopes stored for `client`.
    pub fn mailbox_len(&self, client: &ClientId) -> Result<u64, StorageError> {
        let mut n = 0;
        for item in self.mailboxes.scan_prefix(client) {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Delete `client`'s envelopes with seq ≤ `up_to`, lowest first, at
    /// most `budget` of them. Single-key removes, not a batch: sled runs a
    /// batch under a lock that stops every other write, and these need no
    /// atomicity (a deletion is only ever redone).
    pub fn delete_acked(&self, client: &ClientId, up_to: u64, budget: usize) -> Result<AckOutcome, StorageError> {
        let start = mailbox_key(client, 0);
        let end = mailbox_key(client, up_to);
        let keys = self
            .mailboxes
            .range(start..=end)
            .keys()
            .take(budget.saturating_add(1))
            .collect::<Result<Vec<_>, _>>()?;
        let finished = keys.len() <= budget;
        // The acked cursor first (see `recovery`): kept whenever a removal
        // below is kept.
        self.raise_floor(client, up_to)?;
        let mut deleted = 0;
        for key in keys.iter().take(budget) {
            if self.mailboxes.remove(key)?.is_some() {
                deleted += 1;
            }
        }
        Ok(AckOutcome { deleted, finished })
    }

    /// Delete `client`'s envelopes of one group; returns how many.
    pub fn purge_group_envelopes(&self, client: &ClientId, group_id: &[u8]) -> Result<usize, StorageError> {
        let mut n = 0;
        for item in self.mailboxes.scan_prefix(client) {
            let (k, v) = item?;
            let of_group = match self.open_envelope(&k, &v)? {
                Some(record) => record.group_id == group_id,
                None => true, // shredded: expired anyway
            };
            if of_group {
                self.raise_floor(client, be_u64(&k[32..])?)?;
                self.mailboxes.remove(k)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Delete envelopes received before `cutoff` (seconds) and those whose
    /// period key is destroyed; returns the affected clients with the
    /// number deleted.
    pub fn purge_mailboxes_before(&self, cutoff: u64) -> Result<Vec<(ClientId, usize)>, StorageError> {
        let mut affected: Vec<(ClientId, usize)> = Vec::new();
        // Periods ending by the cutoff hold only expired envelopes: no need
        // to open them.
        let expired_below = self.storage.vault().period_of(cutoff);
        for item in self.mailboxes.iter() {
            let (k, v) = item?;
            let expired = match vault::Vault::period_of_value(&v) {
                Some(p) if p < expired_below => true,
                _ => match self.open_envelope(&k, &v)? {
                    Some(record) => record.received_at < cutoff,
                    None => true,
                },
            };
            if expired {
                let mut client = [0u8; 32];
                client.copy_from_slice(&k[..32]);
                match affected.last_mut() {
                    Some((c, n)) if *c == client => *n += 1,
                    _ => affected.push((client, 1)),
                }
                self.raise_floor(&client, be_u64(&k[32..])?)?;
                self.mailboxes.remove(k)?;
            }
        }
        Ok(affected)
    }
}
