//! The client against a small in-process mock of the delivery service.
//!
//! The mock follows the server semantics of the brief (challenge, typed
//! errors, mailboxes with pushes and acks, one commit per epoch, the commit
//! echoed to its sender) but does not validate MLS: it only reads each
//! message's group id and epoch. Membership is approximated: whoever's key
//! package a member claimed is added when that member's next commit carries a
//! Welcome. That is enough to exercise the client's networking, ordering,
//! stale-epoch recovery and crash healing before the real server exists.
// The mock answers with whole server messages; their size is no concern here.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use futures_util::{SinkExt, StreamExt};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{MlsMessageBodyIn, MlsMessageIn};
use parasol_client::{Client, ClientError, ClientState, Event, Identity, Incoming};
use parasol_protocol::auth::auth_transcript;
use parasol_protocol::{
    decode_client_frame_default, encode_server_frame, AuthProof, Bytes, Envelope, EnvelopeKind, ErrorCode,
    GroupSummary, Request, Response, ServerFrame, ServerMessage, PROTOCOL_VERSION,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Id = Vec<u8>;

#[derive(Default)]
struct Mailbox {
    envelopes: VecDeque<Envelope>,
    head: u64,
    push_to: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

#[derive(Default)]
struct GroupRec {
    epoch: u64,
    members: BTreeSet<Id>,
}

#[derive(Default)]
struct Mock {
    mailboxes: HashMap<Id, Mailbox>,
    one_time: HashMap<Id, VecDeque<Bytes>>,
    claims: HashMap<Id, Vec<Id>>,
    groups: HashMap<Id, GroupRec>,
    connections: HashMap<Id, mpsc::UnboundedSender<Vec<u8>>>,
}

fn frame(msg: ServerMessage) -> Vec<u8> {
    encode_server_frame(&ServerFrame {
        v: PROTOCOL_VERSION,
        msg,
    })
}

impl Mock {
    fn deliver(&mut self, to: &Id, group: &Id, kind: EnvelopeKind, epoch: u64, msg: &Bytes, tree: Option<Bytes>) {
        let mb = self.mailboxes.entry(to.clone()).or_default();
        mb.head += 1;
        let env = Envelope {
            seq: mb.head,
            group_id: Bytes(group.clone()),
            kind,
            epoch,
            message: msg.clone(),
            ratchet_tree: tree,
            received_at: 0,
        };
        if let Some(tx) = &mb.push_to {
            let _ = tx.send(frame(ServerMessage::Envelope { envelope: env.clone() }));
        }
        mb.envelopes.push_back(env);
    }
}

fn err(code: ErrorCode, msg: &str, current_epoch: Option<u64>) -> Result<Response, ServerMessage> {
    Err(ServerMessage::Error {
        id: None,
        code,
        message: msg.into(),
        current_epoch,
        retry_after_secs: None,
        pow: None,
        help: None,
    })
}

fn mls_group_epoch(bytes: &[u8]) -> Option<(Id, u64)> {
    let pm = MlsMessageIn::tls_deserialize_exact(bytes)
        .ok()?
        .try_into_protocol_message()
        .ok()?;
    Some((pm.group_id().as_slice().to_vec(), pm.epoch().as_u64()))
}

struct Server {
    url: String,
    state: Arc<Mutex<Mock>>,
    /// Accept the next commit but drop the connection instead of answering.
    drop_after_commit: Arc<AtomicBool>,
}

async fn start() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/v1/ws", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(Mock::default()));
    let drop_after_commit = Arc::new(AtomicBool::new(false));
    let (st, dac) = (state.clone(), drop_after_commit.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (st, dac) = (st.clone(), dac.clone());
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                serve(ws, st, dac).await;
            });
        }
    });
    Server {
        url,
        state,
        drop_after_commit,
    }
}

