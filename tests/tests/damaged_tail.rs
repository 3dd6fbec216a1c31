//! A damaged tail: the end of sled's log file is cut (a torn write, a disk
//! that lost its last blocks). The server must either refuse to start with
//! an error that names the file and the way out, or start, say what its
//! recovery check found, and serve what survived: a member who was offline
//! gets all of it and ends at the server's head (nothing announced is
//! missing), and a member who had already read (and acked) the lost
//! messages is told that the server's mailbox is now behind him and takes
//! the new messages that reuse the lost seqs, instead of waiting forever.
//!
//! With the storage's write order (envelopes before heads, floors before
//! deletions), sled keeps a consistent prefix at every cut tried (60 cuts
//! of 4 KiB steps): no head claims a lost envelope. A head that does (the
//! "lying head" of issue 24) is made by hand in the second test: entries
//! removed from sled while the server is stopped, their head kept. The
//! start lowers it, and the member is served what is left and not left
//! waiting.

use std::path::Path;
use std::time::{Duration, Instant};

use parasol_client::{Client, ClientId, Connection, Event, Request};
use parasol_protocol::{EnvelopeKind, Response};
use parasol_tests::ServerProcess;

const WAIT: Duration = Duration::from_secs(30);
const SENT: usize = 120;

/// Remove the last `count` entries of `client`'s mailbox straight from
/// sled (the server stopped), keeping its head and floor: the damage a
/// lost log tail did in issue 24. Returns the stored head and the seqs
/// removed.
fn lose_last_entries(data: &Path, client: ClientId, count: usize) -> (u64, Vec<u64>) {
    let db = sled::open(data.join("sled")).expect("open sled");
    let mailboxes = db.open_tree("mailboxes").expect("mailboxes tree");
    let keys: Vec<_> = mailboxes.scan_prefix(client).keys().map(|k| k.expect("key")).collect();
    assert!(keys.len() >= count, "only {} entries stored", keys.len());
    let mut lost = Vec::new();
    for key in &keys[keys.len() - count..] {
        lost.push(u64::from_be_bytes(key[32..].try_into().expect("seq")));
        mailboxes.remove(key).expect("remove");
    }
    let head = db
        .open_tree("mailbox_heads")
        .expect("heads tree")
        .get(client)
        .expect("read head")
        .map(|v| u64::from_be_bytes(v.as_ref().try_into().expect("head")))
        .expect("a stored head");
    db.flush().expect("flush");
    (head, lost)
}

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(3).await.expect("publish key packages");
    c
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The data directory as it was at the stop, with `cut` bytes taken off
/// the end of sled's log file.
fn damaged_copy(pristine: &Path, data: &Path, cut: u64) {
    let _ = std::fs::remove_dir_all(data);
    copy_dir(pristine, data);
    let db = data.join("sled").join("db");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .expect("open sled's file");
    let len = file.metadata().expect("metadata").len();
    file.set_len(len.saturating_sub(cut)).expect("cut the tail");
}

