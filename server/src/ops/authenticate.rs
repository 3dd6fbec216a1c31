//! `authenticate`: Prove possession of an identity key. Only the connection's first request
//! authenticates (`net/auth.rs`); once authenticated, asking again is an error.

use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use parasol_protocol::ErrorCode;

pub const OP: Operation = Operation::new("authenticate", Access::EVERYONE);

pub async fn apply(_ctx: &mut Ctx<'_>) -> Reply {
    Err(ServiceError::new(
        ErrorCode::AlreadyAuthenticated,
        "this connection is authenticated",
    ))
}
