//! `[circles]`: peer support circles.

use serde::Deserialize;

/// Peer support circles (`[circles]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CirclesConfig {
    /// Circles in all.
    pub max_circles: usize,
    /// Members of one circle (also capped by `limits.max_members_per_group`).
    pub max_members: u32,
    /// Live invitations of one circle.
    pub max_invitations_per_circle: usize,
    /// Join requests waiting in one circle.
    pub max_pending_joins_per_circle: usize,
    /// The longest an invitation may last.
    pub max_invitation_secs: u32,
    /// The most uses one invitation may have.
    pub max_invitation_uses: u32,
    /// A join request nobody decided is dropped after this long.
    pub join_request_ttl_secs: u64,
}

impl Default for CirclesConfig {
    fn default() -> Self {
        CirclesConfig {
            max_circles: 1_000,
            max_members: 100,
            max_invitations_per_circle: 50,
            max_pending_joins_per_circle: 100,
            max_invitation_secs: 30 * 24 * 3600,
            max_invitation_uses: 1_000,
            join_request_ttl_secs: 7 * 24 * 3600,
        }
    }
}
