//! End-to-end acceptance tests of the delivery service: the real
//! `parasol-server` process, real openmls clients, real sockets.

use std::time::{Duration, Instant};

use parasol_client::mls::CommitOp;
use parasol_client::{Client, ClientError, ClientId, ClientState, Connection, ErrorCode, Event, Identity, Request};
use parasol_protocol::{EnvelopeKind, Response};
use parasol_tests::{contains_bytes, marker, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(5).await.expect("publish key packages");
    c
}

/// Process events until `n` messages have arrived; returns (sender, text).
async fn messages(c: &mut Client, n: usize) -> Vec<(ClientId, String)> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message { sender, text, .. }) => out.push((sender, text)),
            Some(_) => {}
            None => panic!("only {} of {n} messages arrived", out.len()),
        }
    }
    out
}

/// Process events for a moment; returns the messages that arrived.
async fn settle(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(ev) = c.next_event(Duration::from_millis(400)).await.expect("event") {
        if let Event::Message { text, .. } = ev {
            out.push(text);
        }
    }
    out
}

async fn wait_joined(c: &mut Client, group: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !c.groups().iter().any(|g| g == group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(c.next_event(left).await.expect("event").is_some(), "no Welcome arrived");
    }
}

async fn wait_epoch(c: &mut Client, group: &[u8], epoch: u64) {
    let deadline = Instant::now() + WAIT;
    // Between a removal and the Welcome that re-adds, the group is inactive.
    while c.epoch(group).unwrap_or(0) < epoch {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            c.next_event(left).await.expect("event").is_some(),
            "epoch {epoch} never reached"
        );
    }
}

/// A group created by `clients[0]` with every other client added.
async fn group_of(clients: &mut [Client]) -> Vec<u8> {
    let (creator, others) = clients.split_first_mut().expect("at least one client");
    let group = creator.create_group().await.expect("create group");
    let ids: Vec<ClientId> = others.iter().map(Client::client_id).collect();
    if !ids.is_empty() {
        creator.add_members(&group, &ids).await.expect("add members");
    }
    for c in others.iter_mut() {
        wait_joined(c, &group).await;
    }
    group
}

/// Read the mailbox of a client that is offline (its state set aside), so
/// nothing in it has been acked: what the server really delivered.
async fn mailbox_of(server: &ServerProcess, state: &ClientState) -> Vec<parasol_protocol::Envelope> {
    let (conn, _) = Connection::connect(&server.url(), state.identity(), Duration::from_secs(10))
        .await
        .expect("connect");
    let envelopes = match conn
        .request(Request::FetchBacklog {
            after: state.cursor(),
            limit: 500,
        })
        .await
        .expect("fetch")
    {
        Response::Backlog { envelopes, more } => {
            assert!(!more);
            envelopes
        }
        other => panic!("unexpected {other:?}"),
    };
    conn.close().await;
    envelopes
}

fn code(result: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match result {
        Err(e) => e
            .server_code()
            .unwrap_or_else(|| panic!("expected a server error, got {e}")),
        Ok(v) => panic!("expected a server error, got {v:?}"),
    }
}

#[tokio::test]
async fn one_to_one_exchanges_100_messages_each_way_in_order_exactly_once() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let (alice, bob) = clients.split_at_mut(1);
    let (alice, bob) = (&mut alice[0], &mut bob[0]);

    let sending = async {
        for i in 0..100 {
            alice
                .send_text(&group, &format!("alice {i}"))
                .await
                .expect("alice sends");
        }
    };
    let replying = async {
        for i in 0..100 {
            bob.send_text(&group, &format!("bob {i}")).await.expect("bob sends");
        }
    };
    tokio::join!(sending, replying);

    let to_bob = messages(bob, 100).await;
    let to_alice = messages(alice, 100).await;
    assert_eq!(
        to_bob.iter().map(|m| m.1.clone()).collect::<Vec<_>>(),
        (0..100).map(|i| format!("alice {i}")).collect::<Vec<_>>()
    );
    assert_eq!(
        to_alice.iter().map(|m| m.1.clone()).collect::<Vec<_>>(),
        (0..100).map(|i| format!("bob {i}")).collect::<Vec<_>>()
    );
    assert!(
        to_bob.iter().all(|m| m.0 == alice.client_id()),
        "sender comes from the MLS credential"
    );
    // Exactly once: nothing more arrives.
    assert!(settle(bob).await.is_empty());
    assert!(settle(alice).await.is_empty());
    server.assert_logs_clean(&["alice 7", "bob 7"]);
}

