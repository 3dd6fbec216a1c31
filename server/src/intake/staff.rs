//! What a counsellor or supervisor does to chats: shifts, accepting,
//! attaching the group, transferring, rescuing, closing and blocking.

use super::transitions;
use super::*;

impl Intake {
    pub(super) fn staffer(state: &State, account: u64) -> ServiceResult<&Staffer> {
        state
            .staff
            .get(&account)
            .ok_or_else(|| err(ErrorCode::Forbidden, "staff only"))
    }

    pub(super) fn require_chat_staff(state: &State, account: u64) -> ServiceResult<()> {
        if Self::staffer(state, account)?.takes_chats() {
            Ok(())
        } else {
            Err(err(ErrorCode::Forbidden, "only counsellors and supervisors take chats"))
        }
    }

    pub async fn set_shift(&self, account: u64, shift: ShiftState, handover: bool) -> ServiceResult<Response> {
        let response = {
            let mut state = self.state.lock();
            let (response, fx) =
                transitions::set_shift(&mut state, &self.config, now_secs(), account, shift, handover)?;
            self.apply(state, fx)?;
            response
        };
        self.flush().await?;
        if let Response::Shift { handed_over, .. } = &response {
            tracing::info!(state = shift_name(shift), handed_over, "shift changed");
        }
        Ok(response)
    }

    /// May `account` accept this ticket now? Returns whether it is a
    /// hand-over and to whom it is offered.
    pub(super) fn check_accept(state: &State, account: u64, ticket_id: u64) -> ServiceResult<(bool, Option<u64>)> {
        let s = Self::staffer(state, account)?;
        if !on_shift(s.shift) {
            return Err(err(ErrorCode::InvalidState, "clock in first"));
        }
        let t = state
            .tickets
            .get(&ticket_id)
            .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such ticket"))?;
        if !t.waiting() {
            return Err(err(ErrorCode::InvalidState, "someone else has this ticket"));
        }
        if t.gone_since.is_some() && t.record.group_id.is_none() {
            return Err(err(ErrorCode::InvalidState, "the visitor has left"));
        }
        if !s.session.languages.contains(&t.record.language) {
            return Err(err(
                ErrorCode::Forbidden,
                "this ticket is in a language you do not speak",
            ));
        }
        let offered_to = match t.phase {
            Phase::Offered { account: a, .. } => Some(a),
            _ => None,
        };
        let own_offer = u32::from(offered_to == Some(account));
        if s.load() - own_offer >= s.session.max_chats {
            return Err(err(
                ErrorCode::LimitExceeded,
                "you are at your maximum of concurrent chats",
            ));
        }
        Ok((t.record.group_id.is_some(), offered_to))
    }

    pub async fn accept(&self, account: u64, ticket_id: u64) -> ServiceResult<Response> {
        // A hand-over needs one of my key packages for the visitor to add me.
        let my_client = {
            let state = self.state.lock();
            Self::require_chat_staff(&state, account)?;
            state.staff[&account].session.client
        };
        // Check before claiming: a refused accept must not use up a key
        // package. Checked again after the claim, which awaits.
        let handover = {
            let state = self.state.lock();
            Self::check_accept(&state, account, ticket_id)?.0
        };
        let key_package = if handover {
            let claimed = self.directory.claim(&my_client).await.map_err(|_| {
                err(
                    ErrorCode::NoKeyPackage,
                    "publish key packages first: the visitor's client adds you with one",
                )
            })?;
            Some(claimed.key_package)
        } else {
            None
        };
        let me = transitions::Acceptor {
            account,
            client: my_client,
            handover,
            key_package,
        };
        let response = {
            let mut state = self.state.lock();
            let (response, fx) = transitions::accept(&mut state, &self.config, now_secs(), me, ticket_id)?;
            self.apply(state, fx)?;
            response
        };
        self.flush().await?;
        tracing::info!(handover, "ticket accepted");
        Ok(response)
    }

