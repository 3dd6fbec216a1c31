//! `set_duty`: Crisis responders go on or off duty.

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::DutyState;

pub const OP: Operation = Operation::new(
    "set_duty",
    Access {
        visitor: Deny,
        counsellor: Deny,
        supervisor: Deny,
        crisis_responder: Allow,
        admin: Deny,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, state: DutyState) -> Reply {
    ctx.services.escalations.set_duty(ctx.account()?, state).await.map(Some)
}
