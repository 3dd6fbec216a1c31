//! The staff's chat transitions as pure functions: each takes the state
//! and the request, changes the state, and returns its answer and the
//! [`Effects`] to apply once the lock is released (see [`super::effects`]).
//! Nothing here awaits, reads the clock or touches a socket, so each can be
//! tested on a bare [`State`] (`super::tests`).
//!
//! Steps that must await (claiming key packages, closing a group) sit
//! between a `check_*` and its transition in `staff.rs`; the transition
//! checks again, since the state may have changed meanwhile.

use super::effects::{Effect, Effects};
use super::offers::{dispatch, refresh};
use super::tickets::{end_ticket, push_readd, push_ticket};
use super::*;

/// Clock in, take a break, become available or clock out. Clocking out
/// with open chats needs `handover`: they go back to the queue, first in
/// line, passed over by this counsellor.
pub(super) fn set_shift(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    account: u64,
    shift: ShiftState,
    handover: bool,
) -> ServiceResult<(Response, Effects)> {
    let mut fx = Effects::default();
    let s = Intake::staffer(state, account)?;
    let chats: Vec<u64> = s.chats.iter().copied().collect();
    let mut records = Vec::new();
    let mut handed = 0;
    if shift == ShiftState::ClockedOut && !chats.is_empty() {
        if !handover {
            return Err(err(
                ErrorCode::HandoverRequired,
                format!(
                    "you have {} open chats; clock out with handover to return them to the queue first in line",
                    chats.len()
                ),
            ));
        }
        for id in &chats {
            let Some(t) = state.tickets.get_mut(id) else { continue };
            if t.record.group_id.is_none() {
                // Accepted but never opened: just back in line.
                t.record.counsellor = None;
                t.record.counsellor_client = None;
            } else {
                t.record.handover = true;
                t.record.previous_client = t.record.counsellor_client.take();
                t.record.counsellor = None;
            }
            t.phase = Phase::Waiting;
            t.passed.clear();
            t.passed.insert(account);
            records.push(t.record.clone());
            handed += 1;
        }
    }
    let s = state.staff.get_mut(&account).expect("checked");
    if shift == ShiftState::ClockedOut {
        s.chats.clear();
    }
    s.shift = shift;
    if shift != ShiftState::Available {
        let offers: Vec<u64> = s.offers.drain().collect();
        for id in offers {
            if let Some(t) = state.tickets.get_mut(&id) {
                t.phase = Phase::Waiting;
                t.passed.insert(account);
                fx.push_staff(account, ServerMessage::OfferWithdrawn { ticket_id: id });
            }
        }
    }
    let staffer = &state.staff[&account];
    let active = staffer.chats.len() as u32;
    if on_shift(shift) {
        let (depth, longest) = depth_of(state, now);
        fx.push_staff(
            account,
            ServerMessage::QueueChanged {
                depth,
                longest_wait_secs: longest,
            },
        );
        if !state.team_messages.is_empty() && staffer.takes_chats() {
            fx.push_staff(
                account,
                ServerMessage::TeamMessagesWaiting {
                    messages: team_list(&state.team_messages),
                },
            );
        }
    }
    dispatch(state, config, now, &mut fx);
    refresh(state, config, now, &mut fx);
    fx.0.push(Effect::PutShift { account, shift });
    for r in &records {
        fx.put_ticket(r);
    }
    fx.audit(account, AuditAction::ShiftChanged, None, Some(shift_name(shift)));
    let response = Response::Shift {
        state: shift,
        active_chats: active,
        handed_over: handed,
    };
    Ok((response, fx))
}

/// What [`accept`] needs besides the ticket: the accepting session's key
/// and, for a hand-over, one of its key packages for the visitor's client
/// to add it with.
pub(super) struct Acceptor {
    pub account: u64,
    pub client: ClientId,
    /// Whether the first check found a hand-over (a chat with a group).
    pub handover: bool,
    pub key_package: Option<Vec<u8>>,
}

