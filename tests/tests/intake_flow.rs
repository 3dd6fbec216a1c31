//! End-to-end acceptance tests of the intake: the real `parasol-server`
//! process, staff accounts made with its admin CLI and logged in over
//! HTTP, and real openmls clients for visitors and counsellors.
//!
//! What is checked is what a visitor and a counsellor would see: who gets
//! which offer and when, the positions pushed to each visitor, who is in
//! each chat's MLS group on every client, and that the messages arrive
//! (and do not arrive where they must not).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parasol_client::{
    BadgeError, Client, ClientConfig, ClientError, ClientId, ClientState, ErrorCode, Event, Identity, ServerMessage,
};
use parasol_protocol::{
    Bytes, ClosedReason, CounsellorToAdd, QueueEntry, ShiftState, StaffRole, TicketState, TicketStatus,
};
use parasol_tests::drive::{code, until, wait_message, wait_notice, WAIT};
use parasol_tests::{create_staff, marker, staff_login, ServerProcess};

const TAG: &str = "support";

/// A logged-in staff member.
struct Staff {
    c: Client,
    display_name: String,
    languages: Vec<String>,
    cap: u32,
}

impl Staff {
    fn id(&self) -> ClientId {
        self.c.client_id()
    }

    fn account(&self) -> u64 {
        self.c.staff().expect("a staff session").account_id
    }
}

async fn staff(server: &ServerProcess, username: &str, role: &str, languages: &str, cap: u32) -> Staff {
    let display_name = format!("{username} (display)");
    let password = create_staff(server, username, &display_name, role, languages, cap);
    let token = staff_login(server, username, &password);
    let c = Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    let me = c.staff().expect("the server answers with the staff session").clone();
    assert_eq!(me.display_name, display_name);
    assert_eq!(me.max_chats, cap);
    assert_eq!(me.badge.signature_key.0, c.client_id(), "the badge names my key");
    Staff {
        c,
        display_name,
        languages: languages.split(',').map(str::to_string).collect(),
        cap,
    }
}

async fn visitor(server: &ServerProcess) -> Client {
    Client::connect_ephemeral(&server.url()).await.expect("visitor connect")
}

fn sorted(ids: &[ClientId]) -> Vec<ClientId> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

async fn wait_offer(c: &mut Client) -> QueueEntry {
    wait_notice(c, "offer", |n| match n {
        ServerMessage::Offer { ticket, .. } => Some(ticket.clone()),
        _ => None,
    })
    .await
}

/// Drive `c` for a moment; returns every message text that arrived (in
/// any group).
async fn settle(c: &mut Client) -> Vec<(Vec<u8>, String)> {
    let mut out = Vec::new();
    while let Some(ev) = c.next_event(Duration::from_millis(500)).await.expect("event") {
        if let Event::Message { group_id, text, .. } = ev {
            out.push((group_id, text));
        }
    }
    out
}

async fn wait_members(c: &mut Client, group: &[u8], expected: &[ClientId]) {
    let expected = sorted(expected);
    let deadline = Instant::now() + WAIT;
    loop {
        if c.members(group).map(|m| sorted(&m)).ok().as_ref() == Some(&expected) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "members of the chat never became {} (now {:?})",
            expected.len(),
            c.members(group).map(|m| m.len())
        );
        c.poll(left.min(Duration::from_millis(200))).await.expect("poll");
    }
}

/// Drive `c` until it has reconnected after the server went away.
async fn reconnected(c: &mut Client) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Reconnected) => return,
            Some(_) => {}
            None => panic!("did not reconnect"),
        }
    }
}

fn in_chat(t: Option<&TicketState>) -> Option<(&[u8], &parasol_protocol::StaffBadge)> {
    match t.map(|t| &t.status) {
        Some(TicketStatus::InChat {
            group_id, counsellor, ..
        }) => Some((&group_id.0, counsellor)),
        _ => None,
    }
}

fn closed_reason(t: Option<&TicketState>) -> Option<ClosedReason> {
    match t.map(|t| &t.status) {
        Some(TicketStatus::Closed { reason }) => Some(*reason),
        _ => None,
    }
}

/// The visitor joined its chat, with the counsellor whose badge verifies.
async fn joined_with(v: &mut Client, counsellor: &Staff, group: &[u8]) {
    v.wait_for_group(group, WAIT)
        .await
        .expect("the visitor joins by the Welcome");
    let verified = v.chat_counsellor().expect("the badge verifies").expect("a counsellor");
    assert_eq!(verified.client_id, counsellor.id());
    assert_eq!(verified.display_name, counsellor.display_name);
    assert_eq!(verified.role, StaffRole::Counsellor);
}

