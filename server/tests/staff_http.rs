//! Staff login, logout and cut-off over a real socket, with the server
//! running in-process on port 0.

use std::net::SocketAddr;

use parasol_server::audit::Actor;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::*;

#[tokio::test]
async fn login_succeeds_and_every_failure_looks_the_same() {
    let server = start(config()).await;
    let id = server.create("ana", PW).await;

    let ok = login(server.addr, json!({"username": "ana", "password": PW})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let body = ok.json();
    assert_eq!(body["account_id"], id);
    assert_eq!(body["role"], "counsellor");
    assert_eq!(body["display_name"], "Ana");
    assert_eq!(body["languages"], json!(["mk", "sq"]));
    assert_eq!(body["max_concurrent_chats"], 4);
    assert!(body["expires_at"].as_u64().unwrap() > parasol_server::time::now_secs() + 11 * 3600);
    let token = body["token"].as_str().unwrap();
    let info = server.services.staff.authenticate_session(token).await.unwrap();
    assert_eq!(info.account_id, id);

    let bad_password = login(server.addr, json!({"username": "ana", "password": "wrong"})).await;
    let unknown_user = login(server.addr, json!({"username": "nobody", "password": PW})).await;
    for r in [&bad_password, &unknown_user] {
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["error"], "invalid_credentials");
    }
    assert_eq!(bad_password.body, unknown_user.body, "no user enumeration");

    let metrics_addr = server.services.metrics_addr.expect("a metrics listener");
    let metrics = http(metrics_addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("parasol_logins_total{outcome=\"success\"} 1"));
    assert!(metrics
        .body
        .contains("parasol_logins_total{outcome=\"invalid_credentials\"} 2"));
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_typed_answers() {
    let server = start(config()).await;
    let json_ct = [("Content-Type", "application/json")];
    for body in [
        &b"{\"username\":"[..],
        b"[]",
        b"{\"username\":\"a\"}",
        b"{\"username\":1,\"password\":\"x\"}",
    ] {
        let r = http(server.addr, "POST", "/v1/staff/login", &json_ct, body).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.json()["error"], "bad_request");
    }
    let big = json!({"username": "ana", "password": "x".repeat(10_000)}).to_string();
    let r = http(server.addr, "POST", "/v1/staff/login", &json_ct, big.as_bytes()).await;
    assert_eq!(r.status, 413);
    let r = http(server.addr, "POST", "/v1/staff/logout", &[], b"").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_session");

    let r = http(server.addr, "GET", "/v1/attestation-key", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["public_key"],
        hex::encode(server.services.attestor.public_key())
    );
    server.stop().await;
}

#[tokio::test]
async fn totp_is_required_and_checked() {
    let server = start(config()).await;
    let id = server.create("ana", PW).await;
    let uri = server.services.staff.enable_totp(id, Actor::System).await.unwrap();
    let secret = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = totp_rs::Secret::Encoded(secret.to_string()).to_bytes().unwrap();
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).unwrap();
    let code = totp.generate_current().unwrap();
    let wrong = if code == "123456" { "654321" } else { "123456" };

    let without = login(server.addr, json!({"username": "ana", "password": PW})).await;
    let with_wrong = login(server.addr, json!({"username": "ana", "password": PW, "totp": wrong})).await;
    let unknown = login(server.addr, json!({"username": "nobody", "password": PW})).await;
    for r in [&without, &with_wrong] {
        assert_eq!(r.status, 401);
        assert_eq!(r.body, unknown.body);
    }
    let ok = login(server.addr, json!({"username": "ana", "password": PW, "totp": code})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let replay = login(server.addr, json!({"username": "ana", "password": PW, "totp": code})).await;
    assert_eq!(replay.status, 401, "a code is good once");
    server.stop().await;
}

#[tokio::test]
async fn repeated_attempts_are_throttled_with_retry_after() {
    let mut config = config();
    config.staff.login_attempts_burst = 3;
    config.staff.login_attempt_interval_secs = 30;
    let server = start(config).await;
    server.create("ana", PW).await;
    for _ in 0..3 {
        let r = login(server.addr, json!({"username": "ana", "password": "guess"})).await;
        assert_eq!(r.status, 401);
    }
    let r = login(server.addr, json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["error"], "too_many_attempts");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // Unknown names are throttled the same way (no enumeration by 429).
    for _ in 0..3 {
        assert_eq!(
            login(server.addr, json!({"username": "nobody", "password": "x"}))
                .await
                .status,
            401
        );
    }
    assert_eq!(
        login(server.addr, json!({"username": "nobody", "password": "x"}))
            .await
            .status,
        429
    );
    server.stop().await;
}

/// A login through the loopback proxy, from the client address `from`.
async fn login_from(addr: SocketAddr, from: &str, body: Value) -> HttpResponse {
    http(
        addr,
        "POST",
        "/v1/staff/login",
        &[("Content-Type", "application/json"), ("X-Forwarded-For", from)],
        body.to_string().as_bytes(),
    )
    .await
}