/// A counsellor takes a waiting ticket: a new chat (she gets one of the
/// visitor's key packages to create the group with) or a hand-over (the
/// visitor's client adds her with `key_package`).
pub(super) fn accept(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    me: Acceptor,
    ticket_id: u64,
) -> ServiceResult<(Response, Effects)> {
    let mut fx = Effects::default();
    let account = me.account;
    let (handover_now, offered_to) = Intake::check_accept(state, account, ticket_id)?;
    if handover_now != me.handover {
        return Err(err(ErrorCode::InvalidState, "the ticket changed; try again"));
    }
    let t = &state.tickets[&ticket_id];
    if me.handover && me.key_package.is_none() {
        return Err(err(
            ErrorCode::NoKeyPackage,
            "publish key packages first: the visitor's client adds you with one",
        ));
    }
    if !me.handover && t.record.key_packages.is_empty() {
        return Err(err(ErrorCode::NoKeyPackage, "the visitor has no key package left"));
    }
    if let Some(other) = offered_to.filter(|a| *a != account) {
        if let Some(o) = state.staff.get_mut(&other) {
            o.offers.remove(&ticket_id);
            fx.push_staff(other, ServerMessage::OfferWithdrawn { ticket_id });
        }
    }
    let my_badge = state.staff[&account].session.badge.clone();
    let t = state.tickets.get_mut(&ticket_id).expect("checked");
    t.phase = Phase::Assigned;
    t.record.counsellor = Some(account);
    t.record.counsellor_badge = Some(my_badge);
    t.record.accepted_at = Some(now);
    let waited = now.saturating_sub(t.record.created_at) as f64;
    let sample = waited / f64::from(t.record.initial_position.max(1));
    let entry = t.entry(now);
    let group_id = t.record.group_id.clone();
    let response = match (&group_id, me.key_package) {
        (Some(g), Some(key_package)) => {
            t.record.pending_add = Some(PendingAdd {
                account,
                client: me.client,
                key_package,
            });
            t.record.transfers += 1;
            t.record.counsellor_client = Some(me.client);
            Response::TicketAccepted {
                ticket: entry.clone(),
                key_package: None,
                group_id: Some(Bytes(g.to_vec())),
            }
        }
        _ => {
            let kp = t.record.key_packages.remove(0);
            Response::TicketAccepted {
                ticket: entry.clone(),
                key_package: Some(Bytes(kp.to_vec())),
                group_id: None,
            }
        }
    };
    let previous = t.record.previous_client.map(|c| Bytes(c.to_vec()));
    state.secs_per_position = 0.8 * state.secs_per_position + 0.2 * sample;
    let s = state.staff.get_mut(&account).expect("checked");
    s.offers.remove(&ticket_id);
    s.chats.insert(ticket_id);
    s.last_assigned = now;
    if let Some(g) = &group_id {
        fx.push_staff(
            account,
            ServerMessage::ChatAssigned {
                group_id: Bytes(g.to_vec()),
                ticket: entry,
                from: None,
                remove_previous: previous,
            },
        );
    }
    push_ticket(state, config, ticket_id, &mut fx);
    // A visitor who came back with a new key while the chat waited is
    // re-added by the counsellor being replaced.
    push_readd(state, ticket_id, &mut fx);
    dispatch(state, config, now, &mut fx);
    refresh(state, config, now, &mut fx);
    fx.put_ticket(&state.tickets[&ticket_id].record);
    fx.audit(
        account,
        AuditAction::TicketAccepted,
        Some(ticket_id),
        me.handover.then_some("handover"),
    );
    Ok((response, fx))
}

