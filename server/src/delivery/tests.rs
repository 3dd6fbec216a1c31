//! Delivery-service behaviour that needs the service's insides: idle groups
//! expire and stay gone after a restart.

use std::sync::Arc;

use parasol_client::mls::MlsEngine;
use parasol_client::Identity;

use super::*;

struct Fixture {
    storage: Storage,
    delivery: Delivery,
    _dir: tempfile::TempDir,
}

fn open(dir: tempfile::TempDir, limits: Limits) -> Fixture {
    let storage = Storage::open(dir.path(), crate::storage::tests::test_keys(dir.path())).unwrap();
    let (mailboxes, _thread) = Mailboxes::open(&storage, crate::mailbox::tests::test_writer_config(100), 16).unwrap();
    let mailboxes = Arc::new(mailboxes);
    let delivery = Delivery::load(
        &storage,
        mailboxes,
        limits.clone(),
        Arc::new(ValidationPool::new(&limits, 100)),
    )
    .unwrap();
    Fixture {
        storage,
        delivery,
        _dir: dir,
    }
}

async fn create(f: &Fixture) -> Vec<u8> {
    let identity = Identity::generate();
    let creator = identity.client_id();
    let new = MlsEngine::new(identity).create_group().unwrap();
    let accepted = f
        .delivery
        .create_group(
            Rooms::none(),
            creator,
            Requester::STAFF,
            &new.group_info,
            &new.ratchet_tree,
        )
        .await
        .unwrap();
    f.delivery.finish(accepted).await.unwrap().0
}

#[tokio::test]
async fn idle_groups_expire_and_active_ones_stay() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let idle = create(&f).await;
    let active = create(&f).await;
    assert_eq!(f.delivery.group_count(), 2);

    // The idle group last spoke 31 days ago (expiry: 30 days).
    f.delivery.group(&idle).unwrap().write().await.last_activity = now_hour() - 31 * 24;
    assert_eq!(f.delivery.expire_idle_groups().await, 1);
    assert_eq!(f.delivery.group_count(), 1);
    assert!(f.delivery.group(&active).is_ok());
    assert_eq!(
        f.delivery.group(&idle).err().map(|e| e.code),
        Some(ErrorCode::UnknownGroup)
    );

    // Deleted from disk too.
    let stored: Vec<Vec<u8>> = f.storage.load_groups().unwrap().into_iter().map(|(id, _)| id).collect();
    assert_eq!(stored, vec![active]);
}

#[tokio::test]
async fn a_new_group_must_start_at_epoch_zero_with_its_creator_alone() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let identity = Identity::generate();
    let new = MlsEngine::new(identity).create_group().unwrap();
    // Someone else cannot register a group whose only member is not them.
    let err = f
        .delivery
        .create_group(
            Rooms::none(),
            [9; 32],
            Requester::STAFF,
            &new.group_info,
            &new.ratchet_tree,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::InvalidGroupInfo);
    // A group info with another group's tree does not verify.
    let other = MlsEngine::new(Identity::generate()).create_group().unwrap();
    let err = f
        .delivery
        .create_group(
            Rooms::none(),
            [9; 32],
            Requester::STAFF,
            &new.group_info,
            &other.ratchet_tree,
        )
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::InvalidGroupInfo);

    // A valid group already past epoch 0 is not a new group.
    let identity = Identity::generate();
    let creator = identity.client_id();
    let mut engine = MlsEngine::new(identity);
    let group = engine.create_group().unwrap().group_id;
    let bundle = engine
        .build_commit(&group, &parasol_client::mls::CommitOp::Update)
        .unwrap()
        .unwrap();
    engine.merge_pending_commit(&group).unwrap();
    let (info, tree) = (bundle.group_info.unwrap(), bundle.ratchet_tree.unwrap());
    let err = f
        .delivery
        .create_group(Rooms::none(), creator, Requester::STAFF, &info, &tree)
        .await
        .err()
        .unwrap();
    assert_eq!(err.code, ErrorCode::InvalidGroupInfo);
    assert!(err.message.contains("epoch 0"), "{}", err.message);
}

