//! Frame types of protocol version 1.
//!
//! Client → server: `{v, id, req: {op, ...}}`. Server → client:
//! `{v, msg: {type, ...}}`. Field and variant names are the wire names.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::escalation::{DutyState, EscalationEntry, EscalationOutcome, SignedEscalation};
use crate::intake::{
    BoardRow, FeedbackAnswer, Help, PowChallenge, PowSolution, QueueEntry, ShiftState, StaffBadge, TeamMessage,
    TicketState,
};
use crate::staff::StaffRole;

/// An opaque byte string (MessagePack `bin`). Its `Debug` shows only the
/// length, so frames can be debug-printed without leaking content or keys.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bytes(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes(len={})", self.0.len())
    }
}

impl Bytes {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A request from a client. `id` is chosen by the client and echoed in the
/// response or error that answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientFrame {
    pub v: u16,
    pub id: u64,
    pub req: Request,
}

/// The operations of protocol version 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Prove possession of an identity key by signing the connection's
    /// challenge. Must be the first request on a connection.
    Authenticate { proof: AuthProof },
    /// Upload key packages (TLS-serialized `MLSMessage`s of type key package).
    /// Packages carrying the last-resort extension replace the stored
    /// last-resort package. With `replace`, every package stored before is
    /// withdrawn first (a client that lost its state cannot use them).
    PublishKeyPackages {
        key_packages: Vec<Bytes>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replace: bool,
    },
    /// Take one key package of another client, to add it to a group.
    ClaimKeyPackage { client_id: Bytes },
    /// Start tracking a new group from its creator's GroupInfo and ratchet
    /// tree. The creator must be its only member.
    CreateGroup { group_info: Bytes, ratchet_tree: Bytes },
    /// A commit for the group's current epoch, with the Welcome for the
    /// members it adds.
    SendCommit {
        commit: Bytes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        welcome: Option<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_info: Option<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ratchet_tree: Option<Bytes>,
    },
    /// An MLS application message (PrivateMessage) for the group named in
    /// its framing.
    SendMessage { message: Bytes },
    /// Push every envelope of my mailbox with a sequence number above
    /// `after`, the backlog first, then new ones as they arrive.
    Subscribe { after: u64 },
    /// Read up to `limit` envelopes above `after` without subscribing.
    FetchBacklog { after: u64, limit: u32 },
    /// I have processed every envelope up to and including `up_to`; delete
    /// them from my mailbox.
    Ack { up_to: u64 },
    /// The groups I am a member of.
    ListGroups,
    /// Keep-alive; answered with `pong`.
    Ping,

    // --- Visitors: the intake queue ---
    /// Opening hours, languages, topics, crisis lines, the attestation key,
    /// and a proof-of-work puzzle when intake is under pressure.
    IntakeInfo,
    /// Ask for a chat. `key_packages` are one-time packages for it; the
    /// counsellor who accepts gets one.
    RequestChat {
        language: String,
        topic: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        urgent: bool,
        key_packages: Vec<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pow: Option<PowSolution>,
    },
    /// Give up my ticket (and end its chat).
    CancelTicket { ticket_id: u64 },
    /// Reclaim a ticket from any connection with its resume secret. New
    /// `key_packages` replace the stored ones (a visitor who lost its state
    /// is re-added to its chat with one of them).
    ResumeTicket {
        resume_secret: Bytes,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        key_packages: Vec<Bytes>,
    },
    /// Outside opening hours: claim one key package of each counsellor, to
    /// seal a message to the team.
    TeamKeyPackages,
    /// The group I created and sent my sealed message in is a message for
    /// the team.
    LeaveTeamMessage { group_id: Bytes, language: String },
    /// Visitors: I am leaving now (`quick_exit`: the quick-exit button).
    /// My counsellor is told; a waiting ticket is no longer offered.
    VisitorLeaving {
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        quick_exit: bool,
    },

    // --- Staff ---
    /// Set my shift state. Clocking out with open chats needs `handover`,
    /// which puts them back in the queue first in line.
    SetShift {
        state: ShiftState,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        handover: bool,
    },
    /// The waiting tickets I may take (no content).
    QueueView,
    /// Take a ticket offered to me or picked from the queue view.
    AcceptTicket { ticket_id: u64 },
    /// Pass on an offer; it goes to the next counsellor.
    DeclineOffer { ticket_id: u64 },
    /// Tell the server which group is the chat of an accepted ticket. I must
    /// have created it and be its only member.
    AttachChat { ticket_id: u64, group_id: Bytes },
    /// Hand my chat to another counsellor (`to`: an account id), or to the
    /// best available one.
    TransferChat {
        group_id: Bytes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<u64>,
    },
    /// End a chat; its envelopes are purged. `tag` is a closing topic from
    /// the configured list, for the aggregate statistics.
    CloseChat { group_id: Bytes, tag: String },
    /// Block the visitor of a ticket for `duration_secs`.
    BlockVisitor {
        ticket_id: u64,
        duration_secs: u32,
        reason: String,
    },
    /// Supervisors: queue depth, longest wait, who is on shift and their load.
    Board,
    /// Sealed messages the team has not taken yet.
    TeamMessages,
    /// I take this sealed message; it leaves the others' list.
    TakeTeamMessage { group_id: Bytes },
    /// Supervisors: move a stranded chat (see `board`) to colleague `to`,
    /// or to myself without `to`. The visitor's client adds the new
    /// counsellor, as on a transfer.
    RescueChat {
        group_id: Bytes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<u64>,
    },

    // --- Escalation to the crisis line ---
    /// The chat's counsellor (or a supervisor) asks for a crisis
    /// responder. Signed by the session key, and sent outside the MLS
    /// group, so it works whatever state the group is in.
    Escalate { escalation: SignedEscalation },
    /// Crisis responders: go on or off duty.
    SetDuty { state: DutyState },
    /// Crisis responders and supervisors: escalations not yet final.
    EscalationQueue,
    /// An on-duty crisis responder takes an open escalation.
    AcceptEscalation { escalation_id: u64 },
    /// End an accepted escalation: `resolved` (responder, counsellor or a
    /// supervisor) or `handed_off` (the counsellor leaves the chat to the
    /// responder).
    ResolveEscalation {
        escalation_id: u64,
        outcome: EscalationOutcome,
    },
    /// Visitors: "I'm in danger now". Answers with the emergency numbers at
    /// once; with my ticket, raises it to urgent, or alerts my counsellor.
    Sos {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket_id: Option<u64>,
    },
    /// Visitors, after a chat a counsellor closed or a ticket she cancelled
    /// herself: the one anonymous feedback question. Counted per day, once
    /// per ticket.
    ChatFeedback { answer: FeedbackAnswer },

    // --- Peer support circles ---
    /// Counsellors and supervisors: make the group I created, and am the
    /// only member of, a circle that I moderate.
    CreateCircle {
        group_id: Bytes,
        name: String,
        language: String,
        topic: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        auto_approve: bool,
    },
    /// The circles I moderate or am a member of.
    ListCircles,
    /// Moderators: a new invitation code.
    CreateInvitation {
        circle_id: u64,
        expires_in_secs: u32,
        max_uses: u32,
    },
    /// Moderators: the circle's invitations (without their codes).
    ListInvitations { circle_id: u64 },
    /// Moderators: the code stops working at once.
    RevokeInvitation { circle_id: u64, invitation_id: u64 },
    /// Anyone: what an invitation is for, before joining.
    PreviewInvitation { code: String },
    /// Ask to join with an invitation, under a display name for this circle
    /// only. A moderator's client adds me with `key_package`.
    JoinCircle {
        code: String,
        display_name: String,
        key_package: Bytes,
    },
    /// Moderators: the requests waiting for a decision.
    JoinRequests { circle_id: u64 },
    /// Members: who is in the circle, under which name.
    CircleRoster { circle_id: u64 },
    /// Moderators: turn a request down. Approving is committing the add.
    DeclineJoin { circle_id: u64, request_id: u64 },
    /// Moderators: refuse (or allow again) a member's messages.
    SetMuted {
        circle_id: u64,
        client_id: Bytes,
        muted: bool,
    },
    /// Moderators: make a member a moderator, or not.
    SetModerator {
        circle_id: u64,
        client_id: Bytes,
        moderator: bool,
    },
    /// Members: leave. Nothing more is delivered to me; a moderator's
    /// client removes my leaf.
    LeaveCircle { circle_id: u64 },
    /// Moderators: end the circle; its envelopes are purged.
    CloseCircle { circle_id: u64 },
}

