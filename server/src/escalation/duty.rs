//! Responders on duty: staff connections watching the queue (escalation
//! is a listener of the presence registry, [`crate::presence`]), their
//! duty state and the queue they see.

use super::*;
use crate::presence::{Connection, PresenceListener};

impl PresenceListener for Escalations {
    fn connected(&self, connection: &Connection) -> ServiceResult<()> {
        if let Some(session) = &connection.staff {
            self.staff_connected(session, connection.id);
        }
        Ok(())
    }

    fn disconnected(&self, connection: &Connection, _was_current: bool) {
        if let Some(account) = connection.account() {
            self.staff_disconnected(account, connection.id);
        }
    }
}

impl Escalations {
    /// Any staff session connected. Responders and supervisors are tracked
    /// here; a counsellor with an accepted escalation gets its add again.
    fn staff_connected(&self, session: &StaffSession, connection: u64) {
        let now = now_secs();
        let mut state = self.state.lock();
        let account = session.account_id;
        for e in state.escalations.values() {
            if self.intake.chat_counsellor(&e.record.group_id) == Some(account) {
                if let Some(push) = Self::add_responder_push(e) {
                    self.presence.notify_connection(connection, push);
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
        w.connection = Some(connection);
        if w.on_duty_responder() {
            let w = &state.watchers[&account];
            for e in state.escalations.values() {
                if e.record.status == EscalationStatus::Open {
                    w.push(
                        &self.presence,
                        ServerMessage::EscalationRaised {
                            escalation: self.entry(e, now),
                        },
                    );
                }
            }
        }
    }

    fn staff_disconnected(&self, account: u64, connection: u64) {
        let mut state = self.state.lock();
        if let Some(w) = state.watchers.get_mut(&account) {
            if w.connection == Some(connection) {
                w.connection = None;
            }
        }
    }

    pub(super) fn watcher(state: &State, account: u64) -> Option<&Watcher> {
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
                    w.push(
                        &self.presence,
                        ServerMessage::EscalationRaised {
                            escalation: self.entry(e, now),
                        },
                    );
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
}
