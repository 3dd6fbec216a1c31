//! MLS set-up with the real openmls client engine: every member's key
//! package is a real one, every group is created and grown by a real
//! commit, and each sender's messages are real MLS application messages
//! (PrivateMessages) encrypted in advance, so the hot loop only moves bytes.
//! The server parses and checks each one (group, epoch, sender membership)
//! as it would any client's.

use std::sync::Arc;

use anyhow::{bail, Context};
use parasol_client::mls::{CommitBundle, CommitOp, MlsEngine};
use parasol_client::{Event, Identity};
use parasol_protocol::{EnvelopeKind, Request, Response, ServerMessage};

use crate::wire;

/// Bytes of plaintext per chat message: a short chat line.
const TEXT_BYTES: usize = 100;

/// One group, ready to be registered with Parasol and to send.
pub struct GroupPlan {
    /// Member 0 created the group and is its only sender.
    pub members: Vec<Identity>,
    group_info: Vec<u8>,
    ratchet_tree: Vec<u8>,
    commit: CommitBundle,
    /// Distinct ciphertexts of member 0, cycled by the load loop (the
    /// server does not decrypt, so a repeat costs it the same).
    pub pool: Vec<Vec<u8>>,
    /// Member 1's engine, kept for the first group only: it joins by the
    /// Welcome and decrypts a message, to prove the set-up is real MLS.
    witness: Option<MlsEngine>,
}

pub fn text(i: usize) -> String {
    text_of(i, TEXT_BYTES)
}

/// The `i`-th message, padded to `bytes`.
pub fn text_of(i: usize, bytes: usize) -> String {
    let mut s = format!("bench message {i:08} ");
    while s.len() < bytes {
        s.push('.');
    }
    s
}

/// Build `groups` groups of `size` members, each with `pool` messages.
/// CPU work, spread over the machine's cores.
pub fn plan(groups: usize, size: usize, pool: usize) -> anyhow::Result<Vec<GroupPlan>> {
    plan_sized(groups, size, pool, TEXT_BYTES)
}

/// [`plan`] with messages of `text_bytes` of plaintext (the witness, kept
/// only for short messages, checks the short text).
pub fn plan_sized(groups: usize, size: usize, pool: usize, text_bytes: usize) -> anyhow::Result<Vec<GroupPlan>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let chunks: Vec<Vec<usize>> = (0..threads)
        .map(|t| (0..groups).filter(|g| g % threads == t).collect())
        .collect();
    let mut built: Vec<(usize, GroupPlan)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|g| plan_one(size, pool, text_bytes, g == 0 && text_bytes == TEXT_BYTES).map(|p| (g, p)))
                        .collect::<anyhow::Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("planning thread"))
            .collect::<anyhow::Result<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    built.sort_by_key(|(g, _)| *g);
    Ok(built.into_iter().map(|(_, p)| p).collect())
}

fn plan_one(size: usize, pool: usize, text_bytes: usize, keep_witness: bool) -> anyhow::Result<GroupPlan> {
    let members: Vec<Identity> = (0..size).map(|_| Identity::generate()).collect();
    let mut creator = MlsEngine::new(members[0].clone());
    let new = creator.create_group()?;
    let mut key_packages = Vec::with_capacity(size - 1);
    let mut witness = None;
    for (i, member) in members.iter().enumerate().skip(1) {
        let mut engine = MlsEngine::new(member.clone());
        let kp = engine.generate_key_packages(1, false)?.remove(0);
        let (kp, _) = creator.parse_key_package(&kp)?;
        key_packages.push(kp);
        if keep_witness && i == 1 {
            witness = Some(engine);
        }
    }
    let commit = creator
        .build_commit(&new.group_id, &CommitOp::Add(key_packages))?
        .context("a commit adding members")?;
    creator.merge_pending_commit(&new.group_id)?;
    let pool = (0..pool)
        .map(|i| creator.encrypt(&new.group_id, &text_of(i, text_bytes)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroupPlan {
        members,
        group_info: new.group_info,
        ratchet_tree: new.ratchet_tree,
        commit,
        pool,
        witness,
    })
}

/// Create every group on Parasol (create_group, then the commit adding the
/// members), `concurrency` at a time.
pub async fn register(url: &str, plans: &[Arc<GroupPlan>], concurrency: usize) -> anyhow::Result<()> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    stream::iter(plans.iter().cloned().enumerate())
        .map(|(i, plan)| async move { register_one(url, &plan, i).await })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn register_one(url: &str, plan: &GroupPlan, n: usize) -> anyhow::Result<()> {
    let mut ws = wire::connect(url, Some(wire::source_ip(n)), None).await?;
    wire::authenticate(&mut ws, &plan.members[0]).await?;
    let created = wire::request(
        &mut ws,
        2,
        Request::CreateGroup {
            group_info: plan.group_info.clone().into(),
            ratchet_tree: plan.ratchet_tree.clone().into(),
        },
    )
    .await?;
    if !matches!(created, Response::GroupCreated { .. }) {
        bail!("expected group_created, got {created:?}");
    }
    let c = &plan.commit;
    let accepted = wire::request(
        &mut ws,
        3,
        Request::SendCommit {
            commit: c.commit.clone().into(),
            welcome: c.welcome.clone().map(Into::into),
            group_info: c.group_info.clone().map(Into::into),
            ratchet_tree: c.ratchet_tree.clone().map(Into::into),
        },
    )
    .await?;
    if !matches!(accepted, Response::CommitAccepted { .. }) {
        bail!("expected commit_accepted, got {accepted:?}");
    }
    let _ = futures_util::SinkExt::close(&mut ws).await;
    Ok(())
}

/// Member 1 of the first group joins by its Welcome and decrypts the first
/// pooled message, sent through Parasol: the traffic is genuine MLS.
/// Consumes the witness; call it before the load runs.
pub async fn verify_end_to_end(url: &str, plan: &mut GroupPlan) -> anyhow::Result<()> {
    let mut engine = plan.witness.take().context("the first group keeps a witness")?;
    let (mut receiver, _) = wire::parasol_session(url, &plan.members[1], None, Some(0)).await?;
    let mut sender = wire::connect(url, None, None).await?;
    wire::authenticate(&mut sender, &plan.members[0]).await?;
    let answer = wire::request(
        &mut sender,
        2,
        Request::SendMessage {
            message: plan.pool[0].clone().into(),
        },
    )
    .await?;
    if !matches!(answer, Response::MessageAccepted { .. }) {
        bail!("expected message_accepted, got {answer:?}");
    }
    let want = text(0);
    loop {
        let ServerMessage::Envelope { envelope } = wire::next_message(&mut receiver).await? else {
            continue;
        };
        let is_app = envelope.kind == EnvelopeKind::Application;
        for event in engine.apply_envelope(&envelope) {
            match event {
                Event::Message { text, .. } if text == want => {
                    let _ = wire::request(&mut receiver, 3, Request::Ack { up_to: envelope.seq }).await;
                    return Ok(());
                }
                Event::Error { message, .. } => bail!("the witness could not process an envelope: {message}"),
                _ => {}
            }
        }
        if is_app {
            bail!("the witness decrypted something other than the message sent");
        }
    }
}