#[tokio::test]
async fn six_member_group_with_adds_and_removes() {
    let server = ServerProcess::start();
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(connect(&server).await);
    }
    let group = group_of(&mut clients).await;
    clients[0].send_text(&group, "hello five").await.expect("send");
    for c in clients[1..].iter_mut() {
        assert_eq!(messages(c, 1).await[0].1, "hello five");
    }

    // Remove member 2; it learns it was removed and receives nothing after.
    let removed_id = clients[2].client_id();
    clients[0].remove_members(&group, &[removed_id]).await.expect("remove");
    let mut removed = clients.remove(2);
    let mut saw_removal = false;
    while let Some(ev) = removed.next_event(Duration::from_secs(2)).await.expect("event") {
        saw_removal |= matches!(ev, Event::Removed { .. });
        assert!(
            !matches!(ev, Event::Message { .. }),
            "a removed member got a message: {ev:?}"
        );
    }
    assert!(saw_removal, "the removed member was told");

    // Add a sixth client; it reads only what comes after it joined.
    clients[1].send_text(&group, "before the newcomer").await.expect("send");
    let mut newcomer = connect(&server).await;
    let newcomer_id = newcomer.client_id();
    clients[1]
        .add_members(&group, &[newcomer_id])
        .await
        .expect("add newcomer");
    wait_joined(&mut newcomer, &group).await;
    clients[3].send_text(&group, "welcome newcomer").await.expect("send");

    let got = messages(&mut newcomer, 1).await;
    assert_eq!(got[0].1, "welcome newcomer");
    assert!(
        settle(&mut newcomer).await.is_empty(),
        "the newcomer must not see older messages"
    );
    assert!(settle(&mut removed).await.is_empty(), "the removed member gets nothing");
    for c in clients.iter_mut() {
        let texts = settle(c).await;
        assert!(!texts.iter().any(|t| t == "hello five"), "no duplicates");
    }
    assert_eq!(newcomer.members(&group).expect("members").len(), 5);
    server.assert_logs_clean(&["hello five", "welcome newcomer"]);
}

#[tokio::test]
async fn offline_member_receives_the_backlog_in_order() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let bob = clients.pop().expect("bob");
    let mut alice = clients.pop().expect("alice");

    let bob_state = bob.into_state().await.expect("bob goes offline");
    for i in 0..50 {
        alice
            .send_text(&group, &format!("while you were away {i}"))
            .await
            .expect("send");
    }
    let mut bob = Client::connect(&server.url(), bob_state).await.expect("bob comes back");
    let got = messages(&mut bob, 50).await;
    let expected: Vec<String> = (0..50).map(|i| format!("while you were away {i}")).collect();
    assert_eq!(got.into_iter().map(|m| m.1).collect::<Vec<_>>(), expected);
    assert!(settle(&mut bob).await.is_empty());
    server.assert_logs_clean(&["while you were away"]);
}

async fn restart_keeps_acknowledged_envelopes(crash: bool) {
    let mut server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let bob = clients.pop().expect("bob");
    let mut alice = clients.pop().expect("alice");
    let bob_state = bob.into_state().await.expect("bob offline");

    // Every one of these was acknowledged, so each is durable.
    for i in 0..20 {
        alice.send_text(&group, &format!("durable {i}")).await.expect("send");
    }
    if crash {
        server.kill();
        server.start_again();
    } else {
        server.restart();
    }
    alice.reconnect().await.expect("alice reconnects");
    let mut bob = Client::connect(&server.url(), bob_state).await.expect("bob reconnects");
    let got = messages(&mut bob, 20).await;
    assert_eq!(
        got.into_iter().map(|m| m.1).collect::<Vec<_>>(),
        (0..20).map(|i| format!("durable {i}")).collect::<Vec<_>>()
    );

    // The group continues: a commit and messages both ways.
    bob.self_update(&group).await.expect("commit after restart");
    bob.send_text(&group, "still here").await.expect("bob sends");
    assert_eq!(messages(&mut alice, 1).await[0].1, "still here");
    alice.send_text(&group, "me too").await.expect("alice sends");
    assert_eq!(messages(&mut bob, 1).await[0].1, "me too");
    let server_groups = bob.list_server_groups().await.expect("list groups");
    assert_eq!(server_groups.len(), 1);
    assert_eq!(server_groups[0].epoch, bob.epoch(&group).expect("epoch"));
    server.assert_logs_clean(&["durable 1", "still here"]);
}

