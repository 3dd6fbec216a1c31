//! Outside opening hours: a visitor is told when the service opens and
//! where else to turn, and can leave a message sealed (MLS) to the team,
//! which the next counsellor who clocks in reads. The server never sees it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parasol_client::{Client, ClientState, ErrorCode, Event, Identity};
use parasol_protocol::{ServerMessage, ShiftState};
use parasol_tests::{contains_bytes, create_staff, marker, staff_login, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);

/// Today's weekday in UTC, 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
fn utc_weekday_now() -> u8 {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400;
    ((days + 3) % 7) as u8 + 1
}

async fn next_text(c: &mut Client, group: &[u8]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await.expect("event") {
            Some(Event::Message { group_id, text, .. }) if group_id == group => return text,
            Some(_) => {}
            None => panic!("no message arrived"),
        }
    }
}

#[tokio::test]
async fn off_hours_visitors_get_help_and_can_leave_a_sealed_message_for_the_team() {
    // Open only on a day three days from today, so closed now (UTC).
    let open_day = (utc_weekday_now() + 2) % 7 + 1;
    assert_ne!(open_day, utc_weekday_now());
    let mut server = ServerProcess::start_with_config(&format!(
        "[intake]\ntime_zone = \"UTC\"\nopening_hours = [{{ weekday = {open_day}, opens = 0, closes = 1440 }}]\n"
    ));
    let url = server.url();

    // A counsellor has used the service before (their key is known and
    // has key packages), and is off shift now.
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk,en", 3);
    let token = staff_login(&server, "ana", &password);
    let mut ana = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    ana.publish_key_packages(3).await.expect("publish");
    let ana_state = ana.into_state().await.expect("ana leaves");

    // The visitor learns the service is closed, when it opens, and where
    // else to turn.
    let mut visitor = Client::connect_ephemeral(&url).await.expect("visitor");
    let info = visitor.intake_info().await.expect("intake_info");
    assert!(!info.open, "closed today");
    let next = info.help.next_open_at.expect("the next opening is given");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(next > now && next - now <= 7 * 86_400, "next opening within a week");
    assert_eq!((next / 86_400 + 3) % 7 + 1, u64::from(open_day), "on the opening day");
    assert_eq!(next % 86_400, 0, "at midnight UTC");
    assert!(info.help.crisis_lines.iter().any(|l| l.number == "0800 11111"));

    let refused = visitor.request_chat("mk", "violence", false).await;
    let err = refused.expect_err("no chat while closed");
    assert_eq!(err.server_code(), Some(ErrorCode::IntakeClosed));
    let help = err
        .refusal()
        .and_then(|r| r.help.clone())
        .expect("the refusal says where to turn");
    assert!(!help.crisis_lines.is_empty());
    assert_eq!(help.next_open_at, Some(next));

    // A sealed message for the team.
    let text = format!("please write back tomorrow {}", marker());
    let group = visitor.leave_team_message("mk", &text).await.expect("team message");

    // The server holds only ciphertext.
    for (path, bytes) in server.data_files() {
        assert!(
            !contains_bytes(&bytes, text.as_bytes()),
            "plaintext in {}",
            path.display()
        );
    }
    // Staff cannot be asked through a visitor operation, and a visitor
    // cannot read the team's list.
    assert_eq!(
        visitor.team_messages().await.expect_err("visitors only").server_code(),
        Some(ErrorCode::Forbidden)
    );

    // The next counsellor who clocks in is told, reads it, and takes it.
    let token = staff_login(&server, "ana", &password);
    let mut ana = Client::connect_staff(&url, ana_state, &token).await.expect("ana back");
    ana.set_shift(ShiftState::ClockedIn, false).await.expect("clock in");
    let deadline = Instant::now() + WAIT;
    let waiting = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ana.next_notice(left).await.expect("notice") {
            Some(ServerMessage::TeamMessagesWaiting { messages }) => break messages,
            Some(_) => {}
            None => panic!("no team_messages_waiting on clocking in"),
        }
    };
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].group_id.0, group);
    assert_eq!(waiting[0].language, "mk");
    assert_eq!(next_text(&mut ana, &group).await, text);
    ana.take_team_message(&group).await.expect("take");
    assert!(ana.team_messages().await.expect("list").is_empty(), "taken by Ana");
    assert_eq!(
        ana.take_team_message(&group)
            .await
            .expect_err("already taken")
            .server_code(),
        Some(ErrorCode::UnknownGroup)
    );

    // The list survives a restart until taken; taken is gone for good.
    server.restart();
    let token = staff_login(&server, "ana", &password);
    let ana = Client::connect_staff(&server.url(), ana.into_state().await.expect("state"), &token)
        .await
        .expect("ana after restart");
    assert!(ana.team_messages().await.expect("list").is_empty());
    server.assert_logs_clean(&[&text, &token]);
}

#[tokio::test]
async fn a_flood_of_team_message_requests_cannot_use_up_the_counsellors_key_packages() {
    // Each `team_key_packages` claims a one-time key package of every
    // counsellor: the calls have a global budget of their own (3 here),
    // apart from the per-source budget, which is lifted here.
    let open_day = (utc_weekday_now() + 2) % 7 + 1;
    let server = ServerProcess::start_with_config(&format!(
        "[intake]\ntime_zone = \"UTC\"\nopening_hours = [{{ weekday = {open_day}, opens = 0, closes = 1440 }}]\n\
         team_key_packages_per_minute = 3\nrequests_per_source_per_minute = 1000\nsource_burst = 1000\n"
    ));
    let url = server.url();
    let password = create_staff(&server, "ana", "Ana", "counsellor", "mk,en", 3);
    let token = staff_login(&server, "ana", &password);
    let mut ana = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    ana.publish_key_packages(20).await.expect("publish");

    let (mut left, mut limited) = (0, 0);
    for n in 0..8 {
        let mut visitor = Client::connect_ephemeral(&url).await.expect("visitor");
        match visitor.leave_team_message("mk", &format!("message {n}")).await {
            Ok(_) => left += 1,
            Err(e) => {
                assert_eq!(e.server_code(), Some(ErrorCode::RateLimited), "{e}");
                let refusal = e.refusal().expect("details");
                assert!(refusal.retry_after_secs.is_some_and(|s| s > 0 && s <= 60));
                let help = refusal.help.as_ref().expect("the refusal says where to turn");
                assert!(!help.crisis_lines.is_empty());
                limited += 1;
            }
        }
    }
    // Three calls claimed Ana's key packages; five were refused before
    // claiming anything.
    assert_eq!((left, limited), (3, 5));
    drop(ana);
}
