//! `close_circle`: Moderators end the circle; its envelopes are purged.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("close_circle", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64) -> Reply {
    ctx.services.circles.close(&ctx.client(), circle_id).await?;
    Ok(Some(Response::CircleClosed { circle_id }))
}
