//! Configured limits are enforced with typed errors, and envelopes leave the
//! server when acked or when retention expires.

use std::time::{Duration, Instant};

use parasol_client::{Client, ClientState, Connection, ErrorCode, Event, Identity, Request};
use parasol_protocol::Response;
use parasol_tests::drive::{code, WAIT};
use parasol_tests::{create_staff, staff_login, ServerProcess};

async fn wait_joined(c: &mut Client, group: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !c.groups().iter().any(|g| g == group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(c.next_event(left).await.expect("event").is_some(), "no Welcome arrived");
    }
}

async fn next_text(c: &mut Client) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message { text, .. }) => return text,
            Some(_) => {}
            None => panic!("no message arrived"),
        }
    }
}

/// Alice, bob and carol in one group that alice created.
async fn three_in_a_group(server: &ServerProcess) -> (Client, Client, Client, Vec<u8>) {
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let mut bob = Client::connect_ephemeral(&url).await.expect("bob");
    let mut carol = Client::connect_ephemeral(&url).await.expect("carol");
    bob.publish_key_packages(1).await.expect("publish");
    carol.publish_key_packages(1).await.expect("publish");
    let group = alice.create_group().await.expect("group");
    alice
        .add_members(&group, &[bob.client_id(), carol.client_id()])
        .await
        .expect("add");
    wait_joined(&mut bob, &group).await;
    wait_joined(&mut carol, &group).await;
    (alice, bob, carol, group)
}

/// The unacked envelopes the server holds for an offline client.
async fn stored_for(server: &ServerProcess, state: &ClientState) -> usize {
    let (conn, _) = Connection::connect(&server.url(), state.identity(), Duration::from_secs(10))
        .await
        .expect("connect");
    let n = match conn
        .request(Request::FetchBacklog { after: 0, limit: 500 })
        .await
        .expect("fetch")
    {
        Response::Backlog { envelopes, .. } => envelopes.len(),
        other => panic!("unexpected {other:?}"),
    };
    conn.close().await;
    n
}

#[tokio::test]
async fn configured_limits_are_enforced_with_typed_errors() {
    let server = ServerProcess::start_with_config(
        "[limits]\nmax_key_packages_per_client = 3\nmax_groups_per_client = 2\nmax_members_per_group = 3\n",
    );
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");

    // One-time key packages per client.
    assert_eq!(alice.publish_key_packages(3).await.expect("publish").0, 3);
    assert_eq!(code(alice.publish_key_packages(1).await), ErrorCode::LimitExceeded);

    // Groups per client.
    let group = alice.create_group().await.expect("first group");
    let _second = alice.create_group().await.expect("second group");
    assert_eq!(code(alice.create_group().await), ErrorCode::LimitExceeded);

    // Members per group: alice plus two fit, a third does not.
    let mut others = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect_ephemeral(&url).await.expect("member");
        c.publish_key_packages(2).await.expect("publish");
        others.push(c);
    }
    let ids: Vec<_> = others.iter().map(Client::client_id).collect();
    alice.add_members(&group, &ids[..2]).await.expect("two members fit");
    assert_eq!(
        code(alice.add_members(&group, &ids[2..]).await),
        ErrorCode::LimitExceeded
    );

    // The refused commit left the group intact.
    for c in others[..2].iter_mut() {
        wait_joined(c, &group).await;
    }
    alice.send_text(&group, "still three of us").await.expect("send");
    assert_eq!(next_text(&mut others[0]).await, "still three of us");
    assert_eq!(alice.members(&group).expect("members").len(), 3);

    // Groups per client, for a client being added: the third member already
    // sits in two groups of its own.
    let mut busy = others.pop().expect("busy");
    busy.create_group().await.expect("busy's first");
    busy.create_group().await.expect("busy's second");
    let solo = alice.create_group().await;
    assert_eq!(
        code(solo),
        ErrorCode::LimitExceeded,
        "alice herself is at her limit too"
    );
    let mut carol = others.pop().expect("carol");
    let carol_group = carol.create_group().await.expect("carol's second group");
    assert_eq!(
        code(carol.add_members(&carol_group, &[busy.client_id()]).await),
        ErrorCode::LimitExceeded
    );
    busy.ping().await.expect("still connected");
    server.assert_logs_clean(&["still three of us"]);
}

