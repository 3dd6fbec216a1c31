//! Typed errors: the codes every client must understand.

use serde::{Deserialize, Serialize};

/// Error codes carried by `error` frames. The list is closed for protocol
/// version 1; PROTOCOL.md explains each and what the client should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a valid MessagePack frame of this protocol.
    MalformedFrame,
    /// The frame's `v` is not a version this server speaks.
    UnsupportedVersion,
    /// The frame is larger than the maximum frame size.
    FrameTooLarge,
    /// The `op` is not an operation of this protocol version.
    UnknownOperation,
    /// The operation needs an authenticated connection.
    NotAuthenticated,
    /// `authenticate` was sent twice on one connection.
    AlreadyAuthenticated,
    /// The challenge signature did not verify.
    AuthenticationFailed,
    /// An MLS payload could not be parsed, or has the wrong wire format.
    InvalidMlsMessage,
    /// A key package failed validation (signature, ciphersuite, lifetime,
    /// identity).
    InvalidKeyPackage,
    /// The commit was rejected by the server's view of the group.
    InvalidCommit,
    /// The Welcome does not match the commit it came with.
    InvalidWelcome,
    /// The GroupInfo or ratchet tree could not be used to track the group.
    InvalidGroupInfo,
    /// The message is for an epoch other than the group's current one.
    /// `current_epoch` says which epoch is current.
    StaleEpoch,
    /// The sender is not a member of the group.
    NotAMember,
    /// The server tracks no group with that id.
    UnknownGroup,
    /// A group with that id already exists.
    GroupExists,
    /// The client has no key package left to claim.
    NoKeyPackage,
    /// A configured limit was reached; `message` says which.
    LimitExceeded,
    /// The MLS message is larger than the maximum envelope size.
    EnvelopeTooLarge,
    /// An ack named an envelope that was never in the caller's mailbox.
    UnknownEnvelope,
    /// The operation is valid MLS but not supported by this server version.
    Unsupported,
    /// The server is shutting down and takes no new work.
    ShuttingDown,
    /// Something failed inside the server; the request may be retried.
    Internal,
    /// The caller's role or relation to the object does not allow this.
    Forbidden,
    /// Too many requests from this connection, source or the whole intake;
    /// `retry_after_secs` says when to try again, `help` where else to turn.
    RateLimited,
    /// The queue is full; `retry_after_secs` and `help` as above.
    Busy,
    /// Intake is under pressure: solve the `pow` puzzle and ask again.
    PowRequired,
    /// Outside opening hours; `help` has the crisis lines and the next
    /// opening. A sealed message to the team is still possible.
    IntakeClosed,
    /// This session or ticket is blocked for a while.
    Blocked,
    /// No such ticket, or not one the caller may see.
    UnknownTicket,
    /// The ticket or chat is not in a state that allows this.
    InvalidState,
    /// Clocking out with open chats: ask again with `handover`.
    HandoverRequired,
    /// No counsellor can take the chat now.
    NoCounsellorAvailable,
    /// A field has a value the server does not accept (unknown language,
    /// topic or tag, a duration out of range, …); `message` says which.
    InvalidRequest,
    /// No such escalation, or not one the caller may see.
    UnknownEscalation,
    /// A signed control message's signature does not verify, or its time
    /// is too far from the server's clock.
    InvalidSignature,
    /// No such circle, or not one the caller is in.
    UnknownCircle,
    /// No invitation has this code.
    UnknownInvitation,
    /// The invitation's time is up.
    InvitationExpired,
    /// The invitation has been used as often as it may be.
    InvitationUsedUp,
    /// A moderator revoked the invitation.
    InvitationRevoked,
    /// A moderator muted me in this circle.
    Muted,
    /// An anonymous storage quota (of this key, of its network, or of all
    /// anonymous keys together) is used up for now; `retry_after_secs`
    /// says when to try again, `help` where else to turn.
    QuotaExceeded,
    /// The server's disk is below its free-space floor: nothing new is
    /// stored; reading, acks and deletions go on.
    StorageFull,
}

impl ErrorCode {
    /// The wire name of the code, as in PROTOCOL.md.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => "malformed_frame",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnknownOperation => "unknown_operation",
            ErrorCode::NotAuthenticated => "not_authenticated",
            ErrorCode::AlreadyAuthenticated => "already_authenticated",
            ErrorCode::AuthenticationFailed => "authentication_failed",
            ErrorCode::InvalidMlsMessage => "invalid_mls_message",
            ErrorCode::InvalidKeyPackage => "invalid_key_package",
            ErrorCode::InvalidCommit => "invalid_commit",
            ErrorCode::InvalidWelcome => "invalid_welcome",
            ErrorCode::InvalidGroupInfo => "invalid_group_info",
            ErrorCode::StaleEpoch => "stale_epoch",
            ErrorCode::NotAMember => "not_a_member",
            ErrorCode::UnknownGroup => "unknown_group",
            ErrorCode::GroupExists => "group_exists",
            ErrorCode::NoKeyPackage => "no_key_package",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::EnvelopeTooLarge => "envelope_too_large",
            ErrorCode::UnknownEnvelope => "unknown_envelope",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::Internal => "internal",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Busy => "busy",
            ErrorCode::PowRequired => "pow_required",
            ErrorCode::IntakeClosed => "intake_closed",
            ErrorCode::Blocked => "blocked",
            ErrorCode::UnknownTicket => "unknown_ticket",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::HandoverRequired => "handover_required",
            ErrorCode::NoCounsellorAvailable => "no_counsellor_available",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownEscalation => "unknown_escalation",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::UnknownCircle => "unknown_circle",
            ErrorCode::UnknownInvitation => "unknown_invitation",
            ErrorCode::InvitationExpired => "invitation_expired",
            ErrorCode::InvitationUsedUp => "invitation_used_up",
            ErrorCode::InvitationRevoked => "invitation_revoked",
            ErrorCode::Muted => "muted",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::StorageFull => "storage_full",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a frame could not be decoded, with the request id when it could be
/// recovered so the error frame can answer the right request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct FrameError {
    pub code: ErrorCode,
    pub request_id: Option<u64>,
    pub message: String,
}

impl FrameError {
    pub fn new(code: ErrorCode, request_id: Option<u64>, message: impl Into<String>) -> Self {
        FrameError {
            code,
            request_id,
            message: message.into(),
        }
    }
}