/// Application envelopes in `client`'s mailbox, read raw without acking,
/// and the head the server announces.
async fn raw_mailbox(server: &ServerProcess, client: &parasol_client::ClientState) -> (u64, usize) {
    let (conn, auth) = Connection::connect(&server.url(), client.identity(), WAIT)
        .await
        .expect("raw connect");
    let mut after = 0;
    let mut applications = 0;
    loop {
        let page = conn
            .request(Request::FetchBacklog { after, limit: 500 })
            .await
            .expect("fetch_backlog");
        let Response::Backlog { envelopes, more } = page else {
            panic!("unexpected answer {page:?}");
        };
        for envelope in &envelopes {
            after = envelope.seq;
            applications += usize::from(envelope.kind == EnvelopeKind::Application);
        }
        if !more {
            break;
        }
    }
    conn.close().await;
    (auth.mailbox_head, applications)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_mailbox_tail_was_cut_gets_what_survived_and_is_not_left_waiting() {
    let mut server = ServerProcess::start();
    let mut alice = connect(&server).await;
    let mut bob = connect(&server).await;
    let mut dave = connect(&server).await;
    let group = alice.create_group().await.expect("group");
    let ids: Vec<ClientId> = vec![bob.client_id(), dave.client_id()];
    alice.add_members(&group, &ids).await.expect("add bob and dave");
    for member in [&mut bob, &mut dave] {
        let deadline = Instant::now() + WAIT;
        while !member.groups().contains(&group) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(member.next_event(left).await.expect("event").is_some(), "no Welcome");
        }
    }
    // Bob goes offline; dave reads everything. Every send is acknowledged.
    let bob = bob.into_state().await.expect("bob offline");
    let sent: Vec<String> = (0..SENT).map(|i| format!("kept or cut {i:03}")).collect();
    for text in &sent {
        alice.send_text(&group, text).await.expect("acknowledged send");
    }
    let mut read = 0;
    let deadline = Instant::now() + WAIT;
    while read < SENT {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "dave read {read} of {SENT}");
        if let Some(Event::Message { .. }) = dave.next_event(left).await.expect("event") {
            read += 1;
        }
    }
    // Quiet: his acks go out.
    while let Ok(Some(_)) = dave.next_event(Duration::from_millis(500)).await {}
    let dave = dave.into_state().await.expect("dave offline");
    let dave_cursor = dave.cursor();
    server.stop();
    let pristine_root = tempfile::tempdir().expect("dir");
    let pristine = pristine_root.path().join("data");
    copy_dir(&server.data_dir(), &pristine);
    let db_len = std::fs::metadata(pristine.join("sled").join("db")).expect("db").len();

    // Cut more and more until envelopes are lost; a cut the server cannot
    // open must be refused clearly, never with a panic.
    let mut cut = 4096;
    let mut refused = 0;
    let surviving = loop {
        assert!(
            cut < db_len,
            "no cut of sled's {db_len}-byte file lost an envelope but kept the group"
        );
        damaged_copy(&pristine, &server.data_dir(), cut);
        let probe = server.admin(&["list"], "");
        if !probe.status.success() {
            let stderr = String::from_utf8_lossy(&probe.stderr);
            assert!(!stderr.contains("panicked"), "a panic, not an error:\n{stderr}");
            assert!(
                stderr.contains("sled") && (stderr.contains("backup") || stderr.contains("Restore")),
                "the error names the file and the way out:\n{stderr}"
            );
            refused += 1;
            cut *= 2;
            continue;
        }
        // The probe opened (and repaired) it; start the server on the
        // same damage as it was, so its own start-up check finds it.
        damaged_copy(&pristine, &server.data_dir(), cut);
        server.start_again();
        let (head, applications) = raw_mailbox(&server, &bob).await;
        let (dave_head, _) = raw_mailbox(&server, &dave).await;
        if applications < SENT && dave_head < dave_cursor {
            println!(
                "damaged tail: cut {cut} of {db_len} bytes: {applications} of {SENT} messages survived, bob's head {head}, \
                 dave's head {dave_head} below his cursor {dave_cursor} ({refused} cuts refused before)"
            );
            break applications;
        }
        server.kill();
        cut *= 2;
    };
    let logs = server.logs();
    let recovery = logs
        .lines()
        .rfind(|l| l.contains("storage recovery"))
        .expect("the start logged its recovery check");
    println!("{recovery}");
    assert!(!logs.contains("panicked"));

    // Bob comes back: he gets every message that survived, in order, once,
    // and then his cursor is at the server's head: nothing announced is
    // missing, so nothing is waited for.
    let mut bob = Client::connect(&server.url(), bob).await.expect("bob connects");
    let mut texts = Vec::new();
    let deadline = Instant::now() + WAIT;
    while texts.len() < surviving {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "bob got {} of {surviving} surviving messages",
            texts.len()
        );
        if let Some(Event::Message { text, .. }) =
            bob.next_event(left.min(Duration::from_secs(1))).await.expect("event")
        {
            texts.push(text);
        }
    }
    assert_eq!(texts, sent[..surviving], "what survived is a prefix, in order, once");
    while let Ok(Some(_)) = bob.next_event(Duration::from_millis(500)).await {}
    let head = bob.authenticated().expect("authenticated").mailbox_head;
    assert!(
        bob.cursor() >= head,
        "bob's cursor {} is below the head {head} the server announced: he would wait forever",
        bob.cursor()
    );

    // And the mailbox goes on: a new message reaches him.
    let deadline = Instant::now() + WAIT;
    while let Err(e) = alice.reconnect().await {
        assert!(Instant::now() < deadline, "alice cannot reconnect: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Dave had read and acked what is now lost: he is told at once that
    // the server's mailbox is behind him, and resynchronises to it.
    let mut dave = Client::connect(&server.url(), dave).await.expect("dave connects");
    let server_head = dave.authenticated().expect("authenticated").mailbox_head;
    match dave.next_event(Duration::from_secs(5)).await.expect("event") {
        Some(Event::MailboxResynchronised {
            cursor,
            server_head: told,
        }) => {
            assert_eq!((cursor, told), (dave_cursor, server_head));
        }
        other => panic!("dave was not told: {other:?}"),
    }
    assert_eq!(dave.cursor(), server_head);

    alice
        .send_text(&group, "after the cut")
        .await
        .expect("send after the cut");
    for (name, member) in [("bob", &mut bob), ("dave", &mut dave)] {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "the message after the cut never reached {name}");
            if let Some(Event::Message { text, .. }) = member.next_event(left).await.expect("event") {
                assert_eq!(text, "after the cut", "{name}");
                break;
            }
        }
    }
}

