//! `list_circles`: The circles I moderate or am a member of.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("list_circles", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::Circles {
        circles: ctx.services.circles.list(&ctx.client()).await,
    }))
}
