//! The anonymous intake queue and the counsellors' shifts.
//!
//! A visitor asks for a chat and gets a ticket. Tickets wait in serving
//! order ([`queue`]); each is offered to one counsellor at a time
//! ([`routing`]) with a deadline, then to the next. The counsellor who
//! accepts creates the MLS group, adds the visitor with one of the ticket's
//! key packages, and attaches the group to the ticket. From then on the
//! group is a chat: only its counsellor may change who is in it ([`policy`]),
//! except that the visitor's own client adds a new counsellor on a transfer
//! or hand-over, after checking the server's badge for them.
//!
//! All state sits behind one lock: the queue is small (bounded), and every
//! change recomputes positions and pushes those that changed. Changes are
//! written to the intake's own trees ([`store`]) and flushed before a
//! request that made them is answered.
//!
//! Where things are, by who asks: `visitor.rs` (a chat, cancel, resume,
//! leaving, feedback), `team.rs` (off-hours team messages), `staff.rs`
//! (shifts, accept, attach, transfer, rescue, close, block), `board.rs`
//! (queue view, supervisors' board), `offers.rs` (offering waiting
//! tickets, declines, expiry), `presence.rs` (connections coming and
//! going), `tickets.rs` (a ticket's state and its end), [`crisis`]
//! (escalation hooks) and [`keys`] (staff keys). The staff transitions
//! are pure functions in `transitions.rs` that return effects, applied by
//! `effects.rs` once the lock is released; `tests/` runs them without a
//! socket. Admission (source keys, limits, proof of work) lives in
//! [`crate::admission`].

mod board;
pub mod crisis;
mod effects;
pub mod hours;
pub mod keys;
mod offers;
mod policy;
mod presence;
pub mod queue;
pub mod routing;
mod staff;
pub mod store;
mod team;
mod tickets;
mod transitions;
mod visitor;

// Admission moved to `crate::admission`; these paths stay for callers
// outside the intake (connection, circles, staff, storage, validation).
pub use crate::admission::{abuse, buckets};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parasol_protocol::{
    BoardRow, Bytes, ClosedReason, CounsellorToAdd, ErrorCode, FeedbackAnswer, Help, PowChallenge, PowSolution,
    QueueEntry, Response, ServerMessage, ShiftState, StaffBadge, StaffRole, StrandedChat, StrandedReason, TeamMessage,
    TicketState, TicketStatus, VisitorPresence,
};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::admission::abuse::{IntakeGuard, Refusal, SourceHasher, SourceKey};
use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::config::IntakeConfig;
use crate::delivery::{Delivery, Owner};
use crate::directory::Directory;
use crate::error::{RefusalDetails, ServiceError, ServiceResult};
use crate::escalation::chats::ChatEscalations;
use crate::escalation::store::EscalationStore;
use crate::metrics::{IntakeLabels, IntakeOutcome, Metrics};
use crate::presence::Presence;
use crate::stats::{ChatSummary, Stats};
use crate::storage::{ClientId, StorageError};
use crate::time::now_secs;
use crate::validation::Requester;
use hours::OpeningHours;
use store::{IntakeStore, PendingAdd, PendingReadd, TeamMessageRecord, TicketRecord};

// The notifier moved to the presence registry; the path stays for callers.
pub use crate::presence::Notifier;

/// A staff member's authenticated session, as the intake needs it.
#[derive(Debug, Clone)]
pub struct StaffSession {
    pub account_id: u64,
    pub role: StaffRole,
    pub display_name: String,
    pub languages: Vec<String>,
    pub max_chats: u32,
    pub badge: StaffBadge,
    pub client: ClientId,
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Waiting,
    Offered {
        account: u64,
        deadline: u64,
    },
    /// A counsellor has it (with or without a group yet).
    Assigned,
}

struct Ticket {
    record: TicketRecord,
    phase: Phase,
    /// Counsellors who let the offer lapse or passed on it.
    passed: HashSet<u64>,
    /// When the visitor's last connection went away, or she said she was
    /// leaving (None: connected). A gone visitor is never offered.
    gone_since: Option<u64>,
    /// What the chat's counsellor was last told of the visitor's
    /// connection (memory only).
    told: VisitorPresence,
    /// A supervisor moved the chat away from an absent counsellor (the
    /// visitor's page says so); cleared by the next transfer.
    rescued: bool,
    last_pushed: Option<(u32, u32, bool)>,
    /// Where the visitor asked from (memory only, never in the record):
    /// a block also holds on it. `None` after a restart or for a local
    /// client.
    source: Option<SourceKey>,
}

impl Ticket {
    fn waiting(&self) -> bool {
        matches!(self.phase, Phase::Waiting | Phase::Offered { .. })
    }

