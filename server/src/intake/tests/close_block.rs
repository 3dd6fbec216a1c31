//! `close` and `block`.

use super::*;

fn check_close(state: &State, account: u64, ticket: u64, tag: &str) -> ServiceResult<u64> {
    transitions::check_close(state, &config(), account, &group_of(ticket), tag)
}

fn check_block(
    state: &State,
    account: u64,
    ticket: u64,
    secs: u32,
    reason: &str,
) -> ServiceResult<transitions::BlockTarget> {
    transitions::check_block(state, &config(), account, ticket, secs, reason)
}

fn two() -> State {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    chat(&mut s, 7, ANA);
    s
}

#[test]
fn a_chat_closes_only_with_a_known_tag() {
    let s = two();
    assert_eq!(code(check_close(&s, ANA, 7, "whatever")), ErrorCode::InvalidRequest);
    assert_eq!(check_close(&s, ANA, 7, "support").unwrap(), 7);
}

#[test]
fn only_its_counsellor_or_a_supervisor_closes_a_chat() {
    let mut s = two();
    assert_eq!(code(check_close(&s, BORA, 7, "support")), ErrorCode::Forbidden);
    assert_eq!(code(check_close(&s, CARA, 7, "support")), ErrorCode::Forbidden);
    assert_eq!(code(check_close(&s, ANA, 99, "support")), ErrorCode::UnknownGroup);
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::ClockedIn);
    assert_eq!(check_close(&s, SUPERVISOR, 7, "support").unwrap(), 7);
}

#[test]
fn closing_ends_the_ticket_counts_the_chat_and_asks_for_feedback() {
    let mut s = two();
    let fx = transitions::close(&mut s, &config(), NOW, ANA, 7, "support".into());
    assert!(!s.tickets.contains_key(&7));
    assert!(!s.by_group.contains_key(&group_of(7)));
    assert!(!s.by_visitor.contains_key(&visitor_of(7)));
    assert!(s.by_resume.is_empty());
    assert!(s.staff[&ANA].chats.is_empty());
    assert_eq!(s.feedback_due.get(&visitor_of(7)), Some(&(NOW + FEEDBACK_WINDOW_SECS)));
    assert_eq!(
        audits(&fx),
        vec![(AuditAction::ChatClosed, Some(7), Some("support".into()))]
    );
    assert!(fx.0.iter().any(|e| matches!(
        e,
        Effect::RecordChat(c) if c.closing_tag == "support" && c.wait_secs == 60 && !c.transferred
    )));
    assert!(fx.0.iter().any(|e| matches!(e, Effect::DeleteTicket(7))));
    // The chat's group is no longer the intake's in the owner record.
    assert!(fx
        .0
        .iter()
        .any(|e| matches!(e, Effect::ReleaseChat { group, ticket: 7 } if *group == group_of(7))));
    assert!(pushed_to(&fx, To::Visitor(visitor_of(7))).iter().any(|m| matches!(
        m,
        ServerMessage::TicketUpdate { ticket } if ticket.status == TicketStatus::Closed { reason: ClosedReason::Closed }
    )));
    // She closed it herself: no "chat ended" for her.
    assert!(!pushed_to(&fx, To::Staff(ANA))
        .iter()
        .any(|m| matches!(m, ServerMessage::ChatEnded { .. })));
}

#[test]
fn closing_an_escalated_chat_counts_it_so_and_deletes_its_record_after_the_ticket() {
    let mut s = two();
    chat(&mut s, 8, ANA);
    s.escalated_chats.entry(7).escalated = true;
    let fx = transitions::close(&mut s, &config(), NOW, ANA, 7, "support".into());
    assert!(s.escalated_chats.get(7).is_none());
    assert!(fx.0.iter().any(|e| matches!(e, Effect::RecordChat(c) if c.escalated)));
    let deletes: Vec<&Effect> =
        fx.0.iter()
            .filter(|e| matches!(e, Effect::DeleteTicket(_) | Effect::DeleteChatEscalation(_)))
            .collect();
    assert!(
        matches!(deletes[..], [Effect::DeleteTicket(7), Effect::DeleteChatEscalation(7)]),
        "{deletes:?}"
    );
    // A chat never escalated has no record to delete.
    let fx = transitions::close(&mut s, &config(), NOW, ANA, 8, "support".into());
    assert!(fx.0.iter().any(|e| matches!(e, Effect::RecordChat(c) if !c.escalated)));
    assert!(!fx.0.iter().any(|e| matches!(e, Effect::DeleteChatEscalation(_))));
}