#[tokio::test]
async fn anonymous_keys_get_a_smaller_share_of_groups_than_staff() {
    let server =
        ServerProcess::start_with_config("[limits]\nmax_groups_per_anonymous_client = 2\nmax_groups_per_client = 4\n");
    let url = server.url();
    let mut visitor = Client::connect_ephemeral(&url).await.expect("visitor");
    visitor.create_group().await.expect("first group");
    visitor.create_group().await.expect("second group");
    assert_eq!(code(visitor.create_group().await), ErrorCode::LimitExceeded);

    // Nor can an anonymous key at its share be added to another group.
    visitor.publish_key_packages(1).await.expect("publish");
    let mut other = Client::connect_ephemeral(&url).await.expect("other");
    let group = other.create_group().await.expect("other's group");
    assert_eq!(
        code(other.add_members(&group, &[visitor.client_id()]).await),
        ErrorCode::LimitExceeded
    );

    // A staff key gets the full `max_groups_per_client`.
    let password = create_staff(&server, "ana", "Ana", "counsellor", "en", 3);
    let token = staff_login(&server, "ana", &password);
    let mut staff = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff");
    for n in 0..4 {
        staff
            .create_group()
            .await
            .unwrap_or_else(|e| panic!("staff group {n}: {e}"));
    }
    assert_eq!(code(staff.create_group().await), ErrorCode::LimitExceeded);
}

#[tokio::test]
async fn the_key_package_directory_is_bounded_in_all() {
    // The anonymous keys' pool is 5 of the directory's 8.
    let server = ServerProcess::start_with_config(
        "[limits]\nmax_key_packages_per_client = 3\nmax_stored_key_packages = 8\nmax_anonymous_stored_key_packages = 5\n",
    );
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let mut bob = Client::connect_ephemeral(&url).await.expect("bob");
    let mut carol = Client::connect_ephemeral(&url).await.expect("carol");
    assert_eq!(alice.publish_key_packages(3).await.expect("alice publishes").0, 3);
    // Within bob's own bound, but past the directory's.
    assert_eq!(code(bob.publish_key_packages(3).await), ErrorCode::LimitExceeded);
    assert_eq!(bob.publish_key_packages(2).await.expect("bob fills it").0, 2);
    assert_eq!(code(carol.publish_key_packages(1).await), ErrorCode::LimitExceeded);
    assert_eq!(
        code(carol.publish_last_resort_key_package().await),
        ErrorCode::LimitExceeded
    );
    // A claimed package makes room again.
    let group = carol.create_group().await.expect("carol's group");
    carol
        .add_members(&group, &[alice.client_id()])
        .await
        .expect("claims one of alice's");
    assert_eq!(carol.publish_key_packages(1).await.expect("room again").0, 1);
    alice.ping().await.expect("alice still connected");
}

