//! `leave_circle`: Members leave; nothing more is delivered to them.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("leave_circle", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64) -> Reply {
    ctx.services.circles.leave(&ctx.client(), circle_id).await?;
    Ok(Some(Response::CircleLeft { circle_id }))
}
