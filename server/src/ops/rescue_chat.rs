//! `rescue_chat`: Supervisors move a stranded chat (matrix note 15).

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Bytes;

pub const OP: Operation = Operation::new(
    "rescue_chat",
    Access {
        visitor: Deny,
        counsellor: Deny,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, group_id: Bytes, to: Option<u64>) -> Reply {
    ctx.services
        .intake
        .rescue(ctx.account()?, group_id.0, to)
        .await
        .map(Some)
}