async fn serve(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    st: Arc<Mutex<Mock>>,
    dac: Arc<AtomicBool>,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if b.is_empty() {
                let _ = sink.send(Message::Close(None)).await;
                break;
            }
            if sink.send(Message::Binary(b.into())).await.is_err() {
                break;
            }
        }
    });
    let nonce = vec![9u8; 32];
    let _ = tx.send(frame(ServerMessage::Challenge {
        nonce: Bytes(nonce.clone()),
        versions: vec![1],
    }));
    let mut me: Option<Id> = None;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Binary(bytes) = msg else { continue };
        let f = match decode_client_frame_default(&bytes) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(frame(ServerMessage::Error {
                    id: e.request_id,
                    code: e.code,
                    message: e.message,
                    current_epoch: None,
                    retry_after_secs: None,
                    pow: None,
                    help: None,
                }));
                continue;
            }
        };
        let mut drop_now = false;
        let result = {
            let mut m = st.lock().unwrap();
            handle(&mut m, &mut me, &nonce, &tx, f.req, &dac, &mut drop_now)
        };
        if drop_now {
            break;
        }
        let msg = match result {
            Ok(result) => ServerMessage::Response { id: f.id, result },
            Err(ServerMessage::Error {
                code,
                message,
                current_epoch,
                ..
            }) => ServerMessage::Error {
                id: Some(f.id),
                code,
                message,
                current_epoch,
                retry_after_secs: None,
                pow: None,
                help: None,
            },
            Err(other) => other,
        };
        let _ = tx.send(frame(msg));
    }
    if let Some(me) = me {
        if let Some(mb) = st.lock().unwrap().mailboxes.get_mut(&me) {
            mb.push_to = None;
        }
    }
    writer.abort();
}

#[allow(clippy::too_many_arguments)]
fn handle(
    m: &mut Mock,
    me: &mut Option<Id>,
    nonce: &[u8],
    tx: &mpsc::UnboundedSender<Vec<u8>>,
    req: Request,
    dac: &AtomicBool,
    drop_now: &mut bool,
) -> Result<Response, ServerMessage> {
    let Some(id) = me.clone() else {
        let Request::Authenticate {
            proof: AuthProof::Ed25519Challenge { public_key, signature },
        } = req
        else {
            return err(ErrorCode::NotAuthenticated, "authenticate first", None);
        };
        let ok = VerifyingKey::from_bytes(public_key.0.as_slice().try_into().unwrap_or(&[0; 32]))
            .ok()
            .zip(Signature::from_slice(&signature.0).ok())
            .is_some_and(|(vk, sig)| vk.verify(&auth_transcript(nonce, &public_key.0), &sig).is_ok());
        if !ok {
            return err(ErrorCode::AuthenticationFailed, "bad signature", None);
        }
        *me = Some(public_key.0.clone());
        if let Some(old) = m.connections.insert(public_key.0.clone(), tx.clone()) {
            let _ = old.send(Vec::new());
        }
        let head = m.mailboxes.entry(public_key.0.clone()).or_default().head;
        return Ok(Response::Authenticated {
            staff: None,
            client_id: public_key,
            mailbox_head: head,
            one_time_key_packages: 0,
            last_resort_key_package: false,
        });
    };
    match req {
        Request::Authenticate { .. } => err(ErrorCode::AlreadyAuthenticated, "again", None),
        Request::PublishKeyPackages { key_packages, .. } => {
            let q = m.one_time.entry(id).or_default();
            q.extend(key_packages);
            Ok(Response::KeyPackagesPublished {
                one_time: q.len() as u32,
                last_resort: false,
            })
        }
        Request::ClaimKeyPackage { client_id } => {
            let Some(kp) = m.one_time.get_mut(&client_id.0).and_then(|q| q.pop_front()) else {
                return err(ErrorCode::NoKeyPackage, "none left", None);
            };
            let left = m.one_time[&client_id.0].len() as u32;
            if let Some(tx) = m.connections.get(&client_id.0) {
                let _ = tx.send(frame(ServerMessage::KeyPackageCount {
                    one_time: left,
                    last_resort: false,
                }));
            }
            m.claims.entry(id).or_default().push(client_id.0);
            Ok(Response::KeyPackage {
                key_package: kp,
                last_resort: false,
            })
        }
        Request::CreateGroup { group_info, .. } => {
            let gid = MlsMessageIn::tls_deserialize_exact(&group_info.0)
                .ok()
                .and_then(|m| match m.extract() {
                    MlsMessageBodyIn::GroupInfo(gi) => Some(gi.group_id().as_slice().to_vec()),
                    _ => None,
                });
            let Some(gid) = gid else {
                return err(ErrorCode::InvalidGroupInfo, "bad group info", None);
            };
            let g = m.groups.entry(gid.clone()).or_default();
            g.members.insert(id);
            Ok(Response::GroupCreated {
                group_id: Bytes(gid),
                epoch: 0,
            })
        }
        Request::SendCommit {
            commit,
            welcome,
            ratchet_tree,
            ..
        } => {
            let Some((gid, epoch)) = mls_group_epoch(&commit.0) else {
                return err(ErrorCode::InvalidMlsMessage, "not MLS", None);
            };
            let Some(g) = m.groups.get_mut(&gid) else {
                return err(ErrorCode::UnknownGroup, "unknown", None);
            };
            if !g.members.contains(&id) {
                return err(ErrorCode::NotAMember, "not a member", None);
            }
            if epoch != g.epoch {
                return err(ErrorCode::StaleEpoch, "stale", Some(g.epoch));
            }
            g.epoch += 1;
            let new_epoch = g.epoch;
            let old: Vec<Id> = g.members.iter().cloned().collect();
            let added = if welcome.is_some() {
                m.claims.remove(&id).unwrap_or_default()
            } else {
                Vec::new()
            };
            for a in &added {
                m.groups.get_mut(&gid).unwrap().members.insert(a.clone());
            }
            for member in &old {
                m.deliver(member, &gid, EnvelopeKind::Commit, epoch, &commit, None);
            }
            if let Some(w) = welcome {
                for a in &added {
                    m.deliver(a, &gid, EnvelopeKind::Welcome, new_epoch, &w, ratchet_tree.clone());
                }
            }
            if dac.swap(false, Ordering::SeqCst) {
                *drop_now = true;
            }
            Ok(Response::CommitAccepted {
                group_id: Bytes(gid),
                epoch: new_epoch,
            })
        }
        Request::SendMessage { message } => {
            let Some((gid, epoch)) = mls_group_epoch(&message.0) else {
                return err(ErrorCode::InvalidMlsMessage, "not MLS", None);
            };
            let Some(g) = m.groups.get(&gid) else {
                return err(ErrorCode::UnknownGroup, "unknown", None);
            };
            if epoch != g.epoch {
                return err(ErrorCode::StaleEpoch, "stale", Some(g.epoch));
            }
            let others: Vec<Id> = g.members.iter().filter(|x| **x != id).cloned().collect();
            for o in others {
                m.deliver(&o, &gid, EnvelopeKind::Application, epoch, &message, None);
            }
            Ok(Response::MessageAccepted {
                group_id: Bytes(gid),
                epoch,
            })
        }
        Request::Subscribe { after } => {
            let mb = m.mailboxes.entry(id).or_default();
            for env in mb.envelopes.iter().filter(|e| e.seq > after) {
                let _ = tx.send(frame(ServerMessage::Envelope { envelope: env.clone() }));
            }
            mb.push_to = Some(tx.clone());
            Ok(Response::Subscribed { head: mb.head })
        }
        Request::Ack { up_to } => {
            let mb = m.mailboxes.entry(id).or_default();
            if up_to > mb.head {
                return err(ErrorCode::UnknownEnvelope, "above head", None);
            }
            mb.envelopes.retain(|e| e.seq > up_to);
            Ok(Response::Acked { up_to })
        }
        Request::ListGroups => Ok(Response::Groups {
            groups: m
                .groups
                .iter()
                .filter(|(_, g)| g.members.contains(&id))
                .map(|(gid, g)| GroupSummary {
                    group_id: Bytes(gid.clone()),
                    epoch: g.epoch,
                    members: g.members.len() as u32,
                })
                .collect(),
        }),
        Request::Ping => Ok(Response::Pong),
        Request::FetchBacklog { .. } => err(ErrorCode::Unsupported, "not in the mock", None),
        _ => err(ErrorCode::Unsupported, "the mock has no intake", None),
    }
}

