//! `set_muted`: Moderators refuse (or allow again) a member's messages.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("set_muted", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64, client_id: Bytes, muted: bool) -> Reply {
    ctx.services
        .circles
        .set_muted(&ctx.client(), circle_id, &client_id.0, muted)
        .await?;
    Ok(Some(Response::MemberMuted {
        circle_id,
        client_id,
        muted,
    }))
}