#[tokio::test]
async fn message_activity_is_stored_so_a_restart_does_not_expire_a_chatting_group() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let identity = Identity::generate();
    let creator = identity.client_id();
    let mut engine = MlsEngine::new(identity);
    let group = staff_group(&f, &mut engine, creator).await;

    // Last commit 31 days ago; then a message now.
    f.delivery.group(&group).unwrap().write().await.last_activity = now_hour() - 31 * 24;
    let message = engine.encrypt(&group, "still here").unwrap();
    let accepted = f
        .delivery
        .application_message(Rooms::none(), creator, &message)
        .await
        .unwrap();
    f.delivery.finish(accepted).await.unwrap();

    let stored = f.storage.load_groups().unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1.last_activity, now_hour(), "the message's hour is on disk");
    assert_eq!(f.delivery.expire_idle_groups().await, 0);
}

/// Commits carry membership changes only: a group-context-extensions
/// proposal would change a chat or circle behind the rules the server holds.
#[tokio::test]
async fn commits_with_proposals_other_than_add_and_remove_are_refused() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let identity = Identity::generate();
    let creator = identity.client_id();
    let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
    let signer = identity.mls_signer();
    let mut group = MlsGroup::new_with_group_id(
        &provider,
        &signer,
        &parasol_client::mls::create_config(),
        GroupId::from_slice(&[7; 16]),
        identity.credential_with_key(),
    )
    .unwrap();
    let group_info = group
        .export_group_info(provider.crypto(), &signer, false)
        .unwrap()
        .tls_serialize_detached()
        .unwrap();
    let tree = group.export_ratchet_tree().tls_serialize_detached().unwrap();
    let accepted = f
        .delivery
        .create_group(Rooms::none(), creator, Requester::STAFF, &group_info, &tree)
        .await
        .unwrap();
    f.delivery.finish(accepted).await.unwrap();

    let (commit, _, _) = group
        .update_group_context_extensions(&provider, Extensions::empty(), &signer)
        .unwrap();
    let commit = commit.tls_serialize_detached().unwrap();
    let refused = f
        .delivery
        .commit(Rooms::none(), creator, Requester::STAFF, &commit, None, None, None)
        .await;
    let e = refused.err().expect("refused");
    assert_eq!(e.code, ErrorCode::InvalidCommit, "{}", e.message);
    assert!(e.message.contains("only add and remove"), "{}", e.message);
}

/// Commit validation (openmls's processing) runs in the bounded validation
/// pool, charged to an anonymous sender's source like a new group: once the
/// source's budget is spent, a commit is refused before any MLS work, and
/// staff are never charged.
#[tokio::test]
async fn commits_are_validated_in_the_pool_and_charged_to_the_source() {
    let limits = Limits {
        validations_per_source_per_minute: 1,
        validation_source_burst: 1,
        ..Limits::default()
    };
    let f = open(tempfile::tempdir().unwrap(), limits);
    let identity = Identity::generate();
    let creator = identity.client_id();
    let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
    let signer = identity.mls_signer();
    let mut group = MlsGroup::new_with_group_id(
        &provider,
        &signer,
        &parasol_client::mls::create_config(),
        GroupId::from_slice(&[9; 16]),
        identity.credential_with_key(),
    )
    .unwrap();
    let group_info = group
        .export_group_info(provider.crypto(), &signer, false)
        .unwrap()
        .tls_serialize_detached()
        .unwrap();
    let tree = group.export_ratchet_tree().tls_serialize_detached().unwrap();
    let accepted = f
        .delivery
        .create_group(Rooms::none(), creator, Requester::STAFF, &group_info, &tree)
        .await
        .unwrap();
    f.delivery.finish(accepted).await.unwrap();
    // A commit openmls accepts but the rules refuse: it reaches the
    // validation and then fails, leaving the group as it was.
    let (commit, _, _) = group
        .update_group_context_extensions(&provider, Extensions::empty(), &signer)
        .unwrap();
    let commit = commit.tls_serialize_detached().unwrap();
    let source = crate::intake::abuse::SourceHasher::default().key(std::net::IpAddr::from([10, 0, 0, 1]));
    let visitor = Requester::anonymous(Some(source));

    let first = f
        .delivery
        .commit(Rooms::none(), creator, visitor, &commit, None, None, None)
        .await;
    assert_eq!(first.err().expect("refused").code, ErrorCode::InvalidCommit);
    let second = f
        .delivery
        .commit(Rooms::none(), creator, visitor, &commit, None, None, None)
        .await;
    assert_eq!(second.err().expect("refused").code, ErrorCode::RateLimited);
    for _ in 0..3 {
        let staff = f
            .delivery
            .commit(Rooms::none(), creator, Requester::STAFF, &commit, None, None, None)
            .await;
        assert_eq!(staff.err().expect("refused").code, ErrorCode::InvalidCommit);
    }
}

