//! Peer support circles end to end, with real MLS clients against the real
//! server: invitations with approval, messages, removal, mute, leaving,
//! moderation enforced by the server, unlinkable memberships, and refused
//! invitations.

use std::time::{Duration, Instant};

use parasol_client::{Client, ClientError, ClientId, ClientState, ErrorCode, Event, Identity, ServerMessage};
use parasol_protocol::{CircleInfo, JoinRequest};
use parasol_tests::{create_staff, marker, staff_login, ServerProcess};

const WAIT: Duration = Duration::from_secs(30);
/// How long "receives nothing" is watched for.
const QUIET: Duration = Duration::from_secs(2);

async fn moderator(server: &ServerProcess, username: &str) -> Client {
    let password = create_staff(server, username, "Vesna", "counsellor", "mk,en", 3);
    let token = staff_login(server, username, &password);
    Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect")
}

fn code_of(e: &ClientError) -> Option<ErrorCode> {
    e.server_code()
}

/// Wait until `client` has joined `group` by its Welcome.
async fn wait_joined(client: &mut Client, group: &[u8]) {
    let deadline = Instant::now() + WAIT;
    while !client.groups().iter().any(|g| g == group) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "never joined");
        client.next_event(left).await.expect("event");
    }
}

/// The next text message in `group`.
async fn next_text(client: &mut Client, group: &[u8]) -> (ClientId, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left).await.expect("event") {
            Some(Event::Message {
                group_id, sender, text, ..
            }) if group_id == group => return (sender, text),
            Some(_) => {}
            None => panic!("no message arrived"),
        }
    }
}

/// Nothing at all arrives on the socket for a while (no envelope, no push).
async fn receives_nothing(client: &mut Client, who: &str) {
    let deadline = Instant::now() + QUIET;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Some(parasol_client::Incoming::Message(ServerMessage::Envelope { envelope })) =
            client.next_server_message(left).await
        {
            panic!("{who}: an envelope arrived afterwards: {:?}", envelope.kind);
        }
    }
}