/// One message each way; returns nothing, asserts senders.
async fn talk(v: &mut Client, s: &mut Staff, group: &[u8]) {
    let hello = format!("visitor says {}", marker());
    v.send_text(group, &hello).await.expect("visitor sends");
    assert_eq!(wait_message(&mut s.c, group, &hello).await, v.client_id());
    let reply = format!("counsellor says {}", marker());
    s.c.send_text(group, &reply).await.expect("counsellor sends");
    assert_eq!(wait_message(v, group, &reply).await, s.id());
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_offer_not_accepted_in_time_moves_to_the_next_counsellor() {
    let server = ServerProcess::start_with_config("[intake]\noffer_timeout_secs = 2\n");
    let mut a = staff(&server, "ana", "counsellor", "mk,en", 1).await;
    let mut b = staff(&server, "bora", "counsellor", "mk", 1).await;
    for s in [&mut a, &mut b] {
        s.c.set_shift(ShiftState::Available, false).await.expect("available");
    }
    let mut v = visitor(&server).await;
    // Taken before the request: the offer is made (and its timer starts)
    // before the answer arrives, which a loaded machine can delay.
    let offered_at = Instant::now();
    let ticket = v.request_chat("mk", "health", false).await.expect("ticket");

    // Whoever gets the offer first lets it lapse.
    let (first, second) = loop {
        if let Some(ServerMessage::Offer { ticket: t, .. }) = a.c.next_notice(Duration::from_millis(100)).await.unwrap()
        {
            assert_eq!(t.ticket_id, ticket.ticket_id);
            break (&mut a, &mut b);
        }
        if let Some(ServerMessage::Offer { ticket: t, .. }) = b.c.next_notice(Duration::from_millis(100)).await.unwrap()
        {
            assert_eq!(t.ticket_id, ticket.ticket_id);
            break (&mut b, &mut a);
        }
        assert!(offered_at.elapsed() < WAIT, "nobody got an offer");
    };
    wait_notice(&mut first.c, "offer_withdrawn", |n| match n {
        ServerMessage::OfferWithdrawn { ticket_id } if *ticket_id == ticket.ticket_id => Some(()),
        ServerMessage::Offer { .. } => panic!("a second offer before the first was withdrawn"),
        _ => None,
    })
    .await;
    let lapsed = offered_at.elapsed();
    assert!(
        lapsed >= Duration::from_secs(1) && lapsed < Duration::from_secs(5),
        "the 2 s offer lapsed after {lapsed:?}"
    );
    let re_offered = wait_offer(&mut second.c).await;
    assert_eq!(re_offered.ticket_id, ticket.ticket_id);
    assert!(re_offered.offered);

    // The second one passes too: with everyone passed, the round starts
    // again with the first.
    second.c.decline_offer(ticket.ticket_id).await.expect("decline");
    let again = wait_offer(&mut first.c).await;
    assert_eq!(again.ticket_id, ticket.ticket_id);
    let accepted = first.c.accept_ticket(ticket.ticket_id).await.expect("accept");
    assert!(!accepted.handover);
    assert_eq!(accepted.visitor, Some(v.client_id()));
    joined_with(&mut v, first, &accepted.group_id).await;
    talk(&mut v, first, &accepted.group_id).await;

    let audit = server.admin(&["audit", "--since", "1970-01-01"], "");
    let audit = String::from_utf8_lossy(&audit.stdout);
    for action in ["offer_expired", "offer_declined", "ticket_accepted"] {
        assert!(audit.contains(action), "{action} missing from the audit log:\n{audit}");
    }
}

#[tokio::test]
async fn chat_membership_is_the_servers_to_enforce_and_badges_are_checked() {
    let server = ServerProcess::start();
    let mut a = staff(&server, "ana", "counsellor", "mk", 2).await;
    let mut b = staff(&server, "bora", "counsellor", "mk", 2).await;
    a.c.set_shift(ShiftState::Available, false).await.unwrap();
    b.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    let mut v = visitor(&server).await;
    // Someone else, anonymous, with key packages anyone may claim.
    let mut x = visitor(&server).await;
    x.publish_key_packages(5).await.unwrap();

    let ticket = v.request_chat("mk", "violence", true).await.unwrap();
    let offer = wait_offer(&mut a.c).await;
    assert_eq!(offer.ticket_id, ticket.ticket_id);
    assert!(offer.urgent);
    let chat = a.c.accept_ticket(ticket.ticket_id).await.unwrap();
    let g = chat.group_id.clone();
    joined_with(&mut v, &a, &g).await;

    // The visitor adds no one the server did not name, and removes no one.
    assert_eq!(code(v.add_members(&g, &[x.client_id()]).await), ErrorCode::Forbidden);
    assert_eq!(code(v.remove_members(&g, &[a.id()]).await), ErrorCode::Forbidden);
    // Staff keys are not claimable by visitors at all.
    assert_eq!(code(v.add_members(&g, &[b.id()]).await), ErrorCode::Forbidden);
    // The counsellor adds only the chat's visitor: not a stranger, not a
    // colleague (colleagues come in by transfer, added by the visitor).
    assert_eq!(code(a.c.add_members(&g, &[x.client_id()]).await), ErrorCode::Forbidden);
    assert_eq!(code(a.c.add_members(&g, &[b.id()]).await), ErrorCode::Forbidden);
    // Nothing changed, and the chat still works.
    let both = [v.client_id(), a.id()];
    assert_eq!(sorted(&v.members(&g).unwrap()), sorted(&both));
    assert_eq!(sorted(&a.c.members(&g).unwrap()), sorted(&both));
    talk(&mut v, &mut a, &g).await;

    // Badges: a tampered one, and a real one with someone else's key
    // package, are refused by the visitor's client with typed errors.
    let (_, badge) = in_chat(v.ticket()).expect("in a chat");
    let badge = badge.clone();
    let x_kp = match x
        .request(parasol_client::Request::ClaimKeyPackage {
            client_id: Bytes(x.client_id().to_vec()),
        })
        .await
        .unwrap()
    {
        parasol_client::Response::KeyPackage { key_package, .. } => key_package,
        other => panic!("{other:?}"),
    };
    let mut renamed = badge.clone();
    renamed.display_name = "Someone Else".into();
    let err = v
        .add_counsellor(
            &g,
            &CounsellorToAdd {
                badge: renamed,
                key_package: x_kp.clone(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidBadge(BadgeError::BadAttestation)),
        "{err}"
    );
    let err = v
        .add_counsellor(
            &g,
            &CounsellorToAdd {
                badge: badge.clone(),
                key_package: x_kp,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidBadge(BadgeError::KeyPackageMismatch)),
        "{err}"
    );
    // A client that pinned another attestation key refuses the server's.
    let pinned = ClientConfig {
        attestation_key: Some([7; 32]),
        ..ClientConfig::default()
    };
    let mut wary = Client::connect_with(&server.url(), ClientState::in_memory(Identity::generate()), pinned)
        .await
        .unwrap();
    let err = wary.intake_info().await.unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidBadge(BadgeError::AttestationKeyMismatch)),
        "{err}"
    );
    assert!(matches!(
        wary.verify_badge(&badge),
        Err(ClientError::InvalidBadge(BadgeError::BadAttestation))
    ));

    // During a transfer the visitor may add the named colleague, and no one
    // else.
    let transferred = a.c.transfer_chat(&g, Some(b.account())).await.unwrap();
    assert_eq!(transferred.to.signature_key.0, b.id());
    // (drain_available reads the push without doing what it asks.)
    let deadline = Instant::now() + WAIT;
    while v.pending_intake_duties() == 0 {
        assert!(Instant::now() < deadline, "no transfer push");
        tokio::time::sleep(Duration::from_millis(20)).await;
        v.drain_available().await.unwrap();
    }
    assert_eq!(code(v.add_members(&g, &[x.client_id()]).await), ErrorCode::Forbidden);
    // The colleague comes in (added by the visitor's client), then removes
    // the one they replace.
    until(&mut v, "the visitor adding the colleague", |v| {
        v.members(&g).is_ok_and(|m| m.contains(&b.id()))
    })
    .await;
    let after = [v.client_id(), b.id()];
    wait_members(&mut b.c, &g, &after).await;
    wait_members(&mut v, &g, &after).await;
    talk(&mut v, &mut b, &g).await;
    assert!(v.chat_counsellor().unwrap().is_some_and(|c| c.client_id == b.id()));

    // A block ends the chat for both and keeps the visitor's key out.
    assert_eq!(
        code(a.c.block_visitor(ticket.ticket_id, 60, "not my chat any more").await),
        ErrorCode::Forbidden
    );
    let until_secs = b.c.block_visitor(ticket.ticket_id, 60, "abusive").await.unwrap();
    until(&mut v, "the visitor blocked", |v| {
        closed_reason(v.ticket()) == Some(ClosedReason::Blocked)
    })
    .await;
    assert!(!v.groups().contains(&g));
    until(&mut b.c, "the chat ended for the counsellor", |b| {
        !b.groups().contains(&g)
    })
    .await;
    let err = v.request_chat("mk", "violence", false).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::Blocked));
    let details = err.refusal().expect("details");
    assert!(details.retry_after_secs.is_some_and(|s| s > 0 && u64::from(s) <= 60));
    assert!(details.help.is_some());
    assert!(until_secs > 0);
}

