use super::*;
use std::time::Duration;

fn config() -> StaffConfig {
    StaffConfig {
        // The smallest argon2 cost, so tests run fast.
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        max_accounts: 3,
        max_sessions_per_account: 2,
        login_attempts_burst: 100,
        ..StaffConfig::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    staff: Staff,
    audit: Arc<Audit>,
}

fn open(config: StaffConfig) -> Fixture {
    open_with(config, crate::storage::owner::for_tests)
}

/// A fixture whose staff trees are written by the owner `owner` makes.
fn open_with(config: StaffConfig, owner: impl FnOnce(&sled::Db) -> StateOwner) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let audit = Arc::new(
        Audit::open(
            &db,
            crate::storage::owner::for_tests(&db),
            crate::config::AuditConfig::default(),
        )
        .unwrap(),
    );
    let staff = Staff::open(&db, owner(&db), config, audit.clone()).unwrap();
    Fixture {
        _dir: dir,
        staff,
        audit,
    }
}

fn new_account(username: &str) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: "Ana".into(),
        role: StaffRole::Counsellor,
        languages: vec!["mk".into(), "en".into()],
        max_concurrent_chats: 3,
        password: "a long enough password".into(),
    }
}

const PW: &str = "a long enough password";

async fn actions(audit: &Audit) -> Vec<AuditAction> {
    audit
        .list(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn accounts_are_created_validated_unique_and_bounded() {
    let f = open(config());
    let a = f.staff.create(new_account("ana"), Actor::System).await.unwrap();
    assert_eq!(a.account_id, 1);
    assert_eq!(a.languages, ["mk", "en"]);
    assert!(!a.totp_enabled && !a.disabled);
    assert!(matches!(
        f.staff.create(new_account("ana"), Actor::System).await,
        Err(StaffError::UsernameTaken)
    ));
    let mut bad = new_account("Bad Name");
    assert!(matches!(
        f.staff.create(bad.clone(), Actor::System).await,
        Err(StaffError::InvalidInput(_))
    ));
    bad.username = "bob".into();
    bad.max_concurrent_chats = 21;
    assert!(matches!(
        f.staff.create(bad, Actor::System).await,
        Err(StaffError::InvalidInput(_))
    ));
    f.staff.create(new_account("bob"), Actor::System).await.unwrap();
    let c = f.staff.create(new_account("cy"), Actor::System).await.unwrap();
    assert_eq!(c.account_id, 3);
    assert!(matches!(
        f.staff.create(new_account("dee"), Actor::System).await,
        Err(StaffError::TooManyAccounts)
    ));
    let list = f.staff.list().await.unwrap();
    assert_eq!(
        list.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(),
        ["ana", "bob", "cy"]
    );
    assert_eq!(f.staff.get_by_username("bob").await.unwrap().account_id, 2);
    assert!(matches!(f.staff.get(9).await, Err(StaffError::NotFound)));
    assert_eq!(actions(&f.audit).await, [AuditAction::AccountCreated; 3]);
}

#[tokio::test]
async fn every_bad_login_gets_the_same_answer() {
    let f = open(config());
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    let ok = f.staff.login("ana", PW, None).await.unwrap();
    assert_eq!(ok.account.account_id, id);
    assert!(ok.expires_at > now_secs());
    assert!(!format!("{ok:?}").contains(&ok.token));
    for (user, pw) in [
        ("ana", "wrong password!"),
        ("nobody", PW),
        ("NOT VALID", PW),
        ("ana", ""),
    ] {
        let e = f.staff.login(user, pw, None).await.unwrap_err();
        assert!(matches!(e, StaffError::InvalidCredentials), "{user}: {e}");
    }
    f.staff.disable(id, Actor::System).await.unwrap();
    assert!(matches!(
        f.staff.login("ana", PW, None).await,
        Err(StaffError::InvalidCredentials)
    ));
    f.staff.enable(id, Actor::System).await.unwrap();
    f.staff.login("ana", PW, None).await.unwrap();
    let log = f.audit.list(0, 100).await.unwrap();
    // Failures of an account are audited; names that are no account are not.
    assert_eq!(log.iter().filter(|e| e.action == AuditAction::LoginFailed).count(), 3);
    assert_eq!(log.iter().filter(|e| e.action == AuditAction::Login).count(), 2);
    // A failed login for an unknown name records no name at all.
    assert!(log
        .iter()
        .all(|e| e.subject.as_deref().is_none_or(|s| s == "account:1")));
}

#[tokio::test]
async fn totp_is_required_checked_and_not_replayable() {
    let f = open(config());
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    let uri = f.staff.enable_totp(id, Actor::System).await.unwrap();
    assert!(uri.starts_with("otpauth://totp/Parasol:ana?secret="), "{uri}");
    assert!(f.staff.get(id).await.unwrap().totp_enabled);
    let secret_b32 = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string()).to_bytes().unwrap();
    let generator = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret).unwrap();
    let code = generator.generate(now_secs());
    let bad = if code == "000000" { "000001" } else { "000000" };
    for totp in [None, Some(bad)] {
        assert!(matches!(
            f.staff.login("ana", PW, totp).await,
            Err(StaffError::InvalidCredentials)
        ));
    }
    f.staff.login("ana", PW, Some(&code)).await.unwrap();
    assert!(
        matches!(
            f.staff.login("ana", PW, Some(&code)).await,
            Err(StaffError::InvalidCredentials)
        ),
        "a code works once"
    );
    // A right code with a wrong password is still refused.
    let next = generator.generate(now_secs() + 30);
    assert!(matches!(
        f.staff.login("ana", "wrong password!", Some(&next)).await,
        Err(StaffError::InvalidCredentials)
    ));
    f.staff.disable_totp(id, Actor::System).await.unwrap();
    f.staff.login("ana", PW, None).await.unwrap();
}

