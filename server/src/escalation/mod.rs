//! Escalation to the crisis line.
//!
//! A chat's counsellor (or a supervisor) sends a signed `escalate` control
//! request, outside the MLS group, so it works whatever state the group is
//! in. The server records it with no content, pushes it to on-duty crisis
//! responders, and queues a content-free, HMAC-signed webhook to the
//! crisis line in a durable outbox ([`webhook`]). A responder accepts
//! (over the socket, or through the webhook's callback URL); the server
//! hands the counsellor's client one of the responder's key packages, and
//! that client adds the responder to the group: the server lets exactly
//! that add through ([`crate::intake`]'s chat policy). Nobody accepting in
//! time means responders are notified again and the fallback numbers go to
//! both sides of the chat.
//!
//! States: open → accepted → resolved or handed_off. Responders have their
//! own duty state, separate from counsellors' shifts.
//!
//! Rooms: shared state and pushes here; responders' duty and queue in
//! `duty.rs`; an escalation's life and visitors' SOS in `cases.rs`; the
//! once-a-second clock in `clock.rs`; what escalations did to each chat
//! (responders in it, escalated or not) in `chats.rs`, and its start-up
//! migration out of old ticket records in `migrate.rs`.

pub mod callback;
mod cases;
pub mod chats;
mod clock;
mod duty;
pub mod migrate;
pub mod store;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;

use parasol_protocol::{
    Bytes, DutyState, ErrorCode, EscalationEntry, EscalationOutcome, EscalationStatus, Help, Response, ServerMessage,
    SignedEscalation, StaffRole, ESCALATION_MAX_SKEW_SECS,
};
use parking_lot::Mutex;

use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::config::EscalationConfig;
use crate::directory::Directory;
use crate::error::{ServiceError, ServiceResult};
use crate::intake::{Intake, StaffSession};
use crate::presence::Presence;
use crate::storage::{ClientId, StorageError};
use crate::time::now_secs;
use store::{EscalationRecord, EscalationStore};
use webhook::{Outbox, WebhookBody};

/// The path of the accept callback; `{id}` is the escalation id.
pub const CALLBACK_PATH: &str = "/v1/escalations/{id}/accept";

fn err(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::new(code, message)
}

/// A responder's or supervisor's connection, as escalation needs it.
struct Watcher {
    session: StaffSession,
    duty: DutyState,
    /// The connection the watcher is online with (its notifier is in the
    /// presence registry): the newest for the account.
    connection: Option<u64>,
}

impl Watcher {
    fn on_duty_responder(&self) -> bool {
        self.session.role == StaffRole::CrisisResponder && self.duty == DutyState::OnDuty
    }

    fn push(&self, presence: &Presence, msg: ServerMessage) {
        if let Some(connection) = self.connection {
            presence.notify_connection(connection, msg);
        }
    }
}

#[derive(Default)]
struct State {
    escalations: HashMap<u64, Escalation>,
    /// Crisis responders and supervisors seen since the start.
    watchers: HashMap<u64, Watcher>,
    /// Duty states of responders not connected since the last restart.
    saved_duty: HashMap<u64, DutyState>,
}

struct Escalation {
    record: EscalationRecord,
    /// The responder's key package until the counsellor's client added
    /// them (re-sent if the counsellor reconnects). Not stored: after a
    /// restart the responder accepts again.
    key_package: Option<Vec<u8>>,
}

pub struct Escalations {
    config: EscalationConfig,
    state: Mutex<State>,
    store: EscalationStore,
    pub outbox: Arc<Outbox>,
    intake: Arc<Intake>,
    directory: Arc<Directory>,
    audit: Arc<Audit>,
    presence: Arc<Presence>,
}

impl Escalations {
    pub fn load(
        config: EscalationConfig,
        storage: &crate::storage::Storage,
        intake: Arc<Intake>,
        directory: Arc<Directory>,
        audit: Arc<Audit>,
        presence: Arc<Presence>,
    ) -> Result<Arc<Self>, StorageError> {
        let target = match (&config.webhook_url, &config.webhook_secret_file) {
            (Some(url), Some(secret_file)) => {
                let secret = std::fs::read(secret_file)
                    .map_err(|e| StorageError::Corrupt(format!("reading escalation.webhook_secret_file: {e}")))?;
                let secret = secret.trim_ascii().to_vec();
                if secret.len() < 16 {
                    return Err(StorageError::Corrupt(
                        "escalation.webhook_secret_file must hold at least 16 bytes".into(),
                    ));
                }
                Some(webhook::WebhookTarget {
                    url: url
                        .parse()
                        .map_err(|_| StorageError::Corrupt("escalation.webhook_url".into()))?,
                    secret,
                    timeout: std::time::Duration::from_secs(config.webhook_timeout_secs),
                    retry_initial: std::time::Duration::from_millis(config.retry_initial_ms),
                    retry_max: std::time::Duration::from_secs(config.retry_max_secs),
                    max_entries: config.max_outbox_entries,
                })
            }
            _ => None,
        };
        let store = EscalationStore::open(storage)?;
        let mut state = State::default();
        let now = now_secs();
        for mut record in store.escalations()? {
            // The responder's key package was in memory only: an accepted
            // escalation whose responder never got in is open again, and
            // responders are notified anew.
            let stuck = record.status == EscalationStatus::Accepted
                && record
                    .responder_client
                    .is_none_or(|c| !intake.responder_joined(&record.group_id, &c));
            if stuck {
                record.status = EscalationStatus::Open;
                record.responder = None;
                record.responder_client = None;
                record.responder_badge = None;
                record.last_notified_at = now.saturating_sub(config.accept_timeout_secs);
                store.put(&record)?;
            }
            state.escalations.insert(
                record.id,
                Escalation {
                    record,
                    key_package: None,
                },
            );
        }
        state.saved_duty = store.duties()?.into_iter().collect();
        let outbox = Arc::new(Outbox::open(
            storage.db(),
            storage.owner().clone(),
            target,
            audit.clone(),
        )?);
        let service = Arc::new(Escalations {
            config,
            state: Mutex::new(state),
            store,
            outbox,
            intake,
            directory,
            audit,
            presence,
        });
        service.publish_open_count(&service.state.lock());
        Ok(service)
    }

