//! Budgets anonymous visitors cannot take from staff (issue 17, section 3):
//! many throwaway keys fill every anonymous budget (groups, key packages,
//! team messages, `sos`), and the helpline still works: a counsellor
//! accepts a ticket, transfers it and escalates, and the audit log still
//! holds what staff did before the flood.
//!
//! The real server process and real openmls clients; small limits so the
//! floods are short. The team messages need the service closed and the
//! chats need it open: the server is restarted with opening hours that
//! have begun, as a night passes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parasol_client::{Client, ClientId, ClientState, ErrorCode, Identity, ServerMessage};
use parasol_protocol::{Category, Request, Severity, ShiftState};
use parasol_tests::drive::{code, until, wait_notice};
use parasol_tests::{create_staff, staff_login, ServerProcess};

/// Today's weekday in UTC, 1 = Monday … 7 = Sunday.
fn utc_weekday_now() -> u8 {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400;
    ((days + 3) % 7) as u8 + 1
}

/// Small pools; every per-source and global rate lifted (all clients share
/// one loopback source), so only the budgets under test refuse.
fn config(opening_hours: &str) -> String {
    format!(
        "[limits]\nmax_groups = 40\nmax_anonymous_groups = 12\nmax_groups_per_client = 3\n\
         max_key_packages_per_client = 60\nmax_stored_key_packages = 300\nmax_anonymous_stored_key_packages = 60\n\
         [audit]\nmax_entries = 60\n\
         [intake]\ntime_zone = \"UTC\"\n{opening_hours}\nmax_team_messages = 4\n\
         team_key_packages_per_minute = 1000\nglobal_requests_per_minute = 1000\n\
         requests_per_source_per_minute = 1000\nsource_burst = 1000\n\
         connections_per_source_per_minute = 1000\nconnection_burst = 1000\n\
         frames_per_second = 1000\npow_threshold_per_minute = 0\n"
    )
}

struct Staff {
    c: Client,
    password: String,
}

impl Staff {
    fn id(&self) -> ClientId {
        self.c.client_id()
    }
    fn account(&self) -> u64 {
        self.c.staff().expect("a staff session").account_id
    }
}

async fn staff(server: &ServerProcess, username: &str) -> Staff {
    let password = create_staff(server, username, username, "counsellor", "mk,en", 3);
    let token = staff_login(server, username, &password);
    let c = Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    Staff { c, password }
}

/// The same counsellor, same key, after a restart.
async fn back(server: &ServerProcess, username: &str, s: Staff) -> Staff {
    let state = s.c.into_state().await.expect("state");
    let token = staff_login(server, username, &s.password);
    let c = Client::connect_staff(&server.url(), state, &token)
        .await
        .expect("staff back");
    Staff {
        c,
        password: s.password,
    }
}

async fn visitor(server: &ServerProcess) -> Client {
    Client::connect_ephemeral(&server.url()).await.expect("visitor connect")
}

fn audit(server: &ServerProcess) -> String {
    String::from_utf8(server.admin(&["audit", "--since", "1970-01-01"], "").stdout).unwrap()
}

