//! Off hours: the team's key packages handed to a visitor, the sealed
//! team message she leaves, and staff taking it.

use super::*;
use crate::delivery::Owner;

impl Intake {
    /// Off hours: one key package of each counsellor, for a sealed message.
    /// Only while closed (open: ask for a chat), and once per visitor key:
    /// the packages may go into one group, which only the keys handed out
    /// may join ([`policy`]).
    pub async fn team_key_packages(&self, client: ClientId, source: Option<SourceKey>) -> ServiceResult<Vec<Bytes>> {
        let now = now_secs();
        if self.state.lock().staff_clients.contains_key(&client) {
            return Err(err(ErrorCode::Forbidden, "for visitors"));
        }
        if self.hours.is_open_at(now) {
            return Err(err(
                ErrorCode::InvalidState,
                "we are open now: ask for a chat instead of leaving a message",
            ));
        }
        {
            let mut state = self.state.lock();
            for group in Self::forget_old_handouts(&mut state, now) {
                self.delivery.owners().release(&group, Owner::TeamMessage);
            }
            if state.team_handouts.contains_key(&client) {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "you already have the team's keys for one message",
                ));
            }
            if state.team_handouts.len() >= self.config.max_team_messages {
                return Err(self.refusal(ErrorCode::Busy, "the team's inbox is full", Some(600)));
            }
        }
        if let Err(Refusal::RateLimited { retry_after_secs }) = self.guard.check_team_key_packages(source) {
            return Err(self.refusal(
                ErrorCode::RateLimited,
                "many people are writing to the team right now; please try again in a minute",
                Some(retry_after_secs),
            ));
        }
        // The current key of each enabled counsellor or supervisor account,
        // by stored role (never a stale key, never an admin's or a crisis
        // responder's).
        let current: Vec<ClientId> = self
            .chat_taking_accounts()
            .await?
            .into_iter()
            .filter_map(|account| self.current_staff_key(account))
            .take(self.config.max_team_message_recipients)
            .collect();
        let targets: Vec<ClientId> = {
            let mut state = self.state.lock();
            // Reserved now, so two requests of one key at once get one.
            if state.team_handouts.contains_key(&client) {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "you already have the team's keys for one message",
                ));
            }
            state.team_handouts.insert(
                client,
                TeamHandout {
                    targets: Vec::new(),
                    at: now,
                    group: None,
                },
            );
            current
        };
        let mut out = Vec::new();
        let mut handed = Vec::new();
        for target in targets {
            if let Ok(claimed) = self.directory.claim(&target).await {
                out.push(Bytes(claimed.key_package));
                handed.push(target);
            }
        }
        let mut state = self.state.lock();
        if out.is_empty() {
            state.team_handouts.remove(&client);
            drop(state);
            return Err(self.refusal(
                ErrorCode::NoCounsellorAvailable,
                "the team cannot receive sealed messages right now",
                None,
            ));
        }
        if let Some(h) = state.team_handouts.get_mut(&client) {
            h.targets = handed;
        }
        Ok(out)
    }

    /// Enabled accounts whose stored role takes chats, by id (`Staff`
    /// reads on the blocking pool).
    pub(super) async fn chat_taking_accounts(&self) -> ServiceResult<Vec<u64>> {
        let list = self
            .accounts
            .list()
            .await
            .map_err(|_| ServiceError::from(StorageError::Unavailable("reading staff accounts".into())))?;
        let mut ids: Vec<u64> = list
            .into_iter()
            .filter(|a| !a.disabled && matches!(a.role, StaffRole::Counsellor | StaffRole::Supervisor))
            .map(|a| a.account_id)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Handouts older than [`TEAM_HANDOUT_SECS`] go; so do their groups'
    /// team rules unless the message was left. Returns those groups.
    pub(super) fn forget_old_handouts(state: &mut State, now: u64) -> Vec<Vec<u8>> {
        let State {
            team_handouts,
            team_groups,
            ..
        } = state;
        let mut forgotten = Vec::new();
        team_handouts.retain(|_, h| {
            let keep = now.saturating_sub(h.at) < TEAM_HANDOUT_SECS;
            if let (false, Some(g)) = (keep, &h.group) {
                if matches!(team_groups.get(g), Some(TeamGroup::Writing(_))) {
                    team_groups.remove(g);
                    forgotten.push(g.clone());
                }
            }
            keep
        });
        forgotten
    }

    /// A commit to a group a visitor's key created (no chat, no circle):
    /// may it add and remove these members? Staff keys join a visitor's group only as the
    /// team handed out for one team message; a left team message takes
    /// nobody more. Binds the handout to its group on the first add.
    pub(super) fn check_team_commit(
        state: &mut State,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> ServiceResult<()> {
        let forbidden = |m: &str| err(ErrorCode::Forbidden, m);
        let (bound, left) = match state.team_groups.get(group_id) {
            Some(TeamGroup::Writing(visitor)) => (Some(*visitor), false),
            Some(TeamGroup::Left) => (None, true),
            None => (None, false),
        };
        if left || bound.is_some() {
            if added.is_empty() && removed.is_empty() {
                return Ok(());
            }
            if left || bound != Some(*sender) || !removed.is_empty() {
                return Err(forbidden(
                    "a team message holds only its visitor and the team keys handed out",
                ));
            }
        } else if !added.iter().any(|a| state.staff_clients.contains_key(a)) {
            return Ok(()); // an ordinary group of visitors' keys
        }
        let Some(handout) = state.team_handouts.get_mut(sender) else {
            return Err(forbidden("staff keys join a visitor's group only as a team message"));
        };
        if handout.group.as_deref().is_some_and(|g| g != group_id) {
            return Err(forbidden("the team's keys go into one team message group"));
        }
        if !added.iter().all(|a| handout.targets.contains(a)) || !removed.is_empty() {
            return Err(forbidden(
                "a team message holds only its visitor and the team keys handed out",
            ));
        }
        handout.group = Some(group_id.to_vec());
        state.team_groups.insert(group_id.to_vec(), TeamGroup::Writing(*sender));
        Ok(())
    }

    /// Leave a team message: answers how many current staff keys it was
    /// sealed to. With none (the keys handed out went stale, or none was
    /// added) nothing is kept: nobody could read it.
    pub async fn leave_team_message(
        &self,
        client: ClientId,
        group_id: Vec<u8>,
        language: String,
    ) -> ServiceResult<u32> {
        if !self.config.languages.contains(&language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        let members = self
            .delivery
            .members(&group_id)
            .await
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such group"))?;
        let delivered_to = members
            .iter()
            .filter(|m| **m != client && self.is_current_staff_key(m))
            .count() as u32;
        let record = {
            let mut state = self.state.lock();
            if !members.contains(&client) || state.staff_clients.contains_key(&client) {
                return Err(err(
                    ErrorCode::Forbidden,
                    "only its visitor may leave a group as a team message",
                ));
            }
            if members
                .iter()
                .any(|m| *m != client && !state.staff_clients.contains_key(m))
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "a team message group holds only you and the team",
                ));
            }
            if state.team_groups.get(&group_id) == Some(&TeamGroup::Left) {
                return Err(err(ErrorCode::InvalidState, "already left"));
            }
            if state
                .team_handouts
                .get(&client)
                .is_none_or(|h| h.group.as_deref() != Some(group_id.as_slice()))
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "a team message is the group the team's keys (team_key_packages) went into",
                ));
            }
            if delivered_to == 0 {
                return Ok(0);
            }
            if state.team_messages.len() >= self.config.max_team_messages {
                return Err(self.refusal(ErrorCode::Busy, "the team's inbox is full", Some(3600)));
            }
            let record = TeamMessageRecord {
                group_id,
                language,
                left_at: now_secs(),
            };
            state.team_messages.push(record.clone());
            state.team_groups.insert(record.group_id.clone(), TeamGroup::Left);
            let _ = self.delivery.owners().claim(&record.group_id, Owner::TeamMessage);
            let list = team_list(&state.team_messages);
            for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
                s.push(
                    &self.presence,
                    ServerMessage::TeamMessagesWaiting { messages: list.clone() },
                );
            }
            (record, delivered_to)
        };
        let (record, delivered_to) = record;
        self.store.put_team_message(&record)?;
        self.flush().await?;
        Ok(delivered_to)
    }

    pub fn team_messages(&self, account: u64) -> ServiceResult<Vec<TeamMessage>> {
        let state = self.state.lock();
        Self::require_chat_staff(&state, account)?;
        Ok(team_list(&state.team_messages))
    }

    pub async fn take_team_message(&self, account: u64, group_id: Vec<u8>) -> ServiceResult<()> {
        {
            let mut state = self.state.lock();
            Self::require_chat_staff(&state, account)?;
            let before = state.team_messages.len();
            state.team_messages.retain(|t| t.group_id != group_id);
            state.team_groups.remove(&group_id);
            self.delivery.owners().release(&group_id, Owner::TeamMessage);
            if state.team_messages.len() == before {
                return Err(err(
                    ErrorCode::UnknownGroup,
                    "no such team message (perhaps a colleague took it)",
                ));
            }
            let list = team_list(&state.team_messages);
            for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
                s.push(
                    &self.presence,
                    ServerMessage::TeamMessagesWaiting { messages: list.clone() },
                );
            }
        }
        self.store.delete_team_message(&group_id)?;
        self.audit(account, AuditAction::TeamMessageTaken, None, None);
        self.flush().await
    }
}
