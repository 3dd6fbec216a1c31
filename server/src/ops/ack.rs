//! `ack`: I have processed every envelope up to `up_to`: delete them, answer, and
//! push on (the window moved).

use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use crate::mailbox::AckError;
use parasol_protocol::{ErrorCode, Response};

pub const OP: Operation = Operation::new("ack", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, up_to: u64) -> Reply {
    ctx.services
        .mailboxes
        .ack(&ctx.client(), up_to)
        .await
        .map_err(|e| match e {
            AckError::BeyondHead { .. } => ServiceError::new(ErrorCode::UnknownEnvelope, e.to_string()),
            AckError::Storage(e) => e.into(),
        })?;
    if let Some(push) = ctx.session.push.as_mut() {
        push.acked = push.acked.max(up_to.min(push.next - 1));
    }
    ctx.answer_now(Response::Acked { up_to });
    ctx.push_pending().await;
    Ok(None)
}
