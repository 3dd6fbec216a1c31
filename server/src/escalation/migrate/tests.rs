//! The migration on a real data directory, from tickets written in the
//! old format (the escalation fields inside the ticket).

use parasol_protocol::{Bytes, StaffRole};
use serde::Serialize;

use super::*;
use crate::intake::store::{PendingAdd, PendingReadd};
use crate::storage::Storage;

const VISITOR: ClientId = [1; 32];
const COUNSELLOR: ClientId = [2; 32];
const RESPONDER: ClientId = [3; 32];
const JOINED: ClientId = [4; 32];

/// `TicketRecord` as it was stored before the move, field for field.
#[derive(Serialize)]
struct OldTicketRecord {
    id: u64,
    visitor: ClientId,
    language: String,
    topic: String,
    urgent: bool,
    created_at: u64,
    arrival: u64,
    handover: bool,
    initial_position: u32,
    #[serde(with = "serde_bytes")]
    resume_hash: Vec<u8>,
    key_packages: Vec<serde_bytes::ByteBuf>,
    counsellor: Option<u64>,
    counsellor_client: Option<ClientId>,
    group_id: Option<serde_bytes::ByteBuf>,
    accepted_at: Option<u64>,
    transfers: u32,
    pending_add: Option<PendingAdd>,
    pending_readd: Option<PendingReadd>,
    previous_client: Option<ClientId>,
    counsellor_badge: Option<StaffBadge>,
    pending_responder: Option<ClientId>,
    responder_clients: Vec<ClientId>,
    responder_badges: Vec<StaffBadge>,
    escalated: bool,
}

fn badge(key: &ClientId, role: StaffRole) -> StaffBadge {
    StaffBadge {
        display_name: "Vesna".into(),
        role,
        signature_key: Bytes(key.to_vec()),
        expires_at: 1_000,
        attestation: Bytes(vec![9; 64]),
        account_tag: Bytes(vec![8; 16]),
    }
}

fn old_ticket(id: u64, escalated: bool) -> OldTicketRecord {
    OldTicketRecord {
        id,
        visitor: VISITOR,
        language: "mk".into(),
        topic: "health".into(),
        urgent: true,
        created_at: 100,
        arrival: id,
        handover: false,
        initial_position: 3,
        resume_hash: vec![id as u8; 32],
        key_packages: vec![serde_bytes::ByteBuf::from(vec![5, 6])],
        counsellor: Some(7),
        counsellor_client: Some(COUNSELLOR),
        group_id: Some(serde_bytes::ByteBuf::from(vec![200, id as u8])),
        accepted_at: Some(150),
        transfers: 1,
        pending_add: None,
        pending_readd: Some(PendingReadd {
            old_client: [6; 32],
            key_package: vec![1, 2, 3],
        }),
        previous_client: None,
        counsellor_badge: Some(badge(&COUNSELLOR, StaffRole::Counsellor)),
        pending_responder: escalated.then_some(RESPONDER),
        responder_clients: if escalated { vec![JOINED] } else { Vec::new() },
        responder_badges: if escalated {
            vec![badge(&JOINED, StaffRole::CrisisResponder)]
        } else {
            Vec::new()
        },
        escalated,
    }
}

/// Write `ticket` into the tickets tree as the old server did: MessagePack
/// with field names, sealed under the state key.
fn write_old(storage: &Storage, ticket: &OldTicketRecord) {
    let key = ticket.id.to_be_bytes();
    let plain = rmp_serde::to_vec_named(ticket).unwrap();
    let sealed = storage.vault().seal_state("intake_tickets", &key, &plain).unwrap();
    storage
        .db()
        .open_tree("intake_tickets")
        .unwrap()
        .insert(key, sealed)
        .unwrap();
}

fn stores(storage: &Storage) -> (IntakeStore, EscalationStore) {
    (
        IntakeStore::open(storage).unwrap(),
        EscalationStore::open(storage).unwrap(),
    )
}

