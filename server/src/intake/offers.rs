//! Offering waiting tickets to counsellors, one at a time with a
//! deadline; declines, expiry, and the queue positions pushed to visitors.

use super::effects::{Effect, Effects};
use super::tickets::grace;
use super::*;

impl Intake {
    pub fn decline(&self, account: u64, ticket_id: u64) -> ServiceResult<()> {
        let mut state = self.state.lock();
        let fx = decline(&mut state, &self.config, now_secs(), account, ticket_id)?;
        self.apply(state, fx)
    }

    /// Every second: expired offers move on, abandoned tickets close,
    /// expired blocks end.
    pub fn tick(&self) {
        let now = now_secs();
        let abandoned: Vec<u64> = {
            let mut state = self.state.lock();
            let expired: Vec<(u64, u64)> = state
                .tickets
                .values()
                .filter_map(|t| match t.phase {
                    Phase::Offered { account, deadline } if deadline <= now => Some((t.record.id, account)),
                    _ => None,
                })
                .collect();
            for (id, account) in expired {
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.phase = Phase::Waiting;
                    t.passed.insert(account);
                }
                if let Some(s) = state.staff.get_mut(&account) {
                    s.offers.remove(&id);
                    s.push(&self.presence, ServerMessage::OfferWithdrawn { ticket_id: id });
                }
                self.audit(account, AuditAction::OfferExpired, Some(id), None);
                tracing::info!("offer expired");
            }
            state.blocks.retain(|_, until| *until > now);
            self.source_blocks.expire(now);
            state.feedback_due.retain(|_, until| *until > now);
            // One entry per open ticket at most: ended tickets' go.
            let State { sos_seen, tickets, .. } = &mut *state;
            sos_seen.retain(|id, _| tickets.contains_key(id));
            let grace = self.config.gone_visitor_grace_secs;
            let gone_too_long = |t: &Ticket| t.gone_since.is_some_and(|since| now.saturating_sub(since) >= grace);
            let abandoned = state
                .tickets
                .values()
                .filter(|t| t.waiting() && t.record.group_id.is_none() && gone_too_long(t))
                .map(|t| t.record.id)
                .collect();
            let left: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.told == VisitorPresence::Reconnecting && gone_too_long(t))
                .map(|t| t.record.id)
                .collect();
            for id in left {
                self.tell_presence(&mut state, id, VisitorPresence::Left);
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            abandoned
        };
        for id in abandoned {
            if self.end_ticket(id, ClosedReason::Abandoned, None).is_err() {
                tracing::error!("closing an abandoned ticket failed");
            }
        }
    }

    /// [`dispatch`], its pushes sent at once (`state` is locked).
    pub(super) fn dispatch(&self, state: &mut State, now: u64) {
        let mut fx = Effects::default();
        dispatch(state, &self.config, now, &mut fx);
        let _ = self.apply_now(state, fx);
    }

    /// [`refresh`], its pushes sent at once (`state` is locked).
    pub(super) fn refresh(&self, state: &mut State, now: u64) {
        let mut fx = Effects::default();
        refresh(state, &self.config, now, &mut fx);
        let _ = self.apply_now(state, fx);
    }
}

/// Offer waiting tickets, in serving order, to whoever can take them.
pub(super) fn dispatch(state: &mut State, config: &IntakeConfig, now: u64, fx: &mut Effects) {
    let mut ids: Vec<(u64, bool, bool, u64, String)> = state
        .tickets
        .values()
        .filter(|t| t.phase == Phase::Waiting && t.gone_since.is_none())
        .map(|t| {
            (
                t.record.id,
                t.record.handover,
                t.record.urgent,
                t.record.arrival,
                t.record.language.clone(),
            )
        })
        .collect();
    ids.sort_by(|a, b| {
        queue::serving_order(
            &queue::Waiting {
                ticket_id: a.0,
                language: &a.4,
                handover: a.1,
                urgent: a.2,
                arrival: a.3,
            },
            &queue::Waiting {
                ticket_id: b.0,
                language: &b.4,
                handover: b.1,
                urgent: b.2,
                arrival: b.3,
            },
        )
    });
    for (id, _, _, _, language) in ids {
        let choice = {
            let cs = candidates(state);
            let passed = &state.tickets[&id].passed;
            match routing::choose(&cs, &language, passed) {
                routing::Choice::AllPassed => routing::choose(&cs, &language, &HashSet::new()),
                c => c,
            }
        };
        let routing::Choice::Offer(account) = choice else {
            continue;
        };
        let deadline = now + config.offer_timeout_secs;
        let t = state.tickets.get_mut(&id).expect("listed");
        if !t.passed.is_empty() && t.passed.contains(&account) {
            t.passed.clear(); // everyone passed: go round again
        }
        t.phase = Phase::Offered { account, deadline };
        let entry = t.entry(now);
        let s = state.staff.get_mut(&account).expect("a candidate");
        s.offers.insert(id);
        fx.push_staff(
            account,
            ServerMessage::Offer {
                ticket: entry,
                expires_in_secs: config.offer_timeout_secs.min(u64::from(u32::MAX)) as u32,
            },
        );
    }
}

