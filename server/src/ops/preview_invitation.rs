//! `preview_invitation`: Anyone with a valid code: what the invitation is for, before joining
//! (spends the per-source budget).

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new("preview_invitation", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, code: String) -> Reply {
    Ok(Some(Response::InvitationPreview {
        preview: ctx.services.circles.preview(ctx.session.source, &code)?,
    }))
}