const T: Duration = Duration::from_secs(5);

async fn wait_for<F: Fn(&Event) -> bool>(c: &mut Client, pred: F) -> Event {
    loop {
        match c.next_event(T).await.unwrap() {
            Some(e) if pred(&e) => return e,
            Some(_) => continue,
            None => panic!("timed out waiting for an event"),
        }
    }
}

async fn wait_epoch(c: &mut Client, gid: &[u8], epoch: u64) {
    while c.epoch(gid).unwrap() < epoch {
        if c.next_event(T).await.unwrap().is_none() {
            panic!("timed out waiting for epoch {epoch}");
        }
    }
}

async fn pair(server: &Server) -> (Client, Client, Vec<u8>) {
    let mut a = Client::connect_ephemeral(&server.url).await.unwrap();
    let mut b = Client::connect_ephemeral(&server.url).await.unwrap();
    b.publish_key_packages(3).await.unwrap();
    let gid = a.create_group().await.unwrap();
    assert_eq!(a.add_members(&gid, &[b.client_id()]).await.unwrap(), 1);
    let ev = wait_for(&mut b, |e| matches!(e, Event::Joined { .. })).await;
    assert!(matches!(ev, Event::Joined { epoch: 1, .. }));
    (a, b, gid)
}

#[tokio::test]
async fn create_add_and_chat() {
    let server = start().await;
    let (mut a, mut b, gid) = pair(&server).await;
    a.send_text(&gid, "hello b").await.unwrap();
    let ev = wait_for(&mut b, |e| matches!(e, Event::Message { .. })).await;
    match ev {
        Event::Message { sender, text, .. } => {
            assert_eq!(sender, a.client_id());
            assert_eq!(text, "hello b");
        }
        _ => unreachable!(),
    }
    b.send_text(&gid, "hello a").await.unwrap();
    let ev = wait_for(&mut a, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "hello a"));
    assert_eq!(a.groups(), vec![gid.clone()]);
    assert_eq!(b.members(&gid).unwrap().len(), 2);
    assert_eq!(a.list_server_groups().await.unwrap()[0].epoch, 1);
}