#[tokio::test]
async fn sessions_authenticate_until_logout_and_are_stored_hashed() {
    let f = open(config());
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    let login = f.staff.login("ana", PW, None).await.unwrap();
    let info = f.staff.authenticate_session(&login.token).await.unwrap();
    assert_eq!(info.account_id, id);
    assert_eq!(info.role, StaffRole::Counsellor);
    assert_eq!(info.languages, ["mk", "en"]);
    assert_eq!(info.max_concurrent_chats, 3);
    assert_eq!(info.expires_at, login.expires_at);
    assert!(!info.cut_off.is_cancelled());
    assert!(!f.staff.trees.sessions.contains_key(login.token.as_bytes()).unwrap());
    for bad in ["", "x", &login.token[1..], &"A".repeat(43)] {
        assert!(matches!(
            f.staff.authenticate_session(bad).await,
            Err(StaffError::InvalidSession)
        ));
    }
    assert!(f.staff.logout(&login.token).await.unwrap());
    assert!(!f.staff.logout(&login.token).await.unwrap());
    assert!(matches!(
        f.staff.authenticate_session(&login.token).await,
        Err(StaffError::InvalidSession)
    ));
    assert_eq!(f.staff.session_count(), 0);
}

#[tokio::test]
async fn an_account_keeps_its_newest_sessions_and_expired_ones_are_purged() {
    let f = open(StaffConfig {
        session_ttl_secs: 1,
        ..config()
    });
    f.staff.create(new_account("ana"), Actor::System).await.unwrap();
    let first = f.staff.login("ana", PW, None).await.unwrap();
    let second = f.staff.login("ana", PW, None).await.unwrap();
    let third = f.staff.login("ana", PW, None).await.unwrap();
    assert_eq!(f.staff.session_count(), 2, "max_sessions_per_account");
    // Same-second sessions are ordered by hash; at least one of the first
    // two gave way, and the newest always lives.
    assert!(f.staff.authenticate_session(&third.token).await.is_ok());
    let mut alive = 0;
    for s in [&first, &second] {
        alive += usize::from(f.staff.authenticate_session(&s.token).await.is_ok());
    }
    assert_eq!(alive, 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        f.staff.authenticate_session(&third.token).await,
        Err(StaffError::InvalidSession)
    ));
    assert_eq!(f.staff.purge_expired().await.unwrap(), 2);
    assert_eq!(f.staff.session_count(), 0);
    assert_eq!(f.staff.trees.session_index.len(), 0);
}