impl Request {
    /// The wire name of the operation, for logs and metrics.
    pub fn op_name(&self) -> &'static str {
        match self {
            Request::Authenticate { .. } => "authenticate",
            Request::PublishKeyPackages { .. } => "publish_key_packages",
            Request::ClaimKeyPackage { .. } => "claim_key_package",
            Request::CreateGroup { .. } => "create_group",
            Request::SendCommit { .. } => "send_commit",
            Request::SendMessage { .. } => "send_message",
            Request::Subscribe { .. } => "subscribe",
            Request::FetchBacklog { .. } => "fetch_backlog",
            Request::Ack { .. } => "ack",
            Request::ListGroups => "list_groups",
            Request::Ping => "ping",
            Request::IntakeInfo => "intake_info",
            Request::RequestChat { .. } => "request_chat",
            Request::CancelTicket { .. } => "cancel_ticket",
            Request::ResumeTicket { .. } => "resume_ticket",
            Request::TeamKeyPackages => "team_key_packages",
            Request::LeaveTeamMessage { .. } => "leave_team_message",
            Request::VisitorLeaving { .. } => "visitor_leaving",
            Request::SetShift { .. } => "set_shift",
            Request::QueueView => "queue_view",
            Request::AcceptTicket { .. } => "accept_ticket",
            Request::DeclineOffer { .. } => "decline_offer",
            Request::AttachChat { .. } => "attach_chat",
            Request::TransferChat { .. } => "transfer_chat",
            Request::CloseChat { .. } => "close_chat",
            Request::BlockVisitor { .. } => "block_visitor",
            Request::Board => "board",
            Request::TeamMessages => "team_messages",
            Request::TakeTeamMessage { .. } => "take_team_message",
            Request::RescueChat { .. } => "rescue_chat",
            Request::Escalate { .. } => "escalate",
            Request::SetDuty { .. } => "set_duty",
            Request::EscalationQueue => "escalation_queue",
            Request::AcceptEscalation { .. } => "accept_escalation",
            Request::ResolveEscalation { .. } => "resolve_escalation",
            Request::Sos { .. } => "sos",
            Request::ChatFeedback { .. } => "chat_feedback",
            Request::CreateCircle { .. } => "create_circle",
            Request::ListCircles => "list_circles",
            Request::CreateInvitation { .. } => "create_invitation",
            Request::ListInvitations { .. } => "list_invitations",
            Request::RevokeInvitation { .. } => "revoke_invitation",
            Request::PreviewInvitation { .. } => "preview_invitation",
            Request::JoinCircle { .. } => "join_circle",
            Request::JoinRequests { .. } => "join_requests",
            Request::CircleRoster { .. } => "circle_roster",
            Request::DeclineJoin { .. } => "decline_join",
            Request::SetMuted { .. } => "set_muted",
            Request::SetModerator { .. } => "set_moderator",
            Request::LeaveCircle { .. } => "leave_circle",
            Request::CloseCircle { .. } => "close_circle",
        }
    }
}

