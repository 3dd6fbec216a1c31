//! `set_moderator`: Moderators make a member a moderator, or not.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("set_moderator", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64, client_id: Bytes, moderator: bool) -> Reply {
    ctx.services
        .circles
        .set_moderator(&ctx.client(), circle_id, &client_id.0, moderator)
        .await?;
    Ok(Some(Response::ModeratorSet {
        circle_id,
        client_id,
        moderator,
    }))
}
