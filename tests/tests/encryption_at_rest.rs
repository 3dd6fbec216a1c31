//! Envelopes are sealed at rest under a key per retention period, and once
//! the period is past retention its key is destroyed: an image of the data
//! directory taken before or after can no longer be opened
//! (crypto-shredding). The real server process, real openmls clients.

use std::path::Path;
use std::time::{Duration, Instant};

use parasol_client::{Client, ClientId, Connection, Request};
use parasol_protocol::{EnvelopeKind, Response};
use parasol_server::storage::vault::Vault;
use parasol_server::storage::{EnvelopeRecord, Storage, Unsealed, VaultConfig};
use parasol_tests::drive::WAIT;
use parasol_tests::{contains_bytes, marker, ServerProcess};

const PERIOD_SECS: u64 = 3;
const RETENTION_SECS: u64 = 6;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        if entry.path().is_dir() {
            out.extend(all_bytes(&entry.path()));
        } else {
            out.extend(std::fs::read(entry.path()).expect("read"));
        }
    }
    out
}

/// An image of the data directory, opened (in a copy of its own) with a
/// given key file, as whoever seized both would.
fn open_image(image: &Path, key_file: &Path, scratch: &Path) -> Storage {
    copy_dir(image, scratch);
    let keys = scratch.with_extension("keys");
    std::fs::copy(key_file, &keys).expect("copy key file");
    Storage::open(
        scratch,
        VaultConfig {
            key_file: keys,
            period_secs: PERIOD_SECS,
            retention_secs: RETENTION_SECS,
        },
    )
    .expect("the image opens")
}

