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

pub mod callback;
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
use crate::intake::{Intake, Notifier, StaffSession};
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
    connection: Option<(u64, Notifier)>,
}

impl Watcher {
    fn on_duty_responder(&self) -> bool {
        self.session.role == StaffRole::CrisisResponder && self.duty == DutyState::OnDuty
    }

    fn push(&self, msg: ServerMessage) {
        if let Some((_, tx)) = &self.connection {
            let _ = tx.try_send(Box::new(msg));
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
}

impl Escalations {
    pub fn load(
        config: EscalationConfig,
        storage: &crate::storage::Storage,
        intake: Arc<Intake>,
        directory: Arc<Directory>,
        audit: Arc<Audit>,
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
                w.push(msg.clone());
            }
        }
    }

    fn notify_responders(&self, state: &State, e: &Escalation, now: u64) {
        let msg = ServerMessage::EscalationRaised {
            escalation: self.entry(e, now),
        };
        for w in state.watchers.values().filter(|w| w.on_duty_responder()) {
            w.push(msg.clone());
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

    // ------------------------------------------------------------ connections

    /// Any staff session connected. Responders and supervisors are tracked
    /// here; a counsellor with an accepted escalation gets its add again.
    pub fn staff_connected(&self, session: &StaffSession, connection: u64, notifier: Notifier) {
        let now = now_secs();
        let mut state = self.state.lock();
        let account = session.account_id;
        for e in state.escalations.values() {
            if self.intake.chat_counsellor(&e.record.group_id) == Some(account) {
                if let Some(push) = Self::add_responder_push(e) {
                    let _ = notifier.try_send(Box::new(push));
                }
            }
        }
        if !matches!(session.role, StaffRole::CrisisResponder | StaffRole::Supervisor) {
            return;
        }
        let saved = state.saved_duty.remove(&account).unwrap_or(DutyState::OffDuty);
        let w = state.watchers.entry(account).or_insert_with(|| Watcher {
            session: session.clone(),
            duty: saved,
            connection: None,
        });
        w.session = session.clone();
        w.connection = Some((connection, notifier));
        if w.on_duty_responder() {
            let w = &state.watchers[&account];
            for e in state.escalations.values() {
                if e.record.status == EscalationStatus::Open {
                    w.push(ServerMessage::EscalationRaised {
                        escalation: self.entry(e, now),
                    });
                }
            }
        }
    }

    pub fn staff_disconnected(&self, account: u64, connection: u64) {
        let mut state = self.state.lock();
        if let Some(w) = state.watchers.get_mut(&account) {
            if w.connection.as_ref().is_some_and(|(c, _)| *c == connection) {
                w.connection = None;
            }
        }
    }

    // --------------------------------------------------------------- requests

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

    fn watcher(state: &State, account: u64) -> Option<&Watcher> {
        state.watchers.get(&account)
    }

    /// Crisis responders go on or off duty.
    pub async fn set_duty(&self, account: u64, duty: DutyState) -> ServiceResult<Response> {
        let now = now_secs();
        let open = {
            let mut state = self.state.lock();
            let w = state
                .watchers
                .get_mut(&account)
                .filter(|w| w.session.role == StaffRole::CrisisResponder)
                .ok_or_else(|| err(ErrorCode::Forbidden, "duty is for crisis responders"))?;
            w.duty = duty;
            let w = &state.watchers[&account];
            let open: Vec<&Escalation> = state
                .escalations
                .values()
                .filter(|e| e.record.status == EscalationStatus::Open)
                .collect();
            if duty == DutyState::OnDuty {
                for e in &open {
                    w.push(ServerMessage::EscalationRaised {
                        escalation: self.entry(e, now),
                    });
                }
            }
            open.len() as u32
        };
        self.store.put_duty(account, duty)?;
        self.store.flush().await?;
        let detail = match duty {
            DutyState::OnDuty => "on_duty",
            DutyState::OffDuty => "off_duty",
        };
        let event = AuditEvent::new(Actor::Staff(account), AuditAction::DutyChanged).detail(detail);
        if self.audit.record_nowait(event).is_err() {
            tracing::error!("writing the audit log failed");
        }
        Ok(Response::Duty {
            state: duty,
            open_escalations: open,
        })
    }

    /// On-duty responders: open escalations and their own accepted ones.
    /// Supervisors: every escalation not yet final.
    pub fn queue(&self, account: u64) -> ServiceResult<Vec<EscalationEntry>> {
        let now = now_secs();
        let state = self.state.lock();
        let w = Self::watcher(&state, account)
            .ok_or_else(|| err(ErrorCode::Forbidden, "for crisis responders and supervisors"))?;
        let supervisor = w.session.role == StaffRole::Supervisor;
        if !supervisor && !w.on_duty_responder() {
            return Err(err(ErrorCode::Forbidden, "go on duty to see escalations"));
        }
        let mut list: Vec<EscalationEntry> = state
            .escalations
            .values()
            .filter(|e| {
                let r = &e.record;
                !r.status.is_final()
                    && (supervisor || r.status == EscalationStatus::Open || r.responder == Some(account))
            })
            .map(|e| self.entry(e, now))
            .collect();
        // Critical first, then the longest waiting.
        list.sort_by_key(|e| {
            (
                e.request.severity != parasol_protocol::Severity::Critical,
                u32::MAX - e.waited_secs,
            )
        });
        Ok(list)
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

    // ------------------------------------------------------------------ clock

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
