//! Crash safety: the real server process is killed with SIGKILL at random
//! moments while several real MLS clients send continuously (and commit
//! now and then). After every restart the database must open cleanly, and
//! every message whose send was acknowledged must reach every other member
//! of its group exactly once; a send the crash cut off may arrive or not,
//! but never twice.
//!
//! `PARASOL_CRASH_CYCLES` sets the number of kills (default 20; 100 for
//! the long mode) and `PARASOL_CRASH_SEED` replays a failing run's moments.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parasol_client::{Client, ClientId, Event};
use parasol_tests::ServerProcess;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(30);

/// One sender: a client, its group and the texts the server acknowledged.
struct Member {
    name: String,
    client: Client,
    group: Vec<u8>,
    /// Commit a self-update every this many sends (0: never).
    commit_every: u32,
}

/// What a member's receiving side has seen, by text.
type Seen = HashMap<String, u32>;

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(5).await.expect("publish key packages");
    c
}

async fn group_of(clients: &mut [Client]) -> Vec<u8> {
    let (creator, others) = clients.split_first_mut().expect("a creator");
    let group = creator.create_group().await.expect("create group");
    let ids: Vec<ClientId> = others.iter().map(Client::client_id).collect();
    creator.add_members(&group, &ids).await.expect("add members");
    for c in others.iter_mut() {
        let deadline = Instant::now() + WAIT;
        while !c.groups().contains(&group) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(c.next_event(left).await.expect("event").is_some(), "no Welcome arrived");
        }
    }
    group
}

/// Send until the server goes away; returns the member and the texts that
/// were acknowledged.
async fn send_until_cut(mut m: Member, cycle: u32) -> (Member, Vec<String>) {
    let mut acked = Vec::new();
    for n in 0u32.. {
        if m.commit_every > 0 && n % m.commit_every == m.commit_every - 1 {
            if m.client.self_update(&m.group).await.is_err() {
                break;
            }
            continue;
        }
        let text = format!("{}/{cycle}/{n}", m.name);
        match m.client.send_text(&m.group, &text).await {
            Ok(_) => acked.push(text),
            Err(_) => break,
        }
    }
    (m, acked)
}