/// The sealed mailbox values of `client` as stored: (sled key, value).
fn sealed_mailbox(storage: &Storage, client: &ClientId) -> Vec<(Vec<u8>, Vec<u8>)> {
    storage
        .db()
        .open_tree("mailboxes")
        .expect("tree")
        .scan_prefix(client)
        .map(|item| {
            let (k, v) = item.expect("read");
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

/// The key bytes of `period` in a key file (layout in storage/vault.rs:
/// magic 8 ‖ destroyed_below 8 ‖ state key 32 ‖ count 4 ‖ (period 8 ‖ key 32)*).
fn period_key(key_file: &[u8], period: u64) -> Option<[u8; 32]> {
    key_file[52..]
        .chunks_exact(40)
        .find(|entry| entry[..8] == period.to_be_bytes())
        .map(|entry| entry[8..].try_into().expect("32 bytes"))
}

#[tokio::test]
async fn envelopes_cannot_be_recovered_once_their_period_key_is_destroyed() {
    let started = Instant::now();
    let mut server = ServerProcess::start_with_config(&format!(
        "retention_secs = {RETENTION_SECS}\npurge_interval_secs = 1\n[storage]\nkey_period_secs = {PERIOD_SECS}\n"
    ));
    let url = server.url();
    let mut alice = Client::connect_ephemeral(&url).await.expect("alice");
    let mut bob = Client::connect_ephemeral(&url).await.expect("bob");
    bob.publish_key_packages(1).await.expect("publish");
    let group = alice.create_group().await.expect("group");
    alice.add_members(&group, &[bob.client_id()]).await.expect("add");
    let deadline = Instant::now() + WAIT;
    while !bob.groups().contains(&group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(bob.next_event(left).await.expect("event").is_some(), "no Welcome");
    }
    // Bob goes offline: the envelopes wait for him on disk.
    let bob_state = bob.into_state().await.expect("bob offline");
    let bob_id = bob_state.identity().client_id();
    let secret = marker();
    for i in 0..3 {
        alice.send_text(&group, &format!("{secret} {i}")).await.expect("send");
    }
    // Alice reads her own copies, so her acks are out of the way.
    while alice
        .next_event(Duration::from_millis(200))
        .await
        .expect("event")
        .is_some()
    {}
    // What the server would deliver to bob (fetching does not ack).
    let (conn, _) = Connection::connect(&url, bob_state.identity(), Duration::from_secs(10))
        .await
        .expect("connect");
    let delivered: Vec<Vec<u8>> = match conn
        .request(Request::FetchBacklog {
            after: bob_state.cursor(),
            limit: 500,
        })
        .await
        .expect("fetch")
    {
        Response::Backlog { envelopes, .. } => envelopes
            .into_iter()
            .filter(|e| e.kind == EnvelopeKind::Application)
            .map(|e| e.message.0)
            .collect(),
        other => panic!("unexpected {other:?}"),
    };
    conn.close().await;
    assert_eq!(delivered.len(), 3, "bob's three messages wait for him");

    // Image 1, with a copy of the key file.
    server.stop();
    let images = tempfile::tempdir().expect("tempdir");
    let image1 = images.path().join("image1");
    let keys1 = images.path().join("image1.keys");
    copy_dir(&server.data_dir(), &image1);
    std::fs::copy(server.key_file(), &keys1).expect("copy key file");
    server.start_again();

    // Neither the marker nor even the MLS ciphertext is on disk in the clear.
    let raw1 = all_bytes(&image1);
    assert!(!raw1.is_empty());
    assert!(!contains_bytes(&raw1, secret.as_bytes()), "the marker is on disk");
    for message in &delivered {
        assert!(!contains_bytes(&raw1, message), "an envelope is stored unsealed");
    }

    // Image 1 + its key file recover the envelopes: the method works.
    let sealed = {
        let storage = open_image(&image1, &keys1, &images.path().join("open1"));
        let sealed = sealed_mailbox(&storage, &bob_id);
        let mut recovered = Vec::new();
        for (key, value) in &sealed {
            match storage.vault().open_value("mailboxes", key, value).expect("opens") {
                Unsealed::Open(plain) => {
                    let record = EnvelopeRecord::decode(&plain).expect("record");
                    if record.kind == EnvelopeKind::Application {
                        assert_eq!(record.group_id, group);
                        recovered.push(record.message);
                    }
                }
                Unsealed::Shredded => panic!("shredded too early"),
            }
        }
        assert_eq!(recovered, delivered, "image 1 + key file recover the envelopes");
        sealed
    };
    let old_key_file = std::fs::read(&keys1).expect("key file");
    let old_keys: Vec<[u8; 32]> = sealed
        .iter()
        .map(|(_, v)| {
            let period = Vault::period_of_value(v).expect("period");
            period_key(&old_key_file, period).expect("the period key is in the key file")
        })
        .collect();

    // Past retention, the purge destroys the period keys.
    let deadline = Instant::now() + Duration::from_secs(3 * (PERIOD_SECS + RETENTION_SECS));
    loop {
        let now = std::fs::read(server.key_file()).expect("key file");
        if old_keys.iter().all(|k| !contains_bytes(&now, k)) {
            break;
        }
        assert!(Instant::now() < deadline, "the period keys were never destroyed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server.stop();
    let image2 = images.path().join("image2");
    copy_dir(&server.data_dir(), &image2);
    let keys_now = server.key_file();
    let now_key_file = std::fs::read(&keys_now).expect("key file");
    for key in &old_keys {
        assert!(
            !contains_bytes(&now_key_file, key),
            "a destroyed key is still in the key file"
        );
    }
    assert!(server.logs().contains("storage_keys_destroyed"));

    // Neither image opens with the key file as it is now.
    let storage1 = open_image(&image1, &keys_now, &images.path().join("open1b"));
    for (key, value) in &sealed {
        assert!(
            matches!(
                storage1.vault().open_value("mailboxes", key, value),
                Ok(Unsealed::Shredded)
            ),
            "image 1 still opens"
        );
    }
    let storage2 = open_image(&image2, &keys_now, &images.path().join("open2"));
    for (key, value) in sealed_mailbox(&storage2, &bob_id) {
        assert!(
            matches!(
                storage2.vault().open_value("mailboxes", &key, &value),
                Ok(Unsealed::Shredded)
            ),
            "image 2 still opens"
        );
    }
    let raw2 = all_bytes(&image2);
    assert!(!contains_bytes(&raw2, secret.as_bytes()));
    // Whatever of the sealed values sled's log still holds is the same
    // ciphertext, unopenable as shown above.
    server.assert_logs_clean(&[&secret]);
    eprintln!("crypto-shredding test took {:?}", started.elapsed());
}
