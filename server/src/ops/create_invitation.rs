//! `create_invitation`: Moderators: a new invitation code for their circle.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("create_invitation", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64, expires_in_secs: u32, max_uses: u32) -> Reply {
    Ok(Some(Response::Invitation {
        invitation: ctx
            .services
            .circles
            .create_invitation(&ctx.client(), circle_id, expires_in_secs, max_uses)
            .await?,
    }))
}
