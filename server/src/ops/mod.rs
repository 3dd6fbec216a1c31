//! The protocol's operations, one file each. A file declares the
//! operation's access rule (`OP`) beside its `apply`; [`dispatch`] is the
//! one match from a request to its operation.
//!
//! The access rule is SECURITY.md's authorization matrix, one row per
//! operation, for the roles that reach dispatch (unauthenticated
//! connections and disabled accounts never do: see `net/auth.rs`). `Deny`
//! is enforced here, before the operation looks at its arguments; `Own`
//! (the caller's own ticket, chat, circle, group) is the services' to check,
//! since only they know who owns what. A server test reads the matrix and
//! compares it with [`rules`].
//!
//! To add an operation: its `Request` variant (protocol/src/frame.rs), a
//! file here with `OP` and `apply`, one line in `dispatch` and one in
//! [`OPS`], and its row in SECURITY.md's matrix.

mod context;

pub mod accept_escalation;
pub mod accept_ticket;
pub mod ack;
pub mod attach_chat;
pub mod authenticate;
pub mod block_visitor;
pub mod board;
pub mod cancel_ticket;
pub mod chat_feedback;
pub mod circle_roster;
pub mod claim_key_package;
pub mod close_chat;
pub mod close_circle;
pub mod create_circle;
pub mod create_group;
pub mod create_invitation;
pub mod decline_join;
pub mod decline_offer;
pub mod escalate;
pub mod escalation_queue;
pub mod fetch_backlog;
pub mod intake_info;
pub mod join_circle;
pub mod join_requests;
pub mod leave_circle;
pub mod leave_team_message;
pub mod list_circles;
pub mod list_groups;
pub mod list_invitations;
pub mod ping;
pub mod preview_invitation;
pub mod publish_key_packages;
pub mod queue_view;
pub mod request_chat;
pub mod rescue_chat;
pub mod resolve_escalation;
pub mod resume_ticket;
pub mod revoke_invitation;
pub mod send_commit;
pub mod send_message;
pub mod set_duty;
pub mod set_moderator;
pub mod set_muted;
pub mod set_shift;
pub mod sos;
pub mod subscribe;
pub mod take_team_message;
pub mod team_key_packages;
pub mod team_messages;
pub mod transfer_chat;
pub mod visitor_leaving;

pub use context::{Ctx, Push, Session};

use parasol_protocol::{ErrorCode, Request, Response, StaffRole};

use crate::error::{ServiceError, ServiceResult};
use crate::Services;

/// An operation's answer: `Some` now, or `None` when it was (or will be,
/// once durable) sent by the operation itself.
pub type Reply = ServiceResult<Option<Response>>;

/// Who is asking: the matrix's columns that reach dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Visitor,
    Counsellor,
    Supervisor,
    CrisisResponder,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Visitor,
        Role::Counsellor,
        Role::Supervisor,
        Role::CrisisResponder,
        Role::Admin,
    ];

    /// A session without staff is an anonymous visitor.
    pub fn of(staff: Option<StaffRole>) -> Role {
        match staff {
            None => Role::Visitor,
            Some(StaffRole::Counsellor) => Role::Counsellor,
            Some(StaffRole::Supervisor) => Role::Supervisor,
            Some(StaffRole::CrisisResponder) => Role::CrisisResponder,
            Some(StaffRole::Admin) => Role::Admin,
        }
    }

    /// The column's heading in SECURITY.md's matrix.
    pub fn matrix_heading(self) -> &'static str {
        match self {
            Role::Visitor => "anonymous visitor",
            Role::Counsellor => "counsellor",
            Role::Supervisor => "supervisor",
            Role::CrisisResponder => "crisis responder",
            Role::Admin => "admin",
        }
    }
}

/// One cell of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Allow,
    Deny,
    /// Only on the caller's own object; the service checks which.
    Own,
}

/// An operation's row of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub visitor: Rule,
    pub counsellor: Rule,
    pub supervisor: Rule,
    pub crisis_responder: Rule,
    pub admin: Rule,
}