#[tokio::test]
async fn transfer_and_clock_out_hand_over_keep_the_chat_consistent() {
    let server = ServerProcess::start();
    let sup = staff(&server, "sara", "supervisor", "mk,sq,en", 1).await;
    let mut a = staff(&server, "ana", "counsellor", "mk", 2).await;
    let mut b = staff(&server, "bora", "counsellor", "mk,sq", 2).await;
    let mut c = staff(&server, "cveta", "counsellor", "mk,en", 2).await;
    a.c.set_shift(ShiftState::Available, false).await.unwrap();
    b.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    c.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();

    let mut v = visitor(&server).await;
    let ticket = v.request_chat("mk", "police_legal", false).await.unwrap();
    assert_eq!(wait_offer(&mut a.c).await.ticket_id, ticket.ticket_id);
    let g = a.c.accept_ticket(ticket.ticket_id).await.unwrap().group_id;
    joined_with(&mut v, &a, &g).await;
    talk(&mut v, &mut a, &g).await;

    // --- Transfer A → B, with a sealed note for B only.
    let transferred = a.c.transfer_chat(&g, Some(b.account())).await.unwrap();
    assert_eq!(transferred.group_id, g);
    assert_eq!(transferred.to.display_name, b.display_name);
    let note = format!("hand-over note {}", marker());
    let note_group = a.c.send_handover_note(&transferred, &note).await.unwrap();
    assert_ne!(note_group, g);

    // The visitor's client is told to add B, checks the badge, adds B.
    until(&mut v, "the visitor adding B", |v| {
        v.members(&g).is_ok_and(|m| m.contains(&b.id()))
    })
    .await;
    match &v.ticket().unwrap().status {
        TicketStatus::InChat {
            transferred,
            counsellor,
            ..
        } => {
            assert!(*transferred, "the visitor sees that a colleague continues");
            assert_eq!(counsellor.signature_key.0, b.id());
        }
        other => panic!("{other:?}"),
    }
    // B is told the chat is theirs and whom to remove; once in, removes A.
    let assigned = wait_notice(&mut b.c, "chat_assigned", |n| match n {
        ServerMessage::ChatAssigned {
            group_id,
            from,
            remove_previous,
            ..
        } => Some((group_id.clone(), from.clone(), remove_previous.clone())),
        _ => None,
    })
    .await;
    assert_eq!(assigned.0 .0, g);
    assert_eq!(assigned.1.map(|f| f.signature_key.0), Some(a.id().to_vec()));
    assert_eq!(assigned.2.map(|p| p.0), Some(a.id().to_vec()));
    let vb = [v.client_id(), b.id()];
    wait_members(&mut b.c, &g, &vb).await;
    wait_members(&mut v, &g, &vb).await;
    until(&mut a.c, "A removed", |a| a.members(&g).is_err()).await;
    assert!(matches!(a.c.members(&g), Err(ClientError::GroupInactive)));
    assert!(!a
        .c
        .list_server_groups()
        .await
        .unwrap()
        .iter()
        .any(|s| s.group_id.0 == g));
    assert!(v.chat_counsellor().unwrap().is_some_and(|x| x.client_id == b.id()));

    // The note reached B, from A, in its own two-member group.
    assert_eq!(wait_message(&mut b.c, &note_group, &note).await, a.id());
    assert_eq!(sorted(&b.c.members(&note_group).unwrap()), sorted(&[a.id(), b.id()]));
    assert!(!v.groups().contains(&note_group));

    // Messages keep flowing; A gets nothing of them.
    talk(&mut v, &mut b, &g).await;
    let to_a = settle(&mut a.c).await;
    assert!(to_a.is_empty(), "the old counsellor received {} messages", to_a.len());

    // --- Clock-out hand-over: B leaves with the chat open.
    // Another visitor waits (A and C are not taking chats).
    a.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    let mut w = visitor(&server).await;
    let w_ticket = w.request_chat("mk", "just_talk", false).await.unwrap();
    assert!(matches!(w_ticket.status, TicketStatus::Waiting { position: 1, .. }));

    assert_eq!(
        code(b.c.set_shift(ShiftState::ClockedOut, false).await),
        ErrorCode::HandoverRequired
    );
    let out = b.c.set_shift(ShiftState::ClockedOut, true).await.unwrap();
    assert_eq!(
        (out.state, out.active_chats, out.handed_over),
        (ShiftState::ClockedOut, 0, 1)
    );
    // Back first in line, ahead of the older waiting ticket.
    let queue = sup.c.queue_view().await.unwrap();
    let order: Vec<(u64, bool)> = queue.iter().map(|e| (e.ticket_id, e.handover)).collect();
    assert_eq!(order, vec![(ticket.ticket_id, true), (w_ticket.ticket_id, false)]);
    until(&mut w, "W pushed back to position 2", |w| {
        matches!(
            w.ticket().map(|t| &t.status),
            Some(TicketStatus::Waiting { position: 2, .. })
        )
    })
    .await;

    // C comes available: the hand-over is offered first.
    c.c.set_shift(ShiftState::Available, false).await.unwrap();
    let first = wait_offer(&mut c.c).await;
    assert_eq!((first.ticket_id, first.handover), (ticket.ticket_id, true));
    let second = wait_offer(&mut c.c).await;
    assert_eq!(second.ticket_id, w_ticket.ticket_id);
    let taken = c.c.accept_ticket(ticket.ticket_id).await.unwrap();
    assert!(taken.handover);
    assert_eq!(taken.group_id, g);
    // The visitor's client adds C; C joins and removes B.
    until(&mut v, "the visitor adding C", |v| {
        v.members(&g).is_ok_and(|m| m.contains(&c.id()))
    })
    .await;
    let vc = [v.client_id(), c.id()];
    wait_members(&mut c.c, &g, &vc).await;
    wait_members(&mut v, &g, &vc).await;
    until(&mut b.c, "B removed", |b| b.members(&g).is_err()).await;
    assert!(v.chat_counsellor().unwrap().is_some_and(|x| x.client_id == c.id()));
    talk(&mut v, &mut c, &g).await;
    for old in [&mut a, &mut b] {
        let got = settle(&mut old.c).await;
        assert!(got.is_empty(), "a former counsellor received {} messages", got.len());
        assert!(old.c.members(&g).is_err());
    }
    // The note never reached the visitor or C.
    assert!(!c.c.groups().contains(&note_group));

    // The waiting visitor gives up; C's offer for it is withdrawn.
    w.cancel_ticket().await.unwrap();
    assert_eq!(closed_reason(w.ticket()), Some(ClosedReason::Cancelled));
    wait_notice(&mut c.c, "offer_withdrawn", |n| match n {
        ServerMessage::OfferWithdrawn { ticket_id } if *ticket_id == w_ticket.ticket_id => Some(()),
        _ => None,
    })
    .await;

    // C closes the chat: the visitor sees it closed, the group is gone.
    c.c.close_chat(&g, TAG).await.unwrap();
    until(&mut v, "the chat closed", |v| {
        closed_reason(v.ticket()) == Some(ClosedReason::Closed)
    })
    .await;
    assert!(!v.groups().contains(&g));
    assert!(!c.c.groups().contains(&g));
    let board = sup.c.board().await.unwrap();
    assert!(board.staff.iter().all(|r| r.active_chats == 0), "{board:?}");
    assert_eq!(board.queue_depth, 0);
}

