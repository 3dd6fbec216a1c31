//! Staff accounts end to end: the real server binary, the admin CLI going
//! through its socket, logins over HTTP, and what reaches disk and logs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parasol_tests::{contains_bytes, http_request, marker, ServerProcess};
use serde_json::{json, Value};

fn login(server: &ServerProcess, username: &str, password: &str) -> (u16, Value) {
    let body = json!({"username": username, "password": password}).to_string();
    let (status, body) = http_request(
        server.addr(),
        "POST",
        "/v1/staff/login",
        &[("Content-Type", "application/json")],
        &body,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn admin_ok(server: &ServerProcess, args: &[&str], stdin: &str) -> String {
    let out = server.admin(args, stdin);
    assert!(
        out.status.success(),
        "admin {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const CREATE_ANA: &[&str] = &[
    "create-staff",
    "--username",
    "ana",
    "--display-name",
    "Ana K",
    "--role",
    "counsellor",
    "--languages",
    "mk,en",
    "--max-chats",
    "3",
    "--password-stdin",
];

#[test]
fn the_admin_cli_goes_through_the_running_server() {
    // Every login attempt counts against the per-username throttle; this
    // test logs in more often than a person would.
    let mut server = ServerProcess::start_with_config("[staff]\nlogin_attempts_burst = 50");
    let password = format!("pw-{}", marker());
    let created = admin_ok(&server, CREATE_ANA, &format!("{password}\n"));
    assert!(created.contains("ana") && created.contains("counsellor"), "{created}");
    assert!(!created.contains("password"), "a password from stdin is not echoed");

    // The running server sees the account at once: the CLI went through it.
    let (status, body) = login(&server, "ana", &password);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["languages"], json!(["mk", "en"]));

    admin_ok(&server, &["disable", "ana"], "");
    assert_eq!(login(&server, "ana", &password).0, 401);
    admin_ok(&server, &["enable", "ana"], "");
    assert_eq!(login(&server, "ana", &password).0, 200);

    let reset = admin_ok(&server, &["reset-password", "ana"], "");
    let new_password = reset
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("a generated password is printed");
    assert_eq!(login(&server, "ana", &password).0, 401);
    assert_eq!(login(&server, "ana", new_password).0, 200);

    let uri = admin_ok(&server, &["enable-totp", "ana"], "");
    assert!(uri.starts_with("otpauth://totp/Parasol:ana?secret="), "{uri}");
    assert_eq!(login(&server, "ana", new_password).0, 401, "a code is now required");
    admin_ok(&server, &["disable-totp", "ana"], "");

    let list = admin_ok(&server, &["list"], "");
    assert!(list.lines().any(|l| l.contains("ana") && l.contains("mk,en")), "{list}");
    let audit = admin_ok(&server, &["audit", "--since", "1970-01-01"], "");
    for action in [
        "account_created",
        "account_disabled",
        "password_reset",
        "totp_enabled",
        "login_failed",
    ] {
        assert!(audit.contains(action), "{action} missing from\n{audit}");
    }
    let csv = admin_ok(&server, &["stats", "--from", "2026-01-01", "--to", "2026-01-02"], "");
    assert!(
        csv.starts_with("date,chats,transfers,escalations,wait_p50_secs"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);

    let missing = server.admin(&["disable", "nobody"], "");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such account"));
    let bad = server.admin(&["stats", "--from", "2026-02-30", "--to", "2026-03-01"], "");
    assert!(!bad.status.success());

    // With the server stopped, the CLI opens the database itself.
    server.stop();
    assert!(!server.data_dir().join("admin.sock").exists());
    let list = admin_ok(&server, &["list"], "");
    assert!(list.contains("ana"), "{list}");
    admin_ok(&server, &["disable", "ana"], "");
    server.start_again();
    assert_eq!(login(&server, "ana", new_password).0, 401);
}

#[test]
fn passwords_and_tokens_reach_neither_disk_nor_logs() {
    let mut server = ServerProcess::start_with_config("demo = true");
    let demo_password = server
        .startup_output()
        .iter()
        .find_map(|l| l.strip_prefix("demo counsellor: username demo password "))
        .expect("the demo password is printed at start")
        .to_string();
    let (status, demo) = login(&server, "demo", &demo_password);
    assert_eq!(status, 200);
    assert_eq!(demo["languages"], json!(["mk", "sq", "en"]));
    assert_eq!(demo["max_concurrent_chats"], 3);
    let demo_token = demo["token"].as_str().unwrap().to_string();

    let password = format!("pw-{}", marker());
    admin_ok(&server, CREATE_ANA, &format!("{password}\n"));
    let (_, ana) = login(&server, "ana", &password);
    let ana_token = ana["token"].as_str().unwrap().to_string();
    let (status, _) = http_request(
        server.addr(),
        "POST",
        "/v1/staff/logout",
        &[("Authorization", &format!("Bearer {ana_token}"))],
        "",
    );
    assert_eq!(status, 204);
    // Failed attempts carry their guesses too.
    let guess = format!("guess-{}", marker());
    assert_eq!(login(&server, "ana", &guess).0, 401);
    assert_eq!(
        login(&server, &format!("user-{}", marker()).to_lowercase(), &guess).0,
        401
    );

    // A restart gives the demo counsellor a new password.
    server.restart();
    let second_demo_password = server
        .startup_output()
        .iter()
        .find_map(|l| l.strip_prefix("demo counsellor: username demo password "))
        .unwrap()
        .to_string();
    assert_ne!(second_demo_password, demo_password);
    assert_eq!(login(&server, "demo", &demo_password).0, 401);
    assert_eq!(login(&server, "demo", &second_demo_password).0, 200);
    server.stop();

    let secrets = [
        demo_password.as_str(),
        second_demo_password.as_str(),
        password.as_str(),
        guess.as_str(),
        demo_token.as_str(),
        ana_token.as_str(),
    ];
    let raw_tokens: Vec<Vec<u8>> = [&demo_token, &ana_token]
        .iter()
        .map(|t| URL_SAFE_NO_PAD.decode(t).unwrap())
        .collect();
    let files = server.data_files();
    assert!(files.len() > 2);
    for (path, bytes) in &files {
        for secret in secrets {
            assert!(
                !contains_bytes(bytes, secret.as_bytes()),
                "{} holds {secret:?}",
                path.display()
            );
        }
        for raw in &raw_tokens {
            assert!(
                !contains_bytes(bytes, raw),
                "{} holds a raw session token",
                path.display()
            );
        }
    }
    server.assert_logs_clean(&secrets);
}
