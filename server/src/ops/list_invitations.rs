//! `list_invitations`: Moderators: their circle's invitations (without their codes).

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("list_invitations", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64) -> Reply {
    Ok(Some(Response::Invitations {
        invitations: ctx.services.circles.list_invitations(&ctx.client(), circle_id)?,
    }))
}
