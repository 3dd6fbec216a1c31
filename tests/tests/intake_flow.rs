//! End-to-end acceptance tests of the intake: the real `parasol-server`
//! process, staff accounts made with its admin CLI and logged in over
//! HTTP, and real openmls clients for visitors and counsellors.
//!
//! What is checked is what a visitor and a counsellor would see: who gets
//! which offer and when, the positions pushed to each visitor, who is in
//! each chat's MLS group on every client, and that the messages arrive
//! (and do not arrive where they must not).

use std::time::{Duration, Instant};

use parasol_client::{
    BadgeError, Client, ClientConfig, ClientError, ClientId, ClientState, ErrorCode, Event, Identity, ServerMessage,
};
use parasol_protocol::{
    Bytes, ClosedReason, CounsellorToAdd, QueueEntry, ShiftState, StaffRole, TicketState, TicketStatus,
};
use parasol_tests::{create_staff, marker, staff_login, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);
const TAG: &str = "support";

/// A logged-in staff member.
struct Staff {
    c: Client,
    display_name: String,
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
    Staff { c, display_name }
}

async fn visitor(server: &ServerProcess) -> Client {
    Client::connect_ephemeral(&server.url()).await.expect("visitor connect")
}

fn sorted(ids: &[ClientId]) -> Vec<ClientId> {
    let mut v = ids.to_vec();
    v.sort();
    v
}

fn code<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(e) => e
            .server_code()
            .unwrap_or_else(|| panic!("expected a server error, got {e}")),
        Ok(v) => panic!("expected a server error, got {v:?}"),
    }
}

/// Drive `c` until `cond` holds on it (events and notices stay queued).
async fn until(c: &mut Client, what: &str, cond: impl Fn(&Client) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond(c) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for {what}");
        c.poll(left.min(Duration::from_millis(200))).await.expect("poll");
    }
}

/// Drive `c` until an intake push matching `f` arrives (others are
/// skipped).
async fn wait_notice<T>(c: &mut Client, what: &str, mut f: impl FnMut(&ServerMessage) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_notice(left).await.expect("notice") {
            Some(n) => {
                if let Some(t) = f(&n) {
                    return t;
                }
            }
            None => panic!("no {what} within {WAIT:?}"),
        }
    }
}

async fn wait_offer(c: &mut Client) -> QueueEntry {
    wait_notice(c, "offer", |n| match n {
        ServerMessage::Offer { ticket, .. } => Some(ticket.clone()),
        _ => None,
    })
    .await
}

/// Drive `c` until the message `text` arrives in `group`; returns its
/// sender. Other events are skipped.
async fn wait_message(c: &mut Client, group: &[u8], text: &str) -> ClientId {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message {
                group_id,
                sender,
                text: got,
                ..
            }) if group_id == group && got == text => return sender,
            Some(_) => {}
            None => panic!("message {text:?} did not arrive"),
        }
    }
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
    let ticket = v.request_chat("mk", "health", false).await.expect("ticket");
    let offered_at = Instant::now();

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

/// Known server bug (see the report): right after a restart, until the
/// counsellor's client has reconnected, the intake has no badge for them
/// and answers a visitor who is in a chat with `waiting { position: 1 }`;
/// nothing corrects it when the counsellor comes back unless a re-add
/// happens. Un-ignore once the server keeps what it needs to say
/// `in_chat`.
#[tokio::test]
#[ignore = "server bug: in_chat is reported as waiting until the counsellor reconnects after a restart"]
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
