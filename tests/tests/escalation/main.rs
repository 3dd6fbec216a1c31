//! End-to-end acceptance tests of escalation to the crisis line: the real
//! `parasol-server` process, a local HTTP server in the test standing in
//! for the crisis line's webhook endpoint, staff made with the admin CLI,
//! and real openmls clients for the visitor, the counsellor and the crisis
//! responder. What survives a crash is in `restart.rs`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes as Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use parasol_client::{Client, ClientId, ClientState, ErrorCode, Event, Identity, ServerMessage};
use parasol_protocol::{
    Bytes, Category, DutyState, EscalationOutcome, EscalationStatus, Request, Severity, ShiftState, SignedEscalation,
    StaffRole, TicketStatus,
};
use parasol_tests::drive::{code, until, wait_message, wait_notice, WAIT};
use parasol_tests::{create_staff, http_request, marker, staff_login, ServerProcess};
use sha2::Sha256;

const SECRET: &str = "test-webhook-secret-0123456789abcdef";

// ------------------------------------------------------------ the crisis line

/// One request the stand-in crisis line received.
#[derive(Debug, Clone)]
struct Hit {
    headers: HeaderMap,
    body: Vec<u8>,
    answered: u16,
}

#[derive(Default)]
struct Line {
    hits: Mutex<Vec<Hit>>,
    /// Answer 500 to this many requests first.
    fail_first: AtomicU32,
    /// While set, answer 500 to everything.
    down: std::sync::atomic::AtomicBool,
}

impl Line {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn delivered(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| h.answered == 200).collect()
    }
}

async fn hook(State(line): State<Arc<Line>>, headers: HeaderMap, body: Body) -> StatusCode {
    let fail = line.down.load(Ordering::SeqCst)
        || line
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    line.hits.lock().unwrap().push(Hit {
        headers,
        body: body.to_vec(),
        answered: status.as_u16(),
    });
    status
}

