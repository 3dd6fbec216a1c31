//! `publish_key_packages`: Upload key packages; a staff member's new key may then be brought into
//! her chats.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("publish_key_packages", Access::EVERYONE)
    .stores()
    .refused_while_shutting_down();

pub async fn apply(ctx: &mut Ctx<'_>, key_packages: Vec<Bytes>, replace: bool) -> Reply {
    let client = ctx.client();
    let stock = ctx
        .services
        .directory
        .publish(&client, &key_packages, replace, ctx.requester())
        .await?;
    if let Some(s) = &ctx.session.staff {
        // A new key of hers may now be brought into her chats.
        ctx.services
            .lifecycle
            .staff_published(s.account_id, client, &s.badge)
            .await;
    }
    Ok(Some(Response::KeyPackagesPublished {
        one_time: stock.one_time,
        last_resort: stock.last_resort,
    }))
}
