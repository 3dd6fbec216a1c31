//! `set_shift`.

use super::*;

fn shift(state: &mut State, account: u64, to: ShiftState, handover: bool) -> ServiceResult<(Response, Effects)> {
    transitions::set_shift(state, &config(), NOW, account, to, handover)
}

#[test]
fn a_stranger_cannot_change_a_shift() {
    let mut s = State::default();
    assert_eq!(
        code(shift(&mut s, ANA, ShiftState::ClockedIn, false)),
        ErrorCode::Forbidden
    );
}

#[test]
fn clocking_in_stores_audits_and_shows_the_queue() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::ClockedOut);
    waiting(&mut s, 7, "en");
    let (response, fx) = shift(&mut s, ANA, ShiftState::ClockedIn, false).unwrap();
    assert_eq!(
        response,
        Response::Shift {
            state: ShiftState::ClockedIn,
            active_chats: 0,
            handed_over: 0
        }
    );
    assert_eq!(s.staff[&ANA].shift, ShiftState::ClockedIn);
    assert!(fx.0.iter().any(|e| matches!(
        e,
        Effect::PutShift {
            account: ANA,
            shift: ShiftState::ClockedIn
        }
    )));
    assert_eq!(
        audits(&fx),
        vec![(AuditAction::ShiftChanged, None, Some("clocked_in".into()))]
    );
    assert!(pushed_to(&fx, To::Staff(ANA))
        .iter()
        .any(|m| matches!(m, ServerMessage::QueueChanged { depth: 1, .. })));
    // Clocked in is not available: nothing is offered yet.
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
}

#[test]
fn becoming_available_gets_the_waiting_ticket_offered() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::ClockedIn);
    waiting(&mut s, 7, "en");
    let (_, fx) = shift(&mut s, ANA, ShiftState::Available, false).unwrap();
    assert!(matches!(s.tickets[&7].phase, Phase::Offered { account: ANA, deadline } if deadline == NOW + 30));
    assert!(s.staff[&ANA].offers.contains(&7));
    assert!(pushed_to(&fx, To::Staff(ANA))
        .iter()
        .any(|m| matches!(m, ServerMessage::Offer { ticket, expires_in_secs: 30 } if ticket.ticket_id == 7)));
}

#[test]
fn a_ticket_in_a_language_she_does_not_speak_is_not_offered() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::ClockedIn);
    waiting(&mut s, 7, "sq");
    shift(&mut s, ANA, ShiftState::Available, false).unwrap();
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
}

#[test]
fn a_break_withdraws_her_offers_and_counts_them_as_passed() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    offered(&mut s, 7, ANA);
    let (_, fx) = shift(&mut s, ANA, ShiftState::OnBreak, false).unwrap();
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
    assert!(s.tickets[&7].passed.contains(&ANA));
    assert!(s.staff[&ANA].offers.is_empty());
    assert!(pushed_to(&fx, To::Staff(ANA)).contains(&&ServerMessage::OfferWithdrawn { ticket_id: 7 }));
}

#[test]
fn a_withdrawn_offer_goes_to_an_available_colleague() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    offered(&mut s, 7, ANA);
    shift(&mut s, ANA, ShiftState::OnBreak, false).unwrap();
    assert!(matches!(s.tickets[&7].phase, Phase::Offered { account: BORA, .. }));
}

#[test]
fn clocking_out_with_open_chats_needs_a_handover() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    chat(&mut s, 7, ANA);
    let e = shift(&mut s, ANA, ShiftState::ClockedOut, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::HandoverRequired);
    assert!(e.message.contains("1 open chats"));
    // Nothing changed.
    assert_eq!(s.staff[&ANA].shift, ShiftState::Available);
    assert_eq!(s.tickets[&7].record.counsellor, Some(ANA));
}