#[tokio::test]
async fn queue_and_chats_survive_a_restart_and_visitors_resume_with_their_secret() {
    let mut server = ServerProcess::start();
    let mut c = staff(&server, "ana", "counsellor", "mk", 1).await;
    c.c.set_shift(ShiftState::Available, false).await.unwrap();

    // V1 is in a chat; V2 and V3 wait behind it (the counsellor is full).
    let mut v1 = visitor(&server).await;
    let t1 = v1.request_chat("mk", "health", false).await.unwrap();
    assert_eq!(wait_offer(&mut c.c).await.ticket_id, t1.ticket_id);
    let g = c.c.accept_ticket(t1.ticket_id).await.unwrap().group_id;
    joined_with(&mut v1, &c, &g).await;
    talk(&mut v1, &mut c, &g).await;
    let mut v2 = visitor(&server).await;
    let t2 = v2.request_chat("mk", "just_talk", false).await.unwrap();
    let mut v3 = visitor(&server).await;
    let t3 = v3.request_chat("mk", "just_talk", false).await.unwrap();
    assert!(matches!(t2.status, TicketStatus::Waiting { position: 1, .. }));
    assert!(matches!(t3.status, TicketStatus::Waiting { position: 2, .. }));
    let secret1 = v1.resume_secret().unwrap().to_vec();
    let secret2 = v2.resume_secret().unwrap().to_vec();
    let old_v1 = v1.client_id();
    let old_v2 = v2.client_id();
    // V1's and V2's pages are reloaded: their MLS state and keys are gone.
    drop(v1);
    drop(v2);

    server.restart();

    // The counsellor's client reconnects by itself (same session token).
    reconnected(&mut c.c).await;
    assert_eq!(c.c.staff().unwrap().display_name, c.display_name);
    // V3 keeps its key: its client reconnects by itself and is told its
    // place again.
    reconnected(&mut v3).await;
    // V2 comes back from a new connection with a new key and its secret,
    // and keeps its place.
    let mut v2 = visitor(&server).await;
    assert_ne!(v2.client_id(), old_v2);
    let resumed = v2.resume_ticket(&secret2).await.unwrap();
    assert_eq!(resumed.ticket_id, t2.ticket_id);
    assert!(
        matches!(resumed.status, TicketStatus::Waiting { position: 1, .. }),
        "{resumed:?}"
    );
    let fresh_secret2 = v2.resume_secret().unwrap().to_vec();
    assert_ne!(fresh_secret2, secret2, "each resume gives a new secret");
    let mut v2_twin = visitor(&server).await;
    assert_eq!(
        code(v2_twin.resume_ticket(&secret2).await),
        ErrorCode::UnknownTicket,
        "a used secret no longer works"
    );
    until(&mut v3, "V3 at position 2", |v| {
        matches!(
            v.ticket().map(|t| &t.status),
            Some(TicketStatus::Waiting { position: 2, .. })
        )
    })
    .await;

    // V1 comes back with a new key: it is still in its chat, and the
    // counsellor's client re-adds it (removing the lost key).
    let mut v1 = visitor(&server).await;
    let resumed = v1.resume_ticket(&secret1).await.unwrap();
    assert_eq!(resumed.ticket_id, t1.ticket_id);
    let (rg, badge) = in_chat(Some(&resumed)).unwrap_or_else(|| panic!("still in the chat: {resumed:?}"));
    assert_eq!(rg, g.as_slice());
    assert_eq!(badge.signature_key.0, c.id());
    let readd = wait_notice(&mut c.c, "readd_visitor", |n| match n {
        ServerMessage::ReaddVisitor {
            group_id, old_client, ..
        } => Some((group_id.0.clone(), old_client.0.clone())),
        _ => None,
    })
    .await;
    assert_eq!(readd, (g.clone(), old_v1.to_vec()));
    let now = [v1.client_id(), c.id()];
    wait_members(&mut c.c, &g, &now).await;
    v1.wait_for_group(&g, WAIT).await.unwrap();
    assert_eq!(sorted(&v1.members(&g).unwrap()), sorted(&now));
    assert!(v1.chat_counsellor().unwrap().is_some_and(|x| x.client_id == c.id()));
    talk(&mut v1, &mut c, &g).await;

    // The chat ends; V2 (first in line, with its new key) is next.
    c.c.close_chat(&g, TAG).await.unwrap();
    until(&mut v1, "V1's chat closed", |v| closed_reason(v.ticket()).is_some()).await;
    let offer = wait_offer(&mut c.c).await;
    assert_eq!(offer.ticket_id, t2.ticket_id);
    let g2 = c.c.accept_ticket(t2.ticket_id).await.unwrap();
    assert_eq!(g2.visitor, Some(v2.client_id()));
    joined_with(&mut v2, &c, &g2.group_id).await;
    talk(&mut v2, &mut c, &g2.group_id).await;
    until(&mut v3, "V3 at position 1", |v| {
        matches!(
            v.ticket().map(|t| &t.status),
            Some(TicketStatus::Waiting { position: 1, .. })
        )
    })
    .await;
}

