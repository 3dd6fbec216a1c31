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

pub mod crisis;
pub mod hours;
pub mod keys;
mod policy;
pub mod queue;
pub mod routing;
pub mod store;

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
use tokio::sync::mpsc;

use crate::admission::abuse::{IntakeGuard, Refusal, SourceHasher, SourceKey};
use crate::audit::{Actor, Audit, AuditAction, AuditEvent};
use crate::config::IntakeConfig;
use crate::delivery::Delivery;
use crate::directory::Directory;
use crate::error::{RefusalDetails, ServiceError, ServiceResult};
use crate::metrics::{IntakeLabels, IntakeOutcome, Metrics};
use crate::stats::{ChatSummary, Stats};
use crate::storage::{ClientId, StorageError};
use crate::time::now_secs;
use crate::validation::Requester;
use hours::OpeningHours;
use store::{IntakeStore, PendingAdd, PendingReadd, TeamMessageRecord, TicketRecord};

/// Pushes to one connection. Bounded: a connection that falls behind
/// misses pushes, never holds the intake up; every push is a full state,
/// so the next one (or a `resume_ticket`) catches it up.
/// Boxed: a channel allocates its first block of slots up front, and one
/// of 280-byte messages per connection would cost every idle connection
/// about 9 KiB.
pub type Notifier = mpsc::Sender<Box<ServerMessage>>;

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
    last_pushed: Option<(u32, u32)>,
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
    connection: Option<(u64, Notifier)>,
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

    fn push(&self, msg: ServerMessage) {
        if let Some((_, tx)) = &self.connection {
            let _ = tx.try_send(Box::new(msg));
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
    visitors: HashMap<ClientId, (u64, Notifier)>,
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
}

/// The rooms the intake reports to.
pub struct Reporting {
    pub audit: Arc<Audit>,
    pub stats: Arc<Stats>,
    pub metrics: Arc<Metrics>,
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
        let now = now_secs();
        let mut state = State {
            secs_per_position: f64::from(config.initial_secs_per_position),
            ..State::default()
        };
        for record in store.tickets()? {
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
            accounts,
            delivery: delivery.clone(),
            directory,
            attestation_key,
            audit: reporting.audit,
            stats: reporting.stats,
            metrics: reporting.metrics,
            open_escalations: Default::default(),
            key_registry: Default::default(),
        });
        delivery.add_policy(Arc::new(policy::ChatPolicy(Arc::downgrade(&intake))));
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

    // ---------------------------------------------------------------- visitors

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

    /// A visitor connection authenticated: if it has a ticket, it is back.
    pub fn visitor_connected(&self, client: ClientId, connection: u64, notifier: Notifier) {
        let mut state = self.state.lock();
        if state.staff_clients.contains_key(&client) {
            return;
        }
        state.visitors.insert(client, (connection, notifier));
        if let Some(id) = state.by_visitor.get(&client).copied() {
            if let Some(t) = state.tickets.get_mut(&id) {
                t.gone_since = None;
                t.last_pushed = None;
            }
            self.push_ticket(&state, id);
            self.tell_presence(&mut state, id, VisitorPresence::Here);
            let now = now_secs();
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
    }

    pub fn visitor_disconnected(&self, client: &ClientId, connection: u64) {
        let mut state = self.state.lock();
        if state.visitors.get(client).is_some_and(|(c, _)| *c == connection) {
            state.visitors.remove(client);
            if let Some(id) = state.by_visitor.get(client).copied() {
                let now = now_secs();
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.gone_since.get_or_insert(now);
                }
                self.visitor_went(&mut state, id, VisitorPresence::Reconnecting);
                self.dispatch(&mut state, now);
                self.refresh(&mut state, now);
            }
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

    /// The visitor of ticket `id` is gone: an offer of it is withdrawn
    /// (it goes back in line, not counted as passed), and her chat's
    /// counsellor is told.
    fn visitor_went(&self, state: &mut State, id: u64, presence: VisitorPresence) {
        let Some(t) = state.tickets.get_mut(&id) else { return };
        if let Phase::Offered { account, .. } = t.phase {
            t.phase = Phase::Waiting;
            if let Some(s) = state.staff.get_mut(&account) {
                s.offers.remove(&id);
                s.push(ServerMessage::OfferWithdrawn { ticket_id: id });
            }
        }
        // "Reconnecting" never hides a "left" or "quick exit" she told us,
        // nor "left" (the page closing after it) a "quick exit".
        let told = state.tickets[&id].told;
        let hidden = match presence {
            VisitorPresence::Reconnecting => told != VisitorPresence::Here,
            VisitorPresence::Left => told == VisitorPresence::QuickExit,
            VisitorPresence::Here | VisitorPresence::QuickExit => false,
        };
        if !hidden {
            self.tell_presence(state, id, presence);
        }
    }

    /// Tell the chat's counsellor (if any) what changed about its visitor.
    fn tell_presence(&self, state: &mut State, id: u64, presence: VisitorPresence) {
        let Some(t) = state.tickets.get_mut(&id) else { return };
        if t.told == presence {
            return;
        }
        t.told = presence;
        let (Some(account), Some(g)) = (t.record.counsellor, &t.record.group_id) else {
            return;
        };
        let msg = ServerMessage::VisitorPresence {
            ticket_id: id,
            group_id: Bytes(g.to_vec()),
            presence,
        };
        s_push(state, account, msg);
    }

    fn check_choice(&self, language: &str, topic: &str) -> ServiceResult<()> {
        if !self.config.languages.iter().any(|l| l == language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        if !self.config.topics.iter().any(|t| t == topic) {
            return Err(err(ErrorCode::InvalidRequest, "unknown topic; see intake_info"));
        }
        Ok(())
    }

    async fn check_key_packages(
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
                pending_responder: None,
                responder_clients: Vec::new(),
                responder_badges: Vec::new(),
                escalated: false,
            };
            state.by_visitor.insert(client, id);
            state.by_resume.insert(record.resume_hash.clone(), id);
            let gone_since = (!state.visitors.contains_key(&client)).then_some(now);
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
                let connected = state.visitors.contains_key(&client);
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

    /// Whether `group_id` is an intake chat (or a team message).
    pub fn is_chat_group(&self, group_id: &[u8]) -> bool {
        self.state.lock().by_group.contains_key(group_id)
    }

    /// Off hours: one key package of each counsellor, for a sealed message.
    /// Only while closed (open: ask for a chat), and once per visitor key:
    /// the packages may go into one group, which only the keys handed out
    /// may join ([`policy`]).
    pub async fn team_key_packages(&self, client: ClientId, source: Option<SourceKey>) -> ServiceResult<Vec<Bytes>> {
        let now = now_secs();
        if self.state.lock().staff_clients.contains_key(&client) {
            return Err(err(ErrorCode::Forbidden, "for visitors"));
        }
        if self.hours.is_open_at(now) {
            return Err(err(
                ErrorCode::InvalidState,
                "we are open now: ask for a chat instead of leaving a message",
            ));
        }
        {
            let mut state = self.state.lock();
            Self::forget_old_handouts(&mut state, now);
            if state.team_handouts.contains_key(&client) {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "you already have the team's keys for one message",
                ));
            }
            if state.team_handouts.len() >= self.config.max_team_messages {
                return Err(self.refusal(ErrorCode::Busy, "the team's inbox is full", Some(600)));
            }
        }
        if let Err(Refusal::RateLimited { retry_after_secs }) = self.guard.check_team_key_packages(source) {
            return Err(self.refusal(
                ErrorCode::RateLimited,
                "many people are writing to the team right now; please try again in a minute",
                Some(retry_after_secs),
            ));
        }
        // The current key of each enabled counsellor or supervisor account,
        // by stored role (never a stale key, never an admin's or a crisis
        // responder's).
        let current: Vec<ClientId> = self
            .chat_taking_accounts()
            .await?
            .into_iter()
            .filter_map(|account| self.current_staff_key(account))
            .take(self.config.max_team_message_recipients)
            .collect();
        let targets: Vec<ClientId> = {
            let mut state = self.state.lock();
            // Reserved now, so two requests of one key at once get one.
            if state.team_handouts.contains_key(&client) {
                return Err(err(
                    ErrorCode::LimitExceeded,
                    "you already have the team's keys for one message",
                ));
            }
            state.team_handouts.insert(
                client,
                TeamHandout {
                    targets: Vec::new(),
                    at: now,
                    group: None,
                },
            );
            current
        };
        let mut out = Vec::new();
        let mut handed = Vec::new();
        for target in targets {
            if let Ok(claimed) = self.directory.claim(&target).await {
                out.push(Bytes(claimed.key_package));
                handed.push(target);
            }
        }
        let mut state = self.state.lock();
        if out.is_empty() {
            state.team_handouts.remove(&client);
            drop(state);
            return Err(self.refusal(
                ErrorCode::NoCounsellorAvailable,
                "the team cannot receive sealed messages right now",
                None,
            ));
        }
        if let Some(h) = state.team_handouts.get_mut(&client) {
            h.targets = handed;
        }
        Ok(out)
    }

    /// Enabled accounts whose stored role takes chats, by id (`Staff`
    /// reads on the blocking pool).
    async fn chat_taking_accounts(&self) -> ServiceResult<Vec<u64>> {
        let list = self
            .accounts
            .list()
            .await
            .map_err(|_| ServiceError::from(StorageError::Unavailable("reading staff accounts".into())))?;
        let mut ids: Vec<u64> = list
            .into_iter()
            .filter(|a| !a.disabled && matches!(a.role, StaffRole::Counsellor | StaffRole::Supervisor))
            .map(|a| a.account_id)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Handouts older than [`TEAM_HANDOUT_SECS`] go; so do their groups'
    /// team rules unless the message was left.
    fn forget_old_handouts(state: &mut State, now: u64) {
        let State {
            team_handouts,
            team_groups,
            ..
        } = state;
        team_handouts.retain(|_, h| {
            let keep = now.saturating_sub(h.at) < TEAM_HANDOUT_SECS;
            if let (false, Some(g)) = (keep, &h.group) {
                if matches!(team_groups.get(g), Some(TeamGroup::Writing(_))) {
                    team_groups.remove(g);
                }
            }
            keep
        });
    }

    /// A commit to a group a visitor's key created (no chat, no circle):
    /// may it add and remove these members? Staff keys join a visitor's group only as the
    /// team handed out for one team message; a left team message takes
    /// nobody more. Binds the handout to its group on the first add.
    fn check_team_commit(
        state: &mut State,
        group_id: &[u8],
        sender: &ClientId,
        added: &[ClientId],
        removed: &[ClientId],
    ) -> ServiceResult<()> {
        let forbidden = |m: &str| err(ErrorCode::Forbidden, m);
        let (bound, left) = match state.team_groups.get(group_id) {
            Some(TeamGroup::Writing(visitor)) => (Some(*visitor), false),
            Some(TeamGroup::Left) => (None, true),
            None => (None, false),
        };
        if left || bound.is_some() {
            if added.is_empty() && removed.is_empty() {
                return Ok(());
            }
            if left || bound != Some(*sender) || !removed.is_empty() {
                return Err(forbidden(
                    "a team message holds only its visitor and the team keys handed out",
                ));
            }
        } else if !added.iter().any(|a| state.staff_clients.contains_key(a)) {
            return Ok(()); // an ordinary group of visitors' keys
        }
        let Some(handout) = state.team_handouts.get_mut(sender) else {
            return Err(forbidden("staff keys join a visitor's group only as a team message"));
        };
        if handout.group.as_deref().is_some_and(|g| g != group_id) {
            return Err(forbidden("the team's keys go into one team message group"));
        }
        if !added.iter().all(|a| handout.targets.contains(a)) || !removed.is_empty() {
            return Err(forbidden(
                "a team message holds only its visitor and the team keys handed out",
            ));
        }
        handout.group = Some(group_id.to_vec());
        state.team_groups.insert(group_id.to_vec(), TeamGroup::Writing(*sender));
        Ok(())
    }

    /// Is this group one the intake keeps (a chat, a team message being
    /// written or waiting)? Other anonymous groups expire after hours.
    fn keeps_group(&self, group_id: &[u8]) -> bool {
        self.state.lock().by_group.contains_key(group_id) || self.is_team_group(group_id)
    }

    /// A team message being written or waiting to be taken.
    fn is_team_group(&self, group_id: &[u8]) -> bool {
        self.state.lock().team_groups.contains_key(group_id)
    }

    /// Leave a team message: answers how many current staff keys it was
    /// sealed to. With none (the keys handed out went stale, or none was
    /// added) nothing is kept: nobody could read it.
    pub async fn leave_team_message(
        &self,
        client: ClientId,
        group_id: Vec<u8>,
        language: String,
    ) -> ServiceResult<u32> {
        if !self.config.languages.contains(&language) {
            return Err(err(ErrorCode::InvalidRequest, "unknown language; see intake_info"));
        }
        let members = self
            .delivery
            .members(&group_id)
            .await
            .ok_or_else(|| err(ErrorCode::UnknownGroup, "no such group"))?;
        let delivered_to = members
            .iter()
            .filter(|m| **m != client && self.is_current_staff_key(m))
            .count() as u32;
        let record = {
            let mut state = self.state.lock();
            if !members.contains(&client) || state.staff_clients.contains_key(&client) {
                return Err(err(
                    ErrorCode::Forbidden,
                    "only its visitor may leave a group as a team message",
                ));
            }
            if members
                .iter()
                .any(|m| *m != client && !state.staff_clients.contains_key(m))
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "a team message group holds only you and the team",
                ));
            }
            if state.team_groups.get(&group_id) == Some(&TeamGroup::Left) {
                return Err(err(ErrorCode::InvalidState, "already left"));
            }
            if state
                .team_handouts
                .get(&client)
                .is_none_or(|h| h.group.as_deref() != Some(group_id.as_slice()))
            {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "a team message is the group the team's keys (team_key_packages) went into",
                ));
            }
            if delivered_to == 0 {
                return Ok(0);
            }
            if state.team_messages.len() >= self.config.max_team_messages {
                return Err(self.refusal(ErrorCode::Busy, "the team's inbox is full", Some(3600)));
            }
            let record = TeamMessageRecord {
                group_id,
                language,
                left_at: now_secs(),
            };
            state.team_messages.push(record.clone());
            state.team_groups.insert(record.group_id.clone(), TeamGroup::Left);
            let list = team_list(&state.team_messages);
            for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
                s.push(ServerMessage::TeamMessagesWaiting { messages: list.clone() });
            }
            (record, delivered_to)
        };
        let (record, delivered_to) = record;
        self.store.put_team_message(&record)?;
        self.flush().await?;
        Ok(delivered_to)
    }

    // ------------------------------------------------------------------- staff

    /// A staff connection authenticated.
    pub fn staff_connected(&self, session: StaffSession, connection: u64, notifier: Notifier) -> ServiceResult<()> {
        let account = session.account_id;
        let client = session.client;
        let new_key = {
            let mut state = self.state.lock();
            if let Some(owner) = state.staff_clients.get(&client) {
                if *owner != account {
                    return Err(err(ErrorCode::Forbidden, "this key belongs to another account"));
                }
            }
            if state.by_visitor.contains_key(&client) {
                return Err(err(ErrorCode::Forbidden, "this key is a visitor's"));
            }
            let new_key = state.staff_clients.insert(client, account).is_none();
            let saved = state.saved_shifts.remove(&account).unwrap_or(ShiftState::ClockedOut);
            let chats: HashSet<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.counsellor == Some(account))
                .map(|t| t.record.id)
                .collect();
            let staffer = state.staff.entry(account).or_insert_with(|| Staffer {
                session: session.clone(),
                shift: saved,
                connection: None,
                chats,
                offers: HashSet::new(),
                last_assigned: 0,
            });
            staffer.session = session;
            staffer.connection = Some((connection, notifier));
            let shift = staffer.shift;
            // My chats' visitors see my current badge (a new session signs a
            // new one).
            let badge = staffer.session.badge.clone();
            let mine: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.counsellor == Some(account) && t.record.group_id.is_some())
                .map(|t| t.record.id)
                .collect();
            for id in &mine {
                if let Some(t) = state.tickets.get_mut(id) {
                    t.record.counsellor_badge = Some(badge.clone());
                }
                self.push_ticket(&state, *id);
                // Where each of my chats' visitors is, if not here.
                let t = &state.tickets[id];
                if t.told != VisitorPresence::Here {
                    s_push(
                        &state,
                        account,
                        ServerMessage::VisitorPresence {
                            ticket_id: *id,
                            group_id: Bytes(t.record.group_id.as_ref().map(|g| g.to_vec()).unwrap_or_default()),
                            presence: t.told,
                        },
                    );
                }
            }
            // Catch up: pending re-adds, team messages, queue.
            let readds: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.record.pending_readd.is_some() && readd_by(&state, t) == Some(account))
                .map(|t| t.record.id)
                .collect();
            for id in readds {
                self.push_readd(&state, id);
            }
            if on_shift(shift) {
                let staffer = &state.staff[&account];
                if !state.team_messages.is_empty() && staffer.takes_chats() {
                    staffer.push(ServerMessage::TeamMessagesWaiting {
                        messages: team_list(&state.team_messages),
                    });
                }
                let (depth, longest) = depth_of(&state, now_secs());
                staffer.push(ServerMessage::QueueChanged {
                    depth,
                    longest_wait_secs: longest,
                });
            }
            let now = now_secs();
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            new_key
        };
        if new_key {
            self.store.put_staff_client(&client, account)?;
        }
        Ok(())
    }

    pub fn staff_disconnected(&self, account: u64, connection: u64) {
        let mut state = self.state.lock();
        let now = now_secs();
        let Some(s) = state.staff.get_mut(&account) else { return };
        if s.connection.as_ref().is_some_and(|(c, _)| *c == connection) {
            s.connection = None;
            // Offers to someone who is gone move on at once.
            let offers: Vec<u64> = s.offers.drain().collect();
            for id in offers {
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.phase = Phase::Waiting;
                }
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
    }

    fn staffer(state: &State, account: u64) -> ServiceResult<&Staffer> {
        state
            .staff
            .get(&account)
            .ok_or_else(|| err(ErrorCode::Forbidden, "staff only"))
    }

    fn require_chat_staff(state: &State, account: u64) -> ServiceResult<()> {
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

    pub fn queue_view(&self, account: u64) -> ServiceResult<Vec<QueueEntry>> {
        let state = self.state.lock();
        let s = Self::staffer(&state, account)?;
        let all = s.session.role == StaffRole::Supervisor || s.session.role == StaffRole::Admin;
        if !s.takes_chats() && !all {
            return Err(err(
                ErrorCode::Forbidden,
                "only counsellors and supervisors see the queue",
            ));
        }
        let now = now_secs();
        let mut waiting: Vec<&Ticket> = state
            .tickets
            .values()
            .filter(|t| t.queued() && (all || s.session.languages.contains(&t.record.language)))
            .collect();
        waiting.sort_by(|a, b| queue::serving_order(&as_waiting(a), &as_waiting(b)));
        Ok(waiting.into_iter().map(|t| t.entry(now)).collect())
    }

    /// May `account` accept this ticket now? Returns whether it is a
    /// hand-over and to whom it is offered.
    fn check_accept(state: &State, account: u64, ticket_id: u64) -> ServiceResult<(bool, Option<u64>)> {
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

    pub fn decline(&self, account: u64, ticket_id: u64) -> ServiceResult<()> {
        let mut state = self.state.lock();
        Self::require_chat_staff(&state, account)?;
        let now = now_secs();
        let t = state
            .tickets
            .get_mut(&ticket_id)
            .filter(|t| matches!(t.phase, Phase::Offered { account: a, .. } if a == account))
            .ok_or_else(|| err(ErrorCode::UnknownTicket, "no such offer"))?;
        t.phase = Phase::Waiting;
        t.passed.insert(account);
        if let Some(s) = state.staff.get_mut(&account) {
            s.offers.remove(&ticket_id);
        }
        self.dispatch(&mut state, now);
        self.refresh(&mut state, now);
        drop(state);
        self.audit(account, AuditAction::OfferDeclined, Some(ticket_id), None);
        Ok(())
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
    fn chat_of(state: &State, account: u64, group_id: &[u8]) -> ServiceResult<u64> {
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

    /// Why a chat's counsellor cannot answer it now, if she cannot.
    fn stranded(state: &State, t: &Ticket) -> Option<StrandedReason> {
        t.record.group_id.as_ref()?;
        let account = t.record.counsellor?;
        match state.staff.get(&account) {
            None => Some(StrandedReason::Offline),
            Some(s) if s.connection.is_none() => Some(StrandedReason::Offline),
            Some(s) if s.shift == ShiftState::ClockedOut => Some(StrandedReason::ClockedOut),
            Some(_) => None,
        }
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

    async fn move_chat(
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

    pub fn board(&self, account: u64) -> ServiceResult<Response> {
        let state = self.state.lock();
        let s = Self::staffer(&state, account)?;
        if !matches!(s.session.role, StaffRole::Supervisor | StaffRole::Admin) {
            return Err(err(ErrorCode::Forbidden, "the board is for supervisors"));
        }
        let (depth, longest) = depth_of(&state, now_secs());
        let mut staff: Vec<BoardRow> = state
            .staff
            .values()
            .filter(|s| on_shift(s.shift) || !s.chats.is_empty())
            .map(|s| BoardRow {
                account_id: s.session.account_id,
                display_name: s.session.display_name.clone(),
                role: s.session.role,
                shift: s.shift,
                connected: s.connection.is_some(),
                active_chats: s.chats.len() as u32,
                max_chats: s.session.max_chats,
            })
            .collect();
        staff.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        let mut stranded: Vec<StrandedChat> = state
            .tickets
            .values()
            .filter_map(|t| {
                let reason = Self::stranded(&state, t)?;
                let counsellor_account = t.record.counsellor?;
                let counsellor = state
                    .staff
                    .get(&counsellor_account)
                    .map(|s| s.session.display_name.clone())
                    .or_else(|| t.record.counsellor_badge.as_ref().map(|b| b.display_name.clone()))
                    .unwrap_or_default();
                Some(StrandedChat {
                    ticket_id: t.record.id,
                    group_id: Bytes(t.record.group_id.as_ref()?.to_vec()),
                    language: t.record.language.clone(),
                    counsellor,
                    counsellor_account,
                    reason,
                })
            })
            .collect();
        stranded.sort_by_key(|c| c.ticket_id);
        Ok(Response::Board {
            queue_depth: depth,
            longest_wait_secs: longest,
            staff,
            stranded,
            open_escalations: self.open_escalations.load(std::sync::atomic::Ordering::Relaxed),
        })
    }

    pub fn team_messages(&self, account: u64) -> ServiceResult<Vec<TeamMessage>> {
        let state = self.state.lock();
        Self::require_chat_staff(&state, account)?;
        Ok(team_list(&state.team_messages))
    }

    pub async fn take_team_message(&self, account: u64, group_id: Vec<u8>) -> ServiceResult<()> {
        {
            let mut state = self.state.lock();
            Self::require_chat_staff(&state, account)?;
            let before = state.team_messages.len();
            state.team_messages.retain(|t| t.group_id != group_id);
            state.team_groups.remove(&group_id);
            if state.team_messages.len() == before {
                return Err(err(
                    ErrorCode::UnknownGroup,
                    "no such team message (perhaps a colleague took it)",
                ));
            }
            let list = team_list(&state.team_messages);
            for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
                s.push(ServerMessage::TeamMessagesWaiting { messages: list.clone() });
            }
        }
        self.store.delete_team_message(&group_id)?;
        self.audit(account, AuditAction::TeamMessageTaken, None, None);
        self.flush().await
    }

    /// Whether a client key belongs to staff (their key packages are not
    /// for anonymous claims).
    pub fn is_staff_client(&self, client: &ClientId) -> bool {
        self.state.lock().staff_clients.contains_key(client)
    }

    /// The account a staff key belongs to.
    pub fn staff_account_of(&self, client: &ClientId) -> Option<u64> {
        self.state.lock().staff_clients.get(client).copied()
    }

    /// Every second: expired offers move on, abandoned tickets close,
    /// expired blocks end.
    pub fn tick(&self) {
        let now = now_secs();
        let abandoned: Vec<u64> = {
            let mut state = self.state.lock();
            let expired: Vec<(u64, u64)> = state
                .tickets
                .values()
                .filter_map(|t| match t.phase {
                    Phase::Offered { account, deadline } if deadline <= now => Some((t.record.id, account)),
                    _ => None,
                })
                .collect();
            for (id, account) in expired {
                if let Some(t) = state.tickets.get_mut(&id) {
                    t.phase = Phase::Waiting;
                    t.passed.insert(account);
                }
                if let Some(s) = state.staff.get_mut(&account) {
                    s.offers.remove(&id);
                    s.push(ServerMessage::OfferWithdrawn { ticket_id: id });
                }
                self.audit(account, AuditAction::OfferExpired, Some(id), None);
                tracing::info!("offer expired");
            }
            state.blocks.retain(|_, until| *until > now);
            self.source_blocks.expire(now);
            state.feedback_due.retain(|_, until| *until > now);
            // One entry per open ticket at most: ended tickets' go.
            let State { sos_seen, tickets, .. } = &mut *state;
            sos_seen.retain(|id, _| tickets.contains_key(id));
            let grace = self.config.gone_visitor_grace_secs;
            let gone_too_long = |t: &Ticket| t.gone_since.is_some_and(|since| now.saturating_sub(since) >= grace);
            let abandoned = state
                .tickets
                .values()
                .filter(|t| t.waiting() && t.record.group_id.is_none() && gone_too_long(t))
                .map(|t| t.record.id)
                .collect();
            let left: Vec<u64> = state
                .tickets
                .values()
                .filter(|t| t.told == VisitorPresence::Reconnecting && gone_too_long(t))
                .map(|t| t.record.id)
                .collect();
            for id in left {
                self.tell_presence(&mut state, id, VisitorPresence::Left);
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
            abandoned
        };
        for id in abandoned {
            if self.end_ticket(id, ClosedReason::Abandoned, None).is_err() {
                tracing::error!("closing an abandoned ticket failed");
            }
        }
    }

    // ----------------------------------------------------------------- helpers

    /// Remove a ticket for good (its group, if any, is already closed).
    fn end_ticket(&self, id: u64, reason: ClosedReason, tag: Option<String>) -> ServiceResult<()> {
        let now = now_secs();
        {
            let mut state = self.state.lock();
            let Some(t) = state.tickets.remove(&id) else {
                return Ok(());
            };
            if let (Some(tag), Some(accepted_at)) = (&tag, t.record.accepted_at) {
                let summary = ChatSummary {
                    day: crate::stats::Day::from_unix_secs(t.record.created_at),
                    topic: &t.record.topic,
                    language: &t.record.language,
                    wait_secs: accepted_at.saturating_sub(t.record.created_at),
                    transferred: t.record.transfers > 0,
                    escalated: t.record.escalated,
                    closing_tag: tag,
                };
                if self.stats.record_chat(&summary).is_err() {
                    tracing::error!("recording chat statistics failed");
                }
            }
            let chatted = reason == ClosedReason::Closed && t.record.accepted_at.is_some();
            if chatted && state.feedback_due.len() < self.config.max_open_tickets {
                state.feedback_due.insert(t.record.visitor, now + FEEDBACK_WINDOW_SECS);
            }
            state.by_visitor.remove(&t.record.visitor);
            state.by_resume.remove(&t.record.resume_hash);
            if let Some(g) = &t.record.group_id {
                state.by_group.remove(g.as_slice());
            }
            for s in state.staff.values_mut() {
                s.offers.remove(&id);
                s.chats.remove(&id);
            }
            if let Phase::Offered { account, .. } = t.phase {
                s_push(&state, account, ServerMessage::OfferWithdrawn { ticket_id: id });
            }
            if let (Some(account), Some(g)) = (t.record.counsellor, &t.record.group_id) {
                if reason != ClosedReason::Closed {
                    s_push(
                        &state,
                        account,
                        ServerMessage::ChatEnded {
                            group_id: Bytes(g.to_vec()),
                            ticket_id: id,
                        },
                    );
                }
            }
            if let Some((_, tx)) = state.visitors.get(&t.record.visitor) {
                let _ = tx.try_send(Box::new(ServerMessage::TicketUpdate {
                    ticket: TicketState {
                        ticket_id: id,
                        status: TicketStatus::Closed { reason },
                        resume_secret: None,
                        resume_grace_secs: self.grace(),
                    },
                }));
            }
            self.dispatch(&mut state, now);
            self.refresh(&mut state, now);
        }
        self.store.delete_ticket(id)?;
        Ok(())
    }

    fn grace(&self) -> u32 {
        self.config.resume_grace_secs.min(u64::from(u32::MAX)) as u32
    }

    /// Offer waiting tickets, in serving order, to whoever can take them.
    fn dispatch(&self, state: &mut State, now: u64) {
        let mut ids: Vec<(u64, bool, bool, u64, String)> = state
            .tickets
            .values()
            .filter(|t| t.phase == Phase::Waiting && t.gone_since.is_none())
            .map(|t| {
                (
                    t.record.id,
                    t.record.handover,
                    t.record.urgent,
                    t.record.arrival,
                    t.record.language.clone(),
                )
            })
            .collect();
        ids.sort_by(|a, b| {
            queue::serving_order(
                &queue::Waiting {
                    ticket_id: a.0,
                    language: &a.4,
                    handover: a.1,
                    urgent: a.2,
                    arrival: a.3,
                },
                &queue::Waiting {
                    ticket_id: b.0,
                    language: &b.4,
                    handover: b.1,
                    urgent: b.2,
                    arrival: b.3,
                },
            )
        });
        for (id, _, _, _, language) in ids {
            let choice = {
                let cs = candidates(state);
                let passed = &state.tickets[&id].passed;
                match routing::choose(&cs, &language, passed) {
                    routing::Choice::AllPassed => routing::choose(&cs, &language, &HashSet::new()),
                    c => c,
                }
            };
            let routing::Choice::Offer(account) = choice else {
                continue;
            };
            let deadline = now + self.config.offer_timeout_secs;
            let t = state.tickets.get_mut(&id).expect("listed");
            if !t.passed.is_empty() && t.passed.contains(&account) {
                t.passed.clear(); // everyone passed: go round again
            }
            t.phase = Phase::Offered { account, deadline };
            let entry = t.entry(now);
            let s = state.staff.get_mut(&account).expect("a candidate");
            s.offers.insert(id);
            s.push(ServerMessage::Offer {
                ticket: entry,
                expires_in_secs: self.config.offer_timeout_secs.min(u64::from(u32::MAX)) as u32,
            });
        }
    }

    /// Push every changed position, and the queue depth to staff on shift.
    fn refresh(&self, state: &mut State, now: u64) {
        let mut waiting: Vec<queue::Waiting<'_>> =
            state.tickets.values().filter(|t| t.queued()).map(as_waiting).collect();
        queue::sort(&mut waiting);
        let positions = queue::positions(&waiting);
        let mut counsellors: HashMap<&str, usize> = HashMap::new();
        for s in state
            .staff
            .values()
            .filter(|s| s.takes_chats() && s.connection.is_some() && s.shift == ShiftState::Available)
        {
            for l in &s.session.languages {
                *counsellors.entry(l.as_str()).or_default() += 1;
            }
        }
        let mut changed = Vec::new();
        for (id, position) in positions {
            let t = &state.tickets[&id];
            let estimate = queue::estimate_wait_secs(
                position,
                state.secs_per_position,
                counsellors.get(t.record.language.as_str()).copied().unwrap_or(0),
            );
            if t.last_pushed != Some((position, estimate)) {
                changed.push((id, position, estimate));
            }
        }
        drop(counsellors);
        for (id, position, estimate) in changed {
            let t = state.tickets.get_mut(&id).expect("listed");
            t.last_pushed = Some((position, estimate));
            let visitor = t.record.visitor;
            if let Some((_, tx)) = state.visitors.get(&visitor) {
                let _ = tx.try_send(Box::new(ServerMessage::TicketUpdate {
                    ticket: TicketState {
                        ticket_id: id,
                        status: TicketStatus::Waiting {
                            position,
                            estimated_wait_secs: estimate,
                        },
                        resume_secret: None,
                        resume_grace_secs: self.grace(),
                    },
                }));
            }
        }
        let depth = depth_of(state, now);
        self.metrics.queue_depth.set(i64::from(depth.0));
        for shift in crate::metrics::ShiftState::ALL {
            let n = state
                .staff
                .values()
                .filter(|s| s.connection.is_some() && shift.as_str() == shift_name(s.shift))
                .count();
            self.metrics
                .staff_on_shift
                .get_or_create(&crate::metrics::ShiftLabels { state: *shift })
                .set(n as i64);
        }
        self.metrics.longest_wait_seconds.set(i64::from(depth.1));
        if state.last_depth.map(|d| d.0) != Some(depth.0) {
            state.last_depth = Some(depth);
            for s in state.staff.values().filter(|s| on_shift(s.shift) && s.takes_chats()) {
                s.push(ServerMessage::QueueChanged {
                    depth: depth.0,
                    longest_wait_secs: depth.1,
                });
            }
        }
    }

    fn status_of(&self, state: &State, id: u64) -> TicketStatus {
        let t = &state.tickets[&id];
        if t.waiting() {
            let (position, estimate) = t.last_pushed.unwrap_or((1, 0));
            return TicketStatus::Waiting {
                position,
                estimated_wait_secs: estimate,
            };
        }
        // The live session's badge, or the one stored when the chat was
        // assigned: after a restart the visitor learns it is in its chat
        // before its counsellor is back.
        let badge = t
            .record
            .counsellor
            .and_then(|a| state.staff.get(&a))
            .map(|s| s.session.badge.clone())
            .or_else(|| t.record.counsellor_badge.clone());
        match (&t.record.group_id, badge) {
            (Some(g), Some(counsellor)) => TicketStatus::InChat {
                group_id: Bytes(g.to_vec()),
                counsellor,
                transferred: t.record.transfers > 0,
                add_counsellor: t.record.pending_add.as_ref().and_then(|p| {
                    state.staff.get(&p.account).map(|s| CounsellorToAdd {
                        badge: s.session.badge.clone(),
                        key_package: Bytes(p.key_package.clone()),
                    })
                }),
                responders: t.record.responder_badges.clone(),
                rescued: t.rescued && t.record.pending_add.is_some(),
            },
            // Accepted, the group not made yet: still waiting, as far as the
            // visitor can tell.
            _ => TicketStatus::Waiting {
                position: 1,
                estimated_wait_secs: 0,
            },
        }
    }

    fn ticket_state(&self, state: &State, id: u64, secret: Option<&[u8]>) -> TicketState {
        TicketState {
            ticket_id: id,
            status: self.status_of(state, id),
            resume_secret: secret.map(|s| Bytes(s.to_vec())),
            resume_grace_secs: self.grace(),
        }
    }

    /// Push a ticket's full state to its visitor, if connected.
    fn push_ticket(&self, state: &State, id: u64) {
        let Some(t) = state.tickets.get(&id) else { return };
        if let Some((_, tx)) = state.visitors.get(&t.record.visitor) {
            let _ = tx.try_send(Box::new(ServerMessage::TicketUpdate {
                ticket: self.ticket_state(state, id, None),
            }));
        }
    }

    fn push_readd(&self, state: &State, id: u64) {
        let Some(t) = state.tickets.get(&id) else { return };
        let (Some(readd), Some(g), Some(account)) = (&t.record.pending_readd, &t.record.group_id, readd_by(state, t))
        else {
            return;
        };
        s_push(
            state,
            account,
            ServerMessage::ReaddVisitor {
                group_id: Bytes(g.to_vec()),
                old_client: Bytes(readd.old_client.to_vec()),
                key_package: Bytes(readd.key_package.clone()),
            },
        );
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

fn s_push(state: &State, account: u64, msg: ServerMessage) {
    if let Some(s) = state.staff.get(&account) {
        s.push(msg);
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
