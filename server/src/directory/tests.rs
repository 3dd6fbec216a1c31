use std::collections::HashSet;

use parasol_client::mls::MlsEngine;
use parasol_client::Identity;

use super::*;

struct Keys(HashSet<ClientId>);

impl StaffKeys for Keys {
    fn is_staff(&self, client: &ClientId) -> bool {
        self.0.contains(client)
    }
    fn staff_keys(&self) -> Vec<ClientId> {
        self.0.iter().copied().collect()
    }
}

struct Fixture {
    storage: Storage,
    directory: Directory,
    _keys: Arc<dyn StaffKeys>,
    _dir: tempfile::TempDir,
}

fn open(limits: Limits, staff: &[ClientId]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path(), crate::storage::tests::test_keys(dir.path())).unwrap();
    let pool = Arc::new(ValidationPool::new(&limits, 100));
    let directory = Directory::new(storage.clone(), limits, pool).unwrap();
    let keys: Arc<dyn StaffKeys> = Arc::new(Keys(staff.iter().copied().collect()));
    directory.set_staff_keys(Arc::downgrade(&keys)).unwrap();
    Fixture {
        storage,
        directory,
        _keys: keys,
        _dir: dir,
    }
}

fn packages(engine: &mut MlsEngine, n: usize) -> Vec<Bytes> {
    engine
        .generate_key_packages(n, false)
        .unwrap()
        .into_iter()
        .map(Bytes)
        .collect()
}

fn anonymous() -> Requester {
    Requester::anonymous(None)
}

#[tokio::test]
async fn anonymous_keys_fill_only_their_share_and_staff_still_publish() {
    let limits = Limits {
        max_key_packages_per_client: 5,
        max_stored_key_packages: 12,
        max_anonymous_stored_key_packages: Some(6),
        ..Limits::default()
    };
    let staff_identity = Identity::generate();
    let staff_id = staff_identity.client_id();
    let f = open(limits, &[staff_id]);
    for n in 0..3 {
        let identity = Identity::generate();
        let id = identity.client_id();
        let kps = packages(&mut MlsEngine::new(identity), 3);
        let published = f.directory.publish(&id, &kps, false, anonymous()).await;
        if n < 2 {
            published.expect("within the visitors' share");
        } else {
            let e = published.expect_err("the share is full");
            assert_eq!(e.code, ErrorCode::LimitExceeded);
            assert!(e.message.contains("for visitors"), "{}", e.message);
        }
    }
    assert_eq!(f.directory.stored(), Stored { staff: 0, anonymous: 6 });
    let kps = packages(&mut MlsEngine::new(staff_identity), 5);
    f.directory
        .publish(&staff_id, &kps, false, Requester::STAFF)
        .await
        .expect("staff keep their share");
    assert_eq!(f.directory.stored(), Stored { staff: 5, anonymous: 6 });
    // A purge recounts both pools from storage.
    f.directory.purge_expired().await.unwrap();
    assert_eq!(f.directory.stored(), Stored { staff: 5, anonymous: 6 });
}

#[tokio::test]
async fn the_caps_are_checked_before_any_signature() {
    let limits = Limits {
        max_key_packages_per_client: 5,
        max_stored_key_packages: 12,
        max_anonymous_stored_key_packages: Some(3),
        ..Limits::default()
    };
    let f = open(limits, &[]);
    let identity = Identity::generate();
    let id = identity.client_id();
    let garbage: Vec<Bytes> = (0..6).map(|_| Bytes(vec![0; 64])).collect();
    // Over the per-client cap: refused as such, not as invalid packages.
    let e = f
        .directory
        .publish(&id, &garbage, false, anonymous())
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{}", e.message);
    // Over the pool: the same.
    let e = f
        .directory
        .publish(&id, &garbage[..5], false, anonymous())
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, ErrorCode::LimitExceeded, "{}", e.message);
    // Within them, the packages are validated.
    let e = f
        .directory
        .publish(&id, &garbage[..2], false, anonymous())
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, ErrorCode::InvalidKeyPackage, "{}", e.message);
}

#[tokio::test]
async fn visitors_packages_live_days_and_staff_packages_their_lifetime() {
    let staff_identity = Identity::generate();
    let staff_id = staff_identity.client_id();
    let f = open(Limits::default(), &[staff_id]);
    let identity = Identity::generate();
    let id = identity.client_id();
    let kps = packages(&mut MlsEngine::new(identity), 2);
    f.directory.publish(&id, &kps, false, anonymous()).await.unwrap();
    let kps = packages(&mut MlsEngine::new(staff_identity), 2);
    f.directory
        .publish(&staff_id, &kps, false, Requester::STAFF)
        .await
        .unwrap();

    // Three days and a minute on, the visitor's are gone, staff's stay.
    let later = now_secs() + 3 * 24 * 3600 + 60;
    assert_eq!(f.storage.purge_expired_key_packages(later).unwrap(), 2);
    assert_eq!(f.storage.count_key_packages(&id).unwrap(), 0);
    assert_eq!(f.storage.count_key_packages(&staff_id).unwrap(), 2);
}