#[test]
fn closing_frees_her_for_the_next_ticket() {
    let mut s = two();
    chat(&mut s, 8, ANA);
    waiting(&mut s, 9, "en");
    s.tickets.get_mut(&9).unwrap().passed.insert(BORA);
    s.staff.get_mut(&BORA).unwrap().shift = ShiftState::OnBreak;
    transitions::close(&mut s, &config(), NOW, ANA, 7, "support".into());
    assert!(matches!(s.tickets[&9].phase, Phase::Offered { account: ANA, .. }));
}

#[test]
fn a_block_lasts_within_bounds_and_has_a_reason() {
    let s = two();
    let max = config().max_block_secs;
    assert_eq!(code(check_block(&s, ANA, 7, 0, "abusive")), ErrorCode::InvalidRequest);
    assert_eq!(
        code(check_block(&s, ANA, 7, max + 1, "abusive")),
        ErrorCode::InvalidRequest
    );
    assert_eq!(code(check_block(&s, ANA, 7, 60, "  ")), ErrorCode::InvalidRequest);
    let long = "x".repeat(201);
    assert_eq!(code(check_block(&s, ANA, 7, 60, &long)), ErrorCode::InvalidRequest);
    let target = check_block(&s, ANA, 7, max, &"x".repeat(200)).unwrap();
    assert_eq!(target.visitor, visitor_of(7));
    assert_eq!(target.group, Some(group_of(7)));
}

#[test]
fn only_her_own_chats_and_offers_unless_a_supervisor() {
    let mut s = two();
    offered(&mut s, 8, BORA);
    waiting(&mut s, 9, "en");
    assert_eq!(code(check_block(&s, BORA, 7, 60, "abusive")), ErrorCode::Forbidden);
    assert_eq!(code(check_block(&s, ANA, 9, 60, "abusive")), ErrorCode::Forbidden);
    assert_eq!(code(check_block(&s, ANA, 99, 60, "abusive")), ErrorCode::UnknownTicket);
    assert_eq!(code(check_block(&s, CARA, 7, 60, "abusive")), ErrorCode::Forbidden);
    let offer = check_block(&s, BORA, 8, 60, "abusive").unwrap();
    assert_eq!((offer.visitor, offer.group), (visitor_of(8), None));
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::ClockedIn);
    check_block(&s, SUPERVISOR, 9, 60, "abusive").unwrap();
}

#[test]
fn blocking_ends_the_ticket_and_tells_her_counsellor() {
    let mut s = two();
    let fx = transitions::block(&mut s, &config(), NOW, ANA, 7, "abusive");
    assert!(!s.tickets.contains_key(&7));
    assert!(s.feedback_due.is_empty(), "no feedback after a block");
    assert!(!fx.0.iter().any(|e| matches!(e, Effect::RecordChat(_))));
    assert_eq!(
        audits(&fx),
        vec![(AuditAction::VisitorBlocked, Some(7), Some("abusive".into()))]
    );
    assert!(pushed_to(&fx, To::Staff(ANA))
        .iter()
        .any(|m| matches!(m, ServerMessage::ChatEnded { ticket_id: 7, .. })));
    assert!(pushed_to(&fx, To::Visitor(visitor_of(7))).iter().any(|m| matches!(
        m,
        ServerMessage::TicketUpdate { ticket } if ticket.status == TicketStatus::Closed { reason: ClosedReason::Blocked }
    )));
}

#[test]
fn blocking_an_offered_ticket_withdraws_the_offer() {
    let mut s = two();
    offered(&mut s, 8, BORA);
    let fx = transitions::block(&mut s, &config(), NOW, BORA, 8, "abusive");
    assert!(s.staff[&BORA].offers.is_empty());
    assert!(pushed_to(&fx, To::Staff(BORA)).contains(&&ServerMessage::OfferWithdrawn { ticket_id: 8 }));
}

#[test]
fn a_visitor_who_ends_or_cancels_herself_may_answer_the_feedback_question() {
    let mut s = two();
    // In a chat: she ends it.
    tickets::end_ticket(&mut s, &config(), NOW, 7, ClosedReason::Cancelled, None);
    assert_eq!(s.feedback_due.get(&visitor_of(7)), Some(&(NOW + FEEDBACK_WINDOW_SECS)));
    // Abandoned (she vanished) or blocked: never asked.
    let mut s = two();
    tickets::end_ticket(&mut s, &config(), NOW, 7, ClosedReason::Abandoned, None);
    assert!(s.feedback_due.is_empty());
    let mut s = two();
    tickets::end_ticket(&mut s, &config(), NOW, 7, ClosedReason::Blocked, None);
    assert!(s.feedback_due.is_empty());
}