/// Every operation name of version 1, to tell an unknown operation from a
/// known one with bad fields.
pub const OPERATIONS: &[&str] = &[
    "authenticate",
    "publish_key_packages",
    "claim_key_package",
    "create_group",
    "send_commit",
    "send_message",
    "subscribe",
    "fetch_backlog",
    "ack",
    "list_groups",
    "ping",
    "intake_info",
    "request_chat",
    "cancel_ticket",
    "resume_ticket",
    "team_key_packages",
    "leave_team_message",
    "visitor_leaving",
    "set_shift",
    "queue_view",
    "accept_ticket",
    "decline_offer",
    "attach_chat",
    "transfer_chat",
    "close_chat",
    "block_visitor",
    "board",
    "team_messages",
    "take_team_message",
    "rescue_chat",
    "escalate",
    "set_duty",
    "escalation_queue",
    "accept_escalation",
    "resolve_escalation",
    "sos",
    "chat_feedback",
    "create_circle",
    "list_circles",
    "create_invitation",
    "list_invitations",
    "revoke_invitation",
    "preview_invitation",
    "join_circle",
    "join_requests",
    "circle_roster",
    "decline_join",
    "set_muted",
    "set_moderator",
    "leave_circle",
    "close_circle",
];

/// How a client proves who it is: an anonymous key alone, or a staff
/// session (from the HTTPS login) plus the key it binds for this session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthProof {
    /// Ed25519 signature over `auth_transcript(nonce, public_key)`.
    Ed25519Challenge { public_key: Bytes, signature: Bytes },
    /// A staff session token, and the Ed25519 signature over the same
    /// transcript proving the key this session uses in MLS.
    StaffSession {
        token: String,
        public_key: Bytes,
        signature: Bytes,
    },
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerFrame {
    pub v: u16,
    pub msg: ServerMessage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Sent once, right after the WebSocket opens.
    Challenge { nonce: Bytes, versions: Vec<u16> },
    /// The successful answer to request `id`.
    Response { id: u64, result: Response },
    /// The failed answer to request `id`, or (without `id`) to a frame whose
    /// id could not be read.
    Error {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        code: ErrorCode,
        message: String,
        /// With `stale_epoch`: the group's current epoch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        current_epoch: Option<u64>,
        /// With `rate_limited`, `busy`: when to try again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u32>,
        /// With `pow_required`: the puzzle to solve.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pow: Option<PowChallenge>,
        /// With every refusal of a visitor: where else to turn.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        help: Option<Help>,
    },
    /// A pushed envelope from my mailbox (after `subscribe`).
    Envelope { envelope: Envelope },
    /// My key-package stock changed because someone claimed one.
    KeyPackageCount { one_time: u32, last_resort: bool },
    /// Visitors: my ticket's position, estimate or status changed.
    TicketUpdate { ticket: TicketState },
    /// Staff: a ticket is offered to me until `expires_in_secs` pass.
    Offer { ticket: QueueEntry, expires_in_secs: u32 },
    /// Staff: an offer to me ended (expired, taken, or cancelled).
    OfferWithdrawn { ticket_id: u64 },
    /// Staff on shift: the queue changed.
    QueueChanged { depth: u32, longest_wait_secs: u32 },
    /// Staff: a chat is now mine (transfer or hand-over). Once I have joined
    /// by its Welcome, I remove `remove_previous` from the group.
    ChatAssigned {
        group_id: Bytes,
        ticket: QueueEntry,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<StaffBadge>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remove_previous: Option<Bytes>,
    },
    /// Staff: my visitor came back without its MLS state; remove its old
    /// leaf and add it again with this key package.
    ReaddVisitor {
        group_id: Bytes,
        old_client: Bytes,
        key_package: Bytes,
    },
    /// Staff: my chat's visitor connected, dropped, left or quick-exited.
    VisitorPresence {
        ticket_id: u64,
        group_id: Bytes,
        presence: crate::intake::VisitorPresence,
    },
    /// Staff: one of my chats ended (the visitor cancelled or left).
    ChatEnded { group_id: Bytes, ticket_id: u64 },
    /// Members of a group: these leaves are keys of a staff account that
    /// was disabled, had its sessions revoked or its password reset. The
    /// server no longer delivers to them or accepts anything from them;
    /// remove them. Any member may, with a commit that removes only them.
    RemoveRevokedMembers { group_id: Bytes, clients: Vec<Bytes> },
    /// A visitor: her counsellor lost her state and came back with a new
    /// key. Check the badge (valid, same name and role as the old leaf's),
    /// then commit add(`key_package`) + remove(`old_client`) in one commit.
    CounsellorReconnected {
        group_id: Bytes,
        old_client: Bytes,
        key_package: Bytes,
        badge: StaffBadge,
    },
    /// Staff on shift: sealed messages waiting for the team.
    TeamMessagesWaiting { messages: Vec<TeamMessage> },
    /// On-duty crisis responders: an escalation waits for someone to
    /// accept it (again, with `renotified` > 0, when nobody did in time).
    EscalationRaised { escalation: EscalationEntry },
    /// The escalation's counsellor and responders: its state changed.
    EscalationChanged { escalation: EscalationEntry },
    /// The escalating counsellor: add this responder to the chat, after
    /// checking the badge; `key_package` is theirs.
    AddResponder {
        escalation_id: u64,
        group_id: Bytes,
        responder: StaffBadge,
        key_package: Bytes,
    },
    /// The counsellor and the visitor of an escalated chat: nobody accepted
    /// in time; these numbers are the fallback.
    EscalationFallback { group_id: Bytes, help: Help },
    /// A chat's counsellor: the visitor pressed "I'm in danger now".
    SosAlert { group_id: Bytes, ticket_id: u64 },
    /// A circle's moderators: someone asked to join. Approving is
    /// committing the add with `key_package` (clients of an auto-approve
    /// circle do so at once).
    CircleJoinRequest { request: crate::circle::JoinRequest },
    /// A circle's moderators: a member left; remove their leaf.
    CircleMemberLeft { circle_id: u64, client_id: Bytes },
    /// A circle's members: a moderator closed it.
    CircleEnded { circle_id: u64, group_id: Bytes },
}