    /// Waiting with its visitor here: counted, positioned and offered.
    fn queued(&self) -> bool {
        self.waiting() && self.gone_since.is_none()
    }

    fn entry(&self, now: u64) -> QueueEntry {
        QueueEntry {
            ticket_id: self.record.id,
            language: self.record.language.clone(),
            topic: self.record.topic.clone(),
            urgent: self.record.urgent,
            waited_secs: now.saturating_sub(self.record.created_at).min(u64::from(u32::MAX)) as u32,
            offered: matches!(self.phase, Phase::Offered { .. }),
            handover: self.record.handover,
        }
    }
}

struct Staffer {
    session: StaffSession,
    shift: ShiftState,
    /// The connection she is online with (its notifier is in the
    /// presence registry): the newest that authenticated for the account.
    connection: Option<u64>,
    /// Tickets assigned to me.
    chats: HashSet<u64>,
    offers: HashSet<u64>,
    last_assigned: u64,
}

impl Staffer {
    fn load(&self) -> u32 {
        (self.chats.len() + self.offers.len()) as u32
    }

    fn takes_chats(&self) -> bool {
        matches!(self.session.role, StaffRole::Counsellor | StaffRole::Supervisor)
    }

    fn push(&self, presence: &Presence, msg: ServerMessage) {
        if let Some(connection) = self.connection {
            presence.notify_connection(connection, msg);
        }
    }
}

#[derive(Default)]
struct State {
    tickets: HashMap<u64, Ticket>,
    by_visitor: HashMap<ClientId, u64>,
    by_group: HashMap<Vec<u8>, u64>,
    by_resume: HashMap<Vec<u8>, u64>,
    staff: HashMap<u64, Staffer>,
    /// Every client key a staff session has used, and whose it is.
    staff_clients: HashMap<ClientId, u64>,
    /// Shift states of staff not connected since the last restart.
    saved_shifts: HashMap<u64, ShiftState>,
    blocks: HashMap<ClientId, u64>,
    /// Visitor keys whose chat a counsellor closed, until when they may
    /// answer the feedback question (once). In memory only.
    feedback_due: HashMap<ClientId, u64>,
    team_messages: Vec<TeamMessageRecord>,
    /// Visitor keys that were handed the team's key packages, for one
    /// team-message group each (memory only; at most `max_team_messages`,
    /// each kept [`TEAM_HANDOUT_SECS`]).
    team_handouts: HashMap<ClientId, TeamHandout>,
    /// Team-message groups by id (bounded like the handouts and the
    /// waiting list): looked up on every commit to a group that is not a
    /// chat, and by the idle expiry.
    team_groups: HashMap<Vec<u8>, TeamGroup>,
    /// Per ticket: when its `sos` was last written to the audit log and
    /// last alerted the counsellor (memory only; one entry per open ticket).
    sos_seen: HashMap<u64, SosSeen>,
    /// What escalations did to each open chat (the escalation service's
    /// records, here so the chat policy checks them with the ticket).
    escalated_chats: ChatEscalations,
    next_arrival: u64,
    /// Observed seconds of waiting per queue position (moving average).
    secs_per_position: f64,
    last_depth: Option<(u32, u32)>,
}

/// The team's key packages handed to one visitor key.
struct TeamHandout {
    /// The staff keys whose packages it got: the only keys its team
    /// message group may add.
    targets: Vec<ClientId>,
    at: u64,
    /// The group they went into (bound by its first commit that adds them).
    group: Option<Vec<u8>>,
}

/// A team-message group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TeamGroup {
    /// Its visitor is adding the team and writing.
    Writing(ClientId),
    /// Left for the team (in the waiting list).
    Left,
}

#[derive(Default, Clone, Copy)]
struct SosSeen {
    audited_at: Option<u64>,
    alerted_at: Option<u64>,
}

/// How long a visitor key's team handout is remembered: one team message
/// per key in that time, and its group stays under the team-message rules
/// until it is left (then the waiting list holds it).
pub const TEAM_HANDOUT_SECS: u64 = 3600;

/// A counsellor is alerted at most once per this many seconds per ticket
/// by a visitor's `sos`: a flood must not fill the console's push queue
/// (which would drop offers). The first alert is never held back.
pub const SOS_ALERT_INTERVAL_SECS: u64 = 30;

