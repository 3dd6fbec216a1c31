//! `create_group`: Start tracking a new group from its creator's GroupInfo and ratchet tree;
//! answered once durable.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("create_group", Access::EVERYONE)
    .stores()
    .refused_while_shutting_down();

pub async fn apply(ctx: &mut Ctx<'_>, group_info: Bytes, ratchet_tree: Bytes) -> Reply {
    let accepted = ctx
        .services
        .delivery
        .create_group(
            ctx.services.rooms(),
            ctx.client(),
            ctx.requester(),
            &group_info.0,
            &ratchet_tree.0,
        )
        .await?;
    ctx.answer_when_durable(accepted, |(group_id, epoch)| Response::GroupCreated {
        group_id: group_id.into(),
        epoch,
    })
    .await
}