#[tokio::test]
async fn concurrent_commits_both_succeed_and_converge() {
    let server = start().await;
    let (mut a, mut b, gid) = pair(&server).await;
    let (ra, rb) = tokio::join!(a.self_update(&gid), b.self_update(&gid));
    let (ea, eb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ea.max(eb), 3, "one commit at epoch 1, the retry at epoch 2");
    wait_epoch(&mut a, &gid, 3).await;
    wait_epoch(&mut b, &gid, 3).await;
    a.send_text(&gid, "after both").await.unwrap();
    let ev = wait_for(&mut b, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "after both"));
    b.send_text(&gid, "ack").await.unwrap();
    let ev = wait_for(&mut a, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "ack"));
}

#[tokio::test]
async fn stale_message_is_reencrypted() {
    let server = start().await;
    let (mut a, mut b, gid) = pair(&server).await;
    // A moves the group on; B has not processed the commit yet.
    a.self_update(&gid).await.unwrap();
    assert_eq!(b.epoch(&gid).unwrap(), 1);
    assert_eq!(b.send_text(&gid, "late").await.unwrap(), 2);
    let ev = wait_for(&mut a, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, epoch: 2, .. } if text == "late"));
}

#[tokio::test]
async fn server_errors_are_typed() {
    let server = start().await;
    let mut a = Client::connect_ephemeral(&server.url).await.unwrap();
    let gid = a.create_group().await.unwrap();
    let stranger = Identity::generate().client_id();
    let e = a.add_members(&gid, &[stranger]).await.unwrap_err();
    assert_eq!(e.server_code(), Some(ErrorCode::NoKeyPackage));
    let e = a
        .request(Request::SendMessage {
            message: Bytes(b"garbage".to_vec()),
        })
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ClientError::Server {
            code: ErrorCode::InvalidMlsMessage,
            ..
        }
    ));
    a.send_raw_frame(b"\xc1 not msgpack".to_vec()).unwrap();
    match a.next_server_message(T).await {
        Some(Incoming::Message(ServerMessage::Error { id: None, code, .. })) => {
            assert_eq!(code, ErrorCode::MalformedFrame)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.remove_members(&gid, &[stranger]).await,
        Err(ClientError::NotAMember)
    ));
    assert!(matches!(
        a.send_text(b"unknown", "x").await,
        Err(ClientError::UnknownGroup)
    ));
    a.ping().await.unwrap();
}

#[tokio::test]
async fn file_state_survives_restart_and_offline_messages() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.state");
    let mut a = Client::connect_ephemeral(&server.url).await.unwrap();
    let state = ClientState::create(&path, Identity::generate()).unwrap();
    let mut b = Client::connect(&server.url, state).await.unwrap();
    b.publish_key_packages(2).await.unwrap();
    let b_id = b.client_id();
    let gid = a.create_group().await.unwrap();
    a.add_members(&gid, &[b_id]).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::Joined { .. })).await;
    b.close().await.unwrap();

    a.send_text(&gid, "while you were away").await.unwrap();
    let state = ClientState::open(&path).unwrap();
    let mut b = Client::connect(&server.url, state).await.unwrap();
    assert_eq!(b.client_id(), b_id);
    let ev = wait_for(&mut b, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "while you were away"));
    b.send_text(&gid, "back").await.unwrap();
    let ev = wait_for(&mut a, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "back"));
}

