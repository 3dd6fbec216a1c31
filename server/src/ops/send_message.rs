//! `send_message`: An MLS application message for a group the caller is a member of;
//! answered once durable.

use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new("send_message", Access::OWN)
    .stores()
    .refused_while_shutting_down();

pub async fn apply(ctx: &mut Ctx<'_>, message: Bytes) -> Reply {
    let accepted = ctx
        .services
        .delivery
        .application_message(ctx.services.rooms(), ctx.client(), &message.0)
        .await?;
    ctx.services.metrics.messages_accepted_total.inc();
    ctx.answer_when_durable(accepted, |(group_id, epoch)| Response::MessageAccepted {
        group_id: group_id.into(),
        epoch,
    })
    .await
}