impl ServerMessage {
    /// The wire name of the message type, for logs and errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Challenge { .. } => "challenge",
            ServerMessage::Response { .. } => "response",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Envelope { .. } => "envelope",
            ServerMessage::KeyPackageCount { .. } => "key_package_count",
            ServerMessage::TicketUpdate { .. } => "ticket_update",
            ServerMessage::Offer { .. } => "offer",
            ServerMessage::OfferWithdrawn { .. } => "offer_withdrawn",
            ServerMessage::QueueChanged { .. } => "queue_changed",
            ServerMessage::ChatAssigned { .. } => "chat_assigned",
            ServerMessage::ReaddVisitor { .. } => "readd_visitor",
            ServerMessage::VisitorPresence { .. } => "visitor_presence",
            ServerMessage::ChatEnded { .. } => "chat_ended",
            ServerMessage::RemoveRevokedMembers { .. } => "remove_revoked_members",
            ServerMessage::CounsellorReconnected { .. } => "counsellor_reconnected",
            ServerMessage::TeamMessagesWaiting { .. } => "team_messages_waiting",
            ServerMessage::EscalationRaised { .. } => "escalation_raised",
            ServerMessage::EscalationChanged { .. } => "escalation_changed",
            ServerMessage::AddResponder { .. } => "add_responder",
            ServerMessage::EscalationFallback { .. } => "escalation_fallback",
            ServerMessage::SosAlert { .. } => "sos_alert",
            ServerMessage::CircleJoinRequest { .. } => "circle_join_request",
            ServerMessage::CircleMemberLeft { .. } => "circle_member_left",
            ServerMessage::CircleEnded { .. } => "circle_ended",
        }
    }
}

