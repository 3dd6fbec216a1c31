//! The intake's own sled trees: open tickets, shift states, which client
//! keys belong to staff, blocks and sealed team messages. Nothing here
//! names a visitor beyond the anonymous key of their chat, and closed
//! tickets are deleted.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::escalation::migrate::LegacyTicketEscalation;
use crate::storage::owner::StateOwner;
use crate::storage::{ClientId, StorageError, Vault};

const TICKETS: &str = "intake_tickets";
const SHIFTS: &str = "intake_shifts";
const STAFF_CLIENTS: &str = "intake_staff_clients";
/// Account id → the key its last live session authenticated with.
const BLOCKS: &str = "intake_blocks";
const TEAM_MESSAGES: &str = "intake_team_messages";

/// A ticket as stored: enough to rebuild the queue and the chats after a
/// restart. Offers are not stored: after a restart a ticket is offered again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketRecord {
    pub id: u64,
    pub visitor: ClientId,
    pub language: String,
    pub topic: String,
    pub urgent: bool,
    pub created_at: u64,
    pub arrival: u64,
    pub handover: bool,
    /// Position when it joined the queue (calibrates the wait estimate).
    pub initial_position: u32,
    #[serde(with = "serde_bytes")]
    pub resume_hash: Vec<u8>,
    pub key_packages: Vec<serde_bytes::ByteBuf>,
    pub counsellor: Option<u64>,
    pub counsellor_client: Option<ClientId>,
    pub group_id: Option<serde_bytes::ByteBuf>,
    pub accepted_at: Option<u64>,
    pub transfers: u32,
    /// A counsellor the visitor's client must add (transfer, hand-over).
    pub pending_add: Option<PendingAdd>,
    /// The visitor came back with a new key: its counsellor re-adds it.
    pub pending_readd: Option<PendingReadd>,
    /// The counsellor being replaced, removed once the new one joined.
    pub previous_client: Option<ClientId>,
    /// The badge of the chat's counsellor when it was assigned, shown to
    /// the visitor while that counsellor is not connected.
    #[serde(default)]
    pub counsellor_badge: Option<parasol_protocol::StaffBadge>,
    // What escalations did to the chat is the escalation service's
    // (`escalation_chats`); tickets stored before that still carry it, and
    // are migrated at start-up ([`crate::escalation::migrate`]).
}

