//! `[limits]`: the protocol's limits.

use parasol_protocol::limits as proto;
use serde::Deserialize;

/// Protocol limits (PROTOCOL.md, "Limits").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_mls_message_bytes: usize,
    pub max_group_state_bytes: usize,
    pub max_key_package_bytes: usize,
    pub max_key_packages_per_client: u32,
    pub max_key_packages_per_publish: usize,
    pub max_key_package_lifetime_secs: u64,
    pub max_groups_per_client: u32,
    /// Groups a client without a staff session may be in (also capped by
    /// `max_groups_per_client`). A visitor needs one chat and a sealed team
    /// message; anonymous keys cost nothing, so they get a small share.
    pub max_groups_per_anonymous_client: u32,
    pub max_members_per_group: u32,
    /// Groups the server tracks in all.
    pub max_groups: usize,
    /// Of `max_groups`, how many groups created by keys without a staff
    /// session may exist at once. Anonymous keys cost nothing to make, so
    /// without their own pool they could take every group from the chats;
    /// the rest (`max_groups - max_anonymous_groups`) is always left to
    /// staff, whose groups are the chats and circles. Unset: half of
    /// `max_groups`.
    pub max_anonymous_groups: Option<usize>,
    /// Key packages (one-time and last-resort) the directory holds in all:
    /// anonymous keys are free, so the per-client bound alone bounds
    /// nothing.
    pub max_stored_key_packages: usize,
    /// Of `max_stored_key_packages`, how many may belong to keys without a
    /// staff session; the rest is kept for staff consoles, whose packages
    /// hand-overs, transfers and escalations need. Unset: half of
    /// `max_stored_key_packages`.
    pub max_anonymous_stored_key_packages: Option<usize>,
    /// A key package of a key without a staff session is kept at most this
    /// long after it is published, whatever lifetime it claims (visitors'
    /// keys are used within minutes; staff keep the MLS lifetime, up to
    /// `max_key_package_lifetime_secs`).
    pub max_anonymous_key_package_lifetime_secs: u64,
    pub max_mailbox_envelopes: u64,
    pub max_fetch_limit: u32,
    pub push_window: u64,
    /// Key packages one connection may claim per minute.
    pub key_package_claims_per_minute: u32,
    /// Key packages of one client that may be claimed per minute, by
    /// everyone together: nobody can drain a client's stock quickly.
    pub key_package_claims_per_target_per_minute: u32,
    /// Commits one connection may send per minute.
    pub commits_per_minute: u32,
    /// Groups left without any activity this long are deleted.
    pub group_idle_expiry_secs: u64,
    /// Groups created by a key without a staff session that are neither an
    /// intake chat, a team message nor a circle are deleted after this much
    /// idle time (a visitor's own throwaway groups).
    pub anonymous_group_idle_expiry_secs: u64,
    /// Heavy MLS validation (key packages, a new group's ratchet tree) runs
    /// on blocking threads, at most this many at once for staff sessions...
    pub staff_validation_threads: usize,
    /// ...and at most this many at once for everyone else, so a flood of
    /// anonymous uploads never makes a staff console wait.
    pub anonymous_validation_threads: usize,
    /// Validation work one anonymous source may ask for per minute, in
    /// units: one per key package, one per new group plus one per started
    /// 4 KiB of its ratchet tree. Past it: `rate_limited`.
    pub validations_per_source_per_minute: u32,
    /// The burst of that budget.
    pub validation_source_burst: u32,
}

impl Limits {
    /// Groups keys without a staff session may hold at once (their pool).
    pub fn anonymous_groups(&self) -> usize {
        self.max_anonymous_groups.unwrap_or(self.max_groups / 2).max(1)
    }

    /// Key packages keys without a staff session may have stored at once.
    pub fn anonymous_stored_key_packages(&self) -> usize {
        self.max_anonymous_stored_key_packages
            .unwrap_or(self.max_stored_key_packages / 2)
            .max(1)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: proto::MAX_FRAME_BYTES,
            max_mls_message_bytes: proto::MAX_MLS_MESSAGE_BYTES,
            max_group_state_bytes: proto::MAX_GROUP_STATE_BYTES,
            max_key_package_bytes: proto::MAX_KEY_PACKAGE_BYTES,
            max_key_packages_per_client: proto::MAX_KEY_PACKAGES_PER_CLIENT,
            max_key_packages_per_publish: proto::MAX_KEY_PACKAGES_PER_PUBLISH,
            max_key_package_lifetime_secs: proto::MAX_KEY_PACKAGE_LIFETIME_SECS,
            max_groups_per_client: proto::MAX_GROUPS_PER_CLIENT,
            max_groups_per_anonymous_client: 4,
            max_members_per_group: proto::MAX_MEMBERS_PER_GROUP,
            max_groups: 100_000,
            max_anonymous_groups: None,
            max_stored_key_packages: 200_000,
            max_anonymous_stored_key_packages: None,
            max_anonymous_key_package_lifetime_secs: 3 * 24 * 3600,
            max_mailbox_envelopes: proto::MAX_MAILBOX_ENVELOPES,
            max_fetch_limit: proto::MAX_FETCH_LIMIT,
            push_window: proto::PUSH_WINDOW,
            key_package_claims_per_minute: 120,
            key_package_claims_per_target_per_minute: 30,
            commits_per_minute: 60,
            group_idle_expiry_secs: 30 * 24 * 3600,
            anonymous_group_idle_expiry_secs: 6 * 3600,
            staff_validation_threads: 2,
            anonymous_validation_threads: 1,
            validations_per_source_per_minute: 600,
            validation_source_burst: 300,
        }
    }
}
