//! An escalation's life: raised by a chat's counsellor, accepted by a
//! responder, resolved; and a visitor's SOS.

use super::*;

impl Escalations {
    /// A counsellor's (or supervisor's) signed escalation of a chat.
    /// `signer` is the key the session authenticated with.
    pub async fn escalate(
        &self,
        account: u64,
        signer: &ClientId,
        request: SignedEscalation,
    ) -> ServiceResult<EscalationEntry> {
        let now = now_secs();
        if request.issued_at.abs_diff(now) > ESCALATION_MAX_SKEW_SECS {
            return Err(err(
                ErrorCode::InvalidSignature,
                "the escalation's time is too far from the server's clock",
            ));
        }
        if !request.verify(signer) {
            return Err(err(
                ErrorCode::InvalidSignature,
                "the escalation is not signed by this session's key",
            ));
        }
        let chat = self.intake.escalation_chat(account, &request.group_id.0)?;
        let (entry, body) = {
            let mut state = self.state.lock();
            if let Some(existing) = state
                .escalations
                .values()
                .find(|e| e.record.group_id == request.group_id.0 && !e.record.status.is_final())
            {
                // A second press while one is under way: the same one.
                return Ok(self.entry(existing, now));
            }
            let open = state
                .escalations
                .values()
                .filter(|e| !e.record.status.is_final())
                .count();
            if open >= self.config.max_open_escalations {
                return Err(err(ErrorCode::Busy, "too many open escalations; call the crisis line"));
            }
            let mut id = rand::random::<u64>() >> 11;
            while id == 0 || state.escalations.contains_key(&id) {
                id = rand::random::<u64>() >> 11;
            }
            let record = EscalationRecord {
                id,
                group_id: request.group_id.0.clone(),
                ticket_id: chat.ticket_id,
                severity: request.severity,
                category: request.category,
                issued_at: request.issued_at,
                signature: request.signature.0.clone(),
                language: chat.language.clone(),
                raised_by: account,
                counsellor_badge: chat.counsellor_badge.clone(),
                status: EscalationStatus::Open,
                raised_at: now,
                last_notified_at: now,
                renotified: 0,
                responder: None,
                responder_client: None,
                responder_badge: None,
                ended_at: None,
            };
            self.store.put(&record)?;
            let body = self.webhook_body(&record, "escalation.raised", now);
            let e = Escalation {
                record,
                key_package: None,
            };
            let entry = self.entry(&e, now);
            self.notify_responders(&state, &e, now);
            state.escalations.insert(id, e);
            self.publish_open_count(&state);
            (entry, body)
        };
        // Durable (the escalation and its webhook notice) before answering.
        self.outbox.enqueue(&body).await?;
        self.store.flush().await?;
        self.intake.mark_escalated(&request.group_id.0).await?;
        let detail = format!("{}:{}", request.severity.as_str(), request.category.as_str());
        self.audit(
            Actor::Staff(account),
            AuditAction::EscalationRaised,
            entry.escalation_id,
            Some(&detail),
        );
        if chat.counsellor != account {
            self.intake.push_to_staff(
                chat.counsellor,
                ServerMessage::EscalationChanged {
                    escalation: entry.clone(),
                },
            );
        }
        tracing::info!(
            severity = request.severity.as_str(),
            category = request.category.as_str(),
            "escalation raised"
        );
        Ok(entry)
    }

