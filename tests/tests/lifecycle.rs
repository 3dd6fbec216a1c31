//! Account lifecycle reaches the keys (issue 18, section B), over real
//! sockets against the real server binary with real MLS clients:
//! - a staff key authenticates only with a live session of its account;
//! - logout ends that session's connections at once (4004), not the
//!   account's other sessions;
//! - disabling an account revokes its keys: refused, nothing more
//!   delivered, the other members remove its leaves, the audit log says so;
//! - a counsellor who lost her state is brought back into her chat by her
//!   visitor's client (the safety net).

use std::time::{Duration, Instant};

use parasol_client::{
    Client, ClientError, ClientId, ClientState, Connection, ErrorCode, Event, Identity, ServerMessage,
};
use parasol_protocol::close;
use parasol_tests::drive::{code, wait_message, wait_notice, WAIT};
use parasol_tests::{create_staff, http_request, marker, staff_login, ServerProcess};

struct Staff {
    c: Client,
    identity: Identity,
    password: String,
    token: String,
}

async fn staff(server: &ServerProcess, username: &str) -> Staff {
    let password = create_staff(
        server,
        username,
        &format!("{username} (display)"),
        "counsellor",
        "mk",
        3,
    );
    let token = staff_login(server, username, &password);
    let identity = Identity::generate();
    let mut c = Client::connect_staff(&server.url(), ClientState::in_memory(identity.clone()), &token)
        .await
        .expect("staff connect");
    c.publish_key_packages(5).await.expect("key packages");
    c.set_shift(parasol_protocol::ShiftState::ClockedIn, false)
        .await
        .expect("clock in");
    Staff {
        c,
        identity,
        password,
        token,
    }
}

/// A visitor in a chat with `s`: (visitor, group).
async fn chat_with(server: &ServerProcess, s: &mut Staff) -> (Client, Vec<u8>) {
    let mut v = Client::connect_ephemeral(&server.url()).await.expect("visitor connect");
    let ticket = v
        .request_chat("mk", "health", false)
        .await
        .expect("request_chat")
        .ticket_id;
    let g = s.c.accept_ticket(ticket).await.expect("accept").group_id;
    v.wait_for_group(&g, WAIT).await.expect("the visitor joins");
    (v, g)
}

async fn talk(v: &mut Client, s: &mut Client, group: &[u8]) {
    let hello = format!("visitor says {}", marker());
    v.send_text(group, &hello).await.expect("visitor sends");
    assert_eq!(wait_message(s, group, &hello).await, v.client_id());
    let reply = format!("counsellor says {}", marker());
    s.send_text(group, &reply).await.expect("counsellor sends");
    assert_eq!(wait_message(v, group, &reply).await, s.client_id());
}

/// Drive `c` until its connection closes; returns the close code.
async fn closed_with(c: &mut Client) -> Option<u16> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the connection was not closed");
        match c.next_event(left).await {
            Ok(Some(Event::Disconnected { code, reconnecting })) => {
                assert!(!reconnecting, "a staff client does not retry an ended session");
                return code;
            }
            Ok(_) => {}
            Err(ClientError::Closed { code, .. }) => return code,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
}

fn sorted(mut v: Vec<ClientId>) -> Vec<ClientId> {
    v.sort();
    v
}

async fn wait_members(c: &mut Client, group: &[u8], expected: &[ClientId]) {
    let expected = sorted(expected.to_vec());
    let deadline = Instant::now() + WAIT;
    while c.members(group).ok().map(sorted).as_ref() != Some(&expected) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "members never became {expected:?}");
        c.poll(left.min(Duration::from_millis(200))).await.expect("poll");
    }
}

#[tokio::test]
async fn a_staff_key_needs_a_live_session_of_its_own_account() {
    let server = ServerProcess::start();
    let ana = staff(&server, "ana").await;
    let bora = staff(&server, "bora").await;
    // Her own key without a session: refused.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate(&ana.identity).await),
        ErrorCode::AuthenticationFailed
    );
    // Her key with a colleague's live session: refused.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate_staff(&ana.identity, &bora.token).await),
        ErrorCode::AuthenticationFailed
    );
    // With her own session: fine.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    conn.authenticate_staff(&ana.identity, &ana.token)
        .await
        .expect("her key with her session");
    // A fresh key is anonymous and welcome.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    conn.authenticate(&Identity::generate()).await.expect("a visitor's key");
    drop(bora);
}

