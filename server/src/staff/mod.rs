//! Staff accounts, logins and sessions. This room owns the sled trees:
//! - `staff_accounts`: account id → account record (argon2id hash, optional
//!   TOTP secret, role, languages, cap, disabled flag);
//! - `staff_usernames`: username → account id;
//! - `staff_sessions`: SHA-256(session token) → account id, created, expires;
//! - `staff_session_index`: account id ‖ created ‖ token hash → (), to end
//!   an account's sessions;
//! - `staff_meta`: the next account id.
//!
//! A login answers the same for an unknown user, a wrong password, a wrong
//! or missing TOTP code and a disabled account, and costs the same time
//! (an unknown user is checked against a dummy hash). Attempts are throttled
//! per (username, source) and per source ([`throttle`]). A disabled account's sessions end at once: every live
//! connection holds the account's [`CancellationToken`] (from
//! [`SessionInfo::cut_off`] or [`Staff::watch`]).

mod account;
pub mod attestation;
pub mod http;
pub mod password;
mod session;
pub mod throttle;
pub mod totp;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parasol_protocol::StaffRole;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub use account::{
    is_valid_username, AccountSummary, NewAccount, MAX_CONCURRENT_CHATS, MAX_DISPLAY_NAME_CHARS, MAX_LANGUAGES,
    MAX_USERNAME_LEN,
};
pub use attestation::Attestor;

use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::config::StaffConfig;
use crate::storage::owner::{self, StateOwner};
use crate::storage::StorageError;
use crate::time::now_secs;
use account::AccountRecord;
use session::SessionRecord;

/// Username of the demo counsellor (`--demo`).
pub const DEMO_USERNAME: &str = "demo";

#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// Unknown user, wrong password, wrong or missing TOTP code, or a
    /// disabled account: deliberately one answer.
    #[error("invalid username, password or code")]
    InvalidCredentials,
    #[error("too many login attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy checking other logins; try again in a moment")]
    Busy,
    /// A session token that is unknown, malformed, expired or revoked.
    #[error("not logged in, or the session has ended")]
    InvalidSession,
    #[error("{0}")]
    InvalidInput(String),
    #[error("that username is taken")]
    UsernameTaken,
    #[error("no such account")]
    NotFound,
    #[error("the number of staff accounts is at its limit")]
    TooManyAccounts,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for StaffError {
    fn from(e: sled::Error) -> Self {
        StaffError::Storage(e.into())
    }
}

impl From<crate::audit::AuditError> for StaffError {
    fn from(e: crate::audit::AuditError) -> Self {
        match e {
            crate::audit::AuditError::Storage(s) => StaffError::Storage(s),
            other => StaffError::Storage(StorageError::Corrupt(other.to_string())),
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> StaffError {
    StaffError::Storage(StorageError::Corrupt(e.to_string()))
}

/// A successful login. The token is shown here once and stored nowhere.
pub struct LoginOutcome {
    pub token: String,
    pub expires_at: u64,
    pub account: AccountSummary,
}

impl std::fmt::Debug for LoginOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOutcome")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("account_id", &self.account.account_id)
            .finish()
    }
}

/// Who a valid session token belongs to.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub account_id: u64,
    pub display_name: String,
    pub role: StaffRole,
    pub languages: Vec<String>,
    pub max_concurrent_chats: u8,
    /// The session ends then (Unix seconds); a connection should end too.
    pub expires_at: u64,
    /// Cancelled when the account is disabled or its sessions revoked:
    /// the connection that authenticated with this session must end.
    pub cut_off: CancellationToken,
}

