//! `circle_roster`: Members: who is in the circle, under which name.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("circle_roster", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64) -> Reply {
    Ok(Some(Response::CircleRoster {
        circle_id,
        members: ctx.services.circles.roster(&ctx.client(), circle_id).await?,
    }))
}