    fn audit(&self, actor: Actor, action: AuditAction, id: u64, detail: Option<&str>) {
        let mut event = AuditEvent::new(actor, action).subject(format!("escalation:{id}"));
        if let Some(d) = detail {
            event = event.detail(d);
        }
        if self.audit.record_nowait(event).is_err() {
            tracing::error!("writing the audit log failed");
        }
    }

    /// The numbers shown when no responder is there in time, and on SOS.
    pub fn fallback_help(&self) -> Help {
        Help {
            crisis_lines: self.config.fallback_lines.clone(),
            next_open_at: None,
        }
    }

    fn entry(&self, e: &Escalation, now: u64) -> EscalationEntry {
        let r = &e.record;
        EscalationEntry {
            escalation_id: r.id,
            status: r.status,
            request: SignedEscalation {
                group_id: Bytes(r.group_id.clone()),
                severity: r.severity,
                category: r.category,
                issued_at: r.issued_at,
                signature: Bytes(r.signature.clone()),
            },
            language: r.language.clone(),
            counsellor: r.counsellor_badge.clone(),
            responder: r.responder_badge.clone(),
            waited_secs: now.saturating_sub(r.raised_at).min(u64::from(u32::MAX)) as u32,
            renotified: r.renotified,
        }
    }

    fn callback_url(&self, id: u64) -> String {
        format!(
            "{}{}",
            self.config.public_url.trim_end_matches('/'),
            CALLBACK_PATH.replace("{id}", &id.to_string())
        )
    }

    fn webhook_body(&self, r: &EscalationRecord, event: &str, now: u64) -> WebhookBody {
        let mut key = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        WebhookBody {
            event: event.into(),
            idempotency_key: hex::encode(key),
            escalation_id: r.id,
            severity: r.severity,
            category: r.category,
            time: jiff::Timestamp::from_second(now as i64)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            callback_url: self.callback_url(r.id),
        }
    }

    fn publish_open_count(&self, state: &State) {
        let open = state
            .escalations
            .values()
            .filter(|e| !e.record.status.is_final())
            .count();
        self.intake.set_open_escalations(open as u32);
    }

    /// Tell everyone concerned that an escalation changed: the chat's
    /// counsellor, whoever raised it, its responder, and on-duty responders
    /// (an accepted one leaves their queue).
    fn announce(&self, state: &State, e: &Escalation, now: u64) {
        let msg = ServerMessage::EscalationChanged {
            escalation: self.entry(e, now),
        };
        let mut told = Vec::new();
        let counsellor = self.intake.chat_counsellor(&e.record.group_id);
        for account in [counsellor, Some(e.record.raised_by), e.record.responder]
            .into_iter()
            .flatten()
        {
            if !told.contains(&account) {
                told.push(account);
                self.intake.push_to_staff(account, msg.clone());
            }
        }
        for (account, w) in &state.watchers {
            if w.on_duty_responder() && !told.contains(account) {
                w.push(&self.presence, msg.clone());
            }
        }
    }

    fn notify_responders(&self, state: &State, e: &Escalation, now: u64) {
        let msg = ServerMessage::EscalationRaised {
            escalation: self.entry(e, now),
        };
        for w in state.watchers.values().filter(|w| w.on_duty_responder()) {
            w.push(&self.presence, msg.clone());
        }
    }

    fn add_responder_push(e: &Escalation) -> Option<ServerMessage> {
        let r = &e.record;
        match (&e.key_package, &r.responder_badge, r.status) {
            (Some(kp), Some(badge), EscalationStatus::Accepted) => Some(ServerMessage::AddResponder {
                escalation_id: r.id,
                group_id: Bytes(r.group_id.clone()),
                responder: badge.clone(),
                key_package: Bytes(kp.clone()),
            }),
            _ => None,
        }
    }
}