/// The moderator waits for `n` join requests (pushed) and returns them all.
async fn wait_requests(moderator: &mut Client, circle: &CircleInfo, n: usize) -> Vec<JoinRequest> {
    let deadline = Instant::now() + WAIT;
    loop {
        let requests = moderator.join_requests(circle.circle_id).await.expect("join requests");
        if requests.len() >= n {
            return requests;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "only {} of {n} join requests", requests.len());
        let _ = moderator.next_notice(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_ten_member_circle_built_from_an_invitation_with_removal_mute_and_leaving() {
    let server = ServerProcess::start();
    let url = server.url();
    let mut vesna = moderator(&server, "vesna").await;
    let circle = vesna
        .create_circle("Evening circle", "mk", "Health and safety", false)
        .await
        .expect("create circle");
    assert!(circle.moderator);
    let group = circle.group_id.0.clone();
    let invitation = vesna
        .create_invitation(circle.circle_id, 3600, 20)
        .await
        .expect("invitation");
    let code = invitation.code.clone().expect("the code comes with the answer");
    // Handed out as a link (`/#circle=CODE`) or read aloud with dashes.
    let typed = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]).to_lowercase();

    // Nine visitors, each with a fresh anonymous key, open the invitation
    // and ask to join under a name for this circle only.
    let mut members = Vec::new();
    for i in 0..9 {
        let mut v = Client::connect_ephemeral(&url).await.expect("visitor");
        let preview = v.preview_invitation(&typed).await.expect("preview");
        assert_eq!(preview.name, "Evening circle");
        assert_eq!(preview.circle_id, circle.circle_id);
        v.join_circle(&typed, &format!("Rosa {i}")).await.expect("join");
        members.push(v);
    }
    // Something said before anyone joined stays unreadable to them (MLS:
    // a Welcome gives only the current epoch's keys; the server replays
    // nothing to new members).
    vesna.send_text(&group, "before anyone came").await.expect("alone");
    // The moderator is told of each request and approves them in one commit.
    let requests = wait_requests(&mut vesna, &circle, 9).await;
    assert!(requests.iter().any(|r| r.display_name == "Rosa 3"));
    vesna.approve_joins(&group, &requests).await.expect("approve");
    for v in &mut members {
        wait_joined(v, &group).await;
    }
    assert_eq!(vesna.members(&group).expect("members").len(), 10);
    assert!(vesna
        .join_requests(circle.circle_id)
        .await
        .expect("requests")
        .is_empty());

    // Everyone hears everyone, and the first thing a new member reads is
    // what was said after they joined.
    let hello = format!("hello circle {}", marker());
    members[0].send_text(&group, &hello).await.expect("send");
    let from = members[0].client_id();
    for v in members.iter_mut().skip(1) {
        assert_eq!(next_text(v, &group).await, (from, hello.clone()));
    }
    assert_eq!(next_text(&mut vesna, &group).await, (from, hello.clone()));

    // A removed member receives nothing afterwards.
    let removed = members.pop().expect("ninth");
    let mut removed = removed;
    vesna
        .remove_members(&group, &[removed.client_id()])
        .await
        .expect("remove");
    // It learns of its removal, then nothing more.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match removed.next_event(left).await.expect("event") {
            Some(Event::Removed { .. }) => break,
            Some(_) => {}
            None => panic!("no removal"),
        }
    }
    for v in &mut members {
        v.drain_available().await.expect("drain");
    }
    let after = format!("after the removal {}", marker());
    members[0].send_text(&group, &after).await.expect("send");
    for v in members.iter_mut().skip(1) {
        assert_eq!(next_text(v, &group).await.1, after);
    }
    receives_nothing(&mut removed, "removed").await;

    // A muted member's messages are refused with a typed error, until
    // unmuted.
    let muted_id = members[1].client_id();
    vesna.set_muted(circle.circle_id, &muted_id, true).await.expect("mute");
    let refused = members[1]
        .send_text(&group, "can you hear me")
        .await
        .expect_err("muted");
    assert_eq!(code_of(&refused), Some(ErrorCode::Muted), "{refused}");
    vesna
        .set_muted(circle.circle_id, &muted_id, false)
        .await
        .expect("unmute");
    members[1].send_text(&group, "back again").await.expect("unmuted");
    assert_eq!(next_text(&mut members[2], &group).await.1, "back again");

    // A member who leaves stops receiving at once; the moderator is told
    // and removes the leaf.
    let mut leaver = members.pop().expect("eighth");
    let leaver_id = leaver.client_id();
    // What was sent before leaving is read first: up to "back again",
    // which may still be on its way when the others have it.
    while next_text(&mut leaver, &group).await.1 != "back again" {}
    leaver.drain_available().await.expect("drain");
    leaver.leave_circle(circle.circle_id, &group).await.expect("leave");
    let right_after = format!("right after leaving {}", marker());
    members[0].send_text(&group, &right_after).await.expect("send");
    receives_nothing(&mut leaver, "leaver").await;
    // The others still hear it.
    while next_text(&mut members[3], &group).await.1 != right_after {}
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match vesna.next_notice(left).await.expect("notice") {
            Some(ServerMessage::CircleMemberLeft { client_id, .. }) => {
                assert_eq!(client_id.0, leaver_id.to_vec());
                break;
            }
            Some(_) => {}
            None => panic!("the moderator was not told"),
        }
    }
    vesna.drain_available().await.expect("drain");
    vesna
        .remove_members(&group, &[leaver_id])
        .await
        .expect("remove the leaf");
    assert_eq!(vesna.members(&group).expect("members").len(), 8);

    // Every moderation action is in the audit log, without content or keys.
    let audit = String::from_utf8(server.admin(&["audit", "--since", "1970-01-01"], "").stdout).unwrap();
    for action in [
        "circle_created",
        "invitation_created",
        "join_requested",
        "join_approved",
        "member_removed",
        "member_muted",
        "member_unmuted",
        "member_left",
    ] {
        assert!(audit.contains(action), "{action} missing from the audit log:\n{audit}");
    }
    for secret in [&hello, &after, "Rosa 3", &code] {
        assert!(!audit.contains(secret), "{secret} in the audit log");
    }
    assert!(!audit.contains(&hex(&muted_id)), "a member's key in the audit log");

    // Closing the circle purges it: the group is gone for everyone.
    vesna.close_circle(circle.circle_id, &group).await.expect("close");
    let gone = members[0].send_text(&group, "anyone?").await.expect_err("closed");
    assert_eq!(code_of(&gone), Some(ErrorCode::UnknownGroup), "{gone}");
    server.assert_logs_clean(&[&hello, &after, &right_after, "Rosa 3", &code]);
}

