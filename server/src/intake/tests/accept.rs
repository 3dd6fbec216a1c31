//! `accept` (and the check it repeats after claiming a key package).

use super::*;
use transitions::Acceptor;

fn me(account: u64) -> Acceptor {
    Acceptor {
        account,
        client: key_of(account),
        handover: false,
        key_package: None,
    }
}

fn accept(state: &mut State, me: Acceptor, ticket: u64) -> ServiceResult<(Response, Effects)> {
    transitions::accept(state, &config(), NOW, me, ticket)
}

#[test]
fn a_new_chat_gets_the_visitors_first_key_package() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    waiting(&mut s, 7, "en");
    let (response, fx) = accept(&mut s, me(ANA), 7).unwrap();
    let Response::TicketAccepted {
        ticket,
        key_package,
        group_id,
    } = response
    else {
        panic!("not an acceptance: {response:?}");
    };
    assert_eq!(ticket.ticket_id, 7);
    assert_eq!(key_package, Some(Bytes(vec![1, 7])));
    assert_eq!(group_id, None);
    let t = &s.tickets[&7];
    assert_eq!(t.phase, Phase::Assigned);
    assert_eq!(t.record.counsellor, Some(ANA));
    assert_eq!(t.record.accepted_at, Some(NOW));
    assert_eq!(t.record.counsellor_badge, Some(badge(ANA)));
    assert_eq!(t.record.key_packages.len(), 1, "one key package used");
    assert!(s.staff[&ANA].chats.contains(&7));
    assert_eq!(s.staff[&ANA].last_assigned, NOW);
    assert_eq!(stored_tickets(&fx), vec![7]);
    assert_eq!(audits(&fx), vec![(AuditAction::TicketAccepted, Some(7), None)]);
    // Waited 120 s from position 2: the estimate moves a fifth of the way to 60 s.
    let expected = 0.8 * State::default().secs_per_position + 0.2 * 60.0;
    assert!((s.secs_per_position - expected).abs() < 1e-9);
}

#[test]
fn accepting_needs_a_shift() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::ClockedOut);
    waiting(&mut s, 7, "en");
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::InvalidState);
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
}

#[test]
fn a_stranger_cannot_accept() {
    let mut s = State::default();
    waiting(&mut s, 7, "en");
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::Forbidden);
}

#[test]
fn an_unknown_ticket_is_refused() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    assert_eq!(code(accept(&mut s, me(ANA), 99)), ErrorCode::UnknownTicket);
}

#[test]
fn someone_elses_chat_cannot_be_accepted() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    chat(&mut s, 7, BORA);
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::InvalidState);
    assert_eq!(s.tickets[&7].record.counsellor, Some(BORA));
}

#[test]
fn a_ticket_in_another_language_is_forbidden() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    waiting(&mut s, 7, "sq");
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::Forbidden);
}

#[test]
fn a_visitor_who_left_before_her_chat_began_cannot_be_accepted() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    waiting(&mut s, 7, "en");
    s.tickets.get_mut(&7).unwrap().gone_since = Some(NOW - 5);
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::InvalidState);
}

#[test]
fn the_chat_limit_holds_but_her_own_offer_does_not_count() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    chat(&mut s, 1, ANA);
    offered(&mut s, 2, ANA);
    waiting(&mut s, 3, "en");
    // One chat and one offer: at her limit of two.
    assert_eq!(code(accept(&mut s, me(ANA), 3)), ErrorCode::LimitExceeded);
    // Accepting the offer itself is fine.
    accept(&mut s, me(ANA), 2).unwrap();
    assert!(s.staff[&ANA].offers.is_empty());
    assert_eq!(s.staff[&ANA].chats.len(), 2);
}

#[test]
fn taking_a_colleagues_offer_withdraws_it_from_her() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    offered(&mut s, 7, BORA);
    let (_, fx) = accept(&mut s, me(ANA), 7).unwrap();
    assert!(s.staff[&BORA].offers.is_empty());
    assert_eq!(
        pushed_to(&fx, To::Staff(BORA)),
        vec![
            &ServerMessage::OfferWithdrawn { ticket_id: 7 },
            &ServerMessage::QueueChanged {
                depth: 0,
                longest_wait_secs: 0
            }
        ]
    );
    assert_eq!(s.tickets[&7].record.counsellor, Some(ANA));
}

