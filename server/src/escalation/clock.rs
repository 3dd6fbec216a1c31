//! The escalation clock: open escalations nobody accepted in time are
//! announced again with the fallback numbers; ended ones are closed and,
//! later, forgotten.

use super::*;

impl Escalations {
    /// Every second: re-notify for open escalations nobody accepted in
    /// time (and send the fallback numbers to both sides of the chat);
    /// close escalations whose chat ended; forget old resolved ones.
    pub async fn tick(&self) {
        let now = now_secs();
        let mut webhooks = Vec::new();
        let mut changed = Vec::new();
        let mut deleted = Vec::new();
        {
            let mut state = self.state.lock();
            let ids: Vec<u64> = state.escalations.keys().copied().collect();
            for id in ids {
                let e = state.escalations.get_mut(&id).expect("listed");
                let r = &mut e.record;
                if r.status.is_final() {
                    if r.ended_at
                        .is_some_and(|t| now.saturating_sub(t) > self.config.keep_resolved_secs)
                    {
                        deleted.push(id);
                    }
                    continue;
                }
                if !self.intake.chat_is_open(&r.group_id) {
                    r.status = EscalationStatus::Resolved;
                    r.ended_at = Some(now);
                    e.key_package = None;
                    changed.push(e.record.clone());
                    self.audit(Actor::System, AuditAction::EscalationResolved, id, Some("chat_ended"));
                    continue;
                }
                if r.status == EscalationStatus::Open
                    && now.saturating_sub(r.last_notified_at) >= self.config.accept_timeout_secs
                {
                    r.renotified += 1;
                    r.last_notified_at = now;
                    if r.renotified <= self.config.max_webhook_renotifications {
                        webhooks.push(self.webhook_body(r, "escalation.renotified", now));
                    }
                    let record = r.clone();
                    changed.push(record.clone());
                    let fallback = ServerMessage::EscalationFallback {
                        group_id: Bytes(record.group_id.clone()),
                        help: self.fallback_help(),
                    };
                    if let Some(counsellor) = self.intake.chat_counsellor(&record.group_id) {
                        self.intake.push_to_staff(counsellor, fallback.clone());
                    }
                    self.intake.push_to_chat_visitor(&record.group_id, fallback);
                    let e = &state.escalations[&id];
                    self.notify_responders(&state, e, now);
                    self.announce(&state, e, now);
                    self.audit(
                        Actor::System,
                        AuditAction::EscalationRenotified,
                        id,
                        Some(&format!("renotified:{}", record.renotified)),
                    );
                    tracing::warn!(renotified = record.renotified, "escalation not accepted in time");
                }
            }
            for id in &deleted {
                state.escalations.remove(id);
            }
            if !changed.is_empty() || !deleted.is_empty() {
                self.publish_open_count(&state);
            }
        }
        if changed.is_empty() && deleted.is_empty() && webhooks.is_empty() {
            return;
        }
        for record in &changed {
            if self.store.put(record).is_err() {
                tracing::error!("storing an escalation failed");
            }
        }
        for id in deleted {
            if self.store.delete(id).is_err() {
                tracing::error!("deleting an escalation failed");
            }
        }
        for body in &webhooks {
            if self.outbox.enqueue(body).await.is_err() {
                tracing::error!("queueing a webhook notice failed");
            }
        }
        if self.store.flush().await.is_err() {
            tracing::error!("flushing escalations failed");
        }
    }
}
