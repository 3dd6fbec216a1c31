//! What a counsellor or supervisor does to chats: shifts, accepting,
//! attaching the group, transferring, rescuing, closing and blocking.

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
        let now = now_secs();
        let (handed, active, records) = {
            let mut state = self.state.lock();
            let s = Self::staffer(&state, account)?;
            let chats: Vec<u64> = s.chats.iter().copied().collect();
            let mut records = Vec::new();
            let mut handed = 0;
            if shift == ShiftState::ClockedOut && !chats.is_empty() {
                if !handover {
                    return Err(err(
                        ErrorCode::HandoverRequired,
                        format!(
                            "you have {} open chats; clock out with handover to return them to the queue first in line",
                            chats.len()
                        ),
                    ));
                }
                for id in &chats {
                    let Some(t) = state.tickets.get_mut(id) else { continue };
                    if t.record.group_id.is_none() {
                        // Accepted but never opened: just back in line.
                        t.record.counsellor = None;
                        t.record.counsellor_client = None;
                    } else {
                        t.record.handover = true;
                        t.record.previous_client = t.record.counsellor_client.take();
                        t.record.counsellor = None;
                    }
                    t.phase = Phase::Waiting;
                    t.passed.clear();
                    t.passed.insert(account);
                    records.push(t.record.clone());
                    handed += 1;
                }
            }
            let s = state.staff.get_mut(&account).expect("checked");
            if shift == ShiftState::ClockedOut {
                s.chats.clear();
            }
            s.shift = shift;
            if shift != ShiftState::Available {
                let offers: Vec<u64> = s.offers.drain().collect();
                for id in offers {
                    if let Some(t) = state.tickets.get_mut(&id) {
                        t.phase = Phase::Waiting;
                        t.passed.insert(account);
                        s_push(&state, account, ServerMessage::OfferWithdrawn { ticket_id: id });
                    }
                }
            }
            let active = state.staff[&account].chats.len() as u32;
            let staffer = &state.staff[&account];
            if on_shift(shift) {
                let (depth, longest) = depth_of(&state, now);
                staffer.push(ServerMessage::QueueChanged {
                    depth,
                    longest_wait_secs: longest,
                });
                if !state.team_messages.is_empty() && staffer.takes_chats() {
                    staffer.push(ServerMessage::TeamMessagesWaiting {
                        messages: team_list(&state.team_messages),
                    });
                }
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            (handed, active, records)
        };
        self.store.put_shift(account, shift)?;
        for r in &records {
            self.store.put_ticket(r)?;
        }
        self.flush().await?;
        let state_name = shift_name(shift);
        self.audit(account, AuditAction::ShiftChanged, None, Some(state_name));
        tracing::info!(state = state_name, handed_over = handed, "shift changed");
        Ok(Response::Shift {
            state: shift,
            active_chats: active,
            handed_over: handed,
        })
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
        let now = now_secs();
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
        let my_key_package = if handover {
            Some(self.directory.claim(&my_client).await.map_err(|_| {
                err(
                    ErrorCode::NoKeyPackage,
                    "publish key packages first: the visitor's client adds you with one",
                )
            })?)
        } else {
            None
        };
        let (response, record) = {
            let mut state = self.state.lock();
            let (handover_now, offered_to) = Self::check_accept(&state, account, ticket_id)?;
            if handover_now != handover {
                return Err(err(ErrorCode::InvalidState, "the ticket changed; try again"));
            }
            if let Some(other) = offered_to.filter(|a| *a != account) {
                if let Some(o) = state.staff.get_mut(&other) {
                    o.offers.remove(&ticket_id);
                    o.push(ServerMessage::OfferWithdrawn { ticket_id });
                }
            }
            let my_badge = state.staff[&account].session.badge.clone();
            let t = state.tickets.get_mut(&ticket_id).expect("checked");
            t.phase = Phase::Assigned;
            t.record.counsellor = Some(account);
            t.record.counsellor_badge = Some(my_badge);
            t.record.accepted_at = Some(now);
            let waited = now.saturating_sub(t.record.created_at) as f64;
            let sample = waited / f64::from(t.record.initial_position.max(1));
            let entry = t.entry(now);
            let group_id = t.record.group_id.clone();
            let response = if let Some(g) = &group_id {
                let kp = my_key_package.expect("claimed for a hand-over");
                t.record.pending_add = Some(PendingAdd {
                    account,
                    client: my_client,
                    key_package: kp.key_package,
                });
                t.record.transfers += 1;
                t.record.counsellor_client = Some(my_client);
                Response::TicketAccepted {
                    ticket: entry.clone(),
                    key_package: None,
                    group_id: Some(Bytes(g.to_vec())),
                }
            } else {
                let kp = t.record.key_packages.first().cloned();
                let Some(kp) = kp else {
                    return Err(err(ErrorCode::NoKeyPackage, "the visitor has no key package left"));
                };
                t.record.key_packages.remove(0);
                Response::TicketAccepted {
                    ticket: entry.clone(),
                    key_package: Some(Bytes(kp.to_vec())),
                    group_id: None,
                }
            };
            let previous = t.record.previous_client.map(|c| Bytes(c.to_vec()));
            state.secs_per_position = 0.8 * state.secs_per_position + 0.2 * sample;
            let s = state.staff.get_mut(&account).expect("checked");
            s.offers.remove(&ticket_id);
            s.chats.insert(ticket_id);
            s.last_assigned = now;
            if let Some(g) = &group_id {
                s.push(ServerMessage::ChatAssigned {
                    group_id: Bytes(g.to_vec()),
                    ticket: entry,
                    from: None,
                    remove_previous: previous,
                });
            }
            self.push_ticket(&state, ticket_id);
            // A visitor who came back with a new key while the chat waited
            // is re-added by the counsellor being replaced.
            self.push_readd(&state, ticket_id);
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            (response, state.tickets[&ticket_id].record.clone())
        };
        self.store.put_ticket(&record)?;
        self.flush().await?;
        self.audit(
            account,
            AuditAction::TicketAccepted,
            Some(ticket_id),
            handover.then_some("handover"),
        );
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
        {
            let state = self.state.lock();
            if Self::staffer(&state, account)?.session.role != StaffRole::Supervisor {
                return Err(err(ErrorCode::Forbidden, "only supervisors rescue chats"));
            }
            let id = *state
                .by_group
                .get(group_id.as_slice())
                .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such chat"))?;
            if Self::stranded(&state, &state.tickets[&id]).is_none() {
                return Err(err(
                    ErrorCode::InvalidState,
                    "this chat's counsellor is here; she can transfer it",
                ));
            }
        }
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
        let now = now_secs();
        let (target, target_client, language) = {
            let state = self.state.lock();
            let id = Self::chat_of(&state, account, &group_id)?;
            let t = &state.tickets[&id];
            if t.record.pending_add.is_some() {
                return Err(err(
                    ErrorCode::InvalidState,
                    "a transfer of this chat is still under way",
                ));
            }
            let current = t.record.counsellor;
            let language = t.record.language.clone();
            let target = match to {
                Some(a) => {
                    let s = state
                        .staff
                        .get(&a)
                        .ok_or_else(|| err(ErrorCode::NoCounsellorAvailable, "that colleague is not on shift"))?;
                    if Some(a) == current
                        || !s.takes_chats()
                        || s.connection.is_none()
                        || !on_shift(s.shift)
                        || s.shift == ShiftState::OnBreak
                        || !s.session.languages.contains(&language)
                        || s.load() >= s.session.max_chats
                    {
                        return Err(err(
                            ErrorCode::NoCounsellorAvailable,
                            "that colleague cannot take this chat now",
                        ));
                    }
                    a
                }
                None => {
                    let candidates = candidates(&state);
                    let others: Vec<_> = candidates
                        .into_iter()
                        .filter(|c| Some(c.account_id) != current)
                        .collect();
                    match routing::choose(&others, &language, &HashSet::new()) {
                        routing::Choice::Offer(a) => a,
                        _ => {
                            return Err(err(
                                ErrorCode::NoCounsellorAvailable,
                                "no colleague can take this chat now",
                            ))
                        }
                    }
                }
            };
            (target, state.staff[&target].session.client, language)
        };
        let _ = language;
        let for_visitor = self
            .directory
            .claim(&target_client)
            .await
            .map_err(|_| err(ErrorCode::NoCounsellorAvailable, "that colleague has no key packages"))?;
        // Nobody writes a hand-over note in a rescue: its counsellor is away.
        let for_note = if rescue {
            None
        } else {
            Some(
                self.directory
                    .claim(&target_client)
                    .await
                    .map_err(|_| err(ErrorCode::NoCounsellorAvailable, "that colleague has no key packages"))?,
            )
        };
        let (response, record) = {
            let mut state = self.state.lock();
            let id = Self::chat_of(&state, account, &group_id)?;
            if rescue && Self::stranded(&state, &state.tickets[&id]).is_none() {
                return Err(err(ErrorCode::InvalidState, "its counsellor came back"));
            }
            self.audit(
                account,
                AuditAction::ChatTransferred,
                Some(id),
                rescue.then_some("rescue"),
            );
            let previous_account = state.tickets[&id].record.counsellor;
            let badge = state
                .staff
                .get(&target)
                .filter(|s| s.connection.is_some())
                .map(|s| s.session.badge.clone())
                .ok_or_else(|| err(ErrorCode::NoCounsellorAvailable, "that colleague just left"))?;
            let from_badge = previous_account
                .and_then(|a| state.staff.get(&a))
                .map(|s| s.session.badge.clone());
            let t = state.tickets.get_mut(&id).expect("checked");
            t.record.previous_client = t.record.counsellor_client;
            t.record.counsellor = Some(target);
            t.record.counsellor_badge = Some(badge.clone());
            t.record.counsellor_client = Some(target_client);
            t.record.transfers += 1;
            t.record.pending_add = Some(PendingAdd {
                account: target,
                client: target_client,
                key_package: for_visitor.key_package,
            });
            t.rescued = rescue;
            let entry = t.entry(now);
            let previous = t.record.previous_client.map(|c| Bytes(c.to_vec()));
            if let Some(p) = previous_account.and_then(|a| state.staff.get_mut(&a)) {
                p.chats.remove(&id);
            }
            let s = state.staff.get_mut(&target).expect("checked");
            s.chats.insert(id);
            s.last_assigned = now;
            s.push(ServerMessage::ChatAssigned {
                group_id: Bytes(group_id.clone()),
                ticket: entry,
                from: from_badge,
                remove_previous: previous,
            });
            self.push_ticket(&state, id);
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            let response = match for_note {
                Some(note) => Response::Transferred {
                    group_id: Bytes(group_id.clone()),
                    to: badge,
                    note_key_package: Bytes(note.key_package),
                },
                None => Response::ChatRescued {
                    group_id: Bytes(group_id.clone()),
                    to: badge,
                },
            };
            (response, state.tickets[&id].record.clone())
        };
        self.store.put_ticket(&record)?;
        self.flush().await?;
        tracing::info!("chat transferred");
        Ok(response)
    }

    pub async fn close(&self, account: u64, group_id: Vec<u8>, tag: String) -> ServiceResult<()> {
        if !self.config.closing_tags.contains(&tag) {
            return Err(err(ErrorCode::InvalidRequest, "unknown closing tag; see intake_info"));
        }
        let id = {
            let state = self.state.lock();
            Self::chat_of(&state, account, &group_id)?
        };
        self.delivery.close_group(&group_id).await?;
        self.audit(account, AuditAction::ChatClosed, Some(id), Some(&tag));
        self.end_ticket(id, ClosedReason::Closed, Some(tag))?;
        self.flush().await?;
        tracing::info!("chat closed");
        Ok(())
    }

    pub async fn block(&self, account: u64, ticket_id: u64, duration_secs: u32, reason: &str) -> ServiceResult<u64> {
        if duration_secs == 0 || duration_secs > self.config.max_block_secs {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!("a block lasts 1 to {} seconds", self.config.max_block_secs),
            ));
        }
        if reason.trim().is_empty() || reason.chars().count() > 200 {
            return Err(err(
                ErrorCode::InvalidRequest,
                "give a reason of at most 200 characters",
            ));
        }
        let (visitor, group, source) = {
            let state = self.state.lock();
            let s = Self::staffer(&state, account)?;
            let t = state
                .tickets
                .get(&ticket_id)
                .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such ticket"))?;
            let mine = t.record.counsellor == Some(account);
            let offered = matches!(t.phase, Phase::Offered { account: a, .. } if a == account);
            if !(mine || offered || s.session.role == StaffRole::Supervisor) {
                return Err(err(
                    ErrorCode::Forbidden,
                    "you may block only visitors of your own chats and offers",
                ));
            }
            (t.record.visitor, t.record.group_id.clone(), t.source)
        };
        let now = now_secs();
        let until = now + u64::from(duration_secs);
        self.store.put_block(&visitor, until)?;
        self.state.lock().blocks.insert(visitor, until);
        // In memory only: the source key never reaches the store.
        if let Some(source) = source {
            self.source_blocks.block(source.standing(), until, now);
        }
        if let Some(g) = &group {
            self.delivery.close_group(g).await?;
        }
        self.audit(account, AuditAction::VisitorBlocked, Some(ticket_id), Some(reason));
        self.end_ticket(ticket_id, ClosedReason::Blocked, None)?;
        self.flush().await?;
        tracing::info!(duration_secs, "visitor blocked");
        Ok(until)
    }
}
