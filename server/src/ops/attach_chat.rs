//! `attach_chat`: Name the group that is the chat of a ticket I accepted.

use super::Rule::{Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new(
    "attach_chat",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Own,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: u64, group_id: Bytes) -> Reply {
    ctx.services
        .intake
        .attach(ctx.account()?, ctx.client(), ticket_id, group_id.0.clone())
        .await?;
    Ok(Some(Response::ChatAttached { ticket_id, group_id }))
}
