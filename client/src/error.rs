//! Typed errors of the client library, so callers (and the end-to-end tests)
//! can tell a server refusal (with its [`ErrorCode`]) from a transport failure
//! or a local MLS problem.

use parasol_protocol::{ErrorCode, Help, PowChallenge};

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered a request with an `error` frame.
    #[error("server error {code}: {message}")]
    Server {
        code: ErrorCode,
        message: String,
        /// With `stale_epoch`: the group's current epoch.
        current_epoch: Option<u64>,
        /// With the intake's refusals (`rate_limited`, `busy`,
        /// `pow_required`, `intake_closed`, …): when to retry, the puzzle,
        /// and where else a visitor can turn. Boxed: rare, and it would
        /// otherwise make every `Result` of this crate large.
        details: Option<Box<RefusalDetails>>,
    },
    /// The WebSocket could not be opened or failed.
    #[error("connection error: {0}")]
    Connection(String),
    /// The connection is closed (by the server with `code`, or locally).
    #[error("connection closed (code {code:?}): {reason}")]
    Closed { code: Option<u16>, reason: String },
    /// No answer arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The server sent something this client did not expect.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A local MLS operation failed (or a peer's MLS data was invalid).
    #[error("MLS error: {0}")]
    Mls(String),
    /// The state file could not be read, written or parsed.
    #[error("state error: {0}")]
    State(String),
    /// I/O error (state file).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// This client knows no group with that id.
    #[error("unknown group")]
    UnknownGroup,
    /// This client was removed from the group; it can no longer use it.
    #[error("no longer a member of the group")]
    GroupInactive,
    /// A client id given to `remove_members` is not in the group.
    #[error("client is not a member of the group")]
    NotAMember,
    /// The caller passed invalid input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Retried too often (the group kept moving under us).
    #[error("gave up after {0} attempts")]
    TooManyRetries(u32),
    /// A staff badge (or the key package that goes with it) did not hold
    /// up: nobody is added to a chat on the server's word alone.
    #[error("counsellor badge refused: {0}")]
    InvalidBadge(BadgeError),
}

/// What the server attached to a refusal, so a visitor is never left with
/// a bare "no": when to try again, a proof-of-work puzzle, crisis lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefusalDetails {
    pub retry_after_secs: Option<u32>,
    pub pow: Option<PowChallenge>,
    pub help: Option<Help>,
}

impl RefusalDetails {
    /// `None` when the server attached nothing.
    pub(crate) fn boxed(
        retry_after_secs: Option<u32>,
        pow: Option<PowChallenge>,
        help: Option<Help>,
    ) -> Option<Box<RefusalDetails>> {
        (retry_after_secs.is_some() || pow.is_some() || help.is_some()).then(|| {
            Box::new(RefusalDetails {
                retry_after_secs,
                pow,
                help,
            })
        })
    }
}

/// Why a counsellor's badge was refused. Each is a reason not to let
/// someone into a visitor's chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadgeError {
    /// No attestation key to check against (intake_info never answered).
    #[error("no attestation key known")]
    NoAttestationKey,
    /// The attestation key the server sent is not the pinned one.
    #[error("the server's attestation key is not the pinned one")]
    AttestationKeyMismatch,
    /// Key or signature of the wrong length.
    #[error("malformed badge")]
    Malformed,
    /// `expires_at` has passed.
    #[error("the badge has expired")]
    Expired,
    /// The server's signature over the badge does not verify.
    #[error("the attestation does not verify")]
    BadAttestation,
    /// The key package offered for the counsellor is not the badge
    /// holder's (its credential is another key).
    #[error("the key package is not the badge holder's")]
    KeyPackageMismatch,
    /// A reconnected counsellor's badge names someone other than my
    /// chat's counsellor.
    #[error("the badge is not my counsellor's")]
    NotMyCounsellor,
    /// The chat's members do not include the badge's key.
    #[error("the badge holder is not in the chat")]
    NotInGroup,
    /// The badge is valid but for another role than expected (e.g. a
    /// "responder" whose badge says counsellor).
    #[error("the badge is for another role")]
    WrongRole,
    /// An escalation's signature is not its counsellor's.
    #[error("the escalation is not signed by its counsellor")]
    BadEscalationSignature,
}

impl ClientError {
    /// The server's error code, if this is a server refusal.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// What the server attached to its refusal (retry time, puzzle, help).
    pub fn refusal(&self) -> Option<&RefusalDetails> {
        match self {
            ClientError::Server { details, .. } => details.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn mls(context: &str, err: impl std::fmt::Debug) -> Self {
        ClientError::Mls(format!("{context}: {err:?}"))
    }
}