#[test]
fn a_handover_is_added_by_the_visitors_client() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    let mut r = record(7, "en");
    r.group_id = Some(ByteBuf::from(group_of(7)));
    r.handover = true;
    r.previous_client = Some(key_of(BORA));
    insert(&mut s, r, Phase::Waiting);
    let mine = Acceptor {
        handover: true,
        key_package: Some(vec![42]),
        ..me(ANA)
    };
    let (response, fx) = accept(&mut s, mine, 7).unwrap();
    assert!(matches!(
        response,
        Response::TicketAccepted { key_package: None, group_id: Some(ref g), .. } if g.0 == group_of(7)
    ));
    let t = &s.tickets[&7];
    let add = t.record.pending_add.as_ref().expect("the visitor adds her");
    assert_eq!(
        (add.account, add.client, add.key_package.clone()),
        (ANA, key_of(ANA), vec![42])
    );
    assert_eq!(t.record.transfers, 1);
    assert_eq!(t.record.counsellor_client, Some(key_of(ANA)));
    assert_eq!(t.record.key_packages.len(), 2, "the visitor's packages are not used");
    assert!(pushed_to(&fx, To::Staff(ANA)).iter().any(|m| matches!(
        m,
        ServerMessage::ChatAssigned { remove_previous: Some(p), from: None, .. } if p.0 == key_of(BORA)
    )));
    // The visitor learns who will join.
    assert!(pushed_to(&fx, To::Visitor(visitor_of(7))).iter().any(|m| matches!(
        m,
        ServerMessage::TicketUpdate { ticket } if matches!(ticket.status, TicketStatus::InChat { .. })
    )));
    assert_eq!(
        audits(&fx),
        vec![(AuditAction::TicketAccepted, Some(7), Some("handover".into()))]
    );
}

#[test]
fn a_ticket_that_changed_while_claiming_is_refused() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    waiting(&mut s, 7, "en");
    let mine = Acceptor {
        handover: true,
        key_package: Some(vec![42]),
        ..me(ANA)
    };
    assert_eq!(code(accept(&mut s, mine, 7)), ErrorCode::InvalidState);
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
}

#[test]
fn a_visitor_without_key_packages_cannot_be_accepted_and_nothing_changes() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    waiting(&mut s, 7, "en");
    s.tickets.get_mut(&7).unwrap().record.key_packages.clear();
    assert_eq!(code(accept(&mut s, me(ANA), 7)), ErrorCode::NoKeyPackage);
    assert_eq!(s.tickets[&7].phase, Phase::Waiting);
    assert_eq!(s.tickets[&7].record.counsellor, None);
    assert!(s.staff[&ANA].chats.is_empty());
}

#[test]
fn a_visitor_back_with_a_new_key_is_readded_on_accept() {
    let mut s = State::default();
    counsellor(&mut s, ANA, ShiftState::Available);
    counsellor(&mut s, BORA, ShiftState::Available);
    let mut r = record(7, "en");
    r.group_id = Some(ByteBuf::from(group_of(7)));
    r.handover = true;
    r.previous_client = Some(key_of(BORA));
    r.pending_readd = Some(PendingReadd {
        old_client: [55; 32],
        key_package: vec![77],
    });
    insert(&mut s, r, Phase::Waiting);
    let mine = Acceptor {
        handover: true,
        key_package: Some(vec![42]),
        ..me(ANA)
    };
    let (_, fx) = accept(&mut s, mine, 7).unwrap();
    // Bora is still in the group; Ana is not yet.
    assert!(pushed_to(&fx, To::Staff(BORA))
        .iter()
        .any(|m| matches!(m, ServerMessage::ReaddVisitor { key_package, .. } if key_package.0 == vec![77])));
}
