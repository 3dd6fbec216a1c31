//! Typed errors of the client library, so callers (and the end-to-end tests)
//! can tell a server refusal (with its [`ErrorCode`]) from a transport failure
//! or a local MLS problem.

use parasol_protocol::ErrorCode;

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
}

impl ClientError {
    /// The server's error code, if this is a server refusal.
    pub fn server_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn mls(context: &str, err: impl std::fmt::Debug) -> Self {
        ClientError::Mls(format!("{context}: {err:?}"))
    }
}