/// Issue 25: a colleague's key under one's own session is refused before
/// `authenticated`, with one typed error and the documented close (1008);
/// the key's holder stays connected and served. (Before, the attempt got
/// `authenticated`, then an error without id, and the holder was closed
/// with 4001: anyone holding a colleague's key could disconnect her.)
#[tokio::test]
async fn a_colleagues_key_is_refused_before_authenticated_and_she_stays_connected() {
    let server = ServerProcess::start();
    let mut ana = staff(&server, "ana").await;
    let bora = staff(&server, "bora").await;
    let mut conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    // Bora's session with Ana's key, and a request pipelined behind it.
    let proof = parasol_protocol::AuthProof::StaffSession {
        token: bora.token.clone(),
        public_key: ana.identity.client_id().to_vec().into(),
        signature: ana.identity.sign_challenge(conn.nonce()).to_vec().into(),
    };
    for (id, req) in [
        (7, parasol_protocol::Request::Authenticate { proof }),
        (8, parasol_protocol::Request::Ping),
    ] {
        conn.send_frame(&parasol_protocol::ClientFrame { v: 1, id, req })
            .expect("send");
    }
    let mut seen = Vec::new();
    let close_code = loop {
        match conn.next_incoming(WAIT).await.expect("an answer before the timeout") {
            parasol_client::Incoming::Closed { code, .. } => break code,
            parasol_client::Incoming::Message(m) => seen.push(m),
            other => panic!("unexpected: {other:?}"),
        }
    };
    assert_eq!(
        close_code,
        Some(close::POLICY_VIOLATION),
        "the documented close after a refusal"
    );
    assert_eq!(seen.len(), 1, "exactly one frame before the close: {seen:?}");
    match &seen[0] {
        ServerMessage::Error { id, code, .. } => {
            assert_eq!(*id, Some(7), "the error answers the authenticate request");
            assert_eq!(*code, ErrorCode::AuthenticationFailed);
        }
        other => panic!("expected the typed refusal, got {other:?}"),
    }
    // Ana's own connection with that key was not touched: nothing closes
    // it, and it is still served.
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        match ana.c.next_event(left).await {
            Ok(Some(Event::Disconnected { code, .. })) => panic!("ana's connection closed with {code:?}"),
            Err(e) => panic!("ana's connection failed: {e}"),
            Ok(_) => {}
        }
    }
    ana.c.ping().await.expect("ana's connection still answers");
    ana.c.queue_view().await.expect("with her staff powers");
    // And her key is still hers: Bora cannot take it over by retrying.
    let again = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(again.authenticate_staff(&ana.identity, &bora.token).await),
        ErrorCode::AuthenticationFailed
    );
    ana.c
        .ping()
        .await
        .expect("ana's connection still answers after a second try");
}

/// A visitor's key (one holding a ticket) under a staff session: refused
/// before `authenticated`, and the visitor's connection is not replaced.
#[tokio::test]
async fn a_visitors_key_is_refused_for_staff_and_she_stays_connected() {
    let server = ServerProcess::start();
    let bora = staff(&server, "bora").await;
    let identity = Identity::generate();
    let mut v = Client::connect(&server.url(), ClientState::in_memory(identity.clone()))
        .await
        .expect("visitor connects");
    v.request_chat("mk", "health", false).await.expect("request_chat");
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate_staff(&identity, &bora.token).await),
        ErrorCode::AuthenticationFailed
    );
    let quiet_until = Instant::now() + Duration::from_millis(500);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        match v.next_event(left).await {
            Ok(Some(Event::Disconnected { code, .. })) => panic!("the visitor's connection closed with {code:?}"),
            Err(e) => panic!("the visitor's connection failed: {e}"),
            Ok(_) => {}
        }
    }
    v.ping().await.expect("the visitor's connection still answers");
}

#[tokio::test]
async fn logout_closes_that_sessions_connections_with_4004() {
    let server = ServerProcess::start();
    let mut ana = staff(&server, "ana").await;
    // A second session of the same account (another computer, its own
    // key) lives on.
    let other_token = staff_login(&server, "ana", &ana.password);
    let second = Client::connect_staff(
        &server.url(),
        ClientState::in_memory(Identity::generate()),
        &other_token,
    )
    .await
    .expect("second session");
    let started = Instant::now();
    let auth = format!("Bearer {}", ana.token);
    let (status, _) = http_request(
        server.addr(),
        "POST",
        "/v1/staff/logout",
        &[("Authorization", auth.as_str())],
        "",
    );
    assert_eq!(status, 204);
    assert_eq!(closed_with(&mut ana.c).await, Some(close::SESSION_ENDED));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "closed {took:?} after logout");
    eprintln!("logout → 4004 in {took:?}");
    // Staff powers are gone with it; the other session keeps them.
    second.ping().await.expect("the other session's connection lives");
    second.queue_view().await.expect("and keeps its staff powers");
}

