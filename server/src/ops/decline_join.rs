//! `decline_join`: Moderators turn a request down (approving is committing the add).

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("decline_join", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64, request_id: u64) -> Reply {
    ctx.services
        .circles
        .decline(&ctx.client(), circle_id, request_id)
        .await?;
    Ok(Some(Response::JoinDeclined { request_id }))
}
