//! The intake, from the client's side: a visitor asks for a chat and
//! follows its ticket; staff set their shift, take tickets, transfer,
//! hand over and close chats.
//!
//! The server routes and enforces (who may add whom to a chat); the MLS
//! work stays here. Three things the server asks of a client arrive as
//! pushes, and the chat is stuck until they are done, so the client keeps
//! them as *duties* and does them as soon as it can (inside `next_event` /
//! `next_notice` with [`ClientConfig::auto_intake`](crate::ClientConfig),
//! or when the app calls [`Client::perform_intake_duties`]):
//!
//! * visitor: `ticket_update` with `in_chat { add_counsellor }` — check the
//!   server's badge and that the key package is the badge holder's, then
//!   commit the Add. No one joins a visitor's chat on the server's word
//!   alone;
//! * staff: `chat_assigned { remove_previous }` — once the visitor's client
//!   has added me, remove the colleague I replace;
//! * staff: `readd_visitor` — the visitor came back with a new key: remove
//!   its old leaf and add the new one in one commit;
//! * any member: `remove_revoked_members` — a staff account in the group
//!   was disabled or reset: remove its leaves;
//! * visitor: `counsellor_reconnected` — my counsellor lost her state and
//!   came back with a new key: check its badge (valid, the same name and
//!   role as my counsellor's), then add it and remove the old leaf in one
//!   commit.

use std::time::Duration;

use parasol_protocol::{
    verify_tagged_attestation, BoardRow, Bytes, ClosedReason, CounsellorToAdd, ErrorCode, Help, OpeningWindow,
    PowChallenge, PowSolution, QueueEntry, Request, Response, ServerMessage, ShiftState, StaffBadge, StaffRole,
    TicketState, TicketStatus,
};
use tokio::time::Instant;

use crate::client::Client;
use crate::connection::unexpected;
use crate::error::{BadgeError, ClientError};
use crate::event::Event;
use crate::identity::ClientId;
use crate::mls::CommitOp;

/// Hardest proof-of-work puzzle this client solves (about 2^24 hashes, a
/// few seconds). The server asks for far less; a server asking for more
/// would freeze the visitor's device, so it is refused instead.
pub const MAX_POW_DIFFICULTY_BITS: u8 = 24;

/// What `intake_info` says: whether the service is open, the choices a
/// visitor has, where else to turn, and the key that signs staff badges.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeInfo {
    pub open: bool,
    pub languages: Vec<String>,
    pub topics: Vec<String>,
    pub closing_tags: Vec<String>,
    pub time_zone: String,
    pub opening_hours: Vec<OpeningWindow>,
    pub help: Help,
    pub attestation_key: [u8; 32],
    /// A puzzle to solve before asking for a chat (intake under pressure).
    pub pow: Option<PowChallenge>,
}

/// My shift after `set_shift`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftStatus {
    pub state: ShiftState,
    pub active_chats: u32,
    /// Chats this request put back in the queue (clocking out with
    /// hand-over).
    pub handed_over: u32,
}

/// A ticket I accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedChat {
    pub ticket: QueueEntry,
    /// The chat's MLS group.
    pub group_id: Vec<u8>,
    /// A chat handed back by a colleague: the visitor's client adds me
    /// (after checking my badge), then I remove the colleague.
    pub handover: bool,
    /// For a new chat: the visitor's client id (the key I added).
    pub visitor: Option<ClientId>,
}

/// A chat I handed to a colleague.
#[derive(Debug, Clone, PartialEq)]
pub struct Transferred {
    pub group_id: Vec<u8>,
    /// The colleague's badge (checked by [`Client::send_handover_note`]).
    pub to: StaffBadge,
    /// One of the colleague's key packages, to seal a hand-over note.
    pub note_key_package: Vec<u8>,
}

/// The supervisor board: no content, only load.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub queue_depth: u32,
    pub longest_wait_secs: u32,
    pub staff: Vec<BoardRow>,
    /// Chats whose counsellor is offline or clocked out with them open.
    pub stranded: Vec<parasol_protocol::StrandedChat>,
    pub open_escalations: u32,
}

/// A counsellor whose badge verified and whose key is in my chat: what a
/// visitor's app may show as "verified counsellor".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCounsellor {
    pub display_name: String,
    pub role: StaffRole,
    pub client_id: ClientId,
    pub expires_at: u64,
}

