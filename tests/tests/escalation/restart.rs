//! Escalations across a crash: the webhook outbox, an accepted
//! escalation whose responder never got in, and a responder in the chat.

use super::*;

#[tokio::test]
async fn a_webhook_still_in_the_outbox_is_delivered_after_a_crash() {
    let (line, url) = crisis_line().await;
    line.down.store(true, Ordering::SeqCst);
    let mut setup = start_server(&url, 600);
    let mut ana = staff(&setup.server, "ana", "counsellor").await;
    let (_v, g) = chat_with(&setup.server, &mut ana).await;
    let id = ana
        .c
        .escalate(&g, Severity::Critical, Category::Violence)
        .await
        .unwrap()
        .escalation_id;
    until_line(&line, "a failed attempt", |l| !l.hits().is_empty()).await;
    setup.server.kill();
    line.down.store(false, Ordering::SeqCst);
    setup.server.start_again();
    until_line(&line, "delivery after the restart", |l| !l.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let delivered = line.delivered();
    assert_eq!(delivered.len(), 1, "delivered exactly once");
    assert_eq!(json(&delivered[0])["escalation_id"], id);
    assert!(valid_hmac(&delivered[0]));
    let keys: HashMap<String, usize> = line.hits().iter().fold(HashMap::new(), |mut m, h| {
        *m.entry(h.headers["idempotency-key"].to_str().unwrap().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(keys.len(), 1, "the same idempotency key before and after the crash");
}

#[tokio::test]
async fn an_accepted_escalation_whose_responder_never_got_in_reopens_after_a_restart() {
    let (_line, url) = crisis_line().await;
    let mut setup = start_server(&url, 600);
    let mut ana = staff(&setup.server, "ana", "counsellor").await;
    let vesna = staff(&setup.server, "vesna", "crisis_responder").await;
    let (_v, g) = chat_with(&setup.server, &mut ana).await;
    vesna.c.set_duty(DutyState::OnDuty).await.unwrap();
    let id = ana
        .c
        .escalate(&g, Severity::Critical, Category::Violence)
        .await
        .unwrap()
        .escalation_id;
    // The counsellor's device goes away before it can add the responder.
    let (ana_token, ana_state) = (ana.token.clone(), ana.c.into_state().await.unwrap());
    vesna.c.accept_escalation(id).await.unwrap();
    let vesna_token = vesna.token.clone();
    drop(vesna);
    setup.server.kill();
    setup.server.start_again();

    // Open again: the responder, back online (still on duty), is notified
    // anew and accepts; the counsellor, back too, adds them.
    let url = setup.server.url();
    let mut vesna = Client::connect_staff(&url, ClientState::in_memory(Identity::generate()), &vesna_token)
        .await
        .unwrap();
    let reopened = wait_notice(&mut vesna, "the escalation again", |n| match n {
        ServerMessage::EscalationRaised { escalation } if escalation.escalation_id == id => Some(escalation.clone()),
        _ => None,
    })
    .await;
    assert_eq!(reopened.status, EscalationStatus::Open);
    vesna.accept_escalation(id).await.unwrap();
    let mut ana = Client::connect_staff(&url, ana_state, &ana_token).await.unwrap();
    until(&mut ana, "the counsellor adding the responder", |c| {
        c.members(&g).is_ok_and(|m| m.contains(&vesna.client_id()))
    })
    .await;
    vesna.wait_for_group(&g, WAIT).await.expect("the responder joins");
}

#[tokio::test]
async fn a_responder_in_the_chat_is_still_in_it_after_a_restart() {
    let (_line, url) = crisis_line().await;
    let mut setup = start_server(&url, 600);
    let mut ana = staff(&setup.server, "ana", "counsellor").await;
    let mut vesna = staff(&setup.server, "vesna", "crisis_responder").await;
    let (v, g) = chat_with(&setup.server, &mut ana).await;
    vesna.c.set_duty(DutyState::OnDuty).await.unwrap();
    let id = ana
        .c
        .escalate(&g, Severity::Critical, Category::Violence)
        .await
        .unwrap()
        .escalation_id;
    vesna.c.accept_escalation(id).await.unwrap();
    until(&mut ana.c, "the counsellor adding the responder", |c| {
        c.members(&g).is_ok_and(|m| m.contains(&vesna.id()))
    })
    .await;
    vesna.c.wait_for_group(&g, WAIT).await.expect("the responder joins");
    // Everyone goes away; the server is killed.
    let secret = v.resume_secret().unwrap().to_vec();
    drop(v);
    let (ana_id, vesna_id) = (ana.id(), vesna.id());
    let (ana_token, ana_state) = (ana.token.clone(), ana.c.into_state().await.unwrap());
    let (vesna_token, vesna_state) = (vesna.token.clone(), vesna.c.into_state().await.unwrap());
    setup.server.kill();
    setup.server.start_again();

    let url = setup.server.url();
    let mut ana = Client::connect_staff(&url, ana_state, &ana_token).await.unwrap();
    let mut vesna = Client::connect_staff(&url, vesna_state, &vesna_token).await.unwrap();
    // The visitor comes back with a new key: the chat still shows its
    // responder, and the counsellor re-adds her.
    let mut v = Client::connect_ephemeral(&url).await.unwrap();
    let resumed = v.resume_ticket(&secret).await.unwrap();
    match &resumed.status {
        TicketStatus::InChat { responders, .. } => assert_eq!(
            responders.iter().map(|b| b.signature_key.0.clone()).collect::<Vec<_>>(),
            vec![vesna_id.to_vec()],
            "the responder's badge is kept"
        ),
        other => panic!("still in the chat: {other:?}"),
    }
    let v_id = v.client_id();
    until(&mut ana, "the counsellor re-adding the visitor", |c| {
        c.members(&g).is_ok_and(|m| m.contains(&v_id))
    })
    .await;
    v.wait_for_group(&g, WAIT).await.expect("the visitor is back in");

    // The server still knows the responder is in the group: the escalation
    // was not reopened, and the counsellor can leave the chat to them.
    let ended = ana.resolve_escalation(id, EscalationOutcome::HandedOff).await.unwrap();
    assert_eq!(ended.status, EscalationStatus::HandedOff);
    until(&mut vesna, "the responder removing the counsellor", |c| {
        c.members(&g).is_ok_and(|m| !m.contains(&ana_id))
    })
    .await;
}