#[tokio::test]
async fn only_moderators_may_add_or_remove_others() {
    let server = ServerProcess::start();
    let url = server.url();
    let mut vesna = moderator(&server, "vesna").await;
    let circle = vesna
        .create_circle("Circle", "en", "Peer support", false)
        .await
        .expect("circle");
    let group = circle.group_id.0.clone();
    let code = vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect("invitation")
        .code
        .expect("code");
    let mut a = Client::connect_ephemeral(&url).await.expect("a");
    let mut b = Client::connect_ephemeral(&url).await.expect("b");
    a.join_circle(&code, "A").await.expect("join a");
    b.join_circle(&code, "B").await.expect("join b");
    let requests = wait_requests(&mut vesna, &circle, 2).await;
    vesna.approve_joins(&group, &requests).await.expect("approve");
    wait_joined(&mut a, &group).await;
    wait_joined(&mut b, &group).await;

    // A member may not remove another.
    let refused = a
        .remove_members(&group, &[b.client_id()])
        .await
        .expect_err("not a moderator");
    assert_eq!(code_of(&refused), Some(ErrorCode::Forbidden), "{refused}");
    // Nor add anyone, not even someone who asked to join (A got hold of
    // the request's key package).
    let mut c = Client::connect_ephemeral(&url).await.expect("c");
    c.join_circle(&code, "C").await.expect("join c");
    let for_c = wait_requests(&mut vesna, &circle, 1).await;
    a.drain_available().await.expect("drain");
    let refused = a.approve_joins(&group, &for_c).await.expect_err("not a moderator");
    assert_eq!(code_of(&refused), Some(ErrorCode::Forbidden), "{refused}");
    // A moderator adds only people who asked to join.
    let password = create_staff(&server, "marko", "Marko", "counsellor", "en", 3);
    let token = staff_login(&server, "marko", &password);
    let mut marko = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("marko");
    marko.publish_key_packages(2).await.expect("publish");
    vesna.drain_available().await.expect("drain");
    let refused = vesna
        .add_members(&group, &[marko.client_id()])
        .await
        .expect_err("did not ask");
    assert_eq!(code_of(&refused), Some(ErrorCode::Forbidden), "{refused}");
    // Members may not moderate by the side door either.
    let refused = a
        .set_muted(circle.circle_id, &b.client_id(), true)
        .await
        .expect_err("member");
    assert_eq!(code_of(&refused), Some(ErrorCode::Forbidden));
    let refused = a.create_invitation(circle.circle_id, 60, 1).await.expect_err("member");
    assert_eq!(code_of(&refused), Some(ErrorCode::Forbidden));
    let refused = c.join_requests(circle.circle_id).await.expect_err("stranger");
    assert_eq!(code_of(&refused), Some(ErrorCode::UnknownCircle));
    // A member's own key update is fine.
    a.drain_available().await.expect("drain");
    a.self_update(&group).await.expect("self update");

    // A moderator makes A a peer moderator, who may then remove B.
    vesna
        .set_moderator(circle.circle_id, &a.client_id(), true)
        .await
        .expect("promote");
    a.drain_available().await.expect("drain");
    a.remove_members(&group, &[b.client_id()])
        .await
        .expect("peer moderator removes");
}