/// The results of an action to report to the journal after the lock is
/// released.
pub struct Intake {
    config: IntakeConfig,
    hours: OpeningHours,
    pub guard: IntakeGuard,
    pub sources: SourceHasher,
    /// Open connections per network (checked at the WebSocket upgrade).
    pub connection_cap: Arc<crate::admission::ConnectionCap>,
    /// Sources of blocked visitors, until their block ends (memory only).
    source_blocks: crate::admission::SourceBlocks,
    state: Mutex<State>,
    store: IntakeStore,
    /// Where `State::escalated_chats` is stored.
    escalation_store: EscalationStore,
    /// The staff accounts: their stored roles decide who a team message
    /// is sealed to, whether or not they have logged in since a restart.
    accounts: Arc<crate::staff::Staff>,
    delivery: Arc<Delivery>,
    directory: Arc<Directory>,
    attestation_key: Vec<u8>,
    audit: Arc<Audit>,
    stats: Arc<Stats>,
    metrics: Arc<Metrics>,
    /// Kept current by the escalation service, for the supervisors' board.
    open_escalations: std::sync::atomic::AtomicU32,
    /// Accounts' current keys (set once at start-up; see [`keys`]).
    key_registry: std::sync::OnceLock<std::sync::Weak<crate::lifecycle::Lifecycle>>,
    /// Who is connected, and how to push to them.
    presence: Arc<Presence>,
}

/// The rooms the intake reports to.
pub struct Reporting {
    pub audit: Arc<Audit>,
    pub stats: Arc<Stats>,
    pub metrics: Arc<Metrics>,
    /// Where pushes to visitors and staff go.
    pub presence: Arc<Presence>,
}

/// How long after a closed chat its visitor may answer the feedback question.
pub const FEEDBACK_WINDOW_SECS: u64 = 3600;

fn err(code: ErrorCode, message: impl Into<String>) -> ServiceError {
    ServiceError::new(code, message)
}

fn resume_hash(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

fn fresh_secret() -> Vec<u8> {
    let mut s = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

impl Intake {
    /// Load the stored queue and chats. Every visitor counts as gone since
    /// now: they have the grace period to come back.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        config: IntakeConfig,
        storage: &crate::storage::Storage,
        accounts: Arc<crate::staff::Staff>,
        delivery: Arc<Delivery>,
        directory: Arc<Directory>,
        attestation_key: Vec<u8>,
        reporting: Reporting,
    ) -> Result<Arc<Self>, StorageError> {
        let hours = OpeningHours::new(&config.time_zone, config.opening_hours.clone())
            .map_err(|e| StorageError::Corrupt(format!("config checked at start: {e}")))?;
        let store = IntakeStore::open(storage)?;
        let escalation_store = EscalationStore::open(storage)?;
        let now = now_secs();
        let tickets = store.tickets()?;
        let mut state = State {
            secs_per_position: f64::from(config.initial_secs_per_position),
            escalated_chats: crate::escalation::migrate::load_chat_escalations(&store, &escalation_store, &tickets)?,
            ..State::default()
        };
        for record in tickets {
            state.next_arrival = state.next_arrival.max(record.arrival + 1);
            state.by_visitor.insert(record.visitor, record.id);
            state.by_resume.insert(record.resume_hash.clone(), record.id);
            if let Some(g) = &record.group_id {
                state.by_group.insert(g.to_vec(), record.id);
            }
            let phase = if record.counsellor.is_some() {
                Phase::Assigned
            } else {
                Phase::Waiting
            };
            state.tickets.insert(
                record.id,
                Ticket {
                    record,
                    phase,
                    passed: HashSet::new(),
                    gone_since: Some(now),
                    told: VisitorPresence::Reconnecting,
                    rescued: false,
                    last_pushed: None,
                    source: None,
                },
            );
        }
        state.saved_shifts = store.shifts()?.into_iter().collect();
        state.staff_clients = store.staff_clients()?.into_iter().collect();
        state.blocks = store.blocks()?.into_iter().filter(|(_, until)| *until > now).collect();
        state.team_messages = store.team_messages()?;
        state.team_groups = state
            .team_messages
            .iter()
            .map(|t| (t.group_id.clone(), TeamGroup::Left))
            .collect();
        let intake = Arc::new(Intake {
            guard: IntakeGuard::new(&config).with_overflow_counter(reporting.metrics.source_overflow_total.clone()),
            sources: SourceHasher::default(),
            connection_cap: crate::admission::ConnectionCap::new(config.max_connections_per_source),
            source_blocks: crate::admission::SourceBlocks::new(config.max_blocked_sources),
            config,
            hours,
            state: Mutex::new(state),
            store,
            escalation_store,
            accounts,
            delivery: delivery.clone(),
            directory,
            attestation_key,
            audit: reporting.audit,
            stats: reporting.stats,
            metrics: reporting.metrics,
            presence: reporting.presence,
            open_escalations: Default::default(),
            key_registry: Default::default(),
        });
        // The owner record is not stored: set it again from the chats and
        // team messages loaded.
        let owners = delivery.owners();
        {
            let state = intake.state.lock();
            for (group, ticket) in &state.by_group {
                let _ = owners.claim(group, Owner::Chat { ticket: *ticket });
            }
            for group in state.team_groups.keys() {
                let _ = owners.claim(group, Owner::TeamMessage);
            }
        }
        let staff_keys: std::sync::Weak<dyn crate::directory::StaffKeys> = Arc::downgrade(&intake) as _;
        intake
            .directory
            .set_staff_keys(staff_keys)
            .map_err(|_| StorageError::Corrupt("counting stored key packages".into()))?;
        Ok(intake)
    }

    /// Where a visitor who cannot be served now can turn.
    pub fn help(&self, now: u64) -> Help {
        Help {
            crisis_lines: self.config.crisis_lines.clone(),
            next_open_at: (!self.hours.is_open_at(now))
                .then(|| self.hours.next_open_at(now))
                .flatten(),
        }
    }

    /// A refusal a visitor can act on: the reason, when to retry and where
    /// else to turn.
    fn refusal(&self, code: ErrorCode, message: &str, retry_after_secs: Option<u32>) -> ServiceError {
        err(code, message).with_details(RefusalDetails {
            retry_after_secs,
            pow: None,
            help: Some(self.help(now_secs())),
        })
    }

    /// A staff action for the content-free audit log. `subject` is an
    /// opaque ticket id; `detail` a state or reason.
    fn audit(&self, account: u64, action: AuditAction, ticket: Option<u64>, detail: Option<&str>) {
        let mut event = AuditEvent::new(Actor::Staff(account), action);
        if let Some(t) = ticket {
            event = event.subject(format!("ticket:{t}"));
        }
        if let Some(d) = detail {
            event = event.detail(d);
        }
        if self.audit.record_nowait(event).is_err() {
            tracing::error!("writing the audit log failed");
        }
    }

    fn count_intake(&self, outcome: IntakeOutcome) {
        self.metrics
            .intake_requests_total
            .get_or_create(&IntakeLabels { outcome })
            .inc();
    }

    async fn flush(&self) -> ServiceResult<()> {
        self.store.flush().await.map_err(ServiceError::from)
    }
}

/// Who re-adds a visitor that came back with a new key: a member of the
/// group who can commit. During a transfer or hand-over the new counsellor
/// is not in the group yet (the visitor's client was to add them, but lost
/// its state), so the counsellor being replaced does it.
fn readd_by(state: &State, t: &Ticket) -> Option<u64> {
    match (t.record.counsellor, &t.record.pending_add, t.record.previous_client) {
        (Some(counsellor), None, _) => Some(counsellor),
        (_, _, Some(previous)) => state.staff_clients.get(&previous).copied(),
        (counsellor, _, None) => counsellor,
    }
}

fn s_push(presence: &Presence, state: &State, account: u64, msg: ServerMessage) {
    if let Some(s) = state.staff.get(&account) {
        s.push(presence, msg);
    }
}

fn shift_name(s: ShiftState) -> &'static str {
    match s {
        ShiftState::ClockedIn => "clocked_in",
        ShiftState::Available => "available",
        ShiftState::OnBreak => "on_break",
        ShiftState::ClockedOut => "clocked_out",
    }
}