fn be(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn index_key(account_id: u64, created_at: u64, hash: &[u8; 32]) -> Vec<u8> {
    let mut k = Vec::with_capacity(48);
    k.extend_from_slice(&be(account_id));
    k.extend_from_slice(&be(created_at));
    k.extend_from_slice(hash);
    k
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StaffError> {
    rmp_serde::to_vec_named(v).map_err(corrupt)
}

fn decode<T: serde::de::DeserializeOwned>(v: &[u8]) -> Result<T, StaffError> {
    rmp_serde::from_slice(v).map_err(corrupt)
}

pub struct Staff {
    /// Writes the staff trees, one job after another, off the async
    /// workers, and flushes before answering (see storage's rule). Running
    /// every write there also serialises read-modify-write of records.
    owner: StateOwner,
    trees: Arc<Trees>,
    config: StaffConfig,
    audit: Arc<Audit>,
    /// argon2id cost of new hashes.
    params: argon2::Params,
    /// Checked for unknown usernames so they cost as long as known ones.
    dummy_hash: String,
    /// Login attempts per (username, source) and per source (bounded,
    /// purged).
    throttle: throttle::LoginThrottle,
    /// Password checks running at once (each holds argon2 memory).
    checks: Arc<Semaphore>,
    /// Logins waiting for or in a password check.
    waiting: Arc<Semaphore>,
    /// One token per account with a live connection; cancelled (and
    /// removed) when the account is disabled or its sessions revoked.
    /// Only existing, enabled accounts get an entry: bounded by
    /// `max_accounts`.
    watches: Mutex<HashMap<u64, CancellationToken>>,
}

/// The staff trees. Their methods call sled, so they run only on the state
/// owner thread (writes) or tokio's blocking pool (reads), never on an
/// async worker.
struct Trees {
    accounts: sled::Tree,
    usernames: sled::Tree,
    sessions: sled::Tree,
    session_index: sled::Tree,
    meta: sled::Tree,
    config: StaffConfig,
    /// Sessions stored (counted at open).
    session_count: AtomicUsize,
}

impl Staff {
    /// Open the staff trees, written by `owner` (the storage's state
    /// owner). Hashes a dummy password once (for timing), so it takes as
    /// long as one login; call it at start-up.
    pub fn open(db: &sled::Db, owner: StateOwner, config: StaffConfig, audit: Arc<Audit>) -> Result<Self, StaffError> {
        let params = password::params(&config).map_err(|e| StaffError::InvalidInput(e.to_string()))?;
        let dummy_hash = password::hash(&params, &password::generate()).map_err(corrupt)?;
        let sessions = db.open_tree("staff_sessions")?;
        Ok(Staff {
            owner,
            trees: Arc::new(Trees {
                accounts: db.open_tree("staff_accounts")?,
                usernames: db.open_tree("staff_usernames")?,
                session_count: AtomicUsize::new(sessions.len()),
                sessions,
                session_index: db.open_tree("staff_session_index")?,
                meta: db.open_tree("staff_meta")?,
                config: config.clone(),
            }),
            params,
            dummy_hash,
            throttle: throttle::LoginThrottle::new(&config),
            checks: Arc::new(Semaphore::new(config.max_concurrent_password_checks)),
            waiting: Arc::new(Semaphore::new(
                config.max_waiting_logins.max(config.max_concurrent_password_checks),
            )),
            watches: Mutex::new(HashMap::new()),
            audit,
            config,
        })
    }

    /// Run `f` on the trees on the blocking pool.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Trees) -> Result<R, StaffError> + Send + 'static,
    ) -> Result<R, StaffError> {
        let trees = self.trees.clone();
        owner::read(move || f(&trees)).await
    }

    /// Run `f` on the trees on the state owner; answers once it is durable.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Trees) -> Result<R, StaffError> + Send + 'static,
    ) -> Result<R, StaffError> {
        let trees = self.trees.clone();
        self.owner.write(move || f(&trees)).await
    }

    // ---- accounts ----

    /// Apply `change` to an account on the state owner.
    async fn modify(
        &self,
        account_id: u64,
        change: impl FnOnce(&mut AccountRecord) -> Result<(), StaffError> + Send + 'static,
    ) -> Result<AccountRecord, StaffError> {
        self.write(move |t| t.modify(account_id, change)).await
    }

    async fn hash_password(&self, password: &str) -> Result<String, StaffError> {
        let params = self.params.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || password::hash(&params, &password))
            .await
            .map_err(corrupt)?
            .map_err(corrupt)
    }

    async fn audit(&self, actor: Actor, action: AuditAction, account_id: Option<u64>) -> Result<(), StaffError> {
        let mut event = AuditEvent::new(actor, action);
        if let Some(id) = account_id {
            event = event.subject(format!("account:{id}"));
        }
        self.audit.record(event).await?;
        Ok(())
    }

    /// Create an account. `by` is who asked (recorded in the audit log).
    pub async fn create(&self, new: NewAccount, by: Actor) -> Result<AccountSummary, StaffError> {
        account::check_new_account(&new)?;
        let password_hash = self.hash_password(&new.password).await?;
        let record = self.write(move |t| t.create(new, password_hash)).await?;
        self.audit(by, AuditAction::AccountCreated, Some(record.account_id))
            .await?;
        tracing::info!(role = %record.role, "staff account created");
        Ok(record.summary())
    }

    pub async fn get(&self, account_id: u64) -> Result<AccountSummary, StaffError> {
        Ok(self
            .read(move |t| t.record(account_id))
            .await?
            .ok_or(StaffError::NotFound)?
            .summary())
    }

    pub async fn get_by_username(&self, username: &str) -> Result<AccountSummary, StaffError> {
        Ok(self
            .record_by_username(username)
            .await?
            .ok_or(StaffError::NotFound)?
            .summary())
    }

    async fn record_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StaffError> {
        let username = username.to_owned();
        self.read(move |t| t.record_by_username(&username)).await
    }

    /// Every account, by id.
    pub async fn list(&self) -> Result<Vec<AccountSummary>, StaffError> {
        self.read(|t| t.list()).await
    }

    /// Disable an account: it cannot log in, its sessions are deleted and
    /// its live connections are cut off at once.
    pub async fn disable(&self, account_id: u64, by: Actor) -> Result<AccountSummary, StaffError> {
        let record = self
            .write(move |t| {
                let record = t.modify(account_id, |r| {
                    r.disabled = true;
                    Ok(())
                })?;
                t.delete_sessions(account_id)?;
                Ok(record)
            })
            .await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::AccountDisabled, Some(account_id)).await?;
        tracing::info!("staff account disabled; its sessions ended");
        Ok(record.summary())
    }

    pub async fn enable(&self, account_id: u64, by: Actor) -> Result<AccountSummary, StaffError> {
        let record = self
            .modify(account_id, |r| {
                r.disabled = false;
                Ok(())
            })
            .await?;
        self.audit(by, AuditAction::AccountEnabled, Some(account_id)).await?;
        Ok(record.summary())
    }

    /// Set a new password; the account's sessions end (a reset is what one
    /// does after a leak).
    pub async fn reset_password(&self, account_id: u64, password: &str, by: Actor) -> Result<(), StaffError> {
        account::check_new_password(password)?;
        self.read(move |t| t.record(account_id))
            .await?
            .ok_or(StaffError::NotFound)?;
        let hash = self.hash_password(password).await?;
        self.write(move |t| {
            t.modify(account_id, |r| {
                r.password_hash = hash;
                Ok(())
            })?;
            t.delete_sessions(account_id)
        })
        .await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::PasswordReset, Some(account_id)).await?;
        Ok(())
    }

    /// Require a TOTP code at login from now on, with a new secret;
    /// returns the `otpauth://` URI to give the staff member (once).
    pub async fn enable_totp(&self, account_id: u64, by: Actor) -> Result<String, StaffError> {
        let secret = totp::new_secret();
        let stored = secret.clone();
        let record = self
            .modify(account_id, move |r| {
                r.totp_secret = Some(stored);
                r.totp_last_step = None;
                Ok(())
            })
            .await?;
        self.audit(by, AuditAction::TotpEnabled, Some(account_id)).await?;
        totp::otpauth_uri(&secret, &record.username).ok_or_else(|| corrupt("totp secret"))
    }

    pub async fn disable_totp(&self, account_id: u64, by: Actor) -> Result<(), StaffError> {
        self.modify(account_id, |r| {
            r.totp_secret = None;
            r.totp_last_step = None;
            Ok(())
        })
        .await?;
        self.audit(by, AuditAction::TotpDisabled, Some(account_id)).await?;
        Ok(())
    }

    /// Make sure the demo counsellor exists and enabled, with a fresh random
    /// password, which is returned (print it once; never log it).
    pub async fn ensure_demo(&self) -> Result<String, StaffError> {
        let password = password::generate();
        match self.record_by_username(DEMO_USERNAME).await? {
            Some(r) => {
                self.reset_password(r.account_id, &password, Actor::System).await?;
                if r.disabled {
                    self.enable(r.account_id, Actor::System).await?;
                }
            }
            None => {
                self.create(
                    NewAccount {
                        username: DEMO_USERNAME.into(),
                        display_name: "Demo counsellor".into(),
                        role: StaffRole::Counsellor,
                        languages: vec!["mk".into(), "sq".into(), "en".into()],
                        max_concurrent_chats: 3,
                        password: password.clone(),
                    },
                    Actor::System,
                )
                .await?;
            }
        }
        Ok(password)
    }

    // ---- login and sessions ----

    /// Log in from a local tool (no source): see [`Staff::login_from`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
    ) -> Result<LoginOutcome, StaffError> {
        self.login_from(username, password, totp_code, None).await
    }

    /// Log in from `source` (the salted key of the client's address; `None`
    /// for a local tool). Every failure is [`StaffError::InvalidCredentials`]
    /// (or `Throttled` / `Busy`, which do not depend on the account).
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        totp_code: Option<&str>,
        source: Option<crate::intake::abuse::SourceKey>,
    ) -> Result<LoginOutcome, StaffError> {
        self.throttle.check(username, source)?;
        let _waiting = self.waiting.clone().try_acquire_owned().map_err(|_| StaffError::Busy)?;
        // The password checks run one after another in arrival order: one
        // source may have only its share of the logins waiting for them.
        let _share = self.throttle.wait_slot(source).ok_or(StaffError::Busy)?;
        let record = if is_valid_username(username) {
            self.record_by_username(username).await?
        } else {
            None
        };
        let ok = {
            let _check = self
                .checks
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StaffError::Busy)?;
            let hash = record
                .as_ref()
                .map_or_else(|| self.dummy_hash.clone(), |r| r.password_hash.clone());
            // Over-long passwords are checked as an empty one: same cost, no match.
            let too_long = password.len() > password::MAX_PASSWORD_BYTES;
            let password = if too_long { String::new() } else { password.to_owned() };
            let matched = tokio::task::spawn_blocking(move || password::verify(&hash, &password))
                .await
                .map_err(corrupt)?;
            matched && !too_long
        };
        let Some(record) = record else {
            // Not audited: names that are no account would let a flood of
            // guesses push real entries out of the bounded log (the
            // metrics count them).
            return Err(StaffError::InvalidCredentials);
        };
        let id = record.account_id;
        if !ok || record.disabled || !self.second_factor(id, totp_code).await? {
            self.audit(Actor::System, AuditAction::LoginFailed, Some(id)).await?;
            return Err(StaffError::InvalidCredentials);
        }
        let (token, expires_at) = self.new_session(id).await?;
        self.audit(Actor::Staff(id), AuditAction::Login, Some(id)).await?;
        Ok(LoginOutcome {
            token,
            expires_at,
            account: record.summary(),
        })
    }

    /// Check the TOTP code if the account has a second factor, and record
    /// its step so it cannot be used again.
    async fn second_factor(&self, account_id: u64, code: Option<&str>) -> Result<bool, StaffError> {
        let code = code.map(str::to_owned);
        self.write(move |t| t.second_factor(account_id, code.as_deref())).await
    }

    async fn new_session(&self, account_id: u64) -> Result<(String, u64), StaffError> {
        if self.session_count() >= self.config.max_sessions {
            self.throttle.trim();
        }
        self.write(move |t| t.new_session(account_id)).await
    }

    /// Who `token` belongs to, if it is a live session of an enabled
    /// account. The returned `cut_off` token is taken before the final
    /// check, so a disable racing with this call still cuts it off.
    pub async fn authenticate_session(&self, token: &str) -> Result<SessionInfo, StaffError> {
        let hash = session::hash_token(token).ok_or(StaffError::InvalidSession)?;
        let session = self.read(move |t| t.live_session(&hash)).await?;
        let cut_off = self.watch(session.account_id).await;
        // Read again after taking the watch token (see above).
        let (session, record) = self
            .read(move |t| {
                let session = t.live_session(&hash)?;
                let record = t.record(session.account_id)?.ok_or(StaffError::InvalidSession)?;
                Ok((session, record))
            })
            .await?;
        if record.disabled || cut_off.is_cancelled() {
            return Err(StaffError::InvalidSession);
        }
        Ok(SessionInfo {
            account_id: record.account_id,
            display_name: record.display_name,
            role: record.role,
            languages: record.languages,
            max_concurrent_chats: record.max_concurrent_chats,
            expires_at: session.expires_at,
            cut_off,
        })
    }

    /// End the session of `token`. Returns whether there was one. Other
    /// sessions of the account, and connections already open, go on.
    pub async fn logout(&self, token: &str) -> Result<bool, StaffError> {
        let Some(hash) = session::hash_token(token) else {
            return Ok(false);
        };
        let ended = self
            .write(move |t| {
                let Some(v) = t.sessions.get(hash)? else {
                    return Ok(None);
                };
                let record: SessionRecord = decode(&v)?;
                t.remove_session(&hash, &record)?;
                Ok(Some(record))
            })
            .await?;
        let Some(record) = ended else {
            return Ok(false);
        };
        self.audit(
            Actor::Staff(record.account_id),
            AuditAction::Logout,
            Some(record.account_id),
        )
        .await?;
        Ok(true)
    }

    /// End every session of the account and cut off its live connections.
    pub async fn revoke_all(&self, account_id: u64, by: Actor) -> Result<(), StaffError> {
        self.write(move |t| t.delete_sessions(account_id)).await?;
        self.cut_off(account_id);
        self.audit(by, AuditAction::SessionsRevoked, Some(account_id)).await?;
        Ok(())
    }

    /// Cancel the account's watch token, after its sessions are deleted (in
    /// this order: see [`Staff::authenticate_session`]).
    fn cut_off(&self, account_id: u64) {
        if let Some(token) = self.watches.lock().remove(&account_id) {
            token.cancel();
        }
    }

    /// The token a live connection of this account holds: cancelled when
    /// the account is disabled or its sessions are revoked (later calls get
    /// a fresh one). For an unknown or disabled account it is cancelled
    /// already.
    pub async fn watch(&self, account_id: u64) -> CancellationToken {
        if let Some(t) = self.watches.lock().get(&account_id) {
            return t.clone();
        }
        // A disable that lands between this read and the entry below
        // leaves a live token for a disabled account: callers check the
        // account after taking the token (see `authenticate_session`).
        match self.read(move |t| t.record(account_id)).await {
            Ok(Some(r)) if !r.disabled => self.watches.lock().entry(account_id).or_default().clone(),
            _ => {
                let t = CancellationToken::new();
                t.cancel();
                t
            }
        }
    }

    /// Delete expired sessions and forget idle login-throttle entries; call
    /// it from the purge loop. Returns how many sessions went.
    pub async fn purge_expired(&self) -> Result<usize, StaffError> {
        self.throttle.trim();
        self.write(|t| t.purge_expired()).await
    }

    /// Sessions stored.
    pub fn session_count(&self) -> usize {
        self.trees.session_count.load(Ordering::Relaxed)
    }
}

