//! A circle's members: mutes, moderators, the roster and leaving.

use super::*;

impl Circles {
    /// A moderator's change to a member: mute or unmute, make or unmake a
    /// moderator.
    pub(super) async fn change_member(
        &self,
        client: &ClientId,
        circle_id: u64,
        target: &[u8],
        change: impl FnOnce(&mut CircleRecord, ClientId) -> ServiceResult<AuditAction>,
    ) -> ServiceResult<()> {
        let target: ClientId = target
            .try_into()
            .map_err(|_| err(ErrorCode::InvalidRequest, "client_id must be 32 bytes"))?;
        let (record, action) = {
            let mut state = self.state.lock();
            let mut circle = self.moderated(&state, client, circle_id)?;
            if !self.is_member(&circle, &target) || circle.departed.contains(&target) {
                return Err(err(ErrorCode::NotAMember, "that key is not a member of this circle"));
            }
            let action = change(&mut circle, target)?;
            state.circles.insert(circle_id, circle.clone());
            (circle, action)
        };
        self.store.put_circle(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), action, circle_id);
        Ok(())
    }

    /// A peer (visitor) moderator may not demote, mute or remove a staff
    /// moderator: a circle a counsellor runs stays hers.
    pub(super) fn check_peer_over_staff(
        &self,
        caller: &ClientId,
        target: &ClientId,
        circle: &CircleRecord,
    ) -> ServiceResult<()> {
        let staff_moderator = circle.moderators.contains(target) && self.intake.is_staff_client(target);
        if staff_moderator && !self.intake.is_staff_client(caller) {
            return Err(err(
                ErrorCode::Forbidden,
                "peer moderators cannot demote, mute or remove a staff moderator",
            ));
        }
        Ok(())
    }

    pub async fn set_muted(&self, client: &ClientId, circle_id: u64, target: &[u8], muted: bool) -> ServiceResult<()> {
        let me = *client;
        self.change_member(client, circle_id, target, |c, t| {
            if t == me {
                return Err(err(ErrorCode::InvalidRequest, "moderators do not mute themselves"));
            }
            if muted {
                self.check_peer_over_staff(&me, &t, c)?;
            }
            c.muted.retain(|m| *m != t);
            if muted {
                c.muted.push(t);
                Ok(AuditAction::MemberMuted)
            } else {
                Ok(AuditAction::MemberUnmuted)
            }
        })
        .await
    }

    pub async fn set_moderator(
        &self,
        client: &ClientId,
        circle_id: u64,
        target: &[u8],
        moderator: bool,
    ) -> ServiceResult<()> {
        let me = *client;
        self.change_member(client, circle_id, target, |c, t| {
            if !moderator {
                self.check_peer_over_staff(&me, &t, c)?;
            }
            c.moderators.retain(|m| *m != t);
            if moderator {
                c.moderators.push(t);
                Ok(AuditAction::ModeratorAdded)
            } else if c.moderators.is_empty() {
                Err(err(ErrorCode::InvalidState, "a circle keeps at least one moderator"))
            } else {
                Ok(AuditAction::ModeratorRemoved)
            }
        })
        .await
    }

    /// Who is in the circle, under which name: for its members only. A key
    /// with no bound name (a circle from before names were kept) is shown
    /// without one.
    pub async fn roster(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<CircleMember>> {
        let c = {
            let state = self.state.lock();
            state.circles.get(&circle_id).cloned().ok_or_else(unknown_circle)?
        };
        if !self.is_member(&c, client) || c.departed.contains(client) {
            return Err(unknown_circle());
        }
        let mut members: Vec<ClientId> = self
            .delivery
            .members(&c.group_id)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        members.sort_unstable();
        // Who is muted is the moderators' business only.
        let asks_as_moderator = c.moderators.contains(client);
        Ok(members
            .into_iter()
            .filter(|m| !c.departed.contains(m))
            .map(|m| CircleMember {
                client_id: Bytes(m.to_vec()),
                display_name: c
                    .names
                    .iter()
                    .find(|(k, _)| *k == m)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default(),
                moderator: c.moderators.contains(&m),
                staff: self.intake.is_staff_client(&m),
                muted: asks_as_moderator && c.muted.contains(&m),
            })
            .collect())
    }

    /// Leave: delivery to the member stops now, what waits in their mailbox
    /// for this circle is purged, and the moderators' clients are told to
    /// remove the leaf.
    pub async fn leave(&self, client: &ClientId, circle_id: u64) -> ServiceResult<()> {
        let circle = {
            let mut state = self.state.lock();
            let c = state.circles.get(&circle_id).ok_or_else(unknown_circle)?;
            if !self.is_member(c, client) || c.departed.contains(client) {
                return Err(unknown_circle());
            }
            if c.moderators == [*client] {
                return Err(err(
                    ErrorCode::InvalidState,
                    "you are its only moderator: make someone else a moderator, or close the circle",
                ));
            }
            let c = state.circles.get_mut(&circle_id).ok_or_else(unknown_circle)?;
            c.departed.push(*client);
            c.moderators.retain(|m| m != client);
            c.muted.retain(|m| m != client);
            c.clone()
        };
        self.store.put_circle(&circle)?;
        self.flush().await?;
        self.delivery.purge_member_envelopes(client, &circle.group_id).await?;
        self.audit(Actor::Member, AuditAction::MemberLeft, circle_id);
        self.push_moderators(
            &circle,
            &ServerMessage::CircleMemberLeft {
                circle_id,
                client_id: Bytes(client.to_vec()),
            },
        );
        Ok(())
    }
}