/// Rules that know which keys are staff's.
struct StaffKeys(HashSet<ClientId>);

impl GroupPolicy for StaffKeys {
    fn check_commit(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId], _: usize) -> ServiceResult<()> {
        Ok(())
    }
    fn committed(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId]) {}
    fn is_staff(&self, client: &ClientId) -> bool {
        self.0.contains(client)
    }
}

fn rooms_knowing(staff: &StaffKeys) -> Rooms<'_> {
    Rooms {
        chats: staff,
        ..Rooms::none()
    }
}

/// A group a staff key created, with no room's rules, stored.
async fn staff_group(f: &Fixture, engine: &mut MlsEngine, creator: ClientId) -> Vec<u8> {
    let new = engine.create_group().unwrap();
    let accepted = f
        .delivery
        .create_group(
            Rooms::none(),
            creator,
            Requester::STAFF,
            &new.group_info,
            &new.ratchet_tree,
        )
        .await
        .unwrap();
    f.delivery.finish(accepted).await.unwrap().0
}

async fn create_as(f: &Fixture, rooms: Rooms<'_>, engine: &mut MlsEngine, creator: ClientId) -> ServiceResult<Vec<u8>> {
    let new = engine.create_group().unwrap();
    let accepted = f
        .delivery
        .create_group(
            rooms,
            creator,
            Requester::anonymous(None),
            &new.group_info,
            &new.ratchet_tree,
        )
        .await?;
    f.delivery.finish(accepted).await.map(|(g, _)| g)
}

#[tokio::test]
async fn anonymous_keys_fill_only_their_pool_of_groups() {
    let limits = Limits {
        max_groups: 5,
        max_anonymous_groups: Some(2),
        ..Limits::default()
    };
    let f = open(tempfile::tempdir().unwrap(), limits);
    let staff_identity = Identity::generate();
    let staff_id = staff_identity.client_id();
    let mut staff = MlsEngine::new(staff_identity);
    let staff_keys = StaffKeys(HashSet::from([staff_id]));
    let rooms = rooms_knowing(&staff_keys);
    // Three throwaway keys: the third finds the visitors' pool full.
    for n in 0..3 {
        let identity = Identity::generate();
        let id = identity.client_id();
        let made = create_as(&f, rooms, &mut MlsEngine::new(identity), id).await;
        if n < 2 {
            made.expect("within the anonymous pool");
        } else {
            let e = made.expect_err("the anonymous pool is full");
            assert_eq!(e.code, ErrorCode::LimitExceeded);
            assert!(e.message.contains("for visitors"), "{}", e.message);
        }
    }
    assert_eq!(f.delivery.anonymous_group_count(), 2);
    // Staff still get the rest of the server's groups.
    for _ in 0..3 {
        create_as(&f, rooms, &mut staff, staff_id).await.expect("staff's share");
    }
    let e = create_as(&f, rooms, &mut staff, staff_id)
        .await
        .expect_err("max_groups in all");
    assert_eq!(e.code, ErrorCode::LimitExceeded);
    assert_eq!(f.delivery.group_count(), 5);
}

