//! `transfer_chat`: Hand my chat (a supervisor: any chat) to another counsellor.

use super::Rule::{Allow, Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Bytes;

pub const OP: Operation = Operation::new(
    "transfer_chat",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, group_id: Bytes, to: Option<u64>) -> Reply {
    ctx.services
        .intake
        .transfer(ctx.account()?, group_id.0, to)
        .await
        .map(Some)
}
