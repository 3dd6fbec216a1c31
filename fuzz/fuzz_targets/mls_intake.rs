//! The delivery service's MLS intake: what `send_commit`, `send_message`
//! and `create_group` hand it, parsed and checked against a real group's
//! openmls `PublicGroup` on real (sealed) storage. Inputs are either raw
//! bytes or a real commit / application message of that group with bytes
//! changed, so the fuzzer gets past parsing into signature, membership,
//! epoch and tree checks. Any input gives a typed error or a valid
//! acceptance, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use parasol_client::mls::{CommitOp, MlsEngine};
use parasol_client::Identity;
use parasol_server::config::Limits;
use parasol_server::delivery::{Delivery, Rooms};
use parasol_server::mailbox::{Mailboxes, WriterConfig};
use parasol_server::storage::{ClientId, Storage, VaultConfig};

struct Fixture {
    runtime: tokio::runtime::Runtime,
    delivery: Delivery,
    creator: ClientId,
    commit: Vec<u8>,
    message: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = VaultConfig {
            key_file: dir.path().join("keys"),
            period_secs: 3600,
            retention_secs: 7200,
        };
        let storage = Storage::open(&dir.path().join("data"), keys).expect("storage");
        let (mailboxes, _writer) = Mailboxes::open(
            &storage,
            WriterConfig {
                group_commit_delay: std::time::Duration::ZERO,
                max_jobs_per_round: 16,
                max_round_bytes: 1 << 20,
                max_mailbox_envelopes: 64,
            },
            16,
        )
        .expect("mailboxes");
        let mailboxes = Arc::new(mailboxes);
        let delivery = Delivery::load(
            &storage,
            mailboxes,
            Limits::default(),
            std::sync::Arc::new(parasol_server::validation::ValidationPool::new(&Limits::default(), 100)),
        )
        .expect("delivery");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let identity = Identity::generate();
        let creator = identity.client_id();
        let mut engine = MlsEngine::new(identity);
        let new = engine.create_group().expect("group");
        let group = runtime.block_on(async {
            let accepted = delivery
                .create_group(
                    Rooms::none(),
                    creator,
                    parasol_server::validation::Requester::STAFF,
                    &new.group_info,
                    &new.ratchet_tree,
                )
                .await
                .expect("server accepts the group");
            delivery.finish(accepted).await.expect("stored").0
        });
        let commit = engine
            .build_commit(&group, &CommitOp::Update)
            .expect("commit")
            .expect("an update commit")
            .commit;
        engine.clear_pending_commit(&group).expect("cleared");
        let message = engine.encrypt(&group, "fuzz").expect("message");
        Fixture {
            runtime,
            delivery,
            creator,
            commit,
            message,
            _dir: dir,
        }
    })
}

/// `base` with bytes changed: each 3 input bytes name an offset and a value
/// to XOR in.
fn patched(base: &[u8], patches: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for p in patches.chunks_exact(3) {
        let at = (usize::from(p[0]) << 8 | usize::from(p[1])) % out.len();
        out[at] ^= p[2].max(1);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    f.runtime.block_on(async {
        let accepted = match mode % 5 {
            0 => {
                f.delivery
                    .commit(
                        Rooms::none(),
                        f.creator,
                        parasol_server::validation::Requester::STAFF,
                        rest,
                        None,
                        None,
                        None,
                    )
                    .await
            }
            1 => {
                let commit = patched(&f.commit, rest);
                f.delivery
                    .commit(
                        Rooms::none(),
                        f.creator,
                        parasol_server::validation::Requester::STAFF,
                        &commit,
                        None,
                        None,
                        None,
                    )
                    .await
            }
            2 => f.delivery.application_message(Rooms::none(), f.creator, rest).await,
            3 => {
                let message = patched(&f.message, rest);
                f.delivery.application_message(Rooms::none(), f.creator, &message).await
            }
            _ => {
                let split = rest.first().map_or(0, |&b| usize::from(b) * rest.len() / 256);
                let (info, tree) = rest.split_at(split);
                f.delivery
                    .create_group(
                        Rooms::none(),
                        f.creator,
                        parasol_server::validation::Requester::STAFF,
                        info,
                        tree,
                    )
                    .await
            }
        };
        if let Ok(accepted) = accepted {
            let _ = f.delivery.finish(accepted).await;
        }
    });
});
