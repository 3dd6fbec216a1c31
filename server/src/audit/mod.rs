//! The audit log of staff actions: who did what to which opaque id, and
//! when. It owns the sled tree `audit`. It never holds content, IP
//! addresses, visitor keys, passwords or tokens: a subject is an opaque id
//! ("ticket:42", "account:3") and a detail a short label (a block reason, a
//! shift state).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::AuditConfig;
use crate::storage::owner::StateOwner;
use crate::storage::StorageError;

/// The sled tree this room owns.
pub const TREE: &str = "audit";
/// Details longer than this are cut (in characters).
pub const MAX_DETAIL_CHARS: usize = 200;
/// Longest subject id (in bytes; subjects are ASCII).
pub const MAX_SUBJECT_LEN: usize = 64;
/// Most entries one `list` returns.
pub const MAX_LIST: usize = 10_000;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "account_id", rename_all = "snake_case")]
pub enum Actor {
    /// A staff account, by its stable id.
    Staff(u64),
    /// The server itself, or an operator through the admin CLI.
    System,
    /// A circle member or peer moderator: an anonymous key, never recorded.
    Member,
}

/// What happened. Stored by name: adding a variant is adding a line, and an
/// older server reading a newer log shows it as `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Login,
    Logout,
    LoginFailed,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    PasswordReset,
    TotpEnabled,
    TotpDisabled,
    SessionsRevoked,
    ShiftChanged,
    TicketAccepted,
    OfferDeclined,
    OfferExpired,
    ChatTransferred,
    ChatClosed,
    VisitorBlocked,
    TeamMessageTaken,
    DutyChanged,
    EscalationRaised,
    EscalationRenotified,
    EscalationAccepted,
    EscalationResolved,
    EscalationHandedOff,
    EscalationWebhookDelivered,
    SosRaised,
    CircleCreated,
    CircleClosed,
    InvitationCreated,
    InvitationRevoked,
    JoinRequested,
    JoinApproved,
    JoinDeclined,
    MemberMuted,
    MemberUnmuted,
    ModeratorAdded,
    ModeratorRemoved,
    MemberLeft,
    MemberRemoved,
    /// Every key of a staff account was revoked (disable, revoke, reset).
    KeysRevoked,
    #[serde(other)]
    Unknown,
}

/// One action to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub actor: Actor,
    pub action: AuditAction,
    /// An opaque id only: `[a-z0-9:._-]`, at most [`MAX_SUBJECT_LEN`].
    pub subject: Option<String>,
    /// A short label; cut to [`MAX_DETAIL_CHARS`], control characters dropped.
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(actor: Actor, action: AuditAction) -> Self {
        AuditEvent {
            actor,
            action,
            subject: None,
            detail: None,
        }
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: u64,
    pub actor: Actor,
    pub action: AuditAction,
    pub subject: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("an audit subject must be an opaque id ([a-z0-9:._-], at most {MAX_SUBJECT_LEN} bytes)")]
    InvalidSubject,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<sled::Error> for AuditError {
    fn from(e: sled::Error) -> Self {
        AuditError::Storage(e.into())
    }
}

/// The audit log.
pub struct Audit {
    /// Writes the log's tree, one entry after another, off the async
    /// workers (see storage's rule).
    owner: StateOwner,
    log: Arc<Log>,
}

/// The tree and its bookkeeping, shared with the owner thread.
struct Log {
    db: sled::Db,
    tree: sled::Tree,
    config: AuditConfig,
    /// Entries stored, counted once at open (sled has no O(1) length).
    count: AtomicU64,
}

fn valid_subject(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SUBJECT_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b))
}

fn clean_detail(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_DETAIL_CHARS).collect()
}