#[tokio::test]
async fn a_visitor_in_two_circles_is_two_unlinkable_keys() {
    let server = ServerProcess::start();
    let url = server.url();
    let mut vesna = moderator(&server, "vesna").await;
    let first = vesna
        .create_circle("Mornings", "mk", "Health", false)
        .await
        .expect("first");
    let second = vesna
        .create_circle("Evenings", "mk", "Rights", false)
        .await
        .expect("second");
    let code_1 = vesna
        .create_invitation(first.circle_id, 3600, 5)
        .await
        .expect("inv")
        .code
        .expect("code");
    let code_2 = vesna
        .create_invitation(second.circle_id, 3600, 5)
        .await
        .expect("inv")
        .code
        .expect("code");

    // The same person, one fresh identity per circle.
    let mut in_first = Client::connect_ephemeral(&url).await.expect("first identity");
    let mut in_second = Client::connect_ephemeral(&url).await.expect("second identity");
    in_first.join_circle(&code_1, "Rosa").await.expect("join first");
    in_second.join_circle(&code_2, "Rosa").await.expect("join second");
    let r1 = wait_requests(&mut vesna, &first, 1).await;
    let r2 = wait_requests(&mut vesna, &second, 1).await;
    vesna
        .approve_joins(&first.group_id.0, &r1)
        .await
        .expect("approve first");
    vesna
        .approve_joins(&second.group_id.0, &r2)
        .await
        .expect("approve second");
    wait_joined(&mut in_first, &first.group_id.0).await;
    wait_joined(&mut in_second, &second.group_id.0).await;

    // A client that reused its key for a second circle is refused: that
    // would link the memberships.
    let reused = in_first
        .join_circle(&code_2, "Rosa")
        .await
        .expect_err("one key, one circle");
    assert_eq!(code_of(&reused), Some(ErrorCode::InvalidState), "{reused}");
    assert!(reused.to_string().contains("fresh identity"), "{reused}");
    // Different credentials and signature keys (the credential is the key).
    let (k1, k2) = (in_first.client_id(), in_second.client_id());
    assert_ne!(k1, k2);
    let (c1, c2) = (
        in_first.identity().credential_with_key(),
        in_second.identity().credential_with_key(),
    );
    assert_ne!(c1.credential, c2.credential);
    assert_ne!(c1.signature_key, c2.signature_key);
    // What members see: each group has only its own key.
    let m1 = vesna.members(&first.group_id.0).expect("members");
    let m2 = vesna.members(&second.group_id.0).expect("members");
    assert!(m1.contains(&k1) && !m1.contains(&k2));
    assert!(m2.contains(&k2) && !m2.contains(&k1));
    // What the server says to each key: one circle each, nothing of the other.
    let c1 = in_first.list_circles().await.expect("list");
    let c2 = in_second.list_circles().await.expect("list");
    assert_eq!(
        c1.iter().map(|c| c.circle_id).collect::<Vec<_>>(),
        vec![first.circle_id]
    );
    assert_eq!(
        c2.iter().map(|c| c.circle_id).collect::<Vec<_>>(),
        vec![second.circle_id]
    );
    assert!(in_first.list_server_groups().await.expect("groups").len() == 1);
    // The join requests are gone once approved; what the server keeps about
    // a member is its key in its own group, and the audit log records no
    // key at all.
    assert!(vesna.join_requests(first.circle_id).await.expect("requests").is_empty());
    let audit = String::from_utf8(server.admin(&["audit", "--since", "1970-01-01"], "").stdout).unwrap();
    assert!(!audit.contains(&hex(&k1)) && !audit.contains(&hex(&k2)));
    server.assert_logs_clean(&[&hex(&k1), &hex(&k2), &code_1, &code_2]);
}