#[tokio::test]
async fn graceful_restart_loses_no_acknowledged_envelope() {
    restart_keeps_acknowledged_envelopes(false).await;
}

#[tokio::test]
async fn crash_restart_loses_no_acknowledged_envelope() {
    restart_keeps_acknowledged_envelopes(true).await;
}

#[tokio::test]
async fn concurrent_commits_one_wins_the_other_recovers() {
    let server = ServerProcess::start();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(connect(&server).await);
    }
    let group = group_of(&mut clients).await;
    let start_epoch = clients[0].epoch(&group).expect("epoch");
    // The fourth member goes offline: its mailbox keeps every commit unacked.
    let observer = clients.pop().expect("observer").into_state().await.expect("offline");

    // Two members commit for the same epoch at once.
    let (a, rest) = clients.split_at_mut(1);
    let (b, c) = rest.split_at_mut(1);
    let (ra, rb) = tokio::join!(a[0].self_update(&group), b[0].self_update(&group));
    ra.expect("a's commit lands");
    rb.expect("b's commit lands");
    for x in [&mut a[0], &mut b[0], &mut c[0]] {
        wait_epoch(x, &group, start_epoch + 2).await;
        assert_eq!(
            x.epoch(&group).expect("epoch"),
            start_epoch + 2,
            "all members end on the same epoch"
        );
    }
    // Exactly one commit per epoch was accepted, and one was refused as stale.
    let logs = server.logs();
    assert_eq!(
        logs.matches("code=stale_epoch").count(),
        1,
        "exactly one commit was refused:\n{logs}"
    );
    let commits: Vec<parasol_protocol::Envelope> = mailbox_of(&server, &observer)
        .await
        .into_iter()
        .filter(|e| e.kind == EnvelopeKind::Commit)
        .collect();
    assert_eq!(
        commits.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        vec![start_epoch, start_epoch + 1]
    );

    // Replaying the first commit now is stale too, and says which epoch is current.
    match clients[0]
        .request(Request::SendCommit {
            commit: commits[0].message.clone(),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        })
        .await
    {
        Err(ClientError::Server {
            code, current_epoch, ..
        }) => {
            assert_eq!(code, ErrorCode::StaleEpoch);
            assert_eq!(current_epoch, Some(start_epoch + 2));
        }
        other => panic!("expected stale_epoch, got {other:?}"),
    }

    // Everyone, the observer too, can still talk.
    let mut observer = Client::connect(&server.url(), observer).await.expect("observer back");
    for (i, x) in clients.iter_mut().enumerate() {
        x.send_text(&group, &format!("after the race {i}")).await.expect("send");
    }
    observer.send_text(&group, "observer too").await.expect("send");
    for x in clients.iter_mut() {
        assert_eq!(messages(x, 3).await.len(), 3);
    }
    assert_eq!(messages(&mut observer, 3).await.len(), 3);
    server.assert_logs_clean(&["after the race", "observer too"]);
}

#[tokio::test]
async fn message_content_never_reaches_the_disk() {
    let mut server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let secret = marker();
    // One member offline, so the ciphertext sits in its mailbox on disk.
    let offline = clients
        .pop()
        .expect("offline member")
        .into_state()
        .await
        .expect("offline");
    for i in 0..30 {
        clients[i % 2]
            .send_text(&group, &format!("{secret} message {i}"))
            .await
            .expect("send");
    }
    messages(&mut clients[1], 15).await;
    server.stop();
    let files = server.data_files();
    let total: usize = files.iter().map(|f| f.1.len()).sum();
    assert!(total > 0, "the data directory holds data");
    for (path, bytes) in &files {
        assert!(
            !contains_bytes(bytes, secret.as_bytes()),
            "{} contains the marker",
            path.display()
        );
    }
    server.start_again();
    let mut member = Client::connect(&server.url(), offline).await.expect("reconnect");
    let got = messages(&mut member, 30).await;
    assert!(
        got.iter().all(|m| m.1.starts_with(&secret)),
        "the offline member still decrypts everything"
    );
    server.assert_logs_clean(&[&secret]);
}

