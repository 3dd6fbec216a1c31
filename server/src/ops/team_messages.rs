//! `team_messages`: Sealed messages the team has not taken yet.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::Response;

pub const OP: Operation = Operation::new(
    "team_messages",
    Access {
        visitor: Deny,
        counsellor: Allow,
        supervisor: Allow,
        crisis_responder: Deny,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>) -> Reply {
    Ok(Some(Response::TeamMessages {
        messages: ctx.services.intake.team_messages(ctx.account()?)?,
    }))
}
