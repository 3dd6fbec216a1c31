//! Issue 17: a full disk. The data directory sits on a small tmpfs;
//! anonymous senders fill it until the free-space floor refuses them with
//! `storage_full`, and the server stays up. Messages acknowledged earlier
//! stay deliverable. With the disk then filled to the last byte, the server
//! starts 20 times in a row, and once space is added sends succeed again
//! with no manual step.
//!
//! Needs root (to mount the tmpfs), as CI and developers' machines here are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use parasol_client::{Client, ClientError, ErrorCode};
use parasol_tests::drive::{code, wait_message};
use parasol_tests::{server_binary, ServerProcess};

/// The tmpfs mount, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs at {} (this test needs root)",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("running mount");
        assert!(status.success(), "cannot resize the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Write zeros into `path` until the filesystem is full.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    while let Ok(n) = file.write(&chunk) {
        if n == 0 {
            break;
        }
        written += n as u64;
    }
    let _ = file.sync_all();
    written
}

const CONFIG: &str = "[storage.budgets]\n\
    min_free_bytes = 12582912\n\
    anonymous_key_bytes_per_day = 1073741824\n\
    anonymous_source_bytes_per_day = 1073741824\n\
    anonymous_total_bytes_per_day = 1073741824\n\
    [storage]\ncache_bytes = 4194304\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_writes_and_never_stops_a_restart() {
    let mut tmpfs = None;
    let mut server = ServerProcess::start_prepared(server_binary(), CONFIG, |root| {
        tmpfs = Some(Tmpfs::mount(&root.join("data"), "48m"));
    });
    let tmpfs = tmpfs.expect("mounted");
    let url = server.url();

    // Alice writes to Bob, who is offline: the early messages must survive.
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let mut bob = Client::connect_ephemeral(&url).await.expect("bob");
    bob.publish_key_packages(2).await.expect("bob's key packages");
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("bob added");
    let bob_state = bob.into_state().await.expect("bob goes offline");
    for n in 0..3 {
        alice
            .send_text(&group, &format!("early {n}"))
            .await
            .expect("early message");
    }

    // The flood: 60 KiB messages until the floor refuses them.
    let big = "x".repeat(60 * 1024);
    let mut sent = 0;
    let refused = loop {
        match alice.send_text(&group, &big).await {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
        assert!(sent < 2_000, "48 MiB never filled up");
    };
    assert_eq!(
        code::<()>(Err(refused)),
        ErrorCode::StorageFull,
        "after {sent} messages"
    );
    // Still up: reads and pings answer, /healthz too.
    alice.ping().await.expect("the server answers below the floor");
    let (status, _) = parasol_tests::http_request(server.addr(), "GET", "/healthz", &[], "");
    assert_eq!(status, 200);

    // Now really full, to the last byte: starting must still work.
    let filler = tmpfs.0.join("filler");
    fill(&filler);
    drop(alice);
    for start in 0..20 {
        let stopped = server.terminate_within(Duration::from_secs(10));
        assert!(stopped.is_some(), "start {start}: the server did not stop");
        // `start_again` panics with the log if the server exits before
        // listening.
        server.start_again();
    }
    let url = server.url();

    // Space is added (the operator grows the volume, or frees files):
    // sends succeed again, and Bob reads what was acknowledged before.
    std::fs::remove_file(&filler).unwrap();
    tmpfs.resize("96m");
    let mut bob = Client::connect(&url, bob_state).await.expect("bob comes back");
    for n in 0..3 {
        wait_message(&mut bob, &group, &format!("early {n}")).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        // The floor is looked at every 250 ms.
        match bob.send_text(&group, "space again").await {
            Ok(_) => break,
            Err(ClientError::Server {
                code: ErrorCode::StorageFull,
                ..
            }) if std::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(300)).await,
            Err(e) => panic!("a send after space was added failed: {e}"),
        }
    }
    server.kill();
}