impl Access {
    /// Every role, on anything.
    pub const EVERYONE: Access = Access::same(Rule::Allow);
    /// Every role, on its own objects only.
    pub const OWN: Access = Access::same(Rule::Own);

    pub const fn same(rule: Rule) -> Access {
        Access {
            visitor: rule,
            counsellor: rule,
            supervisor: rule,
            crisis_responder: rule,
            admin: rule,
        }
    }

    /// Visitors only, with `rule`; every staff role is denied.
    pub const fn visitors(rule: Rule) -> Access {
        Access {
            visitor: rule,
            ..Access::same(Rule::Deny)
        }
    }

    pub const fn of(&self, role: Role) -> Rule {
        match role {
            Role::Visitor => self.visitor,
            Role::Counsellor => self.counsellor,
            Role::Supervisor => self.supervisor,
            Role::CrisisResponder => self.crisis_responder,
            Role::Admin => self.admin,
        }
    }
}

/// What dispatch needs to know of an operation before running it.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The wire name (`Request::op_name`).
    pub name: &'static str,
    pub access: Access,
    /// Stores something new: charged against the anonymous byte quotas and
    /// refused below the disk's free-space floor (`storage/budget.rs`).
    pub stores: bool,
    /// Refused once the server is shutting down.
    pub refused_while_shutting_down: bool,
}

impl Operation {
    pub const fn new(name: &'static str, access: Access) -> Operation {
        Operation {
            name,
            access,
            stores: false,
            refused_while_shutting_down: false,
        }
    }

    pub const fn stores(self) -> Operation {
        Operation { stores: true, ..self }
    }

    pub const fn refused_while_shutting_down(self) -> Operation {
        Operation {
            refused_while_shutting_down: true,
            ..self
        }
    }
}

/// Every operation, in the protocol's order (`parasol_protocol::OPERATIONS`).
pub const OPS: &[Operation] = &[
    authenticate::OP,
    publish_key_packages::OP,
    claim_key_package::OP,
    create_group::OP,
    send_commit::OP,
    send_message::OP,
    subscribe::OP,
    fetch_backlog::OP,
    ack::OP,
    list_groups::OP,
    ping::OP,
    intake_info::OP,
    request_chat::OP,
    cancel_ticket::OP,
    resume_ticket::OP,
    team_key_packages::OP,
    leave_team_message::OP,
    visitor_leaving::OP,
    set_shift::OP,
    queue_view::OP,
    accept_ticket::OP,
    decline_offer::OP,
    attach_chat::OP,
    transfer_chat::OP,
    close_chat::OP,
    block_visitor::OP,
    board::OP,
    team_messages::OP,
    take_team_message::OP,
    rescue_chat::OP,
    escalate::OP,
    set_duty::OP,
    escalation_queue::OP,
    accept_escalation::OP,
    resolve_escalation::OP,
    sos::OP,
    chat_feedback::OP,
    create_circle::OP,
    list_circles::OP,
    create_invitation::OP,
    list_invitations::OP,
    revoke_invitation::OP,
    preview_invitation::OP,
    join_circle::OP,
    join_requests::OP,
    circle_roster::OP,
    decline_join::OP,
    set_muted::OP,
    set_moderator::OP,
    leave_circle::OP,
    close_circle::OP,
];

/// Each operation's access rule, for tests and docs.
pub fn rules() -> impl Iterator<Item = (&'static str, Access)> {
    OPS.iter().map(|op| (op.name, op.access))
}

/// Run `$op::apply` once the request passed [`admit`].
macro_rules! run {
    ($ctx:ident, $frame_bytes:ident, $op:ident, $($arg:expr),*) => {{
        admit($ctx, &$op::OP, $frame_bytes)?;
        $op::apply($ctx, $($arg),*).await
    }};
}