#[tokio::test]
async fn anonymous_groups_no_room_keeps_expire_after_hours_not_days() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let staff_identity = Identity::generate();
    let staff_id = staff_identity.client_id();
    let staff_keys = StaffKeys(HashSet::from([staff_id]));
    let rooms = rooms_knowing(&staff_keys);
    let visitor_identity = Identity::generate();
    let visitor_id = visitor_identity.client_id();
    let mut visitor = MlsEngine::new(visitor_identity);
    let throwaway = create_as(&f, rooms, &mut visitor, visitor_id).await.unwrap();
    let kept = create_as(&f, rooms, &mut visitor, visitor_id).await.unwrap();
    // A room owns it (a team message).
    f.delivery.owners().claim(&kept, Owner::TeamMessage).unwrap();
    let staffs = create_as(&f, rooms, &mut MlsEngine::new(staff_identity), staff_id)
        .await
        .unwrap();
    assert_eq!(f.delivery.anonymous_group_count(), 2);

    // Seven hours of silence everywhere (anonymous expiry: six hours).
    for g in [&throwaway, &kept, &staffs] {
        let slot = f.delivery.group(g).unwrap();
        let mut group = slot.write().await;
        group.last_activity_secs = now_secs() - 7 * 3600;
        group.last_activity = now_hour() - 7;
    }
    assert_eq!(f.delivery.expire_idle_groups().await, 1, "only the throwaway group");
    assert!(f.delivery.group(&throwaway).is_err());
    assert!(f.delivery.group(&kept).is_ok(), "a group a room keeps stays");
    assert!(f.delivery.group(&staffs).is_ok(), "staff groups keep the 30 days");
    assert_eq!(f.delivery.anonymous_group_count(), 1);
}

/// Rules that refuse every message (a room that muted everyone).
struct MutesEveryone;

impl GroupPolicy for MutesEveryone {
    fn check_commit(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId], _: usize) -> ServiceResult<()> {
        Ok(())
    }
    fn committed(&self, _: &[u8], _: &ClientId, _: &[ClientId], _: &[ClientId]) {}
    fn check_message(&self, _: &[u8], _: &ClientId) -> ServiceResult<()> {
        Err(invalid(ErrorCode::Muted, "muted"))
    }
}

async fn send(f: &Fixture, engine: &mut MlsEngine, group: &[u8], rooms: Rooms<'_>) -> Result<(), ErrorCode> {
    let message = engine.encrypt(group, "hello").unwrap();
    let sender = engine.client_id();
    f.delivery
        .application_message(rooms, sender, &message)
        .await
        .map(|_| ())
        .map_err(|e| e.code)
}

/// Delivery asks the rules of the group's owner, and the key registry's
/// for every group; another room's rules are not asked.
#[tokio::test]
async fn only_the_owners_rules_and_the_registrys_are_asked() {
    let f = open(tempfile::tempdir().unwrap(), Limits::default());
    let identity = Identity::generate();
    let creator = identity.client_id();
    let mut engine = MlsEngine::new(identity);
    let group = staff_group(&f, &mut engine, creator).await;
    let circles_mute = Rooms {
        circles: &MutesEveryone,
        ..Rooms::none()
    };
    let registry_mutes = Rooms {
        every_group: &MutesEveryone,
        ..Rooms::none()
    };
    // Nobody owns it: the circles' rules are not asked; the registry's are.
    assert_eq!(send(&f, &mut engine, &group, circles_mute).await, Ok(()));
    assert_eq!(
        send(&f, &mut engine, &group, registry_mutes).await,
        Err(ErrorCode::Muted)
    );
    // A circle's group: the circles' rules hold.
    f.delivery.owners().claim(&group, Owner::Circle { id: 1 }).unwrap();
    assert_eq!(send(&f, &mut engine, &group, circles_mute).await, Err(ErrorCode::Muted));
    // A chat's group: the circles' are not asked.
    f.delivery.owners().release(&group, Owner::Circle { id: 1 });
    f.delivery.owners().claim(&group, Owner::Chat { ticket: 1 }).unwrap();
    assert_eq!(send(&f, &mut engine, &group, circles_mute).await, Ok(()));
}