/// Successful results, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Authenticated {
        /// My identity as the server knows it (my public key).
        client_id: Bytes,
        /// The highest sequence number ever assigned in my mailbox.
        mailbox_head: u64,
        one_time_key_packages: u32,
        last_resort_key_package: bool,
        /// For a staff session: who I am and the badge visitors will see.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        staff: Option<StaffSelf>,
    },
    KeyPackagesPublished {
        one_time: u32,
        last_resort: bool,
    },
    KeyPackage {
        key_package: Bytes,
        last_resort: bool,
    },
    GroupCreated {
        group_id: Bytes,
        epoch: u64,
    },
    /// The commit won its epoch and is durable; merge it now.
    CommitAccepted {
        group_id: Bytes,
        epoch: u64,
    },
    /// The message is durable and queued for every other member.
    MessageAccepted {
        group_id: Bytes,
        epoch: u64,
    },
    Subscribed {
        head: u64,
    },
    Backlog {
        envelopes: Vec<Envelope>,
        more: bool,
    },
    Acked {
        up_to: u64,
    },
    Groups {
        groups: Vec<GroupSummary>,
    },
    Pong,
    IntakeInfo {
        open: bool,
        languages: Vec<String>,
        topics: Vec<String>,
        closing_tags: Vec<String>,
        time_zone: String,
        opening_hours: Vec<crate::intake::OpeningWindow>,
        help: Help,
        /// Verifies staff badges.
        attestation_key: Bytes,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pow: Option<PowChallenge>,
    },
    Ticket {
        ticket: TicketState,
    },
    TicketCancelled {
        ticket_id: u64,
    },
    TeamKeyPackages {
        key_packages: Vec<Bytes>,
    },
    TeamMessageLeft {
        group_id: Bytes,
        /// How many current staff keys the message was sealed to. 0: nobody
        /// on the team can read it; the client says so and shows the
        /// crisis lines.
        delivered_to: u32,
    },
    LeavingNoted,
    Shift {
        state: ShiftState,
        active_chats: u32,
        /// Chats put back in the queue by this request.
        #[serde(default, skip_serializing_if = "is_zero")]
        handed_over: u32,
    },
    Queue {
        tickets: Vec<QueueEntry>,
    },
    /// The ticket is mine: create the chat group, add the visitor with
    /// `key_package`, then `attach_chat`. For a hand-over (`group_id` set)
    /// the visitor's client adds me instead.
    TicketAccepted {
        ticket: QueueEntry,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_package: Option<Bytes>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<Bytes>,
    },
    OfferDeclined {
        ticket_id: u64,
    },
    ChatAttached {
        ticket_id: u64,
        group_id: Bytes,
    },
    /// The chat is the new counsellor's; the visitor's client adds them.
    /// `note_key_package` lets me seal a hand-over note to them in a
    /// separate two-member group.
    Transferred {
        group_id: Bytes,
        to: StaffBadge,
        note_key_package: Bytes,
    },
    ChatClosed {
        group_id: Bytes,
    },
    Blocked {
        ticket_id: u64,
        until: u64,
    },
    Board {
        queue_depth: u32,
        longest_wait_secs: u32,
        staff: Vec<BoardRow>,
        /// Chats whose counsellor is offline, or clocked out with them
        /// still open (`rescue_chat`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        stranded: Vec<crate::intake::StrandedChat>,
        open_escalations: u32,
    },
    TeamMessages {
        messages: Vec<TeamMessage>,
    },
    TeamMessageTaken {
        group_id: Bytes,
    },
    /// The chat is `to`'s now; the visitor's client adds them.
    ChatRescued {
        group_id: Bytes,
        to: StaffBadge,
    },
    Escalated {
        escalation: EscalationEntry,
    },
    Duty {
        state: DutyState,
        /// Escalations waiting for a responder now.
        open_escalations: u32,
    },
    Escalations {
        escalations: Vec<EscalationEntry>,
    },
    /// I have it: the counsellor's client adds me to the chat.
    EscalationAccepted {
        escalation: EscalationEntry,
    },
    EscalationResolved {
        escalation: EscalationEntry,
    },
    /// The emergency numbers, and my ticket as it now stands.
    SosRaised {
        help: Help,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<TicketState>,
    },
    FeedbackRecorded,
    Circle {
        circle: crate::circle::CircleInfo,
    },
    Circles {
        circles: Vec<crate::circle::CircleInfo>,
    },
    Invitation {
        invitation: crate::circle::InvitationState,
    },
    Invitations {
        invitations: Vec<crate::circle::InvitationState>,
    },
    InvitationRevoked {
        invitation_id: u64,
    },
    InvitationPreview {
        preview: crate::circle::InvitationPreview,
    },
    /// Waiting for a moderator's client to add me.
    JoinRequested {
        circle_id: u64,
        request_id: u64,
    },
    JoinRequests {
        requests: Vec<crate::circle::JoinRequest>,
    },
    CircleRoster {
        circle_id: u64,
        members: Vec<crate::circle::CircleMember>,
    },
    JoinDeclined {
        request_id: u64,
    },
    MemberMuted {
        circle_id: u64,
        client_id: Bytes,
        muted: bool,
    },
    ModeratorSet {
        circle_id: u64,
        client_id: Bytes,
        moderator: bool,
    },
    CircleLeft {
        circle_id: u64,
    },
    CircleClosed {
        circle_id: u64,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A staff session's own view of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaffSelf {
    pub account_id: u64,
    pub role: StaffRole,
    pub display_name: String,
    pub languages: Vec<String>,
    pub max_chats: u32,
    pub badge: StaffBadge,
}