/// Answer a request now (`Some`), or arrange for it to be answered by the
/// operation (`None`). `frame_bytes` is the request's size, for quotas.
pub async fn dispatch(ctx: &mut Ctx<'_>, req: Request, frame_bytes: usize) -> Reply {
    use Request as R;
    let n = frame_bytes;
    match req {
        R::Authenticate { .. } => run!(ctx, n, authenticate,),
        R::PublishKeyPackages { key_packages, replace } => run!(ctx, n, publish_key_packages, key_packages, replace),
        R::ClaimKeyPackage { client_id } => run!(ctx, n, claim_key_package, client_id),
        R::CreateGroup {
            group_info,
            ratchet_tree,
        } => run!(ctx, n, create_group, group_info, ratchet_tree),
        R::SendCommit {
            commit,
            welcome,
            group_info,
            ratchet_tree,
        } => run!(ctx, n, send_commit, commit, welcome, group_info, ratchet_tree),
        R::SendMessage { message } => run!(ctx, n, send_message, message),
        R::Subscribe { after } => run!(ctx, n, subscribe, after),
        R::FetchBacklog { after, limit } => run!(ctx, n, fetch_backlog, after, limit),
        R::Ack { up_to } => run!(ctx, n, ack, up_to),
        R::ListGroups => run!(ctx, n, list_groups,),
        R::Ping => run!(ctx, n, ping,),
        R::IntakeInfo => run!(ctx, n, intake_info,),
        R::RequestChat {
            language,
            topic,
            urgent,
            key_packages,
            pow,
        } => run!(ctx, n, request_chat, language, topic, urgent, key_packages, pow),
        R::CancelTicket { ticket_id } => run!(ctx, n, cancel_ticket, ticket_id),
        R::ResumeTicket {
            resume_secret,
            key_packages,
        } => run!(ctx, n, resume_ticket, resume_secret, key_packages),
        R::TeamKeyPackages => run!(ctx, n, team_key_packages,),
        R::LeaveTeamMessage { group_id, language } => run!(ctx, n, leave_team_message, group_id, language),
        R::VisitorLeaving { quick_exit } => run!(ctx, n, visitor_leaving, quick_exit),
        R::SetShift { state, handover } => run!(ctx, n, set_shift, state, handover),
        R::QueueView => run!(ctx, n, queue_view,),
        R::AcceptTicket { ticket_id } => run!(ctx, n, accept_ticket, ticket_id),
        R::DeclineOffer { ticket_id } => run!(ctx, n, decline_offer, ticket_id),
        R::AttachChat { ticket_id, group_id } => run!(ctx, n, attach_chat, ticket_id, group_id),
        R::TransferChat { group_id, to } => run!(ctx, n, transfer_chat, group_id, to),
        R::CloseChat { group_id, tag } => run!(ctx, n, close_chat, group_id, tag),
        R::BlockVisitor {
            ticket_id,
            duration_secs,
            reason,
        } => run!(ctx, n, block_visitor, ticket_id, duration_secs, reason),
        R::Board => run!(ctx, n, board,),
        R::TeamMessages => run!(ctx, n, team_messages,),
        R::TakeTeamMessage { group_id } => run!(ctx, n, take_team_message, group_id),
        R::RescueChat { group_id, to } => run!(ctx, n, rescue_chat, group_id, to),
        R::Escalate { escalation } => run!(ctx, n, escalate, escalation),
        R::SetDuty { state } => run!(ctx, n, set_duty, state),
        R::EscalationQueue => run!(ctx, n, escalation_queue,),
        R::AcceptEscalation { escalation_id } => run!(ctx, n, accept_escalation, escalation_id),
        R::ResolveEscalation { escalation_id, outcome } => {
            run!(ctx, n, resolve_escalation, escalation_id, outcome)
        }
        R::Sos { ticket_id } => run!(ctx, n, sos, ticket_id),
        R::ChatFeedback { answer } => run!(ctx, n, chat_feedback, answer),
        R::CreateCircle {
            group_id,
            name,
            language,
            topic,
            auto_approve,
        } => run!(ctx, n, create_circle, group_id, name, language, topic, auto_approve),
        R::ListCircles => run!(ctx, n, list_circles,),
        R::CreateInvitation {
            circle_id,
            expires_in_secs,
            max_uses,
        } => run!(ctx, n, create_invitation, circle_id, expires_in_secs, max_uses),
        R::ListInvitations { circle_id } => run!(ctx, n, list_invitations, circle_id),
        R::RevokeInvitation {
            circle_id,
            invitation_id,
        } => run!(ctx, n, revoke_invitation, circle_id, invitation_id),
        R::PreviewInvitation { code } => run!(ctx, n, preview_invitation, code),
        R::JoinCircle {
            code,
            display_name,
            key_package,
        } => run!(ctx, n, join_circle, code, display_name, key_package),
        R::JoinRequests { circle_id } => run!(ctx, n, join_requests, circle_id),
        R::CircleRoster { circle_id } => run!(ctx, n, circle_roster, circle_id),
        R::DeclineJoin { circle_id, request_id } => run!(ctx, n, decline_join, circle_id, request_id),
        R::SetMuted {
            circle_id,
            client_id,
            muted,
        } => run!(ctx, n, set_muted, circle_id, client_id, muted),
        R::SetModerator {
            circle_id,
            client_id,
            moderator,
        } => run!(ctx, n, set_moderator, circle_id, client_id, moderator),
        R::LeaveCircle { circle_id } => run!(ctx, n, leave_circle, circle_id),
        R::CloseCircle { circle_id } => run!(ctx, n, close_circle, circle_id),
    }
}