fn on_shift(s: ShiftState) -> bool {
    s != ShiftState::ClockedOut
}

fn as_waiting(t: &Ticket) -> queue::Waiting<'_> {
    queue::Waiting {
        ticket_id: t.record.id,
        language: &t.record.language,
        handover: t.record.handover,
        urgent: t.record.urgent,
        arrival: t.record.arrival,
    }
}

fn candidates(state: &State) -> Vec<routing::Candidate<'_>> {
    state
        .staff
        .values()
        .filter(|s| s.takes_chats())
        .map(|s| routing::Candidate {
            account_id: s.session.account_id,
            available: s.shift == ShiftState::Available && s.connection.is_some(),
            languages: &s.session.languages,
            load: s.load(),
            max_chats: s.session.max_chats,
            last_assigned: s.last_assigned,
        })
        .collect()
}

fn depth_of(state: &State, now: u64) -> (u32, u32) {
    let waiting = state.tickets.values().filter(|t| t.queued());
    let (mut depth, mut longest) = (0u32, 0u64);
    for t in waiting {
        depth += 1;
        longest = longest.max(now.saturating_sub(t.record.created_at));
    }
    (depth, longest.min(u64::from(u32::MAX)) as u32)
}

fn team_list(messages: &[TeamMessageRecord]) -> Vec<TeamMessage> {
    messages
        .iter()
        .map(|m| TeamMessage {
            group_id: Bytes(m.group_id.clone()),
            language: m.language.clone(),
            left_at: m.left_at,
        })
        .collect()
}

#[cfg(test)]
mod tests;