/// Who takes chat `group_id` from `account` (its counsellor, or a
/// supervisor): colleague `to`, or the router's choice among the others.
/// Answers the target's account and current key.
pub(super) fn plan_move(
    state: &State,
    account: u64,
    group_id: &[u8],
    to: Option<u64>,
) -> ServiceResult<(u64, ClientId)> {
    let id = Intake::chat_of(state, account, group_id)?;
    let t = &state.tickets[&id];
    if t.record.pending_add.is_some() {
        return Err(err(
            ErrorCode::InvalidState,
            "a transfer of this chat is still under way",
        ));
    }
    let current = t.record.counsellor;
    let language = &t.record.language;
    let target = match to {
        Some(a) => {
            let s = state
                .staff
                .get(&a)
                .ok_or_else(|| err(ErrorCode::NoCounsellorAvailable, "that colleague is not on shift"))?;
            if Some(a) == current
                || !s.takes_chats()
                || s.connection.is_none()
                || !on_shift(s.shift)
                || s.shift == ShiftState::OnBreak
                || !s.session.languages.contains(language)
                || s.load() >= s.session.max_chats
            {
                return Err(err(
                    ErrorCode::NoCounsellorAvailable,
                    "that colleague cannot take this chat now",
                ));
            }
            a
        }
        None => {
            let others: Vec<_> = candidates(state)
                .into_iter()
                .filter(|c| Some(c.account_id) != current)
                .collect();
            match routing::choose(&others, language, &HashSet::new()) {
                routing::Choice::Offer(a) => a,
                _ => {
                    return Err(err(
                        ErrorCode::NoCounsellorAvailable,
                        "no colleague can take this chat now",
                    ))
                }
            }
        }
    };
    Ok((target, state.staff[&target].session.client))
}

/// A supervisor may rescue only a chat whose counsellor is away.
pub(super) fn check_rescue(state: &State, account: u64, group_id: &[u8]) -> ServiceResult<()> {
    if Intake::staffer(state, account)?.session.role != StaffRole::Supervisor {
        return Err(err(ErrorCode::Forbidden, "only supervisors rescue chats"));
    }
    let id = *state
        .by_group
        .get(group_id)
        .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such chat"))?;
    if Intake::stranded(state, &state.tickets[&id]).is_none() {
        return Err(err(
            ErrorCode::InvalidState,
            "this chat's counsellor is here; she can transfer it",
        ));
    }
    Ok(())
}

/// The chat's new counsellor, with the key packages claimed for her.
pub(super) struct MoveTo {
    pub account: u64,
    pub client: ClientId,
    /// For the visitor's client to add her with.
    pub for_visitor: Vec<u8>,
    /// For the hand-over note; `None` on a rescue (nobody writes one).
    pub for_note: Option<Vec<u8>>,
}

/// Move chat `group_id` to `target` (a transfer, or a supervisor's
/// rescue): the visitor's client adds her, and she removes the previous
/// counsellor's leaf.
pub(super) fn move_chat(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    account: u64,
    group_id: &[u8],
    target: MoveTo,
    rescue: bool,
) -> ServiceResult<(Response, Effects)> {
    let mut fx = Effects::default();
    let id = Intake::chat_of(state, account, group_id)?;
    if rescue && Intake::stranded(state, &state.tickets[&id]).is_none() {
        return Err(err(ErrorCode::InvalidState, "its counsellor came back"));
    }
    let previous_account = state.tickets[&id].record.counsellor;
    let badge = state
        .staff
        .get(&target.account)
        .filter(|s| s.connection.is_some())
        .map(|s| s.session.badge.clone())
        .ok_or_else(|| err(ErrorCode::NoCounsellorAvailable, "that colleague just left"))?;
    fx.audit(
        account,
        AuditAction::ChatTransferred,
        Some(id),
        rescue.then_some("rescue"),
    );
    let from_badge = previous_account
        .and_then(|a| state.staff.get(&a))
        .map(|s| s.session.badge.clone());
    let t = state.tickets.get_mut(&id).expect("checked");
    t.record.previous_client = t.record.counsellor_client;
    t.record.counsellor = Some(target.account);
    t.record.counsellor_badge = Some(badge.clone());
    t.record.counsellor_client = Some(target.client);
    t.record.transfers += 1;
    t.record.pending_add = Some(PendingAdd {
        account: target.account,
        client: target.client,
        key_package: target.for_visitor,
    });
    t.rescued = rescue;
    let entry = t.entry(now);
    let previous = t.record.previous_client.map(|c| Bytes(c.to_vec()));
    if let Some(p) = previous_account.and_then(|a| state.staff.get_mut(&a)) {
        p.chats.remove(&id);
    }
    let s = state.staff.get_mut(&target.account).expect("checked");
    s.chats.insert(id);
    s.last_assigned = now;
    fx.push_staff(
        target.account,
        ServerMessage::ChatAssigned {
            group_id: Bytes(group_id.to_vec()),
            ticket: entry,
            from: from_badge,
            remove_previous: previous,
        },
    );
    push_ticket(state, config, id, &mut fx);
    dispatch(state, config, now, &mut fx);
    refresh(state, config, now, &mut fx);
    let response = match target.for_note {
        Some(note) => Response::Transferred {
            group_id: Bytes(group_id.to_vec()),
            to: badge,
            note_key_package: Bytes(note),
        },
        None => Response::ChatRescued {
            group_id: Bytes(group_id.to_vec()),
            to: badge,
        },
    };
    fx.put_ticket(&state.tickets[&id].record);
    Ok((response, fx))
}

