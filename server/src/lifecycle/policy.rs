//! The registry's group rules: a revoked key sends and commits nothing and
//! gets nothing; a commit that removes only revoked leaves is allowed from
//! any other member, and a chat's visitor may bring her counsellor's new
//! key in (add it and remove the old one in one commit) when the server
//! asked her to. Those two commits are sanctioned here: the other rooms'
//! rules (a chat's "only its counsellor changes who is in it") do not
//! apply to them.

use std::sync::Weak;

use parasol_protocol::ErrorCode;

use super::Lifecycle;
use crate::delivery::GroupPolicy;
use crate::error::{ServiceError, ServiceResult};
use crate::storage::ClientId;

pub struct LifecyclePolicy(pub Weak<Lifecycle>);

fn revoked() -> ServiceError {
    ServiceError::new(
        ErrorCode::Forbidden,
        "this key belongs to a staff account that was disabled or reset",
    )
}

impl GroupPolicy for LifecyclePolicy {
    fn check_commit(
        &self,
        _group_id: &[u8],
        sender: &ClientId,
        _added: &[ClientId],
        _removed: &[ClientId],
        _members_after: usize,
    ) -> ServiceResult<()> {
        match self.0.upgrade() {
            Some(l) if l.is_revoked(sender) => Err(revoked()),
            _ => Ok(()),
        }
    }

    fn sanctions(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) -> bool {
        self.0.upgrade().is_some_and(|l| {
            l.removes_only_revoked(group_id, sender, added, removed)
                || l.is_reconnect_commit(group_id, sender, added, removed)
        })
    }

    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        if let Some(l) = self.0.upgrade() {
            l.committed(group_id, sender, added, removed);
        }
    }

    fn check_message(&self, _group_id: &[u8], sender: &ClientId) -> ServiceResult<()> {
        match self.0.upgrade() {
            Some(l) if l.is_revoked(sender) => Err(revoked()),
            _ => Ok(()),
        }
    }

    fn withheld(&self, group_id: &[u8]) -> Vec<ClientId> {
        self.0.upgrade().map(|l| l.withheld(group_id)).unwrap_or_default()
    }
}