/// A ticket as read: the record, and the escalation fields it may still
/// carry from before they moved.
#[derive(Deserialize)]
struct StoredTicket {
    #[serde(flatten)]
    record: TicketRecord,
    #[serde(flatten)]
    legacy: LegacyTicketEscalation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAdd {
    pub account: u64,
    pub client: ClientId,
    #[serde(with = "serde_bytes")]
    pub key_package: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingReadd {
    pub old_client: ClientId,
    #[serde(with = "serde_bytes")]
    pub key_package: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeamMessageRecord {
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    pub language: String,
    pub left_at: u64,
}

#[derive(Clone)]
pub struct IntakeStore {
    /// Writes these trees (see storage's rule); reads stay here.
    owner: StateOwner,
    tickets: sled::Tree,
    shifts: sled::Tree,
    staff_clients: sled::Tree,
    blocks: sled::Tree,
    team_messages: sled::Tree,
    /// Every value is sealed under the storage's state key.
    vault: Vault,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("intake records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("intake record: {e}")))
}

impl IntakeStore {
    pub fn open(storage: &crate::storage::Storage) -> Result<Self, StorageError> {
        let db = storage.db();
        Ok(IntakeStore {
            owner: storage.owner().clone(),
            tickets: db.open_tree(TICKETS)?,
            shifts: db.open_tree(SHIFTS)?,
            staff_clients: db.open_tree(STAFF_CLIENTS)?,
            blocks: db.open_tree(BLOCKS)?,
            team_messages: db.open_tree(TEAM_MESSAGES)?,
            vault: storage.vault().clone(),
        })
    }

    fn load_all<T: DeserializeOwned>(
        &self,
        name: &str,
        tree: &sled::Tree,
    ) -> Result<Vec<(sled::IVec, T)>, StorageError> {
        tree.iter()
            .map(|item| {
                let (k, v) = item?;
                let plain = self.vault.open_state(name, &k, &v)?;
                Ok((k, decode(&plain)?))
            })
            .collect()
    }

    fn put<T: Serialize>(&self, name: &str, tree: &sled::Tree, key: &[u8], value: &T) -> Result<(), StorageError> {
        self.owner
            .insert(tree, key, self.vault.seal_state(name, key, &encode(value))?)?;
        Ok(())
    }

    pub fn tickets(&self) -> Result<Vec<TicketRecord>, StorageError> {
        Ok(self.tickets_as_stored()?.into_iter().map(|(t, _)| t).collect())
    }

    /// Every ticket with the escalation fields it was stored with, if any
    /// (for the start-up migration).
    pub fn tickets_as_stored(&self) -> Result<Vec<(TicketRecord, LegacyTicketEscalation)>, StorageError> {
        Ok(self
            .load_all::<StoredTicket>(TICKETS, &self.tickets)?
            .into_iter()
            .map(|(_, t)| (t.record, t.legacy))
            .collect())
    }

    pub fn put_ticket(&self, ticket: &TicketRecord) -> Result<(), StorageError> {
        self.put(TICKETS, &self.tickets, &ticket.id.to_be_bytes(), ticket)
    }

    /// Write the ticket now: only on the state owner's thread (in a job).
    pub fn put_ticket_on_owner(&self, ticket: &TicketRecord) -> Result<(), StorageError> {
        let key = ticket.id.to_be_bytes();
        self.tickets
            .insert(key, self.vault.seal_state(TICKETS, &key, &encode(ticket))?)?;
        Ok(())
    }

    /// The state owner writing these trees.
    pub fn owner(&self) -> &StateOwner {
        &self.owner
    }

    pub fn delete_ticket(&self, id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.tickets, id.to_be_bytes())?;
        Ok(())
    }

    pub fn shifts(&self) -> Result<Vec<(u64, parasol_protocol::ShiftState)>, StorageError> {
        self.load_all(SHIFTS, &self.shifts)?
            .into_iter()
            .map(|(k, v)| Ok((be_u64(&k)?, v)))
            .collect()
    }

    pub fn put_shift(&self, account: u64, state: parasol_protocol::ShiftState) -> Result<(), StorageError> {
        self.put(SHIFTS, &self.shifts, &account.to_be_bytes(), &state)
    }

    pub fn staff_clients(&self) -> Result<Vec<(ClientId, u64)>, StorageError> {
        self.load_all::<u64>(STAFF_CLIENTS, &self.staff_clients)?
            .into_iter()
            .map(|(k, account)| {
                let client: ClientId = k
                    .as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("staff client key".into()))?;
                Ok((client, account))
            })
            .collect()
    }

    pub fn put_staff_client(&self, client: &ClientId, account: u64) -> Result<(), StorageError> {
        self.put(STAFF_CLIENTS, &self.staff_clients, client, &account)
    }

    pub fn blocks(&self) -> Result<Vec<(ClientId, u64)>, StorageError> {
        self.load_all::<u64>(BLOCKS, &self.blocks)?
            .into_iter()
            .map(|(k, until)| {
                let client: ClientId = k
                    .as_ref()
                    .try_into()
                    .map_err(|_| StorageError::Corrupt("block key".into()))?;
                Ok((client, until))
            })
            .collect()
    }

    pub fn put_block(&self, client: &ClientId, until: u64) -> Result<(), StorageError> {
        self.put(BLOCKS, &self.blocks, client, &until)
    }

    pub fn delete_block(&self, client: &ClientId) -> Result<(), StorageError> {
        self.owner.remove(&self.blocks, client)?;
        Ok(())
    }

    pub fn team_messages(&self) -> Result<Vec<TeamMessageRecord>, StorageError> {
        Ok(self
            .load_all(TEAM_MESSAGES, &self.team_messages)?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    pub fn put_team_message(&self, message: &TeamMessageRecord) -> Result<(), StorageError> {
        self.put(TEAM_MESSAGES, &self.team_messages, &message.group_id, message)
    }

    pub fn delete_team_message(&self, group_id: &[u8]) -> Result<(), StorageError> {
        self.owner.remove(&self.team_messages, group_id)?;
        Ok(())
    }

    /// Make everything above durable (called after each change, off the
    /// request path; sled coalesces concurrent flushes).
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.owner.sync().await?;
        Ok(())
    }
}

fn be_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let arr: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StorageError::Corrupt("expected 8 bytes".into()))?;
    Ok(u64::from_be_bytes(arr))
}