#[tokio::test]
async fn bad_mls_input_gets_typed_errors_without_harm() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let outsider = connect(&server).await;

    // A message to a group one is not in (replaying a member's ciphertext).
    let bob_state = clients.pop().expect("bob").into_state().await.expect("bob offline");
    clients[0].send_text(&group, "members only").await.expect("send");
    let envelope = mailbox_of(&server, &bob_state)
        .await
        .into_iter()
        .find(|e| e.kind == EnvelopeKind::Application)
        .expect("the message is in bob's mailbox");
    clients.push(Client::connect(&server.url(), bob_state).await.expect("bob back"));
    let r = outsider
        .request(Request::SendMessage {
            message: envelope.message.clone(),
        })
        .await;
    assert_eq!(code(r), ErrorCode::NotAMember);

    // Garbage where MLS is expected.
    assert_eq!(
        code(
            outsider
                .request(Request::SendMessage {
                    message: vec![1, 2, 3].into()
                })
                .await
        ),
        ErrorCode::InvalidMlsMessage
    );
    let r = outsider
        .request(Request::SendCommit {
            commit: envelope.message.clone(),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        })
        .await;
    assert_eq!(
        code(r),
        ErrorCode::InvalidMlsMessage,
        "a PrivateMessage is not a commit"
    );

    // A commit the PublicGroup rejects: a valid commit with one byte of its
    // signature flipped. A commit from a member ends with
    // signature<V> ‖ confirmation_tag<V> ‖ membership_tag<V> (RFC 9420 §6.1);
    // the two tags are MACs under epoch secrets only members can check, so
    // the byte flipped is inside the 64-byte signature before them.
    let alice = clients.remove(0);
    let url = server.url();
    let mut state = alice.into_state().await.expect("alice offline");
    let bundle = state
        .mls_mut()
        .build_commit(&group, &CommitOp::Update)
        .expect("build")
        .expect("a commit");
    let mut tampered = bundle.commit.clone();
    let inside_signature = tampered.len() - 2 * 33 - 10;
    tampered[inside_signature] ^= 0x01;
    let conn = Connection::connect(&url, state.identity(), Duration::from_secs(10))
        .await
        .expect("connect")
        .0;
    let r = conn
        .request(Request::SendCommit {
            commit: tampered.into(),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        })
        .await;
    assert_eq!(code(r), ErrorCode::InvalidCommit);
    // Someone else's commit, sent by a member who did not sign it.
    let r = clients[0]
        .request(Request::SendCommit {
            commit: bundle.commit.clone().into(),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        })
        .await;
    assert_eq!(code(r), ErrorCode::InvalidCommit);
    conn.close().await;
    state.mls_mut().clear_pending_commit(&group).expect("clear");
    let mut alice = Client::connect(&url, state).await.expect("alice back");

    // An ack for someone else's envelope: seqs are per mailbox, so the
    // outsider can only name seqs beyond its own head.
    let bob_head = envelope.seq;
    let r = outsider.request(Request::Ack { up_to: bob_head + 100 }).await;
    assert_eq!(code(r), ErrorCode::UnknownEnvelope);

    // Key-package claims in a loop: one-time ones run out, then the
    // last-resort one is handed out (never consumed), then the rate limit.
    let target = connect(&server).await;
    let target_id = target.client_id();
    let mut one_time = 0;
    let mut last_resort = 0;
    let mut limited = 0;
    for _ in 0..200 {
        match outsider
            .request(Request::ClaimKeyPackage {
                client_id: target_id.to_vec().into(),
            })
            .await
        {
            Ok(Response::KeyPackage { last_resort: false, .. }) => one_time += 1,
            Ok(Response::KeyPackage { last_resort: true, .. }) => last_resort += 1,
            Err(e) if e.server_code() == Some(ErrorCode::NoKeyPackage) => {}
            Err(e) if e.server_code() == Some(ErrorCode::LimitExceeded) => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        one_time >= 5,
        "the published one-time packages were handed out ({one_time})"
    );
    assert!(limited > 0, "claims in a loop hit the rate limit");
    let _ = last_resort;
    outsider.ping().await.expect("the connection stays usable");

    // The group is unharmed.
    alice.send_text(&group, "still fine").await.expect("send");
    let got = messages(&mut clients[0], 2).await;
    assert_eq!(got.last().expect("message").1, "still fine");
    server.assert_logs_clean(&["members only", "still fine"]);
}

