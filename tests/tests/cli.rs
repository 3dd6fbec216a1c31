//! The `parasol` CLI against the real server, following docs/operations.md.

use std::path::Path;
use std::process::Command;

use parasol_tests::{cli_binary, ServerProcess};

fn parasol(server: &ServerProcess, state: &Path, args: &[&str]) -> String {
    let out = Command::new(cli_binary())
        .arg("--server")
        .arg(server.url())
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .expect("running parasol");
    assert!(
        out.status.success(),
        "parasol {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

#[test]
fn readme_walkthrough_works() {
    let server = ServerProcess::start();
    let dir = tempfile::tempdir().expect("dir");
    let alice = dir.path().join("alice.state");
    let bob = dir.path().join("bob.state");

    let alice_id = parasol(&server, &alice, &["init"]);
    let bob_id = parasol(&server, &bob, &["init"]);
    assert_eq!(alice_id.len(), 64, "a client id is 32 bytes in hex: {alice_id}");
    assert_ne!(alice_id, bob_id);
    assert_eq!(parasol(&server, &bob, &["id"]), bob_id);

    parasol(&server, &bob, &["publish", "--count", "5"]);
    let group = parasol(&server, &alice, &["create-group"]);
    parasol(&server, &alice, &["add", "--group", &group, &bob_id]);
    parasol(&server, &alice, &["send", "--group", &group, "hello from the CLI"]);

    let events = parasol(&server, &bob, &["receive", "--wait", "2"]);
    let message = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("one JSON object per line"))
        .find(|v| v["event"] == "message")
        .unwrap_or_else(|| panic!("no message event in:\n{events}"));
    assert_eq!(message["text"], "hello from the CLI");
    assert_eq!(message["from"], alice_id.as_str());
    assert_eq!(message["group"], group.as_str());

    // Errors are typed on stderr with a non-zero exit.
    let out = Command::new(cli_binary())
        .args(["--server", &server.url(), "--state"])
        .arg(&alice)
        .args(["add", "--group", &group, &"00".repeat(32)])
        .output()
        .expect("running parasol");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_key_package"));
    server.assert_logs_clean(&["hello from the CLI"]);
}
