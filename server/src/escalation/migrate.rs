//! Start-up: the escalation records of open chats, and the one migration
//! they needed. Tickets stored before escalation state moved out of the
//! intake's ticket record carry it in four fields of their own; they are
//! moved into `escalation_chats` ([`super::chats`]) once, in two steps
//! that are safe after a crash:
//!
//! 1. write each chat record (unless one is there already: a crash after
//!    this step, or a newer record) and wait until it is durable;
//! 2. rewrite the tickets without the old fields.
//!
//! A crash between the steps leaves both; the next start skips step 1 for
//! those tickets and redoes step 2.

use std::collections::{HashMap, HashSet};

use parasol_protocol::StaffBadge;
use serde::Deserialize;

use super::chats::{ChatEscalationRecord, ChatEscalations};
use super::store::EscalationStore;
use crate::intake::store::{IntakeStore, TicketRecord};
use crate::storage::{ClientId, StorageError};

/// The escalation fields a ticket was stored with before they moved (read
/// only; `None`: the ticket never had the field, or was migrated).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LegacyTicketEscalation {
    #[serde(default)]
    pub pending_responder: Option<ClientId>,
    #[serde(default)]
    pub responder_clients: Option<Vec<ClientId>>,
    #[serde(default)]
    pub responder_badges: Option<Vec<StaffBadge>>,
    #[serde(default)]
    pub escalated: Option<bool>,
}

impl LegacyTicketEscalation {
    /// Whether the ticket still carries any of the old fields.
    pub fn present(&self) -> bool {
        self.pending_responder.is_some()
            || self.responder_clients.is_some()
            || self.responder_badges.is_some()
            || self.escalated.is_some()
    }

    fn into_record(self, ticket_id: u64) -> ChatEscalationRecord {
        ChatEscalationRecord {
            ticket_id,
            pending_responder: self.pending_responder,
            responder_clients: self.responder_clients.unwrap_or_default(),
            responder_badges: self.responder_badges.unwrap_or_default(),
            escalated: self.escalated.unwrap_or_default(),
        }
    }
}

/// What the start-up migration did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Tickets rewritten without the old fields.
    pub tickets: usize,
    /// Chat records written from them.
    pub records: usize,
}

/// Move old tickets' escalation fields into the escalation store (see the
/// module's notes). Blocks on the state owner: call it at start-up, off
/// the async runtime.
pub fn migrate_ticket_escalations(
    tickets: &IntakeStore,
    escalations: &EscalationStore,
) -> Result<Migrated, StorageError> {
    let old: Vec<(TicketRecord, LegacyTicketEscalation)> = tickets
        .tickets_as_stored()?
        .into_iter()
        .filter(|(_, legacy)| legacy.present())
        .collect();
    if old.is_empty() {
        return Ok(Migrated::default());
    }
    let existing: HashSet<u64> = escalations.chats()?.iter().map(|r| r.ticket_id).collect();
    let records: Vec<ChatEscalationRecord> = old
        .iter()
        .filter(|(t, _)| !existing.contains(&t.id))
        .map(|(t, legacy)| legacy.clone().into_record(t.id))
        .filter(|r| !r.is_empty())
        .collect();
    let migrated = Migrated {
        tickets: old.len(),
        records: records.len(),
    };
    // Step 1, durable before step 2 starts.
    let store = escalations.clone();
    escalations
        .owner()
        .write_blocking(move || records.iter().try_for_each(|r| store.put_chat_on_owner(r)))?;
    // Step 2: a ticket record is written without the old fields.
    let store = tickets.clone();
    let rewritten: Vec<TicketRecord> = old.into_iter().map(|(t, _)| t).collect();
    tickets
        .owner()
        .write_blocking(move || rewritten.iter().try_for_each(|t| store.put_ticket_on_owner(t)))?;
    tracing::info!(
        tickets = migrated.tickets,
        records = migrated.records,
        "moved escalation state out of stored tickets"
    );
    Ok(migrated)
}

/// The open chats' escalation records, after the migration. A record whose
/// ticket is gone (a crash between deleting the two) is deleted; a
/// responder who took a chat over (a crash between writing the ticket and
/// the record) is no longer listed as a responder.
pub fn load_chat_escalations(
    tickets: &IntakeStore,
    escalations: &EscalationStore,
    open: &[TicketRecord],
) -> Result<ChatEscalations, StorageError> {
    migrate_ticket_escalations(tickets, escalations)?;
    let counsellors: HashMap<u64, Option<ClientId>> = open.iter().map(|t| (t.id, t.counsellor_client)).collect();
    let mut chats = ChatEscalations::default();
    for mut record in escalations.chats()? {
        let Some(counsellor) = counsellors.get(&record.ticket_id) else {
            escalations.delete_chat(record.ticket_id)?;
            continue;
        };
        if let Some(counsellor) = counsellor {
            record.responder_took_over(counsellor);
        }
        chats.insert(record);
    }
    Ok(chats)
}

#[cfg(test)]
mod tests;
