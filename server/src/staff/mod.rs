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
//! connection holds its session's [`CancellationToken`] (from
//! [`SessionInfo::cut_off`], a child of the account's [`Staff::watch`]), so
//! a logout or an expired session ends that session's connections, and
//! disabling the account ends all of them.
//!
//! Rooms: managing accounts in `manage.rs`; logins and sessions in
//! `logins.rs`; the sled trees in `trees.rs`.

mod account;
pub mod attestation;
pub mod http;
mod logins;
mod manage;
pub mod password;
mod session;
pub mod throttle;
pub mod totp;
mod trees;

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

/// Told when every key of an account must stop working: the account was
/// disabled, its sessions revoked or its password reset. Implemented by the
/// key registry (`crate::lifecycle`); Staff itself knows no keys.
pub trait AccountKeysHook: Send + Sync {
    fn revoke_keys(&self, account_id: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

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
    /// Cancelled when this session ends (logout, expiry) or the account is
    /// disabled or its sessions revoked: the connection that authenticated
    /// with this session must end.
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
    /// Told when an account's keys must stop working (disable, revoke,
    /// password reset): see [`AccountKeysHook`].
    key_hooks: parking_lot::RwLock<Vec<std::sync::Weak<dyn AccountKeysHook>>>,
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
    /// One token per session with a live connection (a child of the
    /// account's watch token), cancelled when that session is deleted:
    /// logout, expiry, the per-account cap. Removed with the session, so
    /// bounded by `max_sessions`. Cancelling is not blocking, so the owner
    /// thread does it right after the delete.
    session_cut_offs: Mutex<HashMap<[u8; 32], CancellationToken>>,
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
                session_cut_offs: Mutex::new(HashMap::new()),
            }),
            params,
            dummy_hash,
            throttle: throttle::LoginThrottle::new(&config),
            checks: Arc::new(Semaphore::new(config.max_concurrent_password_checks)),
            waiting: Arc::new(Semaphore::new(
                config.max_waiting_logins.max(config.max_concurrent_password_checks),
            )),
            watches: Mutex::new(HashMap::new()),
            key_hooks: parking_lot::RwLock::new(Vec::new()),
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
}

#[cfg(test)]
mod tests;
