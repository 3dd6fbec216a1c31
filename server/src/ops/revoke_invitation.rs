//! `revoke_invitation`: Moderators: the code stops working at once.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("revoke_invitation", Access::OWN);

pub async fn apply(ctx: &mut Ctx<'_>, circle_id: u64, invitation_id: u64) -> Reply {
    ctx.services
        .circles
        .revoke_invitation(&ctx.client(), circle_id, invitation_id)
        .await?;
    Ok(Some(Response::InvitationRevoked { invitation_id }))
}
