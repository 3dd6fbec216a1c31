//! Presence, off-hours delivery and rescue, over real sockets against the
//! real `parasol-server` process with real openmls clients:
//!
//! - a visitor who has gone is never offered: her waiting ticket is not
//!   offered while she is away, an offer made before she went is
//!   withdrawn, and the ticket is dropped after a short grace;
//! - a chat's counsellor sees her visitor reconnecting, back, quick-exited
//!   and left;
//! - a team message is sealed to the current key of every account whose
//!   stored role takes chats, even right after a restart, and the visitor
//!   learns how many keys it reached;
//! - a supervisor rescues a chat whose counsellor went away;
//! - a visitor's key cannot be a staff key: a staff session with it is
//!   refused after authentication, and the connection closes with the
//!   error.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parasol_client::{
    Client, ClientError, ClientState, Connection, ErrorCode, Event, Identity, Incoming, Request, ServerMessage,
};
use parasol_protocol::{close, AuthProof, ShiftState, StrandedReason, TicketStatus, VisitorPresence};
use parasol_tests::drive::{code, wait_message, wait_notice, WAIT};
use parasol_tests::{create_staff, marker, staff_login, ServerProcess};

const GRACE: &str = "[intake]\ngone_visitor_grace_secs = 3\n";

async fn login(server: &ServerProcess, username: &str, password: &str, state: ClientState) -> Client {
    let token = staff_login(server, username, password);
    Client::connect_staff(&server.url(), state, &token)
        .await
        .expect("staff connect")
}

async fn visitor(server: &ServerProcess) -> Client {
    Client::connect_ephemeral(&server.url()).await.expect("visitor connect")
}

/// Every intake push `c` gets in `for_how_long`.
async fn notices_for(c: &mut Client, for_how_long: Duration) -> Vec<ServerMessage> {
    let until = Instant::now() + for_how_long;
    let mut out = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return out;
        }
        if let Some(n) = c.next_notice(left).await.expect("notice") {
            out.push(n);
        }
    }
}

async fn wait_presence(c: &mut Client, ticket: u64) -> VisitorPresence {
    wait_notice(c, "visitor_presence", |n| match n {
        ServerMessage::VisitorPresence {
            ticket_id, presence, ..
        } if *ticket_id == ticket => Some(*presence),
        _ => None,
    })
    .await
}

async fn wait_offer(c: &mut Client) -> u64 {
    wait_notice(c, "offer", |n| match n {
        ServerMessage::Offer { ticket, .. } => Some(ticket.ticket_id),
        _ => None,
    })
    .await
}

/// Drop a visitor's connection, keeping her state to come back with.
async fn vanish(v: Client) -> ClientState {
    v.into_state().await.expect("visitor leaves")
}

