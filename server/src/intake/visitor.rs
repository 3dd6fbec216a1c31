//! What a visitor asks of the intake: information, a chat, cancelling,
//! resuming, leaving, feedback.

use super::*;

impl Intake {
    pub fn info(&self, pow: &mut Option<PowChallenge>) -> Response {
        let now = now_secs();
        let puzzle = self.guard.pow_active().then(|| {
            let p = self.guard.new_puzzle();
            *pow = Some(p.clone());
            p
        });
        Response::IntakeInfo {
            open: self.hours.is_open_at(now),
            languages: self.config.languages.clone(),
            topics: self.config.topics.clone(),
            closing_tags: self.config.closing_tags.clone(),
            time_zone: self.config.time_zone.clone(),
            opening_hours: self.hours.windows().to_vec(),
            help: self.help(now),
            attestation_key: Bytes(self.attestation_key.clone()),
            pow: puzzle,
        }
    }

    /// The visitor says she is leaving now (the page is closing, or quick
    /// exit). Her ticket stays for the grace period, in case she comes
    /// back, but is not offered meanwhile.
    pub fn visitor_leaving(&self, client: &ClientId, quick_exit: bool) -> ServiceResult<()> {
        let mut state = self.state.lock();
        let id = *state
            .by_visitor
            .get(client)
            .ok_or_else(|| err(ErrorCode::UnknownTicket, "no open ticket"))?;
        let now = now_secs();
        if let Some(t) = state.tickets.get_mut(&id) {
            t.gone_since.get_or_insert(now);
        }
        let presence = if quick_exit {
            VisitorPresence::QuickExit
        } else {
            VisitorPresence::Left
        };
        self.visitor_went(&mut state, id, presence);
        self.dispatch(&mut state, now);
        self.refresh(&mut state, now);
        Ok(())
    }