#[tokio::test]
async fn lost_commit_answer_heals_on_reconnect() {
    let server = start().await;
    let (mut a, mut b, gid) = pair(&server).await;
    server.drop_after_commit.store(true, Ordering::SeqCst);
    let e = a.self_update(&gid).await.unwrap_err();
    assert!(matches!(e, ClientError::Closed { .. }), "{e:?}");
    assert!(a.state().mls().has_pending_commit(&gid).unwrap());
    a.reconnect().await.unwrap();
    assert!(!a.state().mls().has_pending_commit(&gid).unwrap());
    assert_eq!(a.epoch(&gid).unwrap(), 2);
    wait_epoch(&mut b, &gid, 2).await;
    b.send_text(&gid, "healed").await.unwrap();
    let ev = wait_for(&mut a, |e| matches!(e, Event::Message { .. })).await;
    assert!(matches!(ev, Event::Message { ref text, .. } if text == "healed"));
    let _ = server.state.lock().unwrap().groups.len();
}

#[tokio::test]
async fn remove_member() {
    let server = start().await;
    let (mut a, mut b, gid) = pair(&server).await;
    assert_eq!(a.remove_members(&gid, &[b.client_id()]).await.unwrap(), 2);
    let ev = wait_for(&mut b, |e| matches!(e, Event::Removed { .. })).await;
    assert!(matches!(ev, Event::Removed { epoch: 2, .. }));
    assert!(b.groups().is_empty());
    assert!(matches!(b.send_text(&gid, "x").await, Err(ClientError::GroupInactive)));
    assert_eq!(a.members(&gid).unwrap(), vec![a.client_id()]);
}

#[tokio::test]
async fn key_packages_are_topped_up_when_claimed() {
    let server = start().await;
    let mut a = Client::connect_ephemeral(&server.url).await.unwrap();
    let mut b = Client::connect_ephemeral(&server.url).await.unwrap();
    b.publish_key_packages(1).await.unwrap();
    let gid = a.create_group().await.unwrap();
    a.add_members(&gid, &[b.client_id()]).await.unwrap();
    wait_for(&mut b, |e| matches!(e, Event::Joined { .. })).await;
    // B got a key_package_count push (0 left) and published more.
    let _ = b.next_event(Duration::from_millis(300)).await.unwrap();
    let left = server.state.lock().unwrap().one_time[&b.client_id().to_vec()].len();
    assert!(left >= 10, "only {left} key packages after top-up");
}

async fn cli(server: &Server, state: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_parasol"))
        .arg("--server")
        .arg(&server.url)
        .arg("--state")
        .arg(state)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn cli_end_to_end() {
    let server = start().await;
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = (dir.path().join("a.state"), dir.path().join("b.state"));
    let (ok, a_id, _) = cli(&server, &sa, &["init"]).await;
    assert!(ok);
    let (ok, b_id, _) = cli(&server, &sb, &["init"]).await;
    assert!(ok);
    let (a_id, b_id) = (a_id.trim().to_string(), b_id.trim().to_string());
    assert_eq!(cli(&server, &sa, &["id"]).await.1.trim(), a_id);
    let (ok, _, err) = cli(&server, &sa, &["init"]).await;
    assert!(!ok && err.contains("\"error\""));

    let (ok, out, _) = cli(&server, &sb, &["publish", "--count", "3"]).await;
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["one_time"], 3);
    let (ok, gid, _) = cli(&server, &sa, &["create-group"]).await;
    assert!(ok);
    let gid = gid.trim().to_string();
    let (ok, out, err) = cli(&server, &sa, &["add", "--group", &gid, &b_id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"epoch\":1"));
    let (ok, out, _) = cli(&server, &sa, &["send", "--group", &gid, "hi there"]).await;
    assert!(ok, "{out}");
    let (ok, out, err) = cli(&server, &sb, &["receive", "--wait", "1"]).await;
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["event"], "joined");
    assert_eq!(lines[0]["group"], gid.as_str());
    assert_eq!(lines[1]["event"], "message");
    assert_eq!(lines[1]["from"], a_id.as_str());
    assert_eq!(lines[1]["text"], "hi there");
    assert_eq!(lines[1]["seq"], 2);
    // Nothing new the second time.
    let (ok, out, _) = cli(&server, &sb, &["receive", "--wait", "0.3"]).await;
    assert!(ok && out.is_empty(), "{out}");
    let (ok, out, _) = cli(&server, &sb, &["groups"]).await;
    assert!(ok && out.contains(&gid) && out.contains(&a_id));
    // Typed error on stderr, non-zero exit.
    let (ok, _, err) = cli(&server, &sa, &["add", "--group", &gid, &"11".repeat(32)]).await;
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["code"], "no_key_package");
    let (ok, _, _) = cli(&server, &sa, &["send", "--group", "zz", "x"]).await;
    assert!(!ok);
}