#[tokio::test]
async fn a_disabled_counsellor_is_refused_and_her_chats_remove_her() {
    let mut server = ServerProcess::start();
    let mut ana = staff(&server, "ana").await;
    let (mut v, g) = chat_with(&server, &mut ana).await;
    talk(&mut v, &mut ana.c, &g).await;
    let ana_key = ana.c.client_id();

    let out = server.admin(&["disable", "ana"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(closed_with(&mut ana.c).await, Some(close::SESSION_ENDED));

    // Her key, "anonymously": refused.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate(&ana.identity).await),
        ErrorCode::AuthenticationFailed
    );

    // The visitor is asked to remove her leaf, and does.
    let asked = wait_notice(&mut v, "remove_revoked_members", |n| match n {
        ServerMessage::RemoveRevokedMembers { group_id, clients } if group_id.0 == g => {
            Some(clients.iter().map(|c| c.0.clone()).collect::<Vec<_>>())
        }
        _ => None,
    })
    .await;
    assert_eq!(asked, vec![ana_key.to_vec()]);
    let me = v.client_id();
    wait_members(&mut v, &g, &[me]).await;

    // Even after a restart, re-enabled, with a new session, the old key
    // stays revoked (the registry is persisted).
    server.restart();
    let out = server.admin(&["enable", "ana"], "");
    assert!(out.status.success());
    let token = staff_login(&server, "ana", &ana.password);
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate_staff(&ana.identity, &token).await),
        ErrorCode::AuthenticationFailed
    );
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    assert_eq!(
        code(conn.authenticate(&ana.identity).await),
        ErrorCode::AuthenticationFailed
    );
    // A new key of hers works.
    let conn = Connection::open(&server.url(), WAIT).await.expect("connects");
    conn.authenticate_staff(&Identity::generate(), &token)
        .await
        .expect("a new key with her new session");

    let out = server.admin(&["audit", "--since", "1970-01-01"], "");
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(audit.contains("keys_revoked"), "{audit}");
}

#[tokio::test]
async fn a_counsellor_who_lost_her_state_is_brought_back_by_her_visitor() {
    let server = ServerProcess::start();
    let mut ana = staff(&server, "ana").await;
    let (mut v, g) = chat_with(&server, &mut ana).await;
    talk(&mut v, &mut ana.c, &g).await;
    let old_key = ana.c.client_id();
    // Her browser state is gone: a new login with a new key.
    drop(ana.c);
    let started = Instant::now();
    let token = staff_login(&server, "ana", &ana.password);
    let mut fresh = Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    fresh.publish_key_packages(5).await.expect("key packages");
    let new_key = fresh.client_id();

    // The visitor's client checks the badge and brings her back.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match v.next_event(left).await.expect("event") {
            Some(Event::CounsellorReconnected { group_id, display_name }) => {
                assert_eq!(group_id, g);
                assert_eq!(display_name, "ana (display)");
                break;
            }
            Some(_) => {}
            None => panic!("the visitor never brought her counsellor back"),
        }
    }
    fresh.wait_for_group(&g, WAIT).await.expect("the new key joins");
    eprintln!("state lost → back in the chat in {:?}", started.elapsed());
    let me = v.client_id();
    wait_members(&mut v, &g, &[me, new_key]).await;
    assert!(!v.members(&g).unwrap().contains(&old_key));
    talk(&mut v, &mut fresh, &g).await;
}

#[tokio::test]
async fn after_her_sessions_are_revoked_her_new_key_takes_her_chat_back() {
    let server = ServerProcess::start();
    let mut ana = staff(&server, "ana").await;
    let (mut v, g) = chat_with(&server, &mut ana).await;
    talk(&mut v, &mut ana.c, &g).await;
    let old_key = ana.c.client_id();

    // Her sessions are revoked (a leak): every key of hers is revoked too.
    let out = server.admin(&["revoke-sessions", "ana"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(closed_with(&mut ana.c).await, Some(close::SESSION_ENDED));

    // She logs in again, with a new key; the visitor's client removes the
    // revoked leaf and brings the new key in.
    let token = staff_login(&server, "ana", &ana.password);
    let mut fresh = Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    fresh.publish_key_packages(5).await.expect("key packages");
    let new_key = fresh.client_id();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match v.next_event(left).await.expect("event") {
            Some(Event::CounsellorReconnected { group_id, .. }) => {
                assert_eq!(group_id, g);
                break;
            }
            Some(_) => {}
            None => panic!("the visitor never brought her counsellor back"),
        }
    }
    fresh.wait_for_group(&g, WAIT).await.expect("the new key joins");
    let me = v.client_id();
    wait_members(&mut v, &g, &[me, new_key]).await;
    assert!(!v.members(&g).unwrap().contains(&old_key));
    talk(&mut v, &mut fresh, &g).await;
}
