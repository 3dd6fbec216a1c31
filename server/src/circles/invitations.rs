//! Invitations and joining: codes a moderator hands out (stored only as
//! hashes), their preview, join requests and their decision.

use super::*;

impl Circles {
    pub(super) fn invitation_state(i: &InvitationRecord, code: Option<String>) -> InvitationState {
        InvitationState {
            invitation_id: i.id,
            circle_id: i.circle_id,
            code,
            expires_at: i.expires_at,
            max_uses: i.max_uses,
            uses: i.uses,
            revoked: i.revoked,
        }
    }

    pub async fn create_invitation(
        &self,
        client: &ClientId,
        circle_id: u64,
        expires_in_secs: u32,
        max_uses: u32,
    ) -> ServiceResult<InvitationState> {
        if expires_in_secs == 0 || expires_in_secs > self.config.max_invitation_secs {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("an invitation lasts 1 to {} seconds", self.config.max_invitation_secs),
            ));
        }
        if max_uses == 0 || max_uses > self.config.max_invitation_uses {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("an invitation has 1 to {} uses", self.config.max_invitation_uses),
            ));
        }
        let mut raw = [0u8; INVITATION_CODE_CHARS];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let code: String = raw
            .iter()
            .map(|b| INVITATION_ALPHABET[usize::from(b & 31)] as char)
            .collect();
        let now = now_secs();
        let record = {
            let mut state = self.state.lock();
            let circle = self.moderated(&state, client, circle_id)?;
            self.forget_expired_invitations(&mut state, now);
            // Revoked and expired ones do not count (they are kept a day so
            // their code still says why it stopped working).
            let live = state
                .invitations
                .values()
                .filter(|i| i.circle_id == circle.id && !i.revoked && i.expires_at > now)
                .count();
            if live >= self.config.max_invitations_per_circle {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "this circle has as many live invitations as it may; revoke one or wait for one to expire",
                ));
            }
            let id = state.next_id();
            let record = InvitationRecord {
                id,
                circle_id,
                code_hash: code_hash(&code),
                expires_at: now + u64::from(expires_in_secs),
                max_uses,
                uses: 0,
                revoked: false,
            };
            state.by_code.insert(record.code_hash.clone(), id);
            state.invitations.insert(id, record.clone());
            record
        };
        self.store.put_invitation(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::InvitationCreated, circle_id);
        Ok(Self::invitation_state(&record, Some(code)))
    }

    /// Expired invitations are kept a day, so their code still says
    /// "expired" rather than "unknown", then forgotten.
    pub(super) fn forget_expired_invitations(&self, state: &mut State, now: u64) {
        let old: Vec<u64> = state
            .invitations
            .values()
            .filter(|i| i.expires_at + 86_400 <= now)
            .map(|i| i.id)
            .collect();
        for id in old {
            if let Some(i) = state.invitations.remove(&id) {
                state.by_code.remove(&i.code_hash);
                let _ = self.store.delete_invitation(id);
            }
        }
    }

    pub fn list_invitations(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<InvitationState>> {
        let state = self.state.lock();
        self.moderated(&state, client, circle_id)?;
        let mut v: Vec<InvitationState> = state
            .invitations
            .values()
            .filter(|i| i.circle_id == circle_id)
            .map(|i| Self::invitation_state(i, None))
            .collect();
        v.sort_by_key(|i| i.invitation_id);
        Ok(v)
    }

    pub async fn revoke_invitation(&self, client: &ClientId, circle_id: u64, invitation_id: u64) -> ServiceResult<()> {
        let record = {
            let mut state = self.state.lock();
            self.moderated(&state, client, circle_id)?;
            let i = state
                .invitations
                .get_mut(&invitation_id)
                .filter(|i| i.circle_id == circle_id)
                .ok_or_else(|| err(ErrorCode::UnknownInvitation, "no such invitation in this circle"))?;
            i.revoked = true;
            // Forgotten a day from now, not a day after its planned expiry.
            i.expires_at = i.expires_at.min(now_secs());
            i.clone()
        };
        self.store.put_invitation(&record)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::InvitationRevoked, circle_id);
        Ok(())
    }

    /// The invitation a code names, if it can still be used.
    pub(super) fn usable_invitation(&self, state: &State, code: &str, now: u64) -> ServiceResult<InvitationRecord> {
        let unknown = || {
            err(
                ErrorCode::UnknownInvitation,
                "this invitation code does not exist; check it with the person who gave it to you",
            )
        };
        let code = normalize_invitation_code(code).ok_or_else(unknown)?;
        let i = state
            .by_code
            .get(&code_hash(&code))
            .and_then(|id| state.invitations.get(id))
            .ok_or_else(unknown)?;
        if i.revoked {
            return Err(err(
                ErrorCode::InvitationRevoked,
                "this invitation was withdrawn; ask the person who gave it to you for a new one",
            ));
        }
        if i.expires_at <= now {
            return Err(err(
                ErrorCode::InvitationExpired,
                "this invitation has expired; ask the person who gave it to you for a new one",
            ));
        }
        if i.uses >= i.max_uses {
            return Err(err(
                ErrorCode::InvitationUsedUp,
                "this invitation has been used as many times as it may; ask for a new one",
            ));
        }
        if !state.circles.contains_key(&i.circle_id) {
            return Err(unknown());
        }
        Ok(i.clone())
    }

    pub fn preview(&self, source: Option<SourceKey>, code: &str) -> ServiceResult<InvitationPreview> {
        self.intake.check_source_budget(source)?;
        let state = self.state.lock();
        let i = self.usable_invitation(&state, code, now_secs())?;
        let c = &state.circles[&i.circle_id];
        Ok(InvitationPreview {
            circle_id: c.id,
            group_id: Bytes(c.group_id.clone()),
            name: c.name.clone(),
            language: c.language.clone(),
            topic: c.topic.clone(),
            auto_approve: c.auto_approve,
        })
    }

    /// Ask to join. The request waits for a moderator's client to add the
    /// key package (at once in an auto-approve circle).
    pub async fn join(
        &self,
        client: ClientId,
        source: Option<SourceKey>,
        code: &str,
        display_name: &str,
        key_package: Vec<u8>,
    ) -> ServiceResult<(u64, u64)> {
        self.intake.check_source_budget(source)?;
        let display_name = Self::check_text("a display name", display_name, MAX_DISPLAY_NAME_CHARS)?;
        // A package a moderator's client can add: this key's, current, one-time.
        self.directory
            .validate_one_time_packages(
                &client,
                &[parasol_protocol::Bytes(key_package.clone())],
                crate::validation::Requester::anonymous(source),
            )
            .await?;
        let staff = self.intake.staff_account_of(&client).is_some();
        let now = now_secs();
        let (invitation, join, circle) = {
            let mut state = self.state.lock();
            let mut invitation = self.usable_invitation(&state, code, now)?;
            let circle = state.circles[&invitation.circle_id].clone();
            if self.is_member(&circle, &client) || circle.moderators.contains(&client) {
                return Err(err(ErrorCode::InvalidState, "you are already in this circle"));
            }
            // One anonymous key, one circle: a client that reused its key
            // would link the memberships (RFC 9750 §8.4.3.1).
            let elsewhere = state
                .joins
                .values()
                .any(|j| j.client == client && j.circle_id != circle.id)
                || self
                    .delivery
                    .group_ids_of(&client)
                    .iter()
                    .any(|g| state.by_group.get(g).is_some_and(|id| *id != circle.id));
            if elsewhere && !staff {
                return Err(err(
                    ErrorCode::InvalidState,
                    "this key is already in another circle; use a fresh identity for every circle",
                ));
            }
            let pending: Vec<&JoinRecord> = state.joins.values().filter(|j| j.circle_id == circle.id).collect();
            if pending.iter().any(|j| j.client == client) {
                return Err(err(ErrorCode::InvalidState, "you have already asked to join"));
            }
            if pending.len() >= self.config.max_pending_joins_per_circle {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "many people are waiting to join this circle; try again later",
                ));
            }
            invitation.uses += 1;
            state.invitations.insert(invitation.id, invitation.clone());
            let id = state.next_id();
            let join = JoinRecord {
                id,
                circle_id: circle.id,
                client,
                display_name,
                key_package,
                requested_at: now,
            };
            state.joins.insert(id, join.clone());
            (invitation, join, circle)
        };
        self.store.put_invitation(&invitation)?;
        self.store.put_join(&join)?;
        self.flush().await?;
        self.audit(Actor::Member, AuditAction::JoinRequested, circle.id);
        self.push_moderators(
            &circle,
            &ServerMessage::CircleJoinRequest {
                request: join_request(&join),
            },
        );
        Ok((circle.id, join.id))
    }

    pub fn join_requests(&self, client: &ClientId, circle_id: u64) -> ServiceResult<Vec<JoinRequest>> {
        let state = self.state.lock();
        self.moderated(&state, client, circle_id)?;
        let mut v: Vec<JoinRequest> = state
            .joins
            .values()
            .filter(|j| j.circle_id == circle_id)
            .map(join_request)
            .collect();
        v.sort_by_key(|j| j.request_id);
        Ok(v)
    }

    pub async fn decline(&self, client: &ClientId, circle_id: u64, request_id: u64) -> ServiceResult<()> {
        {
            let mut state = self.state.lock();
            self.moderated(&state, client, circle_id)?;
            if state.joins.get(&request_id).is_none_or(|j| j.circle_id != circle_id) {
                return Err(err(ErrorCode::InvalidRequest, "no such join request in this circle"));
            }
            state.joins.remove(&request_id);
        }
        self.store.delete_join(request_id)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::JoinDeclined, circle_id);
        Ok(())
    }
}

pub(super) fn join_request(j: &JoinRecord) -> JoinRequest {
    JoinRequest {
        request_id: j.id,
        circle_id: j.circle_id,
        client_id: Bytes(j.client.to_vec()),
        display_name: j.display_name.clone(),
        key_package: Bytes(j.key_package.clone()),
        requested_at: j.requested_at,
    }
}

pub(super) fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}