/// Push every changed position, and the queue depth to staff on shift.
pub(super) fn refresh(state: &mut State, config: &IntakeConfig, now: u64, fx: &mut Effects) {
    let mut waiting: Vec<queue::Waiting<'_>> = state.tickets.values().filter(|t| t.queued()).map(as_waiting).collect();
    queue::sort(&mut waiting);
    let positions = queue::positions(&waiting);
    let mut counsellors: HashMap<&str, usize> = HashMap::new();
    for s in state
        .staff
        .values()
        .filter(|s| s.takes_chats() && s.connection.is_some() && s.shift == ShiftState::Available)
    {
        for l in &s.session.languages {
            *counsellors.entry(l.as_str()).or_default() += 1;
        }
    }
    let mut changed = Vec::new();
    for (id, position) in positions {
        let t = &state.tickets[&id];
        let estimate = queue::estimate_wait_secs(
            position,
            state.secs_per_position,
            counsellors.get(t.record.language.as_str()).copied().unwrap_or(0),
        );
        let nobody_available = !counsellors.contains_key(t.record.language.as_str());
        if t.last_pushed != Some((position, estimate, nobody_available)) {
            changed.push((id, position, estimate, nobody_available));
        }
    }
    drop(counsellors);
    for (id, position, estimate, nobody_available) in changed {
        let t = state.tickets.get_mut(&id).expect("listed");
        t.last_pushed = Some((position, estimate, nobody_available));
        let visitor = t.record.visitor;
        fx.push_visitor(
            visitor,
            ServerMessage::TicketUpdate {
                ticket: TicketState {
                    ticket_id: id,
                    status: TicketStatus::Waiting {
                        position,
                        estimated_wait_secs: estimate,
                        nobody_available,
                    },
                    resume_secret: None,
                    resume_grace_secs: grace(config),
                },
            },
        );
    }
    let depth = depth_of(state, now);
    let staff_by_shift = crate::metrics::ShiftState::ALL
        .iter()
        .map(|shift| {
            state
                .staff
                .values()
                .filter(|s| s.connection.is_some() && shift.as_str() == shift_name(s.shift))
                .count() as i64
        })
        .collect();
    fx.0.push(Effect::Gauges {
        depth: depth.0,
        longest_wait_secs: depth.1,
        on_shift: staff_by_shift,
    });
    if state.last_depth.map(|d| d.0) != Some(depth.0) {
        state.last_depth = Some(depth);
        for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
            fx.push_staff(
                s.session.account_id,
                ServerMessage::QueueChanged {
                    depth: depth.0,
                    longest_wait_secs: depth.1,
                },
            );
        }
    }
}

/// A counsellor passes on the ticket offered to her: it goes to the next
/// (she is asked again only once everyone has passed).
pub(super) fn decline(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    account: u64,
    ticket_id: u64,
) -> ServiceResult<Effects> {
    Intake::require_chat_staff(state, account)?;
    let t = state
        .tickets
        .get_mut(&ticket_id)
        .filter(|t| matches!(t.phase, Phase::Offered { account: a, .. } if a == account))
        .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such offer"))?;
    t.phase = Phase::Waiting;
    t.passed.insert(account);
    if let Some(s) = state.staff.get_mut(&account) {
        s.offers.remove(&ticket_id);
    }
    let mut fx = Effects::default();
    dispatch(state, config, now, &mut fx);
    refresh(state, config, now, &mut fx);
    fx.audit(account, AuditAction::OfferDeclined, Some(ticket_id), None);
    Ok(fx)
}