#[tokio::test]
async fn a_welcome_is_released_only_for_the_winning_commit() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let epoch = clients[0].epoch(&group).expect("epoch");
    let mut carol = connect(&server).await;
    let dave = connect(&server).await;
    let (carol_id, dave_id) = (carol.client_id(), dave.client_id());
    // Dave stays offline until the race is over, so his mailbox shows every
    // Welcome the server released to him.
    let dave_state = dave.into_state().await.expect("dave offline");

    // Both members add someone for the same epoch; bob has not seen alice's
    // commit, so his first commit (with dave's Welcome) loses.
    let (a, b) = clients.split_at_mut(1);
    a[0].add_members(&group, &[carol_id]).await.expect("alice adds carol");
    let bob = &mut b[0];
    let bob_state_epoch = bob.epoch(&group).expect("epoch");
    assert_eq!(bob_state_epoch, epoch, "bob has not processed alice's commit yet");
    bob.add_members(&group, &[dave_id])
        .await
        .expect("bob's add lands after a retry");

    wait_joined(&mut carol, &group).await;
    // Exactly one Welcome reached dave: the one of bob's winning retry.
    let welcomes: Vec<u64> = mailbox_of(&server, &dave_state)
        .await
        .iter()
        .filter(|e| e.kind == EnvelopeKind::Welcome)
        .map(|e| e.epoch)
        .collect();
    assert_eq!(
        welcomes,
        vec![epoch + 2],
        "only the winning commit's Welcome is released"
    );
    assert_eq!(
        server.logs().matches("code=stale_epoch").count(),
        1,
        "bob's first commit was refused as stale"
    );
    let mut dave = Client::connect(&server.url(), dave_state).await.expect("dave online");
    wait_joined(&mut dave, &group).await;
    assert_eq!(dave.epoch(&group).expect("epoch"), epoch + 2);
    dave.send_text(&group, "hi from dave").await.expect("dave sends");
    assert_eq!(messages(&mut carol, 1).await[0].1, "hi from dave");
    server.assert_logs_clean(&["hi from dave"]);
}

#[tokio::test]
async fn client_state_survives_a_client_restart_from_its_file() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bob.state");
    let mut alice = connect(&server).await;
    let mut bob = Client::connect(
        &server.url(),
        ClientState::create(&path, Identity::generate()).expect("state"),
    )
    .await
    .expect("bob");
    bob.publish_key_packages(3).await.expect("publish");
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add");
    wait_joined(&mut bob, &group).await;
    alice.send_text(&group, "one").await.expect("send");
    assert_eq!(messages(&mut bob, 1).await[0].1, "one");
    drop(bob); // a crash: no goodbye

    alice.send_text(&group, "two").await.expect("send");
    let mut bob = Client::connect(&server.url(), ClientState::open(&path).expect("reopen"))
        .await
        .expect("bob again");
    assert_eq!(messages(&mut bob, 1).await[0].1, "two");
    bob.send_text(&group, "back").await.expect("send");
    assert_eq!(messages(&mut alice, 1).await[0].1, "back");
}

