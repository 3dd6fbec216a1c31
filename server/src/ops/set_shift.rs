//! `set_shift`: Staff set their shift state (matrix note 6).

use super::Rule::{Allow, Deny};
use super::{Access, Ctx, Operation, Reply};
use parasol_protocol::ShiftState;

pub const OP: Operation = Operation::new(
    "set_shift",
    Access {
        visitor: Deny,
        counsellor: Allow,
        supervisor: Allow,
        crisis_responder: Allow,
        admin: Allow,
    },
);

pub async fn apply(ctx: &mut Ctx<'_>, state: ShiftState, handover: bool) -> Reply {
    ctx.services
        .intake
        .set_shift(ctx.account()?, state, handover)
        .await
        .map(Some)
}
