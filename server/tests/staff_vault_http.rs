//! The staff state vault's HTTP routes over a real socket, with the server
//! running in-process on port 0: open and the lease, versions, bounds, and
//! the erase that follows a password reset, disable or revoke.

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use parasol_server::admin::{AdminContext, AdminReply, AdminRequest};
use parasol_server::config::Config;
use parasol_server::staff_vault::{MAX_ACCOUNT_BYTES, MAX_ITEMS, MAX_ITEM_BYTES};
use serde_json::json;

mod common;
use common::*;

/// A fresh session token for `username`.
async fn token(addr: SocketAddr, username: &str) -> String {
    let r = login(addr, json!({"username": username, "password": PW})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["token"].as_str().unwrap().to_string()
}

async fn open(addr: SocketAddr, token: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(addr, "POST", "/v1/staff/vault/open", &[("Authorization", &auth)], b"").await
}

async fn put(addr: SocketAddr, token: &str, slot: &str, sealed: &[u8], if_version: Option<u64>) -> HttpResponse {
    let auth = format!("Bearer {token}");
    let mut body = json!({ "sealed": B64.encode(sealed) });
    if let Some(v) = if_version {
        body["if_version"] = json!(v);
    }
    http(
        addr,
        "PUT",
        &format!("/v1/staff/vault/items/{slot}"),
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
}

async fn delete(addr: SocketAddr, token: &str, slot: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        addr,
        "DELETE",
        &format!("/v1/staff/vault/items/{slot}"),
        &[("Authorization", &auth)],
        b"",
    )
    .await
}

fn items(open: &HttpResponse) -> Vec<(String, u64, Vec<u8>)> {
    open.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["slot"].as_str().unwrap().to_string(),
                i["version"].as_u64().unwrap(),
                B64.decode(i["sealed"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn open_put_and_versions_round_trip() {
    let server = start(config()).await;
    server.create("ana", PW).await;
    let ana = token(server.addr, "ana").await;

    let none = http(server.addr, "POST", "/v1/staff/vault/open", &[], b"").await;
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.json()["error"], "invalid_session");
    let forged = open(server.addr, "not-a-token").await;
    assert_eq!(forged.status, 401);

    let first = open(server.addr, &ana).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("cache-control"), Some("no-store"));
    let kdf = &first.json()["kdf"];
    assert_eq!(kdf["alg"], "argon2id");
    assert_eq!(kdf["m_kib"], 65536);
    assert_eq!(kdf["t"], 2);
    assert_eq!(kdf["p"], 1);
    let salt = B64.decode(kdf["salt"].as_str().unwrap()).unwrap();
    assert_eq!(salt.len(), 16);
    assert!(items(&first).is_empty());

    let r = put(server.addr, &ana, "identity", b"sealed identity", Some(0)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["version"], 1);
    let r = put(server.addr, &ana, "identity", b"sealed identity 2", Some(1)).await;
    assert_eq!(r.json()["version"], 2);
    // A stale writer is told the current version.
    let stale = put(server.addr, &ana, "identity", b"stale", Some(1)).await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    assert_eq!(stale.json()["error"], "version_conflict");
    assert_eq!(stale.json()["current"], 2);
    // "Must not exist yet" on an existing slot conflicts too.
    assert_eq!(put(server.addr, &ana, "identity", b"x", Some(0)).await.status, 409);
    // Without if_version the write goes through (the lease holder owns it).
    assert_eq!(
        put(server.addr, &ana, "g-00ff", b"group", None).await.json()["version"],
        1
    );
    // Larger than the server's default body limit (64 KiB): the vault's own.
    let big = vec![7u8; 300 * 1024];
    assert_eq!(put(server.addr, &ana, "g-big", &big, None).await.status, 200);

    let again = open(server.addr, &ana).await;
    let mut got = items(&again);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("g-00ff".to_string(), 1, b"group".to_vec()),
            ("g-big".to_string(), 1, big.clone()),
            ("identity".to_string(), 2, b"sealed identity 2".to_vec()),
        ]
    );
    assert_eq!(
        again.json()["kdf"]["salt"],
        first.json()["kdf"]["salt"],
        "the salt stays"
    );

    assert_eq!(delete(server.addr, &ana, "g-big").await.status, 204);
    assert_eq!(delete(server.addr, &ana, "g-big").await.status, 204, "idempotent");
    assert_eq!(items(&open(server.addr, &ana).await).len(), 2);

    // Survives a restart.
    let dir = server.stop().await;
    let mut config = config();
    config.data_dir = dir.path().join("data");
    let server = restart(config, dir).await;
    let after = open(server.addr, &ana).await;
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(items(&after).len(), 2);
    server.stop().await;
}