#[tokio::test]
async fn anonymous_floods_fill_their_own_budgets_and_the_helpline_still_works() {
    let open_day = (utc_weekday_now() + 2) % 7 + 1;
    let closed = format!("opening_hours = [{{ weekday = {open_day}, opens = 0, closes = 1440 }}]");
    let mut server = ServerProcess::start_with_config(&config(&closed));

    // --- Before the flood: staff work, which the audit log records.
    let mut ana = staff(&server, "ana").await;
    let mut bora = staff(&server, "bora").await;
    // (Staff consoles publish 50 key packages and a last-resort one as
    // they connect.)
    ana.c
        .set_shift(ShiftState::ClockedIn, false)
        .await
        .expect("ana clocks in");
    bora.c
        .set_shift(ShiftState::ClockedIn, false)
        .await
        .expect("bora clocks in");
    let before = audit(&server);
    assert!(before.contains("shift_changed"), "{before}");
    let staff_lines_before: Vec<String> = before
        .lines()
        .filter(|l| l.contains("shift_changed"))
        .map(str::to_string)
        .collect();
    assert_eq!(staff_lines_before.len(), 2);

    // --- Team messages, from many keys, while closed.
    let mut team_groups = Vec::new();
    let mut keep = Vec::new();
    loop {
        let mut v = visitor(&server).await;
        match v.leave_team_message("mk", "please call me back").await {
            Ok(g) => {
                if team_groups.is_empty() {
                    // One handout per key.
                    assert_eq!(
                        code(v.request(Request::TeamKeyPackages).await),
                        ErrorCode::LimitExceeded
                    );
                    // A left team message takes nobody more.
                    let mut other = visitor(&server).await;
                    other.publish_key_packages(1).await.expect("a key package");
                    assert_eq!(
                        code(v.add_members(&g, &[other.client_id()]).await),
                        ErrorCode::Forbidden
                    );
                    keep.push(other);
                }
                team_groups.push(g);
                keep.push(v);
            }
            Err(e) => {
                // The handouts are bounded (max_team_messages = 4).
                assert_eq!(e.server_code(), Some(ErrorCode::Busy), "{e}");
                assert!(
                    e.refusal().and_then(|r| r.help.as_ref()).is_some(),
                    "with the crisis lines"
                );
                break;
            }
        }
        assert!(team_groups.len() <= 4, "the handouts are bounded");
    }
    assert_eq!(team_groups.len(), 4);
    // Ana is in 4 team messages, past her max_groups_per_client of 3:
    // none of them counts against it (see the chat below).
    // A visitor cannot claim a staff key's package to add it to a group of
    // its own (the policy's side of that rule: intake/policy.rs tests).
    {
        let mut v = visitor(&server).await;
        let g = v.create_group().await.expect("group");
        let kp = match v
            .request(Request::ClaimKeyPackage {
                client_id: parasol_protocol::Bytes(ana.id().to_vec()),
            })
            .await
        {
            Err(e) => e,
            Ok(other) => panic!("a visitor claimed a staff key package: {other:?}"),
        };
        assert_eq!(kp.server_code(), Some(ErrorCode::Forbidden));
        assert_eq!(code(v.add_members(&g, &[ana.id()]).await), ErrorCode::Forbidden);
        keep.push(v);
    }

    // --- Groups: throwaway keys fill the anonymous pool (12, of which
    // the team messages and the group above hold 5).
    let mut anonymous_groups = 5;
    'groups: loop {
        let mut v = visitor(&server).await;
        for _ in 0..3 {
            match v.create_group().await {
                Ok(_) => anonymous_groups += 1,
                Err(e) => {
                    assert_eq!(e.server_code(), Some(ErrorCode::LimitExceeded), "{e}");
                    assert!(e.to_string().contains("for visitors"), "{e}");
                    break 'groups;
                }
            }
        }
        keep.push(v);
    }
    assert_eq!(anonymous_groups, 12);

    // --- Key packages: throwaway keys fill the anonymous share (60 of 300).
    let mut published = 0;
    loop {
        let mut v = visitor(&server).await;
        match v.publish_key_packages(20).await {
            Ok(_) => published += 20,
            Err(e) => {
                assert_eq!(e.server_code(), Some(ErrorCode::LimitExceeded), "{e}");
                break;
            }
        }
        assert!(published <= 60);
    }
    assert_eq!(published, 60);
    // Staff consoles still publish.
    ana.c.publish_key_packages(5).await.expect("ana tops up");
    bora.c.publish_key_packages(5).await.expect("bora tops up");

    // --- Morning: the service opens (restart with the hours begun).
    let ana_state = ana;
    let bora_state = bora;
    server.restart_with_config(&config(""));
    let mut ana = back(&server, "ana", ana_state).await;
    let mut bora = back(&server, "bora", bora_state).await;
    // The pools are still full after the restart (counted from disk).
    let mut v = visitor(&server).await;
    assert_eq!(code(v.create_group().await), ErrorCode::LimitExceeded);
    assert_eq!(code(v.publish_key_packages(1).await), ErrorCode::LimitExceeded);

    // --- SOS: every visitor in the queue presses it over and over.
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let mut v = visitor(&server).await;
        let ticket = v.request_chat("mk", "violence", false).await.expect("a ticket");
        for _ in 0..40 {
            v.sos().await.expect("sos is always answered");
        }
        waiting.push((ticket.ticket_id, v));
    }
    let after_sos = audit(&server);
    assert_eq!(
        after_sos.lines().filter(|l| l.contains("sos_raised")).count(),
        4,
        "once per ticket: {after_sos}"
    );
    for line in &staff_lines_before {
        assert!(after_sos.contains(line.as_str()), "{line} was pushed out:\n{after_sos}");
    }

    // --- The helpline still works: accept, transfer, escalate.
    ana.c
        .set_shift(ShiftState::Available, false)
        .await
        .expect("ana available");
    let offered = wait_notice(&mut ana.c, "offer", |n| match n {
        ServerMessage::Offer { ticket, .. } => Some(ticket.ticket_id),
        _ => None,
    })
    .await;
    let chat = ana
        .c
        .accept_ticket(offered)
        .await
        .expect("ana accepts despite 4 team messages");
    let g = chat.group_id;
    let (_, mut v) = waiting.swap_remove(
        waiting
            .iter()
            .position(|(id, _)| *id == offered)
            .expect("one of the waiting visitors"),
    );
    v.wait_for_group(&g, parasol_tests::drive::WAIT)
        .await
        .expect("the visitor joins");
    // In the chat, a flood of sos alerts the counsellor once (a flood of
    // alerts would fill the console's bounded push queue and drop offers).
    for _ in 0..10 {
        v.sos().await.expect("sos in the chat");
    }
    let mut alerts = 0;
    while let Some(notice) = ana.c.next_notice(Duration::from_millis(1500)).await.expect("notice") {
        if matches!(notice, ServerMessage::SosAlert { .. }) {
            alerts += 1;
        }
    }
    assert_eq!(alerts, 1, "one sos_alert per ticket per 30 s");
    ana.c
        .transfer_chat(&g, Some(bora.account()))
        .await
        .expect("transfer to bora, whose key packages the flood did not take");
    let bora_id = bora.id();
    until(&mut v, "the visitor adding bora", |v| {
        v.members(&g).is_ok_and(|m| m.contains(&bora_id))
    })
    .await;
    until(&mut bora.c, "bora in the chat", |b| b.members(&g).is_ok()).await;
    let escalation = bora
        .c
        .escalate(&g, Severity::High, Category::Other)
        .await
        .expect("bora escalates");
    assert!(escalation.escalation_id > 0);

    // The audit log holds the staff actions from before the flood and now.
    let last = audit(&server);
    for line in &staff_lines_before {
        assert!(last.contains(line.as_str()), "{line} was pushed out:\n{last}");
    }
    assert_eq!(last.lines().filter(|l| l.contains("sos_raised")).count(), 4, "{last}");
    for action in ["ticket_accepted", "chat_transferred", "escalation_raised"] {
        assert!(last.contains(action), "{action} missing:\n{last}");
    }
    drop(keep);
    server.assert_logs_clean(&["203.0.113.7"]);
}

