//! The clock guard of the retention purge, on the real server: started with
//! its clock 8 days ahead (a wrong RTC, a bad NTP step) on a data directory
//! with undelivered, acknowledged envelopes, it destroys nothing, still
//! delivers them, and purges only when an operator confirms.
//!
//! The jump is made with `PARASOL_CLOCK_OFFSET_SECS`, which only debug
//! builds of the server read (server/src/time.rs). It is set in this test
//! process and inherited by the server; this file holds one test so no
//! other server sees it.

use std::time::{Duration, Instant};

use parasol_client::{Client, Event};
use parasol_tests::ServerProcess;

const WAIT: Duration = Duration::from_secs(30);
const EIGHT_DAYS: u64 = 8 * 86_400;
const SENT: usize = 20;
/// The log line of a purge that ran.
const PURGED: &str = "retention purge envelopes=";

async fn connect(server: &ServerProcess) -> Client {
    let mut c = Client::connect_ephemeral(&server.url()).await.expect("connect");
    c.publish_key_packages(3).await.expect("publish key packages");
    c
}

async fn joined(client: &mut Client, group: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !client.groups().iter().any(|g| g == group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(client.next_event(left).await.expect("event").is_some(), "no Welcome");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_eight_days_ahead_destroys_nothing_until_an_operator_confirms() {
    // A purge tick every second, so several fall within the test.
    let mut server = ServerProcess::start_with_config("purge_interval_secs = 1\n");
    let mut alice = connect(&server).await;
    let mut bob = connect(&server).await;
    let mut carol = connect(&server).await;
    let group = alice.create_group().await.expect("group");
    alice
        .add_members(&group, &[bob.client_id(), carol.client_id()])
        .await
        .expect("add");
    joined(&mut bob, &group).await;
    joined(&mut carol, &group).await;
    let bob = bob.into_state().await.expect("bob offline");
    let carol = carol.into_state().await.expect("carol offline");
    for i in 0..SENT {
        alice
            .send_text(&group, &format!("undelivered {i}"))
            .await
            .expect("acknowledged");
    }
    // A purge ran at the right time (and was recorded) before the jump.
    std::thread::sleep(Duration::from_millis(1500));
    server.stop();
    let purges_before = server.logs().matches(PURGED).count();
    assert!(purges_before > 0, "purges ran before the jump:\n{}", server.logs());

    std::env::set_var("PARASOL_CLOCK_OFFSET_SECS", EIGHT_DAYS.to_string());
    server.start_again();
    std::thread::sleep(Duration::from_secs(3));
    let logs = server.logs();
    assert!(
        logs.contains("the clock moved too far since the last retention purge"),
        "the hold is logged:\n{logs}"
    );
    assert_eq!(
        logs.matches(PURGED).count(),
        purges_before,
        "no purge ran after the jump:\n{logs}"
    );

    // Bob's envelopes are all still there and delivered.
    let mut bob = Client::connect(&server.url(), bob).await.expect("bob connects");
    let mut got = 0;
    let deadline = Instant::now() + WAIT;
    while got < SENT {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "bob got {got} of {SENT} after the jump");
        if let Some(Event::Message { .. }) = bob.next_event(left.min(Duration::from_secs(1))).await.expect("event") {
            got += 1;
        }
    }

    // Without --confirm, nothing happens.
    let refused = server.admin(&["purge"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--confirm"));
    // Confirmed: the purge runs by the (wrong) clock, carol's undelivered
    // envelopes go and the keys of their period are destroyed.
    let confirmed = server.admin(&["purge", "--confirm"], "");
    let out = String::from_utf8_lossy(&confirmed.stdout).to_string();
    assert!(
        confirmed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&confirmed.stderr)
    );
    let number_before = |word: &str| -> usize {
        let at = out.find(word).unwrap_or_else(|| panic!("{word} in {out}"));
        out[..at]
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a count before {word} in {out}"))
    };
    assert!(number_before("envelopes") >= SENT, "{out}");
    assert!(number_before("storage keys destroyed") >= 1, "{out}");
    let mut carol = Client::connect(&server.url(), carol).await.expect("carol connects");
    assert!(
        !matches!(
            carol.next_event(Duration::from_secs(2)).await.expect("event"),
            Some(Event::Message { .. })
        ),
        "carol's envelopes were purged"
    );
    std::env::remove_var("PARASOL_CLOCK_OFFSET_SECS");
    drop((bob, carol));
    server.stop();
}