#[tokio::test]
async fn disabling_cuts_off_live_sessions_at_once() {
    let f = open(config());
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    let login = f.staff.login("ana", PW, None).await.unwrap();
    let info = f.staff.authenticate_session(&login.token).await.unwrap();
    let watched = f.staff.watch(id).await;
    assert!(!watched.is_cancelled());
    f.staff.disable(id, Actor::System).await.unwrap();
    assert!(info.cut_off.is_cancelled());
    assert!(watched.is_cancelled());
    assert!(
        f.staff.watch(id).await.is_cancelled(),
        "a disabled account gets a cancelled token"
    );
    assert!(matches!(
        f.staff.authenticate_session(&login.token).await,
        Err(StaffError::InvalidSession)
    ));
    f.staff.enable(id, Actor::System).await.unwrap();
    assert!(
        matches!(
            f.staff.authenticate_session(&login.token).await,
            Err(StaffError::InvalidSession)
        ),
        "enabling does not bring old sessions back"
    );
    let again = f.staff.login("ana", PW, None).await.unwrap();
    let info = f.staff.authenticate_session(&again.token).await.unwrap();
    assert!(!info.cut_off.is_cancelled(), "later sessions get a fresh token");
    f.staff.revoke_all(id, Actor::System).await.unwrap();
    assert!(info.cut_off.is_cancelled());
    assert!(
        f.staff.watch(999).await.is_cancelled(),
        "unknown accounts are never watched"
    );
    assert!(f.staff.watches.lock().len() <= 1);
}

#[tokio::test]
async fn a_password_reset_ends_sessions() {
    let f = open(config());
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    let login = f.staff.login("ana", PW, None).await.unwrap();
    let cut_off = f.staff.authenticate_session(&login.token).await.unwrap().cut_off;
    assert!(matches!(
        f.staff.reset_password(id, "short", Actor::System).await,
        Err(StaffError::InvalidInput(_))
    ));
    f.staff
        .reset_password(id, "another long password", Actor::System)
        .await
        .unwrap();
    assert!(cut_off.is_cancelled());
    assert!(f.staff.authenticate_session(&login.token).await.is_err());
    assert!(f.staff.login("ana", PW, None).await.is_err());
    f.staff.login("ana", "another long password", None).await.unwrap();
}