    pub(super) fn check_choice(&self, language: &str, topic: &str) -> ServiceResult<()> {
        if !self.config.languages.iter().any(|l| l == language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        if !self.config.topics.iter().any(|t| t == topic) {
            return Err(err(ErrorCode::InvalidRequest, "unknown topic; see intake_info"));
        }
        Ok(())
    }

    pub(super) async fn check_key_packages(
        &self,
        client: &ClientId,
        key_packages: &[Bytes],
        source: Option<SourceKey>,
    ) -> ServiceResult<()> {
        if key_packages.is_empty() || key_packages.len() > self.config.max_key_packages_per_ticket {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "a chat request carries 1 to {} key packages",
                    self.config.max_key_packages_per_ticket
                ),
            ));
        }
        // Signatures last, off the async workers.
        self.directory
            .validate_one_time_packages(client, key_packages, Requester::anonymous(source))
            .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn request_chat(
        &self,
        client: ClientId,
        source: Option<SourceKey>,
        puzzle: &mut Option<PowChallenge>,
        language: String,
        topic: String,
        urgent: bool,
        key_packages: Vec<Bytes>,
        solution: Option<PowSolution>,
    ) -> ServiceResult<TicketState> {
        let now = now_secs();
        let key_block = self.state.lock().blocks.get(&client).copied().filter(|u| *u > now);
        // A reload makes a new key but comes from the same network: the
        // block holds on the source too (the same answer, so a blocked
        // visitor cannot tell which of the two caught her).
        let source_block = source.and_then(|s| self.source_blocks.blocked_until(s.standing(), now));
        if let Some(until) = key_block.max(source_block) {
            return Err(self.refusal(
                ErrorCode::Blocked,
                "this session is blocked for a while",
                Some((until - now).min(u64::from(u32::MAX)) as u32),
            ));
        }
        match self.guard.check_intake(source, &client, puzzle, solution.as_ref()) {
            Ok(()) => {}
            Err(Refusal::RateLimited { retry_after_secs }) => {
                self.count_intake(IntakeOutcome::RateLimited);
                return Err(self.refusal(
                    ErrorCode::RateLimited,
                    "we are very busy; please try again shortly",
                    Some(retry_after_secs),
                ));
            }
            Err(Refusal::PowRequired(challenge)) => {
                self.count_intake(IntakeOutcome::PowRequired);
                return Err(err(
                    ErrorCode::PowRequired,
                    "many people are arriving at once; your device will solve a short puzzle",
                )
                .with_details(RefusalDetails {
                    retry_after_secs: None,
                    pow: Some(challenge),
                    help: Some(self.help(now)),
                }));
            }
        }
        if !self.hours.is_open_at(now) {
            self.count_intake(IntakeOutcome::Closed);
            return Err(self.refusal(
                ErrorCode::IntakeClosed,
                "we are closed now; you can leave a sealed message for the team",
                None,
            ));
        }
        self.check_choice(&language, &topic)?;
        self.check_key_packages(&client, &key_packages, source).await?;
        let secret = fresh_secret();
        let (state_out, record) = {
            let mut state = self.state.lock();
            if state.staff_clients.contains_key(&client) {
                return Err(err(ErrorCode::Forbidden, "staff sessions cannot ask for a chat"));
            }
            if state.by_visitor.contains_key(&client) {
                return Err(err(
                    ErrorCode::InvalidState,
                    "this connection already has a ticket; cancel it or use resume_ticket",
                ));
            }
            let waiting = state.tickets.values().filter(|t| t.waiting()).count();
            if waiting >= self.config.max_queue_length || state.tickets.len() >= self.config.max_open_tickets {
                self.count_intake(IntakeOutcome::QueueFull);
                return Err(self.refusal(
                    ErrorCode::Busy,
                    "all our counsellors are busy and the queue is full; please try again soon",
                    Some(60),
                ));
            }
            let mut id = rand::random::<u64>() >> 11; // fits a JavaScript number exactly
            while id == 0 || state.tickets.contains_key(&id) {
                id = rand::random::<u64>() >> 11;
            }
            let arrival = state.next_arrival;
            state.next_arrival += 1;
            let record = TicketRecord {
                id,
                visitor: client,
                language,
                topic,
                urgent,
                created_at: now,
                arrival,
                handover: false,
                initial_position: 0,
                resume_hash: resume_hash(&secret),
                key_packages: key_packages
                    .into_iter()
                    .map(|b| serde_bytes::ByteBuf::from(b.0))
                    .collect(),
                counsellor: None,
                counsellor_client: None,
                group_id: None,
                accepted_at: None,
                transfers: 0,
                pending_add: None,
                pending_readd: None,
                previous_client: None,
                counsellor_badge: None,
            };
            state.by_visitor.insert(client, id);
            state.by_resume.insert(record.resume_hash.clone(), id);
            let gone_since = (!self.presence.is_connected(&client)).then_some(now);
            state.tickets.insert(
                id,
                Ticket {
                    record,
                    phase: Phase::Waiting,
                    passed: HashSet::new(),
                    gone_since,
                    told: VisitorPresence::Here,
                    rescued: false,
                    last_pushed: None,
                    source,
                },
            );
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            if let TicketStatus::Waiting { position, .. } = self.status_of(&state, id) {
                state
                    .tickets
                    .get_mut(&id)
                    .expect("just inserted")
                    .record
                    .initial_position = position;
            }
            let record = state.tickets[&id].record.clone();
            (self.ticket_state(&state, id, Some(&secret)), record)
        };
        self.store.put_ticket(&record)?;
        self.flush().await?;
        self.count_intake(IntakeOutcome::Accepted);
        tracing::info!(urgent = record.urgent, "ticket opened");
        Ok(state_out)
    }

    /// The visitor's answer to the feedback question, once per closed
    /// chat and within [`FEEDBACK_WINDOW_SECS`]: one more in today's
    /// count of that answer, and nothing else.
    pub fn feedback(&self, client: ClientId, answer: FeedbackAnswer) -> ServiceResult<()> {
        let due = self.state.lock().feedback_due.remove(&client);
        if due.is_none_or(|until| until <= now_secs()) {
            return Err(err(ErrorCode::InvalidState, "no closed chat to give feedback on"));
        }
        self.stats
            .record_feedback(crate::stats::Day::today(), answer.as_str())
            .map_err(|_| err(ErrorCode::Internal, "recording feedback failed"))
    }

    pub async fn cancel(&self, client: ClientId, ticket_id: u64) -> ServiceResult<()> {
        let group = {
            let state = self.state.lock();
            let t = state
                .tickets
                .get(&ticket_id)
                .filter(|t| t.record.visitor == client)
                .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such ticket"))?;
            t.record.group_id.clone()
        };
        if let Some(g) = &group {
            self.delivery.close_group(g).await?;
        }
        self.end_ticket(ticket_id, ClosedReason::Cancelled, None)?;
        self.flush().await
    }

    pub async fn resume(
        &self,
        client: ClientId,
        secret: &[u8],
        key_packages: Vec<Bytes>,
    ) -> ServiceResult<TicketState> {
        if !key_packages.is_empty() {
            // (Resuming carries no source; the pool still bounds it.)
            self.check_key_packages(&client, &key_packages, None).await?;
        }
        let now = now_secs();
        let fresh = fresh_secret();
        let (out, record) =
            {
                let mut state = self.state.lock();
                let unknown = || err(ErrorCode::UnknownTicket, "no open ticket for this resume secret");
                let id = *state.by_resume.get(&resume_hash(secret)).ok_or_else(unknown)?;
                let grace = self.config.resume_grace_secs;
                let t = state.tickets.get(&id).ok_or_else(unknown)?;
                if t.gone_since.is_some_and(|since| now.saturating_sub(since) > grace) {
                    return Err(unknown());
                }
                if state.blocks.get(&client).is_some_and(|u| *u > now) {
                    return Err(self.refusal(ErrorCode::Blocked, "this session is blocked for a while", None));
                }
                if state.staff_clients.contains_key(&client) {
                    return Err(err(
                        ErrorCode::Forbidden,
                        "staff sessions cannot resume a visitor's ticket",
                    ));
                }
                if let Some(other) = state.by_visitor.get(&client) {
                    if *other != id {
                        return Err(err(ErrorCode::InvalidState, "this connection has another ticket"));
                    }
                }
                let old_client = t.record.visitor;
                let connected = self.presence.is_connected(&client);
                let t = state.tickets.get_mut(&id).expect("checked");
                let old_hash = std::mem::replace(&mut t.record.resume_hash, resume_hash(&fresh));
                t.gone_since = (!connected).then_some(now);
                t.last_pushed = None;
                if !key_packages.is_empty() {
                    t.record.key_packages = key_packages
                        .iter()
                        .map(|b| serde_bytes::ByteBuf::from(b.0.clone()))
                        .collect();
                }
                if old_client != client {
                    t.record.visitor = client;
                    // A visitor in a chat with a new key lost its MLS state: its
                    // counsellor re-adds it with one of the new key packages.
                    if t.record.group_id.is_some() {
                        let kp =
                            t.record.key_packages.first().map(|k| k.to_vec()).ok_or_else(|| {
                                err(ErrorCode::InvalidRequest, "a new key needs key packages to rejoin")
                            })?;
                        t.record.pending_readd = Some(PendingReadd {
                            old_client,
                            key_package: kp,
                        });
                    }
                }
                let new_hash = t.record.resume_hash.clone();
                state.by_resume.remove(&old_hash);
                state.by_resume.insert(new_hash, id);
                state.by_visitor.remove(&old_client);
                state.by_visitor.insert(client, id);
                self.push_readd(&state, id);
                if connected {
                    self.tell_presence(&mut state, id, VisitorPresence::Here);
                    self.dispatch(&mut state, now);
                    self.refresh(&mut state, now);
                }
                let record = state.tickets[&id].record.clone();
                (self.ticket_state(&state, id, Some(&fresh)), record)
            };
        self.store.put_ticket(&record)?;
        self.flush().await?;
        Ok(out)
    }

    /// Spend one request of the source's intake budget (circles'
    /// invitation codes), refused with `rate_limited` and the crisis lines.
    pub fn check_source_budget(&self, source: Option<SourceKey>) -> ServiceResult<()> {
        match self.guard.check_source(source) {
            Ok(()) => Ok(()),
            Err(Refusal::RateLimited { retry_after_secs }) => Err(self.refusal(
                ErrorCode::RateLimited,
                "too many tries; please wait a minute",
                Some(retry_after_secs),
            )),
            Err(Refusal::PowRequired(_)) => Err(ServiceError::internal()),
        }
    }
}