#[tokio::test]
async fn expired_used_up_revoked_and_unknown_invitations_are_refused_clearly() {
    let server = ServerProcess::start();
    let url = server.url();
    let mut vesna = moderator(&server, "vesna").await;
    let circle = vesna
        .create_circle("Circle", "en", "Peer support", false)
        .await
        .expect("circle");
    let short = vesna.create_invitation(circle.circle_id, 1, 5).await.expect("inv");
    let once = vesna.create_invitation(circle.circle_id, 3600, 1).await.expect("inv");
    let revoked = vesna.create_invitation(circle.circle_id, 3600, 5).await.expect("inv");
    vesna
        .revoke_invitation(circle.circle_id, revoked.invitation_id)
        .await
        .expect("revoke");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let mut v = Client::connect_ephemeral(&url).await.expect("visitor");
    v.join_circle(once.code.as_deref().unwrap(), "First")
        .await
        .expect("the one use");
    let mut w = Client::connect_ephemeral(&url).await.expect("visitor");
    let cases = [
        (short.code.clone().unwrap(), ErrorCode::InvitationExpired, "expired"),
        (
            once.code.clone().unwrap(),
            ErrorCode::InvitationUsedUp,
            "used as many times",
        ),
        (revoked.code.clone().unwrap(), ErrorCode::InvitationRevoked, "withdrawn"),
        (
            "ZZZZ-ZZZZ-ZZZZ".to_string(),
            ErrorCode::UnknownInvitation,
            "does not exist",
        ),
        ("not a code".to_string(), ErrorCode::UnknownInvitation, "does not exist"),
    ];
    for (code, expected, words) in cases {
        let e = w.join_circle(&code, "Second").await.expect_err("refused");
        assert_eq!(code_of(&e), Some(expected), "{code}: {e}");
        assert!(e.to_string().contains(words), "{code}: {e}");
        let e = w.preview_invitation(&code).await.expect_err("refused");
        assert_eq!(code_of(&e), Some(expected), "{code}: {e}");
    }
    // Rotating: the old code stops, the new one works.
    let rotated = vesna
        .rotate_invitation(circle.circle_id, once.invitation_id, 3600, 5)
        .await
        .expect("rotate");
    w.join_circle(rotated.code.as_deref().unwrap(), "Second")
        .await
        .expect("new code");
    let listed = vesna.list_invitations(circle.circle_id).await.expect("list");
    assert!(listed.iter().all(|i| i.code.is_none()), "codes are never shown again");
    assert!(listed
        .iter()
        .any(|i| i.invitation_id == once.invitation_id && i.revoked));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn undecided_join_requests_are_purged_and_revoked_invitations_free_their_place() {
    let server = ServerProcess::start_with_config(
        "purge_interval_secs = 1\n[circles]\njoin_request_ttl_secs = 2\nmax_invitations_per_circle = 2\n",
    );
    let url = server.url();
    let mut vesna = moderator(&server, "vesna").await;
    let circle = vesna
        .create_circle("Circle", "en", "Peer support", false)
        .await
        .expect("circle");
    let code = vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect("invitation")
        .code
        .expect("code");
    // Revoked invitations do not count against the circle's bound.
    let second = vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect("second");
    let full = vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect_err("bound");
    assert_eq!(code_of(&full), Some(ErrorCode::LimitExceeded));
    vesna
        .revoke_invitation(circle.circle_id, second.invitation_id)
        .await
        .expect("revoke");
    vesna
        .create_invitation(circle.circle_id, 3600, 5)
        .await
        .expect("room again");

    let mut v = Client::connect_ephemeral(&url).await.expect("visitor");
    v.join_circle(&code, "Rosa").await.expect("join");
    assert_eq!(vesna.join_requests(circle.circle_id).await.expect("requests").len(), 1);
    // Nobody decides: within the time-to-live plus a purge or two it is gone.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !vesna
        .join_requests(circle.circle_id)
        .await
        .expect("requests")
        .is_empty()
    {
        assert!(Instant::now() < deadline, "the undecided request was never dropped");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A group has one owner: a circle's group is not a chat to attach, and a
/// chat's group is not a circle to create.
#[tokio::test]
async fn a_circles_group_is_never_attached_as_a_chat() {
    use parasol_protocol::{Bytes, Request, Response, ShiftState};
    use parasol_tests::drive::wait_notice;

    let server = ServerProcess::start();
    let mut vesna = moderator(&server, "vesna").await;
    vesna.set_shift(ShiftState::Available, false).await.expect("available");
    let circle = vesna
        .create_circle("Circle", "en", "Peer support", false)
        .await
        .expect("circle");
    let mut visitor = Client::connect_ephemeral(&server.url()).await.expect("visitor");
    let ticket = visitor.request_chat("en", "health", false).await.expect("ticket");
    let ticket_id = ticket.ticket_id;
    wait_notice(&mut vesna, "offer", |n| match n {
        ServerMessage::Offer { ticket, .. } if ticket.ticket_id == ticket_id => Some(()),
        _ => None,
    })
    .await;
    vesna
        .request(Request::AcceptTicket { ticket_id })
        .await
        .expect("accept");

    // The circle's group has one member, the counsellor: it looks like a
    // fresh chat group, but it is the circle's.
    let refused = vesna
        .request(Request::AttachChat {
            ticket_id,
            group_id: circle.group_id.clone(),
        })
        .await
        .expect_err("a circle's group is not a chat");
    assert_eq!(code_of(&refused), Some(ErrorCode::InvalidState), "{refused}");
    assert!(refused.to_string().contains("circle"), "{refused}");

    // A group of her own attaches; the circle is still there.
    let chat = vesna.create_group().await.expect("group");
    let attached = vesna
        .request(Request::AttachChat {
            ticket_id,
            group_id: Bytes(chat.clone()),
        })
        .await
        .expect("attach");
    assert!(matches!(attached, Response::ChatAttached { .. }), "{attached:?}");
    let circles = vesna.list_circles().await.expect("list");
    assert!(
        circles
            .iter()
            .any(|c| c.circle_id == circle.circle_id && c.group_id == circle.group_id),
        "the circle stays: {circles:?}"
    );

    // Nor does the chat's group become a circle.
    let refused = vesna
        .request(Request::CreateCircle {
            group_id: Bytes(chat),
            name: "Another".into(),
            language: "en".into(),
            topic: "Peer support".into(),
            auto_approve: false,
        })
        .await
        .expect_err("a chat's group is not a circle");
    assert_eq!(code_of(&refused), Some(ErrorCode::InvalidState), "{refused}");
}
