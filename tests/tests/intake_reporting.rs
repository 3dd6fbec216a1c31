//! What the organisation sees afterwards, and nothing more: anonymous daily
//! statistics with small counts suppressed (CSV from the admin CLI), a
//! content-free audit log of staff actions, blocks that hold, and metrics
//! without personal data.

use std::time::{SystemTime, UNIX_EPOCH};

use parasol_client::{Client, ClientState, ErrorCode, Identity};
use parasol_protocol::ShiftState;
use parasol_tests::{create_staff, http_request, staff_login, ServerProcess};

fn today() -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let days = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// One chat: requested, accepted, closed with `tag`. Returns the visitor.
async fn one_chat(url: &str, counsellor: &mut Client, language: &str, topic: &str, tag: &str) -> Client {
    let mut visitor = Client::connect_ephemeral(url).await.expect("visitor");
    let ticket = visitor.request_chat(language, topic, false).await.expect("ticket");
    let chat = counsellor.accept_ticket(ticket.ticket_id).await.expect("accept");
    counsellor.close_chat(&chat.group_id, tag).await.expect("close");
    visitor
}

#[tokio::test]
async fn statistics_suppress_small_counts_and_the_audit_log_holds_only_actions() {
    let server = ServerProcess::start();
    let url = server.url();
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk,en", 20);
    let token = staff_login(&server, "ana", &password);
    let mut ana = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    ana.publish_key_packages(5).await.expect("publish");
    ana.set_shift(ShiftState::Available, false).await.expect("available");

    // Six Macedonian chats about violence, two English ones about health.
    for _ in 0..6 {
        one_chat(&url, &mut ana, "mk", "violence", "support").await;
    }
    for _ in 0..2 {
        one_chat(&url, &mut ana, "en", "health", "referral").await;
    }

    // A troll is blocked: its session cannot ask again for the block's time.
    let mut troll = Client::connect_ephemeral(&url).await.expect("troll");
    let ticket = troll.request_chat("en", "just_talk", false).await.expect("ticket");
    let reason = "threats against the counsellor";
    ana.block_visitor(ticket.ticket_id, 3600, reason).await.expect("block");
    let again = troll.request_chat("en", "just_talk", false).await.expect_err("blocked");
    assert_eq!(again.server_code(), Some(ErrorCode::Blocked));
    assert!(
        again.refusal().and_then(|r| r.help.as_ref()).is_some(),
        "even a block says where to turn"
    );

    // Statistics: today's row counts 8 chats; cells under 5 are "<5".
    let day = today();
    let out = server.admin(&["stats", "--from", &day, "--to", &day], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("today's row").split(',').collect();
    let cell = |name: &str| {
        let i = header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name}: {csv}"));
        row[i]
    };
    assert_eq!(cell("date"), day);
    assert_eq!(cell("chats"), "8", "{csv}");
    assert_eq!(cell("topic:violence"), "6");
    assert_eq!(cell("language:mk"), "6");
    assert_eq!(cell("closing:support"), "6");
    assert_eq!(cell("topic:health"), "<5", "small counts are suppressed");
    assert_eq!(cell("language:en"), "<5");
    assert_eq!(cell("closing:referral"), "<5");
    assert_eq!(cell("transfers"), "<5");
    assert_ne!(cell("wait_p50_secs"), "<5", "8 chats are enough for percentiles");
    assert!(!csv.contains("just_talk"), "the blocked ticket never became a chat");

    // The audit log: who accepted, closed and blocked, with the reason, and
    // no content or visitor key.
    let out = server.admin(&["audit", "--since", "0"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let audit = String::from_utf8(out.stdout).unwrap();
    assert_eq!(audit.matches("ticket_accepted").count(), 8, "{audit}");
    assert_eq!(audit.matches("chat_closed").count(), 8, "{audit}");
    assert_eq!(audit.matches("visitor_blocked").count(), 1, "{audit}");
    assert!(audit.contains(reason), "the block's reason is kept for the team");
    assert!(audit.contains("shift_changed"));
    let troll_key = hex::encode(troll.client_id());
    assert!(!audit.contains(&troll_key), "no visitor key in the audit log");

    // Metrics, on their own loopback listener: counts and gauges, no
    // personal data. The main listener does not serve them.
    assert_eq!(http_request(server.addr(), "GET", "/metrics", &[], "").0, 404);
    let (status, metrics) = http_request(server.metrics_addr(), "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    assert!(metrics.contains("parasol_queue_depth"), "{metrics}");
    assert!(
        metrics.contains("parasol_intake_requests_total{outcome=\"accepted\"} 9"),
        "{metrics}"
    );
    assert!(!metrics.contains(&troll_key) && !metrics.contains("ana"), "{metrics}");
    server.assert_logs_clean(&[&token, reason]);
}

#[tokio::test]
async fn the_feedback_question_counts_one_answer_per_ended_ticket_and_nothing_else() {
    use parasol_protocol::{FeedbackAnswer, Request, Response};

    let server = ServerProcess::start();
    let url = server.url();
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk,en", 20);
    let token = staff_login(&server, "ana", &password);
    let mut ana = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    ana.publish_key_packages(5).await.expect("publish");
    ana.set_shift(ShiftState::Available, false).await.expect("available");
    let feedback = |answer| Request::ChatFeedback { answer };

    for _ in 0..5 {
        let visitor = one_chat(&url, &mut ana, "mk", "health", "support").await;
        let answer = visitor
            .request(feedback(FeedbackAnswer::Helped))
            .await
            .expect("feedback");
        assert_eq!(answer, Response::FeedbackRecorded);
        // Once per chat: a second answer is refused.
        let again = visitor
            .request(feedback(FeedbackAnswer::Helped))
            .await
            .expect_err("twice");
        assert_eq!(again.server_code(), Some(ErrorCode::InvalidState));
    }
    let visitor = one_chat(&url, &mut ana, "en", "health", "support").await;
    visitor
        .request(feedback(FeedbackAnswer::NotHelped))
        .await
        .expect("feedback");

    // No chat, or staff: nothing to count. A ticket she cancelled herself
    // may be answered once, like a closed chat (leaving is an answer too).
    let stranger = Client::connect_ephemeral(&url).await.expect("stranger");
    let e = stranger
        .request(feedback(FeedbackAnswer::Helped))
        .await
        .expect_err("no chat");
    assert_eq!(e.server_code(), Some(ErrorCode::InvalidState));
    let mut quitter = Client::connect_ephemeral(&url).await.expect("quitter");
    quitter.request_chat("en", "health", false).await.expect("ticket");
    quitter.cancel_ticket().await.expect("cancel");
    let answer = quitter
        .request(feedback(FeedbackAnswer::Helped))
        .await
        .expect("feedback after cancelling");
    assert_eq!(answer, Response::FeedbackRecorded);
    let e = quitter
        .request(feedback(FeedbackAnswer::Helped))
        .await
        .expect_err("cancelled, twice");
    assert_eq!(e.server_code(), Some(ErrorCode::InvalidState));
    let e = ana.request(feedback(FeedbackAnswer::Helped)).await.expect_err("staff");
    assert_eq!(e.server_code(), Some(ErrorCode::Forbidden));

    let day = today();
    let out = server.admin(&["stats", "--from", &day, "--to", &day], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("today's row").split(',').collect();
    let cell = |name: &str| {
        row[header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("{csv}"))]
    };
    assert_eq!(cell("feedback:helped"), "6", "{csv}");
    assert_eq!(cell("feedback:not_helped"), "<5", "small counts are suppressed");
    assert!(!header.contains(&"feedback:somewhat"));
}