/// Right after a restart, before the counsellor's client has reconnected,
/// a visitor in a chat is still told `in_chat` (the ticket keeps the badge
/// of its counsellor), and gets the fresh badge when the counsellor is back.
#[tokio::test]
async fn a_visitor_resuming_before_its_counsellor_reconnects_is_told_it_is_in_its_chat() {
    let mut server = ServerProcess::start();
    let mut c = staff(&server, "ana", "counsellor", "mk", 1).await;
    c.c.set_shift(ShiftState::Available, false).await.unwrap();
    let mut v = visitor(&server).await;
    let t = v.request_chat("mk", "health", false).await.unwrap();
    assert_eq!(wait_offer(&mut c.c).await.ticket_id, t.ticket_id);
    let g = c.c.accept_ticket(t.ticket_id).await.unwrap().group_id;
    joined_with(&mut v, &c, &g).await;
    let secret = v.resume_secret().unwrap().to_vec();
    drop(v);
    server.restart();
    let mut v = visitor(&server).await;
    let resumed = v.resume_ticket(&secret).await.unwrap();
    assert!(in_chat(Some(&resumed)).is_some(), "{resumed:?}");
}

// ---------------------------------------------------------------------------
// Acceptance 1: three counsellors, twenty visitors.

/// The twenty visitors in arrival order: language and urgency.
const ARRIVALS: [(&str, bool); 20] = [
    ("mk", false),
    ("sq", false),
    ("en", false),
    ("mk", false),
    ("mk", true),
    ("sq", false),
    ("en", true),
    ("mk", false),
    ("sq", true),
    ("en", false),
    ("mk", true),
    ("sq", false),
    ("mk", false),
    ("en", false),
    ("sq", false),
    ("mk", true),
    ("en", false),
    ("sq", false),
    ("mk", false),
    ("en", true),
];
const TOPICS: [&str; 5] = ["violence", "trafficking", "health", "police_legal", "just_talk"];
/// `[intake] initial_secs_per_position` of the test server.
const SECS_PER_POSITION: u32 = 60;

/// Serving order: urgent first, then oldest.
fn serving_key(i: usize) -> (bool, usize) {
    (!ARRIVALS[i].1, i)
}

/// Where visitor `j` stands among the waiting tickets of its language.
fn expected_position(waiting: &[usize], j: usize) -> u32 {
    let ahead = waiting
        .iter()
        .filter(|&&k| k != j && ARRIVALS[k].0 == ARRIVALS[j].0 && serving_key(k) < serving_key(j))
        .count();
    1 + ahead as u32
}

fn dedup(v: &[u32]) -> Vec<u32> {
    let mut out = v.to_vec();
    out.dedup();
    out
}

/// A visitor of the big test, with every position pushed to it and every
/// position the model says it should have had.
struct Waiter {
    c: Client,
    ticket: u64,
    first_words: String,
    /// (position, estimate) of every `ticket_update` while waiting.
    pushed: Vec<(u32, u32)>,
    /// The model's position after every change of the queue.
    expected: Vec<u32>,
    /// How many of `pushed` came before counsellors became available.
    arrival_pushes: usize,
}

impl Waiter {
    /// Take the pushes that have arrived.
    async fn record(&mut self) {
        self.c.drain_available().await.expect("drain");
        for n in self.c.take_notices() {
            if let ServerMessage::TicketUpdate { ticket } = n {
                assert_eq!(ticket.ticket_id, self.ticket, "a push about someone else's ticket");
                if let TicketStatus::Waiting {
                    position,
                    estimated_wait_secs,
                    ..
                } = ticket.status
                {
                    self.pushed.push((position, estimated_wait_secs));
                }
            }
        }
    }

    fn last_position(&self) -> Option<u32> {
        self.pushed.last().map(|p| p.0)
    }

