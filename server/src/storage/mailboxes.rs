//! Mailboxes on disk: heads, reads, acknowledged deletions and retention.

use super::*;

impl Storage {
    /// Highest seq ever assigned in `client`'s mailbox: its stored head, or
    /// its last entry or floor if higher (heads and entries are separate
    /// writes; see [`Storage::apply_round`] and [`recovery`]).
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
            let Some(plain) = self.open_value(MAILBOXES, &k, &v)? else {
                continue;
            };
            let record = EnvelopeRecord::decode(&plain)?;
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
            let of_group = match self.open_value(MAILBOXES, &k, &v)? {
                Some(plain) => EnvelopeRecord::decode(&plain)?.group_id == group_id,
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
        let expired_below = self.vault.period_of(cutoff);
        for item in self.mailboxes.iter() {
            let (k, v) = item?;
            let expired = match vault::Vault::period_of_value(&v) {
                Some(p) if p < expired_below => true,
                _ => match self.open_value(MAILBOXES, &k, &v)? {
                    Some(plain) => EnvelopeRecord::decode(&plain)?.received_at < cutoff,
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