/// Check a staff badge against the server's attestation key at `now`
/// (Unix seconds): the key it names, or why it does not hold.
pub fn verify_badge(attestation_key: &[u8; 32], badge: &StaffBadge, now: u64) -> Result<ClientId, BadgeError> {
    let key: ClientId = badge
        .signature_key
        .0
        .as_slice()
        .try_into()
        .map_err(|_| BadgeError::Malformed)?;
    let signature: [u8; 64] = badge
        .attestation
        .0
        .as_slice()
        .try_into()
        .map_err(|_| BadgeError::Malformed)?;
    if badge.expires_at <= now {
        return Err(BadgeError::Expired);
    }
    if !verify_tagged_attestation(
        attestation_key,
        &key,
        badge.role,
        &badge.display_name,
        badge.expires_at,
        &badge.account_tag.0,
        &signature,
        now,
    ) {
        return Err(BadgeError::BadAttestation);
    }
    Ok(key)
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Something the intake asked of this client that must wait until it is
/// a member of the group.
#[derive(Debug, Clone)]
pub(crate) enum Duty {
    /// Visitor: add the counsellor my chat was handed to.
    AddCounsellor { group_id: Vec<u8>, add: CounsellorToAdd },
    /// Staff: remove the colleague I replace, once I am in.
    RemovePrevious { group_id: Vec<u8>, previous: ClientId },
    /// Staff: replace the visitor's lost key with its new one.
    Readd {
        group_id: Vec<u8>,
        old: ClientId,
        key_package: Vec<u8>,
    },
    /// Staff: add the crisis responder who accepted my escalation.
    AddResponder {
        group_id: Vec<u8>,
        responder: StaffBadge,
        key_package: Vec<u8>,
    },
    /// Any member: remove the leaves of a revoked staff account.
    RemoveRevoked { group_id: Vec<u8>, clients: Vec<ClientId> },
    /// Visitor: bring my counsellor's new key in, removing the old one.
    Reconnected {
        group_id: Vec<u8>,
        old: ClientId,
        key_package: Vec<u8>,
        badge: StaffBadge,
    },
}

impl Duty {
    fn group_id(&self) -> &[u8] {
        match self {
            Duty::AddCounsellor { group_id, .. }
            | Duty::RemovePrevious { group_id, .. }
            | Duty::Readd { group_id, .. }
            | Duty::AddResponder { group_id, .. }
            | Duty::RemoveRevoked { group_id, .. }
            | Duty::Reconnected { group_id, .. } => group_id,
        }
    }

    fn same_kind(&self, other: &Duty) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.group_id() == other.group_id()
    }
}

/// The client's intake state. In memory only: the server sends every
/// ticket state again on reconnect, and the resume secret is short-lived
/// (an app that wants to survive a reload keeps it itself).
#[derive(Debug, Default)]
pub(crate) struct IntakeState {
    attestation_key: Option<[u8; 32]>,
    /// My ticket as last heard (without its secret).
    ticket: Option<TicketState>,
    /// The group of my chat, once there was one. Kept while a hand-over
    /// shows the ticket as waiting again: the group lives on meanwhile.
    group: Option<Vec<u8>>,
    resume_secret: Option<Vec<u8>>,
    duties: Vec<Duty>,
    /// Typed while waiting; sent once the chat exists.
    first_messages: Vec<String>,
}

impl IntakeState {
    fn add_duty(&mut self, duty: Duty) {
        // A push is a whole current state: the newest request replaces an
        // older one of the same kind for the same chat.
        self.duties.retain(|d| !d.same_kind(&duty));
        self.duties.push(duty);
    }

    fn drop_duties(&mut self, group: &[u8]) {
        self.duties.retain(|d| d.group_id() != group);
    }

    fn chat_group(&self) -> Option<&[u8]> {
        match self.ticket.as_ref().map(|t| &t.status) {
            Some(TicketStatus::InChat { group_id, .. }) => Some(&group_id.0),
            _ => None,
        }
    }
}

fn client_id_of(bytes: &[u8]) -> Option<ClientId> {
    bytes.try_into().ok()
}

/// Whether a failed duty may succeed later (the connection, not the
/// request, was the problem).
fn transient(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Closed { .. } | ClientError::Connection(_) | ClientError::Timeout(_)
    ) || e.server_code() == Some(ErrorCode::ShuttingDown)
}

impl Client {
    // ----- pushes ----------------------------------------------------------

