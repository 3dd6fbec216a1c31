//! `close_chat`: End my chat (a supervisor: any chat); its envelopes are purged.

use super::Rule::{Allow, Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new(
    "close_chat",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, group_id: Bytes, tag: String) -> Reply {
    ctx.services
        .intake
        .close(ctx.account()?, group_id.0.clone(), tag)
        .await?;
    Ok(Some(Response::ChatClosed { group_id }))
}
