//! The journal of a round that changes a group: its group writes and their
//! envelopes as one value, so that one single-key insert decides whether
//! the round happened (see `MailboxStore::apply_round`).

use serde::{Deserialize, Serialize};

use crate::storage::StorageError;

/// Where the journal lives in the `meta` tree; at most one round is
/// unfinished at a time, since one writer thread writes them.
pub const KEY: &[u8] = b"group_round_journal";

#[derive(Serialize, Deserialize)]
pub struct Journal {
    /// Group id → sealed state, or `None` to delete it.
    pub groups: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)>,
    /// Mailbox key → sealed envelope.
    pub entries: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>,
}

impl Journal {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("a journal of byte strings always serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        rmp_serde::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("group round journal: {e}")))
    }
}
