//! Moderated circles keep their staff moderators: a peer (visitor)
//! moderator may moderate members, but may not demote, mute or remove the
//! counsellor who runs the circle, neither through the circle operations
//! nor by committing the removal of her leaf. Real MLS clients against the
//! real server. Members' names are bound to their leaves (`circle_roster`).

use std::time::{Duration, Instant};

use parasol_client::{Client, ClientState, ErrorCode, Identity};
use parasol_protocol::{CircleInfo, JoinRequest};
use parasol_tests::drive::{code, WAIT};
use parasol_tests::{create_staff, marker, staff_login, ServerProcess};

async fn wait_joined(client: &mut Client, group: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !client.groups().iter().any(|g| g == group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "never joined");
        client.next_event(left).await.expect("event");
    }
}

async fn wait_requests(moderator: &mut Client, circle: &CircleInfo, n: usize) -> Vec<JoinRequest> {
    let deadline = Instant::now() + WAIT;
    loop {
        let requests = moderator.join_requests(circle.circle_id).await.expect("join requests");
        if requests.len() >= n {
            return requests;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} join requests",
            requests.len()
        );
        let _ = moderator.next_notice(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn peer_moderators_cannot_demote_mute_or_remove_a_staff_moderator() {
    let server = ServerProcess::start();
    let url = server.url();
    let password = create_staff(&server, "vesna", "Vesna", "counsellor", "mk,en", 3);
    let token = staff_login(&server, "vesna", &password);
    let mut vesna = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    let circle = vesna
        .create_circle("Circle", "en", "Peer support", false)
        .await
        .expect("circle");
    let group = circle.group_id.0.clone();
    let invite = vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect("invitation")
        .code
        .expect("code");
    let mut a = Client::connect_ephemeral(&url).await.expect("a");
    let mut b = Client::connect_ephemeral(&url).await.expect("b");
    a.join_circle(&invite, "A").await.expect("join a");
    b.join_circle(&invite, "B").await.expect("join b");
    let requests = wait_requests(&mut vesna, &circle, 2).await;
    vesna.approve_joins(&group, &requests).await.expect("approve");
    wait_joined(&mut a, &group).await;
    wait_joined(&mut b, &group).await;
    vesna
        .set_moderator(circle.circle_id, &a.client_id(), true)
        .await
        .expect("promote A");
    a.drain_available().await.expect("drain");

    // Names are bound to leaves: the roster names each key by the name it
    // joined under (Vesna's: her staff name), whatever a message claims,
    // and a stranger cannot read it.
    let roster = b.circle_roster(circle.circle_id).await.expect("roster");
    let entry = |id: &[u8]| {
        roster
            .iter()
            .find(|m| m.client_id.0 == id)
            .map(|m| (m.display_name.clone(), m.moderator, m.staff))
    };
    assert_eq!(entry(&vesna.client_id()), Some(("Vesna".to_string(), true, true)));
    assert_eq!(entry(&a.client_id()), Some(("A".to_string(), true, false)));
    assert_eq!(entry(&b.client_id()), Some(("B".to_string(), false, false)));
    assert_eq!(roster.len(), 3);
    let stranger = Client::connect_ephemeral(&url).await.expect("stranger");
    assert_eq!(
        code(stranger.circle_roster(circle.circle_id).await),
        ErrorCode::UnknownCircle
    );

    // The peer moderator moderates members…
    a.set_muted(circle.circle_id, &b.client_id(), true)
        .await
        .expect("a peer moderator mutes a member");
    // Who is muted is told to moderators (a console shows it again after a
    // reload), never to the members.
    let muted_in = |roster: &[parasol_protocol::CircleMember]| {
        roster
            .iter()
            .filter(|m| m.muted)
            .map(|m| m.client_id.0.clone())
            .collect::<Vec<_>>()
    };
    let as_moderator = vesna.circle_roster(circle.circle_id).await.expect("roster");
    assert_eq!(muted_in(&as_moderator), vec![b.client_id().to_vec()]);
    let as_member = b.circle_roster(circle.circle_id).await.expect("roster");
    assert!(muted_in(&as_member).is_empty(), "members are not told who is muted");
    a.set_muted(circle.circle_id, &b.client_id(), false)
        .await
        .expect("unmute");
    // …but not the staff moderator, by any door.
    assert_eq!(
        code(a.set_moderator(circle.circle_id, &vesna.client_id(), false).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(a.set_muted(circle.circle_id, &vesna.client_id(), true).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(a.remove_members(&group, &[vesna.client_id()]).await),
        ErrorCode::Forbidden
    );

    // Vesna still moderates: her messages go through, she demotes A, and
    // removes B.
    vesna.drain_available().await.expect("drain");
    let hello = format!("still the moderator {}", marker());
    vesna.send_text(&group, &hello).await.expect("vesna sends");
    let info = vesna
        .list_circles()
        .await
        .expect("circles")
        .into_iter()
        .find(|c| c.circle_id == circle.circle_id)
        .expect("the circle");
    assert!(info.moderator, "Vesna is still a moderator");
    vesna
        .set_moderator(circle.circle_id, &a.client_id(), false)
        .await
        .expect("staff demotes a peer moderator");
    vesna
        .remove_members(&group, &[b.client_id()])
        .await
        .expect("staff removes a member");
    // A peer moderator may still step down herself (she is not staff).
    let mut c = Client::connect_ephemeral(&url).await.expect("c");
    c.join_circle(&invite, "C").await.expect("join c");
    let requests = wait_requests(&mut vesna, &circle, 1).await;
    vesna.drain_available().await.expect("drain");
    vesna.approve_joins(&group, &requests).await.expect("approve C");
    wait_joined(&mut c, &group).await;
    vesna
        .set_moderator(circle.circle_id, &c.client_id(), true)
        .await
        .expect("promote C");
    c.set_moderator(circle.circle_id, &c.client_id(), false)
        .await
        .expect("a peer moderator steps down");
}