#[test]
fn clocking_out_with_handover_puts_her_chats_first_in_line() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    chat(&mut s, 7, ANA);
    // Accepted but the group never made.
    insert(&mut s, record(8, "en"), Phase::Assigned);
    s.tickets.get_mut(&8).unwrap().record.counsellor = Some(ANA);
    s.staff.get_mut(&ANA).unwrap().chats.insert(8);
    let (response, fx) = shift(&mut s, ANA, ShiftState::ClockedOut, true).unwrap();
    assert_eq!(
        response,
        Response::Shift {
            state: ShiftState::ClockedOut,
            active_chats: 0,
            handed_over: 2
        }
    );
    let handed = &s.tickets[&7];
    assert_eq!(handed.phase, Phase::Waiting);
    assert!(handed.record.handover);
    assert_eq!(handed.record.counsellor, None);
    assert_eq!(handed.record.counsellor_client, None);
    assert_eq!(handed.record.previous_client, Some(key_of(ANA)));
    assert!(handed.passed.contains(&ANA));
    let unopened = &s.tickets[&8];
    assert!(!unopened.record.handover);
    assert_eq!(unopened.record.counsellor, None);
    assert_eq!(unopened.phase, Phase::Waiting);
    assert!(s.staff[&ANA].chats.is_empty());
    let mut stored = stored_tickets(&fx);
    stored.sort_unstable();
    assert_eq!(stored, vec![7, 8]);
}

#[test]
fn a_handover_is_offered_to_a_colleague_first() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    waiting(&mut s, 5, "en");
    s.tickets.get_mut(&5).unwrap().passed.insert(BORA);
    chat(&mut s, 7, ANA);
    shift(&mut s, ANA, ShiftState::ClockedOut, true).unwrap();
    assert!(matches!(s.tickets[&7].phase, Phase::Offered { account: BORA, .. }));
}

#[test]
fn clocking_in_shows_waiting_team_messages_to_counsellors_only() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::ClockedOut);
    add_staff(&mut s, SUPERVISOR, StaffRole::Admin, ShiftState::ClockedOut);
    s.team_messages.push(TeamMessageRecord {
        group_id: vec![9; 16],
        language: "en".into(),
        left_at: NOW - 5,
    });
    let (_, fx) = shift(&mut s, ANA, ShiftState::ClockedIn, false).unwrap();
    assert!(pushed_to(&fx, To::Staff(ANA))
        .iter()
        .any(|m| matches!(m, ServerMessage::TeamMessagesWaiting { messages } if messages.len() == 1)));
    let (_, fx) = shift(&mut s, SUPERVISOR, ShiftState::ClockedIn, false).unwrap();
    assert!(!pushed_to(&fx, To::Staff(SUPERVISOR))
        .iter()
        .any(|m| matches!(m, ServerMessage::TeamMessagesWaiting { .. })));
}

// `decline` (offers.rs), which the shift changes above rely on too.

#[test]
fn a_declined_offer_goes_to_the_next_counsellor() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    offered(&mut s, 7, ANA);
    let fx = offers::decline(&mut s, &config(), NOW, ANA, 7).unwrap();
    assert!(s.tickets[&7].passed.contains(&ANA));
    assert!(s.staff[&ANA].offers.is_empty());
    assert!(matches!(s.tickets[&7].phase, Phase::Offered { account: BORA, .. }));
    assert_eq!(audits(&fx), vec![(AuditAction::OfferDeclined, Some(7), None)]);
}

#[test]
fn only_the_counsellor_it_is_offered_to_declines_it() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    add_staff(&mut s, SUPERVISOR, StaffRole::Admin, ShiftState::ClockedIn);
    offered(&mut s, 7, ANA);
    assert_eq!(
        code(offers::decline(&mut s, &config(), NOW, BORA, 7)),
        ErrorCode::UnknownTicket
    );
    assert_eq!(
        code(offers::decline(&mut s, &config(), NOW, ANA, 99)),
        ErrorCode::UnknownTicket
    );
    assert_eq!(
        code(offers::decline(&mut s, &config(), NOW, SUPERVISOR, 7)),
        ErrorCode::Forbidden
    );
    assert!(matches!(s.tickets[&7].phase, Phase::Offered { account: ANA, .. }));
}