#[tokio::test]
async fn attempts_are_throttled_per_username() {
    let f = open(StaffConfig {
        login_attempts_burst: 3,
        login_attempt_interval_secs: 60,
        ..config()
    });
    f.staff.create(new_account("ana"), Actor::System).await.unwrap();
    for _ in 0..3 {
        assert!(matches!(
            f.staff.login("ana", "wrong password!", None).await,
            Err(StaffError::InvalidCredentials)
        ));
    }
    match f.staff.login("ana", PW, None).await {
        Err(StaffError::Throttled { retry_after_secs }) => assert!((1..=60).contains(&retry_after_secs)),
        other => panic!("expected throttling, got {other:?}"),
    }
    // Another name is not affected, known or not (no enumeration).
    assert!(matches!(
        f.staff.login("nobody", PW, None).await,
        Err(StaffError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn the_throttle_map_is_bounded() {
    let f = open(StaffConfig {
        login_attempts_burst: 1,
        max_throttled_usernames: 4,
        ..config()
    });
    for i in 0..20 {
        let _ = f.staff.login(&format!("user{i}"), PW, None).await;
    }
    let (pairs, sources) = f.staff.throttle.len();
    assert!(pairs <= 5, "4 names and the local tool's overflow bucket: {pairs}");
    assert_eq!(sources, 1, "one local tool");
}

#[tokio::test]
async fn the_demo_counsellor_gets_a_fresh_password_each_start() {
    let f = open(config());
    let first = f.staff.ensure_demo().await.unwrap();
    let demo = f.staff.get_by_username(DEMO_USERNAME).await.unwrap();
    assert_eq!(demo.role, StaffRole::Counsellor);
    assert_eq!(demo.languages, ["mk", "sq", "en"]);
    assert_eq!(demo.max_concurrent_chats, 3);
    f.staff.disable(demo.account_id, Actor::System).await.unwrap();
    let second = f.staff.ensure_demo().await.unwrap();
    assert_ne!(first, second);
    assert!(f.staff.login(DEMO_USERNAME, &first, None).await.is_err());
    f.staff.login(DEMO_USERNAME, &second, None).await.unwrap();
    assert_eq!(f.staff.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn one_source_has_only_its_share_of_the_logins_waiting() {
    let f = open(StaffConfig {
        max_concurrent_password_checks: 1,
        max_waiting_logins_per_source: 1,
        ..config()
    });
    f.staff.create(new_account("ana"), Actor::System).await.unwrap();
    let hasher = crate::intake::abuse::SourceHasher::default();
    let flood = Some(hasher.key("203.0.113.9".parse().unwrap()));
    let office = Some(hasher.key("198.51.100.7".parse().unwrap()));
    // The password checks are busy (the test holds the only one): the
    // first guess waits for one, in its source's one waiting place, when
    // the second arrives from the same source. Polled in order, on one task.
    let busy = f.staff.checks.clone().acquire_owned().await.unwrap();
    let (first, second, ana, ()) = tokio::join!(
        biased;
        f.staff.login_from("ana", "wrong password!", None, flood),
        f.staff.login_from("ana", "wrong password!", None, flood),
        f.staff.login_from("ana", PW, None, office),
        async move {
            tokio::task::yield_now().await;
            drop(busy);
        },
    );
    assert!(matches!(first, Err(StaffError::InvalidCredentials)), "{first:?}");
    assert!(matches!(second, Err(StaffError::Busy)), "{second:?}");
    ana.expect("ana logs in from her office meanwhile");
}

#[tokio::test]
async fn staff_writes_answer_only_after_the_state_owners_flush() {
    use std::sync::atomic::AtomicBool;
    // An owner whose flush waits while the gate is shut: a staff write
    // that answered anyway would not have gone through it.
    let open_gate = Arc::new(AtomicBool::new(true));
    let flushes = Arc::new(AtomicUsize::new(0));
    let (gate, count) = (open_gate.clone(), flushes.clone());
    let f = open_with(config(), move |db| {
        let db = db.clone();
        StateOwner::spawn(
            move || {
                while !gate.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                count.fetch_add(1, Ordering::SeqCst);
                db.flush().map(|_| ()).map_err(|e| e.to_string())
            },
            64,
        )
    });
    let id = f
        .staff
        .create(new_account("ana"), Actor::System)
        .await
        .unwrap()
        .account_id;
    assert!(
        flushes.load(Ordering::SeqCst) >= 1,
        "the account was written by the owner"
    );

    open_gate.store(false, Ordering::SeqCst);
    let before = flushes.load(Ordering::SeqCst);
    let login = f.staff.login("ana", PW, None);
    tokio::pin!(login);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut login)
            .await
            .is_err(),
        "a login answers only once its session is flushed"
    );
    open_gate.store(true, Ordering::SeqCst);
    let login = login.await.unwrap();
    assert!(flushes.load(Ordering::SeqCst) > before);

    // The same for a revocation, a logout and the purge.
    open_gate.store(false, Ordering::SeqCst);
    let revoke = f.staff.revoke_all(id, Actor::System);
    tokio::pin!(revoke);
    assert!(tokio::time::timeout(Duration::from_millis(200), &mut revoke)
        .await
        .is_err());
    open_gate.store(true, Ordering::SeqCst);
    revoke.await.unwrap();
    assert!(!f.staff.logout(&login.token).await.unwrap(), "revoked already");
    assert_eq!(f.staff.purge_expired().await.unwrap(), 0);
    assert_eq!(f.staff.session_count(), 0);
}