/// Reconnect after the restart; the first attempts may race the listener.
async fn reconnect(m: &mut Member) {
    let deadline = Instant::now() + WAIT;
    loop {
        match m.client.reconnect().await {
            Ok(()) => return,
            Err(e) => {
                assert!(Instant::now() < deadline, "{} cannot reconnect: {e}", m.name);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Process `m`'s events until every text in `expected` has been seen,
/// counting every message that arrives.
async fn receive(m: &mut Member, seen: &mut Seen, expected: &[String], seed: u64) {
    let deadline = Instant::now() + WAIT;
    while expected.iter().any(|t| !seen.contains_key(t)) {
        let left = deadline.saturating_duration_since(Instant::now());
        let missing = expected.iter().filter(|t| !seen.contains_key(*t)).count();
        assert!(
            !left.is_zero(),
            "{}: {missing} acknowledged messages never arrived (seed {seed})",
            m.name
        );
        match m.client.next_event(left.min(Duration::from_secs(1))).await {
            Ok(Some(Event::Message { text, .. })) => *seen.entry(text).or_default() += 1,
            Ok(_) => {}
            Err(e) => panic!("{}: receiving failed: {e} (seed {seed})", m.name),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_random_sigkills_exactly_once() {
    let cycles: u32 = std::env::var("PARASOL_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("PARASOL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash safety: {cycles} cycles, seed {seed} (PARASOL_CRASH_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();

    let mut server = ServerProcess::start();
    // A group of three (one of whom commits now and then) and a 1:1 chat.
    let mut trio = vec![connect(&server).await, connect(&server).await, connect(&server).await];
    let trio_group = group_of(&mut trio).await;
    let mut pair = vec![connect(&server).await, connect(&server).await];
    let pair_group = group_of(&mut pair).await;
    let mut members: Vec<Member> = Vec::new();
    for (i, client) in trio.into_iter().enumerate() {
        members.push(Member {
            name: format!("trio{i}"),
            client,
            group: trio_group.clone(),
            commit_every: if i == 0 { 7 } else { 0 },
        });
    }
    for (i, client) in pair.into_iter().enumerate() {
        members.push(Member {
            name: format!("pair{i}"),
            client,
            group: pair_group.clone(),
            commit_every: 0,
        });
    }

    // Every text acknowledged to its sender, by group.
    let mut acked: Vec<(Vec<u8>, String, String)> = Vec::new();
    let mut seen: Vec<Seen> = members.iter().map(|_| Seen::new()).collect();
    for cycle in 0..cycles {
        let tasks: Vec<_> = members
            .drain(..)
            .map(|m| tokio::spawn(send_until_cut(m, cycle)))
            .collect();
        // A random moment: early in a round, mid-flush, or after a while.
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..700))).await;
        server.kill();
        for task in tasks {
            let (m, texts) = task.await.expect("sender task");
            acked.extend(texts.into_iter().map(|t| (m.group.clone(), m.name.clone(), t)));
            members.push(m);
        }
        server.start_again();
        for m in members.iter_mut() {
            reconnect(m).await;
        }

        for (i, m) in members.iter_mut().enumerate() {
            let expected: Vec<String> = acked
                .iter()
                .filter(|(g, sender, _)| *g == m.group && *sender != m.name)
                .map(|(_, _, t)| t.clone())
                .collect();
            receive(m, &mut seen[i], &expected, seed).await;
        }
    }

    // Let anything still in flight arrive, then count.
    for (i, m) in members.iter_mut().enumerate() {
        while let Ok(Some(event)) = m.client.next_event(Duration::from_millis(500)).await {
            if let Event::Message { text, .. } = event {
                *seen[i].entry(text).or_default() += 1;
            }
        }
    }
    for (i, m) in members.iter().enumerate() {
        let twice: Vec<_> = seen[i].iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{} received messages twice: {twice:?} (seed {seed})",
            m.name
        );
    }
    let delivered: usize = seen.iter().map(|s| s.len()).sum();

    // The database opened cleanly after every kill.
    let logs = server.logs();
    assert_eq!(
        logs.matches("storage opened").count(),
        cycles as usize + 1,
        "every start opened its storage (seed {seed})"
    );
    for bad in ["fatal", "corrupt", "panicked"] {
        assert!(
            !logs.to_lowercase().contains(bad),
            "the server logged {bad:?} (seed {seed}):\n{logs}"
        );
    }
    // Every member still talks after the last crash.
    for m in members.iter_mut() {
        m.client
            .send_text(&m.group, "after the storm")
            .await
            .expect("send after the last crash");
    }
    println!(
        "crash safety: {cycles} SIGKILLs, {} acknowledged sends, {delivered} distinct deliveries, none twice, {:.1} s",
        acked.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        acked.len() > cycles as usize,
        "the clients hardly sent anything (seed {seed})"
    );
    server.assert_logs_clean(&["after the storm"]);
}

/// A member that reads its mailbox raw (`fetch_backlog` and `ack`), to
/// check the sequence numbers themselves, as PROTOCOL.md states them:
/// they start at 1 and never have gaps or repeat, across restarts too.
struct Observer {
    client: Client,
    /// Last seq read.
    cursor: u64,
    /// Application envelopes read, per group.
    applications: HashMap<Vec<u8>, usize>,
    /// Every ciphertext read: none may come twice.
    ciphertexts: std::collections::HashSet<[u8; 32]>,
}

impl Observer {
    /// Read everything above the cursor, page by page, acking as it goes;
    /// fails on any seq that is not the cursor's successor.
    async fn read_all(&mut self, seed: u64) {
        use parasol_protocol::{EnvelopeKind, Request, Response};
        use sha2::{Digest, Sha256};
        let head = self.client.authenticated().expect("authenticated").mailbox_head;
        assert!(
            head >= self.cursor,
            "the server's head {head} is below seq {} already read: seqs would repeat (seed {seed})",
            self.cursor
        );
        loop {
            let page = self
                .client
                .request(Request::FetchBacklog {
                    after: self.cursor,
                    limit: 500,
                })
                .await
                .expect("fetch_backlog");
            let Response::Backlog { envelopes, more } = page else {
                panic!("unexpected answer {page:?}");
            };
            for envelope in envelopes {
                assert_eq!(
                    envelope.seq,
                    self.cursor + 1,
                    "a gap or a repeat after seq {} (seed {seed})",
                    self.cursor
                );
                self.cursor = envelope.seq;
                let hash: [u8; 32] = Sha256::digest(&envelope.message).into();
                assert!(
                    self.ciphertexts.insert(hash),
                    "seq {} repeats an earlier envelope (seed {seed})",
                    envelope.seq
                );
                if envelope.kind == EnvelopeKind::Application {
                    *self.applications.entry(envelope.group_id.0.to_vec()).or_default() += 1;
                }
            }
            if self.cursor > 0 {
                self.client
                    .request(Request::Ack { up_to: self.cursor })
                    .await
                    .expect("ack");
            }
            if !more {
                break;
            }
        }
        assert!(
            self.cursor >= head,
            "the head promised seq {head} but the mailbox ends at {} (seed {seed})",
            self.cursor
        );
    }
}

/// Sequence numbers across SIGKILLs under load: an observer in both groups
/// reads its mailbox after every restart; every seq is its predecessor + 1,
/// no ciphertext comes twice, the head never falls below what was read,
/// and every acknowledged send of each group is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_stay_contiguous_across_sigkills() {
    let cycles: u32 = std::env::var("PARASOL_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("PARASOL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("sequence numbers: {cycles} cycles, seed {seed} (PARASOL_CRASH_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut server = ServerProcess::start();
    let mut trio = vec![connect(&server).await, connect(&server).await, connect(&server).await];
    trio.push(connect(&server).await); // the observer
    let trio_group = group_of(&mut trio).await;
    let observer_client = trio.pop().expect("observer");
    let mut pair = vec![connect(&server).await, connect(&server).await, observer_client];
    let pair_group = group_of(&mut pair).await;
    let observer_client = pair.pop().expect("observer");
    let mut observer = Observer {
        cursor: observer_client.cursor(),
        client: observer_client,
        applications: HashMap::new(),
        ciphertexts: Default::default(),
    };
    let mut members: Vec<Member> = Vec::new();
    for (i, client) in trio.into_iter().enumerate() {
        members.push(Member {
            name: format!("trio{i}"),
            client,
            group: trio_group.clone(),
            commit_every: if i == 0 { 5 } else { 0 },
        });
    }
    for (i, client) in pair.into_iter().enumerate() {
        members.push(Member {
            name: format!("pair{i}"),
            client,
            group: pair_group.clone(),
            commit_every: 0,
        });
    }

    let mut acked_per_group: HashMap<Vec<u8>, usize> = HashMap::new();
    for cycle in 0..cycles {
        let tasks: Vec<_> = members
            .drain(..)
            .map(|m| tokio::spawn(send_until_cut(m, cycle)))
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(20..700))).await;
        server.kill();
        for task in tasks {
            let (m, texts) = task.await.expect("sender task");
            *acked_per_group.entry(m.group.clone()).or_default() += texts.len();
            members.push(m);
        }
        server.start_again();
        for m in members.iter_mut() {
            reconnect(m).await;
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match observer.client.reconnect().await {
                Ok(()) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "the observer cannot reconnect: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        observer.read_all(seed).await;
        for (group, acked) in &acked_per_group {
            let read = observer.applications.get(group).copied().unwrap_or(0);
            assert!(
                read >= *acked,
                "cycle {cycle}: {acked} sends acknowledged in a group, {read} in the observer's mailbox (seed {seed})"
            );
        }
    }
    let logs = server.logs();
    assert_eq!(
        logs.matches("heads_lowered=0").count(),
        cycles as usize + 1,
        "a kill never loses a stored entry that a head claims (seed {seed})"
    );
    println!(
        "sequence numbers: {cycles} SIGKILLs, {} seqs read without a gap or repeat, {} sends acknowledged",
        observer.cursor,
        acked_per_group.values().sum::<usize>()
    );
}