/// A loopback relay that adds `X-Forwarded-For: <addr>` to the WebSocket
/// handshake (the server trusts it from loopback when configured), so the
/// server sees the clients as coming from one network source.
async fn relay_from(server: std::net::SocketAddr, forwarded: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("relay");
    let addr = listener.local_addr().expect("relay address");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request line, byte by byte, then the header.
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while !line.ends_with(b"\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    line.push(byte[0]);
                }
                let Ok(mut upstream) = tokio::net::TcpStream::connect(server).await else {
                    return;
                };
                let mut head = line;
                head.extend_from_slice(format!("X-Forwarded-For: {forwarded}\r\n").as_bytes());
                if upstream.write_all(&head).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });
    format!("ws://{addr}/v1/ws")
}

#[tokio::test]
async fn heavy_validation_has_a_per_source_budget_that_staff_do_not_spend() {
    // 12 units at once, then one a minute: one per key package, one per
    // new group plus one per started 4 KiB of its tree.
    let server = ServerProcess::start_with_config(
        "[limits]\nvalidations_per_source_per_minute = 1\nvalidation_source_burst = 12\n\
         [intake]\ntrusted_proxy_header = \"x-forwarded-for\"\n\
         connections_per_source_per_minute = 1000\nconnection_burst = 1000\n",
    );
    let url = relay_from(server.addr(), "203.0.113.7").await;
    let connect = || async { Client::connect_ephemeral(&url).await.expect("visitor via the relay") };
    let mut a = connect().await;
    a.publish_key_packages(10).await.expect("10 units");
    a.create_group().await.expect("2 units: the burst is spent");
    let refused = a.publish_key_packages(1).await.expect_err("past the source's budget");
    assert_eq!(refused.server_code(), Some(ErrorCode::RateLimited), "{refused}");
    assert!(refused
        .refusal()
        .and_then(|r| r.retry_after_secs)
        .is_some_and(|s| s > 0));
    // A fresh key from the same source shares the source's budget.
    let mut b = connect().await;
    assert_eq!(code(b.create_group().await), ErrorCode::RateLimited);
    // Another source has its own.
    let mut c = visitor(&server).await;
    c.publish_key_packages(5)
        .await
        .expect("a local client is not that source");
    // Staff sessions are not charged: connecting publishes 51 packages.
    let mut ana = staff(&server, "ana").await;
    ana.c.create_group().await.expect("staff are not charged");
    server.assert_logs_clean(&["203.0.113.7"]);
}
