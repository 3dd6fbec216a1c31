//! The staff transitions ([`super::transitions`]) on a bare [`State`]:
//! no socket, no server, no store. Each test builds the state it needs,
//! runs one transition, and checks the new state and the effects.

mod accept;
mod close_block;
mod shift;
mod transfer;

use serde_bytes::ByteBuf;

use super::effects::{Effect, Effects, To};
use super::*;

const NOW: u64 = 1_000_000;
const ANA: u64 = 1;
const BORA: u64 = 2;
const CARA: u64 = 3;
const SUPERVISOR: u64 = 9;

fn config() -> IntakeConfig {
    IntakeConfig::default()
}

fn key_of(account: u64) -> ClientId {
    [account as u8; 32]
}

fn visitor_of(ticket: u64) -> ClientId {
    [100 + ticket as u8; 32]
}

fn group_of(ticket: u64) -> Vec<u8> {
    vec![200, ticket as u8]
}

fn badge(account: u64) -> StaffBadge {
    StaffBadge {
        display_name: format!("staff {account}"),
        role: StaffRole::Counsellor,
        signature_key: Bytes(vec![account as u8; 32]),
        expires_at: NOW + 3600,
        attestation: Bytes(vec![0; 64]),
        account_tag: Bytes(vec![account as u8; 16]),
    }
}

/// A connected staff member speaking English and Macedonian.
fn add_staff(state: &mut State, account: u64, role: StaffRole, shift: ShiftState) {
    let session = StaffSession {
        account_id: account,
        role,
        display_name: format!("staff {account}"),
        languages: vec!["en".into(), "mk".into()],
        max_chats: 2,
        badge: badge(account),
        client: key_of(account),
    };
    state.staff_clients.insert(key_of(account), account);
    state.staff.insert(
        account,
        Staffer {
            session,
            shift,
            connection: Some(account),
            chats: HashSet::new(),
            offers: HashSet::new(),
            last_assigned: 0,
        },
    );
}

fn counsellor(state: &mut State, account: u64, shift: ShiftState) {
    add_staff(state, account, StaffRole::Counsellor, shift);
}

fn record(id: u64, language: &str) -> TicketRecord {
    TicketRecord {
        id,
        visitor: visitor_of(id),
        language: language.into(),
        topic: "health".into(),
        urgent: false,
        created_at: NOW - 120,
        arrival: id,
        handover: false,
        initial_position: 2,
        resume_hash: vec![id as u8; 32],
        key_packages: vec![ByteBuf::from(vec![1, id as u8]), ByteBuf::from(vec![2, id as u8])],
        counsellor: None,
        counsellor_client: None,
        group_id: None,
        accepted_at: None,
        transfers: 0,
        pending_add: None,
        pending_readd: None,
        previous_client: None,
        counsellor_badge: None,
    }
}

fn insert(state: &mut State, record: TicketRecord, phase: Phase) {
    let id = record.id;
    state.by_visitor.insert(record.visitor, id);
    state.by_resume.insert(record.resume_hash.clone(), id);
    if let Some(g) = &record.group_id {
        state.by_group.insert(g.to_vec(), id);
    }
    state.tickets.insert(
        id,
        Ticket {
            record,
            phase,
            passed: HashSet::new(),
            gone_since: None,
            told: VisitorPresence::Here,
            rescued: false,
            last_pushed: None,
            source: None,
        },
    );
}

/// A ticket waiting in line, in `language`.
fn waiting(state: &mut State, id: u64, language: &str) {
    insert(state, record(id, language), Phase::Waiting);
}

/// A ticket offered to `account`.
fn offered(state: &mut State, id: u64, account: u64) {
    insert(
        state,
        record(id, "en"),
        Phase::Offered {
            account,
            deadline: NOW + 30,
        },
    );
    state.staff.get_mut(&account).unwrap().offers.insert(id);
}

/// An open chat of `account`, accepted a minute ago.
fn chat(state: &mut State, id: u64, account: u64) {
    let mut r = record(id, "en");
    r.counsellor = Some(account);
    r.counsellor_client = Some(key_of(account));
    r.counsellor_badge = Some(badge(account));
    r.group_id = Some(ByteBuf::from(group_of(id)));
    r.accepted_at = Some(NOW - 60);
    r.key_packages.remove(0);
    insert(state, r, Phase::Assigned);
    state.staff.get_mut(&account).unwrap().chats.insert(id);
}

fn code<T>(r: ServiceResult<T>) -> ErrorCode {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => e.code,
    }
}

fn audits(fx: &Effects) -> Vec<(AuditAction, Option<u64>, Option<String>)> {
    fx.0.iter()
        .filter_map(|e| match e {
            Effect::Audit {
                action, ticket, detail, ..
            } => Some((*action, *ticket, detail.clone())),
            _ => None,
        })
        .collect()
}

fn stored_tickets(fx: &Effects) -> Vec<u64> {
    fx.0.iter()
        .filter_map(|e| match e {
            Effect::PutTicket(r) => Some(r.id),
            _ => None,
        })
        .collect()
}

fn pushed_to(fx: &Effects, to: To) -> Vec<&ServerMessage> {
    fx.pushes()
        .into_iter()
        .filter(|(t, _)| *t == to)
        .map(|(_, m)| m)
        .collect()
}