/// Start the stand-in on a free loopback port; returns it and its URL.
async fn crisis_line() -> (Arc<Line>, String) {
    let line = Arc::new(Line::default());
    let app = axum::Router::new().route("/hook", post(hook)).with_state(line.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (line, url)
}

fn valid_hmac(hit: &Hit) -> bool {
    let timestamp = hit.headers["x-parasol-timestamp"].to_str().unwrap();
    let signature = hit.headers["x-parasol-signature"].to_str().unwrap();
    let Some(hex_sig) = signature.strip_prefix("v1=") else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    mac.verify_slice(&hex::decode(hex_sig).unwrap()).is_ok()
}

fn json(hit: &Hit) -> serde_json::Value {
    serde_json::from_slice(&hit.body).expect("the webhook body is JSON")
}

async fn until_line(line: &Line, what: &str, cond: impl Fn(&Line) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond(line) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; hits: {:?}",
            line.hits()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ----------------------------------------------------------------- the people

struct Setup {
    server: ServerProcess,
    _secret_dir: tempfile::TempDir,
}

fn start_server(webhook_url: &str, accept_timeout_secs: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("webhook.key");
    std::fs::write(&secret_file, SECRET).unwrap();
    let server = ServerProcess::start_with_config(&format!(
        "[escalation]\nwebhook_url = \"{webhook_url}\"\nwebhook_secret_file = \"{}\"\npublic_url = \"https://parasol.example\"\naccept_timeout_secs = {accept_timeout_secs}\nretry_initial_ms = 200\nretry_max_secs = 1\n",
        secret_file.display()
    ));
    Setup {
        server,
        _secret_dir: dir,
    }
}

struct Staff {
    c: Client,
    token: String,
}

impl Staff {
    fn id(&self) -> ClientId {
        self.c.client_id()
    }
}

async fn staff(server: &ServerProcess, username: &str, role: &str) -> Staff {
    let password = create_staff(server, username, &format!("{username} (display)"), role, "mk,en", 3);
    let token = staff_login(server, username, &password);
    let c = Client::connect_staff(&server.url(), ClientState::in_memory(Identity::generate()), &token)
        .await
        .expect("staff connect");
    Staff { c, token }
}

/// Every message text that arrives at `c` in the next moment.
async fn settle(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(ev) = c.next_event(Duration::from_millis(700)).await.expect("event") {
        if let Event::Message { text, .. } = ev {
            out.push(text);
        }
    }
    out
}

/// A visitor in a chat with `counsellor` (who is made available). Returns
/// the visitor and the chat's group.
async fn chat_with(server: &ServerProcess, counsellor: &mut Staff) -> (Client, Vec<u8>) {
    counsellor.c.set_shift(ShiftState::Available, false).await.unwrap();
    let mut v = Client::connect_ephemeral(&server.url()).await.expect("visitor connect");
    let ticket = v.request_chat("mk", "trafficking", false).await.unwrap();
    wait_notice(&mut counsellor.c, "offer", |n| match n {
        ServerMessage::Offer { ticket: t, .. } if t.ticket_id == ticket.ticket_id => Some(()),
        _ => None,
    })
    .await;
    let g = counsellor.c.accept_ticket(ticket.ticket_id).await.unwrap().group_id;
    v.wait_for_group(&g, WAIT).await.expect("the visitor joins");
    (v, g)
}

// --------------------------------------------------------------------- tests

#[tokio::test]
async fn the_crisis_line_gets_one_signed_content_free_webhook_and_the_responder_joins_the_chat() {
    let (line, url) = crisis_line().await;
    line.fail_first.store(3, Ordering::SeqCst);
    let setup = start_server(&url, 600);
    let server = &setup.server;
    let mut ana = staff(server, "ana", "counsellor").await;
    let mut vesna = staff(server, "vesna", "crisis_responder").await;
    let (mut v, g) = chat_with(server, &mut ana).await;

    // Said before the responder joins: they must never read it.
    let before_v = format!("before, visitor {}", marker());
    let before_a = format!("before, counsellor {}", marker());
    v.send_text(&g, &before_v).await.unwrap();
    wait_message(&mut ana.c, &g, &before_v).await;
    ana.c.send_text(&g, &before_a).await.unwrap();
    wait_message(&mut v, &g, &before_a).await;

    assert_eq!(vesna.c.set_duty(DutyState::OnDuty).await.unwrap(), 0);
    let raised = ana
        .c
        .escalate(&g, Severity::Critical, Category::Trafficking)
        .await
        .unwrap();
    assert_eq!(raised.status, EscalationStatus::Open);
    let id = raised.escalation_id;

    // The responder is told by push, and checks who asked.
    let pushed = wait_notice(&mut vesna.c, "escalation_raised", |n| match n {
        ServerMessage::EscalationRaised { escalation } => Some(escalation.clone()),
        _ => None,
    })
    .await;
    assert_eq!(pushed.escalation_id, id);
    let asker = vesna
        .c
        .verify_escalation(&pushed)
        .await
        .expect("signed by a verified counsellor");
    assert_eq!(asker.client_id, ana.id());

    // The webhook: failed 3 times, then delivered, once, with a valid HMAC.
    until_line(&line, "the webhook to be delivered", |l| !l.delivered().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // nothing more may come
    let hits = line.hits();
    assert_eq!(hits.len(), 4, "3 failures then one success: {hits:?}");
    assert_eq!(hits.iter().filter(|h| h.answered == 200).count(), 1);
    let key = hits[0].headers["idempotency-key"].to_str().unwrap().to_string();
    for hit in &hits {
        assert!(valid_hmac(hit), "every attempt is signed");
        assert_eq!(
            hit.headers["idempotency-key"].to_str().unwrap(),
            key,
            "one key for every retry"
        );
        assert_eq!(hit.body, hits[0].body, "the same notice each time");
    }
    let body = json(&hits[3]);
    let mut fields: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "callback_url",
            "category",
            "escalation_id",
            "event",
            "idempotency_key",
            "severity",
            "time"
        ],
        "nothing else is sent"
    );
    assert_eq!(body["event"], "escalation.raised");
    assert_eq!(body["idempotency_key"], key.as_str());
    assert_eq!(body["escalation_id"], id);
    assert_eq!(body["severity"], "critical");
    assert_eq!(body["category"], "trafficking");
    assert_eq!(
        body["callback_url"],
        format!("https://parasol.example/v1/escalations/{id}/accept")
    );
    let text = String::from_utf8(hits[3].body.clone()).unwrap();
    for secret in [
        before_v.as_str(),
        before_a.as_str(),
        &hex::encode(v.client_id()),
        &hex::encode(ana.id()),
        &hex::encode(&g),
        "ana",
        &raised.language,
    ] {
        assert!(!text.contains(secret), "the webhook names {secret:?}: {text}");
    }
    let mut broken = hits[3].clone();
    broken.body.push(b' ');
    assert!(!valid_hmac(&broken), "the HMAC covers the body");

    // The responder accepts; the counsellor's client adds them by itself.
    let accepted = vesna.c.accept_escalation(id).await.unwrap();
    assert_eq!(accepted.status, EscalationStatus::Accepted);
    until(&mut ana.c, "the counsellor adding the responder", |c| {
        c.members(&g).is_ok_and(|m| m.contains(&vesna.id()))
    })
    .await;
    vesna
        .c
        .wait_for_group(&g, WAIT)
        .await
        .expect("the responder joins by the Welcome");

    // The visitor's client sees the membership change and who it is.
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match v.next_event(left).await.unwrap() {
            Some(Event::MembershipChanged { added, .. }) if added.contains(&vesna.id()) => break,
            Some(_) => {}
            None => panic!("the visitor never saw the responder join"),
        }
    }
    let who = v.verified_member(&vesna.id()).expect("the responder's badge verifies");
    assert_eq!(
        who.role,
        StaffRole::CrisisResponder,
        "shown as: a crisis counsellor has joined"
    );

    // Messages after the join reach the responder; nothing from before.
    let after_v = format!("after, visitor {}", marker());
    v.send_text(&g, &after_v).await.unwrap();
    assert_eq!(wait_message(&mut vesna.c, &g, &after_v).await, v.client_id());
    let reply = format!("responder here {}", marker());
    vesna.c.send_text(&g, &reply).await.unwrap();
    assert_eq!(wait_message(&mut v, &g, &reply).await, vesna.id());
    wait_message(&mut ana.c, &g, &after_v).await;
    let late = settle(&mut vesna.c).await;
    assert!(!late.contains(&before_v) && !late.contains(&before_a), "{late:?}");

    // The counsellor leaves the chat to the responder: the responder's
    // client removes the counsellor, and the chat goes on.
    let ended = ana
        .c
        .resolve_escalation(id, EscalationOutcome::HandedOff)
        .await
        .unwrap();
    assert_eq!(ended.status, EscalationStatus::HandedOff);
    until(&mut vesna.c, "the responder removing the counsellor", |c| {
        c.members(&g).is_ok_and(|m| !m.contains(&ana.id()))
    })
    .await;
    let mut expected = vec![v.client_id(), vesna.id()];
    expected.sort();
    until(&mut v, "the visitor seeing the new membership", |c| {
        c.members(&g).is_ok_and(|mut m| {
            m.sort();
            m == expected
        })
    })
    .await;
    let last = format!("still here {}", marker());
    v.send_text(&g, &last).await.unwrap();
    wait_message(&mut vesna.c, &g, &last).await;

    // Nothing more went to the crisis line; the audit log has it all.
    assert_eq!(line.hits().len(), 4);
    let audit = String::from_utf8(server.admin(&["audit", "--since", "1970-01-01"], "").stdout).unwrap();
    for action in [
        "duty_changed",
        "escalation_raised",
        "escalation_webhook_delivered",
        "escalation_accepted",
        "escalation_handed_off",
    ] {
        assert!(audit.contains(action), "audit log lacks {action}:\n{audit}");
    }
    assert!(!audit.contains(&before_v));
    server.assert_logs_clean(&[&before_v, &before_a, &after_v, &reply, &last, SECRET, &vesna.token]);
}

