//! Safe defaults for operators, against the real server binary: the data
//! directory is the server's user's alone; a lost or damaged database
//! stops the start with a clear message instead of an empty server or a
//! panic; a snapshot half-written when the disk was full never blocks a
//! later start. (`behind_tls_proxy` without the proxy's header is refused
//! in `tls.rs`; Origin checks and the metrics listener are tested over a
//! socket in `server/tests/operator_defaults.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use parasol_client::{Client, ClientState, Event};
use parasol_tests::{server_binary, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(2).await.expect("publish key packages");
    c
}

/// Alice and Bob in one group; Bob goes offline and Alice sends `text`,
/// which waits, sealed, in Bob's mailbox (so the key file holds a period
/// key). Returns Bob's state to reconnect with later.
async fn a_message_waiting_for_bob(server: &ServerProcess, text: &str) -> ClientState {
    let mut alice = connect(server).await;
    let mut bob = connect(server).await;
    let group = alice.create_group().await.expect("create group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add bob");
    let deadline = Instant::now() + WAIT;
    while !bob.groups().contains(&group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            bob.next_event(left).await.expect("event").is_some(),
            "no Welcome arrived"
        );
    }
    let bob = bob.into_state().await.expect("bob offline");
    alice.send_text(&group, text).await.expect("send");
    bob
}

async fn receive(server: &ServerProcess, state: ClientState, text: &str) {
    let mut bob = Client::connect(&server.url(), state).await.expect("bob reconnects");
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match bob.next_event(left).await.expect("event") {
            Some(Event::Message { text: got, .. }) if got == text => return,
            Some(_) => {}
            None => panic!("{text:?} never arrived"),
        }
    }
}

/// Start the binary with `server`'s configuration while it is stopped and
/// expect it to refuse; its output.
fn refused_start(server: &ServerProcess) -> Output {
    let config = server.data_dir().parent().expect("the test root").join("parasol.toml");
    let out = Command::new(server_binary())
        .arg("--config")
        .arg(&config)
        .env_remove("PARASOL_LISTEN")
        .env_remove("PARASOL_DATA_DIR")
        .output()
        .expect("running parasol-server");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "it started:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(!stderr.contains("panicked"), "a panic, not a clear error:\n{stderr}");
    out
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every file and folder below `dir`.
fn everything_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_what_the_server_writes_there_are_its_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    // The usual umask, which leaves new files world-readable.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let mut server = ServerProcess::start_with_config("[tls]\nself_signed = true\n");
    let data = server.data_dir();
    assert_eq!(mode(&data), 0o700);
    server.stop();
    // Everything written over a run: the database, the attestation key,
    // the certificate; the admin socket is gone after the stop.
    let written = everything_below(&data);
    assert!(written.iter().any(|p| p.ends_with("sled/db")), "{written:?}");
    for path in &written {
        assert_eq!(mode(path) & 0o077, 0, "{} is open to others", path.display());
    }
    assert_eq!(mode(&server.key_file()), 0o600);

    // A directory an operator (or an older version) left open is closed
    // again at the next start, and so are the files in it.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = data.join("sled/conf");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    server.start_again();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&conf), 0o600);
    assert!(server.logs().contains("the data directory was open to others"));
}

#[tokio::test]
async fn a_lost_database_beside_a_key_file_that_sealed_messages_stops_the_start() {
    let mut server = ServerProcess::start();
    let _bob = a_message_waiting_for_bob(&server, "acknowledged, then lost").await;
    server.stop();
    std::fs::remove_dir_all(server.data_dir()).unwrap();

    // Twice: the first attempt must not leave an empty database that the
    // second would accept.
    for _ in 0..2 {
        let out = refused_start(&server);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("holds keys of stored messages"), "{stderr}");
        assert!(stderr.contains("is missing or empty"), "{stderr}");
        assert!(stderr.contains(&server.key_file().display().to_string()), "{stderr}");
        assert!(stderr.contains("Restore or mount the data directory"), "{stderr}");
    }

    // Starting empty is a deliberate step: the key file goes too.
    std::fs::rename(server.key_file(), server.key_file().with_extension("old")).unwrap();
    server.start_again();
    let _ = connect(&server).await;
}

#[tokio::test]
async fn a_damaged_database_stops_the_start_with_a_clear_error_and_no_panic() {
    let mut server = ServerProcess::start();
    let _bob = a_message_waiting_for_bob(&server, "before the damage").await;
    server.stop();
    // A snapshot that fails its checksum, as a failing disk leaves it.
    std::fs::write(server.data_dir().join("sled/snap.0000000000000000"), vec![0xA5; 4096]).unwrap();
    let out = refused_start(&server);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sled is damaged and cannot be opened"), "{stderr}");
    assert!(stderr.contains("do not delete the key file"), "{stderr}");
    assert!(stderr.contains("from its latest backup"), "{stderr}");
}

#[tokio::test]
async fn an_unfinished_snapshot_from_a_full_disk_never_blocks_a_restart() {
    let mut server = ServerProcess::start();
    let bob = a_message_waiting_for_bob(&server, "kept through the restarts").await;
    let sled_dir = server.data_dir().join("sled");
    // A restart loop on a full disk: each crash leaves sled's temp snapshot
    // file empty. It sorts after every real snapshot, so sled would read it
    // as the newest one and fail with "Read corrupted data".
    for _ in 0..3 {
        server.stop();
        let leftover = sled_dir.join("snap.FFFFFFFFFFFFFFFF.generating");
        std::fs::write(&leftover, b"").unwrap();
        server.start_again();
        assert!(!leftover.exists(), "the leftover snapshot is still there");
    }
    assert!(server.logs().contains("removed an unfinished sled snapshot"));
    receive(&server, bob, "kept through the restarts").await;
}