/// A client crashes after staging (and maybe sending) a commit, before the
/// answer. Restarted from its state file it must end up in step with the
/// group either way.
async fn crash_between_commit_and_answer(commit_reaches_server: bool) {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("alice.state");
    let mut alice = Client::connect(
        &server.url(),
        ClientState::create(&path, Identity::generate()).expect("state"),
    )
    .await
    .expect("alice");
    let mut bob = connect(&server).await;
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add");
    wait_joined(&mut bob, &group).await;
    let before = alice.epoch(&group).expect("epoch");

    // Stage a commit, save it, maybe send it, and die without the answer.
    let mut state = alice.into_state().await.expect("alice offline");
    let bundle = state
        .mls_mut()
        .build_commit(&group, &CommitOp::Update)
        .expect("build")
        .expect("a commit");
    state.save().expect("saved before sending");
    if commit_reaches_server {
        let (conn, _) = Connection::connect(&server.url(), state.identity(), WAIT)
            .await
            .expect("connect");
        conn.send_and_forget(Request::SendCommit {
            commit: bundle.commit.clone().into(),
            welcome: None,
            group_info: None,
            ratchet_tree: None,
        })
        .expect("send");
        // The server accepts it whether or not anyone reads the answer.
        wait_epoch(&mut bob, &group, before + 1).await;
        drop(conn);
    }
    drop(state);

    let mut alice = Client::connect(&server.url(), ClientState::open(&path).expect("reopen"))
        .await
        .expect("alice again");
    alice.drain_available().await.expect("drain");
    let expected = if commit_reaches_server { before + 1 } else { before };
    let deadline = Instant::now() + WAIT;
    while alice.epoch(&group).expect("epoch") != expected
        || alice.state().mls().has_pending_commit(&group).expect("group")
    {
        assert!(Instant::now() < deadline, "alice never resolved her pending commit");
        alice.next_event(Duration::from_millis(200)).await.expect("event");
    }
    assert_eq!(bob.epoch(&group).expect("epoch"), expected);
    let server_epoch = alice.list_server_groups().await.expect("groups")[0].epoch;
    assert_eq!(server_epoch, expected, "client and server agree");

    alice.send_text(&group, "whole again").await.expect("alice sends");
    assert_eq!(messages(&mut bob, 1).await[0].1, "whole again");
    bob.send_text(&group, "indeed").await.expect("bob sends");
    assert_eq!(messages(&mut alice, 1).await[0].1, "indeed");
    alice.self_update(&group).await.expect("a new commit works");
    server.assert_logs_clean(&["whole again"]);
}

#[tokio::test]
async fn crash_after_sending_a_commit_heals_from_the_mailbox() {
    crash_between_commit_and_answer(true).await;
}

#[tokio::test]
async fn crash_before_a_commit_reached_the_server_is_undone() {
    crash_between_commit_and_answer(false).await;
}

#[tokio::test]
async fn stored_mailboxes_do_not_reveal_who_sent_a_message() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let mut carol = clients.pop().expect("carol").into_state().await.expect("carol offline");
    let mut bob = clients.pop().expect("bob").into_state().await.expect("bob offline");
    let mut alice = clients.pop().expect("alice");
    alice.send_text(&group, "who said this?").await.expect("send");
    let alice_state = alice.into_state().await.expect("alice offline");

    // Every member's mailbox, the sender's included, holds the same envelope.
    let mut copies = Vec::new();
    for state in [&alice_state, &bob, &carol] {
        let apps: Vec<Vec<u8>> = mailbox_of(&server, state)
            .await
            .into_iter()
            .filter(|e| e.kind == EnvelopeKind::Application)
            .map(|e| e.message.0)
            .collect();
        assert_eq!(apps.len(), 1);
        copies.push(apps[0].clone());
    }
    assert!(copies.windows(2).all(|w| w[0] == w[1]));

    // The sender skips its own copy; the others read the message.
    let mut alice = Client::connect(&server.url(), alice_state).await.expect("alice back");
    assert!(
        settle(&mut alice).await.is_empty(),
        "the sender does not see its own message as new"
    );
    for state in [&mut bob, &mut carol] {
        let s = std::mem::replace(state, ClientState::in_memory(Identity::generate()));
        let mut member = Client::connect(&server.url(), s).await.expect("back");
        assert_eq!(messages(&mut member, 1).await[0].1, "who said this?");
    }
}

#[tokio::test]
async fn a_member_whose_device_lost_its_state_is_readded_in_one_commit() {
    let server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    let old_bob = clients.pop().expect("bob");
    let mut alice = clients.pop().expect("alice");
    let bob_secret = old_bob.identity().secret_bytes();
    let bob_id = old_bob.client_id();
    drop(old_bob); // the device and its MLS state are gone; the key was backed up

    let fresh = ClientState::in_memory(Identity::from_bytes(&bob_secret).expect("identity"));
    let mut bob = Client::connect(&server.url(), fresh).await.expect("bob again");
    // The old device's key packages are useless now: withdraw them.
    let (one_time, last_resort) = bob.replace_key_packages(2).await.expect("replace");
    assert!(one_time >= 2 && last_resort);
    let before = alice.epoch(&group).expect("epoch");
    alice.readd_members(&group, &[bob_id]).await.expect("re-add");
    wait_joined(&mut bob, &group).await;
    assert_eq!(bob.epoch(&group).expect("epoch"), before + 1);
    assert_eq!(alice.members(&group).expect("members").len(), 2);

    alice.send_text(&group, "welcome back").await.expect("send");
    assert_eq!(messages(&mut bob, 1).await[0].1, "welcome back");
    bob.send_text(&group, "thanks").await.expect("send");
    assert_eq!(messages(&mut alice, 1).await[0].1, "thanks");
    let groups = bob.list_server_groups().await.expect("groups");
    assert_eq!(groups.len(), 1, "the server still counts bob as a member");
}