/// May `account` close chat `group_id` with `tag`? Answers its ticket.
pub(super) fn check_close(
    state: &State,
    config: &IntakeConfig,
    account: u64,
    group_id: &[u8],
    tag: &str,
) -> ServiceResult<u64> {
    if !config.closing_tags.iter().any(|t| t == tag) {
        return Err(err(ErrorCode::InvalidRequest, "unknown closing tag; see intake_info"));
    }
    Intake::chat_of(state, account, group_id)
}

/// The chat of ticket `id` was closed by `account` (its group is closed
/// already): audited with its tag, counted, and the ticket ends.
pub(super) fn close(state: &mut State, config: &IntakeConfig, now: u64, account: u64, id: u64, tag: String) -> Effects {
    let mut fx = Effects::default();
    fx.audit(account, AuditAction::ChatClosed, Some(id), Some(&tag));
    fx.0.extend(end_ticket(state, config, now, id, ClosedReason::Closed, Some(tag)).0);
    fx
}

/// Whom a block catches: the ticket's visitor key, its chat (closed
/// first) and the network it asked from.
#[derive(Debug)]
pub(super) struct BlockTarget {
    pub visitor: ClientId,
    pub group: Option<Vec<u8>>,
    pub source: Option<SourceKey>,
}

/// May `account` block the visitor of `ticket_id` for `duration_secs`?
/// Her own chats and offers; a supervisor any.
pub(super) fn check_block(
    state: &State,
    config: &IntakeConfig,
    account: u64,
    ticket_id: u64,
    duration_secs: u32,
    reason: &str,
) -> ServiceResult<BlockTarget> {
    if duration_secs == 0 || duration_secs > config.max_block_secs {
        return Err(err(
            ErrorCode::InvalidRequest,
            format!("a block lasts 1 to {} seconds", config.max_block_secs),
        ));
    }
    if reason.trim().is_empty() || reason.chars().count() > 200 {
        return Err(err(
            ErrorCode::InvalidRequest,
            "give a reason of at most 200 characters",
        ));
    }
    let s = Intake::staffer(state, account)?;
    let t = state
        .tickets
        .get(&ticket_id)
        .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such ticket"))?;
    let mine = t.record.counsellor == Some(account);
    let offered = matches!(t.phase, Phase::Offered { account: a, .. } if a == account);
    if !(mine || offered || s.session.role == StaffRole::Supervisor) {
        return Err(err(
            ErrorCode::Forbidden,
            "you may block only visitors of your own chats and offers",
        ));
    }
    Ok(BlockTarget {
        visitor: t.record.visitor,
        group: t.record.group_id.as_ref().map(|g| g.to_vec()),
        source: t.source,
    })
}

/// The visitor of ticket `ticket_id` is blocked (her key is in
/// `state.blocks`, her chat's group closed): audited with the reason, and
/// the ticket ends.
pub(super) fn block(
    state: &mut State,
    config: &IntakeConfig,
    now: u64,
    account: u64,
    ticket_id: u64,
    reason: &str,
) -> Effects {
    let mut fx = Effects::default();
    fx.audit(account, AuditAction::VisitorBlocked, Some(ticket_id), Some(reason));
    fx.0.extend(end_ticket(state, config, now, ticket_id, ClosedReason::Blocked, None).0);
    fx
}