impl Trees {
    fn record(&self, account_id: u64) -> Result<Option<AccountRecord>, StaffError> {
        self.accounts.get(be(account_id))?.map(|v| decode(&v)).transpose()
    }

    fn record_by_username(&self, username: &str) -> Result<Option<AccountRecord>, StaffError> {
        match self.usernames.get(username)? {
            Some(id) => {
                let id = u64::from_be_bytes(id.as_ref().try_into().map_err(corrupt)?);
                self.record(id)
            }
            None => Ok(None),
        }
    }

    fn put(&self, record: &AccountRecord) -> Result<(), StaffError> {
        self.accounts.insert(be(record.account_id), encode(record)?)?;
        Ok(())
    }

    fn list(&self) -> Result<Vec<AccountSummary>, StaffError> {
        self.accounts
            .iter()
            .values()
            .map(|v| Ok(decode::<AccountRecord>(&v?)?.summary()))
            .collect()
    }

    /// Apply `change` to an account (owner thread: serialised).
    fn modify(
        &self,
        account_id: u64,
        change: impl FnOnce(&mut AccountRecord) -> Result<(), StaffError>,
    ) -> Result<AccountRecord, StaffError> {
        let mut record = self.record(account_id)?.ok_or(StaffError::NotFound)?;
        change(&mut record)?;
        self.put(&record)?;
        Ok(record)
    }

