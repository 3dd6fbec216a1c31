//! Escalation to the crisis line, from the client's side.
//!
//! - Counsellors: [`Client::escalate`] signs the request with the session
//!   key and sends it outside the MLS group. When a responder accepts, the
//!   server pushes `add_responder`; the client checks the badge (role
//!   crisis responder, key package theirs) and commits the Add, by itself
//!   with `auto_intake`.
//! - Crisis responders: duty, the escalation queue, accept, resolve; a
//!   responder's client checks each escalation's signature against the
//!   counsellor's badge ([`Client::verify_escalation`]).
//! - Visitors: [`Client::sos`], and [`Client::verified_member`] to render
//!   "a crisis counsellor has joined" from the MLS membership change.

use parasol_protocol::{
    Bytes, Category, DutyState, EscalationEntry, EscalationOutcome, Help, Request, Response, Severity,
    SignedEscalation, StaffBadge, StaffRole, TicketState, TicketStatus,
};

use crate::client::Client;
use crate::connection::unexpected;
use crate::error::{BadgeError, ClientError};
use crate::identity::ClientId;
use crate::intake::{now_secs, VerifiedCounsellor};
use crate::mls::CommitOp;

/// What pressing SOS gave back.
#[derive(Debug, Clone, PartialEq)]
pub struct SosAnswer {
    /// The emergency numbers, to show at once.
    pub help: Help,
    /// My ticket as it now stands (urgent, if it was waiting).
    pub ticket: Option<TicketState>,
}

impl Client {
    /// Escalate my chat `group` to the crisis line. Signed with this
    /// session's key; does not touch the MLS group.
    pub async fn escalate(
        &self,
        group: &[u8],
        severity: Severity,
        category: Category,
    ) -> Result<EscalationEntry, ClientError> {
        let issued_at = now_secs();
        let signature = self.identity().sign_escalation(group, severity, category, issued_at);
        let escalation = SignedEscalation {
            group_id: Bytes(group.to_vec()),
            severity,
            category,
            issued_at,
            signature: Bytes(signature.to_vec()),
        };
        match self.request(Request::Escalate { escalation }).await? {
            Response::Escalated { escalation } => Ok(escalation),
            other => Err(unexpected(&other)),
        }
    }

    /// Crisis responders: go on or off duty. Returns how many escalations
    /// are open now.
    pub async fn set_duty(&self, state: DutyState) -> Result<u32, ClientError> {
        match self.request(Request::SetDuty { state }).await? {
            Response::Duty { open_escalations, .. } => Ok(open_escalations),
            other => Err(unexpected(&other)),
        }
    }

    /// Escalations I may see (on-duty responders, supervisors).
    pub async fn escalation_queue(&self) -> Result<Vec<EscalationEntry>, ClientError> {
        match self.request(Request::EscalationQueue).await? {
            Response::Escalations { escalations } => Ok(escalations),
            other => Err(unexpected(&other)),
        }
    }

    /// Take an escalation. The counsellor's client then adds me; wait for
    /// the Welcome with [`Client::wait_for_group`].
    pub async fn accept_escalation(&self, escalation_id: u64) -> Result<EscalationEntry, ClientError> {
        match self.request(Request::AcceptEscalation { escalation_id }).await? {
            Response::EscalationAccepted { escalation } => Ok(escalation),
            other => Err(unexpected(&other)),
        }
    }

    pub async fn resolve_escalation(
        &self,
        escalation_id: u64,
        outcome: EscalationOutcome,
    ) -> Result<EscalationEntry, ClientError> {
        match self
            .request(Request::ResolveEscalation { escalation_id, outcome })
            .await?
        {
            Response::EscalationResolved { escalation } => Ok(escalation),
            other => Err(unexpected(&other)),
        }
    }

    /// Check that an escalation was made by a verified counsellor (badge
    /// attested by the server, request signed by the badge's key).
    pub async fn verify_escalation(&mut self, entry: &EscalationEntry) -> Result<VerifiedCounsellor, ClientError> {
        self.ensure_attestation_key().await?;
        let key = self.verify_badge(&entry.counsellor)?;
        if !entry.request.verify(&key) {
            return Err(ClientError::InvalidBadge(BadgeError::BadEscalationSignature));
        }
        Ok(VerifiedCounsellor {
            display_name: entry.counsellor.display_name.clone(),
            role: entry.counsellor.role,
            client_id: key,
            expires_at: entry.counsellor.expires_at,
        })
    }

    /// Add the responder who accepted my escalation: the badge must be a
    /// crisis responder's and the key package theirs. With `auto_intake`
    /// this happens by itself on the `add_responder` push.
    pub async fn add_responder(
        &mut self,
        group: &[u8],
        responder: &StaffBadge,
        key_package: &[u8],
    ) -> Result<u64, ClientError> {
        if responder.role != StaffRole::CrisisResponder {
            return Err(ClientError::InvalidBadge(BadgeError::WrongRole));
        }
        let kp = self.badge_key_package(responder, key_package).await?;
        self.commit(group, CommitOp::Add(vec![kp])).await
    }

    /// Visitors: "I'm in danger now". The numbers come back at once; with
    /// a ticket it becomes urgent, or my counsellor is alerted.
    pub async fn sos(&self) -> Result<SosAnswer, ClientError> {
        let ticket_id = self
            .ticket()
            .filter(|t| !matches!(t.status, TicketStatus::Closed { .. }))
            .map(|t| t.ticket_id);
        match self.request(Request::Sos { ticket_id }).await? {
            Response::SosRaised { help, ticket } => Ok(SosAnswer { help, ticket }),
            other => Err(unexpected(&other)),
        }
    }

    /// Visitors: who `member` of my chat is, if the server vouched for them
    /// (the counsellor, or a crisis responder brought in by an escalation)
    /// and the badge verifies. What the page shows for a membership change:
    /// "a crisis counsellor has joined".
    pub fn verified_member(&self, member: &ClientId) -> Option<VerifiedCounsellor> {
        let Some(TicketStatus::InChat {
            counsellor, responders, ..
        }) = self.ticket().map(|t| &t.status)
        else {
            return None;
        };
        std::iter::once(counsellor).chain(responders).find_map(|badge| {
            let key = self.verify_badge(badge).ok()?;
            (key == *member).then(|| VerifiedCounsellor {
                display_name: badge.display_name.clone(),
                role: badge.role,
                client_id: key,
                expires_at: badge.expires_at,
            })
        })
    }
}