#[tokio::test]
async fn a_visitor_who_left_is_never_offered_and_her_counsellor_sees_where_she_is() {
    let server = ServerProcess::start_with_config(GRACE);
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk", 2);
    let mut ana = login(&server, "ana", &password, ClientState::in_memory(Identity::generate())).await;
    ana.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");

    // A visitor asks while nobody takes chats, then closes the tab.
    let mut gone = visitor(&server).await;
    let gone_ticket = gone
        .request_chat("mk", "health", false)
        .await
        .expect("ticket")
        .ticket_id;
    assert_eq!(ana.queue_view().await.expect("queue").len(), 1);
    drop(vanish(gone).await);
    let deadline = Instant::now() + WAIT;
    while !ana.queue_view().await.expect("queue").is_empty() {
        assert!(Instant::now() < deadline, "a gone visitor stays in the queue view");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        code(ana.accept_ticket(gone_ticket).await),
        ErrorCode::InvalidState,
        "a gone visitor's ticket cannot be taken"
    );
    // Ana becomes available: the gone visitor is never offered, and after
    // the grace her ticket is dropped for good.
    ana.set_shift(ShiftState::Available, false).await.expect("available");
    let seen = notices_for(&mut ana, Duration::from_secs(5)).await;
    assert!(
        !seen.iter().any(|n| matches!(n, ServerMessage::Offer { .. })),
        "a gone visitor was offered: {seen:?}"
    );
    assert_eq!(code(ana.accept_ticket(gone_ticket).await), ErrorCode::UnknownTicket);

    // An offer made while the visitor was here is withdrawn when she goes.
    let mut leaving = visitor(&server).await;
    let leaving_ticket = leaving
        .request_chat("mk", "health", false)
        .await
        .expect("ticket")
        .ticket_id;
    assert_eq!(wait_offer(&mut ana).await, leaving_ticket);
    drop(vanish(leaving).await);
    wait_notice(&mut ana, "offer_withdrawn", |n| match n {
        ServerMessage::OfferWithdrawn { ticket_id } if *ticket_id == leaving_ticket => Some(()),
        _ => None,
    })
    .await;
    assert_eq!(code(ana.accept_ticket(leaving_ticket).await), ErrorCode::InvalidState);

    // A visitor in a chat: Ana sees her reconnecting, back, and quick exit.
    let mut v = visitor(&server).await;
    let ticket = v.request_chat("mk", "health", false).await.expect("ticket").ticket_id;
    assert_eq!(wait_offer(&mut ana).await, ticket);
    let group = ana.accept_ticket(ticket).await.expect("accept").group_id;
    v.wait_for_group(&group, WAIT).await.expect("joined");
    let state = vanish(v).await;
    assert_eq!(wait_presence(&mut ana, ticket).await, VisitorPresence::Reconnecting);
    let mut v = Client::connect(&server.url(), state).await.expect("visitor back");
    assert_eq!(wait_presence(&mut ana, ticket).await, VisitorPresence::Here);
    let hello = format!("still here {}", marker());
    v.send_text(&group, &hello).await.expect("send");
    assert_eq!(wait_message(&mut ana, &group, &hello).await, v.client_id());
    v.visitor_leaving(true).await.expect("quick exit");
    assert_eq!(wait_presence(&mut ana, ticket).await, VisitorPresence::QuickExit);
    // The page closing says "leaving" again: still a quick exit.
    v.visitor_leaving(false).await.expect("the page closes");
    drop(vanish(v).await);
    // Neither that nor the drop that follows turns a quick exit into
    // "reconnecting" or, after the grace, "left".
    let seen = notices_for(&mut ana, Duration::from_secs(5)).await;
    assert!(
        !seen.iter().any(|n| matches!(n, ServerMessage::VisitorPresence { .. })),
        "{seen:?}"
    );

    // A visitor who drops and does not come back: "left" after the grace.
    let mut w = visitor(&server).await;
    let w_ticket = w.request_chat("mk", "health", false).await.expect("ticket").ticket_id;
    assert_eq!(wait_offer(&mut ana).await, w_ticket);
    let w_group = ana.accept_ticket(w_ticket).await.expect("accept").group_id;
    w.wait_for_group(&w_group, WAIT).await.expect("joined");
    let dropped_at = Instant::now();
    drop(vanish(w).await);
    assert_eq!(wait_presence(&mut ana, w_ticket).await, VisitorPresence::Reconnecting);
    assert_eq!(wait_presence(&mut ana, w_ticket).await, VisitorPresence::Left);
    let after = dropped_at.elapsed();
    assert!(
        after >= Duration::from_secs(2) && after < Duration::from_secs(10),
        "\"left\" after {after:?} with a 3 s grace"
    );
}

/// Today's weekday in UTC, 1 = Monday … 7 = Sunday.
fn utc_weekday_now() -> u8 {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400;
    ((days + 3) % 7) as u8 + 1
}

async fn next_text(c: &mut Client, group: &[u8]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message { group_id, text, .. }) if group_id == group => return text,
            Some(_) => {}
            None => panic!("no message arrived"),
        }
    }
}

/// Log in with a fresh key, publish key packages, and leave: the account's
/// current key is now that one. Returns its state.
async fn new_key(server: &ServerProcess, username: &str, password: &str) -> ClientState {
    let mut c = login(server, username, password, ClientState::in_memory(Identity::generate())).await;
    c.publish_key_packages(3).await.expect("publish");
    c.into_state().await.expect("leave")
}

