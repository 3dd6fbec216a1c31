//! `subscribe`: Push every envelope of my mailbox above `after`: answered first, so the
//! client sees `subscribed` before the pushes.

use super::Push;
use super::{Access, Ctx, Operation, Reply};
use crate::error::ServiceError;
use parasol_protocol::{ErrorCode, Response};

pub const OP: Operation = Operation::new("subscribe", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, after: u64) -> Reply {
    let head = ctx.services.mailboxes.head(&ctx.client()).await?;
    if after > head {
        return Err(ServiceError::new(
            ErrorCode::UnknownEnvelope,
            format!("cursor {after} is beyond the mailbox head {head}"),
        ));
    }
    ctx.session.push = Some(Push {
        next: after + 1,
        acked: after,
    });
    // Answer first, so the client sees `subscribed` before the pushes.
    ctx.answer_now(Response::Subscribed { head });
    ctx.push_pending().await;
    Ok(None)
}
