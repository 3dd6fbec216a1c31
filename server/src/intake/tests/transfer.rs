//! `transfer` and `rescue`: choosing the colleague, then moving the chat.

use super::*;
use transitions::MoveTo;

fn plan(state: &State, account: u64, ticket: u64, to: Option<u64>) -> ServiceResult<(u64, ClientId)> {
    transitions::plan_move(state, account, &group_of(ticket), to)
}

fn to(account: u64, note: bool) -> MoveTo {
    MoveTo {
        account,
        client: key_of(account),
        for_visitor: vec![account as u8, 1],
        for_note: note.then(|| vec![account as u8, 2]),
    }
}

fn move_chat(
    state: &mut State,
    by: u64,
    ticket: u64,
    target: MoveTo,
    rescue: bool,
) -> ServiceResult<(Response, Effects)> {
    transitions::move_chat(state, &config(), NOW, by, &group_of(ticket), target, rescue)
}

/// Ana has chat 7; Bora is available.
fn two() -> State {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    chat(&mut s, 7, ANA);
    s
}

#[test]
fn a_transfer_to_a_named_colleague_is_planned() {
    let s = two();
    assert_eq!(plan(&s, ANA, 7, Some(BORA)).unwrap(), (BORA, key_of(BORA)));
}

#[test]
fn without_a_name_the_router_picks_another_colleague() {
    let mut s = two();
    counsellor(&mut s, CARA, ShiftState::OnBreak);
    assert_eq!(plan(&s, ANA, 7, None).unwrap().0, BORA);
}

#[test]
fn with_nobody_free_there_is_no_transfer() {
    let mut s = two();
    s.staff.get_mut(&BORA).unwrap().shift = ShiftState::OnBreak;
    assert_eq!(code(plan(&s, ANA, 7, None)), ErrorCode::NoCounsellorAvailable);
}

#[test]
fn a_colleague_who_cannot_take_it_is_refused() {
    let mut s = two();
    counsellor(&mut s, CARA, ShiftState::OnBreak);
    for target in [ANA, CARA, 42] {
        assert_eq!(code(plan(&s, ANA, 7, Some(target))), ErrorCode::NoCounsellorAvailable);
    }
    // Full: two chats already.
    chat(&mut s, 8, BORA);
    chat(&mut s, 9, BORA);
    assert_eq!(code(plan(&s, ANA, 7, Some(BORA))), ErrorCode::NoCounsellorAvailable);
}

#[test]
fn a_colleague_without_the_chats_language_is_refused() {
    let mut s = two();
    s.tickets.get_mut(&7).unwrap().record.language = "sq".into();
    assert_eq!(code(plan(&s, ANA, 7, Some(BORA))), ErrorCode::NoCounsellorAvailable);
}

#[test]
fn only_its_counsellor_or_a_supervisor_transfers_a_chat() {
    let mut s = two();
    assert_eq!(code(plan(&s, BORA, 7, Some(BORA))), ErrorCode::Forbidden);
    assert_eq!(code(plan(&s, CARA, 7, Some(BORA))), ErrorCode::Forbidden);
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::Available);
    assert_eq!(plan(&s, SUPERVISOR, 7, Some(BORA)).unwrap().0, BORA);
}

#[test]
fn an_unknown_group_is_not_a_chat() {
    let s = two();
    assert_eq!(code(plan(&s, ANA, 99, Some(BORA))), ErrorCode::UnknownGroup);
}

#[test]
fn one_transfer_at_a_time() {
    let mut s = two();
    move_chat(&mut s, ANA, 7, to(BORA, true), false).unwrap();
    counsellor(&mut s, CARA, ShiftState::Available);
    assert_eq!(code(plan(&s, BORA, 7, Some(CARA))), ErrorCode::InvalidState);
}

