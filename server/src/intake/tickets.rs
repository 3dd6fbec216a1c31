//! A ticket's state as its visitor sees it, and its end.

use super::effects::{ChatRecord, Effect, Effects};
use super::offers::{dispatch, refresh};
use super::*;

impl Intake {
    /// Remove a ticket for good (its group, if any, is already closed).
    pub(super) fn end_ticket(&self, id: u64, reason: ClosedReason, tag: Option<String>) -> ServiceResult<()> {
        let mut state = self.state.lock();
        let fx = end_ticket(&mut state, &self.config, now_secs(), id, reason, tag);
        self.apply(state, fx)
    }

    pub(super) fn status_of(&self, state: &State, id: u64) -> TicketStatus {
        status_of(state, id)
    }

    pub(super) fn ticket_state(&self, state: &State, id: u64, secret: Option<&[u8]>) -> TicketState {
        ticket_state(state, &self.config, id, secret)
    }

    /// [`push_ticket`], sent at once (`state` is locked).
    pub(super) fn push_ticket(&self, state: &State, id: u64) {
        let mut fx = Effects::default();
        push_ticket(state, &self.config, id, &mut fx);
        let _ = self.apply_now(state, fx);
    }

    /// [`push_readd`], sent at once (`state` is locked).
    pub(super) fn push_readd(&self, state: &State, id: u64) {
        let mut fx = Effects::default();
        push_readd(state, id, &mut fx);
        let _ = self.apply_now(state, fx);
    }
}

/// Seconds a visitor has to come back, as told to her.
pub(super) fn grace(config: &IntakeConfig) -> u32 {
    config.resume_grace_secs.min(u64::from(u32::MAX)) as u32
}

/// Remove ticket `id` for good (its group, if any, is already closed):
/// its visitor is told why, its counsellor too unless she closed it, a
/// closed chat is counted and its visitor may give feedback.
pub(super) fn end_ticket(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    id: u64,
    reason: ClosedReason,
    tag: Option<String>,
) -> Effects {
    let mut fx = Effects::default();
    let Some(t) = state.tickets.remove(&id) else {
        return fx;
    };
    let escalation = state.escalated_chats.remove(id);
    if let (Some(tag), Some(accepted_at)) = (tag, t.record.accepted_at) {
        fx.0.push(Effect::RecordChat(ChatRecord {
            created_at: t.record.created_at,
            topic: t.record.topic.clone(),
            language: t.record.language.clone(),
            wait_secs: accepted_at.saturating_sub(t.record.created_at),
            transferred: t.record.transfers > 0,
            escalated: escalation.as_ref().is_some_and(|e| e.escalated),
            closing_tag: tag,
        }));
    }
    // She may answer after a chat a counsellor closed, and after ending or
    // cancelling it herself (in the chat or while waiting): the question
    // is about whether the service helped, and leaving is an answer too.
    let chatted =
        (reason == ClosedReason::Closed && t.record.accepted_at.is_some()) || reason == ClosedReason::Cancelled;
    if chatted && state.feedback_due.len() < config.max_open_tickets {
        state.feedback_due.insert(t.record.visitor, now + FEEDBACK_WINDOW_SECS);
    }
    state.by_visitor.remove(&t.record.visitor);
    state.by_resume.remove(&t.record.resume_hash);
    if let Some(g) = &t.record.group_id {
        state.by_group.remove(g.as_slice());
        fx.0.push(Effect::ReleaseChat {
            group: g.to_vec(),
            ticket: id,
        });
    }
    for s in state.staff.values_mut() {
        s.offers.remove(&id);
        s.chats.remove(&id);
    }
    if let Phase::Offered { account, .. } = t.phase {
        fx.push_staff(account, ServerMessage::OfferWithdrawn { ticket_id: id });
    }
    if let (Some(account), Some(g)) = (t.record.counsellor, &t.record.group_id) {
        if reason != ClosedReason::Closed {
            fx.push_staff(
                account,
                ServerMessage::ChatEnded {
                    group_id: Bytes(g.to_vec()),
                    ticket_id: id,
                },
            );
        }
    }
    fx.push_visitor(
        t.record.visitor,
        ServerMessage::TicketUpdate {
            ticket: TicketState {
                ticket_id: id,
                status: TicketStatus::Closed { reason },
                resume_secret: None,
                resume_grace_secs: grace(config),
            },
        },
    );
    dispatch(state, config, now, &mut fx);
    refresh(state, config, now, &mut fx);
    fx.0.push(Effect::DeleteTicket(id));
    // After the ticket: a crash in between leaves an orphan record, which
    // the next start drops.
    if escalation.is_some() {
        fx.0.push(Effect::DeleteChatEscalation(id));
    }
    fx
}

pub(super) fn status_of(state: &State, id: u64) -> TicketStatus {
    let t = &state.tickets[&id];
    if t.waiting() {
        let (position, estimate, nobody_available) = t.last_pushed.unwrap_or((1, 0, false));
        return TicketStatus::Waiting {
            position,
            estimated_wait_secs: estimate,
            nobody_available,
        };
    }
    // The live session's badge, or the one stored when the chat was
    // assigned: after a restart the visitor learns it is in its chat
    // before its counsellor is back.
    let badge = t
        .record
        .counsellor
        .and_then(|a| state.staff.get(&a))
        .map(|s| s.session.badge.clone())
        .or_else(|| t.record.counsellor_badge.clone());
    match (&t.record.group_id, badge) {
        (Some(g), Some(counsellor)) => TicketStatus::InChat {
            group_id: Bytes(g.to_vec()),
            counsellor,
            transferred: t.record.transfers > 0,
            add_counsellor: t.record.pending_add.as_ref().and_then(|p| {
                state.staff.get(&p.account).map(|s| CounsellorToAdd {
                    badge: s.session.badge.clone(),
                    key_package: Bytes(p.key_package.clone()),
                })
            }),
            responders: state.escalated_chats.responder_badges(id),
            rescued: t.rescued && t.record.pending_add.is_some(),
        },
        // Accepted, the group not made yet: still waiting, as far as the
        // visitor can tell.
        _ => TicketStatus::Waiting {
            position: 1,
            estimated_wait_secs: 0,
            nobody_available: false,
        },
    }
}

pub(super) fn ticket_state(state: &State, config: &IntakeConfig, id: u64, secret: Option<&[u8]>) -> TicketState {
    TicketState {
        ticket_id: id,
        status: status_of(state, id),
        resume_secret: secret.map(|s| Bytes(s.to_vec())),
        resume_grace_secs: grace(config),
    }
}

/// Push a ticket's full state to its visitor, if connected.
pub(super) fn push_ticket(state: &State, config: &IntakeConfig, id: u64, fx: &mut Effects) {
    let Some(t) = state.tickets.get(&id) else { return };
    fx.push_visitor(
        t.record.visitor,
        ServerMessage::TicketUpdate {
            ticket: ticket_state(state, config, id, None),
        },
    );
}

/// Ask whoever can commit in a chat to re-add its visitor, who came back
/// with a new key.
pub(super) fn push_readd(state: &State, id: u64, fx: &mut Effects) {
    let Some(t) = state.tickets.get(&id) else { return };
    let (Some(readd), Some(g), Some(account)) = (&t.record.pending_readd, &t.record.group_id, readd_by(state, t))
    else {
        return;
    };
    fx.push_staff(
        account,
        ServerMessage::ReaddVisitor {
            group_id: Bytes(g.to_vec()),
            old_client: Bytes(readd.old_client.to_vec()),
            key_package: Bytes(readd.key_package.clone()),
        },
    );
}
