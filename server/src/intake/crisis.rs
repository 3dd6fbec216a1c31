//! What the escalation service asks of the intake: which chat a staff
//! member may escalate, letting a crisis responder into a chat, handing a
//! chat to a responder, and a visitor's "I'm in danger now". The
//! escalation service owns escalations; the intake owns tickets and chats.

use std::sync::atomic::Ordering;

use parasol_protocol::{Bytes, ErrorCode, ServerMessage, StaffBadge, TicketState};

use super::{err, s_push, Intake, Phase, SOS_ALERT_INTERVAL_SECS};
use crate::audit::{Actor, AuditAction, AuditEvent};
use crate::error::ServiceResult;
use crate::storage::ClientId;
use crate::time::now_secs;

/// A chat that may be escalated, as the escalation service needs it.
#[derive(Debug, Clone)]
pub struct EscalationChat {
    pub ticket_id: u64,
    pub language: String,
    /// The chat's counsellor: their client adds the responder.
    pub counsellor: u64,
    pub counsellor_badge: StaffBadge,
}

/// What a visitor's SOS did.
#[derive(Debug, Clone)]
pub struct SosOutcome {
    pub ticket: TicketState,
    /// In a chat: the counsellor alerted, and the chat.
    pub alerted: Option<(u64, Vec<u8>)>,
}

impl Intake {
    /// The chat `group_id`, if `account` may escalate it: its counsellor,
    /// or a supervisor.
    pub fn escalation_chat(&self, account: u64, group_id: &[u8]) -> ServiceResult<EscalationChat> {
        let state = self.state.lock();
        let id = Self::chat_of(&state, account, group_id)?;
        let t = &state.tickets[&id];
        let counsellor = t
            .record
            .counsellor
            .ok_or_else(|| err(ErrorCode::InvalidState, "this chat has no counsellor"))?;
        if t.record.pending_add.is_some() {
            return Err(err(
                ErrorCode::InvalidState,
                "a transfer of this chat is under way; escalate once it is done",
            ));
        }
        let counsellor_badge = state
            .staff
            .get(&counsellor)
            .map(|s| s.session.badge.clone())
            .or_else(|| t.record.counsellor_badge.clone())
            .ok_or_else(|| err(ErrorCode::InvalidState, "this chat has no counsellor"))?;
        Ok(EscalationChat {
            ticket_id: id,
            language: t.record.language.clone(),
            counsellor,
            counsellor_badge,
        })
    }

    /// Whether `account` is a connected-before supervisor.
    pub fn is_supervisor(&self, account: u64) -> bool {
        self.state
            .lock()
            .staff
            .get(&account)
            .is_some_and(|s| s.session.role == parasol_protocol::StaffRole::Supervisor)
    }

    /// Whether `client` (a responder) has been added to chat `group_id`.
    pub fn responder_joined(&self, group_id: &[u8], client: &ClientId) -> bool {
        let state = self.state.lock();
        let Some(id) = state.by_group.get(group_id).copied() else {
            return false;
        };
        state.tickets.get(&id).is_some_and(|t| {
            state.escalated_chats.has_responder(id, client) || t.record.counsellor_client == Some(*client)
        })
    }

    /// Whether `group_id` is still an open chat.
    pub fn chat_is_open(&self, group_id: &[u8]) -> bool {
        self.state.lock().by_group.contains_key(group_id)
    }

    /// The chat's counsellor now (it changes on transfer and hand-off).
    pub fn chat_counsellor(&self, group_id: &[u8]) -> Option<u64> {
        let state = self.state.lock();
        let id = state.by_group.get(group_id)?;
        state.tickets.get(id)?.record.counsellor
    }

    /// A responder accepted: the chat's counsellor may now add `client`,
    /// and the visitor learns the responder's badge.
    pub async fn expect_responder(&self, group_id: &[u8], client: ClientId, badge: StaffBadge) -> ServiceResult<()> {
        let record = {
            let mut state = self.state.lock();
            let id = *state
                .by_group
                .get(group_id)
                .ok_or_else(|| err(ErrorCode::UnknownGroup, "the chat has ended"))?;
            let chat = state.escalated_chats.entry(id);
            chat.expect_responder(client, badge);
            let record = chat.clone();
            self.push_ticket(&state, id);
            record
        };
        self.escalation_store.put_chat(&record)?;
        self.flush().await
    }

    /// Mark the chat as escalated (for the statistics), at the request.
    pub async fn mark_escalated(&self, group_id: &[u8]) -> ServiceResult<()> {
        let record = {
            let mut state = self.state.lock();
            let Some(id) = state.by_group.get(group_id).copied() else {
                return Ok(());
            };
            let chat = state.escalated_chats.entry(id);
            chat.escalated = true;
            chat.clone()
        };
        self.escalation_store.put_chat(&record)?;
        Ok(())
    }