#[test]
fn a_transfer_moves_the_chat_and_the_visitor_adds_the_colleague() {
    let mut s = two();
    let (response, fx) = move_chat(&mut s, ANA, 7, to(BORA, true), false).unwrap();
    assert_eq!(
        response,
        Response::Transferred {
            group_id: Bytes(group_of(7)),
            to: badge(BORA),
            note_key_package: Bytes(vec![BORA as u8, 2]),
        }
    );
    let t = &s.tickets[&7];
    assert_eq!(t.record.counsellor, Some(BORA));
    assert_eq!(t.record.counsellor_client, Some(key_of(BORA)));
    assert_eq!(t.record.previous_client, Some(key_of(ANA)));
    assert_eq!(t.record.transfers, 1);
    assert!(!t.rescued);
    let add = t.record.pending_add.as_ref().unwrap();
    assert_eq!((add.account, add.key_package.clone()), (BORA, vec![BORA as u8, 1]));
    assert!(!s.staff[&ANA].chats.contains(&7));
    assert!(s.staff[&BORA].chats.contains(&7));
    assert!(pushed_to(&fx, To::Staff(BORA)).iter().any(|m| matches!(
        m,
        ServerMessage::ChatAssigned { from: Some(b), remove_previous: Some(p), .. }
            if *b == badge(ANA) && p.0 == key_of(ANA)
    )));
    assert!(pushed_to(&fx, To::Visitor(visitor_of(7))).iter().any(|m| matches!(
        m,
        ServerMessage::TicketUpdate { ticket }
            if matches!(&ticket.status, TicketStatus::InChat { add_counsellor: Some(_), transferred: true, .. })
    )));
    assert_eq!(stored_tickets(&fx), vec![7]);
    assert_eq!(audits(&fx), vec![(AuditAction::ChatTransferred, Some(7), None)]);
}

#[test]
fn a_colleague_who_left_meanwhile_gets_nothing_and_nothing_changes() {
    let mut s = two();
    s.staff.get_mut(&BORA).unwrap().connection = None;
    assert_eq!(
        code(move_chat(&mut s, ANA, 7, to(BORA, true), false)),
        ErrorCode::NoCounsellorAvailable
    );
    assert_eq!(s.tickets[&7].record.counsellor, Some(ANA));
    assert!(s.tickets[&7].record.pending_add.is_none());
}

#[test]
fn only_a_supervisor_rescues_and_only_a_stranded_chat() {
    let mut s = two();
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::Available);
    assert_eq!(
        code(transitions::check_rescue(&s, BORA, &group_of(7))),
        ErrorCode::Forbidden
    );
    // Ana is here: she can transfer it herself.
    assert_eq!(
        code(transitions::check_rescue(&s, SUPERVISOR, &group_of(7))),
        ErrorCode::InvalidState
    );
    assert_eq!(
        code(transitions::check_rescue(&s, SUPERVISOR, &group_of(99))),
        ErrorCode::UnknownGroup
    );
    s.staff.get_mut(&ANA).unwrap().connection = None;
    transitions::check_rescue(&s, SUPERVISOR, &group_of(7)).unwrap();
    s.staff.get_mut(&ANA).unwrap().connection = s.staff[&BORA].connection;
    s.staff.get_mut(&ANA).unwrap().shift = ShiftState::ClockedOut;
    transitions::check_rescue(&s, SUPERVISOR, &group_of(7)).unwrap();
}

#[test]
fn a_rescue_moves_the_chat_without_a_note() {
    let mut s = two();
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::Available);
    s.staff.get_mut(&ANA).unwrap().connection = None;
    let (response, fx) = move_chat(&mut s, SUPERVISOR, 7, to(SUPERVISOR, false), true).unwrap();
    assert_eq!(
        response,
        Response::ChatRescued {
            group_id: Bytes(group_of(7)),
            to: badge(SUPERVISOR),
        }
    );
    assert!(s.tickets[&7].rescued);
    assert_eq!(s.tickets[&7].record.counsellor, Some(SUPERVISOR));
    assert_eq!(
        audits(&fx),
        vec![(AuditAction::ChatTransferred, Some(7), Some("rescue".into()))]
    );
}

#[test]
fn a_rescue_is_refused_if_the_counsellor_came_back() {
    let mut s = two();
    add_staff(&mut s, SUPERVISOR, StaffRole::Supervisor, ShiftState::Available);
    assert_eq!(
        code(move_chat(&mut s, SUPERVISOR, 7, to(SUPERVISOR, false), true)),
        ErrorCode::InvalidState
    );
    assert_eq!(s.tickets[&7].record.counsellor, Some(ANA));
}
