//! A circle's life: created from a group its moderator made, listed,
//! closed, and dropped by retention.

use super::*;

impl Circles {
    /// Counsellors and supervisors turn a group they created (and are the
    /// only member of) into a circle they moderate.
    #[allow(clippy::too_many_arguments)]
    pub async fn create(
        &self,
        staff: &StaffSession,
        group_id: Vec<u8>,
        name: &str,
        language: &str,
        topic: &str,
        auto_approve: bool,
    ) -> ServiceResult<CircleInfo> {
        if !matches!(staff.role, StaffRole::Counsellor | StaffRole::Supervisor) {
            return Err(err(ErrorCode::Forbidden, "counsellors and supervisors create circles"));
        }
        let name = Self::check_text("the name", name, MAX_CIRCLE_TEXT_CHARS)?;
        let topic = Self::check_text("the topic", topic, MAX_CIRCLE_TEXT_CHARS)?;
        if !self.languages.iter().any(|l| l == language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        let members = self
            .delivery
            .members(&group_id)
            .await
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such group"))?;
        if !members.contains(&staff.client) {
            return Err(err(ErrorCode::Forbidden, "a circle starts from a group of your own"));
        }
        if members.len() != 1 || matches!(self.delivery.owners().owner_of(&group_id), Some(Owner::Chat { .. })) {
            return Err(err(
                ErrorCode::InvalidState,
                "a circle starts from a new group whose only member is you",
            ));
        }
        let record = {
            let mut state = self.state.lock();
            if state.by_group.contains_key(&group_id) {
                return Err(err(ErrorCode::InvalidState, "this group is already a circle"));
            }
            if state.circles.len() >= self.config.max_circles {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "the server holds as many circles as it may",
                ));
            }
            let id = state.next_id();
            if self.delivery.owners().claim(&group_id, Owner::Circle { id }).is_err() {
                return Err(err(
                    ErrorCode::InvalidState,
                    "a circle starts from a new group whose only member is you",
                ));
            }
            let record = CircleRecord {
                id,
                group_id: group_id.clone(),
                name,
                language: language.to_string(),
                topic,
                auto_approve,
                created_by: staff.account_id,
                created_at: now_secs(),
                moderators: vec![staff.client],
                muted: Vec::new(),
                departed: Vec::new(),
                names: vec![(staff.client, staff.display_name.clone())],
            };
            state.by_group.insert(group_id, id);
            state.circles.insert(id, record.clone());
            record
        };
        self.store.put_circle(&record)?;
        self.flush().await?;
        self.audit(Actor::Staff(staff.account_id), AuditAction::CircleCreated, record.id);
        Ok(self.info(&record, &staff.client, 1))
    }

    /// The circles `client` moderates or is a member of.
    pub async fn list(&self, client: &ClientId) -> Vec<CircleInfo> {
        let groups: HashSet<Vec<u8>> = self.delivery.group_ids_of(client).into_iter().collect();
        let circles: Vec<CircleRecord> = {
            let state = self.state.lock();
            let mut v: Vec<CircleRecord> = state
                .circles
                .values()
                .filter(|c| c.moderators.contains(client) || groups.contains(&c.group_id))
                .filter(|c| !c.departed.contains(client))
                .cloned()
                .collect();
            v.sort_by_key(|c| c.id);
            v
        };
        let mut out = Vec::with_capacity(circles.len());
        for c in circles {
            let members = self.delivery.members(&c.group_id).await.map_or(0, |m| m.len());
            out.push(self.info(&c, client, members));
        }
        out
    }

    /// Close: the group and its envelopes are deleted, and so are the
    /// circle's invitations and requests.
    pub async fn close(&self, client: &ClientId, circle_id: u64) -> ServiceResult<()> {
        let circle = {
            let state = self.state.lock();
            self.moderated(&state, client, circle_id)?
        };
        let members = self.delivery.members(&circle.group_id).await.unwrap_or_default();
        self.delivery.close_group(&circle.group_id).await?;
        let (invitations, joins) = {
            let mut state = self.state.lock();
            state.circles.remove(&circle_id);
            state.by_group.remove(&circle.group_id);
            self.delivery
                .owners()
                .release(&circle.group_id, Owner::Circle { id: circle_id });
            let invitations: Vec<u64> = state
                .invitations
                .values()
                .filter(|i| i.circle_id == circle_id)
                .map(|i| i.id)
                .collect();
            for id in &invitations {
                if let Some(i) = state.invitations.remove(id) {
                    state.by_code.remove(&i.code_hash);
                }
            }
            let joins: Vec<u64> = state
                .joins
                .values()
                .filter(|j| j.circle_id == circle_id)
                .map(|j| j.id)
                .collect();
            for id in &joins {
                state.joins.remove(id);
            }
            let ended = ServerMessage::CircleEnded {
                circle_id,
                group_id: Bytes(circle.group_id.clone()),
            };
            for m in &members {
                self.presence.notify(m, ended.clone());
            }
            (invitations, joins)
        };
        for id in invitations {
            self.store.delete_invitation(id)?;
        }
        for id in joins {
            self.store.delete_join(id)?;
        }
        self.store.delete_circle(circle_id)?;
        self.flush().await?;
        self.audit(self.actor_of(client), AuditAction::CircleClosed, circle_id);
        Ok(())
    }

    /// Retention: drop join requests nobody decided within
    /// `join_request_ttl_secs`, invitations a day past their expiry, and
    /// circles whose group is gone (idle expiry). Returns what was dropped.
    pub async fn purge(&self, now: u64) -> ServiceResult<usize> {
        let groups: Vec<(u64, Vec<u8>)> = {
            let state = self.state.lock();
            state.circles.values().map(|c| (c.id, c.group_id.clone())).collect()
        };
        let mut gone = Vec::new();
        for (id, group) in groups {
            if self.delivery.members(&group).await.is_none() {
                gone.push(id);
            }
        }
        let (joins, invitations, circles) = {
            let mut state = self.state.lock();
            let ttl = self.config.join_request_ttl_secs;
            let joins: Vec<u64> = state
                .joins
                .values()
                .filter(|j| j.requested_at + ttl <= now || gone.contains(&j.circle_id))
                .map(|j| j.id)
                .collect();
            for id in &joins {
                state.joins.remove(id);
            }
            let invitations: Vec<u64> = state
                .invitations
                .values()
                .filter(|i| i.expires_at + 86_400 <= now || gone.contains(&i.circle_id))
                .map(|i| i.id)
                .collect();
            for id in &invitations {
                if let Some(i) = state.invitations.remove(id) {
                    state.by_code.remove(&i.code_hash);
                }
            }
            for id in &gone {
                if let Some(c) = state.circles.remove(id) {
                    state.by_group.remove(&c.group_id);
                    self.delivery.owners().release(&c.group_id, Owner::Circle { id: *id });
                }
            }
            (joins, invitations, gone)
        };
        for id in &joins {
            self.store.delete_join(*id)?;
        }
        for id in &invitations {
            self.store.delete_invitation(*id)?;
        }
        for id in &circles {
            self.store.delete_circle(*id)?;
        }
        let dropped = joins.len() + invitations.len() + circles.len();
        if dropped > 0 {
            self.flush().await?;
        }
        Ok(dropped)
    }
}