    /// The counsellor created the chat's group: from now on it is the chat.
    pub async fn attach(&self, account: u64, client: ClientId, ticket_id: u64, group_id: Vec<u8>) -> ServiceResult<()> {
        Self::require_chat_staff(&self.state.lock(), account)?;
        let members = self
            .delivery
            .members(&group_id)
            .await
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "create the group first"))?;
        if members.len() != 1 || !members.contains(&client) {
            return Err(err(
                ErrorCode::InvalidState,
                "attach a group you created and are the only member of",
            ));
        }
        let record = {
            let mut state = self.state.lock();
            if state.by_group.contains_key(&group_id) {
                return Err(err(ErrorCode::InvalidState, "this group is already a chat"));
            }
            let t = state
                .tickets
                .get_mut(&ticket_id)
                .filter(|t| t.record.counsellor == Some(account))
                .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such ticket of yours"))?;
            if t.record.group_id.is_some() {
                return Err(err(ErrorCode::InvalidState, "this ticket already has its chat"));
            }
            // A circle's group (or a team message's) is not a chat's to take.
            if let Err(owner) = self
                .delivery
                .owners()
                .claim(&group_id, crate::delivery::Owner::Chat { ticket: ticket_id })
            {
                let what = match owner {
                    crate::delivery::Owner::Circle { .. } => "this group is a circle",
                    _ => "this group belongs to something else",
                };
                return Err(err(ErrorCode::InvalidState, what));
            }
            t.record.group_id = Some(serde_bytes::ByteBuf::from(group_id.clone()));
            t.record.counsellor_client = Some(client);
            let record = t.record.clone();
            state.by_group.insert(group_id, ticket_id);
            self.push_ticket(&state, ticket_id);
            record
        };
        self.store.put_ticket(&record)?;
        self.flush().await?;
        Ok(())
    }

    /// The ticket of a chat the caller may act on (its counsellor, or a
    /// supervisor).
    pub(super) fn chat_of(state: &State, account: u64, group_id: &[u8]) -> ServiceResult<u64> {
        let s = Self::staffer(state, account)?;
        let id = *state
            .by_group
            .get(group_id)
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such chat"))?;
        let mine = state
            .tickets
            .get(&id)
            .is_some_and(|t| t.record.counsellor == Some(account));
        if mine || s.session.role == StaffRole::Supervisor {
            Ok(id)
        } else {
            Err(err(ErrorCode::Forbidden, "this chat is not yours"))
        }
    }

    pub async fn transfer(&self, account: u64, group_id: Vec<u8>, to: Option<u64>) -> ServiceResult<Response> {
        self.move_chat(account, group_id, to, false).await
    }

    /// A supervisor moves a stranded chat to colleague `to`, or to
    /// herself. As on a transfer, the visitor's client adds the new
    /// counsellor (told it is a rescue) and the new counsellor removes the
    /// absent one's leaf.
    pub async fn rescue(&self, account: u64, group_id: Vec<u8>, to: Option<u64>) -> ServiceResult<Response> {
        transitions::check_rescue(&self.state.lock(), account, &group_id)?;
        self.move_chat(account, group_id, Some(to.unwrap_or(account)), true)
            .await
    }

    pub(super) async fn move_chat(
        &self,
        account: u64,
        group_id: Vec<u8>,
        to: Option<u64>,
        rescue: bool,
    ) -> ServiceResult<Response> {
        let (target, target_client) = transitions::plan_move(&self.state.lock(), account, &group_id, to)?;
        let no_packages = || err(ErrorCode::NoCounsellorAvailable, "that colleague has no key packages");
        let for_visitor = self.directory.claim(&target_client).await.map_err(|_| no_packages())?;
        // Nobody writes a hand-over note in a rescue: its counsellor is away.
        let for_note = if rescue {
            None
        } else {
            Some(self.directory.claim(&target_client).await.map_err(|_| no_packages())?)
        };
        let target = transitions::MoveTo {
            account: target,
            client: target_client,
            for_visitor: for_visitor.key_package,
            for_note: for_note.map(|c| c.key_package),
        };
        let response = {
            let mut state = self.state.lock();
            let (response, fx) =
                transitions::move_chat(&mut state, &self.config, now_secs(), account, &group_id, target, rescue)?;
            self.apply(state, fx)?;
            response
        };
        self.flush().await?;
        tracing::info!("chat transferred");
        Ok(response)
    }

    pub async fn close(&self, account: u64, group_id: Vec<u8>, tag: String) -> ServiceResult<()> {
        let id = transitions::check_close(&self.state.lock(), &self.config, account, &group_id, &tag)?;
        self.delivery.close_group(&group_id).await?;
        {
            let mut state = self.state.lock();
            let fx = transitions::close(&mut state, &self.config, now_secs(), account, id, tag);
            self.apply(state, fx)?;
        }
        self.flush().await?;
        tracing::info!("chat closed");
        Ok(())
    }

    pub async fn block(&self, account: u64, ticket_id: u64, duration_secs: u32, reason: &str) -> ServiceResult<u64> {
        let target = transitions::check_block(
            &self.state.lock(),
            &self.config,
            account,
            ticket_id,
            duration_secs,
            reason,
        )?;
        let now = now_secs();
        let until = now + u64::from(duration_secs);
        self.store.put_block(&target.visitor, until)?;
        self.state.lock().blocks.insert(target.visitor, until);
        // In memory only: the source key never reaches the store.
        if let Some(source) = target.source {
            self.source_blocks.block(source.standing(), until, now);
        }
        if let Some(g) = &target.group {
            self.delivery.close_group(g).await?;
        }
        {
            let mut state = self.state.lock();
            let fx = transitions::block(&mut state, &self.config, now_secs(), account, ticket_id, reason);
            self.apply(state, fx)?;
        }
        self.flush().await?;
        tracing::info!(duration_secs, "visitor blocked");
        Ok(until)
    }
}