    fn create(&self, new: NewAccount, password_hash: String) -> Result<AccountRecord, StaffError> {
        if self.accounts.len() >= self.config.max_accounts {
            return Err(StaffError::TooManyAccounts);
        }
        // Single-key steps on the owner thread (see storage's rule),
        // ordered for a crash: the id is used up first, the username,
        // which makes the account reachable, comes last.
        if self.usernames.get(new.username.as_bytes())?.is_some() {
            return Err(StaffError::UsernameTaken);
        }
        let id = match self.meta.get("next_account_id")? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(corrupt)?),
            None => 1,
        };
        let record = AccountRecord {
            account_id: id,
            username: new.username.clone(),
            display_name: new.display_name,
            role: new.role,
            languages: new.languages,
            max_concurrent_chats: new.max_concurrent_chats,
            password_hash,
            totp_secret: None,
            totp_last_step: None,
            disabled: false,
            created_at: now_secs(),
        };
        let bytes = encode(&record)?;
        self.meta.insert("next_account_id", &be(id + 1)[..])?;
        self.accounts.insert(&be(id)[..], bytes)?;
        self.usernames.insert(new.username.as_bytes(), &be(id)[..])?;
        Ok(record)
    }

    fn second_factor(&self, account_id: u64, code: Option<&str>) -> Result<bool, StaffError> {
        let Some(mut record) = self.record(account_id)? else {
            return Ok(false);
        };
        let Some(secret) = record.totp_secret.clone() else {
            return Ok(true);
        };
        let Some(code) = code else { return Ok(false) };
        match totp::check(&secret, code, now_secs(), record.totp_last_step) {
            Some(step) => {
                record.totp_last_step = Some(step);
                self.put(&record)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn new_session(&self, account_id: u64) -> Result<(String, u64), StaffError> {
        if self.session_count.load(Ordering::Relaxed) >= self.config.max_sessions {
            self.purge_expired()?;
            if self.session_count.load(Ordering::Relaxed) >= self.config.max_sessions {
                return Err(StaffError::Busy);
            }
        }
        // The account's oldest sessions give way past the per-account cap.
        let existing: Vec<sled::IVec> = self
            .session_index
            .scan_prefix(be(account_id))
            .keys()
            .collect::<Result<_, _>>()?;
        let excess = (existing.len() + 1).saturating_sub(self.config.max_sessions_per_account);
        for k in existing.iter().take(excess) {
            self.remove_session_by_index_key(k)?;
        }
        let now = now_secs();
        let expires_at = now + self.config.session_ttl_secs;
        let (token, hash) = session::new_token();
        let record = encode(&SessionRecord {
            account_id,
            created_at: now,
            expires_at,
        })?;
        // The index entry first (see storage's rule: no transaction): a
        // crash in between leaves an index entry without a session, never
        // a session that revoking the account's sessions cannot find.
        self.session_index.insert(index_key(account_id, now, &hash), &[][..])?;
        self.sessions.insert(&hash[..], record.as_slice())?;
        self.session_count.fetch_add(1, Ordering::Relaxed);
        Ok((token, expires_at))
    }

    fn remove_session_by_index_key(&self, key: &[u8]) -> Result<(), StaffError> {
        let hash = &key[16..];
        self.session_index.remove(key)?;
        if self.sessions.remove(hash)?.is_some() {
            self.session_count.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn remove_session(&self, hash: &[u8; 32], record: &SessionRecord) -> Result<(), StaffError> {
        self.remove_session_by_index_key(&index_key(record.account_id, record.created_at, hash))
    }

    fn live_session(&self, hash: &[u8; 32]) -> Result<SessionRecord, StaffError> {
        let record: SessionRecord = match self.sessions.get(hash)? {
            Some(v) => decode(&v)?,
            None => return Err(StaffError::InvalidSession),
        };
        if record.expires_at <= now_secs() {
            return Err(StaffError::InvalidSession);
        }
        Ok(record)
    }

    /// Delete the account's sessions (the caller then cancels its watch
    /// token: [`Staff::cut_off`]).
    fn delete_sessions(&self, account_id: u64) -> Result<(), StaffError> {
        let keys: Vec<sled::IVec> = self
            .session_index
            .scan_prefix(be(account_id))
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            self.remove_session_by_index_key(k)?;
        }
        Ok(())
    }

    fn purge_expired(&self) -> Result<usize, StaffError> {
        let now = now_secs();
        let mut expired = Vec::new();
        for item in self.sessions.iter() {
            let (k, v) = item?;
            let record: SessionRecord = decode(&v)?;
            if record.expires_at <= now {
                let hash: [u8; 32] = k.as_ref().try_into().map_err(corrupt)?;
                expired.push((hash, record));
            }
        }
        for (hash, record) in &expired {
            self.remove_session(hash, record)?;
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests;
