//! The registry's group rules: a revoked key sends and commits nothing and
//! gets nothing; a commit that removes only revoked leaves is allowed from
//! any other member, and a chat's visitor may bring her counsellor's new
//! key in (add it and remove the old one in one commit) when the server
//! asked her to. Those two commits are sanctioned here: the other rooms'
//! rules (a chat's "only its counsellor changes who is in it") do not
//! apply to them. Delivery asks these rules about every group.

use parasol_protocol::ErrorCode;

use super::Lifecycle;
use crate::delivery::GroupPolicy;
use crate::error::{ServiceError, ServiceResult};
use crate::storage::ClientId;

fn revoked() -> ServiceError {
    ServiceError::new(
        ErrorCode::Forbidden,
        "this key belongs to a staff account that was disabled or reset",
    )
}

impl GroupPolicy for Lifecycle {
    fn check_commit(
        &self,
        _group_id: &[u8],
        sender: &ClientId,
        _added: &[ClientId],
        _removed: &[ClientId],
        _members_after: usize,
    ) -> ServiceResult<()> {
        if self.is_revoked(sender) {
            Err(revoked())
        } else {
            Ok(())
        }
    }

    fn sanctions(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) -> bool {
        self.removes_only_revoked(group_id, sender, added, removed)
            || self.is_reconnect_commit(group_id, sender, added, removed)
    }

    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        Lifecycle::committed(self, group_id, sender, added, removed);
    }

    fn check_message(&self, _group_id: &[u8], sender: &ClientId) -> ServiceResult<()> {
        if self.is_revoked(sender) {
            Err(revoked())
        } else {
            Ok(())
        }
    }

    fn withheld(&self, group_id: &[u8]) -> Vec<ClientId> {
        Lifecycle::withheld(self, group_id)
    }
}