#[test]
fn old_tickets_move_their_escalation_state_to_the_escalation_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = crate::storage::tests::test_keys(dir.path());
    let data = dir.path().join("data");
    {
        let storage = Storage::open(&data, keys.clone()).unwrap();
        write_old(&storage, &old_ticket(1, true));
        write_old(&storage, &old_ticket(2, false));
        storage.make_durable().unwrap();
    }

    let storage = Storage::open(&data, keys.clone()).unwrap();
    let (tickets, escalations) = stores(&storage);
    let open = tickets.tickets().unwrap();
    assert_eq!(open.len(), 2, "old tickets still read");
    let chats = load_chat_escalations(&tickets, &escalations, &open).unwrap();

    // The escalated chat's state, as it was; nothing for the other.
    let one = chats.get(1).expect("migrated");
    assert_eq!(one.pending_responder, Some(RESPONDER));
    assert_eq!(one.responder_clients, vec![JOINED]);
    assert_eq!(one.responder_badges, vec![badge(&JOINED, StaffRole::CrisisResponder)]);
    assert!(one.escalated);
    assert!(chats.get(2).is_none());
    assert_eq!(
        escalations.chats().unwrap(),
        vec![one.clone()],
        "stored, not only in memory"
    );

    // The tickets are rewritten without the old fields, the rest intact.
    for (ticket, legacy) in tickets.tickets_as_stored().unwrap() {
        assert!(!legacy.present(), "ticket {} still has the old fields", ticket.id);
        assert_eq!(ticket.counsellor_client, Some(COUNSELLOR));
        assert_eq!(ticket.counsellor_badge, Some(badge(&COUNSELLOR, StaffRole::Counsellor)));
        assert_eq!(
            ticket.pending_readd.as_ref().map(|p| p.key_package.clone()),
            Some(vec![1, 2, 3])
        );
        assert_eq!(
            ticket.group_id.as_deref().map(|g| g.to_vec()),
            Some(vec![200, ticket.id as u8])
        );
        assert!(ticket.urgent && ticket.transfers == 1 && ticket.initial_position == 3);
    }

    // A second start has nothing left to do.
    assert_eq!(
        migrate_ticket_escalations(&tickets, &escalations).unwrap(),
        Migrated::default()
    );
    drop((tickets, escalations, storage));
    let storage = Storage::open(&data, keys).unwrap();
    let (tickets, escalations) = stores(&storage);
    let open = tickets.tickets().unwrap();
    let again = load_chat_escalations(&tickets, &escalations, &open).unwrap();
    assert_eq!(again.get(1), chats.get(1), "survives a restart");
}

#[test]
fn a_crash_between_the_two_steps_keeps_the_record_already_written() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), crate::storage::tests::test_keys(dir.path())).unwrap();
    let (tickets, escalations) = stores(&storage);
    // Step 1 done (and the record changed since: the responder joined),
    // step 2 lost: the ticket still has the old fields.
    write_old(&storage, &old_ticket(5, true));
    let newer = ChatEscalationRecord {
        pending_responder: None,
        responder_clients: vec![JOINED, RESPONDER],
        ..old_ticket_record(5)
    };
    escalations
        .owner()
        .write_blocking({
            let (store, newer) = (escalations.clone(), newer.clone());
            move || store.put_chat_on_owner(&newer)
        })
        .unwrap();
    // And a record whose ticket is gone.
    escalations
        .owner()
        .write_blocking({
            let store = escalations.clone();
            move || store.put_chat_on_owner(&old_ticket_record(6))
        })
        .unwrap();

    let open = tickets.tickets().unwrap();
    let chats = load_chat_escalations(&tickets, &escalations, &open).unwrap();
    assert_eq!(chats.get(5), Some(&newer), "the record written in step 1 wins");
    assert!(chats.get(6).is_none(), "an orphan is dropped");
    assert!(!tickets.tickets_as_stored().unwrap()[0].1.present());
    escalations
        .owner()
        .write_blocking(|| Ok::<_, StorageError>(()))
        .unwrap();
    let stored: Vec<u64> = escalations.chats().unwrap().iter().map(|r| r.ticket_id).collect();
    assert_eq!(stored, vec![5], "the orphan is deleted from the store too");
}

fn old_ticket_record(id: u64) -> ChatEscalationRecord {
    let old = old_ticket(id, true);
    ChatEscalationRecord {
        ticket_id: id,
        pending_responder: old.pending_responder,
        responder_clients: old.responder_clients,
        responder_badges: old.responder_badges,
        escalated: old.escalated,
    }
}
