//! `join_requests`: Moderators: the requests waiting for a decision.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("join_requests", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64) -> Reply {
    Ok(Some(Response::JoinRequests {
        requests: ctx.services.circles.join_requests(&ctx.client(), circle_id)?,
    }))
}
