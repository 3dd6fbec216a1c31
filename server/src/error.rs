//! The error every service returns: a protocol error code plus a short,
//! content-free message, turned into an `error` frame by the connection.

use parasol_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    /// Set with `stale_epoch`.
    pub current_epoch: Option<u64>,
    /// What a refused visitor can do next (boxed: rare, and errors travel
    /// through every `Result`).
    pub details: Option<Box<RefusalDetails>>,
}

/// The extra fields of a refusal (`rate_limited`, `busy`, `pow_required`,
/// `intake_closed`, `blocked`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefusalDetails {
    pub retry_after_secs: Option<u32>,
    pub pow: Option<parasol_protocol::PowChallenge>,
    pub help: Option<parasol_protocol::Help>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
            current_epoch: None,
            details: None,
        }
    }

    pub fn stale_epoch(current: u64) -> Self {
        ServiceError {
            code: ErrorCode::StaleEpoch,
            message: format!("the group is at epoch {current}"),
            current_epoch: Some(current),
            details: None,
        }
    }

    pub fn with_details(mut self, details: RefusalDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn internal() -> Self {
        ServiceError::new(ErrorCode::Internal, "internal error; retry later")
    }
}

impl From<crate::storage::StorageError> for ServiceError {
    fn from(e: crate::storage::StorageError) -> Self {
        tracing::error!(error = %e, "storage error");
        ServiceError::internal()
    }
}

impl From<crate::mailbox::WriteError> for ServiceError {
    fn from(e: crate::mailbox::WriteError) -> Self {
        tracing::error!(error = %e, "storage write failed");
        ServiceError::internal()
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
