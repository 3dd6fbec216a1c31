//! `block_visitor`: Block the visitor of my ticket (a supervisor: any ticket) for a while.

use super::Rule::{Allow, Deny, Own};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "block_visitor",
    Access {
        visitor: Deny,
        counsellor: Own,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, ticket_id: u64, duration_secs: u32, reason: String) -> Reply {
    let until = ctx
        .services
        .intake
        .block(ctx.account()?, ticket_id, duration_secs, &reason)
        .await?;
    Ok(Some(Response::Blocked { ticket_id, until }))
}