/// Issue 17: guesses at a username from one network do not lock its owner
/// out at another, and one network spraying names runs out of attempts
/// without touching anyone else.
#[tokio::test]
async fn failures_from_one_source_do_not_lock_the_user_out_at_another() {
    let mut config = config();
    config.intake.trusted_proxy_header = Some("x-forwarded-for".into());
    config.staff.login_attempts_burst = 3;
    config.staff.login_attempt_interval_secs = 60;
    config.staff.login_attempts_per_source_burst = 6;
    config.staff.login_source_attempt_interval_secs = 60;
    let server = start(config).await;
    server.create("ana", PW).await;
    let attacker = "203.0.113.66";
    let office = "198.51.100.7";
    for _ in 0..3 {
        let r = login_from(server.addr, attacker, json!({"username": "ana", "password": "guess"})).await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = login_from(server.addr, attacker, json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 429, "the attacker's network is throttled for ana: {}", r.body);
    assert_eq!(r.json()["error"], "too_many_attempts");
    // Ana, from her office, logs in with her password at once.
    let r = login_from(server.addr, office, json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["token"].is_string());
    // IPv6 too: another network than the attacker's.
    let r = login_from(server.addr, "2001:db8:5::9", json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The attacker's network sprays other names: its own budget (6
    // attempts, 4 spent) runs out, whatever the name.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let body = json!({"username": format!("user{i}"), "password": "guess"});
        statuses.push(login_from(server.addr, attacker, body).await.status);
    }
    assert_eq!(statuses, [401, 401, 429, 429], "per-source budget");
    // Nobody else is affected.
    let r = login_from(
        server.addr,
        "192.0.2.44",
        json!({"username": "user3", "password": "guess"}),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = login_from(server.addr, office, json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop().await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let server = start(config()).await;
    server.create("ana", PW).await;
    let body = login(server.addr, json!({"username": "ana", "password": PW}))
        .await
        .json();
    let token = body["token"].as_str().unwrap();
    let other = login(server.addr, json!({"username": "ana", "password": PW}))
        .await
        .json();
    let other = other["token"].as_str().unwrap();
    assert!(server.services.staff.authenticate_session(token).await.is_ok());
    let bearer = format!("Bearer {token}");
    let r = http(
        server.addr,
        "POST",
        "/v1/staff/logout",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(server.services.staff.authenticate_session(token).await.is_err());
    assert!(
        server.services.staff.authenticate_session(other).await.is_ok(),
        "other sessions go on"
    );
    let again = http(
        server.addr,
        "POST",
        "/v1/staff/logout",
        &[("Authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(again.status, 204);
    server.stop().await;
}

/// One command through the server's admin socket, as the CLI sends it.
async fn admin(server: &TestServer, request: Value) -> Value {
    let mut stream = tokio::net::UnixStream::connect(server.dir.path().join("data").join("admin.sock"))
        .await
        .unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    serde_json::from_str(&reply).unwrap()
}

#[tokio::test]
async fn disabling_through_the_admin_socket_cuts_off_at_once() {
    let server = start(config()).await;
    let id = server.create("ana", PW).await;
    let body = login(server.addr, json!({"username": "ana", "password": PW}))
        .await
        .json();
    let token = body["token"].as_str().unwrap();
    let session = server.services.staff.authenticate_session(token).await.unwrap();
    let watched = server.services.staff.watch(id).await;
    assert!(!watched.is_cancelled() && !session.cut_off.is_cancelled());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(server.dir.path().join("data").join("admin.sock")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
    let reply = admin(&server, json!({"command": "disable", "username": "ana"})).await;
    assert_eq!(reply["result"], "account", "{reply}");
    assert_eq!(reply["account"]["disabled"], true);
    // Cut off by the time the command answered.
    assert!(watched.is_cancelled());
    assert!(session.cut_off.is_cancelled());
    assert!(server.services.staff.authenticate_session(token).await.is_err());
    let r = login(server.addr, json!({"username": "ana", "password": PW})).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid_credentials");

    let reply = admin(&server, json!({"command": "disable", "username": "nobody"})).await;
    assert_eq!(reply["result"], "error");
    let reply = admin(&server, json!({"command": "no_such_command"})).await;
    assert_eq!(reply["result"], "error");
    let log = admin(&server, json!({"command": "audit", "since": 0, "limit": 100})).await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        // Disabling revokes the account's keys too (none here).
        [
            "account_created",
            "login",
            "account_disabled",
            "keys_revoked",
            "login_failed"
        ]
    );
    let dir = server.stop().await;
    assert!(dir.path().join("data").join("attestation.key").exists());
    assert!(
        !dir.path().join("data").join("admin.sock").exists(),
        "the socket is removed on shutdown"
    );
}
