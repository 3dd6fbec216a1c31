//! `list_groups`: The groups I am a member of.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("list_groups", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::Groups {
        groups: ctx.services.delivery.list_groups(&ctx.client()).await,
    }))
}