    /// The model moved: note where I should be, and wait for the server
    /// to push exactly that.
    async fn expect_position(&mut self, expected: u32, who: usize) {
        self.expected.push(expected);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.record().await;
            if self.last_position() == Some(expected) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "visitor {who} was pushed positions {:?}, expected now {expected}",
                self.pushed
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An open chat of the big test.
struct OpenChat {
    counsellor: usize,
    visitor: usize,
    group: Vec<u8>,
}

/// What the supervisor sees must match the model: the queue in serving
/// order, offers given in that order within each language, and nobody
/// over their cap.
async fn check_snapshot(
    sup: &Client,
    counsellors: &[Staff],
    waiting: &[usize],
    tickets: &[u64],
    open: &[OpenChat],
    offers: &HashMap<u64, usize>,
    shift: ShiftState,
) {
    let queue = sup.queue_view().await.expect("supervisor queue view");
    let mut model: Vec<usize> = waiting.to_vec();
    model.sort_by_key(|&i| serving_key(i));
    let seen: Vec<u64> = queue.iter().map(|e| e.ticket_id).collect();
    let want: Vec<u64> = model.iter().map(|&i| tickets[i]).collect();
    assert_eq!(
        seen, want,
        "the queue is not in serving order (urgent first, then oldest)"
    );
    for lang in ["mk", "sq", "en"] {
        let flags: Vec<bool> = queue.iter().filter(|e| e.language == lang).map(|e| e.offered).collect();
        assert!(
            flags.windows(2).all(|w| w[0] || !w[1]),
            "{lang}: a later ticket is offered while an earlier one waits unoffered: {flags:?}"
        );
    }
    for e in &queue {
        if offers.contains_key(&e.ticket_id) {
            assert!(e.offered, "an offer I hold is not marked offered");
        }
        assert!(!e.handover);
    }
    let board = sup.board().await.expect("board");
    assert_eq!(board.queue_depth as usize, waiting.len());
    assert_eq!(board.staff.len(), counsellors.len(), "{board:?}");
    for (ci, s) in counsellors.iter().enumerate() {
        let row = board
            .staff
            .iter()
            .find(|r| r.display_name == s.display_name)
            .expect("every counsellor on the board");
        let mine = open.iter().filter(|o| o.counsellor == ci).count() as u32;
        let offered = offers.values().filter(|&&c| c == ci).count() as u32;
        assert_eq!(row.max_chats, s.cap);
        assert!(
            row.active_chats <= row.max_chats,
            "{} is over the cap: {row:?}",
            s.display_name
        );
        assert_eq!(
            row.active_chats, mine,
            "{}: board and accepted chats differ",
            s.display_name
        );
        assert!(
            mine + offered <= s.cap,
            "{}: chats plus offers over the cap",
            s.display_name
        );
        assert_eq!(row.shift, shift);
        assert!(row.connected);
    }
}

#[tokio::test]
async fn twenty_visitors_three_counsellors_served_in_order_within_languages_and_caps() {
    let started = Instant::now();
    let server = ServerProcess::start_with_config(&format!(
        "[intake]\noffer_timeout_secs = 60\ninitial_secs_per_position = {SECS_PER_POSITION}\n"
    ));
    let sup = staff(&server, "sara", "supervisor", "mk,sq,en", 1).await;
    let mut cs = vec![
        staff(&server, "ana", "counsellor", "mk,en", 2).await,
        staff(&server, "bora", "counsellor", "sq,en", 3).await,
        staff(&server, "cveta", "counsellor", "mk,sq", 1).await,
    ];
    // On shift, not taking chats yet: the whole queue forms first.
    for s in cs.iter_mut() {
        s.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    }

    // --- Twenty arrivals. Positions are checked at every arrival.
    let mut vs: Vec<Waiter> = Vec::new();
    let mut waiting: Vec<usize> = Vec::new();
    for (i, &(lang, urgent)) in ARRIVALS.iter().enumerate() {
        let mut c = visitor(&server).await;
        let t = c
            .request_chat(lang, TOPICS[i % TOPICS.len()], urgent)
            .await
            .expect("a ticket");
        waiting.push(i);
        let TicketStatus::Waiting {
            position,
            estimated_wait_secs,
            ..
        } = t.status
        else {
            panic!("a new ticket waits: {t:?}")
        };
        assert_eq!(position, expected_position(&waiting, i), "visitor {i} arrives");
        assert_eq!(estimated_wait_secs, SECS_PER_POSITION * position);
        assert!(t.resume_secret.is_some());
        // Typed while waiting; sent once the chat exists.
        let first_words = format!("visitor {i} first words {}", marker());
        c.send_first_message(&first_words).await.unwrap();
        vs.push(Waiter {
            c,
            ticket: t.ticket_id,
            first_words,
            pushed: Vec::new(),
            expected: Vec::new(),
            arrival_pushes: 0,
        });
        for &j in &waiting {
            let e = expected_position(&waiting, j);
            vs[j].expect_position(e, j).await;
        }
    }
    let tickets: Vec<u64> = vs.iter().map(|v| v.ticket).collect();
    let by_ticket: HashMap<u64, usize> = tickets.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    assert_eq!(by_ticket.len(), 20, "ticket ids are distinct");
    for v in vs.iter_mut() {
        v.record().await;
        for &(p, est) in &v.pushed {
            assert_eq!(est, SECS_PER_POSITION * p, "estimate with nobody available");
        }
        v.arrival_pushes = v.pushed.len();
    }
    // A counsellor takes nothing in a language they do not speak.
    let en_ticket = tickets[2];
    assert_eq!(code(cs[2].c.accept_ticket(en_ticket).await), ErrorCode::Forbidden);
    for s in &cs {
        let view = s.c.queue_view().await.unwrap();
        assert!(view.iter().all(|e| s.languages.contains(&e.language)));
        let spoken = waiting
            .iter()
            .filter(|&&i| s.languages.iter().any(|l| l == ARRIVALS[i].0))
            .count();
        assert_eq!(view.len(), spoken);
    }
    check_snapshot(
        &sup.c,
        &cs,
        &waiting,
        &tickets,
        &[],
        &HashMap::new(),
        ShiftState::ClockedIn,
    )
    .await;

    // --- Serving.
    for s in cs.iter_mut() {
        s.c.set_shift(ShiftState::Available, false).await.unwrap();
    }
    let mut open: Vec<OpenChat> = Vec::new();
    let mut offers: HashMap<u64, usize> = HashMap::new();
    let mut accepted: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut served_by = [0usize; 3];
    let mut peak = [0u32; 3];
    let mut closed = 0;
    let mut tried_over_cap = false;
    let serving_started = Instant::now();
    while closed < 20 {
        assert!(
            serving_started.elapsed() < Duration::from_secs(240),
            "serving stalled: waiting {waiting:?}, offers {offers:?}, open {}",
            open.len()
        );
        // Offers and withdrawals.
        for (ci, s) in cs.iter_mut().enumerate() {
            while let Some(n) = s.c.next_notice(Duration::from_millis(30)).await.unwrap() {
                match n {
                    ServerMessage::Offer { ticket, .. } => {
                        assert!(
                            s.languages.contains(&ticket.language),
                            "{} was offered a ticket in {}",
                            s.display_name,
                            ticket.language
                        );
                        let j = by_ticket[&ticket.ticket_id];
                        assert_eq!((ticket.language.as_str(), ticket.urgent), ARRIVALS[j]);
                        assert!(waiting.contains(&j), "an offer for a ticket already taken");
                        assert!(
                            offers.insert(ticket.ticket_id, ci).is_none(),
                            "one ticket offered to two counsellors"
                        );
                    }
                    ServerMessage::OfferWithdrawn { ticket_id } => {
                        panic!("offer {ticket_id} withdrawn though nobody let it lapse")
                    }
                    _ => {}
                }
            }
        }
        check_snapshot(&sup.c, &cs, &waiting, &tickets, &open, &offers, ShiftState::Available).await;

        // Accept what is first in line in its language.
        let mut acceptable: Vec<(usize, u64, usize)> = offers
            .iter()
            .map(|(&t, &ci)| (by_ticket[&t], t, ci))
            .filter(|&(j, _, _)| expected_position(&waiting, j) == 1)
            .collect();
        acceptable.sort_by_key(|&(j, _, _)| serving_key(j));
        let accepted_now = !acceptable.is_empty();
        for (j, ticket, ci) in acceptable {
            let chat = cs[ci].c.accept_ticket(ticket).await.expect("accept");
            assert!(!chat.handover);
            assert_eq!(chat.visitor, Some(vs[j].c.client_id()));
            offers.remove(&ticket);
            waiting.retain(|&k| k != j);
            accepted.entry(ARRIVALS[j].0).or_default().push(j);
            served_by[ci] += 1;
            open.push(OpenChat {
                counsellor: ci,
                visitor: j,
                group: chat.group_id.clone(),
            });
            let load = open.iter().filter(|o| o.counsellor == ci).count() as u32;
            peak[ci] = peak[ci].max(load);
            check_snapshot(&sup.c, &cs, &waiting, &tickets, &open, &offers, ShiftState::Available).await;
            // The server refuses to let a full counsellor take more.
            if load == cs[ci].cap && !tried_over_cap {
                if let Some(&k) = waiting
                    .iter()
                    .find(|&&k| cs[ci].languages.iter().any(|l| l == ARRIVALS[k].0))
                {
                    tried_over_cap = true;
                    assert_eq!(code(cs[ci].c.accept_ticket(tickets[k]).await), ErrorCode::LimitExceeded);
                }
            }
            // Everyone behind moved up.
            for &k in &waiting {
                let e = expected_position(&waiting, k);
                vs[k].expect_position(e, k).await;
            }
            // The visitor joins, its first words go out, and the counsellor
            // answers, end-to-end encrypted.
            let v = &mut vs[j];
            v.record().await;
            v.c.wait_for_group(&chat.group_id, WAIT).await.expect("joined");
            v.record().await;
            let verified = v.c.chat_counsellor().unwrap().expect("a verified counsellor");
            assert_eq!(verified.client_id, cs[ci].id());
            v.c.perform_intake_duties().await;
            let s = &mut cs[ci];
            let first_words = v.first_words.clone();
            assert_eq!(
                wait_message(&mut s.c, &chat.group_id, &first_words).await,
                v.c.client_id()
            );
            let reply = format!("counsellor {ci} answers visitor {j} {}", marker());
            s.c.send_text(&chat.group_id, &reply).await.unwrap();
            assert_eq!(wait_message(&mut v.c, &chat.group_id, &reply).await, s.id());
            let both = sorted(&[v.c.client_id(), s.id()]);
            assert_eq!(sorted(&v.c.members(&chat.group_id).unwrap()), both);
            assert_eq!(sorted(&s.c.members(&chat.group_id).unwrap()), both);
        }
        // When nothing is first in line, the oldest chat ends; its
        // counsellor's room goes to the next ticket.
        if !accepted_now && !open.is_empty() {
            let chat = open.remove(0);
            cs[chat.counsellor].c.close_chat(&chat.group, TAG).await.unwrap();
            let v = &mut vs[chat.visitor];
            until(&mut v.c, "the chat closed", |c| {
                closed_reason(c.ticket()) == Some(ClosedReason::Closed)
            })
            .await;
            v.record().await;
            assert!(!v.c.groups().contains(&chat.group));
            closed += 1;
            check_snapshot(&sup.c, &cs, &waiting, &tickets, &open, &offers, ShiftState::Available).await;
        }
    }

    // Urgent first, then oldest, within each language.
    for lang in ["mk", "sq", "en"] {
        let mut want: Vec<usize> = (0..20).filter(|&i| ARRIVALS[i].0 == lang).collect();
        want.sort_by_key(|&i| serving_key(i));
        assert_eq!(accepted[lang], want, "{lang} served out of order");
    }
    // Every counsellor worked, and each was held at their cap.
    for (ci, s) in cs.iter().enumerate() {
        assert!(served_by[ci] > 0, "{} served nobody", s.display_name);
        assert_eq!(peak[ci], s.cap, "{} never reached the cap", s.display_name);
    }
    assert!(tried_over_cap);
    // Every visitor was pushed exactly the positions the serving order
    // gives, and once serving began they never went back.
    for (i, v) in vs.iter().enumerate() {
        let pushed: Vec<u32> = v.pushed.iter().map(|p| p.0).collect();
        assert_eq!(dedup(&pushed), dedup(&v.expected), "visitor {i}'s positions");
        let serving = &pushed[v.arrival_pushes.saturating_sub(1)..];
        assert!(
            serving.windows(2).all(|w| w[0] >= w[1]),
            "visitor {i} moved back while being served: {pushed:?}"
        );
        assert_eq!(closed_reason(v.c.ticket()), Some(ClosedReason::Closed));
    }
    let board = sup.c.board().await.unwrap();
    assert_eq!(board.queue_depth, 0);
    eprintln!(
        "20 visitors served by 3 counsellors in {:?} ({:?} serving), served per counsellor {served_by:?}",
        started.elapsed(),
        serving_started.elapsed()
    );
}

#[tokio::test]
async fn the_client_solves_proof_of_work_and_refusals_carry_help() {
    let server = ServerProcess::start_with_config(
        "[intake]\npow_threshold_per_minute = 1\npow_difficulty_bits = 12\nmax_queue_length = 2\n",
    );
    // Quiet: no puzzle yet. The first request tips the intake over the
    // threshold, is answered `pow_required`, and the client solves and
    // asks again by itself.
    let mut first = visitor(&server).await;
    assert!(first.intake_info().await.unwrap().pow.is_none());
    let t = first.request_chat("sq", "health", false).await.expect("a ticket");
    assert!(matches!(t.status, TicketStatus::Waiting { position: 1, .. }));
    // Under pressure, intake_info hands out a puzzle, solved before asking.
    let mut second = visitor(&server).await;
    let puzzle = second.intake_info().await.unwrap().pow.expect("a puzzle");
    assert_eq!(puzzle.difficulty_bits, 12);
    let t = second.request_chat("sq", "health", false).await.expect("a ticket");
    assert!(matches!(t.status, TicketStatus::Waiting { position: 2, .. }));
    // Asking without a solution gets the puzzle and the crisis lines.
    let raw = visitor(&server).await;
    let err = raw
        .request(parasol_client::Request::RequestChat {
            language: "sq".into(),
            topic: "health".into(),
            urgent: false,
            key_packages: Vec::new(),
            pow: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PowRequired));
    let details = err.refusal().expect("details with the refusal");
    assert!(details.pow.as_ref().is_some_and(|p| p.difficulty_bits == 12));
    assert!(details
        .help
        .as_ref()
        .is_some_and(|h| h.crisis_lines.iter().any(|l| l.number == "0800 11111")));
    // The queue is full: busy, with when to try again and where to turn.
    let mut third = visitor(&server).await;
    let err = third.request_chat("sq", "health", false).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::Busy), "{err}");
    let details = err.refusal().expect("details with the refusal");
    assert!(details.retry_after_secs.is_some_and(|s| s > 0));
    assert!(details.help.as_ref().is_some_and(|h| !h.crisis_lines.is_empty()));
    assert!(third.ticket().is_none());
}