    /// The counsellor steps back: the responder, already in the group,
    /// becomes the chat's staff member and removes the counsellor (as the
    /// new counsellor does after a transfer).
    pub async fn hand_to_responder(&self, group_id: &[u8], responder: u64) -> ServiceResult<()> {
        let now = now_secs();
        let (record, chat) = {
            let mut state = self.state.lock();
            let id = *state
                .by_group
                .get(group_id)
                .ok_or_else(|| err(ErrorCode::UnknownGroup, "the chat has ended"))?;
            let (badge, client) = state
                .staff
                .get(&responder)
                .filter(|s| s.connection.is_some())
                .map(|s| (s.session.badge.clone(), s.session.client))
                .ok_or_else(|| err(ErrorCode::InvalidState, "the responder is not connected"))?;
            let t = &state.tickets[&id];
            if !state.escalated_chats.has_responder(id, &client) {
                return Err(err(
                    ErrorCode::InvalidState,
                    "the responder has not joined the chat yet",
                ));
            }
            let previous_account = t.record.counsellor;
            let from = previous_account
                .and_then(|a| state.staff.get(&a))
                .map(|s| s.session.badge.clone());
            let t = state.tickets.get_mut(&id).expect("indexed");
            t.record.previous_client = t.record.counsellor_client;
            t.record.counsellor = Some(responder);
            t.record.counsellor_client = Some(client);
            t.record.counsellor_badge = Some(badge);
            t.phase = Phase::Assigned;
            let entry = t.entry(now);
            let previous = t.record.previous_client.map(|c| Bytes(c.to_vec()));
            let record = t.record.clone();
            let chat = state.escalated_chats.entry(id);
            chat.responder_took_over(&client);
            let chat = chat.clone();
            if let Some(p) = previous_account.and_then(|a| state.staff.get_mut(&a)) {
                p.chats.remove(&id);
            }
            if let Some(s) = state.staff.get_mut(&responder) {
                s.chats.insert(id);
                s.push(
                    &self.presence,
                    ServerMessage::ChatAssigned {
                        group_id: Bytes(group_id.to_vec()),
                        ticket: entry,
                        from,
                        remove_previous: previous,
                    },
                );
            }
            self.push_ticket(&state, id);
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            (record, chat)
        };
        // The ticket first: a crash before the record is written is
        // repaired at the next start (see `escalation::migrate`).
        self.store.put_ticket(&record)?;
        self.escalation_store.put_chat(&chat)?;
        self.flush().await
    }

    /// A visitor pressed "I'm in danger now" for `ticket_id`, which must be
    /// theirs. A waiting ticket becomes urgent (served first); in a chat,
    /// the counsellor is alerted to escalate (at most once per
    /// [`SOS_ALERT_INTERVAL_SECS`]). The audit log gets one entry per
    /// ticket per `sos_audit_window_secs`: it keeps a bounded number of
    /// entries, and a flood of `sos` must not push staff actions out.
    pub async fn sos(&self, client: ClientId, ticket_id: u64) -> ServiceResult<SosOutcome> {
        let now = now_secs();
        let (ticket, alerted, record, audit_it) = {
            let mut state = self.state.lock();
            if state.by_visitor.get(&client) != Some(&ticket_id) {
                return Err(err(ErrorCode::UnknownTicket, "no such ticket of yours"));
            }
            let t = state.tickets.get_mut(&ticket_id).expect("indexed");
            let mut changed = false;
            if !t.record.urgent {
                t.record.urgent = true;
                changed = true;
            }
            let alerted = match (t.record.counsellor, &t.record.group_id) {
                (Some(account), Some(g)) => Some((account, g.to_vec())),
                _ => None,
            };
            let record = changed.then(|| t.record.clone());
            let seen = state.sos_seen.entry(ticket_id).or_default();
            let due = |last: Option<u64>, every: u64| last.is_none_or(|at| now.saturating_sub(at) >= every);
            let audit_it = due(seen.audited_at, self.config.sos_audit_window_secs);
            if audit_it {
                seen.audited_at = Some(now);
            }
            let alert_it = alerted.is_some() && due(seen.alerted_at, SOS_ALERT_INTERVAL_SECS);
            if alert_it {
                seen.alerted_at = Some(now);
            }
            if let Some((account, g)) = alerted.as_ref().filter(|_| alert_it) {
                s_push(
                    &self.presence,
                    &state,
                    *account,
                    ServerMessage::SosAlert {
                        group_id: Bytes(g.clone()),
                        ticket_id,
                    },
                );
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            (self.ticket_state(&state, ticket_id, None), alerted, record, audit_it)
        };
        if audit_it {
            let mut event =
                AuditEvent::new(Actor::System, AuditAction::SosRaised).subject(format!("ticket:{ticket_id}"));
            event = event.detail(if alerted.is_some() { "in_chat" } else { "waiting" });
            if self.audit.record_nowait(event).is_err() {
                tracing::error!("writing the audit log failed");
            }
        }
        if let Some(record) = record {
            self.store.put_ticket(&record)?;
            self.flush().await?;
        }
        tracing::info!("visitor sos");
        Ok(SosOutcome { ticket, alerted })
    }

    /// Push to a staff member's connection, if any.
    pub fn push_to_staff(&self, account: u64, msg: ServerMessage) {
        s_push(&self.presence, &self.state.lock(), account, msg);
    }

    /// Push to the visitor of chat `group_id`, if connected.
    pub fn push_to_chat_visitor(&self, group_id: &[u8], msg: ServerMessage) {
        let state = self.state.lock();
        let Some(t) = state.by_group.get(group_id).and_then(|id| state.tickets.get(id)) else {
            return;
        };
        self.presence.notify(&t.record.visitor, msg);
    }

    /// For the supervisors' board.
    pub fn set_open_escalations(&self, n: u32) {
        self.open_escalations.store(n, Ordering::Relaxed);
    }
}