    /// Bookkeeping for an intake push (no I/O): track my ticket and note
    /// what the push asks of me.
    pub(crate) fn note_intake_push(&mut self, notice: &ServerMessage) -> Result<(), ClientError> {
        match notice {
            ServerMessage::TicketUpdate { ticket } => self.track_ticket(ticket.clone())?,
            ServerMessage::ChatAssigned {
                group_id,
                remove_previous: Some(previous),
                ..
            } => match client_id_of(&previous.0) {
                Some(previous) if previous != self.client_id() => self.intake.add_duty(Duty::RemovePrevious {
                    group_id: group_id.0.clone(),
                    previous,
                }),
                _ => tracing::warn!("chat_assigned names no usable colleague to remove"),
            },
            ServerMessage::ReaddVisitor {
                group_id,
                old_client,
                key_package,
            } => match client_id_of(&old_client.0) {
                Some(old) => self.intake.add_duty(Duty::Readd {
                    group_id: group_id.0.clone(),
                    old,
                    key_package: key_package.0.clone(),
                }),
                None => tracing::warn!("readd_visitor names no usable old key"),
            },
            ServerMessage::AddResponder {
                group_id,
                responder,
                key_package,
                ..
            } => self.intake.add_duty(Duty::AddResponder {
                group_id: group_id.0.clone(),
                responder: responder.clone(),
                key_package: key_package.0.clone(),
            }),
            ServerMessage::RemoveRevokedMembers { group_id, clients } => {
                let clients: Vec<ClientId> = clients.iter().filter_map(|c| client_id_of(&c.0)).collect();
                let me = self.client_id();
                if !clients.is_empty() && !clients.contains(&me) {
                    self.intake.add_duty(Duty::RemoveRevoked {
                        group_id: group_id.0.clone(),
                        clients,
                    });
                }
            }
            ServerMessage::CounsellorReconnected {
                group_id,
                old_client,
                key_package,
                badge,
            } => match client_id_of(&old_client.0) {
                Some(old) => self.intake.add_duty(Duty::Reconnected {
                    group_id: group_id.0.clone(),
                    old,
                    key_package: key_package.0.clone(),
                    badge: badge.clone(),
                }),
                None => tracing::warn!("counsellor_reconnected names no usable old key"),
            },
            ServerMessage::ChatEnded { group_id, .. } | ServerMessage::CircleEnded { group_id, .. } => {
                // The server closed the group and purged its envelopes;
                // its keys are of no more use here.
                self.intake.drop_duties(&group_id.0);
                if self.state.mls.knows_group(&group_id.0) {
                    self.state.mls.discard_group(&group_id.0);
                    self.state.save()?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn track_ticket(&mut self, mut ticket: TicketState) -> Result<(), ClientError> {
        if let Some(secret) = ticket.resume_secret.take() {
            self.intake.resume_secret = Some(secret.0);
        }
        match &ticket.status {
            TicketStatus::InChat {
                group_id,
                add_counsellor: Some(add),
                ..
            } => {
                self.intake.group = Some(group_id.0.clone());
                self.intake.add_duty(Duty::AddCounsellor {
                    group_id: group_id.0.clone(),
                    add: add.clone(),
                });
            }
            TicketStatus::InChat { group_id, .. } => {
                // Nothing (more) to add in this chat.
                let group = group_id.0.clone();
                self.intake.group = Some(group.clone());
                self.intake
                    .duties
                    .retain(|d| !matches!(d, Duty::AddCounsellor { group_id, .. } if *group_id == group));
            }
            TicketStatus::Closed { .. } => {
                // The server deleted the chat and purged its envelopes;
                // drop its keys too, and the secret that reclaimed it.
                if let Some(group) = self.intake.group.take() {
                    if self.state.mls.knows_group(&group) {
                        self.state.mls.discard_group(&group);
                        self.state.save()?;
                    }
                }
                self.intake.duties.clear();
                self.intake.first_messages.clear();
                self.intake.resume_secret = None;
            }
            TicketStatus::Waiting { .. } => {}
        }
        self.intake.ticket = Some(ticket);
        Ok(())
    }

    /// Do what the intake asked of me and can be done now (see the module
    /// docs). Returns how many duties were done. A duty that cannot succeed
    /// (a badge that does not verify, a refusal) is dropped and reported as
    /// an [`Event::Error`] naming the group; one that failed for lack of a
    /// connection stays for the next call.
    pub async fn perform_intake_duties(&mut self) -> usize {
        let mut done = 0;
        if self.connection().is_some() {
            let duties = std::mem::take(&mut self.intake.duties);
            let mut keep = Vec::new();
            for duty in duties {
                if self.state.mls.epoch(duty.group_id()).is_err() {
                    keep.push(duty); // not (yet, or again) in the group
                    continue;
                }
                let result = match &duty {
                    Duty::AddCounsellor { group_id, add } => self.add_counsellor(group_id, add).await,
                    Duty::RemovePrevious { group_id, previous } => {
                        self.remove_previous_counsellor(group_id, previous).await
                    }
                    Duty::Readd {
                        group_id,
                        old,
                        key_package,
                    } => self.readd_visitor(group_id, old, key_package).await,
                    Duty::AddResponder {
                        group_id,
                        responder,
                        key_package,
                    } => self.add_responder(group_id, responder, key_package).await,
                    Duty::RemoveRevoked { group_id, clients } => self.remove_revoked(group_id, clients).await,
                    Duty::Reconnected {
                        group_id,
                        old,
                        key_package,
                        badge,
                    } => self.bring_counsellor_back(group_id, old, key_package, badge).await,
                };
                match result {
                    Ok(_) => done += 1,
                    Err(e) if transient(&e) => keep.push(duty),
                    Err(e) => {
                        tracing::warn!(error = %e, "an intake duty failed");
                        self.state.push_event(Event::Error {
                            seq: None,
                            group_id: Some(duty.group_id().to_vec()),
                            code: e.server_code(),
                            message: format!("intake: {e}"),
                        });
                    }
                }
            }
            // Keep what waits, plus anything new that arrived meanwhile.
            for duty in keep {
                if !self.intake.duties.iter().any(|d| d.same_kind(&duty)) {
                    self.intake.duties.push(duty);
                }
            }
        }
        done + self.send_first_messages().await
    }

    /// Requests of the intake not done yet (for diagnostics and tests).
    pub fn pending_intake_duties(&self) -> usize {
        self.intake.duties.len()
    }

    // ----- shared ----------------------------------------------------------

    /// Opening hours, choices, crisis lines and the attestation key (kept
    /// to check badges). Anyone may ask, staff too.
    pub async fn intake_info(&mut self) -> Result<IntakeInfo, ClientError> {
        match self.request(Request::IntakeInfo).await? {
            Response::IntakeInfo {
                open,
                languages,
                topics,
                closing_tags,
                time_zone,
                opening_hours,
                help,
                attestation_key,
                pow,
            } => {
                let key: [u8; 32] = attestation_key
                    .0
                    .as_slice()
                    .try_into()
                    .map_err(|_| ClientError::InvalidBadge(BadgeError::Malformed))?;
                if self.config().attestation_key.is_some_and(|pinned| pinned != key) {
                    return Err(ClientError::InvalidBadge(BadgeError::AttestationKeyMismatch));
                }
                self.intake.attestation_key = Some(key);
                Ok(IntakeInfo {
                    open,
                    languages,
                    topics,
                    closing_tags,
                    time_zone,
                    opening_hours,
                    help,
                    attestation_key: key,
                    pow,
                })
            }
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn ensure_attestation_key(&mut self) -> Result<(), ClientError> {
        if self.intake.attestation_key.is_none() && self.config().attestation_key.is_none() {
            self.intake_info().await?;
        }
        Ok(())
    }

    /// Check a badge with the pinned attestation key, or the one from
    /// `intake_info`. Returns the key it vouches for.
    pub fn verify_badge(&self, badge: &StaffBadge) -> Result<ClientId, ClientError> {
        let key = self
            .config()
            .attestation_key
            .or(self.intake.attestation_key)
            .ok_or(ClientError::InvalidBadge(BadgeError::NoAttestationKey))?;
        verify_badge(&key, badge, now_secs()).map_err(ClientError::InvalidBadge)
    }

    /// Check a badge and that `key_package` is its holder's (credential =
    /// signature key = the badge's key).
    pub(crate) async fn badge_key_package(
        &mut self,
        badge: &StaffBadge,
        key_package: &[u8],
    ) -> Result<openmls::prelude::KeyPackage, ClientError> {
        self.ensure_attestation_key().await?;
        let key = self.verify_badge(badge)?;
        let (kp, owner) = self.state.mls.parse_key_package(key_package)?;
        if owner != key {
            return Err(ClientError::InvalidBadge(BadgeError::KeyPackageMismatch));
        }
        Ok(kp)
    }

    // ----- visitors ----------------------------------------------------------

    /// Ask for a chat. Carries fresh one-time key packages (the counsellor
    /// who accepts adds me with one; last-resort packages are refused for
    /// tickets, since a chat must not reuse keys). Solves the server's
    /// proof-of-work puzzle when intake is under pressure, and once more if
    /// the answer is `pow_required`. Other refusals come back as
    /// [`ClientError::Server`] with [`ClientError::refusal`] details (retry
    /// time, crisis lines).
    pub async fn request_chat(
        &mut self,
        language: &str,
        topic: &str,
        urgent: bool,
    ) -> Result<TicketState, ClientError> {
        let info = self.intake_info().await?;
        let key_packages = self.fresh_ticket_key_packages()?;
        let mut pow = match info.pow {
            Some(puzzle) => Some(self.solve_pow(puzzle).await?),
            None => None,
        };
        let mut solved_again = false;
        loop {
            let req = Request::RequestChat {
                language: language.to_string(),
                topic: topic.to_string(),
                urgent,
                key_packages: key_packages.clone(),
                pow: pow.take(),
            };
            match self.request(req).await {
                Ok(Response::Ticket { ticket }) => {
                    self.track_ticket(ticket.clone())?;
                    return Ok(ticket);
                }
                Ok(other) => return Err(unexpected(&other)),
                Err(e) if e.server_code() == Some(ErrorCode::PowRequired) && !solved_again => {
                    let Some(puzzle) = e.refusal().and_then(|d| d.pow.clone()) else {
                        return Err(e);
                    };
                    solved_again = true;
                    pow = Some(self.solve_pow(puzzle).await?);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn fresh_ticket_key_packages(&mut self) -> Result<Vec<Bytes>, ClientError> {
        let n = self.config().ticket_key_packages.max(1);
        let kps = self.state.mls.generate_key_packages(n, false)?;
        // The private keys must be durable before the packages leave.
        self.state.save()?;
        Ok(kps.into_iter().map(Bytes).collect())
    }

    async fn solve_pow(&self, puzzle: PowChallenge) -> Result<PowSolution, ClientError> {
        if puzzle.difficulty_bits > MAX_POW_DIFFICULTY_BITS {
            return Err(ClientError::Protocol(format!(
                "proof-of-work puzzle of {} bits is beyond this client's limit",
                puzzle.difficulty_bits
            )));
        }
        let id = self.client_id();
        let challenge = puzzle.challenge.clone();
        // Hashing is CPU work: keep it off the async threads.
        let nonce = tokio::task::spawn_blocking(move || parasol_protocol::solve_pow(&puzzle, &id))
            .await
            .map_err(|e| ClientError::Protocol(format!("proof of work failed: {e}")))?;
        Ok(PowSolution { challenge, nonce })
    }

    /// Give up my ticket (and end its chat, if it has one).
    pub async fn cancel_ticket(&mut self) -> Result<(), ClientError> {
        let ticket = self
            .intake
            .ticket
            .clone()
            .ok_or_else(|| ClientError::InvalidInput("no ticket to cancel".into()))?;
        match self
            .request(Request::CancelTicket {
                ticket_id: ticket.ticket_id,
            })
            .await?
        {
            Response::TicketCancelled { .. } => self.track_ticket(TicketState {
                status: TicketStatus::Closed {
                    reason: ClosedReason::Cancelled,
                },
                ..ticket
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Reclaim a ticket with its resume secret, from this connection. A
    /// client that does not know the ticket (a new identity: the page was
    /// reloaded and the MLS state is gone) sends fresh key packages, so the
    /// counsellor can re-add it to the chat. The answer carries a new
    /// secret; the old one stops working.
    pub async fn resume_ticket(&mut self, secret: &[u8]) -> Result<TicketState, ClientError> {
        self.ensure_attestation_key().await?;
        let key_packages = if self.intake.ticket.is_none() {
            self.fresh_ticket_key_packages()?
        } else {
            Vec::new()
        };
        match self
            .request(Request::ResumeTicket {
                resume_secret: Bytes(secret.to_vec()),
                key_packages,
            })
            .await?
        {
            Response::Ticket { ticket } => {
                self.track_ticket(ticket.clone())?;
                Ok(ticket)
            }
            other => Err(unexpected(&other)),
        }
    }

    /// My ticket as last heard from the server (its secret removed).
    pub fn ticket(&self) -> Option<&TicketState> {
        self.intake.ticket.as_ref()
    }

    /// The current resume secret of my ticket.
    pub fn resume_secret(&self) -> Option<&[u8]> {
        self.intake.resume_secret.as_deref()
    }

    /// The chat group of my ticket, once a counsellor has opened it.
    pub fn chat_group(&self) -> Option<Vec<u8>> {
        self.intake.chat_group().map(<[u8]>::to_vec)
    }

    /// The counsellor of my chat, if the badge verifies and its key is a
    /// member of the group: what may be shown as "verified counsellor".
    /// `Ok(None)` while there is no chat or I have not joined it yet.
    pub fn chat_counsellor(&self) -> Result<Option<VerifiedCounsellor>, ClientError> {
        let Some(TicketStatus::InChat {
            group_id,
            counsellor,
            add_counsellor,
            ..
        }) = self.intake.ticket.as_ref().map(|t| &t.status)
        else {
            return Ok(None);
        };
        let Ok(members) = self.state.mls.members(&group_id.0) else {
            return Ok(None);
        };
        let key = self.verify_badge(counsellor)?;
        if !members.contains(&key) {
            // Handed to a colleague my client has not added yet: nobody
            // to vouch for until then.
            if add_counsellor.is_some() {
                return Ok(None);
            }
            return Err(ClientError::InvalidBadge(BadgeError::NotInGroup));
        }
        Ok(Some(VerifiedCounsellor {
            display_name: counsellor.display_name.clone(),
            role: counsellor.role,
            client_id: key,
            expires_at: counsellor.expires_at,
        }))
    }

    /// Add the counsellor my chat was handed to (transfer or hand-over):
    /// check the badge against the attestation key and that the key
    /// package is the badge holder's, then commit the Add. Returns the new
    /// epoch. With `auto_intake` this happens by itself on the push.
    pub async fn add_counsellor(&mut self, group: &[u8], add: &CounsellorToAdd) -> Result<u64, ClientError> {
        let kp = self.badge_key_package(&add.badge, &add.key_package.0).await?;
        let epoch = self.commit(group, CommitOp::Add(vec![kp])).await?;
        let gid = group.to_vec();
        self.intake
            .duties
            .retain(|d| !matches!(d, Duty::AddCounsellor { group_id, .. } if *group_id == gid));
        Ok(epoch)
    }

    /// A message typed while waiting: sent as soon as my chat exists and I
    /// am in it (at once if that is now). Kept in memory only.
    pub async fn send_first_message(&mut self, text: &str) -> Result<(), ClientError> {
        self.intake.first_messages.push(text.to_string());
        self.send_first_messages().await;
        Ok(())
    }

    async fn send_first_messages(&mut self) -> usize {
        let Some(group) = self.chat_group() else { return 0 };
        if self.intake.first_messages.is_empty() || self.state.mls.epoch(&group).is_err() {
            return 0;
        }
        let mut sent = 0;
        while let Some(text) = self.intake.first_messages.first().cloned() {
            match self.send_text(&group, &text).await {
                Ok(_) => {
                    self.intake.first_messages.remove(0);
                    sent += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "a first message waits");
                    break;
                }
            }
        }
        sent
    }

    // ----- staff -------------------------------------------------------------

    /// Set my shift state. Clocking out with open chats is refused with
    /// `handover_required` unless `handover` is set, which puts them back
    /// in the queue first in line.
    pub async fn set_shift(&mut self, state: ShiftState, handover: bool) -> Result<ShiftStatus, ClientError> {
        match self.request(Request::SetShift { state, handover }).await? {
            Response::Shift {
                state,
                active_chats,
                handed_over,
            } => Ok(ShiftStatus {
                state,
                active_chats,
                handed_over,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// The waiting tickets I may take, in serving order (no content).
    pub async fn queue_view(&self) -> Result<Vec<QueueEntry>, ClientError> {
        match self.request(Request::QueueView).await? {
            Response::Queue { tickets } => Ok(tickets),
            other => Err(unexpected(&other)),
        }
    }

    /// Take a ticket (offered to me or picked from the queue view). For a
    /// new chat: create the group, attach it to the ticket, and add the
    /// visitor with the key package the server hands over (the server
    /// checks it is the ticket's). For a chat handed back by a colleague:
    /// the visitor's client adds me; once I have joined by its Welcome, I
    /// remove the colleague (a duty, see the module docs; use
    /// [`Client::wait_for_group`] to wait for the join).
    pub async fn accept_ticket(&mut self, ticket_id: u64) -> Result<AcceptedChat, ClientError> {
        match self.request(Request::AcceptTicket { ticket_id }).await? {
            Response::TicketAccepted {
                ticket,
                key_package: Some(kp),
                group_id: None,
            } => {
                let (kp, visitor) = self.state.mls.parse_key_package(&kp.0)?;
                let group = self.create_group().await?;
                let attached = match self
                    .request(Request::AttachChat {
                        ticket_id,
                        group_id: Bytes(group.clone()),
                    })
                    .await
                {
                    Ok(Response::ChatAttached { .. }) => Ok(()),
                    Ok(other) => Err(unexpected(&other)),
                    Err(e) => Err(e),
                };
                if let Err(e) = attached {
                    // Not a chat: its keys are of no use. The ticket stays
                    // mine; clocking out with hand-over puts it back.
                    self.state.mls.discard_group(&group);
                    self.state.save()?;
                    return Err(e);
                }
                self.commit(&group, CommitOp::Add(vec![kp])).await?;
                Ok(AcceptedChat {
                    ticket,
                    group_id: group,
                    handover: false,
                    visitor: Some(visitor),
                })
            }
            Response::TicketAccepted {
                ticket,
                key_package: None,
                group_id: Some(group),
            } => Ok(AcceptedChat {
                ticket,
                group_id: group.0,
                handover: true,
                visitor: None,
            }),
            Response::TicketAccepted { .. } => Err(ClientError::Protocol(
                "an accepted ticket needs either a key package or a group".into(),
            )),
            other => Err(unexpected(&other)),
        }
    }

    /// Pass on an offer; it goes to the next counsellor.
    pub async fn decline_offer(&self, ticket_id: u64) -> Result<(), ClientError> {
        match self.request(Request::DeclineOffer { ticket_id }).await? {
            Response::OfferDeclined { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Hand my chat to a colleague (`to`: an account id), or to the best
    /// available one. The visitor's client adds them, they remove me. Seal
    /// a note to them with [`Client::send_handover_note`].
    pub async fn transfer_chat(&mut self, group: &[u8], to: Option<u64>) -> Result<Transferred, ClientError> {
        match self
            .request(Request::TransferChat {
                group_id: Bytes(group.to_vec()),
                to,
            })
            .await?
        {
            Response::Transferred {
                group_id,
                to,
                note_key_package,
            } => {
                // Whatever I still had to do in this chat is the colleague's now.
                self.intake.drop_duties(&group_id.0);
                Ok(Transferred {
                    group_id: group_id.0,
                    to,
                    note_key_package: note_key_package.0,
                })
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Seal a hand-over note to the colleague a chat went to: a separate
    /// two-member group with them (never the visitor's chat), after
    /// checking their badge and that the key package is theirs. Returns
    /// the note group's id.
    pub async fn send_handover_note(&mut self, transferred: &Transferred, text: &str) -> Result<Vec<u8>, ClientError> {
        let kp = self
            .badge_key_package(&transferred.to, &transferred.note_key_package)
            .await?;
        let group = self.create_group().await?;
        self.commit(&group, CommitOp::Add(vec![kp])).await?;
        self.send_text(&group, text).await?;
        Ok(group)
    }

    /// Remove the colleague I replace in a chat (after a transfer or
    /// hand-over, once I have joined). A no-op if they are gone already.
    pub async fn remove_previous_counsellor(&mut self, group: &[u8], previous: &ClientId) -> Result<u64, ClientError> {
        if *previous == self.client_id() {
            return Err(ClientError::InvalidInput("cannot remove myself with a commit".into()));
        }
        let epoch = self.commit(group, CommitOp::Remove(vec![*previous])).await?;
        let (gid, prev) = (group.to_vec(), *previous);
        self.intake.duties.retain(
            |d| !matches!(d, Duty::RemovePrevious { group_id, previous } if *group_id == gid && *previous == prev),
        );
        Ok(epoch)
    }

    /// Remove the leaves of a staff account the server revoked (disabled,
    /// sessions revoked, password reset). A no-op for those already gone.
    pub async fn remove_revoked(&mut self, group: &[u8], clients: &[ClientId]) -> Result<u64, ClientError> {
        let epoch = self.commit(group, CommitOp::Remove(clients.to_vec())).await?;
        let gid = group.to_vec();
        self.intake
            .duties
            .retain(|d| !matches!(d, Duty::RemoveRevoked { group_id, .. } if *group_id == gid));
        Ok(epoch)
    }

    /// My counsellor came back with a new key (her state was lost): check
    /// the badge is valid, its key package is its holder's, and it names
    /// the same person and role as my chat's counsellor; then add the new
    /// key and remove `old` in one commit. Pushes
    /// [`Event::CounsellorReconnected`].
    pub async fn bring_counsellor_back(
        &mut self,
        group: &[u8],
        old: &ClientId,
        key_package: &[u8],
        badge: &StaffBadge,
    ) -> Result<u64, ClientError> {
        let kp = self.badge_key_package(badge, key_package).await?;
        // The same account: both badges carry its tag (covered by the
        // attestations), the same role and name.
        let same_person = match self.intake.ticket.as_ref().map(|t| &t.status) {
            Some(TicketStatus::InChat {
                group_id, counsellor, ..
            }) if group_id.0 == group => {
                !badge.account_tag.is_empty()
                    && counsellor.account_tag == badge.account_tag
                    && counsellor.display_name == badge.display_name
                    && counsellor.role == badge.role
            }
            _ => false,
        };
        if !same_person {
            return Err(ClientError::InvalidBadge(BadgeError::NotMyCounsellor));
        }
        let epoch = self
            .commit(
                group,
                CommitOp::Replace {
                    remove: vec![*old],
                    add: vec![kp],
                },
            )
            .await?;
        let gid = group.to_vec();
        self.intake
            .duties
            .retain(|d| !matches!(d, Duty::Reconnected { group_id, .. } if *group_id == gid));
        self.state.push_event(Event::CounsellorReconnected {
            group_id: gid,
            display_name: badge.display_name.clone(),
        });
        Ok(epoch)
    }

    /// Re-add my visitor, who came back with a new key: remove the old
    /// leaf and add the new key package in one commit.
    pub async fn readd_visitor(
        &mut self,
        group: &[u8],
        old: &ClientId,
        key_package: &[u8],
    ) -> Result<u64, ClientError> {
        let (kp, _new) = self.state.mls.parse_key_package(key_package)?;
        let epoch = self
            .commit(
                group,
                CommitOp::Replace {
                    remove: vec![*old],
                    add: vec![kp],
                },
            )
            .await?;
        let gid = group.to_vec();
        self.intake
            .duties
            .retain(|d| !matches!(d, Duty::Readd { group_id, .. } if *group_id == gid));
        Ok(epoch)
    }

    /// End a chat with a closing tag (from `intake_info.closing_tags`). The
    /// server deletes the group and purges its envelopes; I drop its keys.
    pub async fn close_chat(&mut self, group: &[u8], tag: &str) -> Result<(), ClientError> {
        match self
            .request(Request::CloseChat {
                group_id: Bytes(group.to_vec()),
                tag: tag.to_string(),
            })
            .await?
        {
            Response::ChatClosed { .. } => {
                self.intake.drop_duties(group);
                self.state.mls.discard_group(group);
                self.state.save()
            }
            other => Err(unexpected(&other)),
        }
    }

    /// Block the visitor of a ticket for `duration_secs` (the reason goes
    /// to the audit log only). Returns when the block ends (Unix seconds).
    pub async fn block_visitor(
        &mut self,
        ticket_id: u64,
        duration_secs: u32,
        reason: &str,
    ) -> Result<u64, ClientError> {
        match self
            .request(Request::BlockVisitor {
                ticket_id,
                duration_secs,
                reason: reason.to_string(),
            })
            .await?
        {
            Response::Blocked { until, .. } => Ok(until),
            other => Err(unexpected(&other)),
        }
    }

    /// The supervisor board.
    pub async fn board(&self) -> Result<Board, ClientError> {
        match self.request(Request::Board).await? {
            Response::Board {
                queue_depth,
                longest_wait_secs,
                staff,
                stranded,
                open_escalations,
            } => Ok(Board {
                queue_depth,
                longest_wait_secs,
                staff,
                stranded,
                open_escalations,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Supervisors: move a stranded chat to colleague `to`, or to me.
    /// Answers the new counsellor's badge; the visitor's client adds them.
    pub async fn rescue_chat(&self, group: &[u8], to: Option<u64>) -> Result<StaffBadge, ClientError> {
        match self
            .request(Request::RescueChat {
                group_id: group.to_vec().into(),
                to,
            })
            .await?
        {
            Response::ChatRescued { to, .. } => Ok(to),
            other => Err(unexpected(&other)),
        }
    }

    /// Visitors: tell the server I am leaving now (`quick_exit`: the
    /// quick-exit button), so my counsellor knows and a waiting ticket is
    /// not offered.
    pub async fn visitor_leaving(&self, quick_exit: bool) -> Result<(), ClientError> {
        match self.request(Request::VisitorLeaving { quick_exit }).await? {
            Response::LeavingNoted => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Process pushes until I am an active member of `group` (joined by
    /// its Welcome), keeping events for `next_event` and notices for
    /// `next_notice`.
    pub async fn wait_for_group(&mut self, group: &[u8], timeout: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + timeout;
        while self.state.mls.epoch(group).is_err() {
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout("joining the group"));
            }
            self.pump_once(deadline).await?;
        }
        Ok(())
    }
}

/// Sealed messages to the team, outside opening hours.
impl Client {
    /// Leave a message for the team while the service is closed: claim one
    /// key package of each counsellor, put them and me in a new group,
    /// send `text` there, and tell the server the group is a team message.
    /// The next counsellor on shift reads it; nobody else can. Returns the
    /// group id.
    pub async fn leave_team_message(&mut self, language: &str, text: &str) -> Result<Vec<u8>, ClientError> {
        Ok(self.leave_team_message_delivered(language, text).await?.0)
    }

    /// [`Client::leave_team_message`], also answering how many current
    /// staff keys it reached (0: nobody on the team can read it).
    pub async fn leave_team_message_delivered(
        &mut self,
        language: &str,
        text: &str,
    ) -> Result<(Vec<u8>, u32), ClientError> {
        let key_packages = match self.request(Request::TeamKeyPackages).await? {
            Response::TeamKeyPackages { key_packages } => key_packages,
            other => return Err(unexpected(&other)),
        };
        let mut members = Vec::with_capacity(key_packages.len());
        for kp in &key_packages {
            let (kp, _owner) = self.state.mls.parse_key_package(&kp.0)?;
            members.push(kp);
        }
        let group = self.create_group().await?;
        self.commit(&group, CommitOp::Add(members)).await?;
        self.send_text(&group, text).await?;
        match self
            .request(Request::LeaveTeamMessage {
                group_id: group.clone().into(),
                language: language.to_string(),
            })
            .await?
        {
            Response::TeamMessageLeft { delivered_to, .. } => Ok((group, delivered_to)),
            other => Err(unexpected(&other)),
        }
    }

    /// Add the owners of these key packages (such as the team's, from
    /// `team_key_packages`) to a group of mine, in one commit.
    pub async fn add_key_packages(&mut self, group: &[u8], key_packages: &[Bytes]) -> Result<u64, ClientError> {
        let mut members = Vec::with_capacity(key_packages.len());
        for kp in key_packages {
            members.push(self.state.mls.parse_key_package(&kp.0)?.0);
        }
        self.commit(group, CommitOp::Add(members)).await
    }

    /// Staff: the sealed messages nobody has taken yet.
    pub async fn team_messages(&self) -> Result<Vec<parasol_protocol::TeamMessage>, ClientError> {
        match self.request(Request::TeamMessages).await? {
            Response::TeamMessages { messages } => Ok(messages),
            other => Err(unexpected(&other)),
        }
    }

    /// Staff: I take this sealed message; it leaves my colleagues' lists.
    pub async fn take_team_message(&self, group: &[u8]) -> Result<(), ClientError> {
        match self
            .request(Request::TakeTeamMessage {
                group_id: group.to_vec().into(),
            })
            .await?
        {
            Response::TeamMessageTaken { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use parasol_protocol::attestation_transcript;

    fn badge(server: &SigningKey, key: [u8; 32], name: &str, expires_at: u64) -> StaffBadge {
        let sig = server.sign(&attestation_transcript(&key, StaffRole::Counsellor, name, expires_at));
        StaffBadge {
            display_name: name.into(),
            role: StaffRole::Counsellor,
            signature_key: Bytes(key.to_vec()),
            expires_at,
            attestation: Bytes(sig.to_bytes().to_vec()),
            account_tag: Bytes::default(),
        }
    }

    #[test]
    fn a_badge_verifies_only_as_signed_and_before_it_expires() {
        let server = SigningKey::from_bytes(&[3; 32]);
        let server_key = server.verifying_key().to_bytes();
        let good = badge(&server, [9; 32], "Ana", 1_000);
        assert_eq!(verify_badge(&server_key, &good, 999), Ok([9; 32]));
        assert_eq!(verify_badge(&server_key, &good, 1_000), Err(BadgeError::Expired));

        let mut renamed = good.clone();
        renamed.display_name = "Ana K".into();
        assert_eq!(
            verify_badge(&server_key, &renamed, 999),
            Err(BadgeError::BadAttestation)
        );
        let mut other_key = good.clone();
        other_key.signature_key = Bytes(vec![8; 32]);
        assert_eq!(
            verify_badge(&server_key, &other_key, 999),
            Err(BadgeError::BadAttestation)
        );
        let mut promoted = good.clone();
        promoted.role = StaffRole::Supervisor;
        assert_eq!(
            verify_badge(&server_key, &promoted, 999),
            Err(BadgeError::BadAttestation)
        );
        let other_server = SigningKey::from_bytes(&[4; 32]).verifying_key().to_bytes();
        assert_eq!(verify_badge(&other_server, &good, 999), Err(BadgeError::BadAttestation));

        let mut short = good.clone();
        short.attestation = Bytes(vec![0; 63]);
        assert_eq!(verify_badge(&server_key, &short, 999), Err(BadgeError::Malformed));
        let mut short_key = good;
        short_key.signature_key = Bytes(vec![9; 31]);
        assert_eq!(verify_badge(&server_key, &short_key, 999), Err(BadgeError::Malformed));
    }

    #[test]
    fn a_newer_duty_replaces_an_older_one_of_its_kind() {
        let mut state = IntakeState::default();
        state.add_duty(Duty::RemovePrevious {
            group_id: b"g".to_vec(),
            previous: [1; 32],
        });
        state.add_duty(Duty::Readd {
            group_id: b"g".to_vec(),
            old: [2; 32],
            key_package: vec![1],
        });
        state.add_duty(Duty::RemovePrevious {
            group_id: b"g".to_vec(),
            previous: [3; 32],
        });
        state.add_duty(Duty::RemovePrevious {
            group_id: b"h".to_vec(),
            previous: [4; 32],
        });
        assert_eq!(state.duties.len(), 3);
        assert!(state.duties.iter().any(
            |d| matches!(d, Duty::RemovePrevious { group_id, previous } if group_id == b"g" && *previous == [3; 32])
        ));
        state.drop_duties(b"g");
        assert_eq!(state.duties.len(), 1);
    }
}
