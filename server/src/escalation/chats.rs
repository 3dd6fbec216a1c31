//! What escalations did to a chat: the responder its counsellor is to add,
//! the responders in its group (and their badges, shown to the visitor),
//! and whether it was ever escalated (for the statistics).
//!
//! One record per open ticket that was escalated, kept by ticket id in the
//! escalation store's `escalation_chats` tree. The map lives in the
//! intake's state, under its lock, because the chat policy checks every
//! commit against it together with the ticket; the rules are here.
//! A record is deleted after its ticket (a crash in between leaves an
//! orphan, dropped at the next start).

use std::collections::HashMap;

use parasol_protocol::StaffBadge;
use serde::{Deserialize, Serialize};

use crate::storage::ClientId;

/// One chat's escalation state, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatEscalationRecord {
    pub ticket_id: u64,
    /// An escalation's responder whom the counsellor is to add.
    pub pending_responder: Option<ClientId>,
    /// Responders in the group (the counsellor may remove them again).
    pub responder_clients: Vec<ClientId>,
    /// Their badges, shown to the visitor with the chat.
    pub responder_badges: Vec<StaffBadge>,
    /// Whether the chat was ever escalated (for the statistics).
    pub escalated: bool,
}

impl ChatEscalationRecord {
    pub fn new(ticket_id: u64) -> Self {
        ChatEscalationRecord {
            ticket_id,
            ..Default::default()
        }
    }

    /// Nothing to keep: the same as no record.
    pub fn is_empty(&self) -> bool {
        *self == ChatEscalationRecord::new(self.ticket_id)
    }

    /// A responder accepted: the counsellor may now add `client`, and the
    /// visitor is shown `badge` (once per key).
    pub fn expect_responder(&mut self, client: ClientId, badge: StaffBadge) {
        self.pending_responder = Some(client);
        self.escalated = true;
        self.responder_badges.retain(|b| b.signature_key != badge.signature_key);
        self.responder_badges.push(badge);
    }

    /// A commit to the chat went through; whether this record changed.
    /// The responder being added joins; responders removed leave, with
    /// their badges.
    pub fn committed(&mut self, added: &[ClientId], removed: &[ClientId]) -> bool {
        let mut changed = false;
        if let Some(responder) = self.pending_responder.filter(|p| added.contains(p)) {
            self.pending_responder = None;
            if !self.responder_clients.contains(&responder) {
                self.responder_clients.push(responder);
            }
            changed = true;
        }
        if self.responder_clients.iter().any(|c| removed.contains(c)) {
            self.responder_clients.retain(|c| !removed.contains(c));
            self.responder_badges
                .retain(|b| !removed.iter().any(|m| m.as_slice() == b.signature_key.0.as_slice()));
            changed = true;
        }
        changed
    }

    /// The responder `client` became the chat's counsellor.
    pub fn responder_took_over(&mut self, client: &ClientId) {
        self.responder_clients.retain(|c| c != client);
    }
}

/// The escalation records of open chats, by ticket id. At most one per
/// open ticket: an entry is made only for a ticket that exists, and goes
/// with it.
#[derive(Debug, Default)]
pub struct ChatEscalations(HashMap<u64, ChatEscalationRecord>);

impl ChatEscalations {
    pub fn get(&self, ticket_id: u64) -> Option<&ChatEscalationRecord> {
        self.0.get(&ticket_id)
    }

    /// The record of `ticket_id`, made empty if there is none.
    pub fn entry(&mut self, ticket_id: u64) -> &mut ChatEscalationRecord {
        self.0
            .entry(ticket_id)
            .or_insert_with(|| ChatEscalationRecord::new(ticket_id))
    }

    pub fn insert(&mut self, record: ChatEscalationRecord) {
        self.0.insert(record.ticket_id, record);
    }

    pub fn remove(&mut self, ticket_id: u64) -> Option<ChatEscalationRecord> {
        self.0.remove(&ticket_id)
    }

    /// A commit to chat `ticket_id` went through: its record, if that
    /// changed it (see [`ChatEscalationRecord::committed`]).
    pub fn committed(
        &mut self,
        ticket_id: u64,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> Option<ChatEscalationRecord> {
        let record = self.0.get_mut(&ticket_id)?;
        record.committed(added, removed).then(|| record.clone())
    }

    /// Whether the chat's counsellor may add `client`: the responder who
    /// accepted its escalation.
    pub fn may_add(&self, ticket_id: u64, client: &ClientId) -> bool {
        self.get(ticket_id)
            .is_some_and(|r| r.pending_responder == Some(*client))
    }

    /// Whether `client` is a responder in the chat's group.
    pub fn has_responder(&self, ticket_id: u64, client: &ClientId) -> bool {
        self.get(ticket_id)
            .is_some_and(|r| r.responder_clients.contains(client))
    }

    /// The responders' badges, shown to the visitor.
    pub fn responder_badges(&self, ticket_id: u64) -> Vec<StaffBadge> {
        self.get(ticket_id)
            .map(|r| r.responder_badges.clone())
            .unwrap_or_default()
    }

    pub fn escalated(&self, ticket_id: u64) -> bool {
        self.get(ticket_id).is_some_and(|r| r.escalated)
    }
}

#[cfg(test)]
mod tests {
    use parasol_protocol::{Bytes, StaffRole};

    use super::*;

    const VESNA: ClientId = [7; 32];
    const OTHER: ClientId = [8; 32];

    fn badge(key: &ClientId) -> StaffBadge {
        StaffBadge {
            display_name: "Vesna".into(),
            role: StaffRole::CrisisResponder,
            signature_key: Bytes(key.to_vec()),
            expires_at: 0,
            attestation: Bytes(vec![0; 64]),
            account_tag: Bytes(vec![0; 16]),
        }
    }

    #[test]
    fn a_responder_is_expected_joins_and_leaves_with_their_badge() {
        let mut chats = ChatEscalations::default();
        assert!(!chats.may_add(1, &VESNA));
        chats.entry(1).expect_responder(VESNA, badge(&VESNA));
        chats.entry(1).expect_responder(VESNA, badge(&VESNA));
        assert!(chats.may_add(1, &VESNA) && !chats.may_add(1, &OTHER) && !chats.may_add(2, &VESNA));
        assert!(chats.escalated(1));
        assert_eq!(chats.responder_badges(1).len(), 1, "one badge per key");

        assert!(
            !chats.entry(1).committed(&[OTHER], &[]),
            "someone else's add changes nothing"
        );
        assert!(chats.entry(1).committed(&[VESNA], &[]));
        assert!(chats.has_responder(1, &VESNA) && !chats.may_add(1, &VESNA));

        assert!(chats.entry(1).committed(&[], &[VESNA]));
        assert!(!chats.has_responder(1, &VESNA));
        assert!(chats.responder_badges(1).is_empty());
        assert!(chats.escalated(1), "once escalated, always counted so");
    }

    #[test]
    fn a_responder_who_takes_over_is_no_longer_a_responder() {
        let mut chats = ChatEscalations::default();
        chats.entry(3).expect_responder(VESNA, badge(&VESNA));
        chats.entry(3).committed(&[VESNA], &[]);
        chats.entry(3).responder_took_over(&VESNA);
        assert!(!chats.has_responder(3, &VESNA));
        assert!(ChatEscalationRecord::new(3).is_empty());
        assert!(!chats.get(3).unwrap().is_empty());
    }
}