/// The "lying head" over a real socket: an offline member's last entries
/// are gone while his stored head still claims them. The start lowers the
/// head and says so; he gets what survived, his cursor ends at the head
/// the server announces (nothing to wait for), and the next message
/// reaches him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_claims_lost_entries_is_lowered_and_the_member_is_not_left_waiting() {
    const SENT_HERE: usize = 30;
    const LOST: usize = 7;
    let mut server = ServerProcess::start();
    let mut alice = connect(&server).await;
    let mut bob = connect(&server).await;
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add bob");
    let deadline = Instant::now() + WAIT;
    while !bob.groups().contains(&group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(bob.next_event(left).await.expect("event").is_some(), "no Welcome");
    }
    // Quiet: his acks for the Welcome go out before he leaves.
    while let Ok(Some(_)) = bob.next_event(Duration::from_millis(500)).await {}
    let bob = bob.into_state().await.expect("bob offline");
    let sent: Vec<String> = (0..SENT_HERE).map(|i| format!("maybe lost {i:03}")).collect();
    for text in &sent {
        alice.send_text(&group, text).await.expect("acknowledged send");
    }
    let (head_before, stored) = raw_mailbox(&server, &bob).await;
    assert_eq!(stored, SENT_HERE, "every acknowledged send is stored for bob");
    server.stop();

    let data = server.data_dir();
    let bob_id = bob.client_id();
    let (stored_head, lost) = tokio::task::spawn_blocking(move || lose_last_entries(&data, bob_id, LOST))
        .await
        .expect("sled edit");
    assert_eq!(stored_head, head_before);
    assert_eq!(lost.last(), Some(&head_before), "the head claims the lost entries");

    server.start_again();
    let logs = server.logs();
    let recovery = logs
        .lines()
        .rfind(|l| l.contains("storage recovery"))
        .expect("the start logged its recovery check");
    assert!(
        recovery.contains("heads_lowered=1") && recovery.contains(&format!("seqs_lost={LOST}")),
        "the start reports the lowered head: {recovery}"
    );
    let (head_after, applications) = raw_mailbox(&server, &bob).await;
    assert_eq!(applications, SENT_HERE - LOST);
    assert_eq!(
        head_after,
        head_before - LOST as u64,
        "the head comes down to what is stored"
    );

    // Bob comes back: what survived, in order, once; then his cursor is at
    // the announced head, so he waits for nothing.
    let mut bob = Client::connect(&server.url(), bob).await.expect("bob connects");
    assert_eq!(bob.authenticated().expect("authenticated").mailbox_head, head_after);
    let mut texts = Vec::new();
    let deadline = Instant::now() + WAIT;
    while texts.len() < SENT_HERE - LOST {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "bob got {} of {} surviving messages",
            texts.len(),
            SENT_HERE - LOST
        );
        if let Some(Event::Message { text, .. }) =
            bob.next_event(left.min(Duration::from_secs(1))).await.expect("event")
        {
            texts.push(text);
        }
    }
    assert_eq!(texts, sent[..SENT_HERE - LOST]);
    while let Ok(Some(_)) = bob.next_event(Duration::from_millis(500)).await {}
    assert_eq!(
        bob.cursor(),
        head_after,
        "bob's cursor is at the head: nothing left to wait for"
    );

    // The mailbox goes on: the next message takes the first lost seq and
    // reaches him.
    let deadline = Instant::now() + WAIT;
    while let Err(e) = alice.reconnect().await {
        assert!(Instant::now() < deadline, "alice cannot reconnect: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alice
        .send_text(&group, "after the repair")
        .await
        .expect("send after the repair");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the message after the repair never reached bob");
        if let Some(Event::Message { text, .. }) = bob.next_event(left).await.expect("event") {
            assert_eq!(text, "after the repair");
            break;
        }
    }
    assert_eq!(bob.cursor(), head_after + 1);
    assert!(!server.logs().contains("panicked"));
}
