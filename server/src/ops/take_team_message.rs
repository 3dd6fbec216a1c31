//! `take_team_message`: I take this sealed message; it leaves the others' list.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::{Bytes, Response};

pub const OP: Operation = Operation::new(
    "take_team_message",
    Access {
        visitor: Deny,
        counsellor: Allow,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, group_id: Bytes) -> Reply {
    ctx.services
        .intake
        .take_team_message(ctx.account()?, group_id.0.clone())
        .await?;
    Ok(Some(Response::TeamMessageTaken { group_id }))
}
