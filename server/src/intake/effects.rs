//! What a transition asks of the world, and the small applier that does it.
//!
//! The transitions ([`super::transitions`], [`super::offers::dispatch`],
//! [`super::tickets::end_ticket`]...) only change the in-memory state and
//! list their effects: push a notice to someone, store or delete a record,
//! write an audit entry, count a chat. [`Intake::apply`] carries them out.
//! Pushes and gauges are handed over before the lock is released: a push
//! never waits (a bounded channel's `try_send`), and sending them in lock
//! order keeps each connection's full-state pushes in the order the state
//! changed. Everything that can wait (the store, the audit log, the
//! statistics) happens after the lock is released.

use parking_lot::MutexGuard;

use super::*;
use crate::metrics::ShiftLabels;

/// Whom a push is for. Resolved to a connection when applied: nobody
/// connected, nothing sent (every push is a full state; the next one, or a
/// `resume_ticket`, catches up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum To {
    Staff(u64),
    Visitor(ClientId),
}

/// One thing a transition asks for.
#[derive(Debug)]
pub(super) enum Effect {
    Push {
        to: To,
        msg: ServerMessage,
    },
    PutTicket(TicketRecord),
    DeleteTicket(u64),
    /// A closed chat's escalation record (after its ticket).
    DeleteChatEscalation(u64),
    PutShift {
        account: u64,
        shift: ShiftState,
    },
    Audit {
        account: u64,
        action: AuditAction,
        ticket: Option<u64>,
        detail: Option<String>,
    },
    /// A closed chat's summary for the daily statistics.
    RecordChat(ChatRecord),
    /// A chat's group is no longer the intake's (in the group-owner record).
    ReleaseChat {
        group: Vec<u8>,
        ticket: u64,
    },
    /// The queue's gauges after a change.
    Gauges {
        depth: u32,
        longest_wait_secs: u32,
        /// Connected staff per shift state, in `metrics::ShiftState::ALL` order.
        on_shift: Vec<i64>,
    },
}

/// The owned parts of a [`ChatSummary`].
#[derive(Debug)]
pub(super) struct ChatRecord {
    pub created_at: u64,
    pub topic: String,
    pub language: String,
    pub wait_secs: u64,
    pub transferred: bool,
    pub escalated: bool,
    pub closing_tag: String,
}

/// The effects of one transition, in the order they are applied.
#[derive(Debug, Default)]
pub(super) struct Effects(pub Vec<Effect>);

impl Effects {
    pub fn push_staff(&mut self, account: u64, msg: ServerMessage) {
        self.0.push(Effect::Push {
            to: To::Staff(account),
            msg,
        });
    }

    pub fn push_visitor(&mut self, client: ClientId, msg: ServerMessage) {
        self.0.push(Effect::Push {
            to: To::Visitor(client),
            msg,
        });
    }

    pub fn put_ticket(&mut self, record: &TicketRecord) {
        self.0.push(Effect::PutTicket(record.clone()));
    }

    pub fn audit(&mut self, account: u64, action: AuditAction, ticket: Option<u64>, detail: Option<&str>) {
        self.0.push(Effect::Audit {
            account,
            action,
            ticket,
            detail: detail.map(str::to_owned),
        });
    }

    /// The pushes, for tests: to whom, what.
    #[cfg(test)]
    pub fn pushes(&self) -> Vec<(To, &ServerMessage)> {
        self.0
            .iter()
            .filter_map(|e| match e {
                Effect::Push { to, msg } => Some((*to, msg)),
                _ => None,
            })
            .collect()
    }
}

/// Hand one push to its connection, if there is one.
fn send(presence: &Presence, state: &State, to: To, msg: ServerMessage) {
    match to {
        To::Staff(account) => s_push(presence, state, account, msg),
        To::Visitor(client) => presence.notify(&client, msg),
    }
}

impl Intake {
    /// Send the pushes and set the gauges while `state` is still locked,
    /// release it, then write the records, audit entries and statistics.
    /// The caller flushes the store when its answer depends on it.
    pub(super) fn apply(&self, state: MutexGuard<'_, State>, effects: Effects) -> ServiceResult<()> {
        let later = self.apply_now(&state, effects);
        drop(state);
        self.apply_later(later)
    }

    /// The pushes and gauges of `effects`, sent now (under the lock); the
    /// rest is returned for [`Self::apply_later`].
    pub(super) fn apply_now(&self, state: &State, effects: Effects) -> Vec<Effect> {
        let mut later = Vec::new();
        for effect in effects.0 {
            match effect {
                Effect::Push { to, msg } => send(&self.presence, state, to, msg),
                // Under the lock, in step with the intake's `by_group`.
                Effect::ReleaseChat { group, ticket } => self
                    .delivery
                    .owners()
                    .release(&group, crate::delivery::Owner::Chat { ticket }),
                Effect::Gauges {
                    depth,
                    longest_wait_secs,
                    on_shift,
                } => {
                    self.metrics.queue_depth.set(i64::from(depth));
                    for (shift, n) in crate::metrics::ShiftState::ALL.iter().zip(on_shift) {
                        self.metrics
                            .staff_on_shift
                            .get_or_create(&ShiftLabels { state: *shift })
                            .set(n);
                    }
                    self.metrics.longest_wait_seconds.set(i64::from(longest_wait_secs));
                }
                other => later.push(other),
            }
        }
        later
    }

    /// Store, audit and count, in order; stops at the first store error.
    fn apply_later(&self, effects: Vec<Effect>) -> ServiceResult<()> {
        for effect in effects {
            match effect {
                Effect::PutTicket(record) => self.store.put_ticket(&record)?,
                Effect::DeleteTicket(id) => self.store.delete_ticket(id)?,
                Effect::DeleteChatEscalation(id) => self.escalation_store.delete_chat(id)?,
                Effect::PutShift { account, shift } => self.store.put_shift(account, shift)?,
                Effect::Audit {
                    account,
                    action,
                    ticket,
                    detail,
                } => self.audit(account, action, ticket, detail.as_deref()),
                Effect::RecordChat(c) => {
                    let summary = ChatSummary {
                        day: crate::stats::Day::from_unix_secs(c.created_at),
                        topic: &c.topic,
                        language: &c.language,
                        wait_secs: c.wait_secs,
                        transferred: c.transferred,
                        escalated: c.escalated,
                        closing_tag: &c.closing_tag,
                    };
                    if self.stats.record_chat(&summary).is_err() {
                        tracing::error!("recording chat statistics failed");
                    }
                }
                // Sent by `apply_now` under the lock.
                Effect::Push { .. } | Effect::Gauges { .. } | Effect::ReleaseChat { .. } => {}
            }
        }
        Ok(())
    }
}