#[tokio::test]
async fn a_staff_client_stops_when_its_session_ends() {
    let mut server = ServerProcess::start();
    let mut a = staff(&server, "ana", "counsellor", "mk", 1).await;
    let mut b = staff(&server, "bora", "counsellor", "mk", 1).await;
    // Revoked while connected: closed with 4004, and no reconnect.
    let out = server.admin(&["revoke-sessions", "ana"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = loop {
        match a.c.next_event(WAIT).await {
            Ok(Some(Event::Disconnected { code, reconnecting })) => {
                assert_eq!(code, Some(parasol_protocol::close::SESSION_ENDED));
                assert!(!reconnecting);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("the session did not end"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ClientError::Closed { code: Some(4004), .. }), "{err}");
    // Revoked while the server was down: the reconnect is refused once,
    // and the client says the session is over instead of retrying.
    server.stop();
    let out = server.admin(&["revoke-sessions", "bora"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.start_again();
    let err = loop {
        match b.c.next_event(WAIT).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("neither reconnected nor gave up"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ClientError::Closed { code: Some(4004), .. }), "{err}");
}

/// A visitor who reloads (new key) while a transfer waits for its client's
/// Add: the new counsellor is not in the group yet, so the counsellor being
/// replaced is asked to re-add the visitor, whose new client then adds the
/// new counsellor.
#[tokio::test]
async fn a_visitor_reloading_during_a_transfer_gets_back_into_its_chat() {
    let server = ServerProcess::start();
    let mut a = staff(&server, "ana", "counsellor", "mk", 1).await;
    let mut b = staff(&server, "bora", "counsellor", "mk", 1).await;
    a.c.set_shift(ShiftState::Available, false).await.unwrap();
    b.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    let mut v = visitor(&server).await;
    let t = v.request_chat("mk", "health", false).await.unwrap();
    assert_eq!(wait_offer(&mut a.c).await.ticket_id, t.ticket_id);
    let g = a.c.accept_ticket(t.ticket_id).await.unwrap().group_id;
    joined_with(&mut v, &a, &g).await;
    let secret = v.resume_secret().unwrap().to_vec();
    // The page reloads before the visitor's client could add B.
    drop(v);
    a.c.transfer_chat(&g, Some(b.account())).await.unwrap();
    let mut v = visitor(&server).await;
    v.resume_ticket(&secret).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let vb = sorted(&[v.client_id(), b.id()]);
    while v.members(&g).map(|m| sorted(&m)).ok() != Some(vb.clone()) {
        assert!(Instant::now() < deadline, "the visitor never got back into its chat");
        for c in [&mut v, &mut a.c, &mut b.c] {
            c.poll(Duration::from_millis(100)).await.unwrap();
        }
    }
    talk(&mut v, &mut b, &g).await;
}

/// A visitor who reloads (new key) while its chat waits in the queue after
/// a clock-out hand-over: the counsellor who clocked out, still a member,
/// is asked to re-add it; the colleague who accepts is then added by the
/// visitor's new client.
#[tokio::test]
async fn a_visitor_reloading_during_a_clock_out_hand_over_gets_back_into_its_chat() {
    let server = ServerProcess::start();
    let mut b = staff(&server, "bora", "counsellor", "mk", 1).await;
    let mut c = staff(&server, "cveta", "counsellor", "mk", 1).await;
    b.c.set_shift(ShiftState::Available, false).await.unwrap();
    c.c.set_shift(ShiftState::ClockedIn, false).await.unwrap();
    let mut v = visitor(&server).await;
    let t = v.request_chat("mk", "health", false).await.unwrap();
    assert_eq!(wait_offer(&mut b.c).await.ticket_id, t.ticket_id);
    let g = b.c.accept_ticket(t.ticket_id).await.unwrap().group_id;
    joined_with(&mut v, &b, &g).await;
    let secret = v.resume_secret().unwrap().to_vec();
    b.c.set_shift(ShiftState::ClockedOut, true).await.unwrap();
    // The page reloads while the chat waits for a colleague.
    drop(v);
    let mut v = visitor(&server).await;
    v.resume_ticket(&secret).await.unwrap();
    c.c.set_shift(ShiftState::Available, false).await.unwrap();
    let offer = wait_offer(&mut c.c).await;
    assert!(offer.handover);
    c.c.accept_ticket(t.ticket_id).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let vc = sorted(&[v.client_id(), c.id()]);
    while v.members(&g).map(|m| sorted(&m)).ok() != Some(vc.clone()) {
        assert!(Instant::now() < deadline, "the visitor never got back into its chat");
        for x in [&mut v, &mut b.c, &mut c.c] {
            x.poll(Duration::from_millis(100)).await.unwrap();
        }
    }
    talk(&mut v, &mut c, &g).await;
}