#[tokio::test]
async fn nobody_accepting_renotifies_responders_and_both_sides_get_the_fallback_numbers() {
    let (line, url) = crisis_line().await;
    let setup = start_server(&url, 2);
    let server = &setup.server;
    let mut ana = staff(server, "ana", "counsellor").await;
    let mut vesna = staff(server, "vesna", "crisis_responder").await;
    let (mut v, g) = chat_with(server, &mut ana).await;
    vesna.c.set_duty(DutyState::OnDuty).await.unwrap();
    let id = ana
        .c
        .escalate(&g, Severity::High, Category::SuicideRisk)
        .await
        .unwrap()
        .escalation_id;

    let renotified = wait_notice(&mut vesna.c, "a second notification", |n| match n {
        ServerMessage::EscalationRaised { escalation } if escalation.renotified >= 1 => Some(escalation.clone()),
        _ => None,
    })
    .await;
    assert_eq!(renotified.escalation_id, id);
    for (who, c) in [("counsellor", &mut ana.c), ("visitor", &mut v)] {
        let help = wait_notice(c, "the fallback numbers", |n| match n {
            ServerMessage::EscalationFallback { group_id, help } if group_id.0 == g => Some(help.clone()),
            _ => None,
        })
        .await;
        assert!(
            help.crisis_lines.iter().any(|l| l.number == "0800 11111"),
            "the {who} is shown the SOS line: {help:?}"
        );
    }
    until_line(&line, "the re-notification webhook", |l| {
        l.delivered()
            .iter()
            .any(|h| json(h)["event"] == "escalation.renotified")
    })
    .await;
    let keys: Vec<String> = line
        .delivered()
        .iter()
        .map(|h| json(h)["idempotency_key"].to_string())
        .collect();
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(keys, unique, "each notice delivered once");

    // Accepting through the webhook's callback URL, as the crisis line's
    // own system would send its responder.
    let callback = format!("/v1/escalations/{id}/accept");
    let (status, _) = http_request(server.addr(), "POST", &callback, &[], "");
    assert_eq!(status, 401, "no session");
    let bearer = format!("Bearer {}", ana.token);
    let (status, _) = http_request(server.addr(), "POST", &callback, &[("Authorization", &bearer)], "");
    assert_eq!(status, 403, "a counsellor cannot accept");
    let bearer = format!("Bearer {}", vesna.token);
    let (status, body) = http_request(server.addr(), "POST", &callback, &[("Authorization", &bearer)], "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("accepted"));
    let (status, _) = http_request(server.addr(), "POST", &callback, &[("Authorization", &bearer)], "");
    assert_eq!(status, 409, "accepted once");
    until(&mut ana.c, "the counsellor adding the responder", |c| {
        c.members(&g).is_ok_and(|m| m.contains(&vesna.id()))
    })
    .await;
    let audit = String::from_utf8(server.admin(&["audit", "--since", "1970-01-01"], "").stdout).unwrap();
    assert!(audit.contains("escalation_renotified"), "{audit}");
}

#[tokio::test]
async fn only_the_right_people_escalate_accept_and_press_sos() {
    let (_line, url) = crisis_line().await;
    let setup = start_server(&url, 600);
    let server = &setup.server;
    let mut ana = staff(server, "ana", "counsellor").await;
    let bora = staff(server, "bora", "counsellor").await;
    let sara = staff(server, "sara", "supervisor").await;
    let vesna = staff(server, "vesna", "crisis_responder").await;
    let petra = staff(server, "petra", "crisis_responder").await;
    let (v, g) = chat_with(server, &mut ana).await;

    // Escalating: not another counsellor, not the visitor.
    assert_eq!(
        code(bora.c.escalate(&g, Severity::High, Category::Other).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(v.escalate(&g, Severity::High, Category::Other).await),
        ErrorCode::Forbidden
    );
    // A request signed by another key, or stale, is refused.
    let forged = SignedEscalation {
        group_id: Bytes(g.clone()),
        severity: Severity::High,
        category: Category::Medical,
        issued_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        signature: Bytes(vec![7; 64]),
    };
    assert_eq!(
        code(
            ana.c
                .request(Request::Escalate {
                    escalation: forged.clone()
                })
                .await
        ),
        ErrorCode::InvalidSignature
    );
    // A supervisor may; the counsellor pressing again gets the same one.
    let by_supervisor = sara.c.escalate(&g, Severity::High, Category::Medical).await.unwrap();
    let again = ana.c.escalate(&g, Severity::Critical, Category::Medical).await.unwrap();
    assert_eq!(again.escalation_id, by_supervisor.escalation_id);
    let id = again.escalation_id;

    // Accepting: only on-duty crisis responders.
    assert_eq!(code(ana.c.accept_escalation(id).await), ErrorCode::Forbidden);
    assert_eq!(code(sara.c.accept_escalation(id).await), ErrorCode::Forbidden);
    assert_eq!(
        code(vesna.c.accept_escalation(id).await),
        ErrorCode::Forbidden,
        "off duty"
    );
    assert_eq!(code(ana.c.set_duty(DutyState::OnDuty).await), ErrorCode::Forbidden);
    assert_eq!(code(vesna.c.escalation_queue().await), ErrorCode::Forbidden, "off duty");
    vesna.c.set_duty(DutyState::OnDuty).await.unwrap();
    petra.c.set_duty(DutyState::OnDuty).await.unwrap();
    assert_eq!(vesna.c.escalation_queue().await.unwrap().len(), 1);
    assert_eq!(sara.c.escalation_queue().await.unwrap().len(), 1);
    assert_eq!(code(vesna.c.accept_escalation(999).await), ErrorCode::UnknownEscalation);
    vesna.c.accept_escalation(id).await.unwrap();
    assert_eq!(code(petra.c.accept_escalation(id).await), ErrorCode::InvalidState);
    // Handing off is the counsellor's (or a supervisor's), not another's.
    assert_eq!(
        code(bora.c.resolve_escalation(id, EscalationOutcome::Resolved).await),
        ErrorCode::Forbidden
    );
    assert_eq!(
        code(vesna.c.resolve_escalation(id, EscalationOutcome::HandedOff).await),
        ErrorCode::Forbidden
    );
    vesna
        .c
        .resolve_escalation(id, EscalationOutcome::Resolved)
        .await
        .unwrap();

    // SOS: any visitor gets the numbers; a ticket only their own.
    let mut w = Client::connect_ephemeral(&server.url()).await.unwrap();
    let answer = w.sos().await.unwrap();
    assert!(answer.help.crisis_lines.iter().any(|l| l.number == "0800 11111"));
    assert!(answer.ticket.is_none());
    let theirs = v.ticket().unwrap().ticket_id;
    assert_eq!(
        code(
            w.request(Request::Sos {
                ticket_id: Some(theirs)
            })
            .await
        ),
        ErrorCode::UnknownTicket
    );
    assert_eq!(
        code(ana.c.request(Request::Sos { ticket_id: None }).await),
        ErrorCode::Forbidden
    );
    // A waiting visitor's SOS makes the ticket urgent (bora is not
    // available, so it waits).
    let waiting = w.request_chat("en", "violence", false).await.unwrap();
    let answer = w.sos().await.unwrap();
    assert_eq!(answer.ticket.unwrap().ticket_id, waiting.ticket_id);
    let queue = sara.c.queue_view().await.unwrap();
    assert!(
        queue.iter().any(|t| t.ticket_id == waiting.ticket_id && t.urgent),
        "{queue:?}"
    );
    // In a chat, it alerts the counsellor.
    let answer = v.sos().await.unwrap();
    assert!(matches!(answer.ticket.unwrap().status, TicketStatus::InChat { .. }));
    let alerted = wait_notice(&mut ana.c, "sos_alert", |n| match n {
        ServerMessage::SosAlert { group_id, .. } => Some(group_id.0.clone()),
        _ => None,
    })
    .await;
    assert_eq!(alerted, g);
}

mod restart;