#[tokio::test]
async fn team_messages_reach_the_current_key_of_every_chat_taking_account_even_after_a_restart() {
    let open_day = (utc_weekday_now() + 2) % 7 + 1;
    let mut server = ServerProcess::start_with_config(&format!(
        "[intake]\ntime_zone = \"UTC\"\nopening_hours = [{{ weekday = {open_day}, opens = 0, closes = 1440 }}]\n\
         requests_per_source_per_minute = 1000\nsource_burst = 1000\n"
    ));
    let ana_pw = create_staff(&server, "ana", "Ana", "counsellor", "mk", 3);
    let sara_pw = create_staff(&server, "sara", "Sara", "supervisor", "mk", 3);
    let adi_pw = create_staff(&server, "adi", "Adi", "admin", "mk", 1);
    let cvet_pw = create_staff(&server, "cvet", "Cvet", "crisis_responder", "mk", 1);
    create_staff(&server, "nova", "Nova", "counsellor", "mk", 3); // never logged in

    // Ana's first key dies with a tab; her second is current. Sara,
    // the admin and the crisis responder each have one key.
    let ana_old = new_key(&server, "ana", &ana_pw).await;
    let ana_now = new_key(&server, "ana", &ana_pw).await;
    let sara = new_key(&server, "sara", &sara_pw).await;
    for (u, p) in [("adi", &adi_pw), ("cvet", &cvet_pw)] {
        drop(new_key(&server, u, p).await);
    }
    let ana_old_id = ana_old.identity().client_id();
    let ana_now_id = ana_now.identity().client_id();
    let sara_id = sara.identity().client_id();

    // Roles are read from the accounts: right after a restart, before
    // anyone logged in, the message still reaches Ana and Sara only.
    server.restart();
    let mut v = visitor(&server).await;
    let text = format!("please write back {}", marker());
    let (group, delivered) = v.leave_team_message_delivered("mk", &text).await.expect("left");
    assert_eq!(delivered, 2, "sealed to Ana's and Sara's current keys");
    let mut members = v.members(&group).expect("members");
    members.sort();
    let mut expected = vec![v.client_id(), ana_now_id, sara_id];
    expected.sort();
    assert_eq!(members, expected, "never a stale key, an admin or a crisis responder");
    assert!(!members.contains(&ana_old_id));

    // Ana logs in the next morning with her current key and reads it.
    let mut ana = login(&server, "ana", &ana_pw, ana_now).await;
    ana.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");
    assert_eq!(next_text(&mut ana, &group).await, text);
    drop(ana.into_state().await.expect("leave"));

    // Keys handed out that go stale before the message is left: nobody
    // could read it, and the visitor is told so (0), not "sent".
    let mut late = visitor(&server).await;
    let handed = match late
        .request(parasol_protocol::Request::TeamKeyPackages)
        .await
        .expect("team keys")
    {
        parasol_protocol::Response::TeamKeyPackages { key_packages } => key_packages,
        other => panic!("{other:?}"),
    };
    assert_eq!(handed.len(), 2);
    // Both log in on new computers (new keys) before the visitor leaves it.
    drop(new_key(&server, "ana", &ana_pw).await);
    drop(new_key(&server, "sara", &sara_pw).await);
    let g = late.create_group().await.expect("group");
    late.add_key_packages(&g, &handed).await.expect("add the team");
    match late
        .request(parasol_protocol::Request::LeaveTeamMessage {
            group_id: g.clone().into(),
            language: "mk".into(),
        })
        .await
        .expect("leave")
    {
        parasol_protocol::Response::TeamMessageLeft { delivered_to, .. } => assert_eq!(delivered_to, 0),
        other => panic!("{other:?}"),
    }

    // With no account that takes chats left, the visitor is refused with
    // the crisis lines.
    for u in ["ana", "sara"] {
        let out = server.admin(&["disable", u], "");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut last = visitor(&server).await;
    let err = last
        .leave_team_message_delivered("mk", "anyone?")
        .await
        .expect_err("nobody can read it");
    assert_eq!(err.server_code(), Some(ErrorCode::NoCounsellorAvailable));
    let help = err.refusal().and_then(|r| r.help.clone()).expect("help");
    assert!(!help.crisis_lines.is_empty());
}

#[tokio::test]
async fn a_supervisor_rescues_a_chat_whose_counsellor_went_away() {
    let server = ServerProcess::start();
    let ana_pw = create_staff(&server, "ana", "Ana", "counsellor", "mk", 2);
    let bora_pw = create_staff(&server, "bora", "Bora", "counsellor", "mk", 2);
    let sara_pw = create_staff(&server, "sara", "Sara", "supervisor", "mk", 2);
    let mut ana = login(&server, "ana", &ana_pw, ClientState::in_memory(Identity::generate())).await;
    let mut bora = login(&server, "bora", &bora_pw, ClientState::in_memory(Identity::generate())).await;
    let mut sara = login(&server, "sara", &sara_pw, ClientState::in_memory(Identity::generate())).await;
    for c in [&mut bora, &mut sara] {
        c.publish_key_packages(3).await.expect("publish");
        c.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");
    }
    ana.set_shift(ShiftState::Available, false).await.expect("available");

    let mut v = visitor(&server).await;
    let ticket = v.request_chat("mk", "health", false).await.expect("ticket").ticket_id;
    assert_eq!(wait_offer(&mut ana).await, ticket);
    let group = ana.accept_ticket(ticket).await.expect("accept").group_id;
    v.wait_for_group(&group, WAIT).await.expect("joined");
    let ana_id = ana.client_id();

    // While Ana is here, the chat is not stranded: nobody may rescue it.
    assert!(sara.board().await.expect("board").stranded.is_empty());
    assert_eq!(code(sara.rescue_chat(&group, None).await), ErrorCode::InvalidState);
    // Ana's tab dies.
    drop(ana.into_state().await.expect("ana gone"));
    let deadline = Instant::now() + WAIT;
    let stranded = loop {
        let board = sara.board().await.expect("board");
        if let Some(s) = board.stranded.into_iter().next() {
            break s;
        }
        assert!(Instant::now() < deadline, "the chat never showed as stranded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stranded.group_id.0, group);
    assert_eq!(stranded.counsellor, "Ana");
    assert_eq!(stranded.reason, StrandedReason::Offline);
    let bora_account = sara
        .board()
        .await
        .expect("board")
        .staff
        .iter()
        .find(|r| r.display_name == "Bora")
        .expect("Bora on the board")
        .account_id;

    // A counsellor may not rescue; the supervisor gives it to Bora.
    assert_eq!(code(bora.rescue_chat(&group, None).await), ErrorCode::Forbidden);
    let to = sara.rescue_chat(&group, Some(bora_account)).await.expect("rescue");
    assert_eq!(to.display_name, "Bora");

    // The visitor is told it is a rescue, her client adds Bora, Bora
    // removes Ana's leaf, and they talk.
    let deadline = Instant::now() + WAIT;
    let mut told = false;
    loop {
        if let Some(TicketStatus::InChat { rescued: true, .. }) = v.ticket().map(|t| &t.status) {
            told = true;
        }
        let mut m = v.members(&group).unwrap_or_default();
        m.sort();
        let mut want = vec![v.client_id(), bora.client_id()];
        want.sort();
        if m == want {
            break;
        }
        assert!(Instant::now() < deadline, "the rescue never completed (members {m:?})");
        for c in [&mut v, &mut bora] {
            c.poll(Duration::from_millis(100)).await.expect("poll");
        }
    }
    assert!(told, "the visitor's ticket said it was a rescue");
    assert!(!v.members(&group).unwrap().contains(&ana_id));
    let hello = format!("are you there {}", marker());
    v.send_text(&group, &hello).await.expect("send");
    assert_eq!(wait_message(&mut bora, &group, &hello).await, v.client_id());
    let reply = format!("yes, I am Bora {}", marker());
    bora.send_text(&group, &reply).await.expect("reply");
    assert_eq!(wait_message(&mut v, &group, &reply).await, bora.client_id());
    assert!(sara.board().await.expect("board").stranded.is_empty());

    let audit = server.admin(&["audit", "--since", "1970-01-01"], "");
    assert!(String::from_utf8_lossy(&audit.stdout).contains("rescue"));
}

/// Typing both ways inside MLS: the other side gets a `Typing` event with
/// the sender's authenticated key, never a message, and the next text
/// arrives as the next message (the signal took no place in the history).
#[tokio::test]
async fn typing_signals_travel_inside_mls_and_are_never_messages() {
    let server = ServerProcess::start();
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk", 2);
    let mut ana = login(&server, "ana", &password, ClientState::in_memory(Identity::generate())).await;
    ana.set_shift(ShiftState::Available, false).await.expect("available");
    let mut v = visitor(&server).await;
    let ticket = v.request_chat("mk", "health", false).await.expect("ticket").ticket_id;
    assert_eq!(wait_offer(&mut ana).await, ticket);
    let group = ana.accept_ticket(ticket).await.expect("accept").group_id;
    v.wait_for_group(&group, WAIT).await.expect("joined");

    async fn next_typing(c: &mut Client, group: &[u8]) -> (parasol_client::ClientId, bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.next_event(left).await.expect("event") {
                Some(Event::Typing {
                    group_id,
                    sender,
                    typing,
                    ..
                }) if group_id == group => return (sender, typing),
                Some(Event::Message { text, .. }) => panic!("a typing signal became a message: {text:?}"),
                Some(_) => {}
                None => panic!("no typing signal arrived"),
            }
        }
    }

    v.send_typing(&group, true).await.expect("visitor typing");
    assert_eq!(next_typing(&mut ana, &group).await, (v.client_id(), true));
    v.send_typing(&group, false).await.expect("visitor stopped");
    assert_eq!(next_typing(&mut ana, &group).await, (v.client_id(), false));
    ana.send_typing(&group, true).await.expect("counsellor typing");
    assert_eq!(next_typing(&mut v, &group).await, (ana.client_id(), true));
    let text = format!("after typing {}", marker());
    ana.send_text(&group, &text).await.expect("send");
    assert_eq!(next_text(&mut v, &group).await, text);
}

#[tokio::test]
async fn a_visitors_key_is_refused_as_a_staff_key_and_the_connection_closes() {
    let server = ServerProcess::start();
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk", 2);
    let mut ana = login(&server, "ana", &password, ClientState::in_memory(Identity::generate())).await;
    ana.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");
    let token = staff_login(&server, "ana", &password);

    // A visitor's key: it has a ticket.
    let mut visitor = visitor(&server).await;
    visitor.request_chat("mk", "health", false).await.expect("ticket");
    let key = visitor.identity().clone();
    assert_eq!(ana.queue_view().await.expect("queue").len(), 1);

    // A staff session with that key is refused before `authenticated`:
    // one typed error, then the connection closes with 1008.
    let refused = Connection::open(&server.url(), WAIT).await.expect("open");
    let signature = key.sign_challenge(refused.nonce());
    let answer = refused
        .request(Request::Authenticate {
            proof: AuthProof::StaffSession {
                token: token.clone(),
                public_key: key.client_id().to_vec().into(),
                signature: signature.to_vec().into(),
            },
        })
        .await;
    assert!(
        matches!(
            &answer,
            Err(ClientError::Server {
                code: ErrorCode::AuthenticationFailed,
                ..
            })
        ),
        "{answer:?}"
    );
    let mut refused = refused;
    let closed = loop {
        match refused.next_incoming(WAIT).await {
            Some(Incoming::Closed { code, .. }) => break code,
            Some(Incoming::Message(m)) => panic!("nothing but the close after the refusal: {m:?}"),
            Some(_) => {}
            None => panic!("the refused connection did not close"),
        }
    };
    assert_eq!(closed, Some(close::POLICY_VIOLATION));

    // The visitor holding the key is left alone: her ticket stays in the
    // queue view and her connection still answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ana.queue_view().await.expect("queue").len(),
        1,
        "the visitor was not replaced"
    );
    visitor.ping().await.expect("the visitor's connection still answers");
    drop(visitor);
    // Ana's console is still served.
    assert!(ana.queue_view().await.is_ok());
}