#[tokio::test]
async fn acked_envelopes_are_deleted_and_unacked_ones_expire() {
    let server = ServerProcess::start_with_config("retention_secs = 2\npurge_interval_secs = 1\n");
    let (mut alice, mut bob, carol, group) = three_in_a_group(&server).await;

    // Carol goes offline; bob stays and reads (and so acks) everything.
    let carol_state = carol.into_state().await.expect("carol offline");
    for i in 0..3 {
        alice.send_text(&group, &format!("note {i}")).await.expect("send");
    }
    for _ in 0..3 {
        next_text(&mut bob).await;
    }
    // Let bob's batched ack go out, then look at his mailbox from outside.
    while bob
        .next_event(Duration::from_millis(300))
        .await
        .expect("event")
        .is_some()
    {}
    let bob_state = bob.into_state().await.expect("bob offline");
    assert_eq!(stored_for(&server, &bob_state).await, 0, "acked envelopes are deleted");
    assert_eq!(
        stored_for(&server, &carol_state).await,
        3,
        "carol's envelopes wait for her"
    );

    // Nobody acks carol's; retention deletes them anyway.
    let deadline = Instant::now() + WAIT;
    while stored_for(&server, &carol_state).await > 0 {
        assert!(
            Instant::now() < deadline,
            "retention never purged the unacked envelopes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Every step of the purge ran: envelopes, idle groups, the index.
    let logs = server.logs();
    assert!(logs.contains("retention purge") && logs.contains("groups="), "{logs}");
    assert!(logs.contains("mailbox index trimmed"), "{logs}");
    server.assert_logs_clean(&["note 1"]);
}

#[tokio::test]
async fn a_full_mailbox_misses_messages_without_blocking_its_group() {
    let server = ServerProcess::start_with_config("[limits]\nmax_mailbox_envelopes = 5\n");
    let (mut alice, mut bob, carol, group) = three_in_a_group(&server).await;
    let carol_state = carol.into_state().await.expect("carol stops reading");

    for i in 0..10 {
        alice
            .send_text(&group, &format!("busy {i}"))
            .await
            .expect("sending never fails for carol's sake");
        assert_eq!(next_text(&mut bob).await, format!("busy {i}"));
        // Alice reads her mailbox as any client does (her own copies are
        // there too; a sender whose mailbox is full must read first).
        while alice
            .next_event(Duration::from_millis(50))
            .await
            .expect("event")
            .is_some()
        {}
    }
    assert!(
        stored_for(&server, &carol_state).await <= 5,
        "carol's mailbox stays bounded"
    );

    // A sender that never reads fills its own mailbox with its copies; it
    // must read before it can send more (skipping its copy would reveal it).
    let mut refused = false;
    for i in 0..6 {
        match alice.send_text(&group, &format!("unread {i}")).await {
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.server_code(), Some(ErrorCode::LimitExceeded), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the sender's full mailbox stopped it");
    while alice
        .next_event(Duration::from_millis(100))
        .await
        .expect("event")
        .is_some()
    {}
    alice
        .send_text(&group, "after reading")
        .await
        .expect("reading made room");
}

#[tokio::test]
async fn commit_and_claim_rates_are_limited() {
    let server = ServerProcess::start_with_config(
        "[limits]\ncommits_per_minute = 3\nkey_package_claims_per_target_per_minute = 2\n",
    );
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let group = alice.create_group().await.expect("group");
    for _ in 0..3 {
        alice.self_update(&group).await.expect("within the commit rate");
    }
    assert_eq!(code(alice.self_update(&group).await), ErrorCode::LimitExceeded);

    // One client's one-time packages are handed out only so fast, counted
    // for everyone together (a fresh connection gets no fresh budget). Past
    // the rate, claimers get the last-resort package: the client can still
    // be added, and its one-time stock is not drained.
    let mut target = Client::connect_ephemeral(&url).await.expect("target");
    target.publish_key_packages(10).await.expect("publish");
    let claim = Request::ClaimKeyPackage {
        client_id: target.client_id().to_vec().into(),
    };
    let is_last_resort = |r: Response| match r {
        Response::KeyPackage { last_resort, .. } => last_resort,
        other => panic!("unexpected {other:?}"),
    };
    let first = Client::connect_ephemeral(&url).await.expect("first claimer");
    assert!(!is_last_resort(first.request(claim.clone()).await.expect("claim 1")));
    assert!(!is_last_resort(first.request(claim.clone()).await.expect("claim 2")));
    let second = Client::connect_ephemeral(&url).await.expect("second claimer");
    // No last-resort package yet: the rate limit is the answer.
    assert_eq!(code(second.request(claim.clone()).await), ErrorCode::LimitExceeded);
    target.publish_last_resort_key_package().await.expect("last resort");
    assert!(is_last_resort(second.request(claim.clone()).await.expect("claim 3")));
    assert!(is_last_resort(second.request(claim).await.expect("claim 4")));
    match target
        .request(Request::PublishKeyPackages {
            key_packages: vec![],
            replace: false,
        })
        .await
    {
        Ok(Response::KeyPackagesPublished { one_time, .. }) => {
            assert_eq!(one_time, 8, "only two one-time packages went")
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn idle_timeout_counts_only_the_clients_own_frames() {
    // Alice sends as fast as she can: lift the anonymous frame rate.
    let server =
        ServerProcess::start_with_config("[connections]\nidle_timeout_secs = 3\n[intake]\nframes_per_second = 10000\n");
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let mut bob = Client::connect_ephemeral(&url).await.expect("bob");
    bob.publish_key_packages(1).await.expect("publish");
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add");
    wait_joined(&mut bob, &group).await;
    let bob_state = bob.into_state().await.expect("bob offline");

    // Bob's silent connection subscribes and then never sends a frame.
    let (mut silent, _) = Connection::connect(&url, bob_state.identity(), Duration::from_secs(10))
        .await
        .expect("connect");
    silent
        .request(Request::Subscribe {
            after: bob_state.cursor(),
        })
        .await
        .expect("subscribe");
    // Alice's own idle time restarts here: on a loaded machine the set-up
    // above can take longer than the idle timeout, which closes her too.
    if alice.ping().await.is_err() {
        alice.reconnect().await.expect("alice reconnects");
    }
    let started = Instant::now();
    let mut pushes = 0;
    let code = loop {
        alice.send_text(&group, "keep talking").await.expect("send");
        match silent.next_incoming(Duration::from_millis(300)).await {
            Some(parasol_client::Incoming::Closed { code, .. }) => break code,
            Some(_) => pushes += 1,
            None => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the silent connection was never closed"
        );
    };
    assert_eq!(code, Some(parasol_protocol::close::IDLE_TIMEOUT));
    assert!(pushes > 0, "envelopes were pushed while it idled");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "closed about when its idle time ran out"
    );
}