/// What every request passes before its operation runs, in this order:
/// the role's access rule (before anything else, so a denied role gets
/// `forbidden` whatever the arguments, the quotas or the shutdown: which
/// ids exist never shows, and a refused request spends no quota), the
/// storage quotas (for operations that store), the shutdown (for writes).
fn admit(ctx: &Ctx<'_>, op: &Operation, frame_bytes: usize) -> ServiceResult<()> {
    let services = ctx.services;
    let role = Role::of(ctx.session.staff.as_ref().map(|s| s.role));
    if op.access.of(role) == Rule::Deny {
        let message = match role {
            Role::Visitor => "staff only",
            _ if op.access.visitor != Rule::Deny => "for visitors",
            _ => "not for your role",
        };
        return Err(ServiceError::new(ErrorCode::Forbidden, message));
    }
    if op.stores {
        if let Some(e) = storage_refusal(services, ctx, frame_bytes) {
            return Err(e);
        }
    }
    if op.refused_while_shutting_down && services.shutdown.is_cancelled() {
        return Err(ServiceError::new(
            ErrorCode::ShuttingDown,
            "the server is shutting down; reconnect later",
        ));
    }
    Ok(())
}

/// Requests that store something new are charged their frame's size
/// against the anonymous byte quotas (staff: none), and refused below the
/// disk's free-space floor; every other request (reads, acks, leaving) goes
/// on. See `storage/budget.rs`.
fn storage_refusal(services: &Services, ctx: &Ctx<'_>, frame_bytes: usize) -> Option<ServiceError> {
    let session = &*ctx.session;
    let anonymous = session.staff.is_none();
    let refusal = services
        .budgets
        .charge(&session.client, session.source, anonymous, frame_bytes as u64)
        .err()?;
    let (code, message, retry_after_secs) = match refusal {
        crate::storage::budget::Refusal::Quota { retry_after_secs } => {
            services.metrics.quota_refusals_total.inc();
            (
                ErrorCode::QuotaExceeded,
                "you have stored as much as you may for now; retry later",
                retry_after_secs,
            )
        }
        crate::storage::budget::Refusal::DiskLow => {
            services.metrics.storage_full_refusals_total.inc();
            (
                ErrorCode::StorageFull,
                "the server is low on disk space and stores nothing new for now; retry later",
                60,
            )
        }
    };
    Some(
        ServiceError::new(code, message).with_details(crate::error::RefusalDetails {
            retry_after_secs: Some(retry_after_secs),
            pow: None,
            // Every refusal a visitor can get says where else to turn.
            help: Some(services.intake.help(crate::time::now_secs())),
        }),
    )
}

#[cfg(test)]
mod tests;
