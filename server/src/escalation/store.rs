//! The escalation service's own sled trees: escalations (no content),
//! responders' duty states and what escalations did to each open chat
//! ([`super::chats`]). The webhook outbox has its own tree
//! ([`super::webhook`]).

use parasol_protocol::{Category, DutyState, EscalationStatus, Severity, StaffBadge};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::chats::ChatEscalationRecord;
use crate::storage::owner::StateOwner;
use crate::storage::{ClientId, StorageError, Vault};

const ESCALATIONS: &str = "escalations";
const DUTY: &str = "escalation_duty";
/// Ticket id → [`ChatEscalationRecord`].
const CHATS: &str = "escalation_chats";

/// An escalation as stored: enough to rebuild the queue after a restart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EscalationRecord {
    pub id: u64,
    #[serde(with = "serde_bytes")]
    pub group_id: Vec<u8>,
    pub ticket_id: u64,
    pub severity: Severity,
    pub category: Category,
    pub issued_at: u64,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
    pub language: String,
    /// Who escalated (the chat's counsellor or a supervisor).
    pub raised_by: u64,
    pub counsellor_badge: StaffBadge,
    pub status: EscalationStatus,
    pub raised_at: u64,
    pub last_notified_at: u64,
    pub renotified: u32,
    pub responder: Option<u64>,
    pub responder_client: Option<ClientId>,
    pub responder_badge: Option<StaffBadge>,
    /// When it became resolved or handed off.
    pub ended_at: Option<u64>,
}

#[derive(Clone)]
pub struct EscalationStore {
    /// Writes these trees (see storage's rule); reads stay here.
    owner: StateOwner,
    escalations: sled::Tree,
    duty: sled::Tree,
    chats: sled::Tree,
    /// Every value is sealed under the storage's state key.
    vault: Vault,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).expect("escalation records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| StorageError::Corrupt(format!("escalation record: {e}")))
}

impl EscalationStore {
    pub fn open(storage: &crate::storage::Storage) -> Result<Self, StorageError> {
        let db = storage.db();
        Ok(EscalationStore {
            owner: storage.owner().clone(),
            escalations: db.open_tree(ESCALATIONS)?,
            duty: db.open_tree(DUTY)?,
            chats: db.open_tree(CHATS)?,
            vault: storage.vault().clone(),
        })
    }

    pub fn escalations(&self) -> Result<Vec<EscalationRecord>, StorageError> {
        self.escalations
            .iter()
            .map(|item| {
                let (k, v) = item?;
                decode(&self.vault.open_state(ESCALATIONS, &k, &v)?)
            })
            .collect()
    }

    pub fn put(&self, record: &EscalationRecord) -> Result<(), StorageError> {
        let key = record.id.to_be_bytes();
        self.owner.insert(
            &self.escalations,
            key,
            self.vault.seal_state(ESCALATIONS, &key, &encode(record))?,
        )?;
        Ok(())
    }

    pub fn delete(&self, id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.escalations, id.to_be_bytes())?;
        Ok(())
    }

    pub fn duties(&self) -> Result<Vec<(u64, DutyState)>, StorageError> {
        self.duty
            .iter()
            .map(|item| {
                let (k, v) = item?;
                let account = <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt("duty key".into()))?;
                Ok((account, decode(&self.vault.open_state(DUTY, &k, &v)?)?))
            })
            .collect()
    }

    pub fn put_duty(&self, account: u64, state: DutyState) -> Result<(), StorageError> {
        let key = account.to_be_bytes();
        self.owner
            .insert(&self.duty, key, self.vault.seal_state(DUTY, &key, &encode(&state))?)?;
        Ok(())
    }

    /// Every chat's escalation record (read at start-up).
    pub fn chats(&self) -> Result<Vec<ChatEscalationRecord>, StorageError> {
        self.chats
            .iter()
            .map(|item| {
                let (k, v) = item?;
                decode(&self.vault.open_state(CHATS, &k, &v)?)
            })
            .collect()
    }

    /// Queue the record's write through the state owner.
    pub fn put_chat(&self, record: &ChatEscalationRecord) -> Result<(), StorageError> {
        let key = record.ticket_id.to_be_bytes();
        self.owner
            .insert(&self.chats, key, self.vault.seal_state(CHATS, &key, &encode(record))?)?;
        Ok(())
    }

    /// Write the record now: only on the state owner's thread (in a job).
    pub fn put_chat_on_owner(&self, record: &ChatEscalationRecord) -> Result<(), StorageError> {
        let key = record.ticket_id.to_be_bytes();
        self.chats
            .insert(key, self.vault.seal_state(CHATS, &key, &encode(record))?)?;
        Ok(())
    }

    pub fn delete_chat(&self, ticket_id: u64) -> Result<(), StorageError> {
        self.owner.remove(&self.chats, ticket_id.to_be_bytes())?;
        Ok(())
    }

    /// The state owner writing these trees.
    pub fn owner(&self) -> &StateOwner {
        &self.owner
    }

    pub async fn flush(&self) -> Result<(), StorageError> {
        self.owner.sync().await?;
        Ok(())
    }
}
