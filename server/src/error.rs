//! The error every service returns: a protocol error code plus a short,
//! content-free message, turned into an `error` frame by the connection.

use parasol_protocol::ErrorCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceError {
    pub code: ErrorCode,
    pub message: String,
    /// Set with `stale_epoch`.
    pub current_epoch: Option<u64>,
}

impl ServiceError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ServiceError {
            code,
            message: message.into(),
            current_epoch: None,
        }
    }

    pub fn stale_epoch(current: u64) -> Self {
        ServiceError {
            code: ErrorCode::StaleEpoch,
            message: format!("the group is at epoch {current}"),
            current_epoch: Some(current),
        }
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

impl From<crate::storage::writer::WriteError> for ServiceError {
    fn from(e: crate::storage::writer::WriteError) -> Self {
        tracing::error!(error = %e, "storage write failed");
        ServiceError::internal()
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
