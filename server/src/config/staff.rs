//! `[staff]`, `[audit]` and `[stats]`: staff accounts, the audit log and
//! the anonymous statistics.

use serde::Deserialize;

/// Staff accounts, logins and sessions (README, "Admin CLI").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StaffConfig {
    /// Staff accounts in all, disabled ones included.
    pub max_accounts: usize,
    /// A login session lasts this long.
    pub session_ttl_secs: u64,
    /// Live sessions in all, and per account (the oldest of an account
    /// ends when it logs in once more).
    pub max_sessions: usize,
    pub max_sessions_per_account: usize,
    /// argon2id cost of new password hashes (existing hashes keep theirs).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Password checks running at once (each takes `argon2_memory_kib`).
    pub max_concurrent_password_checks: usize,
    /// Logins waiting for a password check; more are told to retry.
    pub max_waiting_logins: usize,
    /// Of those, the logins one source (salted address) may have waiting:
    /// a flood of guesses from one place cannot fill the queue that
    /// everyone's logins wait in.
    pub max_waiting_logins_per_source: usize,
    /// Login attempts one username may make from one source at once, and
    /// the seconds that win back one more. Failures from another place do
    /// not count against a login from here.
    pub login_attempts_burst: u32,
    pub login_attempt_interval_secs: u64,
    /// Login attempts one source may make at once, whatever the usernames
    /// (an office of staff behind one address logs in through it), and the
    /// seconds that win back one more.
    pub login_attempts_per_source_burst: u32,
    pub login_source_attempt_interval_secs: u64,
    /// (username, source) pairs the login throttle remembers at once. Past
    /// it, a source's new pairs share one bucket of that source (of
    /// `login_attempts_burst`), never a bucket shared with other sources.
    pub max_throttled_usernames: usize,
    /// Sources the login throttle remembers at once. Past it, new sources
    /// share one strict bucket (of `login_attempts_per_source_burst`);
    /// sources already remembered are not affected.
    pub max_throttled_sources: usize,
}

/// The audit log of staff actions.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Entries older than this are deleted.
    pub retention_days: u64,
    /// Entries kept at most; the oldest go first.
    pub max_entries: u64,
}

/// Anonymous daily statistics.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatsConfig {
    /// Days of counters kept.
    pub retention_days: u64,
}

impl Default for StaffConfig {
    fn default() -> Self {
        StaffConfig {
            max_accounts: 1000,
            session_ttl_secs: 12 * 3600,
            max_sessions: 10_000,
            max_sessions_per_account: 8,
            // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_password_checks: 2,
            max_waiting_logins: 64,
            max_waiting_logins_per_source: 4,
            login_attempts_burst: 5,
            login_attempt_interval_secs: 60,
            login_attempts_per_source_burst: 30,
            login_source_attempt_interval_secs: 3,
            max_throttled_usernames: 10_000,
            max_throttled_sources: 10_000,
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 365,
            max_entries: 1_000_000,
        }
    }
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            retention_days: 10 * 366,
        }
    }
}
