//! `join_circle`: Ask to join with an invitation, under a display name for this circle.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("join_circle", Access::EVERYONE);

pub async fn apply(ctx: &mut Ctx<'_>, code: String, display_name: String, key_package: Bytes) -> Reply {
    let session = &*ctx.session;
    let (circle_id, request_id) = ctx
        .services
        .circles
        .join(session.client, session.source, &code, &display_name, key_package.0)
        .await?;
    Ok(Some(Response::JoinRequested { circle_id, request_id }))
}