#[tokio::test]
async fn a_client_resynchronises_with_a_server_that_lost_its_mailboxes() {
    let mut server = ServerProcess::start();
    let mut clients = vec![connect(&server).await, connect(&server).await];
    let group = group_of(&mut clients).await;
    for i in 0..3 {
        clients[0]
            .send_text(&group, &format!("before {i}"))
            .await
            .expect("send");
    }
    messages(&mut clients[1], 3).await;
    let bob = clients.pop().expect("bob").into_state().await.expect("bob offline");
    assert!(bob.cursor() > 0);

    // The operator loses the data directory and starts afresh (moving
    // the key file away too: beside it, the server refuses to start empty).
    server.stop();
    std::fs::remove_dir_all(server.data_dir()).expect("wipe");
    std::fs::remove_file(server.key_file()).expect("wipe the key file");
    server.start_again();

    let mut bob = Client::connect(&server.url(), bob)
        .await
        .expect("bob connects to the fresh server");
    assert_eq!(bob.cursor(), 0, "cursor follows the server's mailbox");
    // And bob is told, not left to wait for what the server no longer has.
    match bob.next_event(Duration::from_secs(5)).await.expect("event") {
        Some(Event::MailboxResynchronised { cursor, server_head: 0 }) => assert!(cursor > 0),
        other => panic!("expected MailboxResynchronised, got {other:?}"),
    }
    // New traffic reaches bob: a fresh group with a fresh member.
    bob.publish_key_packages(1).await.expect("publish");
    let mut carol = connect(&server).await;
    let fresh = carol.create_group().await.expect("group");
    carol.add_members(&fresh, &[bob.client_id()]).await.expect("add bob");
    wait_joined(&mut bob, &fresh).await;
    carol.send_text(&fresh, "after the reset").await.expect("send");
    assert_eq!(messages(&mut bob, 1).await[0].1, "after the reset");
}

#[tokio::test]
async fn a_member_restored_from_an_old_backup_is_healed_by_a_readd() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bob.state");
    let backup = dir.path().join("bob.state.backup");
    let mut alice = connect(&server).await;
    let mut bob = Client::connect(
        &server.url(),
        ClientState::create(&path, Identity::generate()).expect("state"),
    )
    .await
    .expect("bob");
    bob.publish_key_packages(3).await.expect("publish");
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add");
    wait_joined(&mut bob, &group).await;
    let bob_id = bob.client_id();
    let stale_epoch = bob.epoch(&group).expect("epoch");
    std::fs::copy(&path, &backup).expect("backup");

    // The group moves on; then bob's device is restored from the backup.
    alice.self_update(&group).await.expect("commit");
    wait_epoch(&mut bob, &group, stale_epoch + 1).await;
    // Bob's acks go out, so the server no longer holds what he processed.
    drop(bob.into_state().await.expect("bob offline"));
    std::fs::copy(&backup, &path).expect("restore");
    let mut bob = Client::connect(&server.url(), ClientState::open(&path).expect("open"))
        .await
        .expect("bob restored");
    assert_eq!(
        bob.epoch(&group).expect("epoch"),
        stale_epoch,
        "the restored state is behind"
    );
    bob.replace_key_packages(2).await.expect("fresh key packages");

    let before = alice.epoch(&group).expect("epoch");
    alice.readd_members(&group, &[bob_id]).await.expect("re-add");
    wait_epoch(&mut bob, &group, before + 1).await;
    alice.send_text(&group, "in step again").await.expect("send");
    assert_eq!(messages(&mut bob, 1).await[0].1, "in step again");
    bob.send_text(&group, "yes").await.expect("send");
    assert_eq!(messages(&mut alice, 1).await[0].1, "yes");
}