    /// An on-duty crisis responder takes an open escalation (over the
    /// socket, or through the webhook's callback URL).
    pub async fn accept(&self, account: u64, id: u64) -> ServiceResult<EscalationEntry> {
        let now = now_secs();
        let (client, badge) = {
            let state = self.state.lock();
            let w = Self::watcher(&state, account)
                .filter(|w| w.on_duty_responder())
                .ok_or_else(|| {
                    err(
                        ErrorCode::Forbidden,
                        "only on-duty crisis responders accept escalations",
                    )
                })?;
            if w.connection.is_none() {
                return Err(err(
                    ErrorCode::InvalidState,
                    "connect the console first: the counsellor adds your connected device",
                ));
            }
            let e = state
                .escalations
                .get(&id)
                .ok_or_else(|| err(ErrorCode::UnknownEscalation, "no such escalation"))?;
            if e.record.status != EscalationStatus::Open {
                return Err(err(
                    ErrorCode::InvalidState,
                    "this escalation was already accepted or ended",
                ));
            }
            (w.session.client, w.session.badge.clone())
        };
        let claimed = self.directory.claim(&client).await.map_err(|_| {
            err(
                ErrorCode::NoKeyPackage,
                "your device has no key packages; publish some and accept again",
            )
        })?;
        let (entry, group_id, record) = {
            let mut state = self.state.lock();
            let e = state
                .escalations
                .get_mut(&id)
                .ok_or_else(|| err(ErrorCode::UnknownEscalation, "no such escalation"))?;
            if e.record.status != EscalationStatus::Open {
                return Err(err(ErrorCode::InvalidState, "someone else accepted it first"));
            }
            e.record.status = EscalationStatus::Accepted;
            e.record.responder = Some(account);
            e.record.responder_client = Some(client);
            e.record.responder_badge = Some(badge.clone());
            e.key_package = Some(claimed.key_package);
            let record = e.record.clone();
            let state = &*state;
            let e = &state.escalations[&id];
            self.announce(state, e, now);
            self.publish_open_count(state);
            (self.entry(e, now), record.group_id.clone(), record)
        };
        self.store.put(&record)?;
        self.store.flush().await?;
        self.intake.expect_responder(&group_id, client, badge).await?;
        {
            let state = self.state.lock();
            if let (Some(e), Some(counsellor)) = (state.escalations.get(&id), self.intake.chat_counsellor(&group_id)) {
                if let Some(push) = Self::add_responder_push(e) {
                    self.intake.push_to_staff(counsellor, push);
                }
            }
        }
        self.audit(Actor::Staff(account), AuditAction::EscalationAccepted, id, None);
        tracing::info!("escalation accepted");
        Ok(entry)
    }

    /// End an escalation (see [`EscalationOutcome`]).
    pub async fn resolve(&self, account: u64, id: u64, outcome: EscalationOutcome) -> ServiceResult<EscalationEntry> {
        let now = now_secs();
        let (group_id, responder, status) = {
            let state = self.state.lock();
            let e = state
                .escalations
                .get(&id)
                .ok_or_else(|| err(ErrorCode::UnknownEscalation, "no such escalation"))?;
            let r = &e.record;
            let counsellor = self.intake.chat_counsellor(&r.group_id);
            let is_counsellor = counsellor == Some(account) || r.raised_by == account;
            let is_supervisor = self.intake.is_supervisor(account);
            let is_responder = r.responder == Some(account);
            let allowed = match outcome {
                EscalationOutcome::Resolved => is_counsellor || is_supervisor || is_responder,
                EscalationOutcome::HandedOff => counsellor == Some(account) || is_supervisor,
            };
            if !allowed {
                return Err(err(ErrorCode::Forbidden, "not your escalation"));
            }
            if r.status.is_final() {
                return Err(err(ErrorCode::InvalidState, "this escalation has ended"));
            }
            if outcome == EscalationOutcome::HandedOff && r.status != EscalationStatus::Accepted {
                return Err(err(ErrorCode::InvalidState, "no responder has accepted yet"));
            }
            (r.group_id.clone(), r.responder, r.status)
        };
        let _ = status;
        if outcome == EscalationOutcome::HandedOff {
            let responder = responder.ok_or_else(|| err(ErrorCode::InvalidState, "no responder"))?;
            self.intake.hand_to_responder(&group_id, responder).await?;
        }
        let (entry, record) = {
            let mut state = self.state.lock();
            let e = state
                .escalations
                .get_mut(&id)
                .ok_or_else(|| err(ErrorCode::UnknownEscalation, "no such escalation"))?;
            e.record.status = match outcome {
                EscalationOutcome::Resolved => EscalationStatus::Resolved,
                EscalationOutcome::HandedOff => EscalationStatus::HandedOff,
            };
            e.record.ended_at = Some(now);
            e.key_package = None;
            let record = e.record.clone();
            let state = &*state;
            let e = &state.escalations[&id];
            self.announce(state, e, now);
            self.publish_open_count(state);
            (self.entry(e, now), record)
        };
        self.store.put(&record)?;
        self.store.flush().await?;
        let action = match outcome {
            EscalationOutcome::Resolved => AuditAction::EscalationResolved,
            EscalationOutcome::HandedOff => AuditAction::EscalationHandedOff,
        };
        self.audit(Actor::Staff(account), action, id, None);
        tracing::info!(outcome = record.status.as_str(), "escalation ended");
        Ok(entry)
    }

    /// A visitor's "I'm in danger now": the numbers at once, and with their
    /// ticket, urgency or an alert to their counsellor.
    pub async fn sos(&self, client: ClientId, ticket_id: Option<u64>) -> ServiceResult<Response> {
        let help = self.fallback_help();
        let ticket = match ticket_id {
            None => None,
            Some(id) => Some(self.intake.sos(client, id).await?.ticket),
        };
        Ok(Response::SosRaised { help, ticket })
    }
}
