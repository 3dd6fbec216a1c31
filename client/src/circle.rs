//! Peer support circles from the client's side. A visitor uses a fresh
//! identity (a new [`Client`] with a new [`crate::Identity`]) for every
//! circle: nothing, on the server or among members, links the memberships.
//! Moderators approve a request by committing the add with the key
//! package that came with it.

use parasol_protocol::{CircleInfo, InvitationPreview, InvitationState, JoinRequest, Request, Response};

use crate::client::Client;
use crate::connection::unexpected;
use crate::error::ClientError;
use crate::identity::ClientId;
use crate::mls::CommitOp;

impl Client {
    /// Counsellors and supervisors: create a circle (a new MLS group of
    /// which I am the only member, then the circle around it).
    pub async fn create_circle(
        &mut self,
        name: &str,
        language: &str,
        topic: &str,
        auto_approve: bool,
    ) -> Result<CircleInfo, ClientError> {
        let group_id = self.create_group().await?;
        let req = Request::CreateCircle {
            group_id: group_id.into(),
            name: name.into(),
            language: language.into(),
            topic: topic.into(),
            auto_approve,
        };
        match self.request(req).await? {
            Response::Circle { circle } => Ok(circle),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn list_circles(&self) -> Result<Vec<CircleInfo>, ClientError> {
        match self.request(Request::ListCircles).await? {
            Response::Circles { circles } => Ok(circles),
            other => Err(unexpected(&other)),
        }
    }

    /// Moderators: a new invitation; its `code` is in the answer only.
    pub async fn create_invitation(
        &self,
        circle_id: u64,
        expires_in_secs: u32,
        max_uses: u32,
    ) -> Result<InvitationState, ClientError> {
        let req = Request::CreateInvitation {
            circle_id,
            expires_in_secs,
            max_uses,
        };
        match self.request(req).await? {
            Response::Invitation { invitation } => Ok(invitation),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn list_invitations(&self, circle_id: u64) -> Result<Vec<InvitationState>, ClientError> {
        match self.request(Request::ListInvitations { circle_id }).await? {
            Response::Invitations { invitations } => Ok(invitations),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn revoke_invitation(&self, circle_id: u64, invitation_id: u64) -> Result<(), ClientError> {
        let req = Request::RevokeInvitation {
            circle_id,
            invitation_id,
        };
        match self.request(req).await? {
            Response::InvitationRevoked { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Moderators: revoke an invitation and make a new one like it.
    pub async fn rotate_invitation(
        &self,
        circle_id: u64,
        invitation_id: u64,
        expires_in_secs: u32,
        max_uses: u32,
    ) -> Result<InvitationState, ClientError> {
        self.revoke_invitation(circle_id, invitation_id).await?;
        self.create_invitation(circle_id, expires_in_secs, max_uses).await
    }

    /// Members: who is in the circle, under the name the server bound to
    /// each key.
    pub async fn circle_roster(&self, circle_id: u64) -> Result<Vec<parasol_protocol::CircleMember>, ClientError> {
        match self.request(Request::CircleRoster { circle_id }).await? {
            Response::CircleRoster { members, .. } => Ok(members),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn preview_invitation(&self, code: &str) -> Result<InvitationPreview, ClientError> {
        match self.request(Request::PreviewInvitation { code: code.into() }).await? {
            Response::InvitationPreview { preview } => Ok(preview),
            other => Err(unexpected(&other)),
        }
    }

    /// Ask to join with an invitation under `display_name`. Sends a fresh
    /// key package of this identity, which a moderator's client adds.
    /// Returns (circle id, request id).
    pub async fn join_circle(&mut self, code: &str, display_name: &str) -> Result<(u64, u64), ClientError> {
        let key_package = self
            .state
            .mls
            .generate_key_packages(1, false)?
            .pop()
            .ok_or_else(|| ClientError::Mls("no key package made".into()))?;
        self.state.save()?;
        let req = Request::JoinCircle {
            code: code.into(),
            display_name: display_name.into(),
            key_package: key_package.into(),
        };
        match self.request(req).await? {
            Response::JoinRequested { circle_id, request_id } => Ok((circle_id, request_id)),
            other => Err(unexpected(&other)),
        }
    }

    /// Moderators: the requests waiting for a decision.
    pub async fn join_requests(&self, circle_id: u64) -> Result<Vec<JoinRequest>, ClientError> {
        match self.request(Request::JoinRequests { circle_id }).await? {
            Response::JoinRequests { requests } => Ok(requests),
            other => Err(unexpected(&other)),
        }
    }

    /// Moderators: approve requests of one circle by adding them in one
    /// commit. Each key package must belong to the key that asked. Returns
    /// the group's new epoch.
    pub async fn approve_joins(&mut self, group: &[u8], requests: &[JoinRequest]) -> Result<u64, ClientError> {
        let mut kps = Vec::with_capacity(requests.len());
        for r in requests {
            let owner: ClientId = r
                .client_id
                .0
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::InvalidInput("a request's client id is not 32 bytes".into()))?;
            kps.push(self.state.mls.validate_key_package(&r.key_package.0, &owner)?);
        }
        if kps.is_empty() {
            return Err(ClientError::InvalidInput("no requests to approve".into()));
        }
        self.commit(group, CommitOp::Add(kps)).await
    }

    pub async fn decline_join(&self, circle_id: u64, request_id: u64) -> Result<(), ClientError> {
        match self.request(Request::DeclineJoin { circle_id, request_id }).await? {
            Response::JoinDeclined { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn set_muted(&self, circle_id: u64, member: &ClientId, muted: bool) -> Result<(), ClientError> {
        let req = Request::SetMuted {
            circle_id,
            client_id: member.to_vec().into(),
            muted,
        };
        match self.request(req).await? {
            Response::MemberMuted { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn set_moderator(&self, circle_id: u64, member: &ClientId, moderator: bool) -> Result<(), ClientError> {
        let req = Request::SetModerator {
            circle_id,
            client_id: member.to_vec().into(),
            moderator,
        };
        match self.request(req).await? {
            Response::ModeratorSet { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Leave a circle: the server stops delivering to me at once and a
    /// moderator's client removes my leaf; my copy of the group is dropped.
    pub async fn leave_circle(&mut self, circle_id: u64, group: &[u8]) -> Result<(), ClientError> {
        match self.request(Request::LeaveCircle { circle_id }).await? {
            Response::CircleLeft { .. } => {
                self.forget_group(group)?;
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Moderators: close the circle; the server deletes the group and its
    /// envelopes.
    pub async fn close_circle(&mut self, circle_id: u64, group: &[u8]) -> Result<(), ClientError> {
        match self.request(Request::CloseCircle { circle_id }).await? {
            Response::CircleClosed { .. } => {
                self.forget_group(group)?;
                Ok(())
            }
            other => Err(unexpected(&other)),
        }
    }

    fn forget_group(&mut self, group: &[u8]) -> Result<(), ClientError> {
        if self.state.mls.knows_group(group) {
            self.state.mls.discard_group(group);
            self.state.save()?;
        }
        Ok(())
    }
}
