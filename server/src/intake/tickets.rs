//! A ticket's state as its visitor sees it, and its end.

use super::*;

impl Intake {
    /// Remove a ticket for good (its group, if any, is already closed).
    pub(super) fn end_ticket(&self, id: u64, reason: ClosedReason, tag: Option<String>) -> ServiceResult<()> {
        let now = now_secs();
        {
            let mut state = self.state.lock();
            let Some(t) = state.tickets.remove(&id) else {
                return Ok(());
            };
            if let (Some(tag), Some(accepted_at)) = (&tag, t.record.accepted_at) {
                let summary = ChatSummary {
                    day: crate::stats::Day::from_unix_secs(t.record.created_at),
                    topic: &t.record.topic,
                    language: &t.record.language,
                    wait_secs: accepted_at.saturating_sub(t.record.created_at),
                    transferred: t.record.transfers > 0,
                    escalated: t.record.escalated,
                    closing_tag: tag,
                };
                if self.stats.record_chat(&summary).is_err() {
                    tracing::error!("recording chat statistics failed");
                }
            }
            let chatted = reason == ClosedReason::Closed && t.record.accepted_at.is_some();
            if chatted && state.feedback_due.len() < self.config.max_open_tickets {
                state.feedback_due.insert(t.record.visitor, now + FEEDBACK_WINDOW_SECS);
            }
            state.by_visitor.remove(&t.record.visitor);
            state.by_resume.remove(&t.record.resume_hash);
            if let Some(g) = &t.record.group_id {
                state.by_group.remove(g.as_slice());
            }
            for s in state.staff.values_mut() {
                s.offers.remove(&id);
                s.chats.remove(&id);
            }
            if let Phase::Offered { account, .. } = t.phase {
                s_push(&state, account, ServerMessage::OfferWithdrawn { ticket_id: id });
            }
            if let (Some(account), Some(g)) = (t.record.counsellor, &t.record.group_id) {
                if reason != ClosedReason::Closed {
                    s_push(
                        &state,
                        account,
                        ServerMessage::ChatEnded {
                            group_id: Bytes(g.to_vec()),
                            ticket_id: id,
                        },
                    );
                }
            }
            if let Some((_, tx)) = state.visitors.get(&t.record.visitor) {
                let _ = tx.try_send(Box::new(ServerMessage::TicketUpdate {
                    ticket: TicketState {
                        ticket_id: id,
                        status: TicketStatus::Closed { reason },
                        resume_secret: None,
                        resume_grace_secs: self.grace(),
                    },
                }));
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
        self.store.delete_ticket(id)?;
        Ok(())
    }

    pub(super) fn grace(&self) -> u32 {
        self.config.resume_grace_secs.min(u64::from(u32::MAX)) as u32
    }

    pub(super) fn status_of(&self, state: &State, id: u64) -> TicketStatus {
        let t = &state.tickets[&id];
        if t.waiting() {
            let (position, estimate) = t.last_pushed.unwrap_or((1, 0));
            return TicketStatus::Waiting {
                position,
                estimated_wait_secs: estimate,
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
                responders: t.record.responder_badges.clone(),
                rescued: t.rescued && t.record.pending_add.is_some(),
            },
            // Accepted, the group not made yet: still waiting, as far as the
            // visitor can tell.
            _ => TicketStatus::Waiting {
                position: 1,
                estimated_wait_secs: 0,
            },
        }
    }

    pub(super) fn ticket_state(&self, state: &State, id: u64, secret: Option<&[u8]>) -> TicketState {
        TicketState {
            ticket_id: id,
            status: self.status_of(state, id),
            resume_secret: secret.map(|s| Bytes(s.to_vec())),
            resume_grace_secs: self.grace(),
        }
    }

    /// Push a ticket's full state to its visitor, if connected.
    pub(super) fn push_ticket(&self, state: &State, id: u64) {
        let Some(t) = state.tickets.get(&id) else { return };
        if let Some((_, tx)) = state.visitors.get(&t.record.visitor) {
            let _ = tx.try_send(Box::new(ServerMessage::TicketUpdate {
                ticket: self.ticket_state(state, id, None),
            }));
        }
    }

    pub(super) fn push_readd(&self, state: &State, id: u64) {
        let Some(t) = state.tickets.get(&id) else { return };
        let (Some(readd), Some(g), Some(account)) = (&t.record.pending_readd, &t.record.group_id, readd_by(state, t))
        else {
            return;
        };
        s_push(
            state,
            account,
            ServerMessage::ReaddVisitor {
                group_id: Bytes(g.to_vec()),
                old_client: Bytes(readd.old_client.to_vec()),
                key_package: Bytes(readd.key_package.clone()),
            },
        );
    }
}