/// Time-ordered key: seconds, then a unique id from sled (monotonic).
fn key(at: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&at.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

impl Audit {
    /// The log in `db`, written by `owner` (the storage's state owner).
    pub fn open(db: &sled::Db, owner: StateOwner, config: AuditConfig) -> Result<Self, AuditError> {
        let tree = db.open_tree(TREE)?;
        let count = tree.len() as u64;
        Ok(Audit {
            owner,
            log: Arc::new(Log {
                db: db.clone(),
                tree,
                config,
                count: AtomicU64::new(count),
            }),
        })
    }

    /// Record `event` now, durably (flushed before returning).
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        check_subject(&event)?;
        let (log, at) = (self.log.clone(), crate::time::now_secs());
        self.owner.write(move || log.insert(at, event)).await
    }

    /// Record without waiting for the flush (the owner's next flush
    /// carries it); for callers that cannot await.
    pub fn record_nowait(&self, event: AuditEvent) -> Result<(), AuditError> {
        check_subject(&event)?;
        let (log, at) = (self.log.clone(), crate::time::now_secs());
        self.owner.write_nowait(move || {
            log.insert(at, event)
                .map_err(|e| StorageError::Unavailable(e.to_string()))
        })?;
        Ok(())
    }

    /// Entries at or after `since` (Unix seconds), oldest first, at most
    /// `limit` (capped at [`MAX_LIST`]).
    /// Read on the blocking pool (see storage's rule).
    pub async fn list(&self, since: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let log = self.log.clone();
        crate::storage::owner::read(move || log.list(since, limit)).await
    }

    /// Delete entries older than the retention period; returns how many.
    /// Runs on the state owner, like every write of the log.
    pub async fn purge(&self, now: u64) -> Result<usize, AuditError> {
        let log = self.log.clone();
        self.owner.write(move || log.purge(now)).await
    }

    /// Entries stored.
    pub fn len(&self) -> u64 {
        self.log.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn check_subject(event: &AuditEvent) -> Result<(), AuditError> {
    match &event.subject {
        Some(s) if !valid_subject(s) => Err(AuditError::InvalidSubject),
        _ => Ok(()),
    }
}

impl Log {
    fn insert(&self, at: u64, event: AuditEvent) -> Result<(), AuditError> {
        check_subject(&event)?;
        let entry = AuditEntry {
            at,
            actor: event.actor,
            action: event.action,
            subject: event.subject,
            detail: event.detail.as_deref().map(clean_detail),
        };
        let bytes = rmp_serde::to_vec_named(&entry).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        self.tree.insert(key(at, self.db.generate_id()?), bytes)?;
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if count > self.config.max_entries {
            // Drop the oldest, a hundredth at a time so this is rare.
            self.drop_oldest(count - self.config.max_entries + self.config.max_entries / 100)?;
        }
        Ok(())
    }

    fn drop_oldest(&self, n: u64) -> Result<(), AuditError> {
        let mut dropped = 0;
        for k in self.tree.iter().keys().take(n as usize) {
            self.tree.remove(k?)?;
            dropped += 1;
        }
        self.count.fetch_sub(dropped, Ordering::Relaxed);
        Ok(())
    }

    /// Entries at or after `since` (Unix seconds), oldest first, at most
    /// `limit` (capped at [`MAX_LIST`]).
    pub fn list(&self, since: u64, limit: usize) -> Result<Vec<AuditEntry>, AuditError> {
        let mut out = Vec::new();
        for item in self.tree.range(key(since, 0)..).take(limit.min(MAX_LIST)) {
            let (_, v) = item?;
            out.push(rmp_serde::from_slice(&v).map_err(|e| StorageError::Corrupt(e.to_string()))?);
        }
        Ok(out)
    }

    /// Delete entries older than the retention period; returns how many.
    pub fn purge(&self, now: u64) -> Result<usize, AuditError> {
        let cutoff = now.saturating_sub(self.config.retention_days.saturating_mul(86_400));
        let mut n = 0;
        for k in self.tree.range(..key(cutoff, 0)).keys() {
            self.tree.remove(k?)?;
            n += 1;
        }
        self.count.fetch_sub(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(max_entries: u64) -> (tempfile::TempDir, Audit) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let audit = Audit::open(
            &db,
            crate::storage::owner::for_tests(&db),
            AuditConfig {
                retention_days: 1,
                max_entries,
            },
        )
        .unwrap();
        (dir, audit)
    }

    #[tokio::test]
    async fn records_in_time_order_and_lists_since() {
        let (_d, audit) = open(100);
        audit
            .log
            .insert(
                200,
                AuditEvent::new(Actor::Staff(3), AuditAction::TicketAccepted).subject("ticket:42"),
            )
            .unwrap();
        audit
            .log
            .insert(
                100,
                AuditEvent::new(Actor::System, AuditAction::AccountCreated).subject("account:3"),
            )
            .unwrap();
        audit
            .record(AuditEvent::new(Actor::Staff(3), AuditAction::VisitorBlocked).detail("threats\n".repeat(100)))
            .await
            .unwrap();
        let all = audit.list(0, 10).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].action, AuditAction::AccountCreated);
        assert_eq!(all[1].subject.as_deref(), Some("ticket:42"));
        let detail = all[2].detail.as_deref().unwrap();
        assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
        assert!(!detail.contains('\n'));
        assert_eq!(audit.list(150, 10).await.unwrap().len(), 2);
        assert_eq!(audit.list(0, 1).await.unwrap().len(), 1);
    }

    #[test]
    fn subjects_must_be_opaque_ids() {
        let (_d, audit) = open(100);
        for bad in ["", "Visitor Name", "ticket:42 ", "a@b", &"x".repeat(65)] {
            let e = AuditEvent::new(Actor::System, AuditAction::ChatClosed).subject(bad);
            assert!(
                matches!(audit.log.insert(1, e), Err(AuditError::InvalidSubject)),
                "{bad:?}"
            );
        }
        assert!(audit.is_empty());
    }

    #[tokio::test]
    async fn retention_and_the_bound_drop_the_oldest() {
        let (_d, audit) = open(10);
        for t in 0..25u64 {
            audit
                .log
                .insert(t * 86_400, AuditEvent::new(Actor::System, AuditAction::Login))
                .unwrap();
        }
        assert!(audit.len() <= 10);
        let kept = audit.list(0, 100).await.unwrap();
        assert_eq!(kept.len() as u64, audit.len());
        assert_eq!(kept.last().unwrap().at, 24 * 86_400);
        // Retention 1 day: at day 24, everything before day 23 goes.
        audit.purge(24 * 86_400).await.unwrap();
        let kept = audit.list(0, 100).await.unwrap();
        assert_eq!(kept.iter().map(|e| e.at / 86_400).collect::<Vec<_>>(), vec![23, 24]);
        assert_eq!(audit.len(), 2);
    }

    #[test]
    fn unknown_actions_from_a_newer_server_still_read() {
        #[derive(Serialize)]
        struct Future<'a> {
            at: u64,
            actor: Actor,
            action: &'a str,
            subject: Option<String>,
            detail: Option<String>,
        }
        let bytes = rmp_serde::to_vec_named(&Future {
            at: 1,
            actor: Actor::System,
            action: "escalation_opened",
            subject: None,
            detail: None,
        })
        .unwrap();
        let e: AuditEntry = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(e.action, AuditAction::Unknown);
    }
}