/// What the server says about a group I am in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub group_id: Bytes,
    pub epoch: u64,
    pub members: u32,
}

/// One entry of a client's mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Position in the recipient's mailbox: 1, 2, 3, … without gaps.
    pub seq: u64,
    pub group_id: Bytes,
    pub kind: EnvelopeKind,
    /// For commits and application messages, the epoch they were sent in;
    /// for a Welcome, the epoch it joins.
    pub epoch: u64,
    /// The TLS-serialized MLSMessage, exactly as the sender sent it.
    pub message: Bytes,
    /// With a Welcome: the group's ratchet tree after the commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratchet_tree: Option<Bytes>,
    /// When the server accepted it, in whole seconds since the Unix epoch.
    pub received_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeKind {
    Commit,
    Application,
    Welcome,
}

#[cfg(test)]
mod tests {
    use super::{Request, OPERATIONS};

    /// `OPERATIONS` is exactly the request enum's variants, in order: serde
    /// names every variant when it refuses an unknown one, so a variant
    /// added to the enum and forgotten here (and in the authorization
    /// matrix, which is checked against this list) fails this test.
    #[test]
    fn operations_lists_every_variant_of_the_request_enum() {
        let err = serde_json::from_str::<Request>(r#"{"op": "no_such_operation"}"#)
            .expect_err("an unknown operation is refused")
            .to_string();
        let expected = err
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("serde's error names the variants: {err}"));
        let variants: Vec<&str> = expected
            .split(", ")
            .map(|v| v.split('`').nth(1).expect("a variant in backticks"))
            .collect();
        assert_eq!(variants, OPERATIONS);
    }
}