/// Start again on an existing data directory.
async fn restart(mut config: Config, dir: tempfile::TempDir) -> TestServer {
    config.metrics_listen = None;
    start_in(config, dir).await
}

#[tokio::test]
async fn a_second_login_moves_the_lease() {
    let server = start(config()).await;
    server.create("ana", PW).await;
    server.create("ben", PW).await;
    let laptop = token(server.addr, "ana").await;
    let desktop = token(server.addr, "ana").await;

    // Writing before opening: no lease.
    let early = put(server.addr, &laptop, "identity", b"x", None).await;
    assert_eq!(early.status, 409, "{}", early.body);
    assert_eq!(early.json()["error"], "vault_moved");

    assert_eq!(open(server.addr, &laptop).await.status, 200);
    assert_eq!(put(server.addr, &laptop, "identity", b"one", None).await.status, 200);
    let moved_to = open(server.addr, &desktop).await;
    assert_eq!(items(&moved_to), vec![("identity".to_string(), 1, b"one".to_vec())]);

    for r in [
        put(server.addr, &laptop, "identity", b"two", None).await,
        put(server.addr, &laptop, "g-01", b"two", None).await,
        delete(server.addr, &laptop, "identity").await,
    ] {
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["error"], "vault_moved");
    }
    assert_eq!(
        put(server.addr, &desktop, "identity", b"two", Some(1)).await.status,
        200
    );

    // Another account's vault is its own: same slot, separate items.
    let ben = token(server.addr, "ben").await;
    let bens = open(server.addr, &ben).await;
    assert!(items(&bens).is_empty());
    assert_ne!(bens.json()["kdf"]["salt"], moved_to.json()["kdf"]["salt"]);
    assert_eq!(
        put(server.addr, &ben, "identity", b"ben", None).await.json()["version"],
        1
    );
    assert_eq!(items(&open(server.addr, &desktop).await)[0].2, b"two".to_vec());

    // Logging out ends the session: its token opens nothing.
    let auth = format!("Bearer {desktop}");
    let out = http(
        server.addr,
        "POST",
        "/v1/staff/logout",
        &[("Authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(out.status, 204);
    assert_eq!(open(server.addr, &desktop).await.status, 401);
    assert_eq!(put(server.addr, &desktop, "identity", b"x", None).await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn bounds_are_enforced() {
    let server = start(config()).await;
    server.create("ana", PW).await;
    let ana = token(server.addr, "ana").await;
    assert_eq!(open(server.addr, &ana).await.status, 200);

    for slot in ["Identity", "a%20b", "..", ".hidden", &"a".repeat(65)] {
        let r = put(server.addr, &ana, slot, b"x", None).await;
        assert!(
            matches!(r.status, 400 | 404),
            "{slot}: {} {} {:?}",
            r.status,
            r.body,
            items(&open(server.addr, &ana).await)
        );
    }
    let bad_json = http(
        server.addr,
        "PUT",
        "/v1/staff/vault/items/identity",
        &[("Authorization", &format!("Bearer {ana}"))],
        b"{\"sealed\": 5}",
    )
    .await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.json()["error"], "bad_request");

    let over = put(server.addr, &ana, "big", &vec![1u8; MAX_ITEM_BYTES + 1], None).await;
    assert_eq!(over.status, 413, "{}", over.body);
    assert_eq!(over.json()["error"], "item_too_large");
    assert_eq!(
        put(server.addr, &ana, "big", &vec![1u8; MAX_ITEM_BYTES], None)
            .await
            .status,
        200
    );
    // A body far past the limit is refused on its declared length.
    let auth = format!("Bearer {ana}");
    let huge = http(
        server.addr,
        "PUT",
        "/v1/staff/vault/items/identity",
        &[("Authorization", &auth)],
        &vec![b'a'; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(huge.status, 413);

    // Bytes per account: full-size items until the 16 MiB are used.
    let full_items = MAX_ACCOUNT_BYTES / MAX_ITEM_BYTES;
    for i in 1..full_items {
        let r = put(server.addr, &ana, &format!("b{i}"), &vec![2u8; MAX_ITEM_BYTES], None).await;
        assert_eq!(r.status, 200, "item {i}: {}", r.body);
    }
    let past = put(server.addr, &ana, "one-more", &vec![2u8; MAX_ITEM_BYTES], None).await;
    assert_eq!(past.status, 507, "{}", past.body);
    assert_eq!(past.json()["error"], "vault_full");
    // Replacing an item in place fits; so does a smaller vault after a delete.
    assert_eq!(
        put(server.addr, &ana, "b1", &vec![3u8; MAX_ITEM_BYTES], None)
            .await
            .status,
        200
    );
    for i in 1..full_items {
        assert_eq!(delete(server.addr, &ana, &format!("b{i}")).await.status, 204);
    }
    // Items per account.
    for i in 1..MAX_ITEMS {
        let r = put(server.addr, &ana, &format!("s{i}"), b"x", None).await;
        assert_eq!(r.status, 200, "item {i}: {}", r.body);
    }
    let past = put(server.addr, &ana, "s-past", b"x", None).await;
    assert_eq!(past.status, 507, "{}", past.body);
    assert_eq!(server.services.staff_vault.item_count(1).await.unwrap(), MAX_ITEMS);
    server.stop().await;
}

#[tokio::test]
async fn reset_disable_and_revoke_erase_the_vault() {
    let server = start(config()).await;
    let admin = AdminContext::of(&server.services);
    let mut ids = Vec::new();
    for (name, request) in [
        (
            "ana",
            AdminRequest::ResetPassword {
                username: "ana".into(),
                password: PW.into(),
            },
        ),
        ("ben", AdminRequest::Disable { username: "ben".into() }),
        ("cat", AdminRequest::RevokeSessions { username: "cat".into() }),
    ] {
        let id = server.create(name, PW).await;
        ids.push(id);
        let t = token(server.addr, name).await;
        let before = open(server.addr, &t).await;
        assert_eq!(put(server.addr, &t, "identity", b"sealed", None).await.status, 200);
        assert_eq!(put(server.addr, &t, "g-01", b"sealed", None).await.status, 200);
        assert_eq!(server.services.staff_vault.item_count(id).await.unwrap(), 2);

        let reply = admin.execute(request).await;
        assert!(!matches!(reply, AdminReply::Error { .. }), "{name}");
        assert_eq!(server.services.staff_vault.item_count(id).await.unwrap(), 0, "{name}");
        assert!(!server.services.staff_vault.has_meta(id).await.unwrap(), "{name}");
        assert_eq!(put(server.addr, &t, "identity", b"x", None).await.status, 401, "{name}");
        if name != "ben" {
            // A new login finds an empty vault with a new salt.
            let t = token(server.addr, name).await;
            let after = open(server.addr, &t).await;
            assert!(items(&after).is_empty(), "{name}");
            assert_ne!(after.json()["kdf"]["salt"], before.json()["kdf"]["salt"], "{name}");
        }
    }
    server.stop().await;
}
