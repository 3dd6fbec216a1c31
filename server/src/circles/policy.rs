//! A circle's rules, held by the server from its public view of the group:
//! only moderators add or remove others, and only people who asked to join
//! with an invitation are added; a muted member's messages are refused; a
//! member who left gets nothing more. Delivery asks these rules about the
//! groups the owner record gives the circles.

use parasol_protocol::ErrorCode;

use super::Circles;
use crate::delivery::GroupPolicy;
use crate::error::{ServiceError, ServiceResult};
use crate::storage::ClientId;

impl GroupPolicy for Circles {
    fn check_commit(
        &self,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
        members_after: usize,
    ) -> ServiceResult<()> {
        let circles = self;
        let Some(circle) = circles.circle_of_group(group_id) else {
            return Ok(()); // not a circle
        };
        if circle.departed.contains(sender) {
            return Err(ServiceError::new(ErrorCode::Forbidden, "you have left this circle"));
        }
        if (!added.is_empty() || !removed.is_empty()) && !circle.moderators.contains(sender) {
            return Err(ServiceError::new(
                ErrorCode::Forbidden,
                "only the circle's moderators may add or remove members",
            ));
        }
        for r in removed {
            circles.check_peer_over_staff(sender, r, &circle)?;
        }
        if !added.is_empty() {
            let state = circles.state.lock();
            let asked = |a: &ClientId| state.joins.values().any(|j| j.circle_id == circle.id && j.client == *a);
            if !added.iter().all(asked) {
                return Err(ServiceError::new(
                    ErrorCode::Forbidden,
                    "a circle adds only people who asked to join with an invitation",
                ));
            }
        }
        if members_after > circles.config.max_members as usize {
            return Err(ServiceError::new(
                ErrorCode::LimitExceeded,
                format!("circles are limited to {} members", circles.config.max_members),
            ));
        }
        Ok(())
    }

    fn committed(&self, group_id: &[u8], sender: &ClientId, added: &[ClientId], removed: &[ClientId]) {
        Circles::committed(self, group_id, sender, added, removed);
    }

    fn check_message(&self, group_id: &[u8], sender: &ClientId) -> ServiceResult<()> {
        let Some((muted, departed)) = self.sender_standing(group_id, sender) else {
            return Ok(());
        };
        if muted {
            return Err(ServiceError::new(
                ErrorCode::Muted,
                "a moderator has muted you in this circle; your message was not sent",
            ));
        }
        if departed {
            return Err(ServiceError::new(ErrorCode::Forbidden, "you have left this circle"));
        }
        Ok(())
    }

    fn withheld(&self, group_id: &[u8]) -> Vec<ClientId> {
        self.departed_of(group_id)
    }
}
